/**
 * The shapes a client's users and hosts share: submission options, wait
 * options, and how a client reaches its cluster. Kept apart from the
 * `Client` class so futures, hosts and transports can name them without
 * importing the client.
 *
 * @module
 */

import type { Packed } from "../../runtime/codec/packed.ts";
import type { WaitBounds } from "./deadline.ts";
import type {
  ActorReply,
  ClientToScheduler,
  SchedulerToClient,
  WorkerToScheduler,
} from "../protocol.ts";

/** Per-submission options; set them with `Client.with`. */
export interface SubmitOptions {
  /** The task's key (with `map`: a prefix, `${key}-${i}`). */
  key?: string;
  /** Identical pure submissions (same function and arguments) share one task. */
  pure?: boolean;
  /** Higher runs first among ready tasks. */
  priority?: number;
  /** Times to rerun the task when it throws. */
  retries?: number;
  /** Worker ids or addresses the task may run on. */
  workers?: string | string[];
  /**
   * With `workers`: prefer them, but allow others. Without it, a task
   * whose workers are not connected errs after a grace period.
   */
  allowOtherWorkers?: boolean;
  /**
   * Worker resources the task holds while it is on a worker (`{ GPU: 1 }`,
   * against workers' `--resources GPU=2`); one no worker offers errs at once.
   */
  resources?: Record<string, number>;
  /**
   * With `resources`: give them back when the task secedes (say, to wait
   * for children that need them too). They are not taken back on rejoin.
   */
  releaseResourcesOnSecede?: boolean;
}

/**
 * Options of awaiting calls (`result`, `gather`, `wait`, `exception`,
 * `compute`). `timeout` (ms) rejects with a `TimeoutError`, `signal` with
 * its reason; both bound only the waiting (a value already at hand is
 * returned).
 */
export interface AwaitOptions extends WaitBounds {
  /**
   * Inside a task: secede while waiting and rejoin after (default true).
   * With false the task keeps its slot; if every slot ends up waiting this
   * way the wait rejects with a DeadlockError instead of hanging.
   */
  secede?: boolean;
}

/** How a client reaches the scheduler and the workers' data. */
export interface ClientHost {
  /** This client's peer id. */
  readonly id: string;
  /** Sends to the scheduler (in order, batched by the transport). */
  send(msg: ClientToScheduler | WorkerToScheduler): void;
  /**
   * Functions of local modules travel with a code package of their module
   * graph (the cluster's workers may lack this process's files).
   */
  readonly shipsCode?: boolean;
  /**
   * The largest message its connections carry, in bytes, when limited (TCP):
   * a task whose arguments exceed it errs alone instead of being sent.
   */
  readonly maxMessageSize?: number;
  /** Fetches the codec bytes of a value held by workers at `who`. */
  fetch(key: string, who: string[]): Promise<Packed>;
  /**
   * Puts values (codec bytes by key) into the store of the worker whose
   * data address is `address`; resolves with the keys it stored
   * (`client.scatter`). Hosts without it cannot scatter.
   */
  put?(address: string, values: Record<string, Packed>): Promise<string[]>;
  /**
   * Calls `method` of the actor of task `key` hosted by the worker whose
   * data address is `address` (`args`: codec bytes of the argument array).
   * Rejects with a `ConnectionFailedError` when that worker cannot be
   * reached (the call was not sent). Hosts without it cannot call actors.
   */
  callActor?(
    address: string,
    key: string,
    method: string,
    args: Packed,
  ): Promise<ActorReply>;
  /**
   * Tells the client of scheduler messages, and (`lost`, once) that the
   * scheduler is out of reach, saying why (and with the error pending
   * futures reject with, when there is one).
   */
  listen(
    handler: (msg: SchedulerToClient) => void,
    lost: (reason: string, error?: Error) => void,
  ): void;
  /** Disconnects. */
  close(): Promise<void>;
}

/** Anything `Client.connect` accepts besides an address. */
export interface ClusterLike {
  /** Opens a client connection to the cluster's scheduler. */
  connectClient(): Promise<ClientHost>;
}

/** Any function (the shape `submit` accepts). */
export type Fn = (...args: never[]) => unknown;
