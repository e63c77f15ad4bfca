/**
 * The seed's recursive Fibonacci with `delayed` and `compute`: calls are
 * lazy, `compute` runs them in parallel (from inside a task too).
 *
 *     deno run --allow-read examples/fib_delayed.ts 15
 *
 * @module
 */

import { Client, compute, delayed, LocalCluster } from "../mod.ts";

/** fib(n) as lazy calls; the recursive calls go through `delayed`. */
export const fib = delayed(async function fib(n: number): Promise<number> {
  if (n < 2) return n;
  const a = fib(n - 1); // these calls are delayed
  const b = fib(n - 2);
  const [x, y] = await compute(a, b); // execute both in parallel
  return x + y;
});

if (import.meta.main) {
  const n = Number(Deno.args[0] ?? 10);
  await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
  await using _client = await Client.connect(cluster);
  const start = performance.now();
  const result = await fib(n).compute();
  console.log(
    `fib(${n}) = ${result} in ${(performance.now() - start).toFixed(1)} ms`,
  );
}
