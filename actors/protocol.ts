/**
 * The messages scheduler, workers and clients exchange. Every transport moves
 * these plain objects (structured clone on Web Workers, msgpack on TCP), and
 * every state machine consumes and produces only these: one definition of the
 * protocol, shared by all sides.
 *
 * @module
 */

import type { FunctionRef } from "../runtime/function_ref.ts";

/** Bumped whenever a message below changes shape; checked in handshakes. */
export const PROTOCOL_VERSION = 1;

/**
 * Task priority, compared field by field: higher `user` first, then deeper
 * `depth` first (tasks launched from tasks run before unrelated queued work),
 * then lower `seq` first (FIFO).
 */
export type Priority = readonly [user: number, depth: number, seq: number];

/** Negative when `a` should run before `b`. */
export function comparePriority(a: Priority, b: Priority): number {
  return (b[0] - a[0]) || (b[1] - a[1]) || (a[2] - b[2]);
}

/** One task as a client submits it. `args` are codec bytes. */
export interface TaskSpec {
  /** The task's key, unique in the cluster. */
  key: string;
  /** Function id (see `describeFunction`). */
  fn: string;
  /** Sent the first time a client uses `fn`, so the scheduler can forward it. */
  fnRef?: FunctionRef;
  /** Codec bytes of the argument array. */
  args: Uint8Array;
  /** Keys this task's arguments reference: its dependencies. */
  deps: string[];
  /** The submitting task's key when submitted from inside a task. */
  parent?: string;
  /** User priority: higher runs first. */
  priority?: number;
  /** Reruns allowed after the function throws. */
  retries?: number;
  /** Worker ids or addresses the task is restricted to. */
  workers?: string[];
  /** With `workers`: a preference, not a restriction. */
  allowOtherWorkers?: boolean;
}

/** A dependency as the scheduler tells a worker where to find it. */
export interface DepLocation {
  /** The dependency's key. */
  key: string;
  /** Inline bytes for small values (no fetch needed). */
  value?: Uint8Array;
  /** Data addresses of workers holding the value. */
  who?: string[];
}

/** Client -> scheduler. `owner` is the task key for in-task clients. */
export type ClientToScheduler =
  | { op: "submit"; tasks: TaskSpec[] }
  | { op: "want"; keys: string[]; owner?: string }
  | { op: "release"; keys: string[]; owner?: string }
  | { op: "cancel"; keys: string[] };

/** Scheduler -> client. */
export type SchedulerToClient =
  | { op: "key-done"; key: string; value?: Uint8Array; who?: string[] }
  | { op: "key-erred"; key: string; error: Uint8Array }
  | { op: "key-cancelled"; key: string; reason: string }
  | { op: "deadlock"; keys: string[]; message: string };

/** Worker -> scheduler (besides the client ops of its in-task client). */
export type WorkerToScheduler =
  | {
    op: "task-finished";
    key: string;
    value?: Uint8Array;
    nbytes: number;
    /** Keys referenced inside the result: kept alive with it. */
    refs?: string[];
  }
  | { op: "task-erred"; key: string; error: Uint8Array }
  | { op: "seceded"; key: string }
  | { op: "rejoined"; key: string }
  | { op: "blocked"; key: string; on: string[] }
  | { op: "unblocked"; key: string }
  | { op: "missing-data"; key: string; dep: string; from: string };

/** Scheduler -> worker. */
export type SchedulerToWorker =
  | {
    op: "compute";
    key: string;
    fn: string;
    fnRef?: FunctionRef;
    args: Uint8Array;
    deps: DepLocation[];
    priority: Priority;
  }
  | { op: "cancel-compute"; key: string; reason: string }
  | { op: "free"; keys: string[] };

/** Anything -> worker data server, and its answer. */
export type DataRequest = { op: "get-data"; id: number; keys: string[] };
/** Answer to a {@linkcode DataRequest}; `missing` lists keys not held. */
export type DataResponse = {
  op: "data";
  id: number;
  values: Record<string, Uint8Array>;
  missing: string[];
};

/** First message of a worker: who it is (the scheduler answers nothing). */
export type RegisterWorker = {
  op: "register-worker";
  id: string;
  slots: number;
  address: string;
  version: number;
};

/** Every message the scheduler may receive. */
export type ToScheduler = ClientToScheduler | WorkerToScheduler;
/** Every message a worker connection to the scheduler may receive. */
export type ToWorkerConnection = SchedulerToWorker | SchedulerToClient;
