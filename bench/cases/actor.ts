/**
 * Actor method calls on one `Counter` actor (`client.actor(Counter, 10)`),
 * side by side with Dask's `client.submit(Counter, actor=True)`: the round
 * trip of one awaited call from the client and from inside a task (median
 * per call, with p99; the task runs on the worker not hosting the actor), and K calls in all, one after the other and all at
 * once (total time; side: calls per second). Each repetition hosts a fresh
 * actor, makes its calls, and kills it.
 *
 * @module
 */

import type { CaseDef } from "../harness.ts";
import { actorCallsInTask, Counter } from "../tasks.ts";
import { connect } from "./common.ts";
import { type Conn, latencyCase } from "./latency.ts";

/** A fresh actor on `conn`'s cluster for `use`, killed after. */
async function withCounter<T>(
  conn: Conn,
  use: (counter: Awaited<ReturnType<typeof hostCounter>>) => Promise<T>,
): Promise<T> {
  const counter = await hostCounter(conn);
  try {
    await counter.increment(); // connected to its worker before timing
    return await use(counter);
  } finally {
    await counter.kill();
  }
}

const hostCounter = (conn: Conn) => conn.client.actor(Counter, 10);

/** `actor.client`: sequential awaited calls from the user's client. */
export const actorClientLatency: CaseDef = latencyCase(
  "actor.client",
  "actor method call from the client, sequential (per call)",
  (conn, k) => withCounter(conn, (counter) => actorCallsInTask(counter, k)),
);

/**
 * `actor.task`: sequential awaited calls from inside a task given the
 * handle, run on the worker that does not host the actor (a call on its
 * own worker would not leave the isolate).
 */
export const actorTaskLatency: CaseDef = latencyCase(
  "actor.task",
  "actor method call inside a task on another worker, sequential (per call)",
  (conn, k) =>
    withCounter(conn, async (counter) => {
      const host = await counter.where();
      const other = conn.cluster!.workerIds.find((id) => id !== host)!;
      return await conn.client.with({ workers: other })
        .submit(actorCallsInTask, counter, k).result();
    }),
);

/**
 * `actor.calls.sequential.K` and `actor.calls.concurrent.K`: K calls in all
 * (K = 1k, or 200 with `--quick`, in the id so Dask makes as many).
 */
export function actorThroughput(concurrent: boolean, quick: boolean): CaseDef {
  const k = quick ? 200 : 1000;
  return {
    id: `actor.calls.${concurrent ? "concurrent" : "sequential"}.${
      quick ? "200" : "1k"
    }`,
    title: concurrent
      ? "K actor calls from the client at once (Promise.all), total"
      : "K actor calls from the client, each awaited, total",
    unit: "ms",
    extras: { throughput: "calls/s" },
    async open() {
      const conn = await connect("inproc");
      return {
        run: () =>
          withCounter(conn, async (counter) => {
            const t = performance.now();
            if (concurrent) {
              const all: Promise<number>[] = [];
              for (let i = 0; i < k; i++) all.push(counter.increment());
              await Promise.all(all);
            } else {
              for (let i = 0; i < k; i++) await counter.increment();
            }
            const ms = performance.now() - t;
            return { value: ms, extra: { throughput: k / (ms / 1000) } };
          }),
        [Symbol.asyncDispose]: () => conn[Symbol.asyncDispose](),
      };
    },
  };
}
