/**
 * Tendril: a Deno-native actor runtime for dynamic task graphs. A
 * {@linkcode Client} submits functions to a scheduler that places them on
 * workers; a running task can get a client and launch more tasks.
 *
 * ```ts
 * import { Client, LocalCluster } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const f = client.submit((x: number) => x + 1, 1);
 * console.assert((await f.result()) === 2);
 * ```
 *
 * @module
 */

export {
  type AwaitOptions,
  Client,
  type ClientHost,
  type ClusterLike,
  type Fn,
  type Gathered,
  type SubmitArg,
  type SubmitArgs,
  type SubmitOptions,
  type WaitResult,
} from "./actors/client.ts";
export { Future, type FutureHost } from "./actors/future.ts";
export type { FutureStatus, KeyRecord } from "./actors/client_state.ts";
export {
  LocalCluster,
  type LocalClusterOptions,
} from "./actors/local_cluster.ts";
export {
  compute,
  type Computed,
  Delayed,
  delayed,
  type DelayedFunction,
} from "./actors/delayed.ts";
export {
  getClient,
  getWorker,
  rejoin,
  secede,
  taskKey,
  taskSignal,
  workerClient,
  type WorkerInfo,
} from "./actors/task_context.ts";
export {
  CancelledError,
  DeadlockError,
  KilledWorkerError,
  LostDataError,
} from "./actors/errors.ts";
export { SerializationError } from "./runtime/codec.ts";
export {
  registerModule,
  ShippingError,
  UnguardedEntryError,
} from "./runtime/function_ref.ts";
export type { FunctionRef } from "./runtime/function_ref.ts";
export type { Packed } from "./runtime/packed.ts";
export type * from "./actors/protocol.ts";
