/**
 * A plain top-level-await script, no `if (import.meta.main)` guard: it
 * ships only inline functions, so it needs no module shipping and no guard.
 *
 *     deno run --allow-read examples/plain_script.ts
 *
 * @module
 */
import { Client, LocalCluster } from "../mod.ts";

await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
await using client = await Client.connect(cluster);
const squares = client.map((x: number) => x * x, [1, 2, 3, 4]);
const sum = client.submit(
  (xs: number[]) => xs.reduce((a, b) => a + b),
  squares,
);
console.log(`sum of squares = ${await sum.result()}`); // 30
