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
 * Encodes `value` (see `encode` for `onKey` and `what`).
 *
 * @example
 * ```ts
 * import { pack, unpack } from "./packed.ts";
 * const p = pack([1, "two", new Date(0)]);
 * console.assert(typeof p === "string");
 * console.assert((unpack(p) as unknown[])[1] === "two");
 * ```
 */
export function pack(
  value: unknown,
  onKey?: (key: string) => void,
  what?: string | (() => string),
): Packed {
  const bytes = encode(value, onKey, what);
  if (bytes.length > STRING_LIMIT) return bytes;
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/**
 * Decodes what {@linkcode pack} made (see `decode` for `resolveKey`).
 *
 * @example
 * ```ts
 * import { pack, unpack } from "./packed.ts";
 * console.assert(unpack(pack(new Map([[1, 2]]))) instanceof Map);
 * ```
 */
export function unpack(
  packed: Packed,
  resolveKey?: (key: string) => unknown,
): unknown {
  return decode(toBytes(packed), resolveKey);
}

/**
 * The codec bytes of a packed value.
 *
 * @example
 * ```ts
 * import { pack, toBytes } from "./packed.ts";
 * console.assert(toBytes(pack(42)) instanceof Uint8Array);
 * ```
 */
export function toBytes(packed: Packed): Uint8Array {
  if (typeof packed !== "string") return packed;
  const bytes = new Uint8Array(packed.length);
  for (let i = 0; i < packed.length; i++) bytes[i] = packed.charCodeAt(i);
  return bytes;
}

/**
 * Size in bytes of a packed value.
 *
 * @example
 * ```ts
 * import { pack, packedSize } from "./packed.ts";
 * console.assert(packedSize(pack(1)) === 1);
 * ```
 */
export function packedSize(packed: Packed): number {
  return packed.length;
}
