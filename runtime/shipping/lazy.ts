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

/** Loads function shipping (once). */
export function loadShipping(): Promise<Shipping> {
  return loading ??= import("./mod.ts").then((m) => loaded = m);
}

/** Function shipping, once loaded; throws before that. */
export function shipping(): Shipping {
  if (!loaded) {
    throw new Error(
      "function shipping is not loaded yet (connect a client first)",
    );
  }
  return loaded;
}
