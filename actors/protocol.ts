/**
 * The messages scheduler, workers and clients exchange. Every transport moves
 * these plain objects (structured clone on Web Workers, msgpack on TCP), and
 * every state machine consumes and produces only these: one definition of the
 * protocol, shared by all sides.
 *
 * @module
 */

import type { FunctionRef } from "../runtime/shipping/describe.ts";
import type { Packed } from "../runtime/codec/packed.ts";

/** Bumped whenever a message below changes shape; checked in handshakes. */
export const PROTOCOL_VERSION = 1;

/**
 * Task priority, compared field by field: higher `user` first, then deeper
 * `depth` first (tasks launched from tasks run before unrelated queued work),
 * then lower `seq` first (FIFO).
 */
export type Priority = readonly [user: number, depth: number, seq: number];

const clamp = (x: number, lo: number, hi: number) =>
  x < lo ? lo : x > hi ? hi : Math.trunc(x);

/**
 * A priority as one number, smaller first, so priority queues compare
 * numbers instead of tuples. Exact for user priorities in [-511, 512],
 * depths up to 1023 and 2^32 sequence numbers (beyond, values clamp: deeper
 * tasks rank as depth 1023, sequence numbers wrap).
 */
export function priorityRank(p: Priority): number {
  const user = 512 - clamp(p[0], -511, 512);
  const depth = 1023 - clamp(p[1], 0, 1023);
  return (user * 1024 + depth) * 4294967296 + (p[2] % 4294967296);
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
  args: Packed;
  /** Keys this task's arguments reference: its dependencies. */
  deps?: string[];
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
  value?: Packed;
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
  | { op: "key-done"; key: string; value?: Packed; who?: string[] }
  | { op: "key-erred"; key: string; error: Packed }
  | { op: "key-cancelled"; key: string; reason: string }
  | { op: "deadlock"; keys: string[]; message: string };

/** Worker -> scheduler (besides the client ops of its in-task client). */
export type WorkerToScheduler =
  | {
    op: "task-finished";
    key: string;
    value?: Packed;
    nbytes: number;
    /** Keys referenced inside the result: kept alive with it. */
    refs?: string[];
  }
  | { op: "task-erred"; key: string; error: Packed }
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
    args: Packed;
    /** Omitted when the task has no dependencies. */
    deps?: DepLocation[];
    /** The task's priority as {@linkcode priorityRank} gives it. */
    rank: number;
  }
  | { op: "cancel-compute"; key: string; reason: string }
  | { op: "free"; keys: string[] };

/** Anything -> worker data server, and its answer. */
export type DataRequest = { op: "get-data"; id: number; keys: string[] };
/** Answer to a {@linkcode DataRequest}; `missing` lists keys not held. */
export type DataResponse = {
  op: "data";
  id: number;
  values: Record<string, Packed>;
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
