/**
 * `getClient` and `workerClient`: the client a piece of code should launch
 * tasks with. Inside a task that is the worker's one shared client (found
 * through the running task's context); outside, the newest client still
 * open.
 *
 * @module
 */

import { ClientClosedError } from "../../runtime/errors.ts";
import {
  actorCallWorker,
  currentTask,
  rejoin,
  requireTask,
  secede,
} from "../task/context.ts";
import { Client } from "./client.ts";

/**
 * The client to launch tasks with. Inside a task: the worker's one shared
 * client (futures it makes belong to the task and are released when the task
 * ends). In an actor's method: the client of the worker hosting the actor.
 * Elsewhere: the most recently connected client that is still open.
 *
 * @throws {ClientClosedError} outside a task when no client is open.
 * @example Outside a task: the newest open client
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, getClient, LocalCluster } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using first = await Client.connect(cluster);
 * {
 *   await using second = await Client.connect(cluster);
 *   assert.equal(getClient(), second);
 * }
 * assert.equal(getClient(), first); // closing `second` leaves `first` current
 * ```
 */
export function getClient(): Client {
  const ctx = currentTask();
  // The worker's context holds its Client (typed loosely there, see context.ts).
  if (ctx) return ctx.worker.client as Client;
  // An actor's method: the client of the worker hosting it.
  const host = actorCallWorker();
  if (host) return host.client as Client;
  const client = Client.current();
  if (client) return client;
  throw new ClientClosedError(
    "getClient(): no client is open. Outside a task, connect one first with " +
      "`await Client.connect(cluster)`; it",
  );
}

/**
 * The worker's client for use in `await using`: secedes on enter, rejoins
 * on dispose (only if it was the one that seceded, so it nests).
 *
 * @throws {Error} outside a running task.
 * @example Recursive fib with `await using`
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster, workerClient } from "@tendril/tendril";
 * async function fibWC(n: number): Promise<number> {
 *   if (n < 2) return n;
 *   await using client = await workerClient();
 *   const [x, y] = await client.gather([
 *     client.submit(fibWC, n - 1),
 *     client.submit(fibWC, n - 2),
 *   ]);
 *   return x + y;
 * }
 * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
 * await using client = await Client.connect(cluster);
 * assert.equal(await client.submit(fibWC, 10).result(), 55);
 * ```
 */
export function workerClient(): Promise<Client & AsyncDisposable> {
  const ctx = requireTask("workerClient");
  const seceded = !ctx.seceded;
  secede();
  const handle = Object.create(ctx.worker.client as Client) as
    & Client
    & AsyncDisposable;
  Object.defineProperty(handle, Symbol.asyncDispose, {
    value: async () => {
      if (seceded) await rejoin();
    },
  });
  return Promise.resolve(handle);
}
