/**
 * Dialling and listening: {@linkcode connect} opens a
 * {@linkcode TcpConnection} to an address, {@linkcode listen} accepts them.
 * TLS clients use `Deno.connect` + `setNoDelay` + `Deno.startTls`; TLS
 * servers use `node:tls`, whose sockets can disable Nagle, unlike
 * `Deno.listenTls`.
 *
 * @module
 */

import tls from "node:tls";
import { ConnectionFailedError } from "../../errors.ts";
import { formatAddress, parseAddress } from "./address.ts";
import {
  type ByteStream,
  message,
  READ_CHUNK,
  TcpConnection,
  type TcpConnectionOptions,
} from "./connection.ts";

/** Options of {@linkcode connect}. */
export interface ConnectOptions extends TcpConnectionOptions {
  /** PEM CA certificates trusted for `tls://` addresses (besides the system's). */
  caCerts?: string[];
  /**
   * PEM certificate chain and key presented to a `tls://` listener that
   * asks for one (mutual TLS).
   */
  clientCert?: { cert: string; key: string };
}

/**
 * Opens a connection to `tcp://host:port` or `tls://host:port`, with
 * `TCP_NODELAY` set. For `tls://`, the TLS handshake completes before the
 * connection is returned.
 *
 * @throws {TypeError} (as a rejection) when the address is bad; the
 * connection's error when the peer cannot be reached or the TLS handshake
 * fails.
 * @example A bad address is refused before dialling
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "./listen.ts";
 * await assert.rejects(connect("http://localhost:8786"), TypeError);
 * ```
 */
export async function connect<In, Out>(
  address: string,
  options: ConnectOptions = {},
): Promise<TcpConnection<In, Out>> {
  const { scheme, hostname, port } = parseAddress(address);
  if (scheme === "tls" && options.clientCert) {
    // Deno's own TLS client cannot present a certificate on a connection
    // it did not open itself; node:tls can, and keeps TCP_NODELAY.
    const stream = await connectWithCertificate(
      address,
      hostname,
      port,
      options,
    );
    const conn = new TcpConnection<In, Out>(
      stream,
      formatAddress(scheme, hostname, port),
      options,
    );
    conn.localHostname = stream.localHostname;
    return conn;
  }
  let tcp: Deno.TcpConn;
  try {
    tcp = await Deno.connect({ hostname, port });
  } catch (e) {
    throw refused(address, e);
  }
  tcp.setNoDelay(true);
  const local = tcp.localAddr.hostname;
  let stream: ByteStream = tcp;
  if (scheme === "tls") {
    try {
      const conn = await Deno.startTls(tcp, {
        hostname,
        caCerts: options.caCerts,
      });
      await conn.handshake();
      stream = conn;
    } catch (e) {
      try {
        tcp.close();
      } catch {
        // startTls took it over
      }
      throw tlsFailed(address, e);
    }
  }
  const peer = formatAddress(scheme, hostname, port);
  const conn = new TcpConnection<In, Out>(stream, peer, options);
  conn.localHostname = local;
  return conn;
}

/** A connection that could not be opened, naming the address. */
function refused(address: string, e: unknown): ConnectionFailedError {
  // Deno's errors do not say where ("Connection refused (os error 111)").
  const what = e instanceof Deno.errors.ConnectionRefused ||
      (e as { code?: string })?.code === "ECONNREFUSED"
    ? "nothing listens there (connection refused)"
    : message(e);
  return new ConnectionFailedError(`cannot connect to ${address}: ${what}`, {
    cause: e,
  });
}

/** A TLS handshake that failed, naming the address and the likely cause. */
function tlsFailed(address: string, e: unknown): ConnectionFailedError {
  return new ConnectionFailedError(
    `TLS handshake with ${address} failed: ${message(e)} ` +
      "(if that port speaks plain TCP, dial tcp:// instead)",
    { cause: e },
  );
}

/** Opens a `tls://` connection presenting `options.clientCert`. */
function connectWithCertificate(
  address: string,
  hostname: string,
  port: number,
  options: ConnectOptions,
): Promise<NodeSocketStream & { localHostname?: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: hostname,
      port,
      servername: /^[\d.]+$|:/.test(hostname) ? undefined : hostname,
      ca: options.caCerts,
      cert: options.clientCert!.cert,
      key: options.clientCert!.key,
    });
    socket.setNoDelay(true);
    const failed = (e: Error) => {
      socket.destroy();
      const code = (e as { code?: string }).code;
      reject(
        code === "ECONNREFUSED" ? refused(address, e) : tlsFailed(address, e),
      );
    };
    socket.once("error", failed);
    socket.once("secureConnect", () => {
      socket.off("error", failed);
      const stream = new NodeSocketStream(socket) as NodeSocketStream & {
        localHostname?: string;
      };
      stream.localHostname = socket.localAddress;
      resolve(stream);
    });
  });
}

/** Options of {@linkcode listen}. */
export interface ListenOptions extends TcpConnectionOptions {
  /** Interface to bind (default 127.0.0.1). */
  hostname?: string;
  /** Port (0: any free port). */
  port: number;
  /**
   * PEM certificate chain and key: listen for `tls://` instead of `tcp://`.
   * With `clientCa`, every peer must present a certificate signed by it
   * (mutual TLS).
   */
  tls?: { cert: string; key: string; clientCa?: string };
  /**
   * Connections not yet authenticated that may be open at once (default
   * 64); past it the oldest is closed, so a flood of idle sockets cannot
   * hold memory or keep a real peer out.
   */
  maxUnauthenticated?: number;
  /**
   * Wraps each accepted connection's byte stream before framing starts
   * (the scheduler answers HTTP requests this way: see `http_refusal.ts`).
   */
  wrapStream?: (stream: ByteStream, peer: string) => ByteStream;
}

/** Default cap on connections not yet authenticated, per listener. */
export const DEFAULT_MAX_UNAUTHENTICATED = 64;

/** Longest pause of the accept loop when the process is out of descriptors. */
const ACCEPT_BACKOFF_MAX = 1000;

/** A listening socket handing out {@linkcode TcpConnection}s. */
export interface FrameListener {
  /** `tcp://host:port` or `tls://host:port`, with the port actually bound. */
  readonly address: string;
  /** The address of the interface bound. */
  readonly hostname: string;
  /** The port actually bound (the one chosen when 0 was asked for). */
  readonly port: number;
  /** Stops accepting (open connections stay open). */
  close(): Promise<void>;
}

/**
 * Listens on `options.hostname:options.port` and calls `onConnection` with
 * every accepted connection (already set to `TCP_NODELAY`). With
 * `options.tls`, it accepts `tls://` connections, handing out each one once
 * its TLS handshake is done.
 *
 * @example Listening on a free port
 * ```ts
 * import assert from "node:assert/strict";
 * import { listen } from "./listen.ts";
 * const listener = await listen({ port: 0 }, (conn) => conn.close());
 * assert.notEqual(listener.port, 0);
 * assert.equal(listener.address, `tcp://127.0.0.1:${listener.port}`);
 * await listener.close();
 * ```
 */
export async function listen<In, Out>(
  options: ListenOptions,
  onConnection: (conn: TcpConnection<In, Out>) => void,
): Promise<FrameListener> {
  const hostname = options.hostname ?? "127.0.0.1";
  return options.tls
    ? await listenTls(hostname, options, options.tls, onConnection)
    : listenTcp(hostname, options, onConnection);
}

function listenTcp<In, Out>(
  hostname: string,
  options: ListenOptions,
  onConnection: (conn: TcpConnection<In, Out>) => void,
): FrameListener {
  const listener = Deno.listen({ hostname, port: options.port });
  const bound = listener.addr as Deno.NetAddr;
  const unauthenticated = new Set<TcpConnection<In, Out>>();
  const cap = options.maxUnauthenticated ?? DEFAULT_MAX_UNAUTHENTICATED;
  let stopped = false;
  let evicted = 0, evictedLogged = -Infinity;
  const loop = (async () => {
    let backoff = 0;
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource || stopped) return; // closed
        // Out of descriptors (EMFILE) or memory: retrying at once would
        // spin a core and flood the log. Pause, longer each time, and say
        // so once per episode.
        if (backoff === 0) {
          console.error(
            `tendril: accept on ${bound.hostname}:${bound.port} failed: ${
              message(e)
            }; pausing accept (up to ${ACCEPT_BACKOFF_MAX} ms at a time) until it works again`,
          );
        }
        backoff = Math.min(ACCEPT_BACKOFF_MAX, Math.max(10, backoff * 2));
        await new Promise((r) => setTimeout(r, backoff));
        continue;
      }
      if (backoff > 0) {
        console.error(
          `tendril: accept on ${bound.hostname}:${bound.port} works again`,
        );
        backoff = 0;
      }
      try {
        conn.setNoDelay(true);
      } catch {
        // the peer is already gone; the read loop will notice
      }
      const remote = conn.remoteAddr;
      const peer = formatAddress("tcp", remote.hostname, remote.port).slice(6);
      const stream = options.wrapStream?.(conn, peer) ?? conn;
      const tcp = new TcpConnection<In, Out>(stream, peer, options);
      if (!tcp.isAuthenticated && admitUnder(cap, unauthenticated, tcp)) {
        // One line per second at most, with the count: a flood must not
        // flood the log too.
        evicted++;
        const now = performance.now();
        if (now - evictedLogged >= 1000) {
          console.error(
            `tendril: more than ${cap} connections have not authenticated; closed the oldest ${evicted} so far`,
          );
          evictedLogged = now;
        }
      }
      onConnection(tcp);
    }
  })();
  let closed: Promise<void> | undefined;
  return {
    address: formatAddress("tcp", bound.hostname, bound.port),
    hostname: bound.hostname,
    port: bound.port,
    close: () =>
      closed ??= (async () => {
        stopped = true;
        try {
          listener.close();
        } catch {
          // already closed
        }
        await loop;
      })(),
  };
}

/**
 * Files a connection that has yet to authenticate among `pending`, closing
 * the oldest when there are more than `cap` (then returns true): a flood of
 * idle sockets is bounded in memory, and a real peer still gets in (its
 * socket is the newest).
 */
function admitUnder<In, Out>(
  cap: number,
  pending: Set<TcpConnection<In, Out>>,
  conn: TcpConnection<In, Out>,
): boolean {
  for (const c of pending) {
    if (c.closed || c.isAuthenticated) pending.delete(c);
  }
  pending.add(conn);
  conn.onClose(() => pending.delete(conn));
  if (pending.size <= cap) return false;
  const oldest = pending.values().next().value!;
  pending.delete(oldest);
  oldest.close(new Error(`too many unauthenticated connections (over ${cap})`));
  return true;
}

async function listenTls<In, Out>(
  hostname: string,
  options: ListenOptions,
  pem: NonNullable<ListenOptions["tls"]>,
  onConnection: (conn: TcpConnection<In, Out>) => void,
): Promise<FrameListener> {
  const server = tls.createServer({
    cert: pem.cert,
    key: pem.key,
    ...(pem.clientCa
      ? { ca: pem.clientCa, requestCert: true, rejectUnauthorized: true }
      : {}),
  });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    socket.setNoDelay(true);
    const peer = formatAddress(
      "tls",
      socket.remoteAddress ?? "?",
      socket.remotePort ?? 0,
    ).slice(6);
    const stream = new NodeSocketStream(socket);
    onConnection(
      new TcpConnection<In, Out>(
        options.wrapStream?.(stream, peer) ?? stream,
        peer,
        options,
      ),
    );
  });
  server.on("tlsClientError", (e: Error, socket: tls.TLSSocket) => {
    const who = socket.remoteAddress
      ? `${socket.remoteAddress}:${socket.remotePort}`
      : "a peer";
    console.error(`tendril: TLS handshake with ${who} failed: ${e.message}`);
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as { address: string; port: number };
  let closed: Promise<void> | undefined;
  return {
    address: formatAddress("tls", bound.address, bound.port),
    hostname: bound.address,
    port: bound.port,
    close: () =>
      closed ??= new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A pull-based {@linkcode ByteStream} over a node socket (for `node:tls`). */
class NodeSocketStream implements ByteStream {
  readonly #socket: tls.TLSSocket;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    const wake = () => {
      const w = this.#wake;
      this.#wake = null;
      w?.();
    };
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered > 4 * READ_CHUNK) socket.pause();
      wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      wake();
    });
    socket.on("error", (e: Error) => {
      this.#error = e;
      wake();
    });
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    let n = 0;
    while (n < p.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.length, p.length - n);
      p.set(chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#buffered -= n;
    if (this.#socket.isPaused() && this.#buffered < READ_CHUNK) {
      this.#socket.resume();
    }
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#socket.destroyed) {
        return reject(this.#error ?? new Error("socket closed"));
      }
      this.#socket.write(
        p,
        (e?: Error | null) => e ? reject(e) : resolve(p.length),
      );
    });
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#socket.destroyed || this.#socket.writableEnded) {
        return resolve();
      }
      this.#socket.end(() => resolve());
    });
  }

  close(): void {
    this.#socket.destroy();
    this.#ended = true;
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}
