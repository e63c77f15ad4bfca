/**
 * Tendril: a Deno-native actor runtime for dynamic task graphs. A
 * {@linkcode Client} submits functions to a scheduler that places them on
 * workers; a running task can get a client and launch more tasks.
 *
 * @example Submit a function and read its result
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const f = client.submit((x: number) => x + 1, 1);
 * assert.equal(await f.result(), 2);
 * ```
 *
 * @module
 */

export {
  type ActorArgs,
  type ActorClass,
  type AwaitOptions,
  Client,
  type ClientHost,
  type ClusterLike,
  type ConnectOptions,
  type Fn,
  type Gathered,
  type MapIterables,
  type ReturnWhen,
  type SubmitArg,
  type SubmitArgs,
  type SubmitOptions,
  type WaitResult,
} from "./actors/client/client.ts";
export { Future, type FutureHost } from "./actors/client/future.ts";
export { fireAndForget } from "./actors/client/fire_and_forget.ts";
export type {
  GetDatasetOptions,
  PublishOptions,
} from "./actors/client/datasets.ts";
export type {
  Actor,
  ActorClient,
  ActorControls,
  ActorOptions,
  AnyMethod,
} from "./actors/client/actor_handle.ts";
export {
  progress,
  type ProgressOptions,
  type ProgressStream,
} from "./actors/client/progress.ts";
export {
  AsCompleted,
  type AsCompletedHost,
  type AsCompletedOptions,
} from "./actors/client/as_completed.ts";
export type { WaitBounds } from "./actors/client/deadline.ts";
export type { Scattered, ScatterOptions } from "./actors/client/scatter.ts";
export type { FutureStatus, KeyRecord } from "./actors/client/state.ts";
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
} from "./actors/task/delayed.ts";
export {
  getWorker,
  rejoin,
  secede,
  taskKey,
  taskSignal,
  type WorkerInfo,
} from "./actors/task/context.ts";
export { getClient, workerClient } from "./actors/client/get_client.ts";
export {
  Queue,
  type QueueOptions,
} from "./actors/client/coordination/queue.ts";
export { Variable } from "./actors/client/coordination/variable.ts";
export { ClusterEvent } from "./actors/client/coordination/event.ts";
export {
  Semaphore,
  type SemaphoreOptions,
} from "./actors/client/coordination/semaphore.ts";
export { Lock } from "./actors/client/coordination/lock.ts";
export {
  Topic,
  TopicSubscription,
} from "./actors/client/coordination/topic.ts";
export {
  NamedPrimitive,
  type PrimitiveOptions,
} from "./actors/client/coordination/named.ts";
export type { CoordinationAsk } from "./actors/client/coordination/link.ts";
export {
  ActorDiedError,
  CancelledError,
  ClientClosedError,
  ConnectionClosedError,
  ConnectionFailedError,
  DeadlockError,
  FrameError,
  HandshakeError,
  KilledWorkerError,
  LostDataError,
  NoWorkerError,
  ProtocolError,
  ResourceError,
  SchedulerLostError,
  SerializationError,
  ShippingError,
  TendrilError,
  type TendrilErrorOptions,
  TimeoutError,
  UnguardedEntryError,
  WorkersUnavailableError,
} from "./runtime/errors.ts";
export { registerModule } from "./runtime/shipping/entry_index.ts";
export type { FunctionRef } from "./runtime/shipping/describe.ts";
export type {
  CodePackage,
  PackageFile,
  PackageRef,
} from "./runtime/shipping/code_package.ts";
export type { Packed } from "./runtime/codec/packed.ts";
export type * from "./actors/protocol.ts";
