/**
 * What `client.scatter` needs besides the client: how the values it is
 * given are split (an array or a plain object scatters each element, as
 * Dask's scatter does with a list or dict), how their keys are made, and
 * which workers get each value. The client puts the values straight into
 * those workers' data stores and then tells the scheduler where they are,
 * so a large input travels once instead of inside every task's arguments.
 *
 * @module
 */

import { type Packed, toBytes } from "../../runtime/codec/packed.ts";
import { TendrilError } from "../../runtime/errors.ts";
import type { WorkerSummary } from "../protocol.ts";
import type { Future } from "./future.ts";
import { isPlainObject } from "./structure.ts";

/** Options of `client.scatter`. */
export interface ScatterOptions {
  /** Worker ids or data addresses the values may go to (default: any). */
  workers?: string | string[];
  /** Put a copy of every value on every (allowed) worker. */
  broadcast?: boolean;
  /**
   * The key of a single value; for an array or object of values, the
   * prefix of each key (`${key}-${index or name}`). Default:
   * `scatter-<hash of the value's bytes>`, so the same value scattered twice
   * is one key.
   */
  key?: string;
}

/**
 * The futures `client.scatter(values)` gives: an array (or tuple) of values
 * gives an array of futures, a plain object one future per property, any
 * other value one future.
 */
export type Scattered<T> = T extends readonly unknown[]
  ? { -readonly [K in keyof T]: Future<T[K]> }
  : T extends Record<string, unknown> ? { [K in keyof T]: Future<T[K]> }
  : Future<T>;

/** How the values were given: one value, an array, or a plain object. */
export type ScatterShape = "one" | "array" | "record";

/**
 * The values `values` stands for, with the name each one's key gets after
 * a user's prefix, and the shape to give the futures back in.
 *
 * @example An array scatters its elements; a typed array is one value
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitScattered } from "./scatter.ts";
 * assert.deepEqual(splitScattered([1, 2]), { shape: "array", entries: [["0", 1], ["1", 2]] });
 * assert.equal(splitScattered({ a: 1 }).shape, "record");
 * assert.equal(splitScattered(new Float64Array(2)).shape, "one");
 * ```
 */
export function splitScattered(
  values: unknown,
): { shape: ScatterShape; entries: [string, unknown][] } {
  if (Array.isArray(values)) {
    return {
      shape: "array",
      entries: values.map((v, i) => [String(i), v]),
    };
  }
  if (isPlainObject(values)) {
    return { shape: "record", entries: Object.entries(values) };
  }
  return { shape: "one", entries: [["", values]] };
}

/**
 * The key of a scattered value: the user's (suffixed with `name` for one of
 * several), or `scatter-` and the first 128 bits of the SHA-256 of its bytes.
 *
 * @example Equal bytes, equal keys
 * ```ts
 * import assert from "node:assert/strict";
 * import { scatterKey } from "./scatter.ts";
 * const a = await scatterKey(new Uint8Array([1, 2]), "", undefined, "one");
 * assert.match(a, /^scatter-[0-9a-f]{32}$/);
 * assert.equal(await scatterKey(new Uint8Array([1, 2]), "", undefined, "one"), a);
 * assert.equal(await scatterKey("x", "3", "data", "array"), "data-3");
 * ```
 */
export async function scatterKey(
  bytes: Packed,
  name: string,
  key: string | undefined,
  shape: ScatterShape,
): Promise<string> {
  if (key !== undefined) return shape === "one" ? key : `${key}-${name}`;
  const data = toBytes(bytes);
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>),
  );
  let hex = "";
  for (const b of digest.subarray(0, 16)) {
    hex += b.toString(16).padStart(2, "0");
  }
  return `scatter-${hex}`;
}

/**
 * Which workers get each of `count` values: every allowed worker for a
 * broadcast, else one each, round-robin from the one holding the fewest
 * bytes.
 *
 * @throws {TendrilError} when no connected worker is allowed.
 * @example Round-robin from the least loaded
 * ```ts
 * import assert from "node:assert/strict";
 * import { placeScattered } from "./scatter.ts";
 * const w = (id: string, heldBytes: number) => ({ id, address: `inproc://${id}`, slots: 1, executing: 0, processing: 0, seceded: 0, heldKeys: 0, heldBytes });
 * const workers = [w("a", 9), w("b", 0)];
 * assert.deepEqual(placeScattered(3, workers, {}).map((ws) => ws.map((x) => x.id)), [["b"], ["a"], ["b"]]);
 * assert.deepEqual(placeScattered(1, workers, { broadcast: true, workers: "a" }).map((ws) => ws.map((x) => x.id)), [["a"]]);
 * ```
 */
export function placeScattered(
  count: number,
  workers: readonly WorkerSummary[],
  options: ScatterOptions,
): WorkerSummary[][] {
  const allowed = options.workers === undefined
    ? null
    : new Set([options.workers].flat());
  const pool = workers
    .filter((w) => !allowed || allowed.has(w.id) || allowed.has(w.address))
    .sort((a, b) => a.heldBytes - b.heldBytes);
  if (pool.length === 0) {
    const which = allowed ? ` among ${[...allowed].join(", ")}` : "";
    throw new TendrilError(`scatter: no connected worker${which}`);
  }
  return Array.from(
    { length: count },
    (_, i) => options.broadcast ? pool : [pool[i % pool.length]],
  );
}
