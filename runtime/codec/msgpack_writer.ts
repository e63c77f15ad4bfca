/**
 * The codec's own msgpack writer. The codec used to drive msgpackr, whose
 * extension registry is global to the package: a second copy of the
 * runtime in one isolate (a client module importing it by another path)
 * registered its extensions again, won, and from then on decoded every key
 * reference with its own resolver, which nobody set: tasks got
 * `[object Object]` instead of their dependencies' values, with no error.
 * Everything here and in `msgpack_reader.ts` is state of the module
 * instance (a writer and a reader per call), so no other copy, and no
 * other user of msgpackr, can change what this one writes or reads.
 *
 * Wire format (standard msgpack): nil, bool, int (smallest of 8/16/32 bits
 * for integers in 32-bit range), float64 for other numbers and -0, str,
 * bin (Uint8Array), array, map (plain objects, string keys), the timestamp
 * ext (-1) for Date, fixext 1 type 0 for undefined (as msgpackr), int64 /
 * uint64 for BigInts in 64 bits and ext 0x42 (big-endian two's complement,
 * as msgpackr) beyond. The codec's own ext types (1-5) are written by
 * `codec.ts` through {@linkcode Writer.extHeader} and
 * {@linkcode Writer.beginExt}.
 *
 * @module
 */

/** Ext type of BigInts beyond 64 bits (msgpackr's). */
export const EXT_BIGINT = 0x42;
/** Ext type of the msgpack timestamp (-1). */
export const EXT_TIMESTAMP = 0xff;

const utf8 = new TextEncoder();

/**
 * A growable msgpack output buffer. `codec.ts` walks a value and calls these
 * writers; {@linkcode Writer.take} returns a fresh copy of what was written.
 *
 * @example Writing an array of two values
 * ```ts
 * import assert from "node:assert/strict";
 * import { Writer } from "./msgpack_writer.ts";
 * const w = new Writer();
 * w.arrayHeader(2);
 * w.number(1);
 * w.string("a");
 * assert.deepEqual(Array.from(w.take()), [0x92, 1, 0xa1, 0x61]);
 * ```
 */
export class Writer {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  /** Bytes written so far. */
  pos = 0;

  /** Makes room for `n` more bytes. */
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** A fresh copy of the bytes written; the writer is empty again after. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.pos);
    this.pos = 0;
    if (this.buf.length > 1 << 22) { // do not keep a huge buffer around
      this.buf = new Uint8Array(256);
      this.view = new DataView(this.buf.buffer);
    }
    return out;
  }

  /** Forgets everything written (after a failure). */
  reset(): void {
    this.pos = 0;
  }

  /** One byte. */
  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  /** nil. */
  nil(): void {
    this.byte(0xc0);
  }

  /** undefined: fixext 1 of type 0 (as msgpackr writes it). */
  undef(): void {
    this.room(3);
    this.buf[this.pos++] = 0xd4;
    this.buf[this.pos++] = 0;
    this.buf[this.pos++] = 0;
  }

  /** true or false. */
  bool(v: boolean): void {
    this.byte(v ? 0xc3 : 0xc2);
  }

  /** A number: the smallest int for 32-bit integers, else float64 (-0 too). */
  number(v: number): void {
    this.room(9);
    const b = this.buf;
    if (v >>> 0 === v && !(v === 0 && 1 / v < 0)) {
      if (v < 0x80) b[this.pos++] = v;
      else if (v < 0x100) b[this.pos++] = 0xcc, b[this.pos++] = v;
      else if (v < 0x10000) {
        b[this.pos++] = 0xcd;
        this.view.setUint16(this.pos, v);
        this.pos += 2;
      } else {
        b[this.pos++] = 0xce;
        this.view.setUint32(this.pos, v);
        this.pos += 4;
      }
    } else if (v >> 0 === v && !(v === 0 && 1 / v < 0)) {
      if (v >= -0x20) b[this.pos++] = v & 0xff;
      else if (v >= -0x80) b[this.pos++] = 0xd0, b[this.pos++] = v & 0xff;
      else if (v >= -0x8000) {
        b[this.pos++] = 0xd1;
        this.view.setInt16(this.pos, v);
        this.pos += 2;
      } else {
        b[this.pos++] = 0xd2;
        this.view.setInt32(this.pos, v);
        this.pos += 4;
      }
    } else {
      b[this.pos++] = 0xcb;
      this.view.setFloat64(this.pos, v);
      this.pos += 8;
    }
  }

  /** A BigInt: int64/uint64 when it fits, else ext 0x42. */
  bigint(v: bigint): void {
    if (v >= -(2n ** 63n) && v < 2n ** 63n) {
      this.room(9);
      this.buf[this.pos++] = 0xd3;
      this.view.setBigInt64(this.pos, v);
      this.pos += 8;
      return;
    }
    if (v > 0n && v < 2n ** 64n) {
      this.room(9);
      this.buf[this.pos++] = 0xcf;
      this.view.setBigUint64(this.pos, v);
      this.pos += 8;
      return;
    }
    // Two's complement, big-endian, with room for the sign bit.
    let hex = (v < 0n ? -v : v).toString(16);
    if (hex.length % 2) hex = "0" + hex;
    let n = hex.length / 2 + 1;
    const bytes = new Uint8Array(n);
    let x = v < 0n ? (1n << BigInt(8 * n)) + v : v;
    for (let i = n - 1; i >= 0; i--, x >>= 8n) bytes[i] = Number(x & 0xffn);
    let start = 0; // drop redundant sign bytes
    while (
      n - start > 1 &&
      ((bytes[start] === 0 && bytes[start + 1] < 0x80) ||
        (bytes[start] === 0xff && bytes[start + 1] >= 0x80))
    ) start++;
    n -= start;
    this.extHeader(n, EXT_BIGINT);
    this.raw(bytes.subarray(start));
  }

  /** A string as UTF-8. */
  string(s: string): void {
    const len = s.length;
    if (len < 32) { // ASCII fast path for short strings
      this.room(1 + 3 * len);
      const b = this.buf, start = this.pos;
      let p = start + 1, i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === len) {
        b[start] = 0xa0 | len;
        this.pos = p;
        return;
      }
    }
    this.room(5 + 3 * len);
    const at = this.pos;
    const head = len * 3 < 32
      ? 1
      : len * 3 < 0x100
      ? 2
      : len * 3 < 0x10000
      ? 3
      : 5;
    const { written } = utf8.encodeInto(
      s,
      this.buf.subarray(at + head, at + head + 3 * len),
    );
    const need = written < 32
      ? 1
      : written < 0x100
      ? 2
      : written < 0x10000
      ? 3
      : 5;
    if (need !== head) {
      this.buf.copyWithin(at + need, at + head, at + head + written);
    }
    const b = this.buf;
    if (need === 1) b[at] = 0xa0 | written;
    else if (need === 2) b[at] = 0xd9, b[at + 1] = written;
    else if (need === 3) b[at] = 0xda, this.view.setUint16(at + 1, written);
    else b[at] = 0xdb, this.view.setUint32(at + 1, written);
    this.pos = at + need + written;
  }

  /** Bytes as a msgpack bin. */
  bin(bytes: Uint8Array): void {
    const n = bytes.length;
    this.room(5 + n);
    if (n < 0x100) this.buf[this.pos++] = 0xc4, this.buf[this.pos++] = n;
    else if (n < 0x10000) {
      this.buf[this.pos++] = 0xc5;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xc6;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
    this.raw(bytes);
  }

  /** Raw bytes, no header. */
  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** An array header for `n` elements. */
  arrayHeader(n: number): void {
    this.collectionHeader(n, 0x90, 0xdc);
  }

  /** A map header for `n` pairs. */
  mapHeader(n: number): void {
    this.collectionHeader(n, 0x80, 0xde);
  }

  /** A fix/16/32 header for `n` elements or pairs. */
  private collectionHeader(n: number, fix: number, wide: number): void {
    this.room(5);
    if (n < 16) this.buf[this.pos++] = fix | n;
    else if (n < 0x10000) {
      this.buf[this.pos++] = wide;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = wide + 1;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
  }

  /** An ext header for a payload of `n` bytes of type `type` (fixext when it fits). */
  extHeader(n: number, type: number): void {
    this.room(6);
    const b = this.buf;
    const fix = n === 1
      ? 0xd4
      : n === 2
      ? 0xd5
      : n === 4
      ? 0xd6
      : n === 8
      ? 0xd7
      : n === 16
      ? 0xd8
      : 0;
    if (fix) b[this.pos++] = fix;
    else if (n < 0x100) b[this.pos++] = 0xc7, b[this.pos++] = n;
    else if (n < 0x10000) {
      b[this.pos++] = 0xc8;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else {
      b[this.pos++] = 0xc9;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    }
    b[this.pos++] = type & 0xff;
  }

  /**
   * Starts an ext whose payload (one or more msgpack values, or raw bytes)
   * is written next; returns the mark {@linkcode Writer.endExt} needs. The
   * header is sized once the payload is known.
   */
  beginExt(): number {
    this.room(6);
    const at = this.pos;
    this.pos += 6; // the largest header; moved down when smaller
    return at;
  }

  /** Ends the ext started at `mark` as type `type`. */
  endExt(mark: number, type: number): void {
    const end = this.pos, n = end - mark - 6;
    this.pos = mark;
    this.extHeader(n, type);
    const headEnd = this.pos;
    if (headEnd !== mark + 6) this.buf.copyWithin(headEnd, mark + 6, end);
    this.pos = headEnd + n;
  }

  /** A Date as the msgpack timestamp ext (as msgpackr writes it). */
  date(d: Date): void {
    const ms = d.getTime();
    const b = this.buf;
    if (Number.isNaN(ms)) { // msgpackr's invalid date: fixext 1, type -1, 0xff
      this.room(3);
      b[this.pos++] = 0xd4, b[this.pos++] = EXT_TIMESTAMP, b[this.pos++] = 0xff;
      return;
    }
    const seconds = ms / 1000;
    const millis = ((ms % 1000) + 1000) % 1000;
    if (millis === 0 && seconds >= 0 && seconds < 0x100000000) {
      this.extHeader(4, EXT_TIMESTAMP);
      this.view.setUint32(this.pos, seconds);
      this.pos += 4;
    } else if (seconds > 0 && seconds < 0x400000000) {
      this.extHeader(8, EXT_TIMESTAMP);
      const whole = Math.floor(seconds);
      this.view.setUint32(
        this.pos,
        millis * 4000000 + Math.floor(whole / 0x100000000),
      );
      this.view.setUint32(this.pos + 4, whole >>> 0);
      this.pos += 8;
    } else {
      this.extHeader(12, EXT_TIMESTAMP);
      this.view.setUint32(this.pos, millis * 1000000);
      this.view.setBigInt64(this.pos + 4, BigInt(Math.floor(seconds)));
      this.pos += 12;
    }
  }
}
