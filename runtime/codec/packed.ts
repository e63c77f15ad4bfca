/**
 * Values as they travel inside messages: codec bytes, with small encodings
 * carried as one-byte strings. Measured on this machine, a message holding a
 * tiny Uint8Array costs 2.2–2.6 µs of CPU to post to a Web Worker and one
 * holding a short string 1.0 µs: every Uint8Array arrives as a fresh
 * off-heap ArrayBuffer the GC must track, and most task arguments and
 * results are a few bytes. Large values stay bytes (cheap to copy, and
 * strings would double them on TCP).
 *
 * @module
 */

import { decode, encode } from "./codec.ts";

/** Encoded value: bytes, or the same bytes as a one-byte string when small. */
export type Packed = Uint8Array | string;

/** Encodings up to this many bytes travel as strings. */
export const STRING_LIMIT = 1024;

/**
 * Encodes `value` with the codec (see `encode` for `onKey` and `what`): an
 * encoding of at most {@linkcode STRING_LIMIT} bytes comes back as a
 * one-byte string, a longer one as bytes. Small integers, and arrays of up
 * to 15 of them, are written directly, without the codec.
 *
 * @throws {SerializationError} when part of `value` cannot travel.
 * @example Small values as strings, large ones as bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { pack, unpack } from "./packed.ts";
 * const p = pack([1, "two", new Date(0)]);
 * assert.equal(typeof p, "string");
 * assert.deepEqual(unpack(p), [1, "two", new Date(0)]);
 * assert.ok(pack(new Uint8Array(2000)) instanceof Uint8Array);
 * ```
 */
export function pack(
  value: unknown,
  onKey?: (key: string) => void,
  what?: string | (() => string),
): Packed {
  const quick = packSmall(value);
  if (quick !== undefined) return quick;
  const bytes = encode(value, onKey, what);
  if (bytes.length > STRING_LIMIT) return bytes;
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/**
 * Decodes what {@linkcode pack} made (see `decode` for `resolveKey`).
 *
 * @throws {SerializationError} when `packed` is not one complete message.
 * @example Decoding a Map
 * ```ts
 * import assert from "node:assert/strict";
 * import { pack, unpack } from "./packed.ts";
 * assert.deepEqual(unpack(pack(new Map([[1, 2]]))), new Map([[1, 2]]));
 * ```
 */
export function unpack(
  packed: Packed,
  resolveKey?: (key: string, actor: boolean) => unknown,
): unknown {
  if (typeof packed === "string") {
    const quick = unpackSmall(packed);
    if (quick !== NOT_SMALL) return quick;
  }
  return decode(toBytes(packed), resolveKey);
}

// Fast paths for the most common tiny values (small integers, and short
// arrays of them: indices, counts, task arguments like `[n]`), written
// exactly as msgpack (and so the codec) writes them. Anything else takes
// the codec.

const NOT_SMALL = Symbol("not small");

/** A 32-bit integer as msgpack writes it (and msgpackr), or undefined. */
function smallInt(v: unknown): string | undefined {
  if (typeof v !== "number" || !Number.isInteger(v)) return undefined;
  if (Object.is(v, -0)) return undefined; // the codec keeps -0 apart
  if (v >= 0) {
    if (v < 0x80) return String.fromCharCode(v);
    if (v < 0x100) return String.fromCharCode(0xcc, v);
    if (v < 0x10000) return String.fromCharCode(0xcd, v >> 8, v & 0xff);
    if (v < 0x100000000) {
      return String.fromCharCode(
        0xce,
        v >>> 24,
        (v >> 16) & 0xff,
        (v >> 8) & 0xff,
        v & 0xff,
      );
    }
    return undefined;
  }
  if (v >= -0x20) return String.fromCharCode(v + 256);
  if (v >= -0x80) return String.fromCharCode(0xd0, v & 0xff);
  if (v >= -0x8000) return String.fromCharCode(0xd1, (v >> 8) & 0xff, v & 0xff);
  if (v >= -0x80000000) {
    return String.fromCharCode(
      0xd2,
      (v >> 24) & 0xff,
      (v >> 16) & 0xff,
      (v >> 8) & 0xff,
      v & 0xff,
    );
  }
  return undefined;
}

function packSmall(value: unknown): string | undefined {
  if (!Array.isArray(value)) return smallInt(value);
  if (value.length > 15) return undefined;
  let s = String.fromCharCode(0x90 | value.length);
  for (let i = 0; i < value.length; i++) {
    if (!(i in value)) return undefined; // holes: let the codec decide
    const one = smallInt(value[i]);
    if (one === undefined) return undefined;
    s += one;
  }
  return s;
}

/** Reads one small integer at `i`; returns [value, next] or undefined. */
function readInt(s: string, i: number): [number, number] | undefined {
  const c = s.charCodeAt(i);
  if (c < 0x80) return [c, i + 1];
  if (c >= 0xe0) return [c - 256, i + 1];
  const b = (k: number) => s.charCodeAt(i + k);
  switch (c) {
    case 0xcc:
      return [b(1), i + 2];
    case 0xcd:
      return [(b(1) << 8) | b(2), i + 3];
    case 0xce:
      return [
        ((b(1) << 24) >>> 0) + ((b(2) << 16) | (b(3) << 8) | b(4)),
        i + 5,
      ];
    case 0xd0:
      return [(b(1) << 24) >> 24, i + 2];
    case 0xd1:
      return [(((b(1) << 8) | b(2)) << 16) >> 16, i + 3];
    case 0xd2:
      return [(b(1) << 24) | (b(2) << 16) | (b(3) << 8) | b(4), i + 5];
  }
  return undefined;
}

function unpackSmall(s: string): unknown {
  if (s.length === 0) return NOT_SMALL;
  const c = s.charCodeAt(0);
  if ((c & 0xf0) !== 0x90) {
    const one = readInt(s, 0);
    return one && one[1] === s.length ? one[0] : NOT_SMALL;
  }
  const out: number[] = [];
  let i = 1;
  for (let n = c & 0x0f; n > 0; n--) {
    const one = i < s.length ? readInt(s, i) : undefined;
    if (!one) return NOT_SMALL;
    out.push(one[0]);
    i = one[1];
  }
  return i === s.length ? out : NOT_SMALL;
}

/**
 * The codec bytes of a packed value (a string is turned back into bytes;
 * bytes are returned as they are).
 *
 * @example Getting the msgpack bytes back
 * ```ts
 * import assert from "node:assert/strict";
 * import { pack, toBytes } from "./packed.ts";
 * assert.deepEqual(toBytes(pack(42)), new Uint8Array([42]));
 * assert.deepEqual(toBytes(pack(300)), new Uint8Array([0xcd, 1, 44]));
 * ```
 */
export function toBytes(packed: Packed): Uint8Array {
  if (typeof packed !== "string") return packed;
  const bytes = new Uint8Array(packed.length);
  for (let i = 0; i < packed.length; i++) bytes[i] = packed.charCodeAt(i);
  return bytes;
}

/**
 * Size in bytes of a packed value (a string holds one byte per character).
 *
 * @example Measuring an encoding
 * ```ts
 * import assert from "node:assert/strict";
 * import { pack, packedSize } from "./packed.ts";
 * assert.equal(packedSize(pack(1)), 1);
 * assert.equal(packedSize(pack("hi")), 3);
 * assert.equal(packedSize(pack(new Uint8Array(2000))), 2003);
 * ```
 */
export function packedSize(packed: Packed): number {
  return packed.length;
}
