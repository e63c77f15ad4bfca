/**
 * A project laid out as usual: this entry script, task functions in
 * `tasks.ts` and `lib/`. On an in-process cluster by default, or on the
 * cluster at the address given (its workers need not have these files).
 *
 *     deno run --allow-read examples/layout/main.ts
 *     deno run -A examples/layout/main.ts tcp://127.0.0.1:8786
 *
 * @module
 */
import { Client, LocalCluster } from "../../mod.ts";
import { describe, scaled, total } from "./tasks.ts";

const OFFSET = 1000;

/** An export of the entry script that uses its state: ships by reference too. */
export function offset(x: number): number {
  return x + OFFSET;
}

if (import.meta.main) { // workers import this script again: guard the main block
  const address = Deno.args[0];
  await using cluster = address
    ? undefined
    : await LocalCluster.start({ workers: 2, slots: 1 });
  await using client = await Client.connect(address ?? cluster!);
  console.log(await client.submit(scaled, 4).result()); // 50
  console.log(await client.submit(describe, 2).result()); // 30 kg
  console.log(await client.submit(total, 4).result()); // 100
  console.log(await client.submit(offset, 1).result()); // 1001
  console.log(await client.submit((x: number) => x * 2, 21).result()); // 42
}
