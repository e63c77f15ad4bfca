/**
 * The TCP transport: a {@linkcode Connection} over a byte stream (a
 * `Deno.Conn`, a TLS connection). Each batch travels as ONE frame: a 4-byte
 * big-endian length, then the msgpack encoding of the batch (an array of
 * messages), written with one write call (looping on partial writes), on
 * sockets with `TCP_NODELAY` set: Deno does not set it, and without it a
 * frame split over two segments was measured to cost a 44 ms Nagle stall per
 * round trip.
 *
 * Incoming bytes are untrusted: a length prefix above the maximum frame size
 * (64 MiB by default), a frame that ends at EOF, or a payload that does not
 * decode to an array closes the connection with a logged reason. A closing
 * side sends a last frame `{ close: reason }` (a map, not a batch), shuts
 * its write side and drains the peer's bytes until EOF (or a linger timeout),
 * so the reason reaches the peer instead of being lost to a reset.
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

/** Bytes read from a socket at a time. */
export const READ_CHUNK = 256 * 1024;
const COALESCE_LIMIT = 1024 * 1024;

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

  /**
   * Encodes `batch` as frames and starts writing them.
   *
   * @throws {FrameError} when a single message exceeds the maximum frame size.
   */
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

  /**
   * Queues a close notice with the reason's message (when there is a reason
   * and the peer has not closed first), then writes what is queued, shuts
   * the write side and waits up to the linger time for the peer's end of
   * stream before closing the socket.
   */
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
