/**
 * A cluster on this machine, supervised. By default (threads) the scheduler
 * runs in this isolate, each worker in a Deno Web Worker, workers wired to
 * each other with MessageChannels for dependency data and to this isolate
 * for clients' gathers. With `processes: true` each worker is a child
 * process dialling a scheduler served on loopback (see
 * {@linkcode WorkerProcesses}).
 *
 * @module
 */

import { assertNotShippingImport } from "../runtime/shipping/module_index.ts";
import { localPair } from "../runtime/wire/local.ts";
import type { Packed } from "../runtime/codec/packed.ts";
import { PortConnection } from "../runtime/wire/webworker.ts";
import type { ClientHost, ClusterLike } from "./client/client.ts";
import { callActorAt, DataPeer, fetchFromHolders } from "./worker/data_peer.ts";
import type {
  RegisterWorker,
  SchedulerToClient,
  ToScheduler,
  ToWorkerConnection,
} from "./protocol.ts";
import { Scheduler } from "./scheduler/actor.ts";
import { Dashboard } from "./dashboard/server.ts";
import type { ControlMessage, WorkerInit } from "./worker/web_worker_main.ts";
import { WorkerProcesses } from "./worker_processes.ts";

/** Options of {@linkcode LocalCluster.start}. */
export interface LocalClusterOptions {
  /** Number of workers (default: the number of CPUs). */
  workers?: number;
  /** Slots per worker: tasks each runs at once (default 1). */
  slots?: number;
  /** Tasks a worker may hold queued per slot (default 64). */
  saturation?: number;
  /**
   * Worker deaths a task may be part of and still be retried: one more and
   * it errs with `KilledWorkerError` (default 3, as in Dask).
   */
  allowedFailures?: number;
  /**
   * Milliseconds a cancelled task has to stop before its worker is
   * restarted (default 10 000): a function that never yields cannot be
   * stopped any other way.
   */
  cancelGrace?: number;
  /**
   * Serve the dashboard, `/metrics` and `/api/info` over HTTP on loopback:
   * `true` for port 8787, or `{ port }` (0 picks a free one). Its URL is
   * {@linkcode LocalCluster.dashboardUrl}. Default: none.
   */
  dashboard?: boolean | { host?: string; port?: number };
  /** Amounts of resources each worker offers (`{ GPU: 1 }`). */
  resources?: Record<string, number>;
  /**
   * How long a task restricted to workers none of which is connected waits
   * for one before it errs (default 10 s).
   */
  unknownWorkerGraceMs?: number;
  /** Let clients run functions in the scheduler (`runOnScheduler`; default false). */
  allowClientCode?: boolean;
  /**
   * Run each worker as a child process (`cli/worker.ts`, dialling a
   * scheduler this process serves on a loopback port with a fresh token)
   * instead of a Web Worker (default false). A worker's crash or
   * out-of-memory abort then costs that worker, which is replaced, never
   * this process. Needs `--allow-run`, `--allow-net` and `--allow-write`
   * (the token travels in a temporary file only this user can read).
   */
  processes?: boolean;
  /**
   * With `processes`: each worker's JavaScript heap limit in bytes (V8's
   * `--max-old-space-size`); a task that needs more ends its worker, which
   * is replaced. Web Workers share this process's memory, so threads mode
   * has no such limit.
   */
  memoryLimit?: number;
}

/** One in-process worker as the cluster keeps it. */
interface WorkerHandle {
  /** The worker's id. */
  id: string;
  /** Its data address (`inproc://<id>`). */
  address: string;
  /** The Web Worker it runs in. */
  thread: globalThis.Worker;
  /** Its connection to the scheduler (also carries its in-task client). */
  conn: PortConnection<ToScheduler, ToWorkerConnection>;
  /** The data connection clients of this isolate fetch its values over. */
  data: DataPeer;
  /** The control port: dial requests in, peers to accept and deaths out. */
  control: MessagePort;
  /** True once it registered with the scheduler. */
  registered: boolean;
  /** True once it died or was stopped. */
  lost: boolean;
  /** True once the scheduler retired it: it is stopped, not replaced. */
  retired?: boolean;
}

/** Workers in a row that may die before registering before the cluster stops replacing them. */
const START_FAILURES_ALLOWED = 3;

/** Default milliseconds a cancelled task has to stop before its worker is restarted. */
const DEFAULT_CANCEL_GRACE = 10_000;

let clusterCounter = 0;

/** The data address of in-process worker `id` (how `live` files it). */
function inprocAddress(id: string): string {
  return `inproc://${id}`;
}

/**
 * A scheduler and workers on this machine, supervised: a worker whose
 * thread or process ends (an uncaught error, `Deno.exit()` in a task; with
 * `processes: true` also an out-of-memory abort or `kill -9`) or that
 * cannot stop a cancelled task is replaced by a fresh one, and the
 * scheduler reschedules or fails its tasks as for any lost worker.
 *
 * @example Two workers in Web Workers of this process
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
 * assert.equal(cluster.workerIds.length, 2);
 * await using client = await Client.connect(cluster);
 * assert.equal(await client.submit(() => 1 + 1).result(), 2);
 * ```
 *
 * @example Workers as child processes, each with a 256 MiB heap
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, LocalCluster } from "@tendril/tendril";
 * await using cluster = await LocalCluster.start({
 *   workers: 1,
 *   processes: true,
 *   memoryLimit: 256 * 2 ** 20,
 * });
 * await using client = await Client.connect(cluster);
 * const pid = await client.submit(() => Deno.pid).result();
 * assert.notEqual(pid, Deno.pid);
 * ```
 */
export class LocalCluster implements ClusterLike, AsyncDisposable {
  /** @internal The scheduler actor (its `state` is inspectable in tests). */
  readonly scheduler: Scheduler;
  /** Live workers, by data address, in start order. */
  private readonly live = new Map<string, WorkerHandle>();
  private readonly slots: number;
  /** In processes mode, the worker processes and the scheduler's server. */
  private readonly processes?: WorkerProcesses;
  private workersStarted = 0;
  /** Workers in a row that died before registering. */
  private startFailures = 0;
  private clients = 0;
  private closed = false;
  /** The dashboard, when it runs. */
  private dashboard: Dashboard | undefined;
  /** Resources each worker offers. */
  private readonly resources: Record<string, number> | undefined;
  private closing: Promise<void> = Promise.resolve();

  /** A cluster with its scheduler and no workers yet (see {@linkcode LocalCluster.start}). */
  private constructor(
    /** The cluster's name, the prefix of its worker and client ids. */
    readonly name: string,
    options: LocalClusterOptions,
    processes?: WorkerProcesses,
  ) {
    this.slots = options.slots ?? 1;
    this.resources = options.resources;
    this.processes = processes;
    this.scheduler = processes?.scheduler ?? new Scheduler({
      saturation: options.saturation,
      allowedFailures: options.allowedFailures,
      unknownWorkerGraceMs: options.unknownWorkerGraceMs,
      allowClientCode: options.allowClientCode,
      onWorkerClosed: (id, reason) => this.workerClosed(id, reason),
    }, {
      grace: options.cancelGrace ?? DEFAULT_CANCEL_GRACE,
      stuck: (id, key) => this.restartStuck(id, key),
    });
  }

  /** Starts the scheduler and the workers; resolves once all are ready. */
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    assertNotShippingImport("LocalCluster.start()");
    const n = options.workers ?? navigator.hardwareConcurrency ?? 1;
    const slots = options.slots ?? 1;
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`workers must be a positive integer, got ${n}`);
    }
    if (!Number.isInteger(slots) || slots < 1) {
      throw new RangeError(`slots must be a positive integer, got ${slots}`);
    }
    const { memoryLimit } = options;
    if (memoryLimit !== undefined) {
      if (!options.processes) {
        throw new RangeError(
          "memoryLimit needs processes: true (Web Workers share this process's memory)",
        );
      }
      if (!Number.isSafeInteger(memoryLimit) || memoryLimit < 2 ** 20) {
        throw new RangeError(
          `memoryLimit is in bytes and at least 1 MiB, got ${memoryLimit}`,
        );
      }
    }
    const name = `local${++clusterCounter}`;
    if (options.processes) {
      const processes = await WorkerProcesses.start({
        name,
        workers: n,
        slots,
        saturation: options.saturation,
        allowedFailures: options.allowedFailures,
        cancelGrace: options.cancelGrace ?? DEFAULT_CANCEL_GRACE,
        memoryLimit,
        startFailuresAllowed: START_FAILURES_ALLOWED,
        resources: options.resources,
        unknownWorkerGraceMs: options.unknownWorkerGraceMs,
        allowClientCode: options.allowClientCode,
      });
      const cluster = new LocalCluster(name, options, processes);
      if (options.dashboard) {
        try {
          cluster.dashboard = await Dashboard.start(
            cluster.scheduler,
            options.dashboard === true ? {} : options.dashboard,
          );
        } catch (e) {
          await cluster.close();
          throw e;
        }
      }
      return cluster;
    }
    const cluster = new LocalCluster(name, options);
    try {
      if (options.dashboard) {
        cluster.dashboard = await Dashboard.start(
          cluster.scheduler,
          options.dashboard === true ? {} : options.dashboard,
        );
      }
      await Promise.all(Array.from({ length: n }, () => cluster.spawn()));
    } catch (e) {
      await cluster.close();
      throw e;
    }
    return cluster;
  }

  /**
   * Starts one Web Worker and registers it with the scheduler; resolves
   * once it has registered, rejects if it dies first.
   */
  private spawn(): Promise<WorkerHandle> {
    const url = new URL("./worker/web_worker_main.ts", import.meta.url);
    const id = `${this.name}-w${this.workersStarted++}`;
    const thread = new Worker(url, { type: "module" });
    const conn = new PortConnection<ToScheduler, ToWorkerConnection>(
      thread,
      `worker ${id}`,
    );
    const data = new MessageChannel();
    const control = new MessageChannel();
    const handle: WorkerHandle = {
      id,
      address: inprocAddress(id),
      thread,
      conn,
      data: new DataPeer(new PortConnection(data.port1, `worker ${id} data`)),
      control: control.port1,
      registered: false,
      lost: false,
    };
    this.live.set(handle.address, handle);
    const registered = Promise.withResolvers<WorkerHandle>();
    thread.onerror = (event) => {
      event.preventDefault();
      this.lose(handle, `its thread failed: ${event.message}`);
    };
    conn.onClose((reason) => {
      this.lose(handle, reason?.message ?? "it closed its connection");
      registered.reject(
        new Error(
          `worker ${id} died before it registered: ${
            reason?.message ?? "closed"
          }`,
        ),
      );
    });
    conn.onMessages((batch) => {
      const hello = batch[0] as unknown as RegisterWorker;
      if (hello?.op !== "register-worker") {
        return conn.close(new Error(`worker ${id} did not register`));
      }
      handle.registered = true;
      this.startFailures = 0;
      this.scheduler.addWorker(
        id,
        this.slots,
        handle.address,
        conn,
        this.resources,
      );
      registered.resolve(handle);
    });
    control.port1.onmessage = (event: MessageEvent<ControlMessage>) =>
      this.route(handle, event.data);
    const init: WorkerInit = {
      init: {
        id,
        slots: this.slots,
        address: handle.address,
        mainData: data.port2,
        control: control.port2,
      },
    };
    thread.postMessage(init, [data.port2, control.port2]);
    return registered.promise;
  }

  /**
   * Connects worker `from` to the peer it dials, handing the peer the far
   * end of its channel; a dial to a worker that is gone closes the channel
   * with a reason, so the dialler's fetch fails at once.
   */
  private route(from: WorkerHandle, msg: ControlMessage): void {
    if (!("dial" in msg)) return;
    const to = this.live.get(msg.dial);
    if (!to || to.lost) {
      msg.port.postMessage({ close: `no live worker at ${msg.dial}` });
      msg.port.close();
      return;
    }
    const accept: ControlMessage = { accept: from.address, port: msg.port };
    to.control.postMessage(accept, [msg.port]);
  }

  /**
   * Drops a worker that died (or must be stopped): the scheduler hears it
   * left, its peers drop their connections to it, and, unless the cluster
   * is closing, a replacement starts. Workers that keep dying before they
   * register are not replaced forever.
   */
  private lose(handle: WorkerHandle, reason: string): void {
    if (handle.lost) return;
    handle.lost = true;
    this.live.delete(handle.address);
    handle.conn.close(new Error(reason));
    handle.data.close();
    handle.thread.terminate();
    if (this.closed) return;
    const gone: ControlMessage = { gone: handle.address };
    for (const other of this.live.values()) other.control.postMessage(gone);
    handle.control.close();
    if (handle.retired) return;
    if (!handle.registered && ++this.startFailures >= START_FAILURES_ALLOWED) {
      const why = `${this.startFailures} workers in a row died before they ` +
        `registered (the last: ${reason})`;
      console.error(`tendril: ${why}; no more replacements`);
      // Nothing is coming: waiting tasks fail instead of hanging.
      if (this.live.size === 0) this.scheduler.workersUnavailable(why);
      return;
    }
    if (reason !== "restart") {
      console.error(
        `tendril: worker ${handle.id} died (${reason}); starting a replacement`,
      );
    }
    this.spawn().catch(() => {
      // `lose` already said why, and replaces or gives up.
    });
  }

  /**
   * The scheduler told worker `id` to close: retired, it stops and no
   * replacement starts; restarted, a fresh worker replaces it.
   */
  private workerClosed(id: string, reason: "retired" | "restart"): void {
    const handle = this.live.get(inprocAddress(id));
    if (!handle) return;
    handle.retired = reason === "retired";
    this.lose(handle, reason);
  }

  /** A cancelled task that never stopped: its worker is restarted. */
  private restartStuck(id: string, key: string): void {
    const handle = this.live.get(inprocAddress(id));
    if (!handle) return;
    this.lose(
      handle,
      `task ${key} did not stop after it was cancelled; restarting its worker`,
    );
  }

  /** The dashboard's URL (`http://127.0.0.1:PORT/`) when started with `dashboard`. */
  get dashboardUrl(): string | undefined {
    return this.dashboard?.url;
  }

  /**
   * Grows the cluster to `n` workers (of the same slots and resources),
   * wired to the running ones; they take queued work and steal from busy
   * workers at once. Shrinks it by retiring the newest workers gracefully
   * (see `Client.retireWorkers`: their running tasks finish, their values
   * move to the workers that stay, nothing is recomputed); retired workers
   * are not replaced. Resolves once the cluster has `n` workers.
   *
   * With `processes: true`, new workers are new processes, and a retired
   * worker's process exits on its own (it may still be exiting when this
   * resolves).
   *
   * @throws {RangeError} when `n` is not a positive integer.
   * @example From one worker to three
   * ```ts
   * import assert from "node:assert/strict";
   * import { Client, getWorker, LocalCluster } from "@tendril/tendril";
   * await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
   * await using client = await Client.connect(cluster);
   * await cluster.scale(3);
   * assert.equal(cluster.workerIds.length, 3);
   * const where = client.with({ workers: cluster.workerIds[2] })
   *   .submit(() => getWorker().id);
   * assert.equal(await where.result(), cluster.workerIds[2]);
   * ```
   */
  async scale(n: number): Promise<void> {
    if (this.closed) throw new Error("cluster is closed");
    const now = this.workerIds.length;
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`scale(${n}): n must be a positive integer`);
    }
    if (n < now) {
      return this.retire(this.workerIds.slice(n));
    }
    if (this.processes) return this.processes.grow(n - now);
    await Promise.all(Array.from({ length: n - now }, () => this.spawn()));
  }

  /** Retires workers `ids` through the scheduler, as a client would. */
  private async retire(ids: string[]): Promise<void> {
    const host = await this.connectClient();
    const answer = Promise.withResolvers<SchedulerToClient>();
    host.listen((msg) => {
      if (msg.op === "workers-retired") answer.resolve(msg);
    }, (why) => answer.reject(new Error(why)));
    host.send({ op: "retire-workers", id: 1, workers: ids });
    try {
      const done = await answer.promise;
      if (done.op === "workers-retired" && done.error !== undefined) {
        throw new Error(`scale(): ${done.error}`);
      }
    } finally {
      await host.close();
    }
  }

  /** Ids of the live workers, in start order (replacements get new ids). */
  get workerIds(): string[] {
    if (this.processes) return this.processes.workerIds;
    return [...this.live.values()].map((w) => w.id);
  }

  /** Opens a client connection to the scheduler (used by `Client.connect`). */
  connectClient(): Promise<ClientHost> {
    if (this.closed) return Promise.reject(new Error("cluster is closed"));
    if (this.processes) return this.processes.connectClient();
    const id = `${this.name}-c${++this.clients}`;
    const [mine, theirs] = localPair<ToScheduler, SchedulerToClient>(
      id,
      "scheduler",
    );
    this.scheduler.addClient(id, theirs as never);
    const host: ClientHost = {
      id,
      send: (msg) => mine.send(msg),
      fetch: (key, who) => this.fetch(key, who),
      put: (address, values) => {
        const peer = this.live.get(address)?.data;
        return peer
          ? peer.put(values)
          : Promise.reject(new Error(`no worker at ${address}`));
      },
      callActor: (address, key, method, args) =>
        callActorAt(
          address,
          key,
          method,
          args,
          (a) => this.live.get(a)?.data,
        ),
      listen: (handler, lost) => {
        mine.onMessages((batch) => batch.forEach(handler));
        mine.onClose(() => lost("cancelled: the cluster was closed"));
      },
      close: () => Promise.resolve(mine.close()),
    };
    return Promise.resolve(host);
  }

  /** Fetches a value's bytes from the first holder that has it. */
  private fetch(key: string, who: string[]): Promise<Packed> {
    return fetchFromHolders(key, who, (a) => this.live.get(a)?.data);
  }

  /**
   * Stops every worker and the scheduler; leaves no timers, ports,
   * processes or files. Resolves once all are gone.
   */
  close(): Promise<void> {
    if (this.closed) return this.closing;
    this.closed = true;
    const dashboard = this.dashboard?.close() ?? Promise.resolve();
    if (this.processes) {
      return this.closing = Promise.all([this.processes.close(), dashboard])
        .then(() => {});
    }
    this.scheduler.close();
    for (const w of [...this.live.values()]) this.lose(w, "cluster closed");
    return this.closing = dashboard;
  }

  /** Same as {@linkcode LocalCluster.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
