/**
 * The TCP transport: a {@linkcode Connection} over a byte stream (a
 * `Deno.Conn`, a TLS connection). Each batch travels as ONE frame: a 4-byte
 * big-endian length, then the msgpack encoding of the batch (an array of
 * messages), written with one write call (looping on partial writes), on
 * sockets with `TCP_NODELAY` set (LIMITS.md: Deno does not set it, and a
 * frame split over two segments costs a 44 ms Nagle stall per round trip).
 *
 * Incoming bytes are untrusted: a length prefix above the maximum frame size
 * (64 MiB by default), a frame that ends at EOF, or a payload that does not
 * decode to an array closes the connection with a logged reason. A closing
 * side sends a last frame `{ close: reason }` (a map, not a batch), shuts
 * its write side and drains the peer's bytes until EOF (or a linger timeout),
 * so the reason reaches the peer instead of being lost to a reset.
 *
 * TLS: clients use `Deno.connect` + `setNoDelay` + `Deno.startTls`; servers
 * use `node:tls` (whose sockets can disable Nagle, unlike `Deno.listenTls`).
 *
 * @module
 */

import { Packr, Unpackr } from "msgpackr";
import tls from "node:tls";
import { BatchingConnection } from "./transport.ts";

/** Default maximum frame size: 64 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024;
/** Default time a closing side waits for the peer's EOF: 2 s. */
export const DEFAULT_LINGER = 2000;

/** The byte stream a {@linkcode TcpConnection} runs over (`Deno.Conn` is one). */
export interface ByteStream {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** A frame broke the protocol (size, truncation, not a batch). */
export class FrameError extends Error {
  override name = "FrameError";
}

/** Options of a {@linkcode TcpConnection}. */
export interface TcpConnectionOptions {
  /** Largest frame accepted or sent, in bytes (default 64 MiB). */
  maxFrameSize?: number;
  /** Milliseconds to wait for the peer's EOF after closing (default 2000). */
  linger?: number;
}

// Frames use their own Packr/Unpackr. msgpackr's extension registry is global
// and the codec registers Uint8Array as a plain msgpack bin, so messages
// holding codec bytes are standard msgpack.
const framePackr = new Packr({ useRecords: false, variableMapSize: true });
const frameUnpackr = new Unpackr(
  {
    useRecords: false,
    copyBuffers: true, // payloads are views of a reused read buffer
    structuredClone: false,
  } as ConstructorParameters<typeof Unpackr>[0],
);

const READ_CHUNK = 256 * 1024;
const COALESCE_LIMIT = 1024 * 1024;

/**
 * A connection exchanging length-prefixed msgpack frames over a byte stream.
 *
 * @example
 * ```ts
 * import { connect, listen, type TcpConnection } from "./tcp_transport.ts";
 * type Conn = TcpConnection<string, string>;
 * const accepted = Promise.withResolvers<Conn>();
 * const listener = await listen<string, string>({ port: 0 }, accepted.resolve);
 * const client = await connect<string, string>(listener.address);
 * const server = await accepted.promise;
 * const got = new Promise<string[]>((r) => server.onMessages(r));
 * client.send("hello");
 * console.assert((await got)[0] === "hello");
 * client.close();
 * await Promise.all([client.done, server.done, listener.close()]);
 * ```
 */
export class TcpConnection<In, Out> extends BatchingConnection<In, Out> {
  /** Peer description (host:port, or the address dialled). */
  readonly peer: string;
  /** Resolves once the socket is closed and no read or write is pending. */
  readonly done: Promise<void>;
  /** This side's IP, when known (the interface that reaches the peer). */
  localHostname: string | undefined;
  /**
   * Sees every received batch before the handler and returns what to
   * deliver (handshakes consume their message, validators check each one).
   * Throwing closes the connection, logging the error's message as reason.
   */
  intercept: ((batch: unknown[]) => In[]) | null = null;
  readonly #stream: ByteStream;
  readonly #max: number;
  readonly #linger: number;
  #queue: Uint8Array[] = [];
  #writing = false;
  #finishing = false;
  #writerDone = false;
  #readerDone = false;
  #peerEof = false;
  #peerClosed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resolveDone!: () => void;

  /** Wraps `stream` and starts reading at once. */
  constructor(
    stream: ByteStream,
    peer: string,
    options: TcpConnectionOptions = {},
  ) {
    super();
    this.#stream = stream;
    this.peer = peer;
    this.#max = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#linger = options.linger ?? DEFAULT_LINGER;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    this.#read();
  }

  /** The maximum frame size, in bytes. */
  get maxFrameSize(): number {
    return this.#max;
  }

  // ---- writing --------------------------------------------------------------

  protected write(batch: Out[]): void {
    this.#encode(batch);
    this.#pump();
  }

  /** Encodes `batch` as one frame, or several if it is too big for one. */
  #encode(batch: unknown[]): void {
    const body = framePackr.pack(batch);
    if (body.length <= this.#max) {
      const frame = new Uint8Array(body.length + 4);
      new DataView(frame.buffer).setUint32(0, body.length);
      frame.set(body, 4); // pack() gives a view of a shared buffer: copy now
      this.#queue.push(frame);
      return;
    }
    if (batch.length > 1) {
      const half = batch.length >> 1;
      this.#encode(batch.slice(0, half));
      this.#encode(batch.slice(half));
      return;
    }
    throw new FrameError(
      `a message of ${body.length} bytes exceeds the ${this.#max}-byte frame limit`,
    );
  }

  async #pump(): Promise<void> {
    if (this.#writing || this.#writerDone) return;
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        const chunk = this.#take();
        for (let off = 0; off < chunk.length;) {
          off += await this.#stream.write(chunk.subarray(off));
        }
      }
      if (this.#finishing) {
        this.#writerDone = true;
        await this.#stream.closeWrite().catch(() => {});
        this.#writerFinished();
      }
    } catch (e) {
      this.#queue = [];
      this.#writerDone = true;
      this.#finalize(); // broken: no point waiting for the peer
      if (!this.closed) {
        this.terminate(
          new Error(`write to ${this.peer} failed: ${message(e)}`),
        );
      }
    } finally {
      this.#writing = false;
    }
  }

  /** The next thing to write: small frames coalesced into one buffer. */
  #take(): Uint8Array {
    const q = this.#queue;
    let n = 1, size = q[0].length;
    while (n < q.length && size + q[n].length <= COALESCE_LIMIT) {
      size += q[n++].length;
    }
    if (n === 1) return q.shift()!;
    const out = new Uint8Array(size);
    let off = 0;
    for (const frame of q.splice(0, n)) {
      out.set(frame, off);
      off += frame.length;
    }
    return out;
  }

  protected shutdown(reason: Error | undefined): void {
    this.#finishing = true;
    if (reason && !this.#peerEof && !this.#peerClosed) {
      try {
        this.#encode({ close: reason.message } as unknown as unknown[]);
      } catch {
        // nothing more to say
      }
    }
    if (this.#readerDone || this.#peerClosed) this.#queue = []; // it won't read
    if (!this.#writing) this.#pump();
  }

  #writerFinished(): void {
    if (this.#readerDone) return this.#finalize();
    // Wait for the peer's EOF so it reads everything we sent; not forever.
    this.#timer = setTimeout(() => this.#finalize(), this.#linger);
  }

  #finalize(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      this.#stream.close();
    } catch {
      // already closed
    }
    if (this.#readerDone && this.#writerDone) this.#resolveDone();
  }

  // ---- reading --------------------------------------------------------------

  async #read(): Promise<void> {
    let buf = new Uint8Array(READ_CHUNK);
    let start = 0, end = 0;
    try {
      for (;;) {
        // Every complete frame in buf[start, end).
        while (end - start >= 4 && !this.#finishing) {
          const len = readLength(buf, start);
          if (len > this.#max) {
            return this.#violation(
              `frame of ${len} bytes exceeds the ${this.#max}-byte limit`,
            );
          }
          if (end - start - 4 >= len) {
            const payload = buf.subarray(start + 4, start + 4 + len);
            start += 4 + len;
            this.#frame(payload);
            continue;
          }
          if (len + 4 > buf.length) {
            // A big frame: read its payload straight into its own buffer.
            const payload = new Uint8Array(len);
            payload.set(buf.subarray(start + 4, end));
            let filled = end - start - 4;
            start = end = 0;
            while (filled < len) {
              const n = await this.#stream.read(payload.subarray(filled));
              if (n === null) return this.#truncated(filled, len);
              filled += n;
            }
            this.#frame(payload);
            continue;
          }
          break;
        }
        if (this.#finishing) {
          // Closing: discard what the peer still sends until its EOF.
          start = end = 0;
          if (buf.length > READ_CHUNK) buf = new Uint8Array(READ_CHUNK);
        } else if (start > 0) {
          buf.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
        const n = await this.#stream.read(buf.subarray(end));
        if (n === null) {
          this.#peerEof = true;
          if (end > start && !this.#finishing) {
            const have = end - start;
            return have < 4
              ? this.#violation(
                `truncated frame: the connection ended after ${have} of 4 length bytes`,
              )
              : this.#truncated(have - 4, readLength(buf, start));
          }
          return this.terminate(undefined);
        }
        end += n;
      }
    } catch (e) {
      if (!this.closed) {
        this.terminate(
          new Error(`read from ${this.peer} failed: ${message(e)}`),
        );
      }
    } finally {
      this.#readerDone = true;
      if (this.#writerDone) this.#finalize();
      else if (!this.#writing) this.#pump();
    }
  }

  #truncated(got: number, len: number): void {
    this.#violation(
      `truncated frame: the connection ended after ${got} of ${len} bytes`,
    );
  }

  #frame(payload: Uint8Array): void {
    let value: unknown;
    try {
      value = frameUnpackr.unpack(payload);
    } catch (e) {
      return this.#violation(`frame is not valid msgpack: ${message(e)}`);
    }
    if (!Array.isArray(value)) {
      if (isCloseNotice(value)) {
        const reason = value.close;
        this.#peerClosed = true;
        return this.terminate(
          typeof reason === "string" ? new Error(reason) : undefined,
        );
      }
      return this.#violation(
        `frame is not a batch (array) but ${describeValue(value)}`,
      );
    }
    let batch = value as In[];
    if (this.intercept) {
      try {
        batch = this.intercept(value);
      } catch (e) {
        return this.#violation(message(e));
      }
    }
    if (batch.length === 0 || this.closed) return;
    try {
      this.deliver(batch);
    } catch (e) {
      this.#violation(`handling a message failed: ${message(e)}`);
    }
  }

  #violation(reason: string): void {
    if (this.closed) return;
    console.error(`tendril: closing connection to ${this.peer}: ${reason}`);
    this.close(new FrameError(reason));
  }
}

function readLength(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) >>> 0) + (buf[at + 1] << 16) + (buf[at + 2] << 8) +
    buf[at + 3];
}

function isCloseNotice(v: unknown): v is { close: string | null } {
  return typeof v === "object" && v !== null && "close" in v &&
    Object.keys(v).length === 1 &&
    (typeof (v as { close: unknown }).close === "string" ||
      (v as { close: unknown }).close === null);
}

/** A short description of a value's type, for error messages. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "bytes";
  if (typeof value === "object") {
    const name = value.constructor?.name;
    return name && name !== "Object" ? `a ${name}` : "a map";
  }
  return `a ${typeof value}`;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- addresses ---------------------------------------------------------------

/** A parsed `tcp://host:port` or `tls://host:port` address. */
export interface Address {
  scheme: "tcp" | "tls";
  /** Host name or IP (IPv6 without brackets). */
  hostname: string;
  port: number;
  /** The query string's parameters (e.g. `token`, `ca`). */
  params: URLSearchParams;
}

/**
 * Parses `tcp://host:port` / `tls://host:port`, optionally with a query.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./tcp_transport.ts";
 * const a = parseAddress("tls://[::1]:8786?token=abc");
 * console.assert(a.scheme === "tls" && a.hostname === "::1" && a.port === 8786);
 * console.assert(a.params.get("token") === "abc");
 * ```
 */
export function parseAddress(address: string): Address {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new TypeError(
      `bad address ${
        JSON.stringify(address)
      }: expected tcp://HOST:PORT or tls://HOST:PORT`,
    );
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== "tcp" && scheme !== "tls") {
    throw new TypeError(
      `bad address ${
        JSON.stringify(address)
      }: the scheme must be tcp:// or tls://`,
    );
  }
  const port = Number(url.port);
  if (!url.hostname || !url.port || !Number.isInteger(port)) {
    throw new TypeError(
      `bad address ${JSON.stringify(address)}: a host and a port are required`,
    );
  }
  return {
    scheme,
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port,
    params: url.searchParams,
  };
}

/** Formats an address (brackets around IPv6 hosts). */
export function formatAddress(
  scheme: "tcp" | "tls",
  hostname: string,
  port: number,
): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `${scheme}://${host}:${port}`;
}

/** True for loopback hosts (127.0.0.0/8, ::1, localhost). */
export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) ||
    h === "::ffff:127.0.0.1";
}

// ---- dialling and listening ----------------------------------------------------

/** Options of {@linkcode connect}. */
export interface ConnectOptions extends TcpConnectionOptions {
  /** PEM CA certificates trusted for `tls://` addresses (besides the system's). */
  caCerts?: string[];
}

/**
 * Opens a connection to `tcp://host:port` or `tls://host:port`.
 *
 * @throws when the address is bad or the peer cannot be reached.
 */
export async function connect<In, Out>(
  address: string,
  options: ConnectOptions = {},
): Promise<TcpConnection<In, Out>> {
  const { scheme, hostname, port } = parseAddress(address);
  const tcp = await Deno.connect({ hostname, port });
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
      throw new Error(`TLS handshake with ${address} failed: ${message(e)}`);
    }
  }
  const peer = formatAddress(scheme, hostname, port);
  const conn = new TcpConnection<In, Out>(stream, peer, options);
  conn.localHostname = local;
  return conn;
}

/** Options of {@linkcode listen}. */
export interface ListenOptions extends TcpConnectionOptions {
  /** Interface to bind (default 127.0.0.1). */
  hostname?: string;
  /** Port (0: any free port). */
  port: number;
  /** PEM certificate chain and key: listen for `tls://` instead of `tcp://`. */
  tls?: { cert: string; key: string };
}

/** A listening socket handing out {@linkcode TcpConnection}s. */
export interface FrameListener {
  /** `tcp://host:port` or `tls://host:port`, with the port actually bound. */
  readonly address: string;
  readonly hostname: string;
  readonly port: number;
  /** Stops accepting (open connections stay open). */
  close(): Promise<void>;
}

/**
 * Listens on `options.hostname:options.port` and calls `onConnection` with
 * every accepted connection (already set to `TCP_NODELAY`).
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
  const loop = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource) return; // closed
        console.error(`tendril: accept failed: ${message(e)}`);
        continue;
      }
      try {
        conn.setNoDelay(true);
      } catch {
        // the peer is already gone; the read loop will notice
      }
      const remote = conn.remoteAddr;
      onConnection(
        new TcpConnection<In, Out>(
          conn,
          formatAddress("tcp", remote.hostname, remote.port).slice(6),
          options,
        ),
      );
    }
  })();
  let closed: Promise<void> | undefined;
  return {
    address: formatAddress("tcp", bound.hostname, bound.port),
    hostname: bound.hostname,
    port: bound.port,
    close: () =>
      closed ??= (async () => {
        try {
          listener.close();
        } catch {
          // already closed
        }
        await loop;
      })(),
  };
}

async function listenTls<In, Out>(
  hostname: string,
  options: ListenOptions,
  pem: { cert: string; key: string },
  onConnection: (conn: TcpConnection<In, Out>) => void,
): Promise<FrameListener> {
  const server = tls.createServer({ cert: pem.cert, key: pem.key });
  const sockets = new Set<tls.TLSSocket>();
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const peer = formatAddress(
      "tls",
      socket.remoteAddress ?? "?",
      socket.remotePort ?? 0,
    ).slice(6);
    onConnection(
      new TcpConnection<In, Out>(new NodeSocketStream(socket), peer, options),
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
