/**
 * The seed's recursive Fibonacci with `workerClient`: `await using` secedes
 * on entry and rejoins when the block ends.
 *
 *     deno run --allow-read examples/fib_worker_client.ts 15
 *
 * @module
 */

import { Client, LocalCluster, workerClient } from "../mod.ts";

/** fib(n) as a tree of tasks, each a long-running client of its own. */
export async function fib(n: number): Promise<number> {
  if (n < 2) return n;
  await using client = await workerClient();
  const a = client.submit(fib, n - 1);
  const b = client.submit(fib, n - 2);
  const [x, y] = await client.gather([a, b]);
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
