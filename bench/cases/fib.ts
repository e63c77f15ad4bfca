/**
 * Recursive fib(n) as a tree of tasks (fib(n) makes 2·fib(n+1) − 1 tasks),
 * launched from inside tasks three ways: getClient + secede + rejoin,
 * `await using workerClient()`, and delayed + compute. Also samples the
 * process's peak RSS during each run.
 *
 * @module
 */

import type { CaseDef } from "../harness.ts";
import { withPeakRss } from "../memory_probe.ts";
import {
  fibDelayed,
  fibNoSecede,
  fibSecede,
  fibTasks,
  fibWorkerClient,
} from "../tasks.ts";
import { connect } from "./common.ts";

/** The three in-task interfaces. */
export type FibVariant = "secede" | "worker_client" | "delayed";

const titles: Record<FibVariant, string> = {
  secede: "getClient + secede + rejoin",
  worker_client: "workerClient",
  delayed: "delayed + compute",
};

const expected = (n: number) => {
  let a = 0, b = 1;
  for (let i = 0; i < n; i++) [a, b] = [b, a + b];
  return a;
};

/** A `fib.<variant>.<n>` case. */
export function fibCase(variant: FibVariant, n: number): CaseDef {
  return {
    id: `fib.${variant}.${n}`,
    title: `fib(${n}) with ${titles[variant]} (${fibTasks(n)} tasks)`,
    unit: "ms",
    extras: { tasksPerS: "/s", peakRss: "B" },
    reps: n >= 25 ? 3 : 5,
    async open() {
      const conn = await connect("inproc");
      const once = async (m: number) => {
        const { client } = conn;
        switch (variant) {
          case "secede":
            return await client.submit(fibSecede, m).result();
          case "worker_client":
            return await client.submit(fibWorkerClient, m).result();
          case "delayed":
            return await fibDelayed(m).compute();
        }
      };
      return {
        warmup: () => once(Math.min(n, 18)),
        async run() {
          const t = performance.now();
          const { result, peakRss } = await withPeakRss(() => once(n));
          const ms = performance.now() - t;
          if (result !== expected(n)) throw new Error(`fib(${n}) = ${result}`);
          return {
            value: ms,
            extra: { tasksPerS: fibTasks(n) / (ms / 1000), peakRss },
          };
        },
        [Symbol.asyncDispose]: () => conn[Symbol.asyncDispose](),
      };
    },
  };
}

/**
 * `deadlock.fib8`: bench_dask.py's deadlock case, fib(8) awaiting its
 * children without secede on 2 workers. Dask deadlocks (its 20 s timeout
 * fires); Tendril secedes for the wait by default.
 */
export const deadlockCase: CaseDef = {
  id: "deadlock.fib8",
  title: "fib(8) awaiting without secede (Dask: deadlock)",
  unit: "ms",
  async open() {
    const conn = await connect("inproc");
    return {
      async run() {
        const t = performance.now();
        const r = await conn.client.submit(fibNoSecede, 8).result();
        if (r !== 21) throw new Error(`fib(8) = ${r}`);
        return { value: performance.now() - t };
      },
      [Symbol.asyncDispose]: () => conn[Symbol.asyncDispose](),
    };
  },
};
