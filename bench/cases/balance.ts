/**
 * Balance between workers: workloads whose few slow tasks must not pile up
 * on one worker. `balance.mixed`: 10 slow tasks of 20..380 ms in a fixed shuffled order (2 s of work)
 * among 190 instant ones, the slow ones at every 20th position.
 * `balance.skewed`: one 100 ms task per 100 tasks of 1 ms (1,010 tasks, 2 s
 * of work). On 2 one-slot workers the ideal is ~1 s (more for skewed: a
 * 1 ms sleep takes ~2 ms); the side metric is the share of the nominal work
 * the busiest worker did (0.5 is an even split).
 * The Dask side (`dask_extra.py balance`) runs the same tasks on 2 workers
 * of 1 thread.
 *
 * @module
 */

import type { CaseDef } from "../harness.ts";
import { sleepMs } from "../tasks.ts";
import { connect } from "./common.ts";

/** The slow tasks of `balance.mixed` (ms), in submission order: 2 s in all. */
const SLOW_MS = [300, 60, 380, 140, 220, 20, 340, 100, 260, 180];

/** The durations (ms) of a workload's tasks, in submission order. */
export function balanceWorkload(kind: "mixed" | "skewed"): number[] {
  if (kind === "mixed") {
    return Array.from(
      { length: 200 },
      (_, i) => i % 20 === 0 ? SLOW_MS[i / 20] : 0,
    );
  }
  return Array.from({ length: 1010 }, (_, i) => i % 101 === 0 ? 100 : 1);
}

/** Share of the work (nominal durations) done by the busiest worker. */
export function busiestShare(durations: number[], where: string[]): number {
  const byWorker = new Map<string, number>();
  let total = 0;
  durations.forEach((ms, i) => {
    total += ms;
    byWorker.set(where[i], (byWorker.get(where[i]) ?? 0) + ms);
  });
  return Math.max(...byWorker.values()) / total;
}

/** A `balance.<kind>` case. */
export function balanceCase(kind: "mixed" | "skewed"): CaseDef {
  const durations = balanceWorkload(kind);
  return {
    id: `balance.${kind}`,
    title: kind === "mixed"
      ? "10 slow tasks (20–380 ms) among 190 instant ones, 2 workers"
      : "1 task of 100 ms per 100 of 1 ms (1,010 tasks), 2 workers",
    unit: "ms",
    extras: { busiestShare: "" },
    reps: 3,
    async open() {
      const conn = await connect("inproc");
      return {
        async run() {
          const t = performance.now();
          const futures = conn.client.map(sleepMs, durations);
          const where = await conn.client.gather(futures);
          const ms = performance.now() - t;
          for (const f of futures) f.release();
          return {
            value: ms,
            extra: { busiestShare: busiestShare(durations, where) },
          };
        },
        [Symbol.asyncDispose]: () => conn[Symbol.asyncDispose](),
      };
    },
  };
}
