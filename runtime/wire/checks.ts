/**
 * Run-time checks of messages from untrusted peers, typed so that a table of
 * checks must match the message types exactly: {@linkcode Fields} asks for
 * one {@linkcode Check} per field, and a `Check<T>` is only assignable to a
 * `Check<T>` (a `Check<string>` will not do for an optional `string`). The
 * protocol's types are the one definition; the compiler keeps the checks in
 * step with them.
 *
 * A failed check throws a {@linkcode ProtocolError} naming the operation, the
 * field and what it got.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";

/** Checks that `value` (found at `at`) is a `T`, and returns it. */
export interface Check<T> {
  (value: unknown, at: string): T;
  /** Phantom: makes `Check<T>` invariant in `T`. */
  readonly _type?: (t: T) => T;
}

/** One check per field of message type `M` (its `op` aside). */
export type Fields<M> = {
  readonly [F in Exclude<keyof M, "op">]-?: Check<M[F]>;
};

/** For each operation of the union `M`, the checks of its fields. */
export type MessageTable<M extends { op: string }> = {
  readonly [K in M["op"]]: Fields<Extract<M, { op: K }>>;
};

/** Longest string accepted in a key, id or similar field. */
export const MAX_KEY = 4096;

/**
 * A short description of a value's type, for error messages.
 *
 * @example Describing what a field got
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeValue } from "./checks.ts";
 * assert.equal(describeValue([1]), "an array");
 * assert.equal(describeValue(new Uint8Array(1)), "bytes");
 * assert.equal(describeValue({}), "a map");
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "bytes";
  if (typeof value === "object") {
    const name = value.constructor?.name;
    return name && name !== "Object" ? `a ${name}` : "a map";
  }
  return `a ${typeof value}`;
}

function fail(at: string, expected: string, got: unknown): never {
  throw new ProtocolError(
    `field ${at} must be ${expected}, got ${describeValue(got)}`,
  );
}

/**
 * A string of at most `max` characters (UTF-16 code units;
 * {@linkcode MAX_KEY} by default).
 *
 * @example A key, a number and a string too long
 * ```ts
 * import assert from "node:assert/strict";
 * import { str } from "./checks.ts";
 * assert.equal(str()("k", "key"), "k");
 * assert.throws(() => str()(1, "key"), /field key must be a string, got a number/);
 * assert.throws(() => str(2)("abc", "key"), /at most 2 characters/);
 * ```
 */
export function str(max: number = MAX_KEY): Check<string> {
  return (v, at) => {
    if (typeof v !== "string") fail(at, "a string", v);
    if (v.length > max) fail(at, `a string of at most ${max} characters`, v);
    return v;
  };
}

/**
 * A finite number.
 *
 * @example NaN is refused
 * ```ts
 * import assert from "node:assert/strict";
 * import { num } from "./checks.ts";
 * assert.equal(num(0.5, "x"), 0.5);
 * assert.throws(() => num(NaN, "x"), /field x must be a finite number/);
 * ```
 */
export const num: Check<number> = (v: unknown, at: string): number => {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    fail(at, "a finite number", v);
  }
  return v;
};

/**
 * A non-negative safe integer.
 *
 * @example Counts, not fractions or negatives
 * ```ts
 * import assert from "node:assert/strict";
 * import { nat } from "./checks.ts";
 * assert.equal(nat(3, "slots"), 3);
 * assert.throws(() => nat(1.5, "slots"), /field slots must be a non-negative integer/);
 * assert.throws(() => nat(-1, "slots"), /field slots must be a non-negative integer/);
 * ```
 */
export const nat: Check<number> = (v: unknown, at: string): number => {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    fail(at, "a non-negative integer", v);
  }
  return v;
};

/**
 * A boolean.
 *
 * @example A boolean, not a truthy value
 * ```ts
 * import assert from "node:assert/strict";
 * import { bool } from "./checks.ts";
 * assert.equal(bool(false, "pure"), false);
 * assert.throws(() => bool(1, "pure"), /field pure must be a boolean, got a number/);
 * ```
 */
export const bool: Check<boolean> = (v: unknown, at: string): boolean => {
  if (typeof v !== "boolean") fail(at, "a boolean", v);
  return v;
};

/**
 * Codec bytes, or the same bytes as a one-byte string (see `codec/packed.ts`).
 *
 * @example Bytes or a string
 * ```ts
 * import assert from "node:assert/strict";
 * import { packed } from "./checks.ts";
 * assert.equal(packed("\x01", "value"), "\x01");
 * assert.ok(packed(new Uint8Array([1]), "value") instanceof Uint8Array);
 * assert.throws(() => packed([1], "value"), /field value must be bytes, got an array/);
 * ```
 */
export const packed: Check<Uint8Array | string> = (
  v: unknown,
  at: string,
): Uint8Array | string => {
  if (!(v instanceof Uint8Array) && typeof v !== "string") {
    fail(at, "bytes", v);
  }
  return v;
};

/**
 * `check`, or nothing.
 *
 * @example An absent field passes; a present one is checked
 * ```ts
 * import assert from "node:assert/strict";
 * import { optional, str } from "./checks.ts";
 * assert.equal(optional(str())(undefined, "owner"), undefined);
 * assert.throws(() => optional(str())(null, "owner"), /field owner must be a string, got null/);
 * ```
 */
export function optional<T>(check: Check<T>): Check<T | undefined> {
  return (v, at) => v === undefined ? undefined : check(v, at);
}

/**
 * An array whose every element passes `check`.
 *
 * @example The failing element is named by its index
 * ```ts
 * import assert from "node:assert/strict";
 * import { list, str } from "./checks.ts";
 * assert.throws(() => list(str())(["a", 1], "keys"), /field keys\[1\] must be a string/);
 * ```
 */
export function list<T>(check: Check<T>): Check<T[]> {
  return (v, at) => {
    if (!Array.isArray(v)) fail(at, "an array", v);
    for (let i = 0; i < v.length; i++) check(v[i], `${at}[${i}]`);
    return v as T[];
  };
}

/**
 * A map (not an array, not bytes).
 *
 * @example A map, and an array that is not one
 * ```ts
 * import assert from "node:assert/strict";
 * import { map } from "./checks.ts";
 * assert.deepEqual(map({ a: 1 }, "m"), { a: 1 });
 * assert.throws(() => map([], "m"), /field m must be a map, got an array/);
 * ```
 */
export function map(v: unknown, at: string): Record<string, unknown> {
  if (
    typeof v !== "object" || v === null || Array.isArray(v) ||
    v instanceof Uint8Array
  ) {
    fail(at, "a map", v);
  }
  return v as Record<string, unknown>;
}

/**
 * A map with the fields `fields` checks (other fields are let through
 * unchecked).
 *
 * @example Checking a record's fields
 * ```ts
 * import assert from "node:assert/strict";
 * import { nat, record, str } from "./checks.ts";
 * const point = record<{ name: string; x: number }>({ name: str(), x: nat });
 * assert.deepEqual(point({ name: "a", x: 1 }, "p"), { name: "a", x: 1 });
 * assert.throws(() => point({ name: "a" }, "p"), /field p\.x must be a non-negative integer/);
 * ```
 */
export function record<T>(fields: Fields<T>): Check<T> {
  const entries = Object.entries(fields) as [string, Check<unknown>][];
  return (v, at) => {
    const m = map(v, at);
    for (const [name, check] of entries) check(m[name], `${at}.${name}`);
    return m as T;
  };
}

/**
 * A map whose every value passes `check` (any keys).
 *
 * @example The failing value is named by its key
 * ```ts
 * import assert from "node:assert/strict";
 * import { dict, packed } from "./checks.ts";
 * assert.throws(() => dict(packed)({ a: 1 }, "values"), /field values\["a"\] must be bytes/);
 * ```
 */
export function dict<T>(check: Check<T>): Check<Record<string, T>> {
  return (v, at) => {
    const m = map(v, at);
    for (const [k, x] of Object.entries(m)) {
      check(x, `${at}[${JSON.stringify(k)}]`);
    }
    return m as Record<string, T>;
  };
}

/**
 * A checker of the message union `M`: the operation must be one of `table`'s
 * (`where` is appended to the unknown-operation error, to say where), and
 * every field must pass its check.
 *
 * @throws {ProtocolError} from the returned checker, naming the operation and the field.
 * @example Checking a small protocol
 * ```ts
 * import assert from "node:assert/strict";
 * import { list, messageChecker, str } from "./checks.ts";
 * type Msg = { op: "want"; keys: string[] } | { op: "ping" };
 * const check = messageChecker<Msg>({ want: { keys: list(str()) }, ping: {} });
 * assert.deepEqual(check({ op: "want", keys: ["a"] }), { op: "want", keys: ["a"] });
 * assert.throws(() => check({ op: "want", keys: [1] }), /bad "want" message: field keys\[0\] must be a string/);
 * assert.throws(() => check({ op: "boom" }), /unknown operation "boom"/);
 * ```
 */
export function messageChecker<M extends { op: string }>(
  table: MessageTable<M>,
  where = "",
): (msg: unknown) => M {
  const ops = new Map(
    Object.entries(table).map(([op, fields]) => [
      op,
      Object.entries(fields as object) as [string, Check<unknown>][],
    ]),
  );
  return (msg) => {
    const m = (() => {
      try {
        return map(msg, "message");
      } catch {
        throw new ProtocolError(
          `bad message: expected a map, got ${describeValue(msg)}`,
        );
      }
    })();
    const op = m.op;
    if (typeof op !== "string") {
      throw new ProtocolError(
        `bad message: field op must be a string, got ${describeValue(op)}`,
      );
    }
    const fields = ops.get(op);
    if (!fields) {
      throw new ProtocolError(
        `unknown operation ${JSON.stringify(op)}${where}`,
      );
    }
    try {
      for (const [name, check] of fields) check(m[name], name);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      throw new ProtocolError(
        `bad ${JSON.stringify(op)} message: ${e.message}`,
      );
    }
    return m as M;
  };
}
