/**
 * A worker as a network service: connects to the scheduler (saying hello as
 * a worker with its id, slots and data address), listens on its own port for
 * data requests from peers and clients, dials peers lazily by address when a
 * task needs their values, and sends heartbeats. Everything else is the
 * transport-agnostic {@linkcode WorkerActor} actor.
 *
 * @module
 */

import { isLoopback, parseAddress } from "../../runtime/wire/tcp/address.ts";
import {
  DEFAULT_PRE_AUTH_FRAME_SIZE,
  type TcpConnection,
} from "../../runtime/wire/tcp/connection.ts";
import {
  connect,
  type FrameListener,
  listen,
} from "../../runtime/wire/tcp/listen.ts";
import type { Connection } from "../../runtime/wire/transport.ts";
import {
  admit,
  DEFAULT_HANDSHAKE_TIMEOUT,
  greet,
} from "../../runtime/wire/handshake.ts";
import type { ToScheduler, ToWorkerConnection } from "../protocol.ts";
import { loadShipping } from "../../runtime/shipping/lazy.ts";
import { dropHeartbeats, validateDataMessage } from "../protocol.ts";
import {
  DEFAULT_SILENCE_TIMEOUT,
  SilenceWatch,
} from "../../runtime/wire/liveness.ts";
import { WorkerActor } from "./actor.ts";
import { refuseOversized } from "../client/oversized.ts";
import type { HeartbeatInit } from "./heartbeat_thread.ts";

/** Default interval between a worker's heartbeats: 1 s. */
export const DEFAULT_HEARTBEAT_INTERVAL = 1000;

/** Options of {@linkcode WorkerServer.start}. */
export interface WorkerServerOptions {
  /** The scheduler's address, `tcp://HOST:PORT` or `tls://HOST:PORT`. */
  scheduler: string;
  /** The worker's id (default `worker-<pid>-<random>`). */
  id?: string;
  /** Tasks it runs at once (default 1). */
  slots?: number;
  /** Amounts of resources it offers to tasks that ask for them (`{ GPU: 2 }`). */
  resources?: Record<string, number>;
  /**
   * Interface its data server binds (default 127.0.0.1 when the scheduler
   * is on loopback, else 0.0.0.0).
   */
  host?: string;
  /** Port of its data server (default 0: any free port). */
  port?: number;
  /**
   * Host name peers and clients use to reach it (default: the bound host,
   * or, when bound to a wildcard, this side's address toward the scheduler).
   */
  advertise?: string;
  /** The cluster's shared token (required when the data server is off loopback). */
  token?: string;
  /** PEM CA certificates trusted for `tls://` scheduler and peer addresses. */
  caCerts?: string[];
  /** PEM certificate and key: serve data over TLS. */
  tls?: {
    cert: string;
    key: string;
    /** PEM CA: every peer must present a certificate it signed (mutual TLS). */
    clientCa?: string;
  };
  /**
   * PEM certificate and key this worker presents when it dials a `tls://`
   * scheduler or peer that asks for one (mutual TLS).
   */
  clientCert?: { cert: string; key: string };
  /** Milliseconds between heartbeats (default 1000). */
  heartbeatInterval?: number;
  /** Milliseconds a handshake may take (default 10 s). */
  handshakeTimeout?: number;
  /** Largest frame accepted or sent, in bytes (default 64 MiB). */
  maxFrameSize?: number;
  /**
   * Largest message accepted or sent, in bytes (default 2 GiB - 1): a task
   * whose result could not leave this worker under it errs.
   */
  maxMessageSize?: number;
  /**
   * Milliseconds without a message from the scheduler (it sends heartbeats)
   * after which it counts as vanished (default 10 s).
   */
  silenceTimeout?: number;
  /** Where to keep clients' code packages; absent: import client modules by URL. */
  codeCache?: { dir: string; maxBytes?: number };
}

/** A TCP connection before its messages are known to be well formed. */
type AnyConn = TcpConnection<unknown, unknown>;

/** Checks every message of a batch on a data connection (throws on the first bad one). */
const validateData = (batch: unknown[]): unknown[] => {
  for (const msg of batch) validateDataMessage(msg);
  return batch;
};

/**
 * A worker process's networking around a {@linkcode WorkerActor}.
 *
 * @example A scheduler, a worker and a client over loopback TCP
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client } from "../client/client.ts";
 * import { SchedulerServer } from "../scheduler/server.ts";
 * import { WorkerServer } from "./server.ts";
 * await using scheduler = await SchedulerServer.start({ port: 0 });
 * await using worker = await WorkerServer.start({
 *   scheduler: scheduler.address,
 *   slots: 2,
 * });
 * assert.deepEqual(scheduler.workers, [worker.id]);
 * assert.match(worker.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
 * await using client = await Client.connect(scheduler.address);
 * assert.equal(await client.submit((x: number) => x * 2, 21).result(), 42);
 * ```
 */
export class WorkerServer implements AsyncDisposable {
  /** The worker actor. */
  readonly worker: WorkerActor;
  /** Its id. */
  readonly id: string;
  /** Its data address. */
  readonly address: string;
  /** Resolves when the scheduler connection closes (with the reason, if it failed). */
  readonly closed: Promise<Error | undefined>;
  readonly #scheduler: AnyConn;
  readonly #listener: FrameListener;
  readonly #conns: Set<AnyConn>;
  /** The thread that sends this worker's heartbeats (see `heartbeat_thread.ts`). */
  readonly #heartbeat: globalThis.Worker;
  /** Watches the scheduler's heartbeats. */
  readonly #silence: SilenceWatch;
  #closing: Promise<void> | undefined;

  /** Wraps a connected worker; use {@linkcode WorkerServer.start}. */
  private constructor(
    worker: WorkerActor,
    scheduler: AnyConn,
    listener: FrameListener,
    conns: Set<AnyConn>,
    heartbeat: HeartbeatInit,
    silence: SilenceWatch,
  ) {
    this.worker = worker;
    this.id = worker.id;
    this.address = worker.address;
    this.#scheduler = scheduler;
    this.#listener = listener;
    this.#conns = conns;
    this.#heartbeat = new Worker(
      new URL("./heartbeat_thread.ts", import.meta.url),
      { type: "module" },
    );
    this.#heartbeat.postMessage(heartbeat);
    this.#silence = silence;
    this.closed = new Promise((resolve) =>
      scheduler.onClose((reason) => {
        resolve(reason);
        this.close();
      })
    );
  }

  /**
   * Connects to the scheduler and starts serving.
   *
   * @throws when the scheduler is unreachable or refuses the worker, or the
   * data server would listen off loopback without a token.
   */
  static async start(options: WorkerServerOptions): Promise<WorkerServer> {
    const target = parseAddress(options.scheduler);
    const slots = options.slots ?? 1;
    if (!Number.isInteger(slots) || slots < 1) {
      throw new RangeError(`slots must be a positive integer, got ${slots}`);
    }
    const host = options.host ??
      (isLoopback(target.hostname) ? "127.0.0.1" : "0.0.0.0");
    if (!isLoopback(host) && !options.token) {
      throw new Error(
        `refusing to serve data on ${host} without a token; give a token or use --host 127.0.0.1`,
      );
    }
    const id = options.id ??
      `worker-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    const timeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    const frames = {
      maxFrameSize: options.maxFrameSize,
      maxMessageSize: options.maxMessageSize,
    };
    const dial = {
      ...frames,
      caCerts: options.caCerts,
      clientCert: options.clientCert,
    };

    const scheduler = await connect<unknown, unknown>(options.scheduler, dial);
    const conns = new Set<AnyConn>();
    const ref: { worker?: WorkerActor } = {};
    const early: AnyConn[] = [];
    let listener: FrameListener;
    try {
      listener = await listen<unknown, unknown>({
        hostname: host,
        port: options.port ?? 0,
        tls: options.tls,
        ...frames,
        preAuthFrameSize: DEFAULT_PRE_AUTH_FRAME_SIZE,
      }, (conn) => {
        conns.add(conn);
        conn.onClose(() => conns.delete(conn));
        admit(conn, {
          roles: ["client", "peer"],
          token: options.token,
          timeout,
          ready: () => {
            conn.intercept = validateData;
            if (ref.worker) ref.worker.serve(conn);
            else early.push(conn);
          },
        });
      });
    } catch (e) {
      scheduler.close();
      await scheduler.done;
      throw e;
    }
    const wildcard = listener.hostname === "0.0.0.0" ||
      listener.hostname === "::";
    const advertised = options.advertise ??
      (wildcard
        ? (scheduler.localHostname ?? listener.hostname)
        : listener.hostname);
    const scheme = options.tls ? "tls" : "tcp";
    const address = `${scheme}://${
      advertised.includes(":") ? `[${advertised}]` : advertised
    }:${listener.port}`;

    try {
      await greet(scheduler, {
        role: "worker",
        token: options.token,
        id,
        slots,
        address,
        resources: options.resources,
      }, timeout);
    } catch (e) {
      await listener.close();
      for (const c of conns) c.close();
      await Promise.all([scheduler.done, ...[...conns].map((c) => c.done)]);
      throw e;
    }

    // Heartbeats tell this side the scheduler is alive; nothing else sees them.
    const silence = new SilenceWatch(
      options.silenceTimeout ?? DEFAULT_SILENCE_TIMEOUT,
      (ms) =>
        scheduler.close(
          new Error(`no message from the scheduler for ${Math.round(ms)} ms`),
        ),
    );
    scheduler.intercept = (batch) => {
      silence.heard();
      return dropHeartbeats(batch as { op: string }[]);
    };
    const connectPeer = async (
      peer: string,
    ): Promise<Connection<unknown, unknown>> => {
      const conn = await connect<unknown, unknown>(peer, dial);
      conns.add(conn);
      conn.onClose(() => conns.delete(conn));
      await greet(conn, { role: "peer", token: options.token }, timeout);
      conn.intercept = validateData;
      return conn;
    };
    const worker = ref.worker = new WorkerActor({
      id,
      slots,
      address,
      scheduler: scheduler as unknown as Connection<
        ToWorkerConnection,
        ToScheduler
      >,
      connect: connectPeer,
      codeCache: options.codeCache,
      maxMessageSize: scheduler.maxMessageSize,
    });
    // A message too big for the scheduler connection fails alone.
    (scheduler as TcpConnection<unknown, ToScheduler>).oversized =
      refuseOversized((msg) => worker.toClient(msg));
    for (const conn of early) worker.serve(conn);
    // Load function shipping while the scheduler sends the first task.
    setTimeout(() => void loadShipping(), 0);
    return new WorkerServer(
      worker,
      scheduler,
      listener,
      conns,
      {
        scheduler: options.scheduler.replace(/\?.*$/, ""),
        id,
        token: options.token,
        caCerts: options.caCerts,
        clientCert: options.clientCert,
        interval: options.heartbeatInterval ?? DEFAULT_HEARTBEAT_INTERVAL,
        handshakeTimeout: timeout,
      },
      silence,
    );
  }

  /** Stops: leaves the scheduler, closes the data server and every connection. */
  close(): Promise<void> {
    return this.#closing ??= (async () => {
      this.#heartbeat.terminate();
      this.#silence.stop();
      this.worker.close();
      this.#scheduler.close();
      await this.#listener.close();
      const conns = [...this.#conns];
      for (const conn of conns) conn.close();
      await Promise.all([this.#scheduler.done, ...conns.map((c) => c.done)]);
    })();
  }

  /** Same as {@linkcode WorkerServer.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
