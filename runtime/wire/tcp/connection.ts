/**
 * The TCP transport: a {@linkcode Connection} over a byte stream (a
 * `Deno.Conn`, a TLS connection). Each batch travels as ONE frame: a 4-byte
 * big-endian length, then the msgpack encoding of the batch (an array of
 * messages), written with one write call (looping on partial writes), on
 * sockets with `TCP_NODELAY` set: Deno does not set it, and without it a
 * frame split over two segments was measured to cost a 44 ms Nagle stall per
 * round trip.
 *
 * A batch bigger than the frame limit (a 1 GB value) travels as several
 * frames: each but the last has the top bit of its length set ("more
 * follows"), and the receiver joins them, up to a message limit (2 GiB by
 * default), so the frame limit bounds what is read at a time, not the size
 * of a value. TCP's own flow control paces the chunks.
 *
 * Incoming bytes are untrusted: a length prefix above the maximum frame size
 * (64 MiB by default), a frame that ends at EOF, or a payload that does not
 * decode to an array closes the connection with a logged reason. Until the
 * handshake authenticates the peer, frames are limited to a few KiB and the
 * read buffer is as small (so unauthenticated connections cost little), and
 * bytes that look like another protocol (TLS, HTTP) are named as such. A
 * frame must arrive at a minimum pace once it has started, so a peer that
 * trickles bytes cannot hold a connection forever. A closing side sends a
 * last frame `{ close: reason }` (a map, not a batch; `null` for a close
 * without a reason), shuts its write side and drains the peer's bytes until
 * EOF (or a linger timeout), so the reason reaches the peer instead of being
 * lost to a reset; a peer that ends the stream without that notice vanished
 * (killed, or cut off), and {@linkcode TcpConnection.vanished} says so.
 *
 * @module
 */

import { Packr, Unpackr } from "msgpackr";
import { FrameError } from "../../errors.ts";
import { describeValue } from "../checks.ts";
import { BatchingConnection } from "../transport.ts";

/** Default maximum frame size: 64 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024;
/** Default time a closing side waits for the peer's EOF: 2 s. */
export const DEFAULT_LINGER = 2000;

/** The byte stream a {@linkcode TcpConnection} runs over (`Deno.Conn` is one). */
export interface ByteStream {
  /** Reads into `p`: resolves with the number of bytes read, or `null` at the end of the stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes from `p`: resolves with the number of bytes written, which may be fewer than `p.length`. */
  write(p: Uint8Array): Promise<number>;
  /** Shuts the write side (the peer reads the end of the stream); reading goes on. */
  closeWrite(): Promise<void>;
  /** Closes the stream in both directions. */
  close(): void;
}

/** Default largest message (a batch, joined from its frames): 2 GiB - 1. */
export const DEFAULT_MAX_MESSAGE_SIZE = 2 ** 31 - 1;
/** The top bit of a frame's length: more frames of this message follow. */
const MORE = 0x80000000;

/** Default largest frame before the handshake authenticates the peer: 16 KiB. */
export const DEFAULT_PRE_AUTH_FRAME_SIZE = 16 * 1024;
/** Slowest pace a started frame may arrive at: 64 KiB/s (after an allowance). */
const MIN_FRAME_RATE = 64 * 1024;
/** Default time any started frame has, on top of its size at the slowest pace: 10 s. */
export const DEFAULT_FRAME_ALLOWANCE = 10_000;

/** Options of a {@linkcode TcpConnection}. */
export interface TcpConnectionOptions {
  /** Largest frame accepted or sent once authenticated, in bytes (default 64 MiB). */
  maxFrameSize?: number;
  /**
   * Largest message accepted or sent, joined from its frames (default
   * 2 GiB - 1); before authentication a message is one frame.
   */
  maxMessageSize?: number;
  /**
   * Largest frame accepted before {@linkcode TcpConnection.authenticated}
   * (servers pass {@linkcode DEFAULT_PRE_AUTH_FRAME_SIZE}; unset, the
   * connection starts authenticated).
   */
  preAuthFrameSize?: number;
  /** Milliseconds to wait for the peer's EOF after closing (default 2000). */
  linger?: number;
  /**
   * Milliseconds a started frame has to arrive, on top of its size at
   * 64 KiB/s (default 10 000): a peer trickling bytes is cut off.
   */
  frameAllowance?: number;
}

// Frames use their own Packr/Unpackr; codec bytes (Uint8Array) are written as
// msgpack bin, so frames are standard msgpack. msgpackr's extension registry
// is package-global: a user module calling its addExtension could change how
// frames are written (the codec no longer uses msgpackr at all).
const framePackr = new Packr({ useRecords: false, variableMapSize: true });
const frameUnpackr = new Unpackr(
  {
    useRecords: false,
    copyBuffers: true, // payloads are views of a reused read buffer
    structuredClone: false,
  } as ConstructorParameters<typeof Unpackr>[0],
);
// A payload in a buffer of its own (a big frame, or a message joined from
// frames) is never reused: its byte strings can stay views of it, sparing a
// copy of every large value (measured: a third of a 1 GB transfer).
const ownedFrameUnpackr = new Unpackr(
  {
    useRecords: false,
    copyBuffers: false,
    structuredClone: false,
  } as ConstructorParameters<typeof Unpackr>[0],
);

/** Bytes read from a socket at a time. */
export const READ_CHUNK = 256 * 1024;
const COALESCE_LIMIT = 1024 * 1024;
/** Most bytes handed to one write call. */
const WRITE_SLICE = 1024 * 1024;

/**
 * A connection exchanging length-prefixed msgpack frames over a byte stream.
 *
 * @example A client and a server on a free port
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, listen } from "./listen.ts";
 * import type { TcpConnection } from "./connection.ts";
 * type Conn = TcpConnection<string, string>;
 * const accepted = Promise.withResolvers<Conn>();
 * const listener = await listen<string, string>({ port: 0 }, accepted.resolve);
 * const client = await connect<string, string>(listener.address);
 * const server = await accepted.promise;
 * const got = new Promise<string[]>((r) => server.onMessages(r));
 * client.send("hello");
 * assert.deepEqual(await got, ["hello"]);
 * client.close();
 * await Promise.all([client.done, server.done, listener.close()]);
 * assert.equal(server.closed, true); // the client's close reached it
 * ```
 */
export class TcpConnection<In, Out> extends BatchingConnection<In, Out> {
  /** Peer description (host:port, or the address dialled). */
  readonly peer: string;
  /** Resolves once the socket is closed and no read or write is pending. */
  readonly done: Promise<void>;
  /** This side's IP, when known (the interface that reaches the peer). */
  localHostname: string | undefined;
  #intercept: ((batch: unknown[]) => In[]) | null = null;
  /**
   * Takes a message over the message limit instead of sending it: its
   * owner fails what the message was for, or returns smaller messages to
   * send in its place (in order, each checked the same way). Unset, such
   * a message closes the connection. Messages batched with it are sent
   * either way.
   */
  oversized:
    | ((msg: Out, size: number, limit: number) => Out[] | void)
    | null = null;
  readonly #stream: ByteStream;
  /** The frame limit once authenticated. */
  readonly #fullMax: number;
  readonly #maxMessage: number;
  /** Frames received of a message not yet complete, and their total size. */
  #parts: Uint8Array[] = [];
  #partsSize = 0;
  /** The frame limit now (smaller until authenticated). */
  #max: number;
  #authenticated = false;
  /** True once any complete frame arrived (foreign protocols are named only before). */
  #spoken = false;
  /** Timer that closes a connection whose started frame arrives too slowly. */
  #slowFrame: ReturnType<typeof setTimeout> | undefined;
  readonly #linger: number;
  readonly #frameAllowance: number;
  #queue: Uint8Array[] = [];
  #writing = false;
  #finishing = false;
  #writerDone = false;
  #readerDone = false;
  #peerEof = false;
  #peerClosed = false;
  /** True once this side closed first (so the end is not the peer vanishing). */
  #closedHere = false;
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
    this.#fullMax = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#maxMessage = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    // Without a pre-authentication limit the peer counts as authenticated
    // (raw connections of tests and tools; servers always set one).
    this.#authenticated = options.preAuthFrameSize === undefined;
    this.#max = Math.min(
      this.#fullMax,
      options.preAuthFrameSize ?? Infinity,
    );
    this.#linger = options.linger ?? DEFAULT_LINGER;
    this.#frameAllowance = options.frameAllowance ?? DEFAULT_FRAME_ALLOWANCE;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    this.#read();
  }

  /**
   * Sees every received batch before the handler and returns what to
   * deliver (handshakes consume their message, validators check each one).
   * Throwing closes the connection, logging the error's message as reason.
   * Batches that arrived before it was set, with no handler to take them,
   * go through it when it is set (a peer may speak before this side is
   * ready to listen).
   */
  get intercept(): ((batch: unknown[]) => In[]) | null {
    return this.#intercept;
  }

  set intercept(fn: ((batch: unknown[]) => In[]) | null) {
    this.#intercept = fn;
    if (fn) { for (const batch of this.takeEarly()) this.#pass(batch); }
  }

  /** The maximum frame size now, in bytes (small until authenticated). */
  get maxFrameSize(): number {
    return this.#max;
  }

  /** The largest message sent or accepted, in bytes. */
  get maxMessageSize(): number {
    return this.#maxMessage;
  }

  /** True once {@linkcode TcpConnection.authenticated} was called. */
  get isAuthenticated(): boolean {
    return this.#authenticated;
  }

  /** The handshake authenticated the peer: full-size frames and read buffers from now on. */
  authenticated(): void {
    this.#authenticated = true;
    this.#max = this.#fullMax;
  }

  /**
   * True once the connection ended without the peer's close notice: the
   * peer was killed, reset the connection, or was cut off (as opposed to
   * closing it). Meaningful once `closed`.
   */
  get vanished(): boolean {
    return this.closed && !this.#peerClosed && !this.#closedHere;
  }

  /** Closes from this side (so its end is not the peer vanishing). */
  override close(reason?: Error): void {
    if (!this.closed) this.#closedHere = true;
    super.close(reason);
  }

  // ---- writing --------------------------------------------------------------

  /**
   * Encodes `batch` as frames and starts writing them.
   *
   * @throws {FrameError} when a single message exceeds the maximum frame size.
   */
  protected write(batch: Out[]): void {
    this.#encode(batch);
    this.#pump();
  }

  /**
   * Encodes `batch` as one frame, or as several ("more follows") when it
   * is bigger than the frame limit.
   *
   * @throws {FrameError} when it is bigger than the message limit.
   */
  #encode(batch: Out[]): void {
    const body = framePackr.pack(batch);
    if (body.length > this.#maxMessage) {
      // Alone, the others may fit: only the oversized one is refused.
      if (batch.length > 1) { for (const msg of batch) this.#encode([msg]); }
      else if (this.oversized) {
        const instead = this.oversized(batch[0], body.length, this.#maxMessage);
        for (const msg of instead ?? []) this.#encode([msg]);
      } else {
        throw new FrameError(
          `a message of ${body.length} bytes exceeds the ${this.#maxMessage}-byte message limit`,
        );
      }
      return;
    }
    // pack() gives a view of a shared buffer: each frame copies its part now.
    for (let off = 0; off < body.length || off === 0;) {
      const size = Math.min(this.#fullMax, body.length - off);
      const last = off + size >= body.length;
      const frame = new Uint8Array(size + 4);
      new DataView(frame.buffer).setUint32(
        0,
        last ? size : (size | MORE) >>> 0,
      );
      frame.set(body.subarray(off, off + size), 4);
      this.#queue.push(frame);
      off += size;
      if (last) break;
    }
  }

  async #pump(): Promise<void> {
    if (this.#writing || this.#writerDone) return;
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        const chunk = this.#take();
        for (let off = 0; off < chunk.length;) {
          // At most 1 MiB per call, the write size the TCP floor in
          // LIMITS.md was measured with, rather than a whole 64 MiB frame.
          off += await this.#stream.write(
            chunk.subarray(off, off + WRITE_SLICE),
          );
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

  /**
   * Queues a close notice with the reason's message (when there is a reason
   * and the peer has not closed first), then writes what is queued, shuts
   * the write side and waits up to the linger time for the peer's end of
   * stream before closing the socket.
   */
  protected shutdown(reason: Error | undefined): void {
    this.#finishing = true;
    clearTimeout(this.#slowFrame);
    if (!this.#peerEof && !this.#peerClosed) {
      try {
        this.#encode(
          { close: reason ? reason.message : null } as unknown as Out[],
        );
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
    // Small until authenticated: an idle unauthenticated connection costs
    // a few KiB, not a full read buffer.
    let buf = new Uint8Array(Math.min(READ_CHUNK, this.#max + 4));
    let start = 0, end = 0;
    try {
      for (;;) {
        // Every complete frame in buf[start, end).
        while (end - start >= 4 && !this.#finishing) {
          const header = readLength(buf, start);
          const more = header >= MORE;
          const len = more ? header - MORE : header;
          if (len > this.#max) {
            return this.#violation(this.#oversized(buf, start, end, header));
          }
          if (more && !this.#authenticated) {
            return this.#violation(
              "a message in several frames before authentication",
            );
          }
          if (end - start - 4 >= len) {
            const payload = buf.subarray(start + 4, start + 4 + len);
            start += 4 + len;
            this.#frame(payload, more);
            continue;
          }
          if (len + 4 > buf.length && len + 4 <= READ_CHUNK) {
            // Authenticated since the buffer was made: grow it.
            const grown = new Uint8Array(READ_CHUNK);
            grown.set(buf.subarray(start, end));
            buf = grown;
            end -= start;
            start = 0;
          }
          this.#watchPace(len);
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
            this.#frame(payload, more);
            continue;
          }
          break;
        }
        if (end - start > 0 && end - start < 4) this.#watchPace(0);
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
              : this.#truncated(have - 4, readLength(buf, start) & ~MORE);
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

  /**
   * Arms the pace check of a frame that has started (of `len` bytes, 0 when
   * its length is not known yet), unless one is armed; a complete frame
   * disarms it.
   */
  #watchPace(len: number): void {
    if (this.#slowFrame !== undefined || this.#finishing) return;
    const ms = this.#frameAllowance + (len / MIN_FRAME_RATE) * 1000;
    this.#slowFrame = setTimeout(() => {
      this.#slowFrame = undefined;
      this.#violation(
        `a frame of ${len || "unknown"} bytes did not arrive within ${
          Math.round(ms)
        } ms: the peer sends too slowly`,
      );
    }, ms);
  }

  /** Why a frame of `len` bytes is refused: too big, or not our protocol at all. */
  #oversized(buf: Uint8Array, start: number, end: number, len: number): string {
    const head = buf.subarray(start, Math.min(end, start + 8));
    if (!this.#spoken) {
      const foreign = foreignProtocol(head);
      if (foreign) return foreign;
    }
    return `frame of ${len} bytes exceeds the ${this.#max}-byte limit${
      this.#authenticated ? "" : " before authentication"
    }`;
  }

  #truncated(got: number, len: number): void {
    this.#violation(
      `truncated frame: the connection ended after ${got} of ${len} bytes`,
    );
  }

  /** A whole frame arrived: a part of a message (`more`), or its end. */
  #frame(payload: Uint8Array, more: boolean): void {
    if (this.#slowFrame !== undefined) {
      clearTimeout(this.#slowFrame);
      this.#slowFrame = undefined;
    }
    this.#spoken = true;
    if (more || this.#parts.length > 0) {
      this.#partsSize += payload.length;
      if (this.#partsSize > this.#maxMessage) {
        return this.#violation(
          `a message of over ${this.#partsSize} bytes exceeds the ${this.#maxMessage}-byte message limit`,
        );
      }
      // A small frame is a view of the reused read buffer: keep a copy.
      this.#parts.push(
        payload.byteLength === payload.buffer.byteLength
          ? payload
          : payload.slice(),
      );
      if (more) return;
      payload = new Uint8Array(this.#partsSize);
      let off = 0;
      for (const part of this.#parts) {
        payload.set(part, off);
        off += part.length;
      }
      this.#parts = [];
      this.#partsSize = 0;
    }
    let value: unknown;
    try {
      const owned = payload.byteOffset === 0 &&
        payload.byteLength === payload.buffer.byteLength;
      value = (owned ? ownedFrameUnpackr : frameUnpackr).unpack(payload);
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
    this.#pass(value);
  }

  /** Runs a received batch through the intercept, then to the handler. */
  #pass(value: unknown[]): void {
    let batch = value as In[];
    if (this.#intercept) {
      try {
        batch = this.#intercept(value);
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

/**
 * Names the protocol the first bytes of a connection belong to when it is
 * not ours: a TLS handshake on a plain port, or an HTTP request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { foreignProtocol } from "./connection.ts";
 * assert.match(foreignProtocol(new TextEncoder().encode("GET / HT"))!, /HTTP/);
 * assert.match(foreignProtocol(new Uint8Array([0x16, 0x03, 0x01, 0x02]))!, /TLS/);
 * assert.equal(foreignProtocol(new Uint8Array([0, 0, 0, 9])), undefined);
 * ```
 */
export function foreignProtocol(head: Uint8Array): string | undefined {
  if (head[0] === 0x16 && head[1] === 0x03) {
    return "the peer started a TLS handshake on a plain tcp:// port " +
      "(dial tcp://, or start this side with TLS)";
  }
  const text = String.fromCharCode(...head.subarray(0, 8));
  if (/^(GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT) /.test(text)) {
    return "the peer sent an HTTP request: this is a Tendril protocol port, " +
      "not a web page";
  }
  return undefined;
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

/**
 * The message of a thrown value (an `Error`'s message, or the value as a
 * string).
 *
 * @example An Error and a thrown string
 * ```ts
 * import assert from "node:assert/strict";
 * import { message } from "./connection.ts";
 * assert.equal(message(new Error("reset")), "reset");
 * assert.equal(message("gone"), "gone");
 * ```
 */
export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
