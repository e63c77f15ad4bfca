/**
 * The worker as a pure state machine: a slot budget, a priority ready queue,
 * rejoin waiters served ahead of it, dependencies to gather, results held in
 * memory. It decides; the actor shell (`worker.ts`) runs the functions,
 * fetches from peers and moves messages.
 *
 * @module
 */

import TinyQueue from "tinyqueue";
import type { Packed } from "../../runtime/codec/packed.ts";
import type { FunctionRef } from "../../runtime/shipping/describe.ts";
import type {
  DepLocation,
  SchedulerToWorker,
  WorkerToScheduler,
} from "../protocol.ts";

/** A value the worker holds: the live value and its codec bytes. */
export interface Stored {
  value: unknown;
  bytes: Packed;
}

/** Where a task is on this worker. */
export type WorkerTaskStatus =
  | "fetching" // waiting for dependency values
  | "ready" // in the ready queue
  | "executing" // holds a slot
  | "long-running" // seceded: runs without a slot
  | "rejoining" // waiting for a slot to come back
  | "cancelled"; // still running, but its result will be dropped

/** One task assigned to this worker. */
export interface WorkerTask {
  readonly key: string;
  readonly fn: string;
  readonly args: Packed;
  /** Its priority as one number (smaller runs first). */
  readonly rank: number;
  status: WorkerTaskStatus;
  /** Dependency values, by key, once available (live values). */
  depValues: Map<string, unknown> | null;
  /** Dependencies still being fetched. */
  missing: number;
  /** Counts against `slots` (executing, not seceded). */
  holdsSlot: boolean;
}

/** What the shell must do. */
export type WorkerEffect =
  | { type: "send"; msg: WorkerToScheduler }
  | { type: "execute"; task: WorkerTask }
  | { type: "fetch"; from: string; keys: string[] }
  | { type: "abort"; key: string; reason: string }
  | { type: "rejoined"; key: string }
  | { type: "decode"; key: string; bytes: Packed; into: WorkerTask };

const byPriority = (a: WorkerTask, b: WorkerTask) => a.rank - b.rank;
const NO_DEPS: DepLocation[] = [];

/** The worker's whole state and its transitions. */
export class WorkerState {
  /** Results and fetched values held here, by key. */
  readonly data: Map<string, Stored> = new Map();
  readonly tasks: Map<string, WorkerTask> = new Map();
  readonly fns: Map<string, FunctionRef> = new Map();
  readonly ready: TinyQueue<WorkerTask> = new TinyQueue([], byPriority);
  /** Seceded tasks waiting for a slot, served before the ready queue. */
  readonly rejoining: string[] = [];
  /** Tasks waiting for each key being fetched. */
  private readonly fetching = new Map<string, WorkerTask[]>();
  /** Tasks holding a slot. */
  running = 0;
  private effects: WorkerEffect[] = [];

  constructor(readonly slots: number) {}

  /** Effects produced since the last drain, in order. */
  drain(): WorkerEffect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  /** Handles one message from the scheduler. */
  handle(msg: SchedulerToWorker): void {
    switch (msg.op) {
      case "compute":
        if (msg.fnRef) this.fns.set(msg.fn, msg.fnRef);
        return this.compute(
          msg.key,
          msg.fn,
          msg.args,
          msg.deps ?? NO_DEPS,
          msg.rank,
        );
      case "cancel-compute":
        return this.cancel(msg.key, msg.reason);
      case "free":
        for (const key of msg.keys) this.data.delete(key);
        return;
      default:
        throw new TypeError(
          `unknown operation ${JSON.stringify((msg as { op: unknown }).op)}`,
        );
    }
  }

  private compute(
    key: string,
    fn: string,
    args: Packed,
    deps: DepLocation[],
    rank: number,
  ): void {
    const task: WorkerTask = {
      key,
      fn,
      args,
      rank,
      status: "fetching",
      depValues: deps.length > 0 ? new Map() : null,
      missing: 0,
      holdsSlot: false,
    };
    this.tasks.set(key, task);
    let toFetch: Map<string, string[]> | undefined;
    for (const dep of deps) {
      const held = this.data.get(dep.key);
      if (held) task.depValues!.set(dep.key, held.value);
      else if (dep.value) {
        task.missing++;
        this.effects.push({
          type: "decode",
          key: dep.key,
          bytes: dep.value,
          into: task,
        });
      } else {
        task.missing++;
        const waiting = this.fetching.get(dep.key);
        if (waiting) waiting.push(task);
        else {
          this.fetching.set(dep.key, [task]);
          const from = dep.who![0];
          toFetch ??= new Map();
          const keys = toFetch.get(from);
          if (keys) keys.push(dep.key);
          else toFetch.set(from, [dep.key]);
        }
      }
    }
    for (const [from, keys] of toFetch ?? []) {
      this.effects.push({ type: "fetch", from, keys });
    }
    if (task.missing === 0) this.enqueue(task);
  }

  /** A dependency value decoded from inline bytes. */
  decoded(task: WorkerTask, key: string, value: unknown): void {
    task.depValues!.set(key, value);
    if (--task.missing === 0 && task.status === "fetching") this.enqueue(task);
  }

  /** Values arrived from a peer (`missing` keys it did not have). */
  fetched(from: string, values: Map<string, Stored>, missing: string[]): void {
    for (const [key, stored] of values) {
      const waiting = this.fetching.get(key);
      this.fetching.delete(key);
      for (const task of waiting ?? []) this.decoded(task, key, stored.value);
    }
    for (const key of missing) this.fetchFailed(from, key);
  }

  /** A fetch failed: tell the scheduler, drop the waiting tasks. */
  fetchFailed(from: string, key: string): void {
    const waiting = this.fetching.get(key);
    this.fetching.delete(key);
    for (const task of waiting ?? []) {
      if (task.status !== "fetching" || !this.tasks.delete(task.key)) continue;
      this.effects.push({
        type: "send",
        msg: { op: "missing-data", key: task.key, dep: key, from },
      });
    }
  }

  private enqueue(task: WorkerTask): void {
    task.status = "ready";
    this.ready.push(task);
    this.startReady();
  }

  /** Fills free slots: rejoining tasks first, then by priority. */
  private startReady(): void {
    while (this.running < this.slots) {
      const rejoin = this.rejoining.shift();
      if (rejoin !== undefined) {
        const task = this.tasks.get(rejoin);
        if (!task || task.status !== "rejoining") continue;
        this.running++;
        task.status = "executing";
        task.holdsSlot = true;
        this.effects.push({
          type: "send",
          msg: { op: "rejoined", key: rejoin },
        });
        this.effects.push({ type: "rejoined", key: rejoin });
        continue;
      }
      const task = this.ready.pop();
      if (!task) return;
      if (task.status !== "ready") continue;
      this.running++;
      task.status = "executing";
      task.holdsSlot = true;
      this.effects.push({ type: "execute", task });
    }
  }

  /** The task released its slot: it keeps running without one. */
  secede(key: string): void {
    const task = this.tasks.get(key);
    if (!task || task.status !== "executing") return;
    task.status = "long-running";
    task.holdsSlot = false;
    this.running--;
    this.effects.push({ type: "send", msg: { op: "seceded", key } });
    this.startReady();
  }

  /** The seceded task wants a slot back; granted by a `rejoined` effect. */
  rejoin(key: string): void {
    const task = this.tasks.get(key);
    if (!task || task.status !== "long-running") {
      this.effects.push({ type: "rejoined", key });
      return;
    }
    task.status = "rejoining";
    this.rejoining.push(key);
    this.startReady();
  }

  /** The task's function returned; `bytes` is its encoded result. */
  finished(
    key: string,
    value: unknown,
    bytes: Packed,
    inline: boolean,
    refs?: string[],
  ): void {
    const task = this.release(key);
    if (!task) return;
    this.data.set(key, { value, bytes });
    const msg: WorkerToScheduler = {
      op: "task-finished",
      key,
      nbytes: bytes.length,
    };
    if (inline) msg.value = bytes;
    if (refs && refs.length > 0) msg.refs = refs;
    this.effects.push({ type: "send", msg });
  }

  /** The task's function threw (or its result could not be encoded). */
  failed(key: string, error: Packed): void {
    if (!this.release(key)) return;
    this.effects.push({ type: "send", msg: { op: "task-erred", key, error } });
  }

  /** Frees the task's slot; undefined when its result must be dropped. */
  private release(key: string): WorkerTask | undefined {
    const task = this.tasks.get(key);
    if (!task) return undefined;
    this.tasks.delete(key);
    if (task.holdsSlot) {
      task.holdsSlot = false;
      this.running--;
      this.startReady();
    }
    return task.status === "cancelled" ? undefined : task;
  }

  private cancel(key: string, reason: string): void {
    const task = this.tasks.get(key);
    if (!task) return;
    const started = task.status !== "fetching" && task.status !== "ready";
    const wasRejoining = task.status === "rejoining";
    task.status = "cancelled";
    // Not started: just forget it (the heap skips non-ready entries).
    if (!started) return void this.tasks.delete(key);
    // Started: it keeps its slot (if any) until the function returns; a
    // pending rejoin resolves so the function can see the abort and unwind.
    if (wasRejoining) this.effects.push({ type: "rejoined", key });
    this.effects.push({ type: "abort", key, reason });
  }

  /** Keys currently held by this worker. */
  get heldKeys(): number {
    return this.data.size;
  }
}
