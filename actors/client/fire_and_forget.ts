/**
 * `fireAndForget` (Dask's `fire_and_forget`): run tasks to their end even
 * when their client lets go of them or leaves, for tasks run for what they
 * do (write a file, publish a dataset, call a service) rather than for their
 * value.
 *
 * @module
 */

import { Client } from "./client.ts";
import type { Future } from "./future.ts";
import { collectFutures } from "./structure.ts";

/**
 * Asks the scheduler to run the tasks of `futures` (a future, or futures
 * nested in arrays and plain objects) to their end whatever happens to
 * their futures: released, garbage collected, or their client closed. Once
 * a task is in memory or erred the scheduler lets go of it, and its value
 * is released as usual when nobody else holds it. Works from clients and
 * from inside tasks.
 *
 * @throws {ClientClosedError} when a future's client is closed.
 * @throws {TypeError} when a future does not belong to a `Client`.
 * @example A task that reports to whoever asks, after its client left
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, fireAndForget, getClient, LocalCluster } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * {
 *   await using client = await Client.connect(cluster);
 *   const job = client.submit(async () => {
 *     await new Promise((r) => setTimeout(r, 50));
 *     await getClient().publish("report", "done");
 *   });
 *   fireAndForget(job);
 * } // the client closes here; the task runs on
 * await using other = await Client.connect(cluster);
 * const report = await other.getDataset("report", { wait: true, timeout: 60_000 });
 * assert.equal(report, "done");
 * ```
 */
export function fireAndForget(futures: unknown): void {
  const found: Future<unknown>[] = [];
  collectFutures(futures, found);
  const byClient = new Map<Client, string[]>();
  for (const f of found) {
    if (!(f.host instanceof Client)) {
      throw new TypeError(
        `fireAndForget(): future ${f.key} does not belong to a Client`,
      );
    }
    const keys = byClient.get(f.host);
    if (keys) keys.push(f.key);
    else byClient.set(f.host, [f.key]);
  }
  for (const [client, keys] of byClient) client.keepRunning(keys);
}
