/**
 * The value codec: task arguments and results travel as standard msgpack bytes.
 *
 * Plain objects, arrays, strings, numbers (with -0, NaN, Infinity), booleans,
 * null and undefined use native msgpack; Date uses the msgpack timestamp ext;
 * BigInt uses int64 (or msgpackr's bigint ext beyond 64 bits); Uint8Array is a
 * msgpack bin. Map, Set, Error, other typed arrays, DataView, ArrayBuffer, key
 * references and actor references use ext types 1-6, each payload a complete msgpack value or raw
 * bytes, so any msgpack decoder can frame (and skip) them. Anything else is a
 * {@linkcode SerializationError} at encode time, naming the value and its path.
 *
 * {@linkcode encode} walks the value once, checking and writing it with the
 * codec's own msgpack writer (`msgpack_writer.ts`), and collects key references on
 * the way. A shared object is sent once per occurrence; a cycle is an error.
 * The codec keeps no state outside this module instance and uses no global
 * registry (msgpackr's extension registry is global to the package, so a
 * second copy of the runtime in the isolate used to take over decoding), so
 * any number of runtime copies and other msgpack users coexist.
 *
 * @module
 */
import { SerializationError, tendrilErrorClass } from "../errors.ts";
import { Reader } from "./msgpack_reader.ts";
import { Writer } from "./msgpack_writer.ts";
import "../runtime_copy.ts"; // every copy of the runtime loads the codec: it registers here

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
 * The property by which an object marks itself as a reference to the actor
 * a task key hosts: any object whose `[actorRef]` is a string is sent as
 * that key, and the decoder's resolver is told it names an actor (how an
 * actor handle travels). Its key is collected like a key reference's.
 *
 * @example An actor reference keeps its kind across the wire
 * ```ts
 * import assert from "node:assert/strict";
 * import { actorRef, decode, encode } from "./codec.ts";
 * const keys: string[] = [];
 * const bytes = encode({ a: { [actorRef]: "Counter-1" } }, (k) => keys.push(k));
 * assert.deepEqual(keys, ["Counter-1"]);
 * assert.deepEqual(decode(bytes, (k, actor) => `${actor ? "actor" : "value"} ${k}`), { a: "actor Counter-1" });
 * ```
 */
export const actorRef: unique symbol = Symbol.for("tendril.actorRef");

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
 * What {@linkcode decode} puts where an actor reference was, when no
 * resolver is given (encoded again, it is the same actor reference).
 *
 * @example Decoding an actor reference without a resolver
 * ```ts
 * import assert from "node:assert/strict";
 * import { ActorReference, actorRef, decode, encode } from "./codec.ts";
 * const ref = decode(encode(new ActorReference("Counter-1")));
 * assert.ok(ref instanceof ActorReference);
 * assert.equal(ref[actorRef], "Counter-1");
 * ```
 */
export class ActorReference {
  /** The key of the task that hosts the actor. */
  readonly [actorRef]: string;
  /** Makes a reference to the actor of `key`. */
  constructor(key: string) {
    this[actorRef] = key;
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
  // A getter run by the walk may encode too: it gets a writer of its own.
  const w = idleWriter ?? new Writer();
  idleWriter = undefined;
  const walk: Walk = { w, keys: undefined, collect: onKey !== undefined };
  let bytes: Uint8Array;
  try {
    write(walk, value, 0);
    bytes = w.take();
  } catch (e) {
    w.reset();
    throw failed(e, what);
  } finally {
    idleWriter = w;
  }
  if (walk.keys) { for (const key of walk.keys) onKey!(key); }
  return bytes;
}

/**
 * Decodes bytes made by {@linkcode encode}. Each key reference becomes
 * `resolveKey(key, false)` and each actor reference `resolveKey(key, true)`
 * (whose errors propagate as they are), or a {@linkcode KeyReference} /
 * {@linkcode ActorReference} when no resolver is given.
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
  resolveKey?: (key: string, actor: boolean) => unknown,
): unknown {
  const readExt = (type: number, data: Uint8Array, r: Reader): unknown => {
    if (type === EXT_KEY || type === EXT_ACTOR) {
      const key = fromUtf8.decode(data);
      const actor = type === EXT_ACTOR;
      if (!resolveKey) {
        return actor ? new ActorReference(key) : new KeyReference(key);
      }
      try {
        return resolveKey(key, actor);
      } catch (e) {
        throw new ResolveFailure(e); // through the reader untouched; unwrapped below
      }
    }
    return readCodecExt(type, data, r);
  };
  try {
    return new Reader(bytes, readExt).readAll();
  } catch (e) {
    if (e instanceof ResolveFailure) throw e.error;
    const why = `cannot decode a message: ${(e as Error)?.message ?? e}`;
    throw new SerializationError(why, { cause: e });
  }
}

const EXT_KEY = 1, EXT_MAP = 2, EXT_SET = 3, EXT_ERROR = 4, EXT_BINARY = 5;
const EXT_ACTOR = 6;
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

const utf8 = new TextEncoder(), fromUtf8 = new TextDecoder();
/** A writer no encode is using (encodes nest when a getter encodes). */
let idleWriter: Writer | undefined = new Writer();

/** One encode: where it writes, and the key references it met. */
interface Walk {
  w: Writer;
  keys: string[] | undefined;
  collect: boolean;
}

/** A walk failure: the value's description, the path and containers to it (innermost first). */
class Failure {
  path: string[] = [];
  nodes: object[] = [];
  constructor(readonly what: string, readonly deep = false) {}
}
class ResolveFailure {
  constructor(readonly error: unknown) {}
}

function failed(f: unknown, describe?: string | (() => string)): unknown {
  const what = typeof describe === "function" ? describe() : describe;
  const lead = `cannot serialize ${what ? `${what}: ` : ""}`;
  if (f instanceof SerializationError) return f;
  if (!(f instanceof Failure)) { // a getter that threw, a buffer too large
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

/** Checks and writes one value. */
function write(walk: Walk, v: unknown, depth: number): void {
  switch (typeof v) {
    case "number":
      return walk.w.number(v);
    case "string":
      return walk.w.string(v);
    case "boolean":
      return walk.w.bool(v);
    case "undefined":
      return walk.w.undef();
    case "bigint":
      return walk.w.bigint(v);
    case "object":
      return v === null ? walk.w.nil() : writeObject(walk, v, depth + 1);
    default:
      throw new Failure(describe(v));
  }
}

/** `write` for a child of `parent`, adding its path segment to a failure. */
function child(
  walk: Walk,
  v: unknown,
  depth: number,
  parent: object,
  seg: string,
) {
  try {
    write(walk, v, depth);
  } catch (e) {
    if (e instanceof Failure) e.path.push(seg), e.nodes.push(parent);
    throw e;
  }
}

/** Writes a key or actor reference (ext `type`), collecting its key. */
function writeKey(walk: Walk, key: string, type: number): void {
  const w = walk.w;
  if (walk.collect) (walk.keys ??= []).push(key);
  if (/^[\0-\x7f]*$/.test(key)) {
    w.extHeader(key.length, type);
    for (let i = 0; i < key.length; i++) w.byte(key.charCodeAt(i));
  } else {
    const bytes = utf8.encode(key);
    w.extHeader(bytes.length, type);
    w.raw(bytes);
  }
}

function writeObject(walk: Walk, v: object, depth: number): void {
  if (depth > MAX_DEPTH) {
    throw new Failure(`a value nested over ${MAX_DEPTH} levels deep`, true);
  }
  const w = walk.w;
  if (Array.isArray(v)) {
    w.arrayHeader(v.length);
    for (let i = 0; i < v.length; i++) child(walk, v[i], depth, v, `[${i}]`);
    return;
  }
  const key = (v as { [keyRef]?: unknown })[keyRef];
  if (typeof key === "string") return writeKey(walk, key, EXT_KEY);
  const actor = (v as { [actorRef]?: unknown })[actorRef];
  if (typeof actor === "string") return writeKey(walk, actor, EXT_ACTOR);
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    const keys = Object.keys(v);
    w.mapHeader(keys.length);
    for (const k of keys) {
      w.string(k);
      child(walk, (v as Record<string, unknown>)[k], depth, v, segment(k));
    }
    return;
  }
  if (v instanceof Uint8Array && v.constructor === Uint8Array) return w.bin(v);
  if (v instanceof Date) return w.date(v);
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
    const bytes = ArrayBuffer.isView(v)
      ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
      : new Uint8Array(v);
    if (v instanceof Uint8Array) return w.bin(bytes); // a Buffer too
    const kind = BINARY_KINDS.indexOf((v as never)[Symbol.toStringTag]);
    w.extHeader(bytes.length + 1, EXT_BINARY);
    w.byte(kind);
    w.raw(bytes);
    return;
  }
  let i = 0;
  if (v instanceof Map) {
    const mark = w.beginExt();
    w.arrayHeader(v.size * 2);
    for (const [k, x] of v) {
      child(walk, k, depth, v, `.keys()[${i}]`);
      const at = typeof k === "string" ? `.get(${JSON.stringify(k)})` : "";
      child(walk, x, depth, v, at || `.values()[${i}]`);
      i++;
    }
    return w.endExt(mark, EXT_MAP);
  }
  if (v instanceof Set) {
    const mark = w.beginExt();
    w.arrayHeader(v.size);
    for (const x of v) child(walk, x, depth, v, `.values()[${i++}]`);
    return w.endExt(mark, EXT_SET);
  }
  if (!(v instanceof Error)) throw new Failure(describe(v));
  const data = errorData(v);
  const mark = w.beginExt(), keys = Object.keys(data);
  w.mapHeader(keys.length);
  for (const k of keys) {
    w.string(k);
    child(walk, data[k], depth, v, segment(k));
  }
  w.endExt(mark, EXT_ERROR);
}

/** Decodes the codec's ext types other than key references. */
function readCodecExt(type: number, data: Uint8Array, r: Reader): unknown {
  switch (type) {
    case EXT_MAP: {
      const flat = r.readNested(data) as unknown[], map = new Map();
      for (let i = 0; i < flat.length; i += 2) map.set(flat[i], flat[i + 1]);
      return map;
    }
    case EXT_SET:
      return new Set(r.readNested(data) as unknown[]);
    case EXT_ERROR:
      return errorFrom(r.readNested(data) as Record<string, unknown>);
    case EXT_BINARY: {
      const kind = BINARY_KINDS[data[0]];
      const buffer = Uint8Array.prototype.slice.call(data, 1).buffer; // aligned
      const Class = (globalThis as Record<string, unknown>)[kind];
      if (kind === "ArrayBuffer") return buffer;
      if (typeof Class !== "function") throw new Error(`bad binary ${data[0]}`);
      return new (Class as new (b: ArrayBuffer) => unknown)(buffer);
    }
  }
  throw new Error(`unknown extension type ${type}`);
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
