/**
 * The Client: submit functions, map over data, gather results, wait for and
 * cancel futures. The same class serves users (connected to a cluster) and
 * tasks (the worker's one shared client, through `getClient()`), where every
 * await secedes automatically unless told not to. Its bookkeeping is the
 * state machine in `state.ts`; this class adds futures, promises and I/O.
 *
 * @module
 */

import {
  pack,
  type Packed,
  toBytes,
  unpack,
} from "../../runtime/codec/packed.ts";
import {
  CancelledError,
  ClientClosedError,
  DeadlockError,
  LostDataError,
  TendrilError,
  TimeoutError,
} from "../../runtime/errors.ts";
import type { FunctionDescription } from "../../runtime/shipping/describe.ts";
import { loadShipping, shipping } from "../../runtime/shipping/lazy.ts";
import { validateFromEnv } from "../../runtime/validate_env.ts";
import type {
  ClientToScheduler,
  OutputLine,
  SchedulerAnswer,
  SchedulerInfo,
  TaskSpec,
} from "../protocol.ts";
import { currentTask, rejoin, secede, untilAborted } from "../task/context.ts";
import { TASK_SCOPE_NAMES } from "../task/scope_names.ts";
import { Future, type FutureHost } from "./future.ts";
import { type ClientEvent, ClientState, type KeyRecord } from "./state.ts";
import { collectFutures, type Gathered, replaceFutures } from "./structure.ts";
import type {
  AwaitOptions,
  ClientHost,
  ClusterLike,
  Fn,
  SubmitOptions,
} from "./types.ts";

/** Result of {@linkcode Client.wait}. */
export interface WaitResult<T> {
  /** Futures that finished, erred or were cancelled. */
  done: Future<T>[];
  /** Futures still pending. */
  notDone: Future<T>[];
}

/** The flush event (one object: the machine keeps no event). */
const FLUSH: ClientEvent = { type: "flush" };

/** Fetch failures of one value a client sits out before giving up. */
const MAX_FETCH_FAILURES = 3;

const scopeNames: ReadonlySet<string> = new Set(TASK_SCOPE_NAMES);

let clientCounter = 0;

/** Clients connected with `Client.connect` and not closed yet, oldest first. */
const openClients: Client[] = [];

/**
 * A connection to a cluster that submits tasks and collects results.
 *
 * @example Map, then reduce with futures as arguments
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster } from "@tendril/tendril";
 * const inc = (x: number) => x + 1;
 * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
 * await using client = await Client.connect(cluster);
 * const futures = client.map(inc, [1, 2, 3]);
 * const total = client.submit((xs: number[]) => xs.reduce((a, b) => a + b), futures);
 * assert.equal(await total.result(), 9);
 * assert.deepEqual(await client.gather({ a: futures[0] }), { a: 2 });
 * ```
 */
export class Client implements FutureHost, AsyncDisposable {
  /** @internal the state machine. */
  readonly state: ClientState = new ClientState(validateFromEnv());
  /** @internal */
  readonly host: ClientHost;
  /** @internal defaults applied by `with()`. */
  protected defaults: SubmitOptions = {};
  /**
   * Mutable scalars live in one shared object: views made by `with()` and
   * `workerClient()` inherit from this client, and a write through a view
   * must not shadow the original's field.
   */
  private readonly live = { counter: 0, flushing: false, closed: false };
  /** Function ids whose definition (`fnRef`) was already sent to the scheduler. */
  private readonly sentFns = new Set<string>();
  /** Code packages already sent to the scheduler, by id. */
  private readonly sentPackages = new Set<string>();
  /** Keys each running task holds here, dropped when it ends. */
  private readonly taskKeys = new Map<string, string[]>();
  /** Rejecters of opted-out waits, by task key (deadlock diagnosis). */
  private readonly blockedWaits = new Map<string, (e: Error) => void>();
  /** Drops the hold of a client-owned future that is garbage collected unreleased. */
  private readonly finalizer: FinalizationRegistry<[string, string]>;
  /** @internal a task-side client resolves locally held keys through this. */
  localValue: ((key: string) => { value: unknown } | undefined) | undefined;
  /** Middle part of generated keys (`name-prefix-n`): unique per client in this isolate. */
  private readonly prefix: string;
  /** Requests waiting for the scheduler's answer, by request id. */
  private readonly requests = new Map<
    number,
    PromiseWithResolvers<SchedulerAnswer>
  >();
  /** Why the scheduler is out of reach, once it is. */
  private lost: string | undefined;

  /** @internal use {@linkcode Client.connect}. */
  constructor(host: ClientHost, readonly inWorker = false) {
    this.host = host;
    this.prefix = `${host.id}.${++clientCounter}`;
    this.finalizer = new FinalizationRegistry(([key, owner]) => {
      if (this.live.closed) return;
      this.run({ type: "drop", key, owner });
      this.flushSoon();
    });
    // One event object for every incoming message: the machine keeps none.
    const received: ClientEvent & { type: "message" } = {
      type: "message",
      msg: undefined as never,
    };
    host.listen(
      (msg) => {
        received.msg = msg;
        this.run(received);
      },
      (reason, error) => {
        this.lost ??= reason;
        this.run({
          type: "lost",
          reason,
          error: error ? pack(error) : undefined,
        });
        this.failRequests();
      },
    );
  }

  /**
   * Connects to a cluster: a `LocalCluster`, or an address such as
   * `"tcp://127.0.0.1:8786"`. The newest client still open is the one
   * `getClient()` returns outside tasks. What tasks print reaches this
   * client's console unless `options.taskOutput` is false.
   */
  static async connect(
    target: ClusterLike | string,
    options: ConnectOptions = {},
  ): Promise<Client> {
    const { assertNotShippingImport, indexMainModule } = await loadShipping();
    assertNotShippingImport("Client.connect()");
    // Exported functions of the entry script then ship by reference.
    await indexMainModule();
    let host: ClientHost;
    if (typeof target === "string") {
      const { connectRemote } = await import("./remote.ts");
      host = await connectRemote(target);
    } else host = await target.connectClient();
    const client = new Client(host);
    if (options.taskOutput === false) {
      host.send({ op: "forward-output", on: false });
    }
    openClients.push(client);
    return client;
  }

  /**
   * The newest connected client that is still open, if any: the one
   * `getClient()` returns outside tasks.
   */
  static current(): Client | undefined {
    return openClients[openClients.length - 1];
  }

  /** This client's id at the scheduler (inside a task: the worker's id). */
  get id(): string {
    return this.host.id;
  }

  /**
   * A view of this client whose submissions use `options`.
   *
   * @example Explicit keys and retries
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
   * await using client = await Client.connect(cluster);
   * const f = client.with({ key: "answer", retries: 2 }).submit(() => 42);
   * assert.equal(f.key, "answer");
   * assert.equal(await f.result(), 42);
   * ```
   */
  with(options: SubmitOptions): Client {
    const view = Object.create(this) as Client;
    view.defaults = { ...this.defaults, ...options };
    return view;
  }

  /**
   * Runs `fn(...args)` on the cluster; futures in `args` become their values.
   *
   * @throws {ShippingError} when `fn` cannot travel to a worker.
   * @throws {SerializationError} when an argument cannot travel.
   * @throws {ClientClosedError} when the client is closed.
   */
  submit<F extends Fn>(
    fn: F,
    ...args: SubmitArgs<Parameters<F>>
  ): Future<Awaited<ReturnType<F>>> {
    const desc = shipping().describeFunction(fn, scopeNames);
    return this.submitOne(fn, desc, args, this.defaults.key) as Future<
      Awaited<ReturnType<F>>
    >;
  }

  /** Runs `fn(item)` for every item; one future per item, in order. */
  map<T, R>(
    fn: (item: T) => R,
    items: Iterable<SubmitArg<T>>,
  ): Future<Awaited<R>>[] {
    const desc = shipping().describeFunction(fn, scopeNames);
    const prefix = this.defaults.key;
    const out: Future<Awaited<R>>[] = [];
    let i = 0;
    for (const item of items) {
      const key = prefix === undefined ? undefined : `${prefix}-${i++}`;
      out.push(this.submitOne(fn, desc, [item], key) as Future<Awaited<R>>);
    }
    return out;
  }

  /** Submits one call of an already described function. */
  private submitOne(
    fn: Fn,
    desc: FunctionDescription,
    args: unknown[],
    key: string | undefined,
  ): Future<unknown> {
    if (this.live.closed) throw new ClientClosedError("submit()");
    if (this.host.shipsCode && desc.ref.kind === "module") {
      const { desc: packaged, pkg } = shipping().withPackage(desc);
      desc = packaged;
      if (pkg && !this.sentPackages.has(pkg.id)) {
        this.sentPackages.add(pkg.id); // sent ahead of the submit that needs it
        this.host.send({ op: "code-package", package: pkg });
      }
    }
    const opts = this.defaults;
    const name = fn.name || "task";
    const deps: string[] = [];
    const onKey = (k: string) => void deps.push(k);
    let bytes: Packed;
    if (key === undefined && opts.pure) {
      bytes = pack(args, onKey, () => `arguments of a ${name} task`);
      key = shipping().pureKey(name, desc.id, toBytes(bytes));
    } else {
      key ??= `${name}-${this.prefix}-${++this.live.counter}`;
      bytes = pack(args, onKey, () => `arguments of task ${key}`);
    }
    if (deps.includes(key)) {
      throw new TendrilError(
        `task ${key} cannot depend on itself: an argument is a future with ` +
          `the same key. Give the new task another key.`,
      );
    }
    const ctx = currentTask();
    const owner = ctx ? ctx.key : "";
    const spec: TaskSpec = { key, fn: desc.id, args: bytes };
    if (deps.length > 0) spec.deps = deps;
    if (!this.sentFns.has(desc.id)) {
      this.sentFns.add(desc.id);
      spec.fnRef = desc.ref;
    }
    if (ctx) spec.parent = ctx.key;
    if (opts.priority !== undefined) spec.priority = opts.priority;
    if (opts.retries !== undefined) spec.retries = opts.retries;
    if (opts.workers !== undefined) {
      spec.workers = typeof opts.workers === "string"
        ? [opts.workers]
        : opts.workers;
      spec.allowOtherWorkers = opts.allowOtherWorkers ?? false;
    }
    this.run({ type: "submit", spec, owner });
    this.flushSoon();
    return this.futureOf(this.state.record(key)!, owner);
  }

  /** @internal a Future object holding `record` for `owner`. */
  futureOf(record: KeyRecord, owner: string): Future<unknown> {
    const future = new Future(record, this, owner);
    if (owner === "") {
      this.finalizer.register(future, [record.key, owner], future);
    } else {
      const keys = this.taskKeys.get(owner);
      if (keys) keys.push(record.key);
      else this.taskKeys.set(owner, [record.key]);
    }
    return future;
  }

  /**
   * Values of all futures in `futures`, keeping its array/object shape.
   * Rethrows the first task error.
   */
  async gather<T>(futures: T, options?: AwaitOptions): Promise<Gathered<T>> {
    const found: Future<unknown>[] = [];
    collectFutures(futures, found);
    await this.settle(found.map((f) => f.record), options);
    const values = new Map<Future<unknown>, unknown>();
    for (const f of found) {
      // Most values are here already (inline or local): no await for them.
      const now = this.valueNow(f.record);
      values.set(f, now ? now.value : await this.resultOf(f.record, options));
    }
    return replaceFutures(futures, values) as Gathered<T>;
  }

  /**
   * Waits until all (or the first, with `returnWhen`) futures are done.
   *
   * @throws {TimeoutError} (as a rejection) when `timeout` ms pass first.
   * @example A timed wait
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, LocalCluster, TimeoutError } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
   * await using client = await Client.connect(cluster);
   * const never = client.submit(() => new Promise<number>(() => {}));
   * await assert.rejects(client.wait([never], { timeout: 10 }), TimeoutError);
   * await never.cancel();
   * ```
   */
  async wait<T>(
    futures: Future<T>[],
    options: AwaitOptions & {
      returnWhen?: "ALL_COMPLETED" | "FIRST_COMPLETED";
      timeout?: number;
    } = {},
  ): Promise<WaitResult<T>> {
    const records = futures.map((f) => f.record);
    const all = this.settle(records, options);
    const first = options.returnWhen === "FIRST_COMPLETED"
      ? Promise.race(records.map((r) => this.settle([r], options)))
      : all;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ms = options.timeout;
    const timeout = ms === undefined
      ? null
      : new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError("wait()", ms)), ms);
      });
    try {
      await (timeout ? Promise.race([first, timeout]) : first);
    } finally {
      clearTimeout(timer);
    }
    return {
      done: futures.filter((f) => f.done()),
      notDone: futures.filter((f) => !f.done()),
    };
  }

  /** Yields futures as they complete, in completion order. */
  async *asCompleted<T>(
    futures: Iterable<Future<T>>,
  ): AsyncGenerator<Future<T>> {
    const pending = new Set(futures);
    const ready: Future<T>[] = [];
    let wake: (() => void) | null = null;
    for (const f of pending) {
      this.whenSettled(f.record, () => {
        ready.push(f);
        wake?.();
      });
    }
    while (pending.size > 0) {
      if (ready.length === 0) await new Promise<void>((r) => (wake = r));
      wake = null;
      const f = ready.shift()!;
      pending.delete(f);
      yield f;
    }
  }

  /** Cancels the futures' tasks (and what depends on them, and their children). */
  async cancel(futures: Future<unknown> | Future<unknown>[]): Promise<void> {
    const list = Array.isArray(futures) ? futures : [futures];
    await this.cancelKeys(list.map((f) => f.key));
  }

  /**
   * What the scheduler knows of the cluster now: its workers (slots, load,
   * held values), its tasks by status, and per-function counts. Works the
   * same for every client, in this process or over TCP, and inside tasks.
   *
   * @example Two workers, and the runs so far
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
   * await using client = await Client.connect(cluster);
   * await client.gather(client.map((x: number) => x, [1, 2, 3]));
   * const info = await client.schedulerInfo();
   * assert.equal(info.workers.length, 2);
   * assert.equal(info.finished, 3);
   * ```
   */
  async schedulerInfo(): Promise<SchedulerInfo> {
    const answer = await this.request("schedulerInfo()", {
      op: "scheduler-info",
      id: 0,
    });
    return (answer as Extract<SchedulerAnswer, { op: "scheduler-info" }>)
      .info;
  }

  /**
   * The recent lines tasks printed, by worker id (the scheduler keeps the
   * last 500 per worker), each as `[key] text`.
   *
   * @example A task's line
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
   * await using client = await Client.connect(cluster, { taskOutput: false });
   * await client.submit(() => console.log("hello")).result();
   * const logs = await client.getWorkerLogs();
   * assert.match(logs[cluster.workerIds[0]].at(-1)!, /^\[.+\] hello$/);
   * ```
   */
  async getWorkerLogs(): Promise<Record<string, string[]>> {
    const answer = await this.request("getWorkerLogs()", {
      op: "worker-logs",
      id: 0,
    });
    return (answer as Extract<SchedulerAnswer, { op: "worker-logs" }>).logs;
  }

  /**
   * Runs `fn`, then writes to `path` one self-contained HTML file with the
   * task stream and per-function and per-worker statistics of the task
   * runs that ended meanwhile (those of every client: the cluster's), as
   * Dask's `performance_report` does. Resolves with what `fn` resolved
   * with; when `fn` throws, the report is still written, then the error
   * rethrown. The scheduler keeps the last 10,000 runs: a longer
   * measurement reports the last ones and says how many it left out.
   *
   * @example A map, measured
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
   * await using client = await Client.connect(cluster);
   * const path = await Deno.makeTempFile({ suffix: ".html" });
   * const sum = await client.performanceReport(path, async () => {
   *   const xs = await client.gather(client.map((x: number) => x * 2, [1, 2, 3]));
   *   return xs.reduce((a, b) => a + b);
   * });
   * assert.equal(sum, 12);
   * assert.match(await Deno.readTextFile(path), /<td class="runs">3<\/td>/);
   * await Deno.remove(path);
   * ```
   */
  async performanceReport<T>(
    path: string | URL,
    fn: () => T | Promise<T>,
  ): Promise<T> {
    const before = await this.taskStream();
    const started = Date.now();
    let result: { value: T } | { error: unknown };
    try {
      result = { value: await fn() };
    } catch (error) {
      result = { error };
    }
    const ended = Date.now();
    const runs = await this.taskStream(before.seq);
    const info = await this.schedulerInfo();
    const { renderPerformanceReport } = await import(
      "./performance_report.ts"
    );
    await Deno.writeTextFile(
      path,
      renderPerformanceReport({
        started,
        ended,
        spans: runs.spans,
        skipped: runs.skipped,
        info,
      }),
    );
    if ("error" in result) throw result.error;
    return result.value;
  }

  /** The runs that ended from sequence number `since` on (only the number without it). */
  private async taskStream(
    since?: number,
  ): Promise<Extract<SchedulerAnswer, { op: "task-stream" }>> {
    const msg: Extract<ClientToScheduler, { op: "task-stream" }> = {
      op: "task-stream",
      id: 0,
    };
    if (since !== undefined) msg.since = since;
    const answer = await this.request("performanceReport()", msg);
    return answer as Extract<SchedulerAnswer, { op: "task-stream" }>;
  }

  /**
   * @internal How far the trees of tasks launched by `keys` are: per key,
   * the tasks launched in its tree so far and how many are done (read by
   * `progress()`).
   */
  async treeProgress(
    keys: string[],
  ): Promise<{ launched: number[]; done: number[] }> {
    const answer = await this.request("progress()", {
      op: "tree-progress",
      id: 0,
      keys,
    });
    return answer as Extract<SchedulerAnswer, { op: "tree-progress" }>;
  }

  /** Sends `msg` with a fresh id; resolves with the scheduler's answer. */
  private request(
    what: string,
    msg: Extract<ClientToScheduler, { id: number }>,
  ): Promise<SchedulerAnswer> {
    if (this.live.closed) return Promise.reject(new ClientClosedError(what));
    if (this.lost !== undefined) {
      return Promise.reject(new TendrilError(`${what}: ${this.lost}`));
    }
    msg.id = ++this.live.counter;
    const request = Promise.withResolvers<SchedulerAnswer>();
    this.requests.set(msg.id, request);
    this.host.send(msg);
    return request.promise;
  }

  /** Rejects every pending request (the scheduler is gone, or the client closed). */
  private failRequests(): void {
    for (const request of this.requests.values()) {
      request.reject(
        this.lost !== undefined
          ? new TendrilError(`request to the scheduler: ${this.lost}`)
          : new ClientClosedError("a request to the scheduler"),
      );
    }
    this.requests.clear();
  }

  /**
   * Disconnects; the scheduler releases everything this client held, and
   * waits still pending reject with {@linkcode ClientClosedError}.
   */
  async close(): Promise<void> {
    if (this.live.closed || this.inWorker) return;
    this.live.closed = true;
    this.flush();
    const i = openClients.lastIndexOf(this);
    if (i >= 0) openClients.splice(i, 1);
    for (const key of [...this.state.keys.keys()]) this.wake(key);
    this.failRequests();
    await this.host.close();
  }

  /** Closes the client at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- FutureHost -----------------------------------------------------------

  /** @internal */
  async resultOf(record: KeyRecord, options?: AwaitOptions): Promise<unknown> {
    for (;;) {
      if (record.status === "pending") await this.settle([record], options);
      const now = this.valueNow(record);
      if (now) return now.value;
      try {
        const bytes = await this.host.fetch(record.key, record.who ?? []);
        const value = this.decodeValue(bytes);
        record.decoded = { value };
        record.fetchFailures = 0;
        return value;
      } catch (e) {
        // Its holders are gone or unreachable: ask the scheduler where the
        // value is now (it may be recomputing it) and wait, a few times.
        if (
          !(e instanceof LostDataError) ||
          record.fetchFailures >= MAX_FETCH_FAILURES ||
          this.live.closed
        ) throw e;
        if (record.status !== "finished") continue;
        this.run({
          type: "fetch-failed",
          key: record.key,
          notHeld: e.notHeld,
          unreachable: e.unreachable,
          reason: e.message,
        });
        this.flush();
      }
    }
  }

  /**
   * The value of a settled key when it is at hand (decoded, inline or held
   * by this worker); undefined when it must be fetched. Throws the task's
   * error, or CancelledError.
   */
  private valueNow(record: KeyRecord): { value: unknown } | undefined {
    switch (record.status) {
      case "finished": {
        if (record.decoded) return record.decoded;
        const local = this.localValue?.(record.key);
        if (local) return { value: local.value };
        if (!record.value) return undefined;
        return record.decoded = { value: this.decodeValue(record.value) };
      }
      case "error":
        throw this.errorOf(record);
      case "cancelled":
        throw new CancelledError(record.key, record.reason);
      default:
        throw new ClientClosedError(`waiting for ${record.key}`);
    }
  }

  /** @internal decodes bytes, turning key references into held futures. */
  decodeValue(bytes: Packed): unknown {
    const owner = currentTask()?.key ?? "";
    return unpack(bytes, (key) => {
      this.run({ type: "hold", key, owner });
      return this.futureOf(this.state.record(key)!, owner);
    });
  }

  /** @internal the value a task threw, as thrown (not always an `Error`). */
  errorOf(record: KeyRecord): unknown {
    return unpack(record.error!);
  }

  /** @internal */
  async cancelKeys(keys: string[]): Promise<void> {
    this.run({ type: "cancel", keys });
    this.flush();
    const records = keys.map((k) => this.state.record(k)).filter((r) =>
      r !== undefined
    );
    await this.settle(records, { secede: false, blocking: false });
  }

  /** @internal */
  dropHolder(record: KeyRecord, owner: string, token: object): void {
    if (owner === "") this.finalizer.unregister(token);
    this.run({ type: "drop", key: record.key, owner });
    this.flushSoon();
  }

  /**
   * @internal waits until no record is pending. Inside a task it secedes
   * for the wait (or, opted out, reports the task blocked so a deadlock is
   * diagnosed instead of hanging).
   */
  async settle(
    records: KeyRecord[],
    options: AwaitOptions & { blocking?: boolean } = {},
  ): Promise<void> {
    const pending = records.filter((r) => r.status === "pending");
    if (pending.length === 0 || this.live.closed) return;
    this.flush();
    let all: Promise<unknown> = new Promise<void>((resolve) => {
      let left = pending.length;
      const one = () => --left === 0 && resolve();
      for (const r of pending) this.whenSettled(r, one);
    });
    const ctx = currentTask();
    // A cancelled task stops waiting at once, so it can unwind.
    if (ctx) all = untilAborted(all, ctx.signal);
    if (!ctx || options.blocking === false) return void await all;
    if (options.secede !== false && (ctx.autoWaits > 0 || !ctx.seceded)) {
      // Several waits of one task may overlap: the first gives the slot
      // back, the last takes it again.
      if (ctx.autoWaits++ === 0) secede();
      try {
        await all;
      } finally {
        if (--ctx.autoWaits === 0) await rejoin();
      }
      return;
    }
    if (ctx.seceded) return void await all; // seceded by the task itself
    const { key, run } = ctx;
    this.host.send({ op: "blocked", key, run, on: pending.map((r) => r.key) });
    try {
      await new Promise<void>((resolve, reject) => {
        this.blockedWaits.set(key, reject);
        all.then(() => resolve(), reject);
      });
    } finally {
      this.blockedWaits.delete(key);
      this.host.send({ op: "unblocked", key, run });
    }
  }

  /** Calls `fn` once the record leaves "pending". */
  private whenSettled(record: KeyRecord, fn: () => void): void {
    if (record.status !== "pending" || this.live.closed) return fn();
    (record.waiters ??= []).push(fn);
  }

  /** Runs the key's waiters. */
  private wake(key: string): void {
    const record = this.state.record(key);
    const list = record?.waiters;
    if (!list) return;
    record.waiters = null;
    for (const fn of list) fn();
  }

  /** @internal a task ended: its futures are released by the scheduler. */
  endTask(task: string): void {
    const keys = this.taskKeys.get(task);
    if (!keys) return;
    this.taskKeys.delete(task);
    this.run({ type: "task-ended", task, keys });
  }

  /** Hands an event to the state machine and carries out its effects. */
  private run(event: ClientEvent): void {
    for (const effect of this.state.handle(event)) {
      switch (effect.type) {
        case "send":
          for (const msg of effect.msgs) this.host.send(msg);
          break;
        case "settled":
          this.wake(effect.key);
          break;
        case "deadlock": {
          const error = new DeadlockError(effect.message, effect.keys);
          for (const key of effect.keys) this.blockedWaits.get(key)?.(error);
          break;
        }
        case "output":
          if (!this.inWorker) {
            printTaskOutput(effect.msg.worker, effect.msg.lines);
          }
          break;
        case "answer":
          this.requests.get(effect.msg.id)?.resolve(effect.msg);
          this.requests.delete(effect.msg.id);
          break;
      }
    }
  }

  /** Flushes queued messages at the end of this microtask. */
  private flushSoon(): void {
    if (this.live.flushing) return;
    this.live.flushing = true;
    queueMicrotask(() => this.flush());
  }

  /** @internal sends queued messages now. */
  flush(): void {
    this.live.flushing = false;
    this.run(FLUSH);
  }
}

/** Options of {@linkcode Client.connect}. */
export interface ConnectOptions {
  /**
   * Print what tasks of this client's trees print (`console.log` and
   * friends inside them), prefixed with the task's key and worker
   * (default true).
   */
  taskOutput?: boolean;
}

/** Prints task output on this console: stdout or stderr as printed, each line prefixed. */
function printTaskOutput(worker: string, lines: OutputLine[]): void {
  for (const line of lines) {
    const prefix = `(${line.key} on ${worker}) `;
    const text = prefix + line.text.split("\n").join(`\n${prefix}`);
    if (line.stream === "err") console.error(text);
    else console.log(text);
  }
}

/**
 * An argument: the value, or a future of it; inside arrays and plain
 * objects any element may be a future too.
 */
export type SubmitArg<T> =
  | T
  | Future<T>
  | (T extends readonly (infer E)[] ? SubmitArg<E>[]
    : T extends (...args: never[]) => unknown ? never
    : T extends
      Date | Map<unknown, unknown> | Set<unknown> | ArrayBufferView | Error
      ? never
    : T extends object ? { [K in keyof T]: SubmitArg<T[K]> }
    : never);
/** A function's parameters, each of which may be given as futures. */
export type SubmitArgs<A extends readonly unknown[]> = {
  [K in keyof A]: SubmitArg<A[K]>;
};

export type {
  AwaitOptions,
  ClientHost,
  ClusterLike,
  Fn,
  Gathered,
  SubmitOptions,
};
