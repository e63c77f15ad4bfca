/**
 * The scheduler as a network service: listens for clients and workers over
 * TCP (or TLS), runs the handshake (protocol version, token), validates every
 * message before the state machine sees it, and removes a worker whose
 * connection drops or who misses heartbeats (its tasks are rescheduled by
 * {@linkcode SchedulerState.removeWorker}).
 *
 * Security: binds 127.0.0.1 unless told otherwise, and refuses to start on
 * any other address without a token. A token, when given, is required from
 * every peer.
 *
 * @module
 */

import { isLoopback } from "../../runtime/wire/tcp/address.ts";
import {
  DEFAULT_PRE_AUTH_FRAME_SIZE,
  type TcpConnection,
} from "../../runtime/wire/tcp/connection.ts";
import { type FrameListener, listen } from "../../runtime/wire/tcp/listen.ts";
import { refuseHttp } from "../../runtime/wire/tcp/http_refusal.ts";
import {
  admit,
  DEFAULT_HANDSHAKE_TIMEOUT,
  type Hello,
} from "../../runtime/wire/handshake.ts";
import {
  Scheduler,
  type SchedulerConnection,
  type StuckRunWatch,
} from "./actor.ts";
import { Dashboard } from "../dashboard/server.ts";
import { resourcesProblem } from "./resources.ts";
import type { SchedulerOptions } from "./state.ts";
import { type PeerRole, validateToScheduler } from "../protocol.ts";
import { ProtocolError } from "../../runtime/errors.ts";
import { DEFAULT_SILENCE_TIMEOUT } from "../../runtime/wire/liveness.ts";

/** Default scheduler port (Dask's). */
export const DEFAULT_PORT = 8786;
/**
 * Default time without any message from a worker before it is removed:
 * 10 s. Workers beat from a thread of their own, so a long synchronous
 * task does not silence them.
 */
export const DEFAULT_HEARTBEAT_TIMEOUT: number = DEFAULT_SILENCE_TIMEOUT;

/** Options of {@linkcode SchedulerServer.start}. */
export interface SchedulerServerOptions extends SchedulerOptions {
  /** Let clients run functions in this process (`runOnScheduler`; default false). */
  allowClientCode?: boolean;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 8786; 0 picks a free one). */
  port?: number;
  /** Shared secret every peer must present; required off loopback. */
  token?: string;
  /** PEM certificate chain and key: serve `tls://` instead of `tcp://`. */
  tls?: {
    cert: string;
    key: string;
    /** PEM CA: every peer must present a certificate it signed (mutual TLS). */
    clientCa?: string;
  };
  /** Milliseconds a new connection has to say hello (default 10 s). */
  handshakeTimeout?: number;
  /** Milliseconds of silence after which a worker is removed (default 10 s). */
  heartbeatTimeout?: number;
  /** Largest frame accepted, in bytes (default 64 MiB). */
  maxFrameSize?: number;
  /** Largest message accepted or sent, in bytes (default 2 GiB - 1). */
  maxMessageSize?: number;
  /**
   * Serve the dashboard, `/metrics` and `/api/info` over HTTP: `true` for
   * port 8787 on the scheduler's interface, or where (default: none). It
   * requires the token too, when there is one.
   */
  dashboard?: boolean | {
    host?: string;
    port?: number;
    anyPortIfTaken?: boolean;
  };
  /**
   * Who hears of a cancelled task that did not stop in time (a supervisor
   * that can restart its worker); none by default.
   */
  stuckRuns?: StuckRunWatch;
  /**
   * Called with each worker told to close: `retired` (a supervisor lets it
   * exit instead of replacing it) or `restart` (it dials again, fresh).
   */
  onWorkerClosed?: (id: string, reason: "retired" | "restart") => void;
}

/** A peer that finished its handshake. */
interface Peer {
  /** Its id at the scheduler. */
  id: string;
  /** Client or worker: decides which operations it may send. */
  role: PeerRole;
  /** Its connection. */
  conn: TcpConnection<unknown, unknown>;
  /** `performance.now()` when its last batch arrived (heartbeats included). */
  lastSeen: number;
}

/**
 * A scheduler listening on the network.
 *
 * @example A scheduler on a free loopback port, and a client of it
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client } from "../client/client.ts";
 * import { SchedulerServer } from "./server.ts";
 * await using server = await SchedulerServer.start({ port: 0 });
 * assert.match(server.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
 * await using client = await Client.connect(server.address);
 * assert.deepEqual(server.scheduler.peers, [client.id]);
 * assert.deepEqual(server.workers, []);
 * // Off loopback, a token is required.
 * await assert.rejects(
 *   SchedulerServer.start({ host: "0.0.0.0", port: 0 }),
 *   /without a token/,
 * );
 * ```
 */
export class SchedulerServer implements AsyncDisposable {
  /** The scheduler actor (its `state` is inspectable). */
  readonly scheduler: Scheduler;
  /** Where clients and workers connect: `tcp://host:port` or `tls://host:port`. */
  readonly address: string;
  readonly #listener: FrameListener;
  readonly #conns = new Set<TcpConnection<unknown, unknown>>();
  readonly #workers = new Map<string, Peer>();
  /** Authenticated clients' and workers' connections: they get heartbeats. */
  readonly #peers = new Set<TcpConnection<unknown, unknown>>();
  readonly #timer: ReturnType<typeof setInterval>;
  /** When the heartbeat timer last ran (to notice this process was stopped). */
  #lastTick = performance.now();
  /** The dashboard, when it runs. */
  #dashboard: Dashboard | undefined;
  #clients = 0;
  #closing: Promise<void> | undefined;

  /** Serves `scheduler` on `listener`; use {@linkcode SchedulerServer.start}. */
  private constructor(
    scheduler: Scheduler,
    listener: FrameListener,
    heartbeatTimeout: number,
  ) {
    this.scheduler = scheduler;
    this.#listener = listener;
    this.address = listener.address;
    const tick = Math.max(10, Math.min(1000, heartbeatTimeout / 4));
    this.#timer = setInterval(() => {
      this.#checkHeartbeats(heartbeatTimeout, tick);
      for (const conn of this.#peers) {
        if (!conn.closed) conn.send({ op: "heartbeat" });
      }
    }, tick);
  }

  /**
   * Starts listening.
   *
   * @throws when binding off loopback without a token, or the port is taken.
   */
  static async start(
    options: SchedulerServerOptions = {},
  ): Promise<SchedulerServer> {
    const host = options.host ?? "127.0.0.1";
    if (!isLoopback(host) && !options.token) {
      throw new Error(
        `refusing to listen on ${host} without a token: anyone who can reach ` +
          `it could run code on the workers. Give a token (--token-file), or ` +
          `bind 127.0.0.1.`,
      );
    }
    if (options.token !== undefined && options.token.length === 0) {
      throw new Error("the token is empty");
    }
    const scheduler = new Scheduler({
      saturation: options.saturation,
      allowedFailures: options.allowedFailures,
      unknownWorkerGraceMs: options.unknownWorkerGraceMs,
      allowClientCode: options.allowClientCode,
      onWorkerClosed: options.onWorkerClosed,
    }, options.stuckRuns);
    const ref: { server?: SchedulerServer } = {};
    const listener = await listen<unknown, unknown>({
      hostname: host,
      port: options.port ?? DEFAULT_PORT,
      tls: options.tls,
      maxFrameSize: options.maxFrameSize,
      maxMessageSize: options.maxMessageSize,
      preAuthFrameSize: DEFAULT_PRE_AUTH_FRAME_SIZE,
      wrapStream: (stream, peer) =>
        refuseHttp(stream, peer, () => ref.server!.#httpAnswer()),
    }, (conn) => ref.server!.#accept(conn, options));
    const server = ref.server = new SchedulerServer(
      scheduler,
      listener,
      options.heartbeatTimeout ?? DEFAULT_HEARTBEAT_TIMEOUT,
    );
    scheduler.state.about.address = server.address;
    if (options.dashboard) {
      const where = options.dashboard === true ? {} : options.dashboard;
      try {
        server.#dashboard = await Dashboard.start(scheduler, {
          host: where.host ?? host,
          port: where.port,
          anyPortIfTaken: where.anyPortIfTaken,
          token: options.token,
        });
      } catch (e) {
        await server.close();
        throw e;
      }
    }
    return server;
  }

  /** The dashboard's URL (`http://host:port/`), when it runs. */
  get dashboardUrl(): string | undefined {
    return this.#dashboard?.url;
  }

  /** What an HTTP request to the protocol port is told. */
  #httpAnswer(): string {
    const where = this.dashboardUrl
      ? `The dashboard is at ${this.dashboardUrl}`
      : "No dashboard runs here (start the scheduler with --dashboard-port)";
    return `This is the Tendril scheduler protocol port (${this.address}); ` +
      `it does not speak HTTP: clients and workers connect to it. ${where}.`;
  }

  /** Ids of connected workers. */
  get workers(): string[] {
    return [...this.#workers.keys()];
  }

  /**
   * Runs the handshake of a new connection, then validates each batch it
   * sends and adds it to the scheduler as a client or a worker.
   */
  #accept(
    conn: TcpConnection<unknown, unknown>,
    options: SchedulerServerOptions,
  ): void {
    if (this.#closing) return conn.close();
    this.#conns.add(conn);
    conn.onClose(() => this.#conns.delete(conn));
    admit(conn, {
      roles: ["client", "worker", "heartbeat"],
      token: options.token,
      timeout: options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
      check: (hello) => {
        if (hello.role === "worker") return this.#checkWorker(hello);
        if (hello.role === "heartbeat") {
          return typeof hello.id === "string"
            ? {}
            : "a heartbeat connection names its worker (id)";
        }
        let id: string;
        do id = `client-${++this.#clients}`; while (
          this.scheduler.peers.includes(id)
        );
        return { id };
      },
      ready: (hello, welcome) => {
        if (hello.role === "heartbeat") return this.#beatsFor(conn, hello.id!);
        this.#peers.add(conn);
        conn.onClose(() => this.#peers.delete(conn));
        const role: PeerRole = hello.role === "worker" ? "worker" : "client";
        const id = role === "worker" ? hello.id! : welcome.id!;
        const peer: Peer = { id, role, conn, lastSeen: performance.now() };
        conn.intercept = (batch) => {
          peer.lastSeen = performance.now();
          let out: unknown[] | undefined;
          for (let i = 0; i < batch.length; i++) {
            const msg = batch[i];
            validateToScheduler(msg, role);
            if (msg.op === "heartbeat") out ??= batch.slice(0, i);
            else out?.push(msg);
          }
          return out ?? batch;
        };
        const sconn = conn as unknown as SchedulerConnection;
        if (role === "worker") {
          this.#workers.set(id, peer);
          // Runs before the scheduler's own close handler removes the worker.
          conn.onClose((reason) => {
            if (this.#workers.get(id) === peer) this.#workers.delete(id);
            if (this.#closing) return;
            const w = this.scheduler.state.workers.get(id);
            if (!w) {
              // The scheduler had told it to close (retired or restarting).
              return console.error(`tendril: worker ${id} closed as told`);
            }
            const running = w.processing.size;
            const held = w.hasWhat.size;
            console.error(
              `tendril: worker ${id} left (${
                reason?.message ?? "connection closed"
              }); rescheduling its ${running} processing tasks, ` +
                `${held} results it held are recomputed if still needed`,
            );
          });
          console.error(
            `tendril: worker ${id} joined (${hello.slots} slots, data at ${hello.address})`,
          );
          this.scheduler.addWorker(
            id,
            hello.slots!,
            hello.address!,
            sconn,
            hello.resources,
          );
        } else {
          this.scheduler.addClient(id, sconn);
        }
      },
    });
  }

  /** Why a worker's hello is refused, if it is. */
  #checkWorker(hello: Hello): string | Record<never, never> {
    const { id, slots, address } = hello;
    if (typeof id !== "string" || id.length === 0 || id.length > 256) {
      return "a worker needs an id (a string of 1 to 256 characters)";
    }
    if (
      typeof slots !== "number" || !Number.isInteger(slots) || slots < 1 ||
      slots > 100_000
    ) {
      return "a worker needs slots (a positive integer)";
    }
    const { resources } = hello;
    if (resources !== undefined) {
      if (
        resources === null || typeof resources !== "object" ||
        Array.isArray(resources) ||
        Object.values(resources).some((x) => typeof x !== "number")
      ) {
        return "a worker's resources must map names to numbers";
      }
      const problem = resourcesProblem(resources);
      if (problem) return `a worker's ${problem}`;
    }
    if (typeof address !== "string" || !/^(tcp|tls):\/\//.test(address)) {
      return "a worker needs a data address (tcp://HOST:PORT or tls://HOST:PORT)";
    }
    if (this.scheduler.peers.includes(id)) {
      return `a peer with id ${JSON.stringify(id)} is already connected`;
    }
    return {};
  }

  /**
   * A worker's heartbeat thread connected: its beats keep worker `id`
   * alive; it may send nothing else.
   */
  #beatsFor(conn: TcpConnection<unknown, unknown>, id: string): void {
    conn.intercept = (batch) => {
      for (const msg of batch as { op?: unknown }[]) {
        if (msg?.op !== "heartbeat") {
          throw new ProtocolError(
            `a heartbeat connection may send only heartbeats, got ${
              JSON.stringify(msg?.op)
            }`,
          );
        }
      }
      const peer = this.#workers.get(id);
      if (peer) peer.lastSeen = performance.now();
      return [];
    };
  }

  /**
   * Removes the workers that sent nothing for longer than `timeout` ms,
   * unless this process was the one stopped (its timer ran late): then
   * every worker gets a fresh allowance.
   */
  #checkHeartbeats(timeout: number, tick: number): void {
    const now = performance.now();
    const late = now - this.#lastTick > tick + timeout / 2;
    this.#lastTick = now;
    if (late) {
      for (const peer of this.#workers.values()) peer.lastSeen = now;
      return;
    }
    for (const peer of this.#workers.values()) {
      if (now - peer.lastSeen <= timeout) continue;
      const reason = `worker ${peer.id} sent nothing for ${
        Math.round(now - peer.lastSeen)
      } ms (heartbeat timeout ${timeout} ms)`;
      console.error(`tendril: removing ${reason}`);
      this.#workers.delete(peer.id);
      peer.conn.close(new Error(reason));
    }
  }

  /** Stops listening and closes every connection; resolves once all are closed. */
  close(): Promise<void> {
    return this.#closing ??= (async () => {
      clearInterval(this.#timer);
      await this.#dashboard?.close();
      await this.#listener.close();
      const conns = [...this.#conns];
      for (const conn of conns) conn.close();
      this.scheduler.close();
      await Promise.all(conns.map((c) => c.done));
    })();
  }

  /** Same as {@linkcode SchedulerServer.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
