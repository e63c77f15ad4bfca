/**
 * The scheduler's records: one {@linkcode TaskState} per key, one
 * {@linkcode WorkerState} per worker, one {@linkcode Owner} per holder of
 * futures. Plain data with the invariants documented on each field; all the
 * transitions live in `scheduler_state.ts`.
 *
 * @module
 */

import type { Packed } from "../../runtime/codec/packed.ts";
import { type Priority, priorityRank, type TaskSpec } from "../protocol.ts";

/** Where a task is in its life on the scheduler. */
export type TaskStatus =
  | "waiting" // some dependency is not in memory yet
  | "queued" // runnable, no worker has room: in the scheduler's heap
  | "processing" // sent to a worker
  | "memory" // finished; held by workers (and inline here when small)
  | "erred"
  | "forgotten"; // nobody wants it: dropped from the graph

/**
 * Something that wants keys: a client (task undefined) or one task running on
 * a worker, through that worker's shared client. Futures created inside a task
 * are owned by the task and released when it ends; that is what keeps memory
 * flat in deep recursion and what makes cancellation cascade.
 */
export class Owner {
  /** Keys this owner wants. */
  readonly keys: Set<TaskState> = new Set();
  constructor(
    readonly id: string,
    /** Peer id of the client to notify. */
    readonly client: string,
    /** Key of the owning task, when owned by a task. */
    readonly task: string | undefined,
  ) {}
}

const NO_DEPS: readonly TaskState[] = [];

/** Adds `item` to a small list unless present; returns the list. */
export function addTo<T>(list: T[] | null, item: T): T[] {
  if (!list) return [item];
  if (!list.includes(item)) list.push(item);
  return list;
}

/** Removes `item` from a small list; true if it was there. */
export function removeFrom<T>(list: T[] | null, item: T): boolean {
  if (!list) return false;
  const i = list.indexOf(item);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}

/** One key in the graph. */
export class TaskState {
  status: TaskStatus = "waiting";
  /** Dependencies (deduplicated). */
  deps: readonly TaskState[] = NO_DEPS;
  /** Dependents that have not finished yet: they keep this task alive. */
  dependents: Set<TaskState> | null = null;
  /** Number of dependencies not yet in memory. */
  waitingOn = 0;
  /**
   * Owners that hold a future on this key. Arrays, not Sets, here and in
   * `whoHas`: they almost always hold one entry, and a Set per task is most
   * of the scheduler's allocation.
   */
  wantedBy: Owner[] | null = null;
  /** The worker running it while processing. */
  processingOn: WorkerState | null = null;
  /** Workers holding the value while in memory. */
  whoHas: WorkerState[] | null = null;
  /** Codec bytes of a small result, kept so nobody has to fetch it. */
  value: Packed | null = null;
  nbytes = 0;
  /** Codec bytes of the error while erred. */
  error: Packed | null = null;
  /** Released the task's slot with secede() while processing. */
  seceded = false;
  /** Keys this task awaits with automatic secession turned off. */
  blockedOn: string[] | null = null;
  /** Times a worker died while running it. */
  suspicious = 0;
  retries: number;
  /** Owners of futures this task created (one per client it used). */
  owners: Set<Owner> | null = null;
  /** Owners kept alive because the result references their keys. */
  kept: Owner[] | null = null;
  readonly key: string;
  readonly fn: string;
  readonly args: Packed;
  readonly restrictions: ReadonlySet<string> | null;
  readonly loose: boolean;
  /** Its priority as one number (smaller runs first). */
  readonly rank: number;
  /** How many tasks up its chain of submitting tasks (0 from a client). */
  readonly depth: number;

  /** A task from its submission, with the priority the scheduler gave it. */
  constructor(spec: TaskSpec, priority: Priority) {
    this.rank = priorityRank(priority);
    this.depth = priority[1];
    this.key = spec.key;
    this.fn = spec.fn;
    this.args = spec.args;
    this.retries = spec.retries ?? 0;
    this.restrictions = spec.workers?.length ? new Set(spec.workers) : null;
    this.loose = spec.allowOtherWorkers ?? false;
  }

  /** Still needed by a future or by an unfinished dependent. */
  get needed(): boolean {
    return (this.wantedBy !== null && this.wantedBy.length > 0) ||
      (this.dependents !== null && this.dependents.size > 0);
  }

  /** Finished one way or another. */
  get terminal(): boolean {
    return this.status === "memory" || this.status === "erred" ||
      this.status === "forgotten";
  }
}

/** One worker as the scheduler sees it. */
export class WorkerState {
  /** Tasks sent to it and not finished. */
  readonly processing: Set<TaskState> = new Set();
  /** Processing tasks that have not seceded: they count against `slots`. */
  executing = 0;
  /** Keys whose values it holds. */
  readonly hasWhat: Set<TaskState> = new Set();
  /** Processing tasks blocked in an await that opted out of secession. */
  readonly blocked: Set<TaskState> = new Set();
  /** Function ids already sent to it. */
  readonly fnsSent: Set<string> = new Set();
  constructor(
    readonly id: string,
    readonly slots: number,
    /** Where peers and clients fetch its data. */
    readonly address: string,
  ) {}
}
