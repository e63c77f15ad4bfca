/**
 * An in-process cluster: the scheduler in this isolate, each worker in a
 * Deno Web Worker, workers wired to each other with MessageChannels for
 * dependency data and to this isolate for clients' gathers.
 *
 * @module
 */

import { assertNotShippingImport } from "../runtime/shipping/module_index.ts";
import { localPair } from "../runtime/wire/local.ts";
import type { Packed } from "../runtime/codec/packed.ts";
import { PortConnection } from "../runtime/wire/webworker.ts";
import type { ClientHost, ClusterLike } from "./client/client.ts";
import { DataPeer, fetchFromHolders } from "./worker/data_peer.ts";
import type {
  RegisterWorker,
  SchedulerToClient,
  ToScheduler,
  ToWorkerConnection,
} from "./protocol.ts";
import { Scheduler } from "./scheduler/actor.ts";
import type { WorkerInit } from "./worker/web_worker_main.ts";

/** Options of {@linkcode LocalCluster.start}. */
export interface LocalClusterOptions {
  /** Number of workers (default: the number of CPUs). */
  workers?: number;
  /** Slots per worker: tasks each runs at once (default 1). */
  slots?: number;
  /** Tasks a worker may hold queued per slot (default 64). */
  saturation?: number;
  /** Amounts of resources each worker offers (`{ GPU: 1 }`). */
  resources?: Record<string, number>;
  /**
   * How long a task restricted to workers none of which is connected waits
   * for one before it errs (default 10 s).
   */
  unknownWorkerGraceMs?: number;
  /** Let clients run functions in the scheduler (`runOnScheduler`; default false). */
  allowClientCode?: boolean;
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
  /** Hands it data ports of workers started after it (see `scale`). */
  control: MessagePort;
}

let clusterCounter = 0;

/**
 * A scheduler and workers in this process.
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
 */
export class LocalCluster implements ClusterLike, AsyncDisposable {
  /** @internal The scheduler actor (its `state` is inspectable in tests). */
  readonly scheduler: Scheduler;
  private readonly workers: WorkerHandle[] = [];
  private readonly byAddress = new Map<string, WorkerHandle>();
  private clients = 0;
  private closed = false;
  /** Resources each worker offers. */
  private readonly resources: Record<string, number> | undefined;
  /** Slots of each worker. */
  private slots = 1;

  /** A cluster with its scheduler and no workers yet (see {@linkcode LocalCluster.start}). */
  private constructor(
    /** The cluster's name, the prefix of its worker and client ids. */
    readonly name: string,
    options: LocalClusterOptions,
  ) {
    this.scheduler = new Scheduler({
      saturation: options.saturation,
      unknownWorkerGraceMs: options.unknownWorkerGraceMs,
      allowClientCode: options.allowClientCode,
    });
    this.resources = options.resources;
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
    const cluster = new LocalCluster(`local${++clusterCounter}`, options);
    try {
      await cluster.spawn(n, slots);
    } catch (e) {
      await cluster.close();
      throw e;
    }
    return cluster;
  }

  /**
   * Starts `n` more Web Workers, wires them to each other and to the
   * workers already running, registers them.
   */
  private async spawn(n: number, slots: number): Promise<void> {
    this.slots = slots;
    const url = new URL("./worker/web_worker_main.ts", import.meta.url);
    const existing = [...this.workers];
    const first = existing.length;
    const ids = Array.from(
      { length: n },
      (_, i) => `${this.name}-w${first + i}`,
    );
    const addresses = ids.map((id) => `inproc://${id}`);
    const peers: WorkerInit["init"]["peers"][] = ids.map(() => []);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const { port1, port2 } = new MessageChannel();
        peers[i].push({ address: addresses[j], port: port1 });
        peers[j].push({ address: addresses[i], port: port2 });
      }
      for (const old of existing) {
        const { port1, port2 } = new MessageChannel();
        peers[i].push({ address: old.address, port: port1 });
        const peer = { address: addresses[i], port: port2 };
        old.control.postMessage({ peer }, [port2]);
      }
    }
    const ready: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const thread = new Worker(url, { type: "module" });
      const conn = new PortConnection<ToScheduler, ToWorkerConnection>(
        thread,
        `worker ${ids[i]}`,
      );
      const { port1, port2 } = new MessageChannel();
      const control = new MessageChannel();
      const handle: WorkerHandle = {
        id: ids[i],
        address: addresses[i],
        thread,
        conn,
        data: new DataPeer(new PortConnection(port1, `worker ${ids[i]} data`)),
        control: control.port1,
      };
      this.workers.push(handle);
      this.byAddress.set(handle.address, handle);
      ready.push(
        new Promise<void>((resolve, reject) => {
          thread.onerror = (event) => {
            event.preventDefault();
            const error = new Error(
              `worker ${handle.id} failed: ${event.message}`,
            );
            console.error(`tendril: ${error.message}`);
            reject(error);
            this.lose(handle, error);
          };
          conn.onMessages((batch) => {
            const hello = batch[0] as unknown as RegisterWorker;
            if (hello?.op !== "register-worker") {
              return reject(new Error(`worker ${handle.id} did not register`));
            }
            resolve();
          });
        }),
      );
      const init: WorkerInit = {
        init: {
          id: ids[i],
          slots,
          address: addresses[i],
          mainData: port2,
          peers: peers[i],
          control: control.port2,
        },
      };
      thread.postMessage(init, [
        port2,
        control.port2,
        ...peers[i].map((p) => p.port),
      ]);
    }
    await Promise.all(ready);
    for (const w of this.workers.slice(first)) {
      this.scheduler.addWorker(
        w.id,
        slots,
        w.address,
        w.conn,
        this.resources,
      );
    }
  }

  /**
   * Grows the cluster to `n` workers (of the same slots and resources),
   * wired to the running ones; they take queued work and steal from busy
   * workers at once. Shrinking is not supported yet (it needs workers to be
   * retired gracefully, their values moved first).
   *
   * @throws {RangeError} when `n` is below the current number of workers.
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
    const now = this.workers.length;
    if (!Number.isInteger(n) || n < now) {
      throw new RangeError(
        `scale(${n}): the cluster has ${now} workers and can only grow ` +
          `(retiring workers is not supported yet)`,
      );
    }
    if (n > now) await this.spawn(n - now, this.slots);
  }

  /** Worker ids, in start order. */
  get workerIds(): string[] {
    return this.workers.map((w) => w.id);
  }

  /** Opens a client connection to the scheduler (used by `Client.connect`). */
  connectClient(): Promise<ClientHost> {
    if (this.closed) return Promise.reject(new Error("cluster is closed"));
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
    return fetchFromHolders(key, who, (a) => this.byAddress.get(a)?.data);
  }

  /** Drops a worker that failed. */
  private lose(handle: WorkerHandle, error: Error): void {
    handle.conn.close(error);
    handle.data.close();
    handle.control.close();
    handle.thread.terminate();
  }

  /** Stops every worker and the scheduler; leaves no timers or ports. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.scheduler.close();
    for (const w of this.workers) {
      w.conn.close();
      w.data.close();
      w.control.close();
      w.thread.terminate();
    }
    return Promise.resolve();
  }

  /** Same as {@linkcode LocalCluster.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
