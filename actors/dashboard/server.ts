/**
 * The scheduler's HTTP side: the dashboard's pages (`/`, `/task/KEY`) and
 * their data (`/api/stream` as server-sent events, `/api/task/KEY`),
 * `/health`, Prometheus `/metrics` and `/api/info` (JSON), on a port of its own (default 8787, Dask's
 * and Ray's habit). The same bind rules as the scheduler's port: loopback
 * unless told otherwise, and off loopback only with a token, which every
 * request must then carry (`Authorization: Bearer TOKEN`, or `?token=TOKEN`
 * once, which sets a cookie for the pages that follow).
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { isLoopback } from "../../runtime/wire/tcp/address.ts";
import type { Scheduler } from "../scheduler/actor.ts";
import { EventLoopLag } from "./event_loop_lag.ts";
import { renderMetrics } from "./prometheus.ts";
import { liveSnapshot, MAX_SPANS_PER_SNAPSHOT, taskDetail } from "./live.ts";
import { STATUS_PAGE, TASK_PAGE } from "./page.ts";
import type { SchedulerState } from "../scheduler/state.ts";

/** Default dashboard port (Dask's). */
export const DEFAULT_DASHBOARD_PORT = 8787;

/** Options of {@linkcode Dashboard.start}. */
export interface DashboardOptions {
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Port (default 8787; 0 picks a free one). */
  port?: number;
  /** The cluster's token: required from every request when set. */
  token?: string;
  /**
   * When `port` is taken, serve on a free port instead, with a warning
   * (what Dask does when 8787 is busy). Default false: fail.
   */
  anyPortIfTaken?: boolean;
}

/** The cookie a `?token=` request sets. */
const COOKIE = "tendril_token";

/** Constant-time comparison (of digests, so lengths do not leak either). */
function sameToken(a: string, b: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** The token a request carries: header, query or cookie. */
function tokenOf(req: Request, url: URL): string | undefined {
  const auth = req.headers.get("authorization");
  if (auth?.startsWith("Bearer ")) return auth.slice(7);
  const query = url.searchParams.get("token");
  if (query !== null) return query;
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === COOKIE) return decodeURIComponent(value.join("="));
  }
  return undefined;
}

/** A plain-text response. */
function text(body: string, status = 200, type = "text/plain"): Response {
  return new Response(body, {
    status,
    headers: {
      "content-type": `${type}; charset=utf-8`,
      "cache-control": "no-store",
    },
  });
}

/**
 * The scheduler's HTTP server.
 *
 * @example Health and metrics of an in-process scheduler
 * ```ts
 * import assert from "node:assert/strict";
 * import { Scheduler } from "../scheduler/actor.ts";
 * import { Dashboard } from "./server.ts";
 * const scheduler = new Scheduler();
 * await using dashboard = await Dashboard.start(scheduler, { port: 0 });
 * assert.match(dashboard.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
 * assert.equal(await (await fetch(new URL("health", dashboard.url))).text(), "ok");
 * const metrics = await (await fetch(new URL("metrics", dashboard.url))).text();
 * assert.match(metrics, /^tendril_workers 0$/m);
 * ```
 */
export class Dashboard implements AsyncDisposable {
  /** Where the dashboard is: `http://host:port/`. */
  readonly url: string;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #lag: EventLoopLag;
  readonly #streams: Set<() => void>;
  #closing: Promise<void> | undefined;

  /** Use {@linkcode Dashboard.start}. */
  private constructor(
    server: Deno.HttpServer<Deno.NetAddr>,
    url: string,
    lag: EventLoopLag,
    streams: Set<() => void>,
  ) {
    this.#server = server;
    this.url = url;
    this.#lag = lag;
    this.#streams = streams;
  }

  /**
   * Serves `scheduler`'s dashboard and tells the scheduler its URL (for
   * `schedulerInfo()`).
   *
   * @throws when binding off loopback without a token, or the port is taken.
   */
  static start(
    scheduler: Scheduler,
    options: DashboardOptions = {},
  ): Promise<Dashboard> {
    const host = options.host ?? "127.0.0.1";
    const token = options.token;
    if (!isLoopback(host) && !token) {
      return Promise.reject(
        new Error(
          `refusing to serve the dashboard on ${host} without a token: ` +
            `anyone who can reach it could read the cluster's state. Give ` +
            `a token, or bind 127.0.0.1.`,
        ),
      );
    }
    const lag = new EventLoopLag();
    const streams = new Set<() => void>();
    const handler = (req: Request): Response => {
      const url = new URL(req.url);
      if (token !== undefined) {
        const given = tokenOf(req, url);
        if (given === undefined || !sameToken(given, token)) {
          return text(
            "this Tendril dashboard needs the cluster's token: " +
              "Authorization: Bearer TOKEN, or ?token=TOKEN\n",
            401,
          );
        }
      }
      const response = route(scheduler, lag, url.pathname, streams);
      if (token !== undefined && url.searchParams.has("token")) {
        response.headers.set(
          "set-cookie",
          `${COOKIE}=${
            encodeURIComponent(token)
          }; HttpOnly; SameSite=Strict; Path=/`,
        );
      }
      return response;
    };
    const port = options.port ?? DEFAULT_DASHBOARD_PORT;
    const serve = (port: number) =>
      Deno.serve({ hostname: host, port, onListen: () => {} }, handler);
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      try {
        server = serve(port);
      } catch (e) {
        if (!(e instanceof Deno.errors.AddrInUse && options.anyPortIfTaken)) {
          throw e;
        }
        server = serve(0);
        console.error(
          `tendril: port ${port} is taken; the dashboard is on port ` +
            `${server.addr.port} instead`,
        );
      }
    } catch (e) {
      lag.stop();
      return Promise.reject(
        new Error(
          `cannot serve the dashboard on ${host}:${port}: ${
            (e as Error).message
          }`,
          { cause: e },
        ),
      );
    }
    const { hostname } = server.addr;
    const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
    const dashboard = new Dashboard(
      server,
      `http://${shown}:${server.addr.port}/`,
      lag,
      streams,
    );
    scheduler.state.about.dashboard = dashboard.url;
    return Promise.resolve(dashboard);
  }

  /** Stops serving; resolves once the server has shut down. */
  close(): Promise<void> {
    return this.#closing ??= (async () => {
      this.#lag.stop();
      for (const end of [...this.#streams]) end();
      await this.#server.shutdown();
    })();
  }

  /** Same as {@linkcode Dashboard.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Milliseconds between two snapshots on `/api/stream`: a second, as the
 * page's drawing costs the browser, which may share the scheduler's cores.
 */
export const STREAM_INTERVAL_MS = 1000;

/**
 * A server-sent events stream of {@linkcode liveSnapshot}s, one every
 * second, starting with the recent task stream. `open` files the function
 * that ends it (the dashboard ends every stream before shutting down).
 */
function snapshots(state: SchedulerState, open: Set<() => void>): Response {
  const encoder = new TextEncoder();
  let end = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let since = Math.max(0, state.metrics.spans - MAX_SPANS_PER_SNAPSHOT);
      const tick = () => {
        const snap = liveSnapshot(state, since);
        since = snap.seq;
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(snap)}\n\n`));
      };
      const timer = setInterval(tick, STREAM_INTERVAL_MS);
      end = () => {
        clearInterval(timer);
        open.delete(end);
        try {
          controller.close();
        } catch {
          // cancelled by the browser already
        }
      };
      open.add(end);
      tick();
    },
    cancel() {
      end();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
    },
  });
}

/** Answers one request for `path`; `streams` holds the open event streams. */
function route(
  scheduler: Scheduler,
  lag: EventLoopLag,
  path: string,
  streams: Set<() => void>,
): Response {
  const { state } = scheduler;
  if (path.startsWith("/task/")) return text(TASK_PAGE, 200, "text/html");
  if (path.startsWith("/api/task/")) {
    const key = decodeURIComponent(path.slice("/api/task/".length));
    const detail = taskDetail(state, key);
    return detail
      ? text(JSON.stringify(detail), 200, "application/json")
      : text(
        JSON.stringify({ error: `no task ${key}` }),
        404,
        "application/json",
      );
  }
  switch (path) {
    case "/":
    case "/status":
      return text(STATUS_PAGE, 200, "text/html");
    case "/api/stream":
      return snapshots(state, streams);
    case "/health":
      return text("ok");
    case "/metrics":
      return text(
        renderMetrics(
          state.describe(),
          state.metrics,
          {
            eventLoopLagSeconds: lag.seconds,
            residentBytes: Deno.memoryUsage().rss,
          },
        ),
        200,
        "text/plain; version=0.0.4",
      );
    case "/api/info":
      return text(
        JSON.stringify(state.describe()),
        200,
        "application/json",
      );
    default:
      return text(`no such page: ${path}\n`, 404);
  }
}
