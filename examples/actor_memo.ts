/**
 * A shared memo table as an actor, consulted by a recursive computation
 * whose tasks launch tasks. Each `fib` task asks the memo first and launches
 * its two sub-problems only on a miss; the handle travels to every task as
 * an argument, and every call goes straight to the worker hosting the memo.
 * Without the memo, fib(60) would take 3 * 10^12 tasks; with it, a few
 * thousand (two branches may both miss on a value neither has stored yet,
 * so some work is done twice). A second computation, fib(70), starts from
 * what the first stored.
 *
 *     deno run --allow-read examples/actor_memo.ts 60
 *
 * @module
 */

import { type Actor, Client, getClient, LocalCluster } from "../mod.ts";

/** The memo: values by argument, with counts of hits and misses. */
export class Memo {
  private readonly table = new Map<number, number>();
  private hits = 0;
  private misses = 0;

  /** The value stored for `n`, if any. */
  lookup(n: number): number | undefined {
    const value = this.table.get(n);
    if (value === undefined) this.misses++;
    else this.hits++;
    return value;
  }

  /** Stores the value of `n`. */
  store(n: number, value: number): void {
    this.table.set(n, value);
  }

  /** How the memo was used. */
  stats(): { entries: number; hits: number; misses: number } {
    return { entries: this.table.size, hits: this.hits, misses: this.misses };
  }
}

/** fib(n) as a tree of tasks, pruned by the shared memo. */
export async function fib(n: number, memo: Actor<Memo>): Promise<number> {
  if (n < 2) return n;
  const known = await memo.lookup(n);
  if (known !== undefined) return known;
  const client = getClient();
  const [a, b] = await client.gather([
    client.submit(fib, n - 1, memo),
    client.submit(fib, n - 2, memo),
  ]);
  await memo.store(n, a + b);
  return a + b;
}

if (import.meta.main) {
  const n = Number(Deno.args[0] ?? 60);
  await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
  await using client = await Client.connect(cluster);
  const start = performance.now();
  const memo = await client.actor(Memo);
  const result = await client.submit(fib, n, memo).result();
  const ms = (performance.now() - start).toFixed(1);
  console.log(`fib(${n}) = ${result} in ${ms} ms`);
  const first = await memo.stats();
  console.log(`memo: ${first.entries} entries after fib(${n})`);
  const more = await client.submit(fib, n + 10, memo).result();
  const { entries, hits, misses } = await memo.stats();
  console.log(`fib(${n + 10}) = ${more}: ${misses - first.misses} more misses`);
  console.log(`memo: ${entries} entries, ${hits} hits, ${misses} misses`);
}
