/**
 * Round-trip latency of `submit(noop).result()`, one call after the other:
 * from the client, and from inside a task (with the automatic secede/rejoin
 * around the wait, and keeping the slot). Also what entering
 * `workerClient()` costs. Each repetition's value is the median of K calls.
 *
 * @module
 */

import type { CaseDef, CaseOptions, Measure } from "../harness.ts";
import { round3, summarize } from "../stats.ts";
import { noop, submitLatency, workerClientEnter } from "../tasks.ts";
import { connect } from "./common.ts";

const calls = (o: CaseOptions) => (o.quick ? 200 : 1000);

/** Median and p99 of one repetition's samples. */
export function perCall(samples: number[]): Measure {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    value: summarize(samples).median,
    extra: { p99: round3(sorted[Math.floor(sorted.length * 0.99)]) },
  };
}

/** The connection a latency case's samples use. */
export type Conn = Awaited<ReturnType<typeof connect>>;

/**
 * A per-call latency case on an in-process cluster: `samples` returns one
 * repetition's K per-call times in µs.
 */
export function latencyCase(
  id: string,
  title: string,
  samples: (conn: Conn, k: number) => Promise<number[]>,
): CaseDef {
  return {
    id,
    title,
    unit: "µs",
    extras: { p99: "µs" },
    async open(options) {
      const conn = await connect("inproc");
      const k = calls(options);
      return {
        run: async () => perCall(await samples(conn, k)),
        [Symbol.asyncDispose]: () => conn[Symbol.asyncDispose](),
      };
    },
  };
}

/** `latency.client`: sequential round trips from the user's client. */
export const clientLatency: CaseDef = latencyCase(
  "latency.client",
  "submit + result from the client, sequential (per call)",
  async (conn, k) => {
    const out: number[] = [];
    for (let i = 0; i < k; i++) {
      const t = performance.now();
      await conn.client.submit(noop, i).result();
      out.push((performance.now() - t) * 1000);
    }
    return out;
  },
);

/** `latency.task` and `latency.task_keep_slot`: from inside a task. */
export function taskLatency(keepSlot: boolean): CaseDef {
  return latencyCase(
    keepSlot ? "latency.task_keep_slot" : "latency.task",
    keepSlot
      ? "submit + result inside a task, { secede: false } (per call)"
      : "submit + result inside a task, auto secede/rejoin (per call)",
    (conn, k) => conn.client.submit(submitLatency, k, keepSlot).result(),
  );
}

/** `latency.worker_client`: entering `await using workerClient()`. */
export const workerClientLatency: CaseDef = latencyCase(
  "latency.worker_client",
  "enter workerClient() inside a task (per call)",
  (conn, k) => conn.client.submit(workerClientEnter, k).result(),
);
