/**
 * The value codec: task arguments and results travel as standard msgpack bytes.
 *
 * Plain objects, arrays, strings, numbers (with -0, NaN, Infinity), booleans,
 * null and undefined use native msgpack; Date uses the msgpack timestamp ext;
 * BigInt uses int64 (or msgpackr's bigint ext beyond 64 bits); Uint8Array is a
 * msgpack bin. Map, Set, Error, other typed arrays, DataView, ArrayBuffer and key
 * references use ext types 1-5, each payload a complete msgpack value or raw
 * bytes, so any msgpack decoder can frame (and skip) them. Anything else is a
 * {@linkcode SerializationError} at encode time, naming the value and its path.
 *
 * msgpackr alone writes a function as `undefined`, a class instance, Promise or
 * WeakMap as a plain map, a Map as an object and -0 as 0, and throws on a Symbol;
 * so {@linkcode encode} first walks the value (a typeof switch per value, no
 * allocation unless a Map, -0 or plain-object key reference needs standing in
 * for), which also collects key references. A shared object is sent once per
 * occurrence; a cycle is an error. msgpackr's extension registry is global: a
 * Packr elsewhere in the isolate also writes Error, Set, typed arrays and key
 * references this way (but not Map or -0, which need the walk).
 *
 * @module
 */
import { addExtension, Packr, Unpackr } from "msgpackr";
import { SerializationError, tendrilErrorClass } from "../errors.ts";

export { SerializationError };

/**
 * The property by which an object marks itself as a reference to a task key:
 * any object whose `[keyRef]` is a string is sent as that key (how a `Future`
 * travels).
 *
 * @example Collecting and resolving a key reference
 * ```ts
 * import assert from "node:assert/strict";
 * import { decode, encode, keyRef } from "./codec.ts";
 * const keys: string[] = [];
 * const bytes = encode([{ [keyRef]: "inc-1" }], (k) => keys.push(k));
 * assert.deepEqual(keys, ["inc-1"]);
 * assert.deepEqual(decode(bytes, (k) => `value of ${k}`), ["value of inc-1"]);
 * ```
 */
export const keyRef: unique symbol = Symbol.for("tendril.keyRef");

/**
 * What {@linkcode decode} puts where a key reference was, when no resolver is given.
 *
 * @example Decoding a key reference without a resolver
 * ```ts
 * import assert from "node:assert/strict";
 * import { decode, encode, KeyReference, keyRef } from "./codec.ts";
 * const ref = decode(encode(new KeyReference("sum-7")));
 * assert.ok(ref instanceof KeyReference);
 * assert.equal(ref[keyRef], "sum-7");
 * ```
 */
export class KeyReference {
  /** The referenced task key. */
  readonly [keyRef]: string;
  /** Makes a reference to `key`. */
  constructor(key: string) {
    this[keyRef] = key;
  }
}

/**
 * Encodes `value` as msgpack bytes: a fresh copy with its own buffer, which the
 * caller may keep or transfer. Calls `onKey` for each key reference met, in
 * order (repeats included), once the whole value is known to travel. `what`
 * names the value in error messages (`"the arguments of task inc-3"`).
 *
 * @throws {SerializationError} when part of `value` cannot travel.
 * @example Round-tripping what plain msgpack would lose
 * ```ts
 * import assert from "node:assert/strict";
 * import { decode, encode } from "./codec.ts";
 * const value = [new Map([[1n, new Set(["a"])]]), new Float64Array([0.5]), -0];
 * assert.deepEqual(decode(encode(value)), value);
 * ```
 *
 * @example Naming the part that cannot travel
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode, SerializationError } from "./codec.ts";
 * assert.throws(
 *   () => encode({ a: [Promise.resolve()] }, undefined, "the arguments of task inc-3"),
 *   (e) =>
 *     e instanceof SerializationError &&
 *     e.message === "cannot serialize the arguments of task inc-3: a Promise at a[0]",
 * );
 * ```
 */
export function encode(
  value: unknown,
  onKey?: (key: string) => void,
  what?: string | (() => string),
): Uint8Array {
  const savedKeys = foundKeys, savedCollecting = collecting;
  let bytes: Uint8Array, keys: string[] | undefined;
  foundKeys = undefined;
  collecting = onKey !== undefined;
  try {
    const prepared = prepare(value, 0);
    keys = foundKeys as string[] | undefined; // (set by prepare)
    collecting = false;
    bytes = new Uint8Array(packr.pack(prepared)); // pack() gives a view of a shared buffer
  } catch (e) {
    throw failed(e, what);
  } finally {
    foundKeys = savedKeys;
    collecting = savedCollecting;
  }
  if (keys) { for (const key of keys) onKey!(key); }
  return bytes;
}

/**
 * Decodes bytes made by {@linkcode encode}. Each key reference becomes
 * `resolveKey(key)` (whose errors propagate as they are), or a
 * {@linkcode KeyReference} when no resolver is given.
 *
 * @throws {SerializationError} when `bytes` is not one complete message.
 * @example Reviving an error, refusing a truncated message
 * ```ts
 * import assert from "node:assert/strict";
 * import { decode, encode, SerializationError } from "./codec.ts";
 * const e = decode(encode(new RangeError("big", { cause: 7 }))) as RangeError;
 * assert.ok(e instanceof RangeError);
 * assert.equal(e.cause, 7);
 * assert.throws(() => decode(new Uint8Array([0x92, 1])), SerializationError);
 * ```
 */
export function decode(
  bytes: Uint8Array,
  resolveKey?: (key: string) => unknown,
): unknown {
  const saved = resolver;
  resolver = resolveKey;
  try { // a fresh plain view: msgpackr caches a DataView on its source
    const { buffer, byteOffset, byteLength } = bytes;
    return unpackr.unpack(new Uint8Array(buffer, byteOffset, byteLength));
  } catch (e) {
    if (e instanceof ResolveFailure) throw e.error;
    const why = `cannot decode a message: ${(e as Error)?.message ?? e}`;
    throw new SerializationError(why, { cause: e });
  } finally {
    resolver = saved;
  }
}

const EXT_KEY = 1, EXT_MAP = 2, EXT_SET = 3, EXT_ERROR = 4, EXT_BINARY = 5;
const MAX_DEPTH = 1000;
// EXT_BINARY payload: a kind (index here), then the raw bytes in platform order.
const BINARY_KINDS = ("ArrayBuffer DataView Int8Array Uint8Array " +
  "Uint8ClampedArray Int16Array Uint16Array Int32Array Uint32Array " +
  "Float32Array Float64Array BigInt64Array BigUint64Array Float16Array")
  .split(" ");
const ERRORS = new Set(
  "Error EvalError RangeError ReferenceError SyntaxError TypeError URIError"
    .split(" "),
);
const LISTED = "(only plain objects, arrays, Date, Map, Set, BigInt, " +
  "typed arrays and Error travel)";

const packr = new Packr({
  useRecords: false, // standard msgpack
  variableMapSize: true, // objects over 65,535 keys, and no slower
  useBigIntExtension: true, // BigInts beyond 64 bits
});
const unpackr = new Unpackr({ useRecords: false, copyBuffers: true });
const utf8 = new TextEncoder(), fromUtf8 = new TextDecoder();
// Per-call state: encode/decode are synchronous and save/restore it around a call.
let foundKeys: string[] | undefined, collecting = false;
let resolver: ((key: string) => unknown) | undefined;

/** A walk failure: the value's description, the path and containers to it (innermost first). */
class Failure {
  path: string[] = [];
  nodes: object[] = [];
  constructor(readonly what: string, readonly deep = false) {}
}
class ResolveFailure {
  constructor(readonly error: unknown) {}
}
/** Stands for a Map, which msgpackr writes as a plain map without asking any extension. */
class MapBox {
  constructor(readonly map: Map<unknown, unknown>) {}
}
class NegativeZero {} // msgpackr writes -0 as the integer 0
const NEG_ZERO = new NegativeZero();

function failed(f: unknown, describe?: string | (() => string)): unknown {
  const what = typeof describe === "function" ? describe() : describe;
  const lead = `cannot serialize ${what ? `${what}: ` : ""}`;
  if (f instanceof SerializationError) return f;
  if (!(f instanceof Failure)) { // msgpackr's own limits (buffer size, stack depth)
    const why = `${lead}a value: ${(f as Error)?.message ?? f}`;
    return new SerializationError(why, { cause: f });
  }
  const path = f.path.reverse(), nodes = f.nodes.reverse();
  let desc = f.what;
  if (f.deep) { // a cycle if a container repeats: cut the path where it closes
    const seen = new Set<object>();
    const i = nodes.findIndex((n) => seen.has(n) || !seen.add(n));
    if (i >= 0) desc = "a circular reference", path.length = i;
    else if (path.length > 12) path.splice(10, Infinity, "…");
  }
  const at = path.join("").replace(/^\.(?=[\w$]+([.[]|$))/, "");
  const hint = desc.startsWith("an instance") ? ` ${LISTED}` : "";
  return new SerializationError(`${lead}${desc}${at && ` at ${at}`}${hint}`);
}

function describe(v: unknown): string {
  if (typeof v === "function") return "a function";
  if (typeof v === "symbol") return "a Symbol";
  const ctor = Object.getPrototypeOf(v)?.constructor;
  const name = typeof ctor === "function" ? ctor.name : "";
  if (!name) return "an instance of an anonymous class";
  if (!/\[native code\]\s*\}$/.test(Function.prototype.toString.call(ctor))) {
    return `an instance of class ${name}`;
  }
  return `${/^[AEIOU]/.test(name) ? "an" : "a"} ${name}`; // a Promise, a WeakMap
}

const segment = (k: string) =>
  /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;

/** Checks a value; returns it, or what msgpackr must be given instead. */
function prepare(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case "number":
      return v === 0 && 1 / v < 0 ? NEG_ZERO : v;
    case "string":
    case "boolean":
    case "undefined":
    case "bigint":
      return v;
    case "object":
      return v === null ? v : prepareObject(v, depth + 1);
    default:
      throw new Failure(describe(v));
  }
}

/** `prepare` for a child of `parent`, adding its path segment to a failure. */
function child(v: unknown, depth: number, parent: object, seg: string) {
  try {
    return prepare(v, depth);
  } catch (e) {
    if (e instanceof Failure) e.path.push(seg), e.nodes.push(parent);
    throw e;
  }
}

function prepareObject(v: object, depth: number): unknown {
  if (depth > MAX_DEPTH) {
    throw new Failure(`a value nested over ${MAX_DEPTH} levels deep`, true);
  }
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x = v[i], y = child(x, depth, v, `[${i}]`);
      if (y !== x) (out ??= v.slice())[i] = y;
    }
    return out ?? v;
  }
  const proto = Object.getPrototypeOf(v);
  const plain = proto === Object.prototype || proto === null;
  const key = (v as { [keyRef]?: unknown })[keyRef];
  if (typeof key === "string") {
    if (collecting) (foundKeys ??= []).push(key);
    return plain ? new KeyReference(key) : v; // extensions see only non-plain objects
  }
  if (plain) {
    let out: Record<string, unknown> | undefined;
    for (const k of Object.keys(v)) { // the keys msgpackr writes
      const x = (v as Record<string, unknown>)[k];
      const y = child(x, depth, v, segment(k));
      if (y !== x) (out ??= { ...v })[k] = y;
    }
    return out ?? v;
  }
  if (v instanceof Date || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
    return v;
  }
  let i = 0;
  if (v instanceof Map) {
    for (const [k, x] of v) {
      child(k, depth, v, `.keys()[${i}]`);
      const at = typeof k === "string" ? `.get(${JSON.stringify(k)})` : "";
      child(x, depth, v, at || `.values()[${i}]`);
      i++;
    }
    return new MapBox(v);
  }
  if (v instanceof Set) {
    for (const x of v) child(x, depth, v, `.values()[${i++}]`);
    return v;
  }
  if (!(v instanceof Error)) throw new Failure(describe(v));
  const data = errorData(v);
  for (const k in data) child(data[k], depth, v, segment(k));
  return v;
}

/** What travels of an Error: name, message, stack, cause, errors, own props. */
function errorData(e: Error): Record<string, unknown> {
  const data: Record<string, unknown> = { name: `${e.name}` };
  data.message = `${e.message}`;
  if (typeof e.stack === "string") data.stack = e.stack;
  if (Object.hasOwn(e, "cause")) data.cause = e.cause;
  if (e instanceof AggregateError) data.errors = e.errors;
  for (const k of Object.keys(e)) data[k] ??= (e as never)[k];
  return data;
}

function errorFrom(data: Record<string, unknown>): Error {
  const { name, message, errors } = data as Record<string, never>;
  const e = name === "AggregateError"
    ? new AggregateError(errors ?? [], message)
    : new (ERRORS.has(name) ? globalThis[name] as ErrorConstructor : Error)(
      message,
    );
  // Tendril's own errors get their class back (fields travel as own props).
  const family = typeof name === "string" ? tendrilErrorClass(name) : undefined;
  if (family) Object.setPrototypeOf(e, family.prototype);
  const hide = (k: string, value: unknown) =>
    Object.defineProperty(e, k, { value, writable: true, configurable: true });
  if (e.name !== name) hide("name", name);
  for (const k in data) {
    if (k === "stack" || k === "cause") hide(k, data[k]);
    else if (
      k !== "name" && k !== "message" &&
      !(k === "errors" && name === "AggregateError")
    ) {
      (e as unknown as Record<string, unknown>)[k] = data[k];
    }
  }
  return e;
}

/** Packs a value inside an extension (the top-level walk checked it, took its keys). */
function packInner(v: unknown): Uint8Array {
  try {
    return packr.pack(prepare(v, 0));
  } catch (e) {
    throw failed(e);
  }
}

type Extension = Parameters<typeof addExtension>[0];
type Room = { target: Uint8Array; targetView: DataView; position: number };
const like = (test: (v: unknown) => boolean) => ({
  [Symbol.hasInstance]: test,
});
function extension<T>(
  type: number,
  Class: unknown,
  pack: (v: T, alloc: (size: number) => Room) => Uint8Array | void,
  unpack?: (data: Uint8Array) => unknown,
): void {
  addExtension({ type, Class, pack, unpack } as unknown as Extension);
}

/** Makes room for a bin (no `type`) or ext of `n` bytes, writes its header. */
function reserve(alloc: (size: number) => Room, n: number, type?: number) {
  const w = n < 256 ? 1 : n < 65536 ? 2 : 4, ext = type !== undefined;
  const { target, targetView, position } = alloc(2 + w + n - (ext ? 0 : 1));
  target[position] = (ext ? 0xc7 : 0xc4) + (w >> 1); // bin or ext 8/16/32
  if (w === 1) target[position + 1] = n;
  else if (w === 2) targetView.setUint16(position + 1, n);
  else targetView.setUint32(position + 1, n);
  if (ext) target[position + 1 + w] = type;
  return [target, position + 1 + w + (ext ? 1 : 0)] as const;
}

// addExtension prepends: the last registered is tried first.
extension(0x7f, NegativeZero, (_, alloc) => {
  const { target, targetView, position } = alloc(9);
  target[position] = 0xcb; // a plain float64
  targetView.setFloat64(position + 1, -0);
});
extension<ArrayBufferView | ArrayBuffer>(
  EXT_BINARY,
  like((v) => ArrayBuffer.isView(v) || v instanceof ArrayBuffer),
  (v, alloc) => {
    const bytes = ArrayBuffer.isView(v)
      ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
      : new Uint8Array(v);
    if (v instanceof Uint8Array) { // a msgpack bin (a Buffer too)
      const [target, p] = reserve(alloc, bytes.length);
      target.set(bytes, p);
      return;
    }
    const [target, p] = reserve(alloc, bytes.length + 1, EXT_BINARY);
    target[p] = BINARY_KINDS.indexOf((v as never)[Symbol.toStringTag]);
    target.set(bytes, p + 1);
  },
  (data) => {
    const kind = BINARY_KINDS[data[0]];
    const buffer = Uint8Array.prototype.slice.call(data, 1).buffer; // aligned
    const Class = (globalThis as Record<string, unknown>)[kind];
    if (kind === "ArrayBuffer") return buffer;
    if (typeof Class !== "function") throw new Error(`bad binary ${data[0]}`);
    return new (Class as new (b: ArrayBuffer) => unknown)(buffer);
  },
);
extension<Set<unknown>>(
  EXT_SET,
  Set,
  (v) => packInner([...v]),
  (data) => new Set(unpackr.unpack(data)),
);
extension<MapBox>(
  EXT_MAP,
  MapBox,
  (v) => packInner([...v.map].flat(1)),
  (data) => {
    const flat = unpackr.unpack(data), map = new Map();
    for (let i = 0; i < flat.length; i += 2) map.set(flat[i], flat[i + 1]);
    return map;
  },
);
extension<Error>(
  EXT_ERROR,
  Error,
  (v) => packInner(errorData(v)),
  (data) => errorFrom(unpackr.unpack(data)),
);
extension<KeyReference>(
  EXT_KEY,
  like((v) => typeof (v as KeyReference | null)?.[keyRef] === "string"),
  (v, alloc) => {
    const key = v[keyRef];
    if (!/^[\0-\x7f]*$/.test(key)) return utf8.encode(key);
    const [target, p] = reserve(alloc, key.length, EXT_KEY); // no allocation
    for (let i = 0; i < key.length; i++) target[p + i] = key.charCodeAt(i);
  },
  (data) => {
    const key = fromUtf8.decode(data);
    if (!resolver) return new KeyReference(key);
    try {
      return resolver(key);
    } catch (e) {
      throw new ResolveFailure(e); // through msgpackr untouched; decode unwraps
    }
  },
);
