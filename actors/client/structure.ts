/**
 * Futures inside structures: `gather` finds the futures nested in arrays and
 * plain objects and rebuilds the same shape with their values.
 *
 * @module
 */

import { actorRef } from "../../runtime/codec/codec.ts";
import { Future } from "./future.ts";

/** Replaces futures in a structure by their values' types. */
export type Gathered<T> = T extends Future<infer V> ? V
  : T extends readonly unknown[] ? { -readonly [K in keyof T]: Gathered<T[K]> }
  : T extends Record<string, unknown> ? { [K in keyof T]: Gathered<T[K]> }
  : T;

/**
 * Appends every future found in `value` (itself, or nested in arrays and
 * plain objects) to `out`.
 *
 * @example Futures in arrays and plain objects are found, in order
 * ```ts
 * import assert from "node:assert/strict";
 * import { collectFutures } from "./structure.ts";
 * import { Future } from "./future.ts";
 * import { KeyRecord } from "./state.ts";
 * const a = new Future(new KeyRecord("a"), {} as never, "");
 * const b = new Future(new KeyRecord("b"), {} as never, "");
 * const out: Future[] = [];
 * collectFutures({ xs: [1, a], y: { z: b }, m: new Map([["k", a]]) }, out);
 * assert.equal(out.length, 2); // a Map is not searched
 * assert.equal(out[0], a);
 * assert.equal(out[1], b);
 * ```
 */
export function collectFutures(value: unknown, out: Future<unknown>[]): void {
  if (value instanceof Future) out.push(value);
  else if (Array.isArray(value)) {
    for (const v of value) {
      collectFutures(v, out);
    }
  } else if (isPlainObject(value)) {
    for (const v of Object.values(value)) collectFutures(v, out);
  }
}

/**
 * A copy of `value` with every future replaced by its entry in `values`.
 *
 * @example The same shape, with values in place of futures
 * ```ts
 * import assert from "node:assert/strict";
 * import { replaceFutures } from "./structure.ts";
 * import { Future } from "./future.ts";
 * import { KeyRecord } from "./state.ts";
 * const f = new Future(new KeyRecord("a"), {} as never, "");
 * const shape = { xs: [1, f], y: "plain" };
 * const copy = replaceFutures(shape, new Map<Future, unknown>([[f, 2]]));
 * assert.deepEqual(copy, { xs: [1, 2], y: "plain" });
 * assert.equal(shape.xs[1], f); // the original is left alone
 * ```
 */
export function replaceFutures(
  value: unknown,
  values: Map<Future<unknown>, unknown>,
): unknown {
  if (value instanceof Future) return values.get(value);
  if (Array.isArray(value)) return value.map((v) => replaceFutures(v, values));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = replaceFutures(v, values);
    }
    return out;
  }
  return value;
}

/**
 * Whether `value` is an object to search and rebuild: a plain one (or one
 * without a prototype), and not an actor handle (a value of its own).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPlainObject } from "./structure.ts";
 * import { actorRef } from "../../runtime/codec/codec.ts";
 * assert.ok(isPlainObject({ a: 1 }));
 * assert.ok(isPlainObject(Object.create(null)));
 * assert.ok(!isPlainObject(new Map()));
 * assert.ok(!isPlainObject({ [actorRef]: "Counter-1" }));
 * ```
 */
export function isPlainObject(
  value: unknown,
): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && !(actorRef in value);
}
