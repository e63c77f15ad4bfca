/**
 * The worker actor: a thin shell around {@linkcode WorkerState} that runs
 * task functions (in their AsyncLocalStorage context), fetches dependency
 * values from peers, serves its values, and hosts the worker's one shared
 * client. Transport-agnostic: it is handed a scheduler connection and a way
 * to reach peers by address.
 *
 * @module
 */

import { pack, type Packed, unpack } from "../../runtime/codec/packed.ts";
import type { FunctionDescription } from "../../runtime/shipping/describe.ts";
import type { Connection } from "../../runtime/wire/transport.ts";
import { loadShipping } from "../../runtime/shipping/lazy.ts";
import { Client, type ClientHost } from "../client/client.ts";
import { DataPeer, fetchFromHolders } from "./data_peer.ts";
import { CancelledError } from "../../runtime/errors.ts";
import type {
  SchedulerToClient,
  ToScheduler,
  ToWorkerConnection,
} from "../protocol.ts";
import { runInTask, RunningTask, type WorkerRuntime } from "../task/context.ts";
import { type WorkerEffect, WorkerState, type WorkerTask } from "./state.ts";

/** Results up to this many encoded bytes travel inline with task-finished. */
export const INLINE_LIMIT = 8 * 1024;

/** How a worker is wired to the world. */
export interface WorkerOptions {
  id: string;
  slots: number;
  /** Its data address, as peers and clients reach it. */
  address: string;
  /** The connection to the scheduler. */
  scheduler: Connection<ToWorkerConnection, ToScheduler>;
  /** Opens a data connection to a peer's address. */
  connect(address: string): Promise<Connection<unknown, unknown>>;
}

type Task = (...args: unknown[]) => unknown;

/**
 * A worker: executes what the scheduler sends it.
 *
 * @example
 * ```ts
 * import { Worker } from "./actor.ts";
 * console.assert(typeof Worker === "function");
 * ```
 */
export class Worker implements WorkerRuntime {
  readonly id: string;
  readonly slots: number;
  readonly address: string;
  readonly client: Client;
  readonly core: WorkerState;
  private readonly scheduler: Connection<ToWorkerConnection, ToScheduler>;
  private readonly connect: (
    address: string,
  ) => Promise<Connection<unknown, unknown>>;
  private readonly fns = new Map<string, Task>();
  private readonly loading = new Map<string, Promise<Task>>();
  private readonly running = new Map<string, RunningTask>();
  private readonly rejoins = new Map<string, () => void>();
  private readonly peers = new Map<string, Promise<DataPeer>>();
  private clientHandler: ((msg: SchedulerToClient) => void) | null = null;
  private pumping = false;

  constructor(options: WorkerOptions) {
    this.id = options.id;
    this.slots = options.slots;
    this.address = options.address;
    this.scheduler = options.scheduler;
    this.connect = options.connect;
    this.core = new WorkerState(options.slots);
    const host: ClientHost = {
      id: this.id,
      send: (msg) => this.scheduler.send(msg),
      fetch: (key, who) => this.fetchValue(key, who),
      listen: (handler) => void (this.clientHandler = handler),
      close: () => Promise.resolve(),
    };
    this.client = new Client(host, true);
    this.client.localValue = (key) => this.core.data.get(key);
    this.scheduler.onMessages((batch) => this.receive(batch));
  }

  /** Serves this worker's values to a peer or client on `conn`. */
  serve(conn: Connection<unknown, unknown>, peerAddress?: string): DataPeer {
    const peer = new DataPeer(conn, (keys) => {
      const values: Record<string, Packed> = {};
      for (const key of keys) {
        const stored = this.core.data.get(key);
        if (stored) values[key] = stored.bytes;
      }
      return values;
    });
    if (peerAddress) this.peers.set(peerAddress, Promise.resolve(peer));
    return peer;
  }

  private receive(batch: ToWorkerConnection[]): void {
    for (const msg of batch) {
      switch (msg.op) {
        case "key-done":
        case "key-erred":
        case "key-cancelled":
        case "deadlock":
          this.clientHandler?.(msg);
          break;
        default:
          this.core.handle(msg);
      }
    }
    this.pump();
  }

  /** Applies the core's effects until it has none left. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (
        let effects = this.core.drain();
        effects.length > 0;
        effects = this.core.drain()
      ) {
        for (const effect of effects) this.apply(effect);
      }
    } finally {
      this.pumping = false;
    }
  }

  private apply(effect: WorkerEffect): void {
    switch (effect.type) {
      case "send":
        return this.scheduler.send(effect.msg);
      case "execute":
        return this.execute(effect.task);
      case "fetch":
        return void this.fetch(effect.from, effect.keys);
      case "abort":
        return this.running.get(effect.key)?.abort(
          new CancelledError(effect.key, effect.reason),
        );
      case "rejoined": {
        const resolve = this.rejoins.get(effect.key);
        this.rejoins.delete(effect.key);
        return resolve?.();
      }
      case "decode": {
        let value: unknown;
        try {
          value = this.client.decodeValue(effect.bytes);
        } catch (e) {
          return this.core.failed(effect.into.key, encodeError(e));
        }
        return this.core.decoded(effect.into, effect.key, value);
      }
    }
  }

  // ---- WorkerRuntime ------------------------------------------------------

  secede(key: string): void {
    this.core.secede(key);
    this.pump();
  }

  rejoin(key: string): Promise<void> {
    return new Promise((resolve) => {
      this.rejoins.set(key, resolve);
      this.core.rejoin(key);
      this.pump();
    });
  }

  // ---- execution ----------------------------------------------------------

  private execute(task: WorkerTask): void {
    const fn = this.fns.get(task.fn);
    if (fn) return this.run(task, fn);
    this.load(task.fn).then(
      (fn) => this.run(task, fn),
      (e) => this.settle(task, e, false),
    );
  }

  private load(id: string): Promise<Task> {
    let loading = this.loading.get(id);
    if (!loading) {
      const ref = this.core.fns.get(id);
      if (!ref) {
        return Promise.reject(
          new Error(`worker ${this.id} has no definition of function ${id}`),
        );
      }
      const desc: FunctionDescription = { id, ref };
      loading = loadTask(desc).then((task) => {
        this.fns.set(id, task);
        return task;
      });
      this.loading.set(id, loading);
    }
    return loading;
  }

  private run(task: WorkerTask, fn: Task): void {
    const ctx = new RunningTask(task.key, this);
    this.running.set(task.key, ctx);
    const deps = task.depValues;
    let result: unknown;
    try {
      const args = unpack(task.args, deps ? (key) => deps.get(key) : undefined);
      result = runInTask(ctx, () => fn(...(args as unknown[])));
    } catch (e) {
      return this.settle(task, e, false);
    }
    if (result instanceof Promise) {
      result.then(
        (v) => this.settle(task, v, true),
        (e) => this.settle(task, e, false),
      );
    } else this.settle(task, result, true);
  }

  private settle(task: WorkerTask, value: unknown, ok: boolean): void {
    this.running.delete(task.key);
    this.client.endTask(task.key);
    if (ok) {
      let refs: string[] | undefined;
      try {
        const bytes = pack(
          value,
          (k) => void (refs ??= []).push(k),
          () => `result of task ${task.key}`,
        );
        this.core.finished(
          task.key,
          value,
          bytes,
          bytes.length <= INLINE_LIMIT,
          refs,
        );
      } catch (e) {
        this.core.failed(task.key, encodeError(e));
      }
    } else this.core.failed(task.key, encodeError(value));
    this.client.flush();
    this.pump();
  }

  // ---- data ---------------------------------------------------------------

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
      peer.catch(() => this.peers.delete(address));
    }
    return peer;
  }

  private async fetch(from: string, keys: string[]): Promise<void> {
    try {
      const reply = await (await this.peer(from)).get(keys);
      const values = new Map<string, { value: unknown; bytes: Packed }>();
      for (const [key, bytes] of Object.entries(reply.values)) {
        values.set(key, { value: this.client.decodeValue(bytes), bytes });
      }
      this.core.fetched(from, values, reply.missing);
    } catch {
      for (const key of keys) this.core.fetchFailed(from, key);
    }
    this.pump();
  }

  private fetchValue(key: string, who: string[]): Promise<Packed> {
    const local = this.core.data.get(key);
    if (local) return Promise.resolve(local.bytes);
    return fetchFromHolders(key, who, (a) => this.peer(a));
  }

  /** Stops serving: closes peer connections. */
  close(): void {
    for (const peer of this.peers.values()) {
      peer.then((p) => p.close(), () => {});
    }
    this.peers.clear();
    for (const task of this.running.values()) {
      task.abort(new Error("worker closing"));
    }
  }
}

/**
 * Loads a task function. Function shipping and the task scope are imported
 * here, on first use, so a worker is ready before their import finishes.
 */
async function loadTask(desc: FunctionDescription): Promise<Task> {
  const { loadFunction } = await loadShipping();
  const { taskScope, wrapTask } = await import("../task/delayed.ts");
  return unwrapTask(await loadFunction(desc, taskScope(), { wrap: wrapTask }));
}

/** The callable a task runs: a delayed wrapper runs its wrapped function. */
function unwrapTask(fn: unknown): Task {
  const inner = (fn as { [k: symbol]: unknown })[Symbol.for("tendril.wrapped")];
  return (typeof inner === "function" ? inner : fn) as Task;
}

/** Encodes a thrown value; falls back to name/message/stack if it cannot travel. */
export function encodeError(e: unknown): Packed {
  try {
    return pack(e instanceof Error ? e : new Error(String(e)));
  } catch {
    const err = e as Error;
    const copy = new Error(err?.message ?? String(e));
    copy.name = err?.name ?? "Error";
    copy.stack = err?.stack;
    return pack(copy);
  }
}
