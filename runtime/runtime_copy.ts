/**
 * Copies of the runtime loaded in this isolate. A client module that imports
 * Tendril by another path than the worker did (a relative path into another
 * checkout, a symlink, a vendored copy) loads a second copy of every runtime
 * module: its `getClient()` sees no running task, its errors are other
 * classes. Each copy records its root here, in a registry on `globalThis`
 * (the one place two copies can both see), so a worker can notice a second
 * copy as soon as an import brings one in and refuse it with a clear error.
 *
 * @module
 */

const REGISTRY = Symbol.for("tendril.runtimeCopies");
type Registry = { roots: string[] };

function registry(): Registry {
  const g = globalThis as unknown as Record<symbol, Registry | undefined>;
  return g[REGISTRY] ??= { roots: [] };
}

/** The root URL of this copy of the runtime (the folder holding `mod.ts`). */
export const RUNTIME_ROOT: string = new URL("../", import.meta.url).href;

registry().roots.push(RUNTIME_ROOT);

/**
 * The roots of every copy of the runtime loaded in this isolate, first
 * loaded first.
 *
 * @example One copy
 * ```ts
 * import assert from "node:assert/strict";
 * import { RUNTIME_ROOT, runtimeCopies } from "./runtime_copy.ts";
 * assert.deepEqual(runtimeCopies(), [RUNTIME_ROOT]);
 * ```
 */
export function runtimeCopies(): readonly string[] {
  return registry().roots;
}

/** Paths of the runtime's own modules under its root (not its tests or examples). */
const RUNTIME_PART = /^(?:mod\.ts$|actors\/|runtime\/|cli\/)/;

/**
 * The path of `url` in this copy of the runtime, if it is one of its own
 * modules.
 *
 * @example A runtime module, and a module of the runtime's examples
 * ```ts
 * import assert from "node:assert/strict";
 * import { RUNTIME_ROOT, runtimePath } from "./runtime_copy.ts";
 * assert.equal(runtimePath(`${RUNTIME_ROOT}runtime/errors.ts`), "runtime/errors.ts");
 * assert.equal(runtimePath(`${RUNTIME_ROOT}examples/layout/tasks.ts`), undefined);
 * ```
 */
export function runtimePath(url: string): string | undefined {
  if (!url.startsWith(RUNTIME_ROOT)) return undefined;
  const path = url.slice(RUNTIME_ROOT.length);
  return RUNTIME_PART.test(path) ? path : undefined;
}
