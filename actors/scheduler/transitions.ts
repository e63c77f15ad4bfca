/**
 * The scheduler's task graph and its transitions. A transition changes one
 * task and *recommends* transitions of others; recommendations go through
 * one FIFO work list that {@linkcode TaskGraph.drainWork} empties with a
 * loop, so a cascade over a chain of 100,000 tasks takes linear time and
 * constant stack (as Dask's `_transitions` does). Every transition checks the
 * task's current status first, so a recommendation that no longer applies
 * (the task moved on meanwhile) does nothing.
 *
 * Lineage: a task stays in the graph (as `released`, without its value) while
 * any dependent is in the graph, so a value lost with its worker can be
 * recomputed however deep the loss goes.
 *
 * @module
 */

import TinyQueue from "tinyqueue";
import { pack, type Packed } from "../../runtime/codec/packed.ts";
import { LostDataError } from "../../runtime/errors.ts";
import type { FunctionRef } from "../../runtime/shipping/describe.ts";
import type { SchedulerToClient, SchedulerToWorker } from "../protocol.ts";
import { TaskDurations } from "./durations.ts";
import { allowedOn, hasRoom, pickWorker } from "./placement.ts";
import { fitsResources, holdResources } from "./resources.ts";
import {
  addTo,
  isActive,
  Owner,
  removeFrom,
  type TaskRecord,
  type TaskStatus,
  type WorkerRecord,
} from "./records.ts";

/** What the scheduler wants done: a message delivered, or a line logged. */
export type SchedulerEffect =
  | { type: "send"; to: string; msg: SchedulerToWorker | SchedulerToClient }
  | { type: "log"; level: "warn" | "error"; message: string }
  /** After `ms` milliseconds, hand the machine `{ type: "tick", token }`. */
  | { type: "timer"; ms: number; token: number };

/** Where a recommendation asks a task to go. */
export type Target =
  | "waiting" // compute (or recompute, or recount) it
  | "rerun" // its worker stopped running that run (arg: the run id): run it again
  | "ready" // its dependencies are in memory: place it
  | "released" // nobody needs it running or its value
  | "forgotten" // nothing refers to it: drop it
  | "erred" // a dependency failed (arg: the error)
  | "cancelled"; // cancelled by a client (arg: the reason)

/**
 * The queue of tasks no worker has room for: a binary heap (from the
 * `tinyqueue` package) that pops the task with the smallest rank first.
 */
export interface TaskQueue {
  /** Number of entries, including those of tasks that left `queued`. */
  readonly length: number;
  /** The entries, in heap order (read by the invariant checks). */
  readonly data: readonly TaskRecord[];
  /** Adds `ts`. */
  push(ts: TaskRecord): void;
  /** Removes and returns the entry with the smallest rank. */
  pop(): TaskRecord | undefined;
  /** The entry with the smallest rank, left in place. */
  peek(): TaskRecord | undefined;
}

/** Heap order: smaller rank first. */
const byPriority = (a: TaskRecord, b: TaskRecord) => a.rank - b.rank;

/** The graph, its records and its transitions; events live in `state.ts`. */
export class TaskGraph {
  /** Every task in the graph, by key. */
  readonly tasks: Map<string, TaskRecord> = new Map();
  /** Every worker, by id. */
  readonly workers: Map<string, WorkerRecord> = new Map();
  /**
   * Codec bytes of a `WorkersUnavailableError` while no worker is left and
   * none is coming (the supervisor gave up): tasks fail instead of queueing.
   */
  protected unavailable: Packed | null = null;
  /** Owners by id; a client's owners are found through `clientOwners`. */
  readonly owners: Map<string, Owner> = new Map();
  /** Each connected client's owners (workers' in-task clients included). */
  readonly clientOwners: Map<string, Set<Owner>> = new Map();
  /** How long each function's runs take, as reported by workers. */
  readonly durations: TaskDurations = new TaskDurations();
  /** Function definitions, by id, to forward with a worker's first compute. */
  readonly fns: Map<string, FunctionRef> = new Map();
  /** Queued tasks by priority (entries of tasks that left `queued` are skipped). */
  readonly queue: TaskQueue = new TinyQueue<TaskRecord>([], byPriority);
  /** Tasks a worker may hold per slot (running plus queued on the worker). */
  readonly saturation: number;
  /** Where the event being handled puts its effects (see `handle`). */
  protected effects: SchedulerEffect[] = [];
  /** Set by events after which a deadlock may have appeared. */
  protected deadlockSuspected = false;
  /** Submission counter (FIFO among equal priorities). */
  protected seq = 0;
  /** Run counter: every run of every task gets a new id. */
  private runs = 0;
  /**
   * Recommendations not carried out yet, in order: the work list, as three
   * parallel arrays (no object per recommendation).
   */
  private readonly workTs: TaskRecord[] = [];
  private readonly workTo: Target[] = [];
  private readonly workArg: (Packed | string | number | undefined)[] = [];
  /**
   * Entries in use. The arrays keep their capacity between events (setting
   * `length = 0` would drop their backing stores and regrow them each time).
   */
  private workLength = 0;
  /**
   * Keys to free per worker, held back until the end of the input batch
   * (a `flush` event) and sent as one message per worker.
   */
  readonly pendingFree: Map<WorkerRecord, Set<string>> = new Map();

  /** An empty graph whose workers take `saturation` tasks per slot. */
  constructor(saturation: number) {
    this.saturation = saturation;
  }

  /**
   * Moves a task just submitted (released) to waiting, or on to a worker:
   * the submit event's own transition, carried out at once rather than
   * through the work list.
   */
  protected start(ts: TaskRecord): void {
    this.toWaiting(ts);
  }

  /** Queues a transition of `ts`; `arg` is the error or reason `to` needs. */
  protected recommend(
    ts: TaskRecord,
    to: Target,
    arg?: Packed | string | number,
  ): void {
    const i = this.workLength++;
    this.workTs[i] = ts;
    this.workTo[i] = to;
    this.workArg[i] = arg;
  }

  /** Runs recommendations (and those they make) until none is left. */
  protected drainWork(): void {
    const { workTs, workTo, workArg } = this;
    for (let i = 0; i < this.workLength; i++) {
      const ts = workTs[i];
      const arg = workArg[i];
      workTs[i] = undefined as never; // let what is done go
      workArg[i] = undefined;
      if (ts.status !== "forgotten") this.transition(ts, workTo[i], arg);
    }
    this.workLength = 0;
  }

  /** Moves queued `free` messages into the effects (one per worker). */
  protected flushFrees(): void {
    if (this.pendingFree.size === 0) return;
    for (const [w, keys] of this.pendingFree) {
      if (keys.size > 0) this.send(w.id, { op: "free", keys: [...keys] });
    }
    this.pendingFree.clear();
  }

  /** Carries out one recommendation (which may recommend more). */
  private transition(
    ts: TaskRecord,
    to: Target,
    arg?: Packed | string | number,
  ): void {
    switch (to) {
      case "waiting":
        return this.toWaiting(ts);
      case "rerun":
        return this.toRerun(ts, arg as number);
      case "ready":
        return this.toReady(ts);
      case "released":
        return this.toReleased(ts);
      case "forgotten":
        return this.toForgotten(ts);
      case "erred":
        if (isActive(ts.status)) this.fail(ts, arg as Packed);
        return;
      case "cancelled":
        return this.toCancelled(ts, arg as string);
    }
  }

  // ---- the transitions ------------------------------------------------------

  /**
   * Computes `ts`: from released (first run, or recompute), from memory when
   * its value was lost, or recounts its missing dependencies when waiting or
   * queued (a processing task is computing already).
   */
  private toWaiting(ts: TaskRecord): void {
    const from = ts.status;
    if (from === "erred" || from === "processing") return;
    if (from === "memory") {
      if (ts.value !== null || (ts.whoHas !== null && ts.whoHas.length > 0)) {
        return; // the value is still there
      }
      this.dropValue(ts);
    }
    this.compute(ts, from);
  }

  /** Run `run` of `ts` stopped on its worker (which dropped it or died): run it again. */
  private toRerun(ts: TaskRecord, run: number): void {
    if (ts.status !== "processing" || ts.run !== run) return;
    const w = ts.processingOn!;
    this.unassign(ts, false);
    this.fill(w);
    this.compute(ts, "processing");
  }

  /** Makes `ts` (no longer running, without a value) wait for its dependencies, or run. */
  private compute(ts: TaskRecord, from: TaskStatus): void {
    if (!ts.needed) {
      this.setStatus(ts, "released");
      return this.settle(ts);
    }
    if (ts.scattered) return this.fail(ts, pack(lostScattered(ts.key)));
    this.setStatus(ts, "waiting");
    let waitingOn = 0;
    for (const d of ts.deps) {
      if (d.status === "erred") return this.recommend(ts, "erred", d.error!);
      if (d.status === "memory") continue;
      waitingOn++;
      if (d.status === "released") this.recommend(d, "waiting");
    }
    ts.waitingOn = waitingOn;
    if (waitingOn === 0) this.place(ts); // nothing to wait for: on to a worker
    if (from === "memory" && ts.dependents) {
      // Dependents that counted this value as present count again.
      for (const x of ts.dependents) {
        if (x.status === "waiting" || x.status === "queued") {
          this.recommend(x, "waiting");
        }
      }
    }
  }

  /** Places a waiting task whose dependencies are all in memory. */
  private toReady(ts: TaskRecord): void {
    if (ts.status !== "waiting" || ts.waitingOn !== 0) return;
    this.place(ts);
  }

  /**
   * Sends a waiting task with every dependency in memory to a worker, or
   * queues it; with no worker left and none coming, it fails.
   */
  private place(ts: TaskRecord): void {
    const w = pickWorker(ts, this.workers.values(), this.saturation);
    if (w) return this.assign(ts, w);
    if (this.unavailable && this.workers.size === 0) {
      return this.fail(ts, this.unavailable);
    }
    this.setStatus(ts, "queued");
    this.queue.push(ts);
  }

  /** Stops computing `ts` or drops its value: nobody needs either. */
  private toReleased(ts: TaskRecord): void {
    if (ts.needed || ts.status === "released" || ts.status === "erred") return;
    this.stopAndDrop(ts, "released");
    this.setStatus(ts, "released");
    this.settle(ts);
  }

  /** Drops `ts` from the graph once nothing refers to it. */
  private toForgotten(ts: TaskRecord): void {
    if (ts.wanted || (ts.dependents !== null && ts.dependents.size > 0)) return;
    this.stopAndDrop(ts, "released");
    this.setStatus(ts, "forgotten");
    this.tasks.delete(ts.key);
    ts.error = null;
    for (const d of ts.deps) {
      d.dependents!.delete(ts);
      this.settle(d);
    }
  }

  /** Tells everyone who wanted `ts` it is cancelled, cancels its dependents, then forgets it. */
  private toCancelled(ts: TaskRecord, reason: string): void {
    this.notify(ts, { op: "key-cancelled", key: ts.key, reason });
    for (const owner of ts.wantedBy ?? []) owner.keys.delete(ts);
    ts.wantedBy = null;
    for (const x of ts.dependents ?? []) {
      this.recommend(x, "cancelled", `cancelled with ${ts.key}`);
    }
    this.recommend(ts, "forgotten");
    this.settle(ts);
  }

  /**
   * `ts` failed with `error`: tell its wanters, fail its active dependents
   * (but those running, with `spareRunning`: see `endActor`).
   */
  protected fail(ts: TaskRecord, error: Packed, spareRunning = false): void {
    this.countInTree(ts);
    if (ts.processingOn) this.stopAndDrop(ts, "its dependency failed");
    ts.error = error;
    this.releaseOwned(ts);
    this.setStatus(ts, "erred");
    this.notify(ts, { op: "key-erred", key: ts.key, error });
    for (const x of ts.dependents ?? []) {
      if (!isActive(x.status)) continue;
      if (spareRunning && x.status === "processing") continue;
      this.recommend(x, "erred", error);
    }
    this.settle(ts);
  }

  /**
   * The actor of `ts` is gone for good (`error` says why): a live one's
   * instance is freed on its worker, a pending construction is stopped,
   * and its holders see the error. Tasks running with its handle go on:
   * their calls reject with the error, which they may handle (a run again
   * of one errs, its dependency being erred).
   */
  protected endActor(ts: TaskRecord, error: Packed): void {
    if (ts.status === "memory") this.dropValue(ts);
    else if (!isActive(ts.status)) return;
    this.fail(ts, error, true);
  }

  /**
   * The worker hosting `ts`'s actor is gone: the actor is constructed again
   * (a new run of its task) where the scheduler places it.
   */
  protected restartActor(ts: TaskRecord): void {
    this.dropValue(ts);
    this.recommend(ts, "waiting");
  }

  // ---- helpers of the transitions -----------------------------------------

  /** `ts` finished or erred: its root's tree has one more task done (once per task). */
  protected countInTree(ts: TaskRecord): void {
    if (ts.root === null || ts.counted) return;
    ts.counted = true;
    ts.root.launchedDone++;
  }

  /**
   * Recommends what `ts` needs now that what refers to it changed: release
   * work or a value nobody needs, compute a released task that is needed,
   * forget what nothing refers to.
   */
  protected settle(ts: TaskRecord): void {
    switch (ts.status) {
      case "waiting":
      case "queued":
      case "processing":
      case "memory":
        // Not needed: forgotten at once when nothing refers to it either.
        if (!ts.needed) {
          const kept = ts.dependents !== null && ts.dependents.size > 0;
          this.recommend(ts, kept ? "released" : "forgotten");
        }
        return;
      case "released":
        if (ts.needed) this.recommend(ts, "waiting");
        else if (ts.dependents === null || ts.dependents.size === 0) {
          this.recommend(ts, "forgotten");
        }
        return;
      case "erred":
        if (
          !ts.wanted && (ts.dependents === null || ts.dependents.size === 0)
        ) {
          this.recommend(ts, "forgotten");
        }
        return;
    }
  }

  /** Sets the status, keeping dependencies' active-dependent counts. */
  protected setStatus(ts: TaskRecord, status: TaskStatus): void {
    const was = isActive(ts.status);
    const now = isActive(status);
    ts.status = status;
    if (was === now) return;
    if (now) { for (const d of ts.deps) d.activeDependents++; }
    else {
      for (const d of ts.deps) {
        if (--d.activeDependents === 0) this.settle(d);
      }
    }
  }

  /** Stops a processing run (its worker is told) and drops a value. */
  private stopAndDrop(ts: TaskRecord, reason: string): void {
    if (ts.status === "processing") {
      const w = ts.processingOn!;
      this.send(w.id, {
        op: "cancel-compute",
        key: ts.key,
        run: ts.run,
        reason,
      });
      this.unassign(ts, true);
      this.releaseOwned(ts);
      this.fill(w);
    } else if (ts.status === "memory") {
      this.dropValue(ts);
    }
  }

  /** Forgets where the value is (asking its holders to free it). */
  private dropValue(ts: TaskRecord): void {
    if (ts.whoHas) {
      for (const h of ts.whoHas) {
        h.hasWhat.delete(ts);
        this.free(h, ts.key);
      }
      ts.whoHas = null;
    }
    ts.value = null;
    if (ts.kept) {
      const kept = ts.kept;
      ts.kept = null;
      for (const owner of kept) this.dropOwner(owner);
    }
  }

  /** Sends `ts` to worker `w` as a new run. */
  protected assign(ts: TaskRecord, w: WorkerRecord): void {
    this.setStatus(ts, "processing");
    ts.run = ++this.runs;
    ts.processingOn = w;
    ts.stealing = false;
    ts.charged = this.durations.known(ts.fn) ?? 0;
    w.processing.add(ts);
    w.executing++;
    w.occupancy += ts.charged;
    if (ts.resources !== null) {
      holdResources(w, ts.resources, 1);
      ts.holding = true;
    }
    // A free of this key held back for w would arrive after this compute and
    // delete the new result: the new result replaces the old value anyway.
    this.pendingFree.get(w)?.delete(ts.key);
    const msg: SchedulerToWorker & { op: "compute" } = {
      op: "compute",
      key: ts.key,
      run: ts.run,
      fn: ts.fn,
      args: ts.args,
      rank: ts.rank,
    };
    if (ts.actor) msg.actor = { concurrency: ts.actor.concurrency };
    if (ts.deps.length > 0) {
      msg.deps = ts.deps.map((d) =>
        d.value !== null
          ? { key: d.key, value: d.value }
          : { key: d.key, who: d.whoHas!.map((h) => h.address) }
      );
    }
    if (!w.fnsSent.has(ts.fn)) {
      w.fnsSent.add(ts.fn);
      msg.fnRef = this.fns.get(ts.fn);
    }
    this.send(w.id, msg);
  }

  /**
   * Detaches a processing task from its worker. With `stopping`, the worker
   * still runs it until it reports stopping: the run keeps its share of the
   * worker's load meanwhile.
   */
  protected unassign(ts: TaskRecord, stopping: boolean): void {
    const w = ts.processingOn;
    if (!w) return;
    w.processing.delete(ts);
    w.blocked.delete(ts);
    if (stopping) {
      w.stopping.set(ts.run, {
        key: ts.key,
        holdsSlot: !ts.seceded,
        charged: ts.charged,
        resources: ts.holding ? ts.resources : null,
      });
    } else {
      if (ts.holding) holdResources(w, ts.resources, -1);
      if (!ts.seceded) {
        w.executing--;
        w.occupancy -= ts.charged;
      }
    }
    ts.processingOn = null;
    ts.holding = false;
    ts.seceded = false;
    ts.blockedOn = null;
    ts.stealing = false;
  }

  /**
   * Gives worker `w` queued work up to its capacity, by priority. (A worker
   * that has left gets nothing: cascades of its leaving stop runs on it.)
   */
  protected fill(w: WorkerRecord): void {
    if (this.queue.length === 0 || w.fullyBlocked) return;
    if (this.workers.get(w.id) !== w) return;
    let skipped: TaskRecord[] | undefined;
    while (hasRoom(w, this.saturation) && this.queue.length > 0) {
      const ts = this.queue.pop()!;
      if (ts.status !== "queued") continue;
      if (
        (ts.restrictions && !ts.loose && !allowedOn(ts, w)) ||
        (ts.resources && !fitsResources(ts, w))
      ) {
        (skipped ??= []).push(ts);
        continue;
      }
      this.assign(ts, w);
    }
    if (skipped) { for (const ts of skipped) this.queue.push(ts); }
  }

  /**
   * Releases the futures a task created, keeping those whose keys its result
   * references (they live as long as the task's value).
   */
  protected releaseOwned(ts: TaskRecord, keep?: string[]): void {
    const owners = ts.owners;
    if (!owners) return;
    ts.owners = null;
    const kept = keep && keep.length > 0 ? new Set(keep) : null;
    for (const owner of owners) {
      if (!kept) {
        this.dropOwner(owner);
        continue;
      }
      // Release what the result does not reference; keep the owner for the rest.
      for (const k of [...owner.keys]) {
        if (kept.has(k.key)) continue;
        owner.keys.delete(k);
        removeFrom(k.wantedBy, owner);
        this.settle(k);
      }
      if (owner.keys.size > 0) (ts.kept ??= []).push(owner);
      else this.dropOwner(owner);
    }
  }

  /** An owner is gone: every key it wanted loses that want. */
  protected dropOwner(owner: Owner): void {
    this.owners.delete(owner.id);
    this.clientOwners.get(owner.client)?.delete(owner);
    const keys = [...owner.keys];
    owner.keys.clear();
    for (const ts of keys) {
      removeFrom(ts.wantedBy, owner);
      this.settle(ts);
    }
  }

  /** The owner for `client` (and task `task`, for in-task clients), made on first use. */
  protected owner(client: string, task: string | undefined): Owner {
    const id = ownerId(client, task);
    return this.owners.get(id) ?? this.newOwner(id, client, task);
  }

  /** Files a new owner under its id, its client, and its task when it has one. */
  private newOwner(
    id: string,
    client: string,
    task: string | undefined,
  ): Owner {
    const owner = new Owner(id, client, task);
    this.owners.set(id, owner);
    let set = this.clientOwners.get(client);
    if (!set) this.clientOwners.set(client, set = new Set());
    set.add(owner);
    if (task !== undefined) {
      const parent = this.tasks.get(task);
      if (parent) (parent.owners ??= new Set()).add(owner);
    }
    return owner;
  }

  /**
   * The owner under which the scheduler itself holds keys on behalf of
   * `name` (a named actor, a dataset, a fire-and-forget future, a
   * coordination primitive's value): such keys stay while held, whoever
   * else lets go, and the holder is never sent anything (see `notify`).
   */
  protected holder(name: string): Owner {
    const id = `${SCHEDULER_HOLDER}\u0000${name}`;
    return this.owners.get(id) ??
      this.newOwner(id, SCHEDULER_HOLDER, undefined);
  }

  /** Holds `ts` on behalf of `name` (see `holder`); holding twice is holding once. */
  protected hold(ts: TaskRecord, name: string): void {
    const owner = this.holder(name);
    if (!owner.keys.has(ts)) this.addWant(ts, owner);
  }

  /** Stops holding everything held on behalf of `name`. */
  protected unhold(name: string): void {
    const owner = this.owners.get(`${SCHEDULER_HOLDER}\u0000${name}`);
    if (owner) this.dropOwner(owner);
  }

  /** `owner` holds a future on `ts`. */
  protected addWant(ts: TaskRecord, owner: Owner): void {
    ts.wantedBy = addTo(ts.wantedBy, owner);
    owner.keys.add(ts);
  }

  /** Tells `client` the outcome of a task that already finished. */
  protected report(ts: TaskRecord, client: string): void {
    if (ts.status === "memory") this.send(client, keyDone(ts));
    else if (ts.status === "erred") {
      this.send(client, { op: "key-erred", key: ts.key, error: ts.error! });
    }
  }

  /** Sends `msg` once to each distinct client holding futures on `ts`. */
  protected notify(ts: TaskRecord, msg: SchedulerToClient): void {
    const owners = ts.wantedBy;
    if (!owners || owners.length === 0) return;
    if (owners.length === 1) {
      const owner = owners[0];
      if (owner.client !== SCHEDULER_HOLDER) this.send(owner.client, msg);
      else this.heldSettled(ts, owner);
      return;
    }
    for (const client of new Set(owners.map((o) => o.client))) {
      if (client !== SCHEDULER_HOLDER) this.send(client, msg);
    }
    const held = owners.filter((o) => o.client === SCHEDULER_HOLDER);
    for (const owner of held) this.heldSettled(ts, owner);
  }

  /**
   * `ts`, held by the scheduler's `owner` (see `holder`), finished, erred
   * or was cancelled: a subclass may let it go (fire-and-forget does).
   */
  protected heldSettled(_ts: TaskRecord, _owner: Owner): void {}

  /** Asks worker `w` to free `key` (held back until the batch ends, see `pendingFree`). */
  protected free(w: WorkerRecord, key: string): void {
    const keys = this.pendingFree.get(w);
    if (keys) keys.add(key);
    else this.pendingFree.set(w, new Set([key]));
  }

  /** A removed worker gets no more frees. */
  protected forgetFrees(w: WorkerRecord): void {
    this.pendingFree.delete(w);
  }

  /** Emits a message to peer `to`. */
  protected send(to: string, msg: SchedulerToWorker | SchedulerToClient): void {
    this.effects.push({ type: "send", to, msg });
  }

  /** Emits a log line. */
  protected log(level: "warn" | "error", message: string): void {
    this.effects.push({ type: "log", level, message });
  }
}

/**
 * The peer id of the scheduler's own holds (see `TaskGraph.holder`): no
 * client or worker has it, so it is never sent anything.
 */
export const SCHEDULER_HOLDER = "\u0001scheduler";

/** The `key-done` message of a task in memory. */
export function keyDone(ts: TaskRecord): SchedulerToClient {
  return ts.value !== null
    ? { op: "key-done", key: ts.key, value: ts.value }
    : { op: "key-done", key: ts.key, who: ts.whoHas!.map((w) => w.address) };
}

/** The error of a scattered value whose every copy was lost. */
export function lostScattered(key: string): LostDataError {
  return new LostDataError(
    key,
    `scattered value ${key} was lost with the last worker holding it; a ` +
      `scattered value cannot be recomputed (scatter it again, or use ` +
      `broadcast: true to keep a copy on every worker)`,
  );
}

/** The id of the owner of `client`'s futures (for task `task`). */
export function ownerId(client: string, task: string | undefined): string {
  return task === undefined ? client : `${client}\u0000${task}`;
}
