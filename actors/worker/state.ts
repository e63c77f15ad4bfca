/**
 * The worker as a pure state machine with one entry point:
 * {@linkcode WorkerState.handle} takes an event (a message from the
 * scheduler, or what the shell observed: a dependency fetched or not, a
 * function returned or threw, a task seceding or asking to rejoin) and
 * returns the effects to carry out. It owns a slot budget, a priority ready
 * queue with rejoining tasks served ahead of it, the dependencies being
 * fetched and the results held here. It decides; the actor shell
 * (`actor.ts`) runs functions, fetches from peers and moves messages.
 *
 * @module
 */

import TinyQueue from "tinyqueue";
import type { Packed } from "../../runtime/codec/packed.ts";
import type { FunctionRef } from "../../runtime/shipping/describe.ts";
import type {
  DepLocation,
  RunTimes,
  SchedulerToWorker,
  WorkerToScheduler,
} from "../protocol.ts";

/** What an event without effects returns (shared; never written to). */
const NO_EFFECTS: WorkerEffect[] = [];

/** A value the worker holds: the live value and its codec bytes. */
export interface Stored {
  /** The decoded value. */
  value: unknown;
  /** Its codec bytes (what peers and clients are sent). */
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

/** One run assigned to this worker. */
interface WorkerTask {
  /** The task's key. */
  readonly key: string;
  /** The id the scheduler gave this run. */
  readonly run: number;
  /** Function id. */
  readonly fn: string;
  /** Codec bytes of the argument array. */
  readonly args: Packed;
  /** Its priority as one number (smaller runs first). */
  readonly rank: number;
  status: WorkerTaskStatus;
  /** Dependency values, by key, once available (live values). */
  depValues: Map<string, unknown> | null;
  /** Dependencies not yet available. */
  missing: number;
  /** Counts against `slots`. */
  holdsSlot: boolean;
}

/** A dependency being fetched: who waits for it and which holders are left to try. */
interface PendingFetch {
  /** Tasks that need the value. */
  waiters: WorkerTask[];
  /** Data addresses the scheduler named as holding it. */
  holders: string[];
  /** Index in `holders` of the next one to try. */
  next: number;
  /** Holders that answered without the value. */
  notHeld: string[];
  /** Holders that could not be reached. */
  unreachable: string[];
  /** What went wrong with each holder tried, in words. */
  reasons: string[];
}

/** Everything that can happen to a worker. */
export type WorkerEvent =
  | { type: "message"; msg: SchedulerToWorker }
  /** An inline dependency value of task `key` was decoded. */
  | { type: "decoded"; key: string; dep: string; value: unknown }
  /** An inline dependency value of task `key` could not be decoded. */
  | { type: "decode-failed"; key: string; run: number; error: Packed }
  /** A peer answered a fetch: values it had (decoded), keys it did not. */
  | {
    type: "fetched";
    from: string;
    values: ReadonlyMap<string, unknown>;
    missing: string[];
  }
  /** A client put values here (`client.scatter`), decoded. */
  | { type: "given"; values: ReadonlyMap<string, Stored> }
  /** A fetch from a peer failed (after the shell's own retries). */
  | { type: "fetch-failed"; from: string; keys: string[]; reason: string }
  /** A task's function returned; `bytes` is its result encoded. */
  | ({
    type: "returned";
    key: string;
    run: number;
    value: unknown;
    bytes: Packed;
    inline: boolean;
    refs?: string[];
    /** Milliseconds it held its slot (absent when it seceded). */
    ms?: number;
  } & RunTimes)
  /** A task's function threw (or its result could not be encoded); when it ran. */
  | ({
    type: "threw";
    key: string;
    run: number;
    error: Packed;
  } & RunTimes)
  /** A running task gave its slot back. */
  | { type: "secede"; key: string }
  /** A seceded task wants a slot again (granted by a `rejoined` effect). */
  | { type: "rejoin"; key: string }
  /** A `call` effect's function returned (`value`) or threw (`error`). */
  | { type: "called"; id: number; value?: Packed; error?: Packed }
  /** An `acquire` effect ended: the values fetched, and the keys no holder gave. */
  | {
    type: "acquired";
    values: ReadonlyMap<string, Stored>;
    missing: string[];
  };

/** What the shell must do. */
export type WorkerEffect =
  | { type: "send"; msg: WorkerToScheduler }
  | {
    type: "execute";
    key: string;
    run: number;
    fn: string;
    args: Packed;
    deps: ReadonlyMap<string, unknown> | null;
  }
  | { type: "fetch"; from: string; keys: string[] }
  | { type: "decode"; key: string; run: number; dep: string; bytes: Packed }
  | { type: "abort"; key: string; reason: string }
  | { type: "rejoined"; key: string }
  /** Call function `fn` with `args` outside any task; report with a `called` event. */
  | { type: "call"; id: number; fn: string; args: Packed }
  /** Fetch these values from their holders to keep them; report with an `acquired` event. */
  | { type: "acquire"; deps: DepLocation[] }
  /** The scheduler retired this worker (stop for good) or restarts it (come back fresh): close the connection. */
  | { type: "close"; reason: "retired" | "restart" };

/** The scheduler's `compute` message. */
type ComputeMsg = Extract<SchedulerToWorker, { op: "compute" }>;

const byPriority = (a: WorkerTask, b: WorkerTask) => a.rank - b.rank;
const NO_DEPS: DepLocation[] = [];

/** The worker's whole state, its one entry point and its invariants. */
export class WorkerState {
  /** Results held here, by key. */
  readonly data: Map<string, Stored> = new Map();
  /** Runs assigned here and not ended, by key. */
  private readonly tasks = new Map<string, WorkerTask>();
  /** Function definitions the scheduler sent, by id. */
  private readonly fns = new Map<string, FunctionRef>();
  /** Tasks whose dependencies are here, waiting for a slot, by priority. */
  private readonly ready = new TinyQueue<WorkerTask>([], byPriority);
  /** Seceded tasks waiting for a slot, served before the ready queue. */
  private readonly rejoining: string[] = [];
  /** Dependencies being fetched, by key. */
  private readonly fetching = new Map<string, PendingFetch>();
  /** Computes for keys whose previous (cancelled) run still runs. */
  private readonly deferred = new Map<string, ComputeMsg>();
  /** Effects produced by the event being handled. */
  private effects: WorkerEffect[] = NO_EFFECTS;
  /** Slots held now. */
  private running = 0;

  /** A worker with `slots` slots; with `validating`, it checks its invariants after each event. */
  constructor(readonly slots: number, private readonly validating = false) {}

  /**
   * Handles one event; returns what to do about it, in order.
   *
   * @example A task runs when a slot is free, and reports its result
   * ```ts
   * import assert from "node:assert/strict";
   * import { WorkerState } from "./state.ts";
   * const w = new WorkerState(1, true);
   * const [run] = w.handle({
   *   type: "message",
   *   msg: { op: "compute", key: "a", run: 1, fn: "f", args: "\x90", rank: 0 },
   * });
   * assert.equal(run.type, "execute");
   * const [sent] = w.handle({ type: "returned", key: "a", run: 1, value: 2, bytes: "\x02", inline: true });
   * assert.deepEqual(sent, {
   *   type: "send",
   *   msg: { op: "task-finished", key: "a", run: 1, nbytes: 1, value: "\x02" },
   * });
   * ```
   */
  handle(event: WorkerEvent): WorkerEffect[] {
    switch (event.type) {
      case "message":
        this.message(event.msg);
        break;
      case "decoded": {
        const task = this.tasks.get(event.key);
        if (task) this.deliver(task, event.dep, event.value);
        break;
      }
      case "decode-failed":
        this.decodeFailed(event.key, event.run, event.error);
        break;
      case "fetched":
        for (const [key, value] of event.values) {
          const f = this.fetching.get(key);
          this.fetching.delete(key);
          for (const task of f?.waiters ?? []) this.deliver(task, key, value);
        }
        for (const key of event.missing) {
          this.fetchFailed(
            key,
            event.from,
            true,
            `${event.from} does not have it`,
          );
        }
        break;
      case "given":
        for (const [key, stored] of event.values) {
          this.data.set(key, stored);
          const f = this.fetching.get(key);
          this.fetching.delete(key);
          for (const task of f?.waiters ?? []) {
            this.deliver(task, key, stored.value);
          }
        }
        break;
      case "fetch-failed":
        for (const key of event.keys) {
          this.fetchFailed(key, event.from, false, event.reason);
        }
        break;
      case "returned":
        if (this.ended(event.key, event.run)) {
          const { key, run, bytes } = event;
          this.data.set(key, { value: event.value, bytes });
          const msg: WorkerToScheduler = {
            op: "task-finished",
            key,
            run,
            nbytes: bytes.length,
          };
          if (event.inline) msg.value = bytes;
          if (event.refs && event.refs.length > 0) msg.refs = event.refs;
          if (event.start !== undefined) {
            msg.start = event.start;
            msg.stop = event.stop;
            if (event.seceded) msg.seceded = event.seceded;
          }
          if (event.ms !== undefined) msg.ms = event.ms;
          this.send(msg);
        }
        this.afterEnd(event.key);
        break;
      case "threw":
        if (this.ended(event.key, event.run)) {
          const { key, run, error, start, stop, seceded } = event;
          const msg: WorkerToScheduler = { op: "task-erred", key, run, error };
          if (start !== undefined) {
            msg.start = start;
            msg.stop = stop;
            if (seceded) msg.seceded = seceded;
          }
          this.send(msg);
        }
        this.afterEnd(event.key);
        break;
      case "secede":
        this.secede(event.key);
        break;
      case "rejoin":
        this.rejoin(event.key);
        break;
      case "acquired": {
        const keys: string[] = [];
        for (const [key, stored] of event.values) {
          this.data.set(key, stored);
          keys.push(key);
        }
        this.send({ op: "acquired", keys, missing: event.missing });
        break;
      }
      case "called": {
        const { id, value, error } = event;
        const msg: WorkerToScheduler = { op: "function-result", id };
        if (error !== undefined) msg.error = error;
        else if (value !== undefined) msg.value = value;
        this.send(msg);
        break;
      }
    }
    if (this.validating) this.validate();
    const out = this.effects;
    this.effects = NO_EFFECTS;
    return out;
  }

  /** The definition of function `id`, as the scheduler sent it. */
  functionRef(id: string): FunctionRef | undefined {
    return this.fns.get(id);
  }

  /** Keys currently held by this worker. */
  get heldKeys(): number {
    return this.data.size;
  }

  /** Tasks holding a slot now. */
  get busySlots(): number {
    return this.running;
  }

  /** The status of task `key` here, if it is here. */
  statusOf(key: string): WorkerTaskStatus | undefined {
    return this.tasks.get(key)?.status;
  }

  // ---- messages from the scheduler -----------------------------------------

  /**
   * A message from the scheduler.
   *
   * @throws {TypeError} for an unknown operation.
   */
  private message(msg: SchedulerToWorker): void {
    switch (msg.op) {
      case "compute":
        if (msg.fnRef) this.fns.set(msg.fn, msg.fnRef);
        if (this.tasks.get(msg.key)?.status === "cancelled") {
          this.deferred.set(msg.key, msg); // after the old run stops
        } else this.compute(msg);
        return;
      case "cancel-compute":
        return this.cancel(msg.key, msg.run, msg.reason);
      case "steal": {
        const task = this.tasks.get(msg.key);
        if (task?.run === msg.run && !started(task)) this.drop(task);
        return;
      }
      case "free":
        for (const key of msg.keys) this.data.delete(key);
        return;
      case "acquire": {
        // Values already here need no fetch.
        const held = msg.deps.filter((d) => this.data.has(d.key));
        const deps = msg.deps.filter((d) => !this.data.has(d.key));
        if (held.length > 0) {
          this.send({
            op: "acquired",
            keys: held.map((d) => d.key),
            missing: [],
          });
        }
        if (deps.length > 0) this.effect({ type: "acquire", deps });
        return;
      }
      case "close-worker":
        return this.effect({ type: "close", reason: msg.reason });
      case "call-function":
        this.fns.set(msg.fn, msg.fnRef);
        return this.effect({
          type: "call",
          id: msg.id,
          fn: msg.fn,
          args: msg.args,
        });
      default:
        throw new TypeError(
          `unknown operation ${JSON.stringify((msg as { op: unknown }).op)}`,
        );
    }
  }

  /**
   * A new run: dependencies held here are used at once, inline ones
   * decoded, the others fetched from their first holder (one request per
   * holder); with all of them here it joins the ready queue.
   */
  private compute(msg: ComputeMsg): void {
    const deps = msg.deps ?? NO_DEPS;
    const task: WorkerTask = {
      key: msg.key,
      run: msg.run,
      fn: msg.fn,
      args: msg.args,
      rank: msg.rank,
      status: "fetching",
      depValues: deps.length > 0 ? new Map() : null,
      missing: 0,
      holdsSlot: false,
    };
    this.tasks.set(task.key, task);
    let toFetch: Map<string, string[]> | undefined;
    for (const dep of deps) {
      const held = this.data.get(dep.key);
      if (held) {
        task.depValues!.set(dep.key, held.value);
        continue;
      }
      task.missing++;
      if (dep.value !== undefined) {
        this.effect({
          type: "decode",
          key: task.key,
          run: task.run,
          dep: dep.key,
          bytes: dep.value,
        });
        continue;
      }
      const pending = this.fetching.get(dep.key);
      if (pending) {
        pending.waiters.push(task);
        continue;
      }
      const holders = dep.who ?? [];
      this.fetching.set(dep.key, {
        waiters: [task],
        holders,
        next: 1,
        notHeld: [],
        unreachable: [],
        reasons: [],
      });
      if (holders.length === 0) {
        this.fetchFailed(dep.key, "", true, "no holder was named");
        continue;
      }
      toFetch ??= new Map();
      const keys = toFetch.get(holders[0]);
      if (keys) keys.push(dep.key);
      else toFetch.set(holders[0], [dep.key]);
    }
    for (const [from, keys] of toFetch ?? []) {
      this.effect({ type: "fetch", from, keys });
    }
    if (task.missing === 0 && this.tasks.get(task.key) === task) {
      this.enqueue(task);
    }
  }

  /** The scheduler no longer wants this run: drop it, or abort it and report when it stops. */
  private cancel(key: string, run: number, reason: string): void {
    const task = this.tasks.get(key);
    if (!task || task.run !== run) {
      const later = this.deferred.get(key);
      if (later?.run === run) {
        this.deferred.delete(key);
        this.send({ op: "task-stopped", key, run });
      }
      return;
    }
    if (!started(task)) return this.drop(task);
    if (task.status === "cancelled") return;
    const wasRejoining = task.status === "rejoining";
    task.status = "cancelled";
    // A pending rejoin resolves (without a slot) so the function can see
    // the abort and unwind.
    if (wasRejoining) this.effect({ type: "rejoined", key });
    this.effect({ type: "abort", key, reason });
  }

  /** Drops a run that has not started, telling the scheduler. */
  private drop(task: WorkerTask): void {
    this.tasks.delete(task.key);
    this.send({ op: "task-stopped", key: task.key, run: task.run });
    this.startDeferred(task.key);
  }

  // ---- dependencies ---------------------------------------------------------

  /** The value of dependency `key` of `task` is here; the last one makes the task ready. */
  private deliver(task: WorkerTask, key: string, value: unknown): void {
    if (this.tasks.get(task.key) !== task || task.status !== "fetching") return;
    if (task.depValues!.has(key)) return;
    task.depValues!.set(key, value);
    if (--task.missing === 0) this.enqueue(task);
  }

  /** An inline dependency of run `run` of `key` could not be decoded: the run errs. */
  private decodeFailed(key: string, run: number, error: Packed): void {
    const task = this.tasks.get(key);
    if (!task || task.run !== run || task.status !== "fetching") return;
    this.tasks.delete(key);
    this.send({ op: "task-erred", key, run, error });
    this.startDeferred(key);
  }

  /** `from` could not give `key`: try the next holder, or give up on its waiters. */
  private fetchFailed(
    key: string,
    from: string,
    notHeld: boolean,
    reason: string,
  ): void {
    const f = this.fetching.get(key);
    if (!f) return;
    if (from) {
      (notHeld ? f.notHeld : f.unreachable).push(from);
      f.reasons.push(notHeld ? reason : `${from}: ${reason}`);
    }
    if (f.next < f.holders.length) {
      const next = f.holders[f.next++];
      this.effect({ type: "fetch", from: next, keys: [key] });
      return;
    }
    this.fetching.delete(key);
    for (const task of f.waiters) {
      if (this.tasks.get(task.key) !== task || task.status !== "fetching") {
        continue;
      }
      this.tasks.delete(task.key);
      this.send({
        op: "missing-data",
        key,
        task: task.key,
        run: task.run,
        notHeld: f.notHeld,
        unreachable: f.unreachable,
        reason: f.reasons.join("; "),
      });
      this.startDeferred(task.key);
    }
  }

  // ---- slots ----------------------------------------------------------------

  /** Puts a task whose dependencies are all here in the ready queue, and fills slots. */
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
        this.send({ op: "rejoined", key: rejoin, run: task.run });
        this.effect({ type: "rejoined", key: rejoin });
        continue;
      }
      const task = this.ready.pop();
      if (!task) return;
      if (task.status !== "ready" || this.tasks.get(task.key) !== task) {
        continue;
      }
      this.running++;
      task.status = "executing";
      task.holdsSlot = true;
      this.effect({
        type: "execute",
        key: task.key,
        run: task.run,
        fn: task.fn,
        args: task.args,
        deps: task.depValues,
      });
    }
  }

  /** An executing task gives its slot back (the scheduler is told); the next task starts. */
  private secede(key: string): void {
    const task = this.tasks.get(key);
    if (!task || task.status !== "executing") return;
    task.status = "long-running";
    task.holdsSlot = false;
    this.running--;
    this.send({ op: "seceded", key, run: task.run });
    this.startReady();
  }

  /**
   * A seceded task asks for a slot again: it waits ahead of the ready
   * queue. A task not seceded (or not here) is answered at once.
   */
  private rejoin(key: string): void {
    const task = this.tasks.get(key);
    if (!task || task.status !== "long-running") {
      this.effect({ type: "rejoined", key });
      return;
    }
    task.status = "rejoining";
    this.rejoining.push(key);
    this.startReady();
  }

  /**
   * A run's function ended: frees its slot; true when its result is to be
   * reported (false for another run, or a cancelled one, reported stopped).
   */
  private ended(key: string, run: number): boolean {
    const task = this.tasks.get(key);
    if (!task || task.run !== run) return false;
    this.tasks.delete(key);
    if (task.holdsSlot) {
      task.holdsSlot = false;
      this.running--;
    }
    if (task.status !== "cancelled") return true;
    this.send({ op: "task-stopped", key, run });
    return false;
  }

  /** After a run ended: a compute waiting for its key, then free slots. */
  private afterEnd(key: string): void {
    this.startDeferred(key);
    this.startReady();
  }

  /** Starts a compute that waited for the previous run of its key to stop. */
  private startDeferred(key: string): void {
    if (this.deferred.size === 0) return;
    const msg = this.deferred.get(key);
    if (!msg || this.tasks.has(key)) return;
    this.deferred.delete(key);
    this.compute(msg);
  }

  /** Adds an effect (an array is made only for events that have effects). */
  private effect(effect: WorkerEffect): void {
    if (this.effects === NO_EFFECTS) this.effects = [];
    this.effects.push(effect);
  }

  /** Emits a message to the scheduler. */
  private send(msg: WorkerToScheduler): void {
    this.effect({ type: "send", msg });
  }

  // ---- invariants -----------------------------------------------------------

  /**
   * Checks every invariant: the slot count equals the runs holding slots and
   * never exceeds the budget; no slot idles while work is ready; every task
   * is where its status says (ready queue, rejoin list, a fetch's waiters).
   *
   * @throws {Error} naming the first broken invariant.
   */
  validate(): void {
    const fail = (what: string) => {
      throw new Error(`worker invariant broken: ${what}`);
    };
    let holding = 0;
    const inHeap = new Set(
      (this.ready as unknown as { data: WorkerTask[] }).data,
    );
    const waiting = new Set<WorkerTask>();
    for (const f of this.fetching.values()) {
      for (const t of f.waiters) waiting.add(t);
    }
    let runnable = false;
    for (const [key, t] of this.tasks) {
      if (t.key !== key) fail(`${key} is filed under another key`);
      if (t.holdsSlot) holding++;
      const slotted = t.status === "executing" ||
        (t.status === "cancelled" && t.holdsSlot);
      if (t.holdsSlot !== slotted) {
        fail(`${key} (${t.status}) holdsSlot=${t.holdsSlot}`);
      }
      switch (t.status) {
        case "fetching":
          if (t.missing <= 0) fail(`${key} fetches nothing`);
          break;
        case "ready":
          if (t.missing !== 0) fail(`${key} is ready with missing deps`);
          if (!inHeap.has(t)) fail(`${key} is ready but not queued`);
          runnable = true;
          break;
        case "rejoining":
          if (!this.rejoining.includes(key)) fail(`${key} rejoins unlisted`);
          runnable = true;
          break;
      }
    }
    if (holding !== this.running) {
      fail(`${this.running} slots counted busy, ${holding} held`);
    }
    if (this.running > this.slots) {
      fail(`${this.running} of ${this.slots} slots busy`);
    }
    if (runnable && this.running < this.slots) {
      fail("a slot is free while a task is ready or rejoining");
    }
    for (const [key, msg] of this.deferred) {
      if (this.tasks.get(key)?.status !== "cancelled") {
        fail(`compute of ${key} (run ${msg.run}) waits for no cancelled run`);
      }
    }
  }
}

/** True once a run's function was called (it left fetching and the ready queue). */
function started(task: WorkerTask): boolean {
  return task.status !== "fetching" && task.status !== "ready";
}
