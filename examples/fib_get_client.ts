/**
 * The seed's recursive Fibonacci with `getClient`, `secede` and `rejoin`:
 * each task launches its two sub-problems as tasks, gives up its slot while
 * it waits (so it cannot deadlock the workers) and takes one back after.
 *
 *     deno run --allow-read examples/fib_get_client.ts 20
 *
 * @module
 */

import { Client, getClient, LocalCluster, rejoin, secede } from "../mod.ts";

/** fib(n) as a tree of tasks. */
export async function fib(n: number): Promise<number> {
  if (n < 2) return n;
  const client = getClient();
  const a = client.submit(fib, n - 1);
  const b = client.submit(fib, n - 2);
  secede();
  const [x, y] = await client.gather([a, b]);
  await rejoin();
  return x + y;
}

if (import.meta.main) {
  const n = Number(Deno.args[0] ?? 10);
  await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
  await using client = await Client.connect(cluster);
  const start = performance.now();
  const result = await client.submit(fib, n).result();
  console.log(
    `fib(${n}) = ${result} in ${(performance.now() - start).toFixed(1)} ms`,
  );
}
