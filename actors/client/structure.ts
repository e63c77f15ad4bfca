/**
 * Futures inside structures: `gather` finds the futures nested in arrays and
 * plain objects and rebuilds the same shape with their values.
 *
 * @module
 */

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
 * @example
 * ```ts
 * import { collectFutures } from "./structure.ts";
 * const out: unknown[] = [];
 * collectFutures({ a: [1, 2] }, out as never);
 * console.assert(out.length === 0);
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
 * @example
 * ```ts
 * import { replaceFutures } from "./structure.ts";
 * const copy = replaceFutures([1, { a: 2 }], new Map()) as unknown[];
 * console.assert(copy.length === 2);
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

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
