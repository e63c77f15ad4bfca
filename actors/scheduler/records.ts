/**
 * The scheduler's records: one {@linkcode TaskRecord} per key, one
 * {@linkcode WorkerRecord} per worker, one {@linkcode Owner} per holder of
 * futures. Plain data; the invariants tying them together are checked by
 * `invariants.ts` and kept by the transitions in `transitions.ts`.
 *
 * @module
 */

import type { Packed } from "../../runtime/codec/packed.ts";
import { type Priority, priorityRank, type TaskSpec } from "../protocol.ts";

/**
 * Where a task is in its life on the scheduler.
 *
 * - `released`: in the graph without a value and not computing, kept because
 *   a dependent may need it recomputed (its lineage).
 * - `waiting`: needed; some dependency is not in memory yet.
 * - `queued`: runnable, but no worker has room: in the scheduler's heap.
 * - `processing`: sent to a worker (queued there, fetching or running).
 * - `memory`: finished; its value is held by workers (inline here when small).
 * - `erred`: failed; its error is kept for whoever asks.
 * - `forgotten`: dropped from the graph (nobody wants it, no dependent).
 */
export type TaskStatus =
  | "released"
  | "waiting"
  | "queued"
  | "processing"
  | "memory"
  | "erred"
  | "forgotten";

/**
 * True for the statuses of a task that will need its dependencies' values
 * (waiting, queued, processing). (Comparisons, not a table lookup: a keyed
 * load with varying keys is slow on this hot path.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isActive } from "./records.ts";
 * assert.ok(isActive("queued"));
 * assert.ok(!isActive("memory"));
 * ```
 */
export function isActive(status: TaskStatus): boolean {
  return status === "waiting" || status === "queued" || status === "processing";
}

/**
 * Something that wants keys: a client (task undefined) or one task running on
 * a worker, through that worker's shared client. Futures created inside a task
 * are owned by the task and released when it ends; that is what keeps memory
 * flat in deep recursion and what makes cancellation cascade.
 */
export class Owner {
  /** Keys this owner wants. */
  readonly keys: Set<TaskRecord> = new Set();
  /** An owner `id` of peer `client`, for the task `task` when there is one. */
  constructor(
    readonly id: string,
    /** Peer id of the client to notify. */
    readonly client: string,
    /** Key of the owning task, when owned by a task. */
    readonly task: string | undefined,
  ) {}
}

const NO_DEPS: readonly TaskRecord[] = [];

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
export class TaskRecord {
  /**
   * Where it is in its life. The graph changes it through `setStatus`,
   * which keeps its dependencies' `activeDependents` counts right.
   */
  status: TaskStatus = "released";
  /** Dependencies (deduplicated); fixed at submission. */
  deps: readonly TaskRecord[] = NO_DEPS;
  /** Every dependent in the graph: they keep this record (its lineage). */
  dependents: Set<TaskRecord> | null = null;
  /** Dependents in an active status: they keep this task's value. */
  activeDependents = 0;
  /** While waiting: the dependencies not in memory. */
  waitingOn = 0;
  /**
   * Owners that hold a future on this key. Arrays, not Sets, here and in
   * `whoHas`: they almost always hold one entry, and a Set per task is most
   * of the scheduler's allocation.
   */
  wantedBy: Owner[] | null = null;
  /** The worker running it while processing. */
  processingOn: WorkerRecord | null = null;
  /** The id of its current run while processing (echoed by the worker). */
  run = 0;
  /** While processing: a steal request is out for it. */
  stealing = false;
  /**
   * While processing: the µs of work charged to its worker's `occupancy`
   * (its function's learned duration when it was assigned, 0 if unknown).
   */
  charged = 0;
  /** Workers holding the value while in memory. */
  whoHas: WorkerRecord[] | null = null;
  /** Codec bytes of a small result, kept so nobody has to fetch it. */
  value: Packed | null = null;
  /** Encoded size of its value. */
  nbytes = 0;
  /** Codec bytes of the error while erred. */
  error: Packed | null = null;
  /** Released the task's slot with secede() while processing. */
  seceded = false;
  /** Keys this task awaits with automatic secession turned off. */
  blockedOn: string[] | null = null;
  /** Times a worker died while running it. */
  suspicious = 0;
  /** Times a worker could not fetch one of its dependencies from a live holder. */
  fetchFailures = 0;
  /** Reruns left after the function throws. */
  retries: number;
  /** Owners of futures this task created (one per client it used). */
  owners: Set<Owner> | null = null;
  /**
   * The task a client submitted whose tree this one belongs to (set for
   * tasks submitted from tasks; null for roots). `progress()` counts trees.
   */
  root: TaskRecord | null = null;
  /** On a root: tasks submitted in its tree so far. */
  launched = 0;
  /** On a root: tasks of its tree that finished or erred (each once). */
  launchedDone = 0;
  /** Counted in its root's `launchedDone` already. */
  counted = false;
  /** Owners kept alive because the result references their keys. */
  kept: Owner[] | null = null;
  /**
   * Put into workers' stores by a client (`client.scatter`): no function
   * computes it, so once its last copy is lost it can only err.
   */
  scattered = false;
  /**
   * Set when the task constructs an actor: its value is the address of the
   * worker hosting the instance, which dies with that worker (see
   * `ActorRecord`).
   */
  readonly actor: ActorRecord | null;
  /** The task's key. */
  readonly key: string;
  /** Function id. */
  readonly fn: string;
  /** Codec bytes of the arguments. */
  readonly args: Packed;
  /** Worker ids or addresses it may run on, if restricted. */
  readonly restrictions: ReadonlySet<string> | null;
  /** With restrictions: a preference only. */
  readonly loose: boolean;
  /** Amounts of worker resources it holds while assigned, if any. */
  readonly resources: Readonly<Record<string, number>> | null;
  /** With resources: they are given back when it secedes. */
  readonly releaseOnSecede: boolean;
  /** While processing: its resources are counted on its worker. */
  holding = false;
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
    this.resources = spec.resources && Object.keys(spec.resources).length > 0
      ? spec.resources
      : null;
    this.releaseOnSecede = spec.releaseResourcesOnSecede ?? false;
    this.actor = spec.actor
      ? {
        concurrency: spec.actor.concurrency || 1,
        restartsLeft: spec.actor.maxRestarts ?? 0,
        name: spec.actor.name,
      }
      : null;
  }

  /** Some owner holds a future on it. */
  get wanted(): boolean {
    return this.wantedBy !== null && this.wantedBy.length > 0;
  }

  /** Its value is needed: wanted, or an active dependent will read it. */
  get needed(): boolean {
    return this.activeDependents > 0 || this.wanted;
  }
}

/** How an actor's task is hosted, and how often it may be constructed again. */
export interface ActorRecord {
  /** Method calls it runs at once. */
  readonly concurrency: number;
  /** Constructions left after its worker dies (`maxRestarts` less those used). */
  restartsLeft: number;
  /** Its cluster-wide name, when it has one. */
  readonly name: string | undefined;
}

/** A run the scheduler cancelled or stole that has not stopped on its worker yet. */
export interface StoppingRun {
  /** The task's key. */
  readonly key: string;
  /** Whether it counts against the worker's slots (it had not seceded). */
  holdsSlot: boolean;
  /** The µs of work its task was charged (counted in `occupancy` while it holds a slot). */
  readonly charged: number;
  /** The worker resources its task holds until it stops. */
  readonly resources: Readonly<Record<string, number>> | null;
}

/** One worker as the scheduler sees it. */
export class WorkerRecord {
  /** Tasks sent to it and not finished. */
  readonly processing: Set<TaskRecord> = new Set();
  /**
   * Its load: processing tasks that have not seceded, plus stopping runs
   * that hold a slot. Counts against `slots * saturation`.
   */
  executing = 0;
  /**
   * Expected work of the same runs, in µs: the sum of their `charged`
   * durations. Bounds how much work waits in its queue (see `hasRoom`).
   */
  occupancy = 0;
  /** Keys whose values it holds. */
  readonly hasWhat: Set<TaskRecord> = new Set();
  /** Processing tasks blocked in an await that opted out of secession. */
  readonly blocked: Set<TaskRecord> = new Set();
  /** Runs cancelled or stolen here that have not reported stopping, by run id. */
  readonly stopping: Map<number, StoppingRun> = new Map();
  /** Function ids already sent to it. */
  readonly fnsSent: Set<string> = new Set();
  /** Amounts of its resources held by tasks assigned to it (and stopping runs). */
  readonly resourcesUsed: Map<string, number> = new Map();
  /** Being retired (`retireWorkers`): it gets no new work. */
  retiring = false;
  /**
   * While retiring, once its runs ended: the keys of its values being
   * copied to other workers, by the worker asked to take each (null before).
   */
  moving: Map<string, WorkerRecord> | null = null;
  /** A worker `id` with `slots` slots, serving data at `address`. */
  constructor(
    readonly id: string,
    readonly slots: number,
    /** Where peers and clients fetch its data. */
    readonly address: string,
    /** Amounts of resources it offers (`{ GPU: 2 }`), if any. */
    readonly resources: Readonly<Record<string, number>> | null = null,
  ) {}

  /** Every slot is held by a task blocked without secession: nothing new can start. */
  get fullyBlocked(): boolean {
    return this.blocked.size >= this.slots;
  }
}
