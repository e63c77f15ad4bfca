/**
 * The codec's own msgpack reader (see `msgpack_writer.ts` for why the codec
 * owns its msgpack code, and for the format). It reads standard msgpack,
 * handing ext types other than undefined, the timestamp and big BigInts to
 * the caller.
 *
 * @module
 */

import { EXT_BIGINT, EXT_TIMESTAMP } from "./msgpack_writer.ts";

const fromUtf8 = new TextDecoder();

/** Decodes an ext payload of a type the caller knows; `undefined` type means unknown. */
export type ExtReader = (
  type: number,
  data: Uint8Array,
  reader: Reader,
) => unknown;

const MAX_READ_DEPTH = 2000;

/**
 * Reads one msgpack value from bytes. Ext types other than the timestamp,
 * undefined and BigInt go to the `ext` callback given at construction.
 *
 * @example Reading what a Writer wrote
 * ```ts
 * import assert from "node:assert/strict";
 * import { Writer } from "./msgpack_writer.ts";
 * import { Reader } from "./msgpack_reader.ts";
 * const w = new Writer();
 * w.mapHeader(1);
 * w.string("a");
 * w.date(new Date(5));
 * const r = new Reader(w.take(), () => undefined);
 * assert.deepEqual(r.readAll(), { a: new Date(5) });
 * ```
 */
export class Reader {
  private pos = 0;
  private readonly view: DataView;
  private depth = 0;

  /** Reads `bytes`, handing the codec's ext types to `ext`. */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly ext: ExtReader,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /**
   * Reads exactly one value spanning all the bytes.
   *
   * @throws {Error} when the bytes are truncated, have trailing bytes or hold an unknown type.
   */
  readAll(): unknown {
    const v = this.read();
    if (this.pos !== this.bytes.length) {
      throw new Error(
        `${this.bytes.length - this.pos} bytes after the end of the value`,
      );
    }
    return v;
  }

  /** Reads a payload of an ext as one complete value (for nested payloads). */
  readNested(data: Uint8Array): unknown {
    return new Reader(data, this.ext).readAll();
  }

  /** Takes `n` bytes; returns where they start. */
  private need(n: number): number {
    const at = this.pos;
    if (at + n > this.bytes.length) {
      throw new Error(`unexpected end of data at byte ${this.bytes.length}`);
    }
    this.pos = at + n;
    return at;
  }

  /** One byte. */
  private u8(): number {
    return this.bytes[this.need(1)];
  }

  /** Reads one value. */
  read(): unknown {
    const c = this.u8();
    if (c < 0x80) return c;
    if (c < 0x90) return this.map(c & 0x0f);
    if (c < 0xa0) return this.array(c & 0x0f);
    if (c < 0xc0) return this.str(c & 0x1f);
    if (c >= 0xe0) return c - 0x100;
    const v = this.view;
    switch (c) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.binary(this.u8());
      case 0xc5:
        return this.binary(v.getUint16(this.need(2)));
      case 0xc6:
        return this.binary(v.getUint32(this.need(4)));
      case 0xc7:
        return this.extension(this.u8());
      case 0xc8:
        return this.extension(v.getUint16(this.need(2)));
      case 0xc9:
        return this.extension(v.getUint32(this.need(4)));
      case 0xca:
        return v.getFloat32(this.need(4));
      case 0xcb:
        return v.getFloat64(this.need(8));
      case 0xcc:
        return this.u8();
      case 0xcd:
        return v.getUint16(this.need(2));
      case 0xce:
        return v.getUint32(this.need(4));
      case 0xcf:
        return v.getBigUint64(this.need(8));
      case 0xd0:
        return v.getInt8(this.need(1));
      case 0xd1:
        return v.getInt16(this.need(2));
      case 0xd2:
        return v.getInt32(this.need(4));
      case 0xd3:
        return v.getBigInt64(this.need(8));
      case 0xd4:
        return this.extension(1);
      case 0xd5:
        return this.extension(2);
      case 0xd6:
        return this.extension(4);
      case 0xd7:
        return this.extension(8);
      case 0xd8:
        return this.extension(16);
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(v.getUint16(this.need(2)));
      case 0xdb:
        return this.str(v.getUint32(this.need(4)));
      case 0xdc:
        return this.array(v.getUint16(this.need(2)));
      case 0xdd:
        return this.array(v.getUint32(this.need(4)));
      case 0xde:
        return this.map(v.getUint16(this.need(2)));
      case 0xdf:
        return this.map(v.getUint32(this.need(4)));
    }
    throw new Error(`unknown msgpack type 0x${c.toString(16)}`);
  }

  /** One level deeper (bounded, against hostile nesting). */
  private enter(): void {
    if (++this.depth > MAX_READ_DEPTH) {
      throw new Error(`value nested over ${MAX_READ_DEPTH} levels deep`);
    }
  }

  /** An array of `n` values. */
  private array(n: number): unknown[] {
    if (n > this.bytes.length - this.pos) this.need(n); // each element takes a byte
    this.enter();
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.read();
    this.depth--;
    return out;
  }

  /** A map of `n` pairs, as a plain object. */
  private map(n: number): Record<string, unknown> {
    if (2 * n > this.bytes.length - this.pos) this.need(2 * n);
    this.enter();
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.read();
      const key = typeof k === "string" ? k : String(k);
      const value = this.read();
      if (key === "__proto__") {
        Object.defineProperty(out, key, {
          value,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      } else out[key] = value;
    }
    this.depth--;
    return out;
  }

  /** A UTF-8 string of `n` bytes. */
  private str(n: number): string {
    const at = this.need(n), b = this.bytes;
    if (n < 32) {
      let s = "";
      for (let i = at; i < at + n; i++) {
        const c = b[i];
        if (c >= 0x80) return fromUtf8.decode(b.subarray(at, at + n));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return fromUtf8.decode(b.subarray(at, at + n));
  }

  /** A bin of `n` bytes, copied. */
  private binary(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.slice(at, at + n); // a copy with its own buffer
  }

  /** An ext of `n` payload bytes. */
  private extension(n: number): unknown {
    const type = this.u8();
    const at = this.need(n);
    const data = this.bytes.subarray(at, at + n);
    switch (type) {
      case 0:
        if (n === 1) return undefined;
        break;
      case EXT_TIMESTAMP:
        return readTimestamp(data);
      case EXT_BIGINT:
        return readBigInt(data);
    }
    this.enter();
    const v = this.ext(type, data, this);
    this.depth--;
    return v;
  }
}

function readTimestamp(d: Uint8Array): Date {
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  switch (d.length) {
    case 1:
      return new Date(NaN);
    case 4:
      return new Date(v.getUint32(0) * 1000);
    case 8: {
      const hi = v.getUint32(0);
      const seconds = (hi & 0x3) * 0x100000000 + v.getUint32(4);
      return new Date(seconds * 1000 + Math.round((hi >>> 2) / 1e6));
    }
    case 12:
      return new Date(
        Number(v.getBigInt64(4)) * 1000 + Math.round(v.getUint32(0) / 1e6),
      );
  }
  throw new Error(`bad timestamp of ${d.length} bytes`);
}

function readBigInt(d: Uint8Array): bigint {
  if (d.length === 0) throw new Error("empty BigInt");
  let x = 0n;
  for (const b of d) x = (x << 8n) | BigInt(b);
  return d[0] & 0x80 ? x - (1n << BigInt(8 * d.length)) : x;
}
