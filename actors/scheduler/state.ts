/**
 * The scheduler as a pure state machine: events in (messages from clients and
 * workers, workers and clients joining and leaving), messages out (drained
 * from {@linkcode SchedulerState.drain}). No I/O, no timers, no promises, so
 * every transition is testable without a transport.
 *
 * @module
 */

import TinyQueue from "tinyqueue";
import { pack, type Packed } from "../../runtime/codec/packed.ts";
import type { FunctionRef } from "../../runtime/shipping/describe.ts";
import { findDeadlock } from "./deadlock.ts";
import { KilledWorkerError, LostDataError } from "../../runtime/errors.ts";
import { allowed, pickWorker } from "./placement.ts";
import type {
  SchedulerToClient,
  SchedulerToWorker,
  TaskSpec,
  ToScheduler,
} from "../protocol.ts";
import { addTo, Owner, removeFrom, TaskState, WorkerState } from "./records.ts";

/** A message the scheduler wants delivered to peer `to`. */
export interface Outgoing {
  to: string;
  msg: SchedulerToWorker | SchedulerToClient;
}

/** Tuning of a {@linkcode SchedulerState}. */
export interface SchedulerOptions {
  /**
   * Tasks a worker may hold per slot (running plus queued on the worker).
   * Above 1 so messages batch and workers never idle between round trips;
   * the rest waits, by priority, in the scheduler's queue.
   */
  saturation?: number;
  /** Worker deaths a task may witness before it errs with KilledWorkerError. */
  allowedFailures?: number;
}

const byPriority = (a: TaskState, b: TaskState) => a.rank - b.rank;

/** The scheduler's whole state and its transitions. */
export class SchedulerState {
  readonly tasks: Map<string, TaskState> = new Map();
  readonly workers: Map<string, WorkerState> = new Map();
  /** Owners by id; a client's owners are found through `clientOwners`. */
  readonly owners: Map<string, Owner> = new Map();
  readonly clientOwners: Map<string, Set<Owner>> = new Map();
  readonly fns: Map<string, FunctionRef> = new Map();
  private readonly queue: TinyQueue<TaskState> = new TinyQueue([], byPriority);
  private outbox: Outgoing[] = [];
  private pendingFree = new Map<WorkerState, string[]>();
  private deadlockSuspected = false;
  private seq = 0;
  private readonly saturation: number;
  private readonly allowedFailures: number;

  constructor(options: SchedulerOptions = {}) {
    this.saturation = options.saturation ?? 64;
    this.allowedFailures = options.allowedFailures ?? 3;
  }

  /** Messages produced since the last drain, in order. */
  drain(): Outgoing[] {
    if (this.deadlockSuspected) this.checkDeadlock();
    for (const [w, keys] of this.pendingFree) {
      this.outbox.push({ to: w.id, msg: { op: "free", keys } });
    }
    this.pendingFree.clear();
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  /** Number of keys whose values are held (memory), for tests and stats. */
  get heldKeys(): number {
    let n = 0;
    for (const ts of this.tasks.values()) if (ts.status === "memory") n++;
    return n;
  }

  // ---- membership ---------------------------------------------------------

  /** A client connected (workers' in-task clients use the worker's id). */
  addClient(id: string): void {
    if (!this.clientOwners.has(id)) this.clientOwners.set(id, new Set());
  }

  /** A client left: everything it wanted is released. */
  removeClient(id: string): void {
    const owners = this.clientOwners.get(id);
    if (!owners) return;
    this.clientOwners.delete(id);
    for (const owner of owners) this.dropOwner(owner);
  }

  /** A worker joined with `slots` slots, serving data at `address`. */
  addWorker(id: string, slots: number, address: string): void {
    const w = new WorkerState(id, slots, address);
    this.workers.set(id, w);
    this.addClient(id);
    this.fill(w);
  }

  /**
   * A worker left or died: its processing tasks are rescheduled (or err with
   * KilledWorkerError after too many deaths), values only it held are
   * recomputed from their lineage when still needed.
   */
  removeWorker(id: string): void {
    const w = this.workers.get(id);
    if (!w) return;
    this.workers.delete(id);
    this.pendingFree.delete(w);
    this.removeClient(id);
    for (const ts of [...w.processing]) {
      this.unassign(ts);
      this.releaseOwned(ts);
      if (++ts.suspicious > this.allowedFailures) {
        this.fail(ts, pack(new KilledWorkerError(ts.key, ts.suspicious)));
      } else {
        this.makeReady(ts);
      }
    }
    for (const ts of w.hasWhat) {
      removeFrom(ts.whoHas, w);
      if (ts.whoHas!.length > 0 || ts.value !== null) continue;
      this.lost(ts);
    }
    if (this.workers.size > 0) this.deadlockSuspected = true;
  }

  // ---- messages -----------------------------------------------------------

  /** Handles one message from peer `from` (a client or a worker). */
  handle(from: string, msg: ToScheduler): void {
    switch (msg.op) {
      case "submit":
        for (const spec of msg.tasks) this.submit(from, spec);
        return;
      case "want":
        return this.want(from, msg.owner, msg.keys);
      case "release":
        return this.release(from, msg.owner, msg.keys);
      case "cancel":
        for (const key of msg.keys) {
          const ts = this.tasks.get(key);
          if (ts) this.cancel(ts, "cancelled");
        }
        return;
      case "task-finished":
        return this.finished(from, msg.key, msg.value, msg.nbytes, msg.refs);
      case "task-erred":
        return this.erred(from, msg.key, msg.error);
      case "seceded":
        return this.secede(from, msg.key);
      case "rejoined":
        return this.rejoin(from, msg.key);
      case "blocked":
        return this.block(from, msg.key, msg.on);
      case "unblocked":
        return this.unblock(from, msg.key);
      case "missing-data":
        return this.missing(from, msg.key, msg.dep, msg.from);
      default:
        throw new TypeError(
          `unknown operation ${JSON.stringify((msg as { op: unknown }).op)}`,
        );
    }
  }

  private submit(client: string, spec: TaskSpec): void {
    if (spec.fnRef) this.fns.set(spec.fn, spec.fnRef);
    if (this.orphaned(client, spec.parent)) {
      return this.refuseOrphan(client, spec.key, spec.parent!);
    }
    const owner = this.owner(client, spec.parent);
    const existing = this.tasks.get(spec.key);
    if (existing) {
      this.addWant(existing, owner);
      this.report(existing, client);
      return;
    }
    const parent = spec.parent ? this.tasks.get(spec.parent) : undefined;
    const depth = parent ? parent.depth + 1 : 0;
    const ts = new TaskState(spec, [spec.priority ?? 0, depth, this.seq++]);
    this.tasks.set(ts.key, ts);
    this.addWant(ts, owner);
    let erredDep: TaskState | undefined;
    const deps: TaskState[] = [];
    if (spec.deps?.length) ts.deps = deps;
    for (const key of spec.deps?.length ? new Set(spec.deps) : []) {
      const dep = this.tasks.get(key);
      if (!dep) {
        this.fail(
          ts,
          pack(
            new LostDataError(
              key,
              `task ${ts.key} depends on ${key}, which the scheduler no longer has`,
            ),
          ),
        );
        return;
      }
      deps.push(dep);
      (dep.dependents ??= new Set()).add(ts);
      if (dep.status === "erred") erredDep = dep;
      else if (dep.status !== "memory") ts.waitingOn++;
    }
    if (erredDep) this.fail(ts, erredDep.error!);
    else if (ts.waitingOn === 0) this.makeReady(ts);
  }

  private want(client: string, task: string | undefined, keys: string[]) {
    if (this.orphaned(client, task)) {
      for (const key of keys) this.refuseOrphan(client, key, task!);
      return;
    }
    const owner = this.owner(client, task);
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (!ts) {
        this.outbox.push({
          to: client,
          msg: {
            op: "key-cancelled",
            key,
            reason: "forgotten by the scheduler",
          },
        });
        continue;
      }
      this.addWant(ts, owner);
      this.report(ts, client);
    }
  }

  private release(client: string, task: string | undefined, keys: string[]) {
    const owner = this.owners.get(ownerId(client, task));
    if (!owner) return;
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (!ts || !removeFrom(ts.wantedBy, owner)) continue;
      owner.keys.delete(ts);
      if (!ts.needed) this.forget(ts);
    }
  }

  private finished(
    from: string,
    key: string,
    value: Packed | undefined,
    nbytes: number,
    refs: string[] | undefined,
  ): void {
    const w = this.workers.get(from);
    const ts = this.tasks.get(key);
    if (!w) return;
    if (!ts || ts.processingOn !== w) {
      // A late result for a task that was cancelled or moved: drop the copy.
      if (!ts?.whoHas?.includes(w)) this.free(w, key);
      return;
    }
    this.unassign(ts);
    ts.status = "memory";
    ts.value = value ?? null;
    ts.nbytes = nbytes;
    ts.whoHas = addTo(ts.whoHas, w);
    w.hasWhat.add(ts);
    this.releaseOwned(ts, refs);
    if (ts.wantedBy) {
      const msg: SchedulerToClient = value
        ? { op: "key-done", key, value }
        : { op: "key-done", key, who: [w.address] };
      this.notify(ts, msg);
    }
    if (ts.dependents) {
      for (const d of ts.dependents) {
        if (d.status === "waiting" && --d.waitingOn === 0) this.makeReady(d);
      }
    }
    this.detachFromDeps(ts);
    if (!ts.needed) this.forget(ts);
    this.fill(w);
  }

  private erred(from: string, key: string, error: Packed): void {
    const w = this.workers.get(from);
    const ts = this.tasks.get(key);
    if (!w || !ts || ts.processingOn !== w) return;
    this.unassign(ts);
    this.releaseOwned(ts);
    if (ts.retries > 0) {
      ts.retries--;
      this.makeReady(ts);
    } else {
      this.fail(ts, error);
    }
    this.fill(w);
  }

  private secede(from: string, key: string): void {
    const ts = this.tasks.get(key);
    const w = ts?.processingOn;
    if (!ts || !w || w.id !== from || ts.seceded) return;
    ts.seceded = true;
    w.executing--;
    if (w.blocked.delete(ts)) ts.blockedOn = null;
    this.fill(w);
  }

  private rejoin(from: string, key: string): void {
    const ts = this.tasks.get(key);
    const w = ts?.processingOn;
    if (!ts || !w || w.id !== from || !ts.seceded) return;
    ts.seceded = false;
    w.executing++;
  }

  private block(from: string, key: string, on: string[]): void {
    const ts = this.tasks.get(key);
    const w = ts?.processingOn;
    if (!ts || !w || w.id !== from || ts.seceded) return;
    ts.blockedOn = on;
    w.blocked.add(ts);
    this.deadlockSuspected = true;
  }

  private unblock(from: string, key: string): void {
    const ts = this.tasks.get(key);
    const w = ts?.processingOn;
    if (!ts || !w || w.id !== from) return;
    ts.blockedOn = null;
    w.blocked.delete(ts);
  }

  /** A worker could not fetch `dep` from `from`: forget that copy, retry. */
  private missing(worker: string, key: string, depKey: string, from: string) {
    const ts = this.tasks.get(key);
    const dep = this.tasks.get(depKey);
    if (!ts || ts.processingOn?.id !== worker) return;
    if (dep) {
      for (const w of dep.whoHas ?? []) {
        if (w.address === from) {
          removeFrom(dep.whoHas, w);
          w.hasWhat.delete(dep);
        }
      }
    }
    this.unassign(ts);
    if (!dep || dep.status !== "memory") {
      this.fail(
        ts,
        pack(
          new LostDataError(depKey, `dependency ${depKey} of ${key} is gone`),
        ),
      );
      return;
    }
    if (dep.whoHas!.length === 0 && dep.value === null) {
      ts.status = "waiting";
      ts.waitingOn = 1;
      this.lost(dep);
    } else {
      this.makeReady(ts);
    }
  }

  // ---- transitions --------------------------------------------------------

  /** Runnable: send it to a worker with room, or queue it. */
  private makeReady(ts: TaskState): void {
    const w = pickWorker(ts, this.workers.values(), this.saturation);
    if (w) this.assign(ts, w);
    else {
      ts.status = "queued";
      this.queue.push(ts);
    }
  }

  private assign(ts: TaskState, w: WorkerState): void {
    ts.status = "processing";
    ts.processingOn = w;
    w.processing.add(ts);
    w.executing++;
    const msg: SchedulerToWorker & { op: "compute" } = {
      op: "compute",
      key: ts.key,
      fn: ts.fn,
      args: ts.args,
      rank: ts.rank,
    };
    if (ts.deps.length > 0) msg.deps = [];
    for (const d of ts.deps) {
      const deps = msg.deps!;
      if (d.value !== null) deps.push({ key: d.key, value: d.value });
      else deps.push({ key: d.key, who: d.whoHas!.map((h) => h.address) });
    }
    if (!w.fnsSent.has(ts.fn)) {
      w.fnsSent.add(ts.fn);
      msg.fnRef = this.fns.get(ts.fn);
    }
    this.outbox.push({ to: w.id, msg });
  }

  private unassign(ts: TaskState): void {
    const w = ts.processingOn;
    if (!w) return;
    w.processing.delete(ts);
    if (!ts.seceded) w.executing--;
    w.blocked.delete(ts);
    ts.processingOn = null;
    ts.seceded = false;
    ts.blockedOn = null;
  }

  /** Gives worker `w` queued work up to its capacity, by priority. */
  private fill(w: WorkerState): void {
    if (this.queue.length === 0) return;
    let skipped: TaskState[] | undefined;
    while (w.executing < w.slots * this.saturation && this.queue.length > 0) {
      const ts = this.queue.pop()!;
      if (ts.status !== "queued") continue;
      if (ts.restrictions && !ts.loose && !allowed(ts, w)) {
        (skipped ??= []).push(ts);
        continue;
      }
      this.assign(ts, w);
    }
    if (skipped) { for (const ts of skipped) this.queue.push(ts); }
  }

  private fail(ts: TaskState, error: Packed): void {
    this.unassign(ts);
    ts.status = "erred";
    ts.error = error;
    this.releaseOwned(ts);
    this.notify(ts, { op: "key-erred", key: ts.key, error });
    if (ts.dependents) {
      for (const d of [...ts.dependents]) if (!d.terminal) this.fail(d, error);
    }
    this.detachFromDeps(ts);
    if (!ts.needed) this.forget(ts);
  }

  /** Forcefully cancels a task and everything depending on it. */
  private cancel(ts: TaskState, reason: string): void {
    if (ts.status === "forgotten") return;
    this.notify(ts, { op: "key-cancelled", key: ts.key, reason });
    for (const owner of ts.wantedBy ?? []) owner.keys.delete(ts);
    ts.wantedBy = null;
    if (ts.dependents) {
      for (const d of [...ts.dependents]) {
        this.cancel(d, `cancelled with ${ts.key}`);
      }
    }
    this.forget(ts);
  }

  /** Drops a task nobody needs, cascading to its deps and its children. */
  private forget(ts: TaskState): void {
    if (ts.status === "forgotten") return;
    const w = ts.processingOn;
    if (w) {
      this.unassign(ts);
      this.outbox.push({
        to: w.id,
        msg: { op: "cancel-compute", key: ts.key, reason: "released" },
      });
      this.fill(w);
    }
    ts.status = "forgotten";
    this.tasks.delete(ts.key);
    if (ts.whoHas) {
      for (const h of ts.whoHas) {
        h.hasWhat.delete(ts);
        this.free(h, ts.key);
      }
      ts.whoHas = null;
    }
    ts.value = null;
    this.releaseOwned(ts);
    if (ts.kept) { for (const owner of ts.kept) this.dropOwner(owner); }
    ts.kept = null;
    this.detachFromDeps(ts);
  }

  /** A value was lost with its worker: recompute it, or err if impossible. */
  private lost(ts: TaskState): void {
    ts.whoHas = null;
    if (!ts.needed) return this.forget(ts);
    if (ts.deps.some((d) => d.status === "forgotten")) {
      return this.fail(
        ts,
        pack(
          new LostDataError(
            ts.key,
            `the value of ${ts.key} was lost with its worker and its dependencies are gone`,
          ),
        ),
      );
    }
    for (const d of ts.dependents ?? []) {
      if (d.status === "waiting") d.waitingOn++;
    }
    ts.status = "waiting";
    ts.waitingOn = 0;
    for (const d of ts.deps) {
      (d.dependents ??= new Set()).add(ts);
      if (d.status !== "memory") ts.waitingOn++;
    }
    if (ts.waitingOn === 0) this.makeReady(ts);
  }

  /** `ts` no longer needs its dependencies. */
  private detachFromDeps(ts: TaskState): void {
    for (const dep of ts.deps) {
      if (dep.dependents?.delete(ts) && !dep.needed) this.forget(dep);
    }
  }

  /**
   * Releases the futures a task created, keeping those whose keys its result
   * references (they live as long as the task's own key).
   */
  private releaseOwned(ts: TaskState, keep?: string[]): void {
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
        if (!k.needed) this.forget(k);
      }
      if (owner.keys.size > 0) (ts.kept ??= []).push(owner);
      else this.dropOwner(owner);
    }
  }

  private dropOwner(owner: Owner): void {
    this.owners.delete(owner.id);
    this.clientOwners.get(owner.client)?.delete(owner);
    const keys = [...owner.keys];
    owner.keys.clear();
    for (const ts of keys) {
      removeFrom(ts.wantedBy, owner);
      if (!ts.needed) this.forget(ts);
    }
  }

  /**
   * A request on behalf of a task that no longer runs on that worker (it
   * ended, was cancelled, or was moved when another worker died): its
   * futures would have no owner to release them.
   */
  private orphaned(client: string, task: string | undefined): boolean {
    if (task === undefined) return false;
    return this.tasks.get(task)?.processingOn?.id !== client;
  }

  private refuseOrphan(client: string, key: string, task: string): void {
    this.outbox.push({
      to: client,
      msg: {
        op: "key-cancelled",
        key,
        reason:
          `refused: the task ${task} that asked for it is no longer running there`,
      },
    });
  }

  private owner(client: string, task: string | undefined): Owner {
    const id = ownerId(client, task);
    let owner = this.owners.get(id);
    if (!owner) {
      owner = new Owner(id, client, task);
      this.owners.set(id, owner);
      let set = this.clientOwners.get(client);
      if (!set) this.clientOwners.set(client, set = new Set());
      set.add(owner);
      if (task !== undefined) {
        const parent = this.tasks.get(task);
        if (parent) (parent.owners ??= new Set()).add(owner);
      }
    }
    return owner;
  }

  private addWant(ts: TaskState, owner: Owner): void {
    ts.wantedBy = addTo(ts.wantedBy, owner);
    owner.keys.add(ts);
  }

  /** Tells `client` the outcome of a task that already finished. */
  private report(ts: TaskState, client: string): void {
    if (ts.status === "memory") {
      const msg: SchedulerToClient = ts.value
        ? { op: "key-done", key: ts.key, value: ts.value }
        : {
          op: "key-done",
          key: ts.key,
          who: ts.whoHas!.map((w) => w.address),
        };
      this.outbox.push({ to: client, msg });
    } else if (ts.status === "erred") {
      this.outbox.push({
        to: client,
        msg: { op: "key-erred", key: ts.key, error: ts.error! },
      });
    }
  }

  /** Sends `msg` once to each distinct client holding futures on `ts`. */
  private notify(ts: TaskState, msg: SchedulerToClient): void {
    const owners = ts.wantedBy;
    if (!owners || owners.length === 0) return;
    if (owners.length === 1) {
      this.outbox.push({ to: owners[0].client, msg });
      return;
    }
    for (const client of new Set(owners.map((o) => o.client))) {
      this.outbox.push({ to: client, msg });
    }
  }

  private free(w: WorkerState, key: string): void {
    const keys = this.pendingFree.get(w);
    if (keys) keys.push(key);
    else this.pendingFree.set(w, [key]);
  }

  /** Tells the tasks of a deadlock (see `deadlock.ts`) that they are stuck. */
  private checkDeadlock(): void {
    this.deadlockSuspected = false;
    const found = findDeadlock(this.workers.values(), this.tasks);
    if (!found) return;
    for (const b of found.stuck) {
      const w = b.processingOn!;
      w.blocked.delete(b);
      b.blockedOn = null;
      this.outbox.push({
        to: w.id,
        msg: { op: "deadlock", keys: [b.key], message: found.message },
      });
    }
  }
}

function ownerId(client: string, task: string | undefined): string {
  return task === undefined ? client : `${client}\u0000${task}`;
}
