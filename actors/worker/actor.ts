/**
 * The worker actor: a thin shell around {@linkcode WorkerState} that runs
 * task functions (in their AsyncLocalStorage context), fetches dependency
 * values from peers, serves its values, and hosts the worker's one shared
 * client. Everything it observes becomes an event for the state machine,
 * handled one at a time in order; the effects come back as work to do.
 * Transport-agnostic: it is handed a scheduler connection and a way to reach
 * peers by address.
 *
 * @module
 */

import { pack, type Packed, unpack } from "../../runtime/codec/packed.ts";
import { CancelledError, describeThrown } from "../../runtime/errors.ts";
import { loadShipping, type Shipping } from "../../runtime/shipping/lazy.ts";
import type { CodePackage } from "../../runtime/shipping/code_package.ts";
import type { CodeSource } from "../../runtime/shipping/load.ts";
import { validateFromEnv } from "../../runtime/validate_env.ts";
import type { Connection } from "../../runtime/wire/transport.ts";
import { Client } from "../client/client.ts";
import type { ClientHost } from "../client/types.ts";
import {
  checkFitsMessage,
  type DepLocation,
  isForClient,
  type SchedulerToClient,
  type ToScheduler,
  type ToWorkerConnection,
} from "../protocol.ts";
import {
  runInActorCall,
  runInTask,
  RunningTask,
  type TaskContext,
  type WorkerRuntime,
} from "../task/context.ts";
import {
  callActorAt,
  DataPeer,
  fetchFromHolders,
  requestFrom,
  type RetryOptions,
} from "./data_peer.ts";
import { HostedActors } from "./hosted_actors.ts";
import {
  type Stored,
  type WorkerEffect,
  type WorkerEvent,
  WorkerState,
} from "./state.ts";
import { captureTaskOutput } from "./task_output.ts";
import { USAGE_INTERVAL_MS, UsageSampler } from "./usage.ts";

/** The transport interface, re-exported because {@linkcode WorkerOptions} names it. */
export type { Connection };

/** Epoch milliseconds, with the sub-millisecond precision of `performance.now()`. */
const epochNow = (): number => performance.timeOrigin + performance.now();

/** Results up to this many encoded bytes travel inline with task-finished. */
export const INLINE_LIMIT = 8 * 1024;

/** How a worker is wired to the world. */
export interface WorkerOptions {
  /** Its id. */
  id: string;
  /** Tasks it runs at once. */
  slots: number;
  /** Its data address, as peers and clients reach it. */
  address: string;
  /** The connection to the scheduler. */
  scheduler: Connection<ToWorkerConnection, ToScheduler>;
  /** Opens a data connection to a peer's address. */
  connect(address: string): Promise<Connection<unknown, unknown>>;
  /** Retries of a peer that cannot be reached. */
  retry?: RetryOptions;
  /** Check the state machine's invariants after every event (default: `TENDRIL_VALIDATE=1`). */
  validate?: boolean;
  /**
   * Where to keep the code packages of clients' modules (fetched through
   * the scheduler on first use). Absent: client modules are imported by
   * their URL, which needs the client's files at the same path here.
   */
  codeCache?: { dir: string; maxBytes?: number };
  /**
   * Also print what tasks print here (default true: a worker process's
   * terminal). Task output goes to the scheduler either way.
   */
  echoTaskOutput?: boolean;
  /**
   * The largest message its connections carry (TCP): a result that could
   * not leave the worker under it errs its task with a SerializationError.
   */
  maxMessageSize?: number;
}

/** A loaded task function. */
type Task = (...args: unknown[]) => unknown;

/**
 * A worker: executes what the scheduler sends it. (Named `WorkerActor` so
 * it does not shadow the global `Worker` of Web Workers.)
 *
 * @example A compute of an unknown function errs
 * ```ts
 * import assert from "node:assert/strict";
 * import { localPair } from "../../runtime/wire/local.ts";
 * import { WorkerActor } from "./actor.ts";
 * const [toScheduler, fromWorker] = localPair("w1", "scheduler");
 * const sent = new Promise((r) => fromWorker.onMessages(r));
 * const worker = new WorkerActor({
 *   id: "w1",
 *   slots: 1,
 *   address: "inproc://w1",
 *   scheduler: toScheduler as never,
 *   connect: () => Promise.reject(new Error("no peers")),
 * });
 * fromWorker.send({ op: "compute", key: "a", run: 1, fn: "f", args: "\x90", rank: 0 } as never);
 * // `f` was never defined: the run errs, and the worker says so.
 * assert.equal(((await sent) as { op: string }[])[0].op, "task-erred");
 * worker.close();
 * toScheduler.close();
 * ```
 */
export class WorkerActor implements WorkerRuntime {
  /** Its id. */
  readonly id: string;
  /** Its slot budget. */
  readonly slots: number;
  /** Its data address. */
  readonly address: string;
  /** The worker's one shared client (what `getClient()` returns in its tasks). */
  readonly client: Client;
  /** The state machine. */
  readonly core: WorkerState;
  /** The connection to the scheduler. */
  private readonly scheduler: Connection<ToWorkerConnection, ToScheduler>;
  /** Opens a data connection to a peer's address. */
  private readonly connect: (
    address: string,
  ) => Promise<Connection<unknown, unknown>>;
  /** Retries of a peer that cannot be reached. */
  private readonly retry: RetryOptions | undefined;
  /** Loaded task functions, by function id. */
  private readonly fns = new Map<string, Task>();
  /** Task functions being loaded, by function id. */
  private readonly loading = new Map<string, Promise<Task>>();
  /** Contexts of the runs whose functions were called and have not ended, by key. */
  private readonly running = new Map<string, RunningTask>();
  /** When running tasks seceded and rejoined (epoch-ms pairs), by key. */
  private readonly seceded = new Map<string, number[]>();
  /**
   * When each running task started (performance.now()), dropped when it
   * secedes: its duration, reported with its result, is learned per function.
   */
  private readonly startedAt = new Map<string, number>();
  /** Resolvers of pending `rejoin()` calls, by task key. */
  private readonly rejoins = new Map<string, () => void>();
  /** The actors this worker hosts, and their method calls. */
  readonly actors: HostedActors;
  /**
   * Tasks sent here that construct an actor (from their compute message),
   * by key, until their run ends.
   */
  private readonly actorTasks = new Map<string, { concurrency: number }>();
  /** Data connections to peers, by address (dialled on first use). */
  private readonly peers = new Map<string, Promise<DataPeer>>();
  /** Events waiting to be handled, in order. */
  private readonly events: WorkerEvent[] = [];
  /**
   * Why the scheduler told this worker to close (it then closed the
   * connection itself), or undefined: a retired worker stops for good; a
   * restarted one, or one that lost its scheduler, may dial again.
   */
  retired: "retired" | "restart" | undefined;
  /** Where the shared client takes the scheduler's messages for clients. */
  private clientHandler: ((msg: SchedulerToClient) => void) | null = null;
  /** Stops catching what this worker's tasks print. */
  private readonly stopCapture: () => void;
  /** Sends the worker's use of its machine every few seconds. */
  private readonly usageTimer: ReturnType<typeof setInterval>;
  /** True while `post` is handling events (a nested post only queues). */
  private handling = false;
  private readonly received: WorkerEvent & { type: "message" } = {
    type: "message",
    msg: undefined as never,
  };
  /** Where code packages are kept, if this worker takes them. */
  private readonly codeCache: WorkerOptions["codeCache"];
  /** See {@linkcode WorkerOptions.maxMessageSize}. */
  private readonly maxMessageSize: number | undefined;
  /** The cache, once function shipping is loaded. */
  private code: CodeSource | undefined;
  /** Code packages asked of the scheduler, by id. */
  private readonly codeRequests = new Map<
    string,
    PromiseWithResolvers<CodePackage>
  >();

  /** Wires a worker; it starts handling the scheduler's messages at once. */
  constructor(options: WorkerOptions) {
    this.id = options.id;
    this.maxMessageSize = options.maxMessageSize;
    this.slots = options.slots;
    this.address = options.address;
    this.scheduler = options.scheduler;
    this.connect = options.connect;
    this.retry = options.retry;
    this.codeCache = options.codeCache;
    this.core = new WorkerState(
      options.slots,
      options.validate ?? validateFromEnv(),
    );
    this.actors = new HostedActors({
      decode: (args) => this.client.decodeValue(args),
      encodeValue: (value, what) => {
        const bytes = pack(value, undefined, what);
        // An answer too big to travel is the call's error, not a closed
        // connection failing the caller's other calls.
        checkFitsMessage(bytes, this.maxMessageSize, what);
        return bytes;
      },
      encodeError: (error) => {
        const bytes = encodeError(error);
        try {
          checkFitsMessage(bytes, this.maxMessageSize, "the error thrown");
          return bytes;
        } catch (tooBig) {
          // Its beginning, in an error that travels.
          (tooBig as Error).message += `: ${String(error).slice(0, 200)}...`;
          return encodeError(tooBig);
        }
      },
      run: (fn) => runInActorCall(this, fn),
    });
    const host: ClientHost = {
      id: this.id,
      // A task may submit after the scheduler is gone: its futures are
      // settled by the loss, and the send must not throw into the task.
      send: (msg) => {
        if (!this.scheduler.closed) this.scheduler.send(msg);
      },
      maxMessageSize: options.maxMessageSize,
      fetch: (key, who) => this.fetchValue(key, who),
      put: (address, values) =>
        address === this.address
          ? Promise.resolve(this.accept(values))
          : this.peer(address).then((p) => p.put(values)),
      callActor: (address, key, method, args) =>
        address === this.address
          ? this.actors.call({ op: "actor-call", id: 0, key, method, args })
          : callActorAt(address, key, method, args, (a) => this.peer(a)),
      listen: (handler, lost) => {
        this.clientHandler = handler;
        this.scheduler.onClose(() =>
          lost(`cancelled: worker ${this.id} lost the scheduler`)
        );
      },
      close: () => Promise.resolve(),
    };
    this.client = new Client(host, true);
    this.stopCapture = captureTaskOutput(this, {
      send: (line) => {
        if (!this.scheduler.closed) {
          this.scheduler.send({ op: "task-output", lines: [line] });
        }
      },
      echo: options.echoTaskOutput ?? true,
    });
    const sampler = new UsageSampler();
    this.usageTimer = setInterval(() => {
      if (this.scheduler.closed) return;
      this.scheduler.send({ op: "worker-usage", ...sampler.sample() });
    }, USAGE_INTERVAL_MS);
    this.client.localValue = (key) => this.core.data.get(key);
    this.scheduler.onMessages((batch) => {
      for (const msg of batch) {
        if (isForClient(msg)) {
          this.clientHandler?.(msg);
          continue;
        }
        if (msg.op === "code-reply") {
          this.codeReply(msg);
          continue;
        }
        if (msg.op === "compute" && msg.actor) {
          this.actorTasks.set(msg.key, msg.actor);
        } else if (msg.op === "free" && this.actors.size > 0) {
          // A freed actor's instance goes with its value.
          for (const key of msg.keys) this.actors.drop(key);
        }
        // Batches arrive between events, so one event object serves
        // them all (a fresh one if ever delivered while handling).
        if (this.handling) this.post({ type: "message", msg });
        else {
          this.received.msg = msg;
          this.post(this.received);
        }
      }
    });
  }

  /** Asks the scheduler for code package `id`. */
  private fetchPackage(id: string): Promise<CodePackage> {
    let request = this.codeRequests.get(id);
    if (!request) {
      request = Promise.withResolvers<CodePackage>();
      this.codeRequests.set(id, request);
      this.scheduler.send({ op: "code-request", id });
    }
    return request.promise;
  }

  /** Settles the request a code-reply answers. */
  private codeReply(msg: Extract<ToWorkerConnection, { op: "code-reply" }>) {
    const request = this.codeRequests.get(msg.id);
    if (!request) return;
    this.codeRequests.delete(msg.id);
    if (msg.package) request.resolve(msg.package);
    else request.reject(new Error(msg.error ?? "no package"));
  }

  /** The code cache, made on first use (function shipping is loaded by then). */
  private codeSource(shipping: Shipping): CodeSource | undefined {
    if (!this.codeCache) return undefined;
    return this.code ??= new shipping.CodeCache(
      this.codeCache.dir,
      (id) => this.fetchPackage(id),
      this.codeCache.maxBytes,
      ({ id, fetchMs, writeMs }) =>
        console.error(
          fetchMs === 0
            ? `tendril: worker ${this.id}: code package ${id} found in ${
              this.codeCache!.dir
            }`
            : `tendril: worker ${this.id}: code package ${id} fetched in ${
              fetchMs.toFixed(1)
            } ms, written in ${writeMs.toFixed(1)} ms`,
        ),
    );
  }

  /** Serves this worker's values to a peer or client on `conn`. */
  serve(conn: Connection<unknown, unknown>, peerAddress?: string): DataPeer {
    const peer = new DataPeer(
      conn,
      (keys) => {
        const values: Record<string, Packed> = {};
        for (const key of keys) {
          const stored = this.core.data.get(key);
          if (stored) values[key] = stored.bytes;
        }
        return values;
      },
      (values) => this.accept(values),
      (call) => this.actors.call(call),
    );
    if (peerAddress) this.peers.set(peerAddress, Promise.resolve(peer));
    return peer;
  }

  /**
   * Stores values a client scattered here: decoded first, so a value that
   * cannot be decoded is refused whole (the put's answer says why).
   */
  private accept(values: Record<string, Packed>): string[] {
    const given = new Map<string, Stored>();
    for (const [key, bytes] of Object.entries(values)) {
      given.set(key, { value: this.client.decodeValue(bytes), bytes });
    }
    this.post({ type: "given", values: given });
    return [...given.keys()];
  }

  /** Hands a scheduler-to-client message to this worker's in-task client. */
  toClient(msg: SchedulerToClient): void {
    this.clientHandler?.(msg);
  }

  /** Hands an event to the state machine; events are handled one at a time, in order. */
  private post(event: WorkerEvent): void {
    if (this.handling) return void this.events.push(event);
    this.handling = true;
    try {
      // Effects may post events (a decoded value, say): they queue up and
      // are handled after the current one, in order.
      for (let e: WorkerEvent | undefined = event; e; e = this.events.shift()) {
        for (const effect of this.core.handle(e)) this.apply(effect);
      }
    } finally {
      this.handling = false;
    }
  }

  /** Carries out one effect of the state machine. */
  private apply(effect: WorkerEffect): void {
    switch (effect.type) {
      case "send":
        if (!this.scheduler.closed) this.scheduler.send(effect.msg);
        return;
      case "execute":
        return this.execute(effect);
      case "call":
        return void this.callFunction(effect.id, effect.fn, effect.args);
      case "acquire":
        return void this.acquire(effect.deps);
      case "close":
        this.retired = effect.reason;
        return this.scheduler.close();
      case "fetch":
        return void this.fetch(effect.from, effect.keys);
      case "abort":
        return this.running.get(effect.key)?.abort(
          new CancelledError(effect.key, effect.reason),
        );
      case "rejoined": {
        const times = this.seceded.get(effect.key);
        if (times && times.length % 2 === 1) times.push(epochNow());
        const resolve = this.rejoins.get(effect.key);
        this.rejoins.delete(effect.key);
        return resolve?.();
      }
      case "decode": {
        const { key, run, dep } = effect;
        let value: unknown;
        try {
          value = this.client.decodeValue(effect.bytes);
        } catch (e) {
          return this.post({
            type: "decode-failed",
            key,
            run,
            error: encodeError(e),
          });
        }
        return this.post({ type: "decoded", key, dep, value });
      }
    }
  }

  // ---- WorkerRuntime ------------------------------------------------------

  /** Releases the slot of task `key` (see `secede()`). */
  secede(key: string): void {
    if (this.running.has(key)) {
      let times = this.seceded.get(key);
      if (!times) this.seceded.set(key, times = []);
      if (times.length % 2 === 0) times.push(epochNow());
    }
    this.startedAt.delete(key);
    this.post({ type: "secede", key });
  }

  /** Resolves once task `key` holds a slot again (see `rejoin()`). */
  rejoin(key: string): Promise<void> {
    return new Promise((resolve) => {
      this.rejoins.set(key, resolve);
      this.post({ type: "rejoin", key });
    });
  }

  // ---- execution ----------------------------------------------------------

  /** Runs a task's function, loading it first if this worker has not yet. */
  private execute(run: Extract<WorkerEffect, { type: "execute" }>): void {
    const fn = this.fns.get(run.fn);
    if (fn) return this.call(run, fn);
    this.load(run.fn).then(
      (fn) => {
        // Cancelled while its function loaded: it never starts.
        if (this.core.statusOf(run.key) !== "cancelled") {
          return this.call(run, fn);
        }
        const error = new CancelledError(
          run.key,
          "cancelled before it started",
        );
        this.settle(run.key, run.run, error, false);
      },
      (e) => this.settle(run.key, run.run, e, false),
    );
  }

  /**
   * The function `id`, loaded once from the definition the scheduler sent
   * (a failed load is tried again next time).
   */
  private load(id: string): Promise<Task> {
    let loading = this.loading.get(id);
    if (!loading) {
      const ref = this.core.functionRef(id);
      if (!ref) {
        return Promise.reject(
          new Error(`worker ${this.id} has no definition of function ${id}`),
        );
      }
      loading = loadTask(id, ref, (s) => this.codeSource(s)).then((task) => {
        this.fns.set(id, task);
        return task;
      });
      this.loading.set(id, loading);
      loading.catch(() => this.loading.delete(id));
    }
    return loading;
  }

  /**
   * Calls `fn` in the run's task context with its decoded arguments
   * (dependencies replaced by their values) and settles the run when it
   * returns, throws, or its promise settles.
   */
  private call(
    run: Extract<WorkerEffect, { type: "execute" }>,
    fn: Task,
  ): void {
    const { key, deps } = run;
    const ctx = new RunningTask(key, run.run, this);
    this.running.set(key, ctx);
    this.startedAt.set(key, performance.now());
    let result: unknown;
    const start = epochNow();
    const actor = this.actorTasks.get(key);
    try {
      const args = unpack(
        run.args,
        deps
          ? (k, isActor) =>
            // An actor argument: a handle held by this task (by the worker,
            // for as long as it is referenced, when the task constructs an
            // actor that may keep it), the dependency's value being where
            // the actor lives.
            isActor
              ? this.client.actorFor(k, deps.get(k) as string, actor ? "" : key)
              : deps.get(k)
          : undefined,
      );
      if (actor) {
        // An actor's task constructs it; its value is where it lives. The
        // constructor runs as the actor's methods do: what it submits or
        // gets is held while referenced, not only until its task ends.
        const instance = runInActorCall(
          this,
          () => Reflect.construct(fn, args as unknown[]) as object,
        );
        this.actors.host(key, instance, actor.concurrency);
        result = this.address;
      } else result = runInTask(ctx, () => fn(...(args as unknown[])));
    } catch (e) {
      return this.settle(key, run.run, e, false, start);
    }
    if (result instanceof Promise) {
      // A stray error of the task may have ended the run first (see
      // `strayError`): then its late outcome is dropped.
      result.then(
        (v) =>
          this.running.get(key) === ctx &&
          this.settle(key, run.run, v, true, start),
        (e) =>
          this.running.get(key) === ctx &&
          this.settle(key, run.run, e, false, start),
      );
    } else this.settle(key, run.run, result, true, start);
  }

  /**
   * A run ended with `value` (`ok`) or with the error `value`: its futures are
   * released, the result is encoded, and the state machine is told. A result
   * that cannot be encoded makes the run err. `start` is when the function
   * was called (epoch ms), when it was.
   */
  private settle(
    key: string,
    run: number,
    value: unknown,
    ok: boolean,
    start?: number,
  ): void {
    const stop = start === undefined ? undefined : epochNow();
    const seceded = this.seceded.get(key);
    this.seceded.delete(key);
    if (seceded && seceded.length % 2 === 1) seceded.push(stop ?? epochNow());
    // A run of a key starts only after the previous run of it ended (the
    // machine defers it): the key names this run.
    this.running.delete(key);
    this.actorTasks.delete(key);
    const started = this.startedAt.get(key);
    this.startedAt.delete(key);
    this.client.endTask(key);
    let event: WorkerEvent;
    if (ok) {
      let refs: string[] | undefined;
      try {
        const bytes = pack(
          value,
          (k) => void (refs ??= []).push(k),
          () => `result of task ${key}`,
        );
        checkFitsMessage(
          bytes,
          this.maxMessageSize,
          `the result of task ${key}`,
          `it could never leave worker ${this.id}`,
        );
        event = {
          type: "returned",
          key,
          run,
          value,
          bytes,
          inline: bytes.length <= INLINE_LIMIT,
          refs,
          start,
          stop,
          seceded,
        };
        if (started !== undefined) event.ms = performance.now() - started;
      } catch (e) {
        event = {
          type: "threw",
          key,
          run,
          error: encodeError(e),
          start,
          stop,
          seceded,
        };
      }
    } else {
      event = {
        type: "threw",
        key,
        run,
        error: encodeError(value),
        start,
        stop,
        seceded,
      };
    }
    this.client.flush();
    this.post(event);
  }

  // ---- data ---------------------------------------------------------------

  /** The data connection to the peer at `address`, dialled on first use and after it closes. */
  private peer(address: string): Promise<DataPeer> {
    let peer = this.peers.get(address);
    if (!peer) {
      peer = this.connect(address).then((conn) => {
        // A peer that went away is dialled afresh next time.
        conn.onClose(() => {
          if (this.peers.get(address) === peer) this.peers.delete(address);
        });
        return this.serve(conn);
      });
      this.peers.set(address, peer);
      peer.catch(() => {
        if (this.peers.get(address) === peer) this.peers.delete(address);
      });
    }
    return peer;
  }

  /** Fetches `keys` from the peer at `from` and tells the state machine how it went. */
  private async fetch(from: string, keys: string[]): Promise<void> {
    let event: WorkerEvent;
    try {
      const reply = await requestFrom(
        from,
        keys,
        (a) => this.peer(a),
        this.retry,
      );
      const values = new Map<string, unknown>();
      for (const [key, bytes] of Object.entries(reply.values)) {
        values.set(key, this.client.decodeValue(bytes));
      }
      event = { type: "fetched", from, values, missing: reply.missing };
    } catch (e) {
      event = {
        type: "fetch-failed",
        from,
        keys,
        reason: (e as Error)?.message ?? String(e),
      };
    }
    this.post(event);
  }

  /** The shared client's fetch: a value held here, else from its holders `who`. */
  private fetchValue(key: string, who: string[]): Promise<Packed> {
    const local = this.core.data.get(key);
    if (local) return Promise.resolve(local.bytes);
    return fetchFromHolders(key, who, (a) => this.peer(a), this.retry);
  }

  /**
   * An error no task awaited (see `stray_errors.ts`). Raised by a task still
   * running, it ends that run with the error; otherwise it is logged with
   * the task that raised it, and the worker goes on either way.
   */
  strayError(error: unknown, task: TaskContext | undefined): void {
    if (task && this.running.get(task.key) === task) {
      return this.settle(task.key, task.run, error, false);
    }
    const where = task ? `task ${task.key} (ended before it)` : "no known task";
    console.error(
      `tendril: worker ${this.id}: uncaught error from ${where}: ${
        (error as Error)?.stack ?? describeThrown(error)
      }`,
    );
  }

  /** Forgets the peer at `address` (it left): its pending requests fail at once. */
  dropPeer(address: string): void {
    const peer = this.peers.get(address);
    this.peers.delete(address);
    peer?.then((p) => p.close(), () => {});
  }

  /** Fetches values a retiring worker holds, to keep them here, and reports which came. */
  private async acquire(deps: DepLocation[]): Promise<void> {
    const values = new Map<string, Stored>();
    const missing: string[] = [];
    await Promise.all(deps.map(async ({ key, who }) => {
      try {
        const bytes = await fetchFromHolders(
          key,
          who ?? [],
          (a) => this.peer(a),
          this.retry,
        );
        values.set(key, { value: this.client.decodeValue(bytes), bytes });
      } catch {
        missing.push(key);
      }
    }));
    this.post({ type: "acquired", values, missing });
  }

  /** Calls function `fn` (for `client.run`) outside any task and reports how it went. */
  private async callFunction(
    id: number,
    fn: string,
    args: Packed,
  ): Promise<void> {
    let event: WorkerEvent;
    try {
      const task = await this.load(fn);
      const value = await task(...(unpack(args) as unknown[]));
      event = { type: "called", id, value: pack(value) };
    } catch (e) {
      event = { type: "called", id, error: encodeError(e) };
    }
    this.post(event);
  }

  /** Stops serving: closes peer connections, aborts running tasks. */
  close(): void {
    this.stopCapture();
    clearInterval(this.usageTimer);
    for (const peer of this.peers.values()) {
      peer.then((p) => p.close(), () => {});
    }
    this.peers.clear();
    for (const task of this.running.values()) {
      task.abort(new Error("worker closing"));
    }
    for (const request of this.codeRequests.values()) {
      request.reject(new Error("worker closing"));
    }
    this.codeRequests.clear();
  }
}

/**
 * Loads a task function. Function shipping and the task scope are imported
 * here, on first use, so a worker is ready before their import finishes.
 */
async function loadTask(
  id: string,
  ref: NonNullable<ReturnType<WorkerState["functionRef"]>>,
  codeSource: (shipping: Shipping) => CodeSource | undefined,
): Promise<Task> {
  const shipping = await loadShipping();
  const { taskScope, wrapTask } = await import("../task/delayed.ts");
  const fn = await shipping.loadFunction({ id, ref }, taskScope(), {
    wrap: wrapTask,
    code: codeSource(shipping),
  });
  // A delayed wrapper runs the function it wraps.
  const inner = (fn as unknown as Record<symbol, unknown>)[
    Symbol.for("tendril.wrapped")
  ];
  return (typeof inner === "function" ? inner : fn) as Task;
}

/**
 * Encodes a thrown value as it was thrown (an `Error`, or any value: a
 * thrown `{ code: 42 }` arrives as that object); what cannot travel becomes
 * an `Error` that keeps its name, message and stack, or describes it.
 */
export function encodeError(e: unknown): Packed {
  try {
    return pack(e);
  } catch {
    if (!(e instanceof Error)) {
      return pack(new Error(`a task threw ${describeThrown(e)}`));
    }
    const copy = new Error(e.message);
    copy.name = e.name;
    copy.stack = e.stack;
    return pack(copy);
  }
}
