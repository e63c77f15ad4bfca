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
  SerializationError,
  TendrilError,
} from "../../runtime/errors.ts";
import type { FunctionDescription } from "../../runtime/shipping/describe.ts";
import { loadShipping, shipping } from "../../runtime/shipping/lazy.ts";
import { validateFromEnv } from "../../runtime/validate_env.ts";
import type {
  ActorReply,
  ActorSpec,
  ClientToScheduler,
  OutputLine,
  SchedulerAnswer,
  SchedulerInfo,
  TaskSpec,
  WorkerSummary,
} from "../protocol.ts";
import { checkFitsMessage, MESSAGE_SLACK } from "../protocol.ts";
import { currentTask, rejoin, secede, untilAborted } from "../task/context.ts";
import { TASK_SCOPE_NAMES } from "../task/scope_names.ts";
import {
  AsCompleted,
  type AsCompletedHost,
  type AsCompletedOptions,
} from "./as_completed.ts";
import {
  type Actor,
  type ActorClient,
  ActorLink,
  type ActorOptions,
  actorProxy,
  checkActorName,
  splitActorArgs,
} from "./actor_handle.ts";
import { CoordinationLink } from "./coordination/link.ts";
import { withDeadline } from "./deadline.ts";
import {
  checkDatasetName,
  datasetAnswer,
  type GetDatasetOptions,
  type PublishOptions,
} from "./datasets.ts";
import { Future, type FutureHost } from "./future.ts";
import {
  type ClientEffect,
  type ClientEvent,
  ClientState,
  type KeyRecord,
} from "./state.ts";
import {
  placeScattered,
  type Scattered,
  scatterKey,
  type ScatterOptions,
  splitScattered,
} from "./scatter.ts";
import { collectFutures, type Gathered, replaceFutures } from "./structure.ts";
import type {
  AwaitOptions,
  ClientHost,
  ClusterLike,
  Fn,
  SubmitOptions,
} from "./types.ts";

/**
 * When {@linkcode Client.wait} returns: once every future is done, once the
 * first is, or once at least this many are.
 */
export type ReturnWhen = "ALL_COMPLETED" | "FIRST_COMPLETED" | number;

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
export class Client
  implements FutureHost, AsCompletedHost, ActorClient, AsyncDisposable {
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
  /** Function calls (`run`, `runOnScheduler`) waiting for their answer, by id. */
  private readonly calls = new Map<
    number,
    PromiseWithResolvers<Record<string, unknown>>
  >();
  /** Rejecters of opted-out waits, by task key (deadlock diagnosis). */
  private readonly blockedWaits = new Map<string, (e: Error) => void>();
  /** Drops the hold of a client-owned future that is garbage collected unreleased. */
  private readonly finalizer: FinalizationRegistry<[string, string]>;
  /** @internal requests to coordination primitives (`Queue`, `Lock`...) in flight. */
  readonly coordination: CoordinationLink = new CoordinationLink({
    send: (msg) => {
      this.flush(); // what it refers to reaches the scheduler first
      this.host.send(msg);
    },
    decode: (bytes, owner) => this.decodeValue(bytes, owner),
    holdWhile: (keys, owner, then) => {
      for (const key of keys) this.dispatch({ type: "hold", key, owner });
      this.flush();
      then();
      for (const key of keys) this.dispatch({ type: "drop", key, owner });
      this.flushSoon();
    },
  });
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
      this.dispatch({ type: "drop", key, owner });
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
        this.dispatch(received);
      },
      (reason, error) => {
        this.lost ??= reason;
        this.dispatch({
          type: "lost",
          reason,
          error: error ? pack(error) : undefined,
        });
        this.failRequests();
        this.failCalls(
          error ?? new ClientClosedError(`waiting for a call (${reason})`),
        );
        this.coordination.fail(error ?? new TendrilError(reason));
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
      host = await connectRemote(target, {
        maxMessageSize: options.maxMessageSize,
      });
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

  /**
   * Runs `fn(item)` for every item; one future per item, in order. With
   * several iterables, runs `fn(x, y, ...)` over them side by side (they
   * must have the same length).
   *
   * @throws {RangeError} when the iterables differ in length.
   * @example Over two iterables
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
   * await using client = await Client.connect(cluster);
   * const add = (x: number, y: number) => x + y;
   * const sums = client.map(add, [1, 2, 3], [10, 20, 30]);
   * assert.deepEqual(await client.gather(sums), [11, 22, 33]);
   * assert.throws(() => client.map(add, [1], [2, 3]), RangeError);
   * ```
   */
  map<T, R>(
    fn: (item: T) => R,
    items: Iterable<SubmitArg<T>>,
  ): Future<Awaited<R>>[];
  /** Runs `fn(x, y, ...)` over several iterables side by side. */
  map<F extends Fn>(
    fn: F,
    ...iterables: MapIterables<Parameters<F>>
  ): Future<Awaited<ReturnType<F>>>[];
  map(fn: Fn, ...iterables: Iterable<unknown>[]): Future<unknown>[] {
    const rows = zipIterables(iterables);
    const desc = shipping().describeFunction(fn, scopeNames);
    const prefix = this.defaults.key;
    const out: Future<unknown>[] = [];
    for (let i = 0; i < rows.length; i++) {
      const key = prefix === undefined ? undefined : `${prefix}-${i}`;
      out.push(this.submitOne(fn, desc, rows[i], key));
    }
    return out;
  }

  /** Submits one call of an already described function. */
  private submitOne(
    fn: Fn,
    desc: FunctionDescription,
    args: unknown[],
    key: string | undefined,
    actor?: ActorSpec,
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
    const ctx = currentTask();
    const owner = ctx ? ctx.key : "";
    const limit = this.host.maxMessageSize;
    if (limit !== undefined && bytes.length > limit - MESSAGE_SLACK) {
      const error = new SerializationError(
        `task ${key}: its arguments are ${bytes.length} bytes encoded, over ` +
          `the ${limit}-byte message limit (less ${MESSAGE_SLACK} for the ` +
          `message around them); scatter the large value instead`,
      );
      this.dispatch({ type: "refused", key, owner, error: pack(error) });
      return this.futureOf(this.state.record(key)!, owner);
    }
    if (deps.includes(key)) {
      throw new TendrilError(
        `task ${key} cannot depend on itself: an argument is a future with ` +
          `the same key. Give the new task another key.`,
      );
    }
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
    if (opts.resources !== undefined) spec.resources = opts.resources;
    if (opts.releaseResourcesOnSecede) spec.releaseResourcesOnSecede = true;
    if (actor) spec.actor = actor;
    this.dispatch({ type: "submit", spec, owner });
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
   *
   * @throws {TimeoutError} (as a rejection) when `timeout` ms pass first.
   * @example Bounded by a timeout or a signal
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, LocalCluster, TimeoutError } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
   * await using client = await Client.connect(cluster);
   * const never = client.submit(() => new Promise<number>(() => {}));
   * await assert.rejects(client.gather([never], { timeout: 10 }), TimeoutError);
   * const stop = new AbortController();
   * const gathering = client.gather({ x: never }, { signal: stop.signal });
   * stop.abort(new Error("enough"));
   * await assert.rejects(gathering, /enough/);
   * await never.cancel();
   * ```
   */
  gather<T>(futures: T, options: AwaitOptions = {}): Promise<Gathered<T>> {
    return withDeadline(
      () => "gather()",
      options,
      (bounded) => this.gatherNow(futures, bounded),
    );
  }

  /** `gather` with the timeout folded into `options.signal`. */
  private async gatherNow<T>(
    futures: T,
    options: AwaitOptions,
  ): Promise<Gathered<T>> {
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
   * Waits until all futures are done; with `returnWhen`, until the first
   * is (`"FIRST_COMPLETED"`) or until at least `n` are (a number).
   *
   * @throws {RangeError} when `returnWhen` is a count no integer in [0, length].
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
    options: AwaitOptions & { returnWhen?: ReturnWhen } = {},
  ): Promise<WaitResult<T>> {
    const records = futures.map((f) => f.record);
    const need = countToWaitFor(options.returnWhen, records.length);
    await withDeadline(
      () => "wait()",
      options,
      (bounded) => this.settle(records, bounded, need),
    );
    return {
      done: futures.filter((f) => f.done()),
      notDone: futures.filter((f) => !f.done()),
    };
  }

  /**
   * The futures as they complete, in completion order (those done already
   * first); `add` more while iterating. With `{ withResults: true }` it
   * yields `[future, value]` pairs.
   */
  asCompleted<T>(
    futures: Iterable<Future<T>>,
    options?: { withResults?: false },
  ): AsCompleted<T>;
  /** The futures with their values, as they complete. */
  asCompleted<T>(
    futures: Iterable<Future<T>>,
    options: { withResults: true },
  ): AsCompleted<T, [Future<T>, T]>;
  asCompleted<T>(
    futures: Iterable<Future<T>>,
    options: AsCompletedOptions = {},
  ): AsCompleted<T, unknown> {
    return new AsCompleted(this, futures, options);
  }

  /**
   * Puts `values` straight into workers' data stores and gives futures on
   * them, so a large input travels once instead of inside the arguments of
   * every task that uses it. An array or a plain object scatters each
   * element (futures come back in the same shape); any other value is one.
   * `broadcast` puts a copy on every worker, `workers` restricts where.
   * A scattered value cannot be recomputed: if every worker holding it
   * dies, it and the tasks that need it err with a `LostDataError`
   * naming its key.
   *
   * @throws {TendrilError} (as a rejection) when no allowed worker is connected, or one refuses the value.
   * @example One value used by many tasks
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
   * await using client = await Client.connect(cluster);
   * const big = await client.scatter(new Float64Array(1000).fill(1));
   * const sums = client.map((xs: Float64Array, i: number) => xs[i] + i, [big, big], [0, 1]);
   * assert.deepEqual(await client.gather(sums), [1, 2]);
   * const [a, b] = await client.scatter([1, 2], { broadcast: true });
   * assert.equal(await b.result(), 2);
   * assert.equal((await client.schedulerInfo()).workers[0].heldKeys >= 2, true);
   * void a;
   * ```
   */
  async scatter<T>(
    values: T,
    options: ScatterOptions = {},
  ): Promise<Scattered<T>> {
    if (this.live.closed) throw new ClientClosedError("scatter()");
    if (!this.host.put) {
      throw new TendrilError("this client's host cannot scatter values");
    }
    const { shape, entries } = splitScattered(values);
    const packed = await Promise.all(entries.map(async ([name, value]) => {
      const bytes = pack(
        value,
        undefined,
        () =>
          shape === "one"
            ? "a scattered value"
            : `scattered value ${JSON.stringify(name)}`,
      );
      return { key: await scatterKey(bytes, name, options.key, shape), bytes };
    }));
    for (const { key, bytes } of packed) {
      checkFitsMessage(
        bytes,
        this.host.maxMessageSize,
        `cannot scatter ${key}: it`,
      );
    }
    const info = await this.schedulerInfo();
    const places = placeScattered(packed.length, info.workers, options);
    const perWorker = new Map<WorkerSummary, Record<string, Packed>>();
    packed.forEach(({ key, bytes }, i) => {
      for (const w of places[i]) {
        const batch = perWorker.get(w);
        if (batch) batch[key] = bytes;
        else perWorker.set(w, { [key]: bytes });
      }
    });
    const put = this.host.put.bind(this.host);
    const stored = await Promise.all(
      [...perWorker].map(async ([w, batch]) => {
        await put(w.address, batch);
        return w.id;
      }),
    );
    const ctx = currentTask();
    const owner = ctx ? ctx.key : "";
    this.dispatch({
      type: "scattered",
      owner,
      values: packed.map(({ key, bytes }, i) => ({
        key,
        nbytes: bytes.length,
        workers: places[i].map((w) => w.id).filter((id) => stored.includes(id)),
      })),
    });
    this.flushSoon();
    const futures = packed.map(({ key }) =>
      this.futureOf(this.state.record(key)!, owner)
    );
    // Done once the scheduler knows where they are (it answers each key).
    await this.settle(futures.map((f) => f.record));
    if (shape === "one") return futures[0] as Scattered<T>;
    if (shape === "array") return futures as Scattered<T>;
    return Object.fromEntries(
      entries.map(([name], i) => [name, futures[i]]),
    ) as Scattered<T>;
  }

  /**
   * Cancels the tasks of the futures in `futures` (a future, or futures
   * nested in arrays and plain objects), what depends on them, and what
   * they launched.
   */
  async cancel(futures: unknown): Promise<void> {
    const found: Future<unknown>[] = [];
    collectFutures(futures, found);
    await this.cancelKeys(found.map((f) => f.key));
  }

  /**
   * Runs again the tasks of the erred futures in `futures` (nested in arrays
   * and plain objects too), with the erred dependencies they failed from;
   * other futures are left alone. The futures are pending again at once.
   *
   * @example A task that fails once, retried
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
   * await using client = await Client.connect(cluster);
   * const flaky = () => {
   *   const g = globalThis as { tries?: number };
   *   g.tries = (g.tries ?? 0) + 1;
   *   if (g.tries === 1) throw new Error("first try fails");
   *   return g.tries;
   * };
   * const f = client.submit(flaky);
   * await assert.rejects(f.result(), /first try fails/);
   * client.retry([f]);
   * assert.equal(f.status, "pending");
   * assert.equal(await f.result(), 2);
   * ```
   */
  retry(futures: unknown): void {
    if (this.live.closed) throw new ClientClosedError("retry()");
    const found: Future<unknown>[] = [];
    collectFutures(futures, found);
    const keys = found.filter((f) => f.status === "error").map((f) => f.key);
    if (keys.length === 0) return;
    this.dispatch({ type: "retry", keys });
    this.flush();
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

  /**
   * Retires workers gracefully (Dask's `retire_workers`): the scheduler
   * places no more work on them, moves their unstarted work elsewhere, lets
   * their running tasks finish, copies every value only they hold to
   * another worker, then tells them to close. Nothing is lost or
   * recomputed. Resolves with the ids of the workers retired (names of no
   * connected worker are skipped); a worker process retired this way exits
   * with code 0 instead of dialling again.
   *
   * @param workers worker ids or data addresses.
   * @throws {TendrilError} when that would retire every worker (their
   *   values would have nowhere to go).
   * @example A value survives the retirement of the worker that made it
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, getWorker, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
   * await using client = await Client.connect(cluster);
   * const [first] = cluster.workerIds;
   * const made = client.with({ workers: first }).submit(() => getWorker().id);
   * await made.result();
   * assert.deepEqual(await client.retireWorkers([first]), [first]);
   * assert.deepEqual(cluster.workerIds.includes(first), false);
   * assert.equal(await made.result(), first);
   * ```
   */
  async retireWorkers(workers: string[]): Promise<string[]> {
    const answer = await this.request("retireWorkers()", {
      op: "retire-workers",
      id: 0,
      workers,
    }) as Extract<SchedulerAnswer, { op: "workers-retired" }>;
    if (answer.error !== undefined) {
      throw new TendrilError(`retireWorkers(): ${answer.error}`);
    }
    return answer.workers;
  }

  /**
   * Restarts the cluster (Dask's `restart`): every task is cancelled (the
   * futures of every client reject with a `CancelledError` saying the
   * cluster restarted) and every worker is replaced by a fresh one holding
   * nothing. Resolves once as many workers as before are back. In-process
   * clusters start new Web Workers (or processes); a `deno task worker`
   * drops everything and registers again under its name.
   *
   * @example Futures are cancelled, fresh workers take new work
   * ```ts
   * import assert from "node:assert/strict";
   * import { CancelledError, Client, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
   * await using client = await Client.connect(cluster);
   * const before = cluster.workerIds;
   * const old = client.submit((x: number) => x + 1, 1);
   * await old.result();
   * await client.restart();
   * await assert.rejects(old.result(), CancelledError);
   * assert.equal(cluster.workerIds.length, 2);
   * assert.ok(!cluster.workerIds.some((id) => before.includes(id)));
   * assert.equal(await client.submit((x: number) => x + 1, 2).result(), 3);
   * ```
   */
  async restart(): Promise<void> {
    this.flush(); // what was submitted before is cancelled too
    await this.request("restart()", { op: "restart", id: 0 });
  }

  /**
   * Publishes `value` under `name` at the scheduler (Dask's
   * `publish_dataset`): any client can then fetch it with `getDataset`.
   * The futures in `value` (itself, or nested in arrays and plain objects)
   * stay alive while it is published, even after every client released
   * them and this one left; `unpublish` lets them go.
   *
   * @throws {TendrilError} (as a rejection) when the name is taken (unless
   *   `options.override`) or a future in `value` is already released.
   * @throws {SerializationError} (as a rejection) when `value` cannot travel.
   * @example Results that outlive their client
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, type Future, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
   * {
   *   await using producer = await Client.connect(cluster);
   *   await producer.publish("squares", producer.map((x: number) => x * x, [1, 2, 3]));
   *   await assert.rejects(producer.publish("squares", []), /already published/);
   * }
   * await using consumer = await Client.connect(cluster);
   * assert.deepEqual(await consumer.listDatasets(), ["squares"]);
   * const squares = await consumer.getDataset<Future<number>[]>("squares");
   * assert.deepEqual(await consumer.gather(squares), [1, 4, 9]);
   * await consumer.unpublish("squares");
   * await assert.rejects(consumer.getDataset("squares"), /no dataset named "squares"/);
   * ```
   */
  async publish(
    name: string,
    value: unknown,
    options: PublishOptions = {},
  ): Promise<void> {
    checkDatasetName(name, "publish()");
    const keys: string[] = [];
    const bytes = pack(
      value,
      (k) => keys.push(k),
      () => `dataset ${JSON.stringify(name)}`,
    );
    checkFitsMessage(
      bytes,
      this.host.maxMessageSize,
      `dataset ${JSON.stringify(name)}`,
      "publish futures of the large values instead",
    );
    this.flush(); // the submissions of its futures reach the scheduler first
    const msg: Extract<ClientToScheduler, { op: "publish" }> = {
      op: "publish",
      id: 0,
      name,
      value: bytes,
      keys: [...new Set(keys)],
    };
    if (options.override) msg.override = true;
    datasetAnswer(await this.request("publish()", msg));
  }

  /**
   * The dataset published under `name`, with its futures now held by this
   * client (inside a task: by the task). Rejects at once when no dataset
   * has that name, unless `options.wait`: it then waits for the name to be
   * published, within `options.timeout` or `options.signal`.
   *
   * @throws {TendrilError} (as a rejection) naming a dataset not published.
   * @throws {TimeoutError} (as a rejection) when `timeout` ms pass first.
   * @example Waiting for a name another client publishes
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, type Future, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
   * await using client = await Client.connect(cluster);
   * const later = client.getDataset<{ answer: Future<number> }>("later", { wait: true, timeout: 60_000 });
   * await client.publish("later", { answer: client.submit(() => 42) });
   * assert.equal(await (await later).answer.result(), 42);
   * await assert.rejects(client.getDataset("nope"), /no dataset named "nope"/);
   * ```
   */
  getDataset<T = unknown>(
    name: string,
    options: GetDatasetOptions = {},
  ): Promise<T> {
    return withDeadline(
      () => `getDataset(${JSON.stringify(name)})`,
      options,
      (bounded) => this.getDatasetNow(name, bounded) as Promise<T>,
    );
  }

  /** `getDataset` with the timeout folded into `options.signal`. */
  private async getDatasetNow(
    name: string,
    options: GetDatasetOptions,
  ): Promise<unknown> {
    checkDatasetName(name, "getDataset()");
    const task = currentTask()?.key;
    const msg: Extract<ClientToScheduler, { op: "get-dataset" }> = {
      op: "get-dataset",
      id: 0,
      name,
    };
    if (task !== undefined) msg.owner = task;
    if (options.wait) msg.wait = true;
    // The scheduler counts us as holding the keys once it answers: an
    // answer that comes after the caller gave up is let go at once.
    let abandoned = false;
    const value = this.request("getDataset()", msg).then((answer) => {
      const bytes = datasetAnswer(answer).value!;
      if (!abandoned) return this.decodeValue(bytes);
      const keys: string[] = [];
      unpack(bytes, (key) => void keys.push(key));
      this.dispatch({ type: "unwanted", keys, owner: task ?? "" });
      this.flushSoon();
    });
    value.catch(() => {});
    try {
      if (!options.wait) {
        return await (options.signal
          ? untilAborted(value, options.signal)
          : value);
      }
      await this.waitFor(value.then(() => {}), [], {
        ...options,
        blocking: options.secede === false ? false : undefined,
      });
      return await value;
    } catch (e) {
      abandoned = true;
      throw e;
    }
  }

  /**
   * Removes the dataset `name`; its futures are let go unless someone else
   * holds them.
   *
   * @throws {TendrilError} (as a rejection) naming a dataset not published.
   */
  async unpublish(name: string): Promise<void> {
    checkDatasetName(name, "unpublish()");
    const msg = { op: "unpublish" as const, id: 0, name };
    datasetAnswer(await this.request("unpublish()", msg));
  }

  /** The names of the published datasets, sorted. */
  async listDatasets(): Promise<string[]> {
    const msg = { op: "list-datasets" as const, id: 0 };
    return datasetAnswer(await this.request("listDatasets()", msg)).names ?? [];
  }

  /**
   * @internal the scheduler runs `keys` to their end whoever lets go of
   * them (see `fireAndForget`).
   *
   * @throws {ClientClosedError} when the client is closed.
   */
  keepRunning(keys: string[]): void {
    if (this.live.closed) throw new ClientClosedError("fireAndForget()");
    this.flush(); // their submissions reach the scheduler first
    this.host.send({ op: "fire-and-forget", keys });
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
    this.failCalls(new ClientClosedError("waiting for a call"));
    this.coordination.fail();
    await this.host.close();
  }

  /**
   * Calls `fn(...args)` once on every worker, outside any task (Dask's
   * `client.run`), and resolves with each worker's value by worker id.
   * Rejects with the first error a worker threw (or a worker leaving).
   *
   * @example Asking every worker something
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
   * await using client = await Client.connect(cluster);
   * const answers = await client.run((x: number) => x * 2, 21);
   * assert.deepEqual(Object.keys(answers).sort(), [...cluster.workerIds].sort());
   * assert.deepEqual(Object.values(answers), [42, 42]);
   * ```
   */
  run<F extends Fn>(
    fn: F,
    ...args: Parameters<F>
  ): Promise<Record<string, Awaited<ReturnType<F>>>> {
    return this.call("call-on-workers", fn, args) as Promise<
      Record<string, Awaited<ReturnType<F>>>
    >;
  }

  /**
   * Calls `fn(...args)` in the scheduler's process (Dask's
   * `run_on_scheduler`). Schedulers refuse unless started with
   * `--allow-client-code` (`LocalCluster`: `allowClientCode: true`): the
   * call then rejects saying so.
   */
  async runOnScheduler<F extends Fn>(
    fn: F,
    ...args: Parameters<F>
  ): Promise<Awaited<ReturnType<F>>> {
    const values = await this.call("call-on-scheduler", fn, args);
    return values.scheduler as Awaited<ReturnType<F>>;
  }

  /** Asks for a function call and waits for the values by process. */
  private call(
    op: "call-on-workers" | "call-on-scheduler",
    fn: Fn,
    args: unknown[],
  ): Promise<Record<string, unknown>> {
    if (this.live.closed) throw new ClientClosedError(`${op}()`);
    const desc = shipping().describeFunction(fn, scopeNames);
    const bytes = pack(args, () => {
      throw new TypeError(
        "client.run() and runOnScheduler() take values, not futures",
      );
    }, () => `arguments of a call of ${fn.name || "a function"}`);
    const id = ++this.live.counter;
    const pending = Promise.withResolvers<Record<string, unknown>>();
    this.calls.set(id, pending);
    this.dispatch({
      type: "call",
      msg: { op, id, fn: desc.id, fnRef: desc.ref!, args: bytes },
    });
    this.flush();
    return pending.promise;
  }

  /** The answer to a call: its values, or the first error. */
  private callAnswered(
    msg: Extract<ClientEffect, { type: "call-result" }>["msg"],
  ): void {
    const pending = this.calls.get(msg.id);
    if (!pending) return;
    this.calls.delete(msg.id);
    try {
      const [first] = Object.values(msg.errors);
      if (first !== undefined) {
        const e = unpack(first);
        return pending.reject(e instanceof Error ? e : new Error(String(e)));
      }
      const values: Record<string, unknown> = {};
      for (const [who, bytes] of Object.entries(msg.values)) {
        values[who] = unpack(bytes);
      }
      pending.resolve(values);
    } catch (e) {
      pending.reject(e);
    }
  }

  /** Rejects every call still waiting. */
  private failCalls(error: Error): void {
    for (const pending of this.calls.values()) pending.reject(error);
    this.calls.clear();
  }

  /**
   * Constructs `new cls(...args)` on a worker and resolves with a typed
   * handle on the instance once it is constructed: every method returns a
   * promise of its result, runs on that worker (calls go to it directly,
   * not through the scheduler), and calls from one caller run in order,
   * one at a time unless `concurrency` says otherwise. Options come after
   * the constructor's arguments (see {@linkcode ActorOptions}). The actor
   * lives while a handle on it is held (handles travel in task arguments
   * and results), or until killed when it has a `name`.
   *
   * @throws the constructor's error (as a rejection), or a `TendrilError`
   * when `name` is taken by a live actor.
   * @example A counter on a worker, reached from a task
   * ```ts
   * import assert from "node:assert/strict";
   * import { type Actor, Client, LocalCluster } from "@tendril/tendril";
   * class Counter {
   *   n: number;
   *   constructor(start = 0) { this.n = start; }
   *   increment(by = 1) { return (this.n += by); }
   * }
   * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
   * await using client = await Client.connect(cluster);
   * const counter = await client.actor(Counter, 10);
   * assert.equal(await counter.increment(), 11);
   * const bump = (c: Actor<Counter>) => c.increment(5);
   * assert.equal(await client.submit(bump, counter).result(), 16);
   * const named = await client.actor(Counter, 0, { name: "hits" });
   * await named.increment();
   * const same = await client.getActor<Counter>("hits");
   * assert.equal(await same.increment(), 2);
   * await named.kill();
   * ```
   */
  async actor<C extends ActorClass>(
    cls: C,
    ...args: ActorArgs<ConstructorParameters<C>>
  ): Promise<Actor<InstanceType<C>>> {
    const [ctorArgs, options] = splitActorArgs(cls, args);
    const { name, concurrency, maxRestarts, ...placement } = options;
    const spec: ActorSpec = {};
    if (concurrency !== undefined) {
      spec.concurrency = count("concurrency", concurrency, 1);
    }
    if (maxRestarts !== undefined) {
      spec.maxRestarts = count("maxRestarts", maxRestarts, 0);
    }
    if (name !== undefined) spec.name = checkActorName(name, "an actor name");
    const view = Object.keys(placement).length > 0
      ? this.with(placement)
      : this;
    const desc = shipping().describeFunction(cls as unknown as Fn, scopeNames);
    const future = view.submitOne(
      cls as unknown as Fn,
      desc,
      ctorArgs,
      view.defaults.key,
      spec,
    );
    return await this.handleOn<InstanceType<C>>(future);
  }

  /** A handle on the actor of `future`'s task, once it is constructed. */
  private async handleOn<T>(
    future: Future<unknown>,
    options: AwaitOptions = {},
  ): Promise<Actor<T>> {
    const address = await future.result(options);
    return actorProxy<T>(new ActorLink(this, future, address as string));
  }

  /**
   * A handle on the live actor named `name` (see {@linkcode ActorOptions.name}),
   * from any client or task; `T` is its class.
   *
   * @throws {TendrilError} (as a rejection) when no live actor has that name.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, LocalCluster } from "@tendril/tendril";
   * class Box { v = 1; get() { return this.v; } }
   * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
   * await using client = await Client.connect(cluster);
   * await client.actor(Box, { name: "box" });
   * assert.equal(await (await client.getActor<Box>("box")).get(), 1);
   * await assert.rejects(client.getActor("nobody"), /no live actor is named "nobody"/);
   * ```
   */
  async getActor<T>(
    name: string,
    options: AwaitOptions = {},
  ): Promise<Actor<T>> {
    checkActorName(name, "getActor(): an actor name");
    this.flush();
    const answer = await this.request(`getActor(${JSON.stringify(name)})`, {
      op: "get-actor",
      id: 0,
      name,
    });
    const key = answer.op === "actor-key" ? answer.key : undefined;
    if (key === undefined) {
      throw new TendrilError(`no live actor is named ${JSON.stringify(name)}`);
    }
    return await this.handleOn<T>(this.holdKey(key), options);
  }

  /** @internal see `ActorClient.maxMessageSize`. */
  get maxMessageSize(): number | undefined {
    return this.host.maxMessageSize;
  }

  /** @internal see `ActorClient.callActor`. */
  callActor(
    address: string,
    key: string,
    method: string,
    args: Packed,
  ): Promise<ActorReply> {
    if (this.live.closed) {
      return Promise.reject(new ClientClosedError(`${method}() of ${key}`));
    }
    if (!this.host.callActor) {
      return Promise.reject(
        new TendrilError("this client's host cannot call actors"),
      );
    }
    return this.host.callActor(address, key, method, args);
  }

  /** @internal see `ActorClient.relocate`. */
  relocate(key: string, address: string, gone: boolean, reason: string): void {
    this.askAgain(key, gone ? [address] : [], gone ? [] : [address], reason);
  }

  /**
   * Tells the scheduler the holders of `key` it named did not have it
   * (`notHeld`) or could not be reached (`unreachable`), and asks where it
   * stands now: the record is pending until the answer.
   */
  private askAgain(
    key: string,
    notHeld: readonly string[],
    unreachable: readonly string[],
    reason: string,
  ): void {
    this.dispatch({ type: "fetch-failed", key, notHeld, unreachable, reason });
    this.flush();
  }

  /** @internal see `ActorClient.watch`. */
  watch(record: KeyRecord, fn: () => void): () => void {
    (record.waiters ??= []).push(fn);
    return () => {
      const at = record.waiters?.indexOf(fn) ?? -1;
      if (at >= 0) record.waiters!.splice(at, 1);
    };
  }

  /** @internal see `ActorClient.killActor`. */
  async killActor(key: string): Promise<void> {
    if (this.live.closed) throw new ClientClosedError("kill()");
    this.flush();
    this.host.send({ op: "kill-actor", key });
    const record = this.state.record(key);
    if (!record) return;
    // Asks where it stands, after the kill: the answer is its death.
    this.askAgain(key, [], [], "killed");
    await this.settle([record], { secede: false });
  }

  /** Closes the client at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- FutureHost -----------------------------------------------------------

  /** @internal */
  resultOf(record: KeyRecord, options: AwaitOptions = {}): Promise<unknown> {
    return withDeadline(
      () => `result() of ${record.key}`,
      options,
      (bounded) => this.resultNow(record, bounded),
    );
  }

  /** `resultOf` with the timeout folded into `options.signal`. */
  private async resultNow(
    record: KeyRecord,
    options: AwaitOptions,
  ): Promise<unknown> {
    for (;;) {
      if (record.status === "pending") await this.settle([record], options);
      const now = this.valueNow(record);
      if (now) return now.value;
      try {
        const fetching = this.host.fetch(record.key, record.who ?? []);
        const bytes = await (options.signal
          ? untilAborted(fetching, options.signal)
          : fetching);
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
        this.askAgain(record.key, e.notHeld, e.unreachable, e.message);
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

  /** @internal decodes bytes, turning key references into futures (and actor references into handles) held for `owner`. */
  decodeValue(
    bytes: Packed,
    owner: string = currentTask()?.key ?? "",
  ): unknown {
    return unpack(bytes, (key, actor) => {
      const future = this.holdKey(key, owner);
      return actor ? actorProxy(new ActorLink(this, future)) : future;
    });
  }

  /**
   * A new future on `key`, held by `owner`: by default the current task
   * or, outside one, this client.
   */
  private holdKey(
    key: string,
    owner: string = currentTask()?.key ?? "",
  ): Future<unknown> {
    this.dispatch({ type: "hold", key, owner });
    // Sent soon, not at the next submission: until the scheduler has it,
    // it sends no news of the key here (a task calling an actor it was
    // given would not hear of the actor's end).
    this.flushSoon();
    return this.futureOf(this.state.record(key)!, owner);
  }

  /**
   * @internal a handle, held by `owner` (a task, or "" for this client
   * while the handle is referenced), on the actor of `key` known to live at
   * `address` (an actor passed to a task as an argument).
   */
  actorFor(key: string, address: string, owner: string): Actor<unknown> {
    const future = this.holdKey(key, owner);
    return actorProxy(new ActorLink(this, future, address));
  }

  /** @internal the value a task threw, as thrown (not always an `Error`). */
  errorOf(record: KeyRecord): unknown {
    return unpack(record.error!);
  }

  /** @internal */
  async cancelKeys(keys: string[]): Promise<void> {
    this.dispatch({ type: "cancel", keys });
    this.flush();
    const records = keys.map((k) => this.state.record(k)).filter((r) =>
      r !== undefined
    );
    await this.settle(records, { secede: false, blocking: false });
  }

  /** @internal */
  dropHolder(record: KeyRecord, owner: string, token: object): void {
    if (owner === "") this.finalizer.unregister(token);
    this.dispatch({ type: "drop", key: record.key, owner });
    this.flushSoon();
  }

  /**
   * @internal waits until no record is pending (with `need`: until at most
   * `records.length - need` are). Inside a task it secedes for the wait
   * (or, opted out, reports the task blocked so a deadlock is diagnosed
   * instead of hanging). Bounded by `options.signal`; `options.timeout`
   * is for the public callers, which fold it into the signal.
   */
  async settle(
    records: KeyRecord[],
    options: AwaitOptions & { blocking?: boolean } = {},
    need: number = records.length,
  ): Promise<void> {
    const pending = records.filter((r) => r.status === "pending");
    let left = need - (records.length - pending.length);
    if (left <= 0 || this.live.closed) return;
    this.flush();
    const some = new Promise<void>((resolve) => {
      const one = () => --left === 0 && resolve();
      for (const r of pending) this.whenSettled(r, one);
    });
    await this.waitFor(some, pending, options);
  }

  /**
   * @internal awaits `until`, which ends when keys of `pending` settle:
   * inside a task it secedes for the wait (or reports the task blocked).
   */
  async waitFor(
    until: Promise<void>,
    pending: KeyRecord[],
    options: AwaitOptions & { blocking?: boolean },
  ): Promise<void> {
    let all: Promise<unknown> = options.signal
      ? untilAborted(until, options.signal)
      : until;
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

  /** @internal calls `fn` once the record leaves "pending". */
  whenSettled(record: KeyRecord, fn: () => void): void {
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
    this.coordination.taskEnded(task);
    const keys = this.taskKeys.get(task);
    if (!keys) return;
    this.taskKeys.delete(task);
    this.dispatch({ type: "task-ended", task, keys });
  }

  /** Hands an event to the state machine and carries out its effects. */
  private dispatch(event: ClientEvent): void {
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
        case "call-result":
          this.callAnswered(effect.msg);
          break;
        case "coordination":
          this.coordination.receive(effect.msg);
          break;
        case "warning":
          console.warn(`tendril: ${effect.message}`);
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
    this.dispatch(FLUSH);
  }
}

/** A class whose instances can be actors. */
// deno-lint-ignore no-explicit-any
export type ActorClass = new (...args: any[]) => object;

/**
 * `client.actor()`'s arguments after the class: the constructor's (each may
 * be a future of its type), then optionally {@linkcode ActorOptions}.
 */
export type ActorArgs<P extends readonly unknown[]> =
  | SubmitArgs<P>
  | [...SubmitArgs<P>, ActorOptions];

/** `value` as a whole number of at least `least`, or a RangeError naming `what`. */
function count(what: string, value: number, least: number): number {
  if (!Number.isInteger(value) || value < least) {
    throw new RangeError(
      `${what} must be a whole number of at least ${least}, got ${value}`,
    );
  }
  return value;
}

/** Options of {@linkcode Client.connect}. */
export interface ConnectOptions {
  /**
   * Print what tasks of this client's trees print (`console.log` and
   * friends inside them), prefixed with the task's key and worker
   * (default true).
   */
  taskOutput?: boolean;
  /**
   * Over TCP: the largest message sent or accepted, in bytes (default
   * 2 GiB - 1). A task whose arguments do not fit errs alone with a
   * `SerializationError`; the connection stays up.
   */
  maxMessageSize?: number;
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
/** One iterable per parameter of a function mapped with `Client.map`. */
export type MapIterables<A extends readonly unknown[]> = {
  [K in keyof A]: Iterable<SubmitArg<A[K]>>;
};

/**
 * The rows of `iterables` side by side (`[x0, y0], [x1, y1], ...`).
 *
 * @throws {RangeError} when they differ in length, or there are none.
 */
function zipIterables(iterables: Iterable<unknown>[]): unknown[][] {
  if (iterables.length === 0) {
    throw new RangeError("map() needs at least one iterable of arguments");
  }
  const columns = iterables.map((it) => Array.isArray(it) ? it : [...it]);
  const n = columns[0].length;
  if (columns.some((c) => c.length !== n)) {
    throw new RangeError(
      `map() needs iterables of one length, got lengths ${
        columns.map((c) => c.length).join(", ")
      }`,
    );
  }
  if (columns.length === 1) return columns[0].map((x) => [x]);
  return Array.from({ length: n }, (_, i) => columns.map((c) => c[i]));
}

/** How many of `n` futures `wait` waits for, given its `returnWhen`. */
function countToWaitFor(returnWhen: ReturnWhen | undefined, n: number): number {
  if (returnWhen === undefined || returnWhen === "ALL_COMPLETED") return n;
  if (returnWhen === "FIRST_COMPLETED") return Math.min(1, n);
  if (!Number.isInteger(returnWhen) || returnWhen < 0 || returnWhen > n) {
    throw new RangeError(
      `wait() returnWhen must be "ALL_COMPLETED", "FIRST_COMPLETED" or a ` +
        `count in [0, ${n}], got ${JSON.stringify(returnWhen)}`,
    );
  }
  return returnWhen;
}

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
