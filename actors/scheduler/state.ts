/**
 * The scheduler as a pure state machine with one entry point:
 * {@linkcode SchedulerState.handle} takes an event (a message from a client
 * or a worker, a worker or client joining or leaving) and returns the effects
 * to carry out (messages to send, lines to log). No I/O, no timers, no
 * promises: every transition is testable without a transport. Events are
 * translated here into recommendations; the transitions themselves live in
 * `transitions.ts`, the invariants in `invariants.ts`.
 *
 * @module
 */

import { CodeStore } from "./code_store.ts";
import { pack } from "../../runtime/codec/packed.ts";
import {
  ActorDiedError,
  KilledWorkerError,
  LostDataError,
  NoWorkerError,
  ProtocolError,
  ResourceError,
  TendrilError,
  WorkersUnavailableError,
} from "../../runtime/errors.ts";
import type {
  FunctionCall,
  MissingData,
  OutputLine,
  ScatteredValue,
  SchedulerInfo,
  SchedulerToClient,
  TaskSpec,
  ToScheduler,
  WorkerToScheduler,
} from "../protocol.ts";
import { FunctionCalls } from "./calls.ts";
import { Datasets } from "./datasets.ts";
import { forgetHolder, isForgetHolder, runsOn } from "./fire_and_forget.ts";
import { Coordination } from "./coordination/coordination.ts";
import { findDeadlock } from "./deadlock.ts";
import { describeScheduler, type SchedulerAbout } from "./info.ts";
import { stealsFor } from "./stealing.ts";
import { allowedOn } from "./placement.ts";
import { holdResources, resourcesProblem, unsatisfiable } from "./resources.ts";
import { checkInvariants } from "./invariants.ts";
import { SchedulerMetrics } from "./metrics.ts";
import { RecentOutput } from "./recent_output.ts";
import { planMoves, RetireRequests } from "./retirement.ts";
import {
  addTo,
  isActive,
  type Owner,
  removeFrom,
  TaskRecord,
  WorkerRecord,
} from "./records.ts";
import {
  keyDone,
  lostScattered,
  ownerId,
  type SchedulerEffect,
  TaskGraph,
} from "./transitions.ts";

export type { SchedulerEffect };

/** Everything that can happen to a scheduler. */
export type SchedulerEvent =
  | {
    type: "worker-joined";
    id: string;
    slots: number;
    address: string;
    /** Amounts of resources it offers (`{ GPU: 2 }`). */
    resources?: Record<string, number>;
  }
  | { type: "worker-left"; id: string }
  | { type: "client-joined"; id: string }
  | { type: "client-left"; id: string }
  | { type: "message"; from: string; msg: ToScheduler }
  /** The end of a batch of input: send what was held back (frees, one message per worker). */
  | { type: "flush" }
  /** A `timer` effect's time is up. */
  | { type: "tick"; token: number }
  /**
   * The supervisor gave up keeping workers alive (`reason`): queued tasks
   * fail with a `WorkersUnavailableError`, and so do later ones while no
   * worker joins.
   */
  | { type: "workers-unavailable"; reason: string };

/** Tuning of a {@linkcode SchedulerState}. */
export interface SchedulerOptions {
  /**
   * Tasks a worker may hold per slot (running plus queued on the worker).
   * Above 1 so messages batch and workers never idle between round trips;
   * the rest waits, by priority, in the scheduler's queue.
   */
  saturation?: number;
  /**
   * Worker deaths a task may witness, and fetch failures from live holders
   * it may suffer, before it errs (KilledWorkerError, LostDataError).
   */
  allowedFailures?: number;
  /** Check every invariant after every event (slow: for tests and debugging). */
  validate?: boolean;
  /**
   * How long a task restricted to workers none of which is connected
   * waits for one before it errs with NoWorkerError (default 10 s).
   */
  unknownWorkerGraceMs?: number;
}

/** The worker message with operation `Op`. */
type Msg<Op extends WorkerToScheduler["op"]> = Extract<
  WorkerToScheduler,
  { op: Op }
>;

/** The scheduler's whole state, its one entry point and its invariants. */
export class SchedulerState extends TaskGraph {
  /** Counters of finished runs (read by `/metrics` and the dashboard). */
  readonly metrics: SchedulerMetrics = new SchedulerMetrics();
  /** Where the scheduler is reachable, set by its shell; put in `scheduler-info` answers. */
  about: SchedulerAbout = {};
  /** Recent lines tasks printed, by worker (for `getWorkerLogs()`). */
  readonly output: RecentOutput = new RecentOutput();
  /** Each worker's last report of its use of its machine. */
  readonly usage: Map<string, { rss: number; heap: number; cpu: number }> =
    new Map();
  /** Clients that turned task output forwarding off. */
  private readonly quiet = new Set<string>();
  /** Worker deaths, or fetch failures from live holders, a task survives. */
  private readonly allowedFailures: number;
  /** Check every invariant after every event. */
  private readonly validating: boolean;
  /** Code packages clients sent, for workers to fetch. */
  private readonly code = new CodeStore();
  /** Workers that may have a free slot after this event: they try to steal. */
  private readonly mayIdle: Set<WorkerRecord> = new Set();
  /** Grace period of tasks restricted to workers not connected. */
  private readonly graceMs: number;
  /** Tasks restricted to workers not connected, by the timer that ends their wait. */
  private readonly awaitingWorker: Map<number, TaskRecord[]> = new Map();
  /** Timer tokens handed out. */
  private timers = 0;
  /** The group of such tasks filed during the current event, if any. */
  private graceGroup: TaskRecord[] | null = null;
  /** Calls of a function on every worker (`client.run`) waiting for answers. */
  private readonly calls: FunctionCalls = new FunctionCalls();
  /** Published datasets (see `datasets.ts`). */
  private readonly datasets: Datasets = new Datasets({
    task: (key) => this.tasks.get(key),
    hold: (ts, name) => {
      this.hold(ts, name);
      this.settle(ts); // a released key held again is computed again
    },
    unhold: (name) => this.unhold(name),
    want: (client, task, keys) => this.want(client, task, keys),
    answer: (client, msg) => this.send(client, msg),
  });
  /** Workers being retired, until they are told to close. */
  private readonly retiring: Set<WorkerRecord> = new Set();
  /**
   * Named actors' tasks, by name (a name is free again once its task is
   * gone or erred, see `nameActor`).
   */
  readonly actorNames: Map<string, TaskRecord> = new Map();
  /** Ids of retired workers whose connection has not closed yet: their late messages are dropped. */
  private readonly retired: Set<string> = new Set();
  /** Clients waiting for workers to retire. */
  private readonly retireRequests: RetireRequests = new RetireRequests();
  /** Set by a `restart` request: every worker is told to close after this event's cancellations. */
  private restartPending = false;
  /** Clients waiting for a restart to end, with the number of workers to wait for. */
  private readonly restarts: { client: string; id: number; workers: number }[] =
    [];
  /** Queues, variables, events, semaphores and topics, by name. */
  readonly coordination: Coordination = new Coordination({
    send: (to, msg) => this.send(to, msg),
    hold: (keys, holder) => {
      for (const ts of this.known(keys)) this.hold(ts, holder);
    },
    unhold: (holder) => this.unhold(holder),
    give: (keys, peer, task) => {
      if (this.orphaned(peer, task)) return;
      const owner = this.owner(peer, task);
      for (const ts of this.known(keys)) {
        if (!owner.keys.has(ts)) this.addWant(ts, owner);
      }
    },
  });

  /** An empty scheduler. */
  constructor(options: SchedulerOptions = {}) {
    super(options.saturation ?? 64);
    this.allowedFailures = options.allowedFailures ?? 3;
    this.validating = options.validate ?? false;
    this.graceMs = options.unknownWorkerGraceMs ?? 10_000;
  }

  /**
   * Handles one event; returns what to do about it, in order, appended to
   * `into` when given (a shell passes one array for a whole input batch,
   * sparing an array per event) or to a new array.
   *
   * @throws {ProtocolError} for a message no peer may send (before any change).
   * @example A task's life: submitted, computed, reported, released
   * ```ts
   * import assert from "node:assert/strict";
   * import { SchedulerState } from "./state.ts";
   * const s = new SchedulerState({ validate: true });
   * s.handle({ type: "worker-joined", id: "w1", slots: 1, address: "inproc://w1" });
   * s.handle({ type: "client-joined", id: "c" });
   * const fnRef = { kind: "source" as const, source: "() => 1", name: "one" };
   * const [compute] = s.handle({
   *   type: "message",
   *   from: "c",
   *   msg: { op: "submit", tasks: [{ key: "one-1", fn: "s:one", fnRef, args: "\x90" }] },
   * });
   * assert.deepEqual(compute.type === "send" && compute.to, "w1");
   * const [done] = s.handle({
   *   type: "message",
   *   from: "w1",
   *   msg: { op: "task-finished", key: "one-1", run: 1, value: "\x01", nbytes: 1 },
   * });
   * assert.equal(done.type === "send" && done.msg.op, "key-done");
   * s.handle({ type: "message", from: "c", msg: { op: "release", keys: ["one-1"] } });
   * assert.equal(s.tasks.size, 0);
   * ```
   */
  handle(
    event: SchedulerEvent,
    into: SchedulerEffect[] = [],
  ): SchedulerEffect[] {
    this.effects = into;
    this.graceGroup = null;
    switch (event.type) {
      case "message":
        this.message(event.from, event.msg);
        break;
      case "worker-joined":
        this.workerJoined(event);
        break;
      case "worker-left":
        this.workerLeft(event.id);
        break;
      case "client-joined":
        if (!this.clientOwners.has(event.id)) {
          this.clientOwners.set(event.id, new Set());
        }
        break;
      case "client-left":
        this.clientLeft(event.id);
        break;
      case "flush":
        this.flushFrees();
        break;
      case "tick":
        this.graceOver(event.token);
        break;
      case "workers-unavailable":
        this.workersUnavailable(event.reason);
        break;
    }
    this.drainWork();
    if (this.retiring.size > 0) {
      this.advanceRetirements();
      this.drainWork();
    }
    if (this.restartPending) this.closeAllWorkers();
    if (this.mayIdle.size > 0) this.balance();
    if (this.deadlockSuspected) this.checkDeadlock();
    if (this.validating) this.validate();
    return this.effects;
  }

  /**
   * Checks every invariant of the graph.
   *
   * @throws {Error} naming the first broken invariant.
   */
  validate(): void {
    checkInvariants(this);
    this.coordination.validate();
  }

  /** The scheduler described for people (`schedulerInfo()`, `/api/info`). */
  describe(): SchedulerInfo {
    return describeScheduler(this, this.metrics, this.about, this.usage);
  }

  /** Number of keys whose values are held (memory), for tests and stats. */
  get heldKeys(): number {
    let n = 0;
    for (const ts of this.tasks.values()) if (ts.status === "memory") n++;
    return n;
  }

  // ---- membership ---------------------------------------------------------

  /**
   * A worker joined: it is filed (with an owner set for its in-task client)
   * and given queued work. A second join under the same id is ignored.
   */
  private workerJoined(
    event: Extract<SchedulerEvent, { type: "worker-joined" }>,
  ): void {
    const { id, slots, address, resources } = event;
    if (this.workers.has(id)) {
      return this.log("warn", `worker ${id} joined twice; ignored`);
    }
    const problem = resources && resourcesProblem(resources);
    if (problem) this.log("warn", `worker ${id}: ${problem}; ignored`);
    const offers = resources && !problem && Object.keys(resources).length > 0
      ? resources
      : null;
    const w = new WorkerRecord(id, slots, address, offers);
    this.workers.set(id, w);
    this.unavailable = null;
    if (this.restarts.length > 0) this.restartProgress();
    if (!this.clientOwners.has(id)) this.clientOwners.set(id, new Set());
    this.fill(w);
    if (w.executing < w.slots) this.mayIdle.add(w);
  }

  /** No worker is coming: queued tasks fail, and later ones until a worker joins. */
  private workersUnavailable(reason: string): void {
    if (this.workers.size > 0) return;
    this.unavailable = pack(new WorkersUnavailableError(reason));
    for (const ts of [...this.tasks.values()]) {
      if (ts.status === "queued") this.fail(ts, this.unavailable);
    }
  }

  /** A client left: everything it wanted is released. */
  private clientLeft(id: string): void {
    this.quiet.delete(id);
    this.retireRequests.clientLeft(id);
    for (let i = this.restarts.length - 1; i >= 0; i--) {
      if (this.restarts[i].client === id) this.restarts.splice(i, 1);
    }
    this.calls.clientLeft(id);
    this.datasets.clientLeft(id);
    this.coordination.peerLeft(id);
    const owners = this.clientOwners.get(id);
    if (!owners) return;
    this.clientOwners.delete(id);
    for (const owner of owners) this.dropOwner(owner);
  }

  /**
   * A worker left or died: values only it held are recomputed when still
   * needed; its processing tasks are rescheduled (or err with
   * KilledWorkerError after too many deaths).
   */
  private workerLeft(id: string): void {
    const w = this.workers.get(id);
    if (!w) return void this.retired.delete(id);
    this.workers.delete(id);
    this.retiring.delete(w);
    for (const r of this.retiring) {
      // Copies it was asked to take are planned again, elsewhere.
      for (const target of r.moving?.values() ?? []) {
        if (target === w) r.moving = null;
      }
    }
    for (const { to, msg } of this.retireRequests.gone(id)) this.send(to, msg);
    this.usage.delete(id);
    this.forgetFrees(w);
    this.clientLeft(id);
    for (const { to, msg } of this.calls.workerLeft(id)) this.send(to, msg);
    for (const ts of w.hasWhat) this.loseCopy(ts, w);
    // Tasks only it could run wait a grace period for another, as at submit.
    for (const ts of this.tasks.values()) {
      if (ts.restrictions && !ts.loose && isActive(ts.status)) {
        this.checkRestriction(undefined, ts);
      }
    }
    for (const ts of [...w.processing]) {
      this.releaseOwned(ts);
      if (++ts.suspicious > this.allowedFailures) {
        this.unassign(ts, false);
        this.fail(ts, pack(new KilledWorkerError(ts.key, ts.suspicious)));
      } else this.recommend(ts, "rerun", ts.run);
    }
    w.stopping.clear();
    this.deadlockSuspected = true;
  }

  // ---- messages -----------------------------------------------------------

  /** A message from peer `from`: client operations here, worker ones in `fromWorker`. */
  private message(from: string, msg: ToScheduler): void {
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
          if (ts) this.recommend(ts, "cancelled", "cancelled");
        }
        return;
      case "missing-data":
        return this.missingData(from, msg);
      case "code-package":
        return this.code.add(msg.package);
      case "tree-progress":
        return this.treeProgress(from, msg.id, msg.keys);
      case "forward-output":
        if (msg.on) this.quiet.delete(from);
        else this.quiet.add(from);
        return;
      case "task-stream": {
        const seq = this.metrics.spans;
        const since = msg.since ?? seq;
        const spans = this.metrics.spansSince(since);
        return this.send(from, {
          op: "task-stream",
          id: msg.id,
          spans,
          seq,
          skipped: Math.max(0, seq - since - spans.length),
        });
      }
      case "worker-logs":
        return this.send(from, {
          op: "worker-logs",
          id: msg.id,
          logs: Object.fromEntries(this.output.recent),
        });
      case "scheduler-info":
        return this.send(from, {
          op: "scheduler-info",
          id: msg.id,
          info: this.describe(),
        });
      case "retry":
        return this.retry(from, msg.keys);
      case "scattered":
        for (const v of msg.values) this.scattered(from, msg.owner, v);
        return;
      case "call-on-workers":
        return this.callOnWorkers(from, msg);
      case "retire-workers":
        return this.retireWorkers(from, msg.id, msg.workers);
      case "restart":
        return this.restart(from, msg.id);
      case "fire-and-forget":
        for (const key of msg.keys) {
          const ts = this.tasks.get(key);
          if (!ts || !runsOn(ts.status)) continue;
          this.hold(ts, forgetHolder(key));
          this.settle(ts); // a released key held again is computed again
        }
        return;
      case "publish":
      case "unpublish":
      case "get-dataset":
      case "list-datasets":
        return this.datasets.handle(from, msg);
      case "get-actor": {
        const ts = this.actorNames.get(msg.name);
        const live = ts && this.tasks.get(ts.key) === ts;
        return this.send(from, {
          op: "actor-key",
          id: msg.id,
          ...(live ? { key: ts.key } : {}),
        });
      }
      case "kill-actor":
        return this.killActor(msg.key);
      case "call-on-scheduler":
        // The shell runs these when it allows client code; here, it does not.
        return this.send(from, {
          op: "call-result",
          id: msg.id,
          values: {},
          errors: {
            scheduler: pack(
              new TendrilError(
                "the scheduler does not run client code; start it with " +
                  "--allow-client-code (LocalCluster: allowClientCode: true)",
              ),
            ),
          },
        });
      default:
        if (Coordination.handles(msg)) {
          return this.coordination.handle(from, msg);
        }
        return this.fromWorker(from, msg);
    }
  }

  /**
   * A message only workers may send.
   *
   * @throws {ProtocolError} when `from` is not a worker, or the operation is unknown.
   */
  private fromWorker(from: string, msg: WorkerToScheduler): void {
    const w = this.workers.get(from);
    if (!w) {
      // A retired worker's last words, sent before it heard it was retired.
      if (this.retired.has(from)) return;
      throw new ProtocolError(
        `operation ${
          JSON.stringify(msg.op)
        } is for workers, and ${from} is not one`,
      );
    }
    switch (msg.op) {
      case "task-finished":
        return this.finished(w, msg);
      case "task-erred":
        return this.erred(w, msg);
      case "task-stopped":
        return this.stopped(w, msg);
      case "seceded":
        return this.seceded(w, msg);
      case "rejoined":
        return this.rejoined(w, msg);
      case "blocked":
        return this.blocked(w, msg);
      case "unblocked":
        return this.unblocked(w, msg);
      case "code-request": {
        const pkg = this.code.get(msg.id);
        return this.send(
          w.id,
          pkg ? { op: "code-reply", id: msg.id, package: pkg } : {
            op: "code-reply",
            id: msg.id,
            error: `the scheduler has no code package ${msg.id} (its client ` +
              `never sent it, or it was dropped to stay within the bound)`,
          },
        );
      }
      case "task-output":
        return this.taskOutput(w, msg.lines);
      case "worker-usage":
        this.usage.set(w.id, { rss: msg.rss, heap: msg.heap, cpu: msg.cpu });
        return;
      case "function-result":
        return this.callAnswered(w.id, msg);
      case "acquired":
        return this.acquired(w, msg);
      default:
        throw new ProtocolError(
          `unknown operation ${JSON.stringify((msg as { op: unknown }).op)}`,
        );
    }
  }

  /**
   * A new task from `client` (for the task `spec.parent` when submitted
   * from one). A key already in the graph only gains a holder and is
   * reported if done; a task that cannot be accepted errs at once.
   */
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
      return this.settle(existing);
    }
    const deps = spec.deps?.length ? [...new Set(spec.deps)] : [];
    const refusal = this.refusal(spec, deps);
    if (refusal) {
      return this.send(client, {
        op: "key-erred",
        key: spec.key,
        error: pack(refusal),
      });
    }
    const parent = spec.parent ? this.tasks.get(spec.parent) : undefined;
    const depth = parent ? parent.depth + 1 : 0;
    const ts = new TaskRecord(spec, [spec.priority ?? 0, depth, this.seq++]);
    if (spec.actor?.name !== undefined) {
      const taken = this.actorNames.get(spec.actor.name);
      if (
        taken && this.tasks.get(taken.key) === taken && taken.status !== "erred"
      ) {
        return this.send(client, {
          op: "key-erred",
          key: spec.key,
          error: pack(nameTaken(spec.actor.name, taken.key)),
        });
      }
    }
    if (parent) {
      ts.root = parent.root ?? parent;
      ts.root.launched++;
    }
    this.tasks.set(ts.key, ts);
    this.addWant(ts, owner);
    if (ts.actor?.name !== undefined) this.nameActor(ts, ts.actor.name);
    if (deps.length > 0) {
      ts.deps = deps.map((k) => {
        const d = this.tasks.get(k)!;
        (d.dependents ??= new Set()).add(ts);
        return d;
      });
    }
    this.start(ts);
    if (ts.restrictions && !ts.loose) this.checkRestriction(client, ts);
  }

  /**
   * `client` (for `task`) put a value into the stores of `v.workers`: its
   * key is in memory there, held by the owner, with no function (see
   * `TaskRecord.scattered`). Scattering a key again adds copies; a key a
   * task computes cannot be scattered over. Workers not connected (any
   * more) are skipped; with none left the value is lost at once.
   */
  private scattered(
    client: string,
    task: string | undefined,
    v: ScatteredValue,
  ): void {
    if (this.orphaned(client, task)) {
      return this.refuseOrphan(client, v.key, task!);
    }
    const owner = this.owner(client, task);
    let ts = this.tasks.get(v.key);
    if (ts && !ts.scattered) {
      return this.send(client, {
        op: "key-erred",
        key: v.key,
        error: pack(
          new TendrilError(
            `cannot scatter ${v.key}: a task with that key is in the graph`,
          ),
        ),
      });
    }
    if (!ts) {
      ts = new TaskRecord({ key: v.key, fn: "", args: "" }, [0, 0, this.seq++]);
      ts.scattered = true;
      this.tasks.set(ts.key, ts);
    }
    this.addWant(ts, owner);
    const holders = v.workers.flatMap((id) => this.workers.get(id) ?? []);
    for (const w of holders) {
      ts.whoHas = addTo(ts.whoHas, w);
      w.hasWhat.add(ts);
      this.pendingFree.get(w)?.delete(ts.key);
    }
    ts.nbytes = v.nbytes;
    if (ts.status !== "memory") {
      if (holders.length === 0) {
        this.fail(ts, pack(lostScattered(ts.key)));
        return this.settle(ts);
      }
      ts.error = null;
      this.setStatus(ts, "memory");
    }
    this.report(ts, client);
    this.settle(ts);
  }

  /**
   * A task restricted to workers none of which is connected: warn (`client`,
   * at submit; else whoever holds it), and err once the grace period passes
   * without one (a timer effect per event).
   */
  private checkRestriction(client: string | undefined, ts: TaskRecord): void {
    for (const w of this.workers.values()) if (allowedOn(ts, w)) return;
    const names = [...ts.restrictions!];
    const message = `task ${ts.key} may run only on ${names.join(", ")}, ` +
      `${
        names.length === 1 ? "which is not" : "none of which is"
      } connected: ` +
      `it waits ${this.graceMs} ms for one, then errs`;
    this.log("warn", message);
    if (client === undefined) this.notify(ts, { op: "warning", message });
    else this.send(client, { op: "warning", message });
    if (this.graceGroup) return void this.graceGroup.push(ts);
    const token = ++this.timers;
    this.graceGroup = [ts];
    this.awaitingWorker.set(token, this.graceGroup);
    this.effects.push({ type: "timer", ms: this.graceMs, token });
  }

  /** The grace period of the tasks filed under `token` is over. */
  private graceOver(token: number): void {
    const group = this.awaitingWorker.get(token);
    if (!group) return;
    this.awaitingWorker.delete(token);
    for (const ts of group) {
      if (this.tasks.get(ts.key) !== ts) continue;
      if (ts.status !== "waiting" && ts.status !== "queued") continue;
      let connected = false;
      for (const w of this.workers.values()) connected ||= allowedOn(ts, w);
      if (connected) continue;
      const error = new NoWorkerError(
        ts.key,
        [...ts.restrictions!],
        this.graceMs,
      );
      this.recommend(ts, "erred", pack(error));
    }
  }

  /** Why a new task cannot be accepted, if it cannot. */
  private refusal(spec: TaskSpec, deps: string[]): Error | undefined {
    if (!this.fns.has(spec.fn)) {
      return new ProtocolError(
        `task ${spec.key} uses function ${spec.fn}, which the scheduler was ` +
          `never sent (a client sends fnRef with a function's first task)`,
      );
    }
    if (deps.includes(spec.key)) {
      return new TendrilError(
        `task ${spec.key} cannot depend on itself: one of its arguments is a ` +
          `future with its own key (a key may not be reused for a task that ` +
          `takes the old future as an argument)`,
      );
    }
    if (spec.resources) {
      const problem = resourcesProblem(spec.resources);
      if (problem) return new TendrilError(`task ${spec.key}: ${problem}`);
      const short = this.workers.size > 0
        ? unsatisfiable(spec.resources, this.workers.values())
        : undefined;
      if (short) {
        return new ResourceError(
          spec.key,
          short.name,
          spec.resources[short.name],
          short.most,
        );
      }
    }
    for (const k of deps) {
      if (!this.tasks.has(k)) {
        return new LostDataError(
          k,
          `task ${spec.key} depends on ${k}, which the scheduler does not ` +
            `have (it was released, or never submitted)`,
        );
      }
    }
    return undefined;
  }

  /**
   * `client` (for `task`) holds futures on `keys`: each gains a holder and is
   * reported if done; a key no longer in the graph is reported cancelled.
   */
  private want(
    client: string,
    task: string | undefined,
    keys: string[],
  ): void {
    if (this.orphaned(client, task)) {
      for (const key of keys) this.refuseOrphan(client, key, task!);
      return;
    }
    const owner = this.owner(client, task);
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (!ts) {
        this.send(client, {
          op: "key-cancelled",
          key,
          reason: "forgotten by the scheduler",
        });
        continue;
      }
      this.addWant(ts, owner);
      this.report(ts, client);
      this.settle(ts);
    }
  }

  /** `client` (for `task`) holds no more futures on `keys`. */
  private release(
    client: string,
    task: string | undefined,
    keys: string[],
  ): void {
    const owner = this.owners.get(ownerId(client, task));
    if (!owner) return;
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (!ts || !removeFrom(ts.wantedBy, owner)) continue;
      owner.keys.delete(ts);
      this.settle(ts);
    }
  }

  /**
   * `client` asks erred `keys` to run again: each, with the erred
   * dependencies it failed from (found with a work list, not recursion),
   * is released without its error and computed again. A key that is not
   * erred is reported as it stands; one the graph does not have, cancelled.
   */
  private retry(client: string, keys: string[]): void {
    const erred: TaskRecord[] = [];
    const seen = new Set<TaskRecord>();
    for (const key of keys) {
      const ts = this.tasks.get(key);
      if (!ts) {
        this.send(client, {
          op: "key-cancelled",
          key,
          reason: "cannot retry: forgotten by the scheduler",
        });
      } else if (ts.status !== "erred") this.report(ts, client);
      else if (!seen.has(ts)) {
        seen.add(ts);
        erred.push(ts);
      }
    }
    for (let i = 0; i < erred.length; i++) {
      for (const d of erred[i].deps) {
        if (d.status === "erred" && !seen.has(d)) {
          seen.add(d);
          erred.push(d);
        }
      }
    }
    for (const ts of erred) {
      ts.error = null;
      ts.suspicious = 0;
      ts.fetchFailures = 0;
      this.setStatus(ts, "released");
    }
    for (const ts of erred) this.recommend(ts, "waiting");
  }

  /** `client` asks every worker to call a function (see `calls.ts`). */
  private callOnWorkers(client: string, call: FunctionCall): void {
    const sends = this.calls.start(client, call, this.workers.keys());
    for (const { to, msg } of sends) this.send(to, msg);
  }

  /** Worker `from` answered a call; the last answer goes to its client. */
  private callAnswered(from: string, msg: Msg<"function-result">): void {
    const done = this.calls.answered(from, msg.id, msg.value, msg.error);
    if (done) this.send(done.to, done.msg);
  }

  /**
   * `client` asks to retire workers (ids or data addresses): they get no
   * more work and give back their unstarted runs at once; the rest happens
   * in {@linkcode SchedulerState.advanceRetirements}. Names of no connected
   * worker are skipped; retiring every worker is refused (their values
   * would have nowhere to go).
   */
  private retireWorkers(client: string, id: number, names: string[]): void {
    const found: WorkerRecord[] = [];
    for (const name of names) {
      const w = this.workers.get(name) ?? this.workerAt(name);
      if (w && !found.includes(w)) found.push(w);
    }
    let staying = 0;
    for (const w of this.workers.values()) {
      if (!w.retiring && !found.includes(w)) staying++;
    }
    if (found.length === 0 || staying === 0) {
      const msg: SchedulerToClient = {
        op: "workers-retired",
        id,
        workers: [],
      };
      if (found.length > 0) {
        msg.error = `retiring ${
          found.map((w) => w.id).join(", ")
        } would leave no worker to take their values and work`;
      }
      return this.send(client, msg);
    }
    this.retireRequests.start(client, id, found.map((w) => w.id));
    for (const w of found) {
      if (w.retiring) continue;
      w.retiring = true;
      this.retiring.add(w);
      for (const ts of w.processing) {
        if (ts.seceded || ts.blockedOn || ts.stealing) continue;
        // The worker gives back only runs that have not started.
        ts.stealing = true;
        this.send(w.id, { op: "steal", key: ts.key, run: ts.run });
      }
    }
  }

  /**
   * `client` asks to restart the cluster: every task is cancelled (its
   * holders told why), and once those cancellations are through, every
   * worker is told to close and come back fresh. The client is answered
   * once as many workers as there are now have joined.
   */
  private restart(client: string, id: number): void {
    const reason =
      `cancelled: the cluster restarted (client.restart() by ${client})`;
    for (const ts of this.tasks.values()) {
      this.recommend(ts, "cancelled", reason);
    }
    this.restarts.push({ client, id, workers: this.workers.size });
    this.restartPending = true;
  }

  /** The restart's second step: every worker closes, as if it left (it forgets everything). */
  private closeAllWorkers(): void {
    this.restartPending = false;
    for (const w of [...this.workers.values()]) {
      this.send(w.id, { op: "close-worker", reason: "restart" });
      this.retired.add(w.id);
      this.workerLeft(w.id);
    }
    this.drainWork();
    this.restartProgress();
  }

  /** Answers the restarts whose workers are all back. */
  private restartProgress(): void {
    if (this.restartPending) return;
    for (let i = 0; i < this.restarts.length; i++) {
      const r = this.restarts[i];
      if (this.workers.size < r.workers) continue;
      this.send(r.client, { op: "restarted", id: r.id });
      this.restarts.splice(i--, 1);
    }
  }

  /**
   * Steps retiring workers whose runs have all ended: their values held
   * nowhere else are copied to staying workers (`acquire`), and once every
   * copy is reported, the worker is told to close and leaves the graph.
   */
  private advanceRetirements(): void {
    if (this.retiring.size === this.workers.size) return this.keepRetiring();
    for (const w of this.retiring) {
      if (w.processing.size > 0 || w.stopping.size > 0) continue;
      if (w.moving === null) {
        for (const [to, deps] of planMoves(w, this.workers.values())) {
          this.send(to.id, { op: "acquire", deps });
        }
      }
      if (w.moving!.size > 0) continue;
      this.send(w.id, { op: "close-worker", reason: "retired" });
      this.retired.add(w.id);
      this.workerLeft(w.id);
    }
  }

  /**
   * Every worker left is retiring (the others died meanwhile): none could
   * take their values, so they stay, take work again, and are left out of
   * the answers.
   */
  private keepRetiring(): void {
    for (const w of this.retiring) {
      w.retiring = false;
      w.moving = null;
      this.log(
        "warn",
        `worker ${w.id} stays: no other worker is left to take its values`,
      );
      for (const { to, msg } of this.retireRequests.kept(w.id)) {
        this.send(to, msg);
      }
      this.fill(w);
      this.mayIdle.add(w);
    }
    this.retiring.clear();
  }

  /**
   * Worker `w` took copies of values of retiring workers: it holds them
   * now (a copy of a value released meanwhile is freed again). A value no
   * holder gave stays only on its retiring worker, and is recomputed, if
   * still needed, once that worker has left.
   */
  private acquired(w: WorkerRecord, msg: Msg<"acquired">): void {
    for (const key of msg.keys) {
      const ts = this.tasks.get(key);
      if (ts?.status !== "memory") this.free(w, key);
      else if (!w.hasWhat.has(ts)) {
        ts.whoHas = addTo(ts.whoHas, w);
        w.hasWhat.add(ts);
      }
    }
    for (const key of msg.missing) {
      this.log(
        "warn",
        `worker ${w.id} could not copy ${key} from a retiring worker`,
      );
    }
    for (const r of this.retiring) {
      if (!r.moving) continue;
      for (const key of msg.keys) {
        if (r.moving.get(key) === w) r.moving.delete(key);
      }
      for (const key of msg.missing) {
        if (r.moving.get(key) === w) r.moving.delete(key);
      }
    }
  }

  /** The run `run` on `w` was being stopped and has ended: its slot is free. */
  private runEnded(w: WorkerRecord, run: number): boolean {
    const stopping = w.stopping.get(run);
    if (!stopping) return false;
    w.stopping.delete(run);
    if (stopping.holdsSlot) {
      w.executing--;
      w.occupancy -= stopping.charged;
    }
    holdResources(w, stopping.resources, -1);
    this.fill(w);
    if (w.executing < w.slots) this.mayIdle.add(w);
    return true;
  }

  /** The task processing on `w` as run `run`, if it still is. */
  private current(
    w: WorkerRecord,
    key: string,
    run: number,
  ): TaskRecord | undefined {
    const ts = this.tasks.get(key);
    return ts && ts.processingOn === w && ts.run === run ? ts : undefined;
  }

  /**
   * A run on `w` returned: the task goes to memory, held by `w`, its
   * holders are told, and dependents whose last missing dependency it was
   * become ready. A late result of a run no longer current is freed.
   */
  private finished(w: WorkerRecord, msg: Msg<"task-finished">): void {
    const ts = this.current(w, msg.key, msg.run);
    if (!ts) {
      this.runEnded(w, msg.run);
      // A late result of a run that was cancelled or moved: drop the copy.
      const held = this.tasks.get(msg.key)?.whoHas?.includes(w);
      if (!held) this.free(w, msg.key);
      return;
    }
    if (msg.ms !== undefined) this.durations.learn(ts.fn, msg.ms);
    this.unassign(ts, false);
    this.timeRun(ts, w, msg, false);
    this.countInTree(ts);
    ts.value = msg.value ?? null;
    ts.nbytes = msg.nbytes;
    ts.whoHas = addTo(ts.whoHas, w);
    ts.fetchFailures = 0;
    w.hasWhat.add(ts);
    this.setStatus(ts, "memory");
    this.releaseOwned(ts, msg.refs);
    if (ts.wantedBy) this.notify(ts, keyDone(ts));
    if (ts.dependents) {
      for (const x of ts.dependents) {
        if (x.status === "waiting" && --x.waitingOn === 0) {
          this.recommend(x, "ready");
        }
      }
    }
    this.settle(ts);
    this.fill(w);
    if (w.executing < w.slots) this.mayIdle.add(w);
  }

  /** A fire-and-forget key ran to its end: the scheduler lets it go. */
  protected override heldSettled(ts: TaskRecord, owner: Owner): void {
    if (isForgetHolder(owner.id) === ts.key) this.unhold(forgetHolder(ts.key));
  }

  /** A run on `w` threw: the task runs again while it has retries, else it errs. */
  private erred(w: WorkerRecord, msg: Msg<"task-erred">): void {
    const ts = this.current(w, msg.key, msg.run);
    if (!ts) return void this.runEnded(w, msg.run);
    this.timeRun(ts, w, msg, true);
    if (ts.retries > 0) {
      ts.retries--;
      this.releaseOwned(ts);
      this.recommend(ts, "rerun", ts.run);
    } else {
      this.unassign(ts, false);
      this.fail(ts, msg.error);
    }
    this.fill(w);
    if (w.executing < w.slots) this.mayIdle.add(w);
  }

  /**
   * Answers how far the trees of `keys` are: per key, the tasks launched in
   * its tree and how many of those are done (zeros for keys not in the graph).
   */
  private treeProgress(from: string, id: number, keys: string[]): void {
    const launched: number[] = [];
    const done: number[] = [];
    for (const key of keys) {
      const ts = this.tasks.get(key);
      launched.push(ts?.launched ?? 0);
      done.push(ts?.launchedDone ?? 0);
    }
    this.send(from, { op: "tree-progress", id, launched, done });
  }

  /**
   * Lines tasks on `w` printed: kept among the worker's recent lines, and
   * sent to the clients that hold the root of each task's tree (unless
   * they turned forwarding off).
   */
  private taskOutput(w: WorkerRecord, lines: OutputLine[]): void {
    const byClient = new Map<string, OutputLine[]>();
    for (const line of lines) {
      this.output.keep(w.id, line);
      const ts = this.tasks.get(line.key);
      const root = ts ? ts.root ?? ts : undefined;
      for (const owner of root?.wantedBy ?? []) {
        const to = owner.client;
        if (owner.task !== undefined || this.workers.has(to)) continue;
        if (this.quiet.has(to)) continue;
        const list = byClient.get(to);
        if (!list) byClient.set(to, [line]);
        else if (list.at(-1) !== line) list.push(line);
      }
    }
    for (const [to, list] of byClient) {
      this.send(to, { op: "task-output", worker: w.id, lines: list });
    }
  }

  /** Files a current run of `ts` on `w` that returned or threw in the metrics. */
  private timeRun(
    ts: TaskRecord,
    w: WorkerRecord,
    msg: { start?: number; stop?: number; seceded?: number[] },
    erred: boolean,
  ): void {
    this.metrics.ended(
      ts.fn,
      this.fns.get(ts.fn)?.name || ts.fn,
      ts.key,
      w.id,
      msg.start,
      msg.stop,
      erred,
      msg.seceded,
    );
  }

  /** A run ended without a result: a cancelled one returned, or an unstarted one was dropped. */
  private stopped(w: WorkerRecord, msg: Msg<"task-stopped">): void {
    if (this.runEnded(w, msg.run)) return;
    const ts = this.current(w, msg.key, msg.run);
    if (!ts) return;
    // The worker gave back a run that had not started (a steal): place it again.
    this.recommend(ts, "rerun", ts.run);
    this.deadlockSuspected = true;
  }

  /** A run on `w` gave its slot back: `w` has room for more work. */
  private seceded(w: WorkerRecord, msg: Msg<"seceded">): void {
    const stopping = w.stopping.get(msg.run);
    if (stopping) {
      if (stopping.holdsSlot) {
        stopping.holdsSlot = false;
        w.executing--;
        w.occupancy -= stopping.charged;
        this.fill(w);
      }
      return;
    }
    const ts = this.current(w, msg.key, msg.run);
    if (!ts || ts.seceded) return;
    ts.seceded = true;
    w.executing--;
    w.occupancy -= ts.charged;
    if (ts.holding && ts.releaseOnSecede) {
      holdResources(w, ts.resources, -1);
      ts.holding = false;
    }
    if (w.blocked.delete(ts)) ts.blockedOn = null;
    this.fill(w);
    if (w.executing < w.slots) this.mayIdle.add(w);
  }

  /** A seceded run on `w` holds a slot again and counts toward its load. */
  private rejoined(w: WorkerRecord, msg: Msg<"rejoined">): void {
    const stopping = w.stopping.get(msg.run);
    if (stopping) {
      if (!stopping.holdsSlot) {
        stopping.holdsSlot = true;
        w.executing++;
        w.occupancy += stopping.charged;
      }
      return;
    }
    const ts = this.current(w, msg.key, msg.run);
    if (!ts || !ts.seceded) return;
    ts.seceded = false;
    w.executing++;
    w.occupancy += ts.charged;
  }

  /**
   * A run on `w` waits without seceding: it is filed as blocked, and once
   * every slot of `w` is, its unstarted runs are asked back.
   */
  private blocked(w: WorkerRecord, msg: Msg<"blocked">): void {
    const ts = this.current(w, msg.key, msg.run);
    if (!ts || ts.seceded) return;
    ts.blockedOn = msg.on;
    w.blocked.add(ts);
    if (w.fullyBlocked) this.stealFrom(w);
    this.deadlockSuspected = true;
  }

  /** A blocked run's wait ended: its worker may take work again. */
  private unblocked(w: WorkerRecord, msg: Msg<"unblocked">): void {
    const ts = this.current(w, msg.key, msg.run);
    if (!ts) return;
    ts.blockedOn = null;
    if (w.blocked.delete(ts)) this.fill(w);
  }

  /**
   * Workers that may have a free slot after this event (and found nothing
   * in the queue) steal unstarted work from the busiest worker, when it is
   * worth moving (see `stealing.ts`).
   */
  private balance(): void {
    for (const thief of this.mayIdle) {
      if (this.workers.get(thief.id) !== thief) continue;
      for (
        const ts of stealsFor(thief, this.workers.values(), this.durations)
      ) {
        ts.stealing = true;
        this.send(ts.processingOn!.id, {
          op: "steal",
          key: ts.key,
          run: ts.run,
        });
      }
    }
    this.mayIdle.clear();
  }

  /**
   * Every slot of `w` is held by a blocked task: its runs that have not
   * started cannot start there. Ask for them back, to run elsewhere.
   */
  private stealFrom(w: WorkerRecord): void {
    for (const ts of w.processing) {
      if (ts.seceded || ts.blockedOn || ts.stealing) continue;
      ts.stealing = true;
      this.send(w.id, { op: "steal", key: ts.key, run: ts.run });
    }
  }

  /**
   * A value could not be fetched from any holder the sender knew of. Holders
   * that answered without it lose it; the task that needed it (from a
   * worker) is placed again once the value is back, or errs after too many
   * failures against holders that are alive but unreachable; a client is
   * told where the value is now.
   */
  private missingData(from: string, msg: MissingData): void {
    const dep = this.tasks.get(msg.key);
    const w = this.workers.get(from);
    if (w && msg.task !== undefined && msg.run !== undefined) {
      if (this.runEnded(w, msg.run)) return this.dropReplicas(dep, msg.notHeld);
      const ts = this.current(w, msg.task, msg.run);
      this.dropReplicas(dep, msg.notHeld);
      if (!ts) return;
      const live = msg.unreachable.filter((a) => this.workerAt(a));
      if (live.length > 0 && dep?.status === "memory") {
        ts.fetchFailures++;
        const what = `task ${ts.key} could not fetch its dependency ` +
          `${msg.key} from ${live.join(", ")} (${msg.reason})`;
        if (ts.fetchFailures > this.allowedFailures) {
          this.log(
            "error",
            `${what}; giving up after ${ts.fetchFailures} tries`,
          );
          this.unassign(ts, false);
          return this.fail(
            ts,
            pack(
              new LostDataError(
                msg.key,
                `${what}; tried ${ts.fetchFailures} times. Is the holder's ` +
                  `advertised address reachable from ${w.id}?`,
                { unreachable: live },
              ),
            ),
          );
        }
        this.log("warn", `${what}; trying again`);
      }
      return this.recommend(ts, "rerun", ts.run);
    }
    this.dropReplicas(dep, msg.notHeld);
    if (!this.clientOwners.has(from)) return;
    if (dep) this.report(dep, from);
    else {
      this.send(from, {
        op: "key-cancelled",
        key: msg.key,
        reason: "forgotten by the scheduler",
      });
    }
  }

  /** Holders that said they do not have `ts`'s value lose it (recomputed if needed). */
  private dropReplicas(ts: TaskRecord | undefined, notHeld: string[]): void {
    if (!ts?.whoHas || notHeld.length === 0) return;
    for (const address of notHeld) {
      const h = ts.whoHas.find((x) => x.address === address);
      if (h) this.loseCopy(ts, h);
    }
  }

  /**
   * Worker `h` no longer holds `ts`'s value (it left, or said so). With no
   * copy left, the value is recomputed when needed, else released.
   */
  private loseCopy(ts: TaskRecord, h: WorkerRecord): void {
    removeFrom(ts.whoHas, h);
    h.hasWhat.delete(ts);
    // An actor's value (its address) is inline, yet it dies with its host.
    if (ts.actor && ts.status === "memory") return this.actorLost(ts, h);
    if (ts.whoHas!.length > 0 || ts.value !== null) return;
    this.recommend(ts, ts.needed ? "waiting" : "released");
  }

  /**
   * The worker `h` hosting the actor of `ts` left (or no longer has it):
   * the actor is constructed again while it has restarts left and someone
   * holds it; otherwise it is dead and its holders get an ActorDiedError.
   */
  private actorLost(ts: TaskRecord, h: WorkerRecord): void {
    const actor = ts.actor!;
    if (actor.restartsLeft > 0 && ts.needed) {
      actor.restartsLeft--;
      this.log(
        "warn",
        `actor ${ts.key} lost with worker ${h.id}: constructing it again ` +
          `(${actor.restartsLeft} restarts left)`,
      );
      return this.restartActor(ts);
    }
    const error = new ActorDiedError(
      ts.key,
      `its worker ${h.id} left` +
        (ts.needed ? " and it has no restarts left" : ""),
    );
    this.endActor(ts, pack(error));
  }

  /**
   * The new actor task `ts` takes the name `name` (free: see `submit`) and
   * the scheduler holds it until it is killed; an erred actor that had the
   * name is let go.
   */
  private nameActor(ts: TaskRecord, name: string): void {
    if (this.actorNames.has(name)) this.unhold(actorHold(name));
    this.actorNames.set(name, ts);
    this.hold(ts, actorHold(name));
  }

  /** `actor.kill()`: the actor of `key` ends now, whoever holds it. */
  private killActor(key: string): void {
    const ts = this.tasks.get(key);
    if (!ts?.actor) return;
    const name = ts.actor.name;
    if (name !== undefined && this.actorNames.get(name) === ts) {
      this.actorNames.delete(name);
    }
    this.endActor(ts, pack(new ActorDiedError(key, "it was killed")));
    if (name !== undefined) this.unhold(actorHold(name));
  }

  /** The connected worker whose data address is `address`, if any. */
  private workerAt(address: string): WorkerRecord | undefined {
    for (const w of this.workers.values()) if (w.address === address) return w;
    return undefined;
  }

  /** The records of those of `keys` in the graph. */
  private known(keys: readonly string[]): TaskRecord[] {
    return keys.flatMap((k) => this.tasks.get(k) ?? []);
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

  /** Answers a request for `key` made on behalf of `task`, no longer running, with a cancellation. */
  private refuseOrphan(client: string, key: string, task: string): void {
    this.send(client, {
      op: "key-cancelled",
      key,
      reason:
        `refused: the task ${task} that asked for it is no longer running there`,
    });
  }

  /** Tells the tasks of a deadlock (see `deadlock.ts`) that they are stuck. */
  private checkDeadlock(): void {
    this.deadlockSuspected = false;
    const found = findDeadlock(this.workers.values(), this.tasks);
    if (!found) return;
    const byWorker = new Map<WorkerRecord, string[]>();
    for (const b of found.stuck) {
      const w = b.processingOn!;
      w.blocked.delete(b);
      b.blockedOn = null;
      const keys = byWorker.get(w);
      if (keys) keys.push(b.key);
      else byWorker.set(w, [b.key]);
    }
    for (const [w, keys] of byWorker) {
      this.send(w.id, { op: "deadlock", keys, message: found.message });
      this.fill(w);
    }
    this.log("error", found.message);
  }
}

/** The name under which the scheduler holds the actor named `name`. */
function actorHold(name: string): string {
  return `actor ${name}`;
}

/** The error of a new actor whose name a live actor has. */
function nameTaken(name: string, key: string): TendrilError {
  return new TendrilError(
    `an actor named ${JSON.stringify(name)} exists (task ${key}): reach it ` +
      `with getActor(${JSON.stringify(name)}), or kill it first`,
  );
}
