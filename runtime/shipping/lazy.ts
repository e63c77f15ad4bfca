/**
 * Function shipping, loaded on demand. Its source analysis (acorn and
 * eslint-scope) costs ~25 ms to import, so a worker loads it with the first
 * function it runs instead of before it can say it is ready; a client loads
 * it when it connects. Tasks only run, and so only submit, after it is in.
 *
 * @module
 */

import type * as ShippingModule from "./mod.ts";

/** The function shipping module. */
export type Shipping = typeof ShippingModule;

let loaded: Shipping | undefined;
let loading: Promise<Shipping> | undefined;

/**
 * Loads function shipping (once: every call returns the same promise).
 *
 * @example Loading, then using, function shipping
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadShipping, shipping } from "./lazy.ts";
 * const loading = loadShipping();
 * assert.equal(loadShipping(), loading);
 * const mod = await loading;
 * assert.equal(shipping(), mod);
 * assert.deepEqual(mod.freeVariables("(x) => x + k"), ["k"]);
 * ```
 */
export function loadShipping(): Promise<Shipping> {
  // A failed import is not kept: the next call tries again.
  return loading ??= import("./mod.ts").then(
    (m) => loaded = m,
    (e) => {
      loading = undefined;
      throw e;
    },
  );
}

/**
 * Function shipping, once {@linkcode loadShipping} has loaded it.
 *
 * @throws {Error} before function shipping is loaded.
 */
export function shipping(): Shipping {
  if (!loaded) {
    throw new Error(
      "function shipping is not loaded yet (connect a client first)",
    );
  }
  return loaded;
}
