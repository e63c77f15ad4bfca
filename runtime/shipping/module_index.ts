// deno-lint-ignore-file ban-types -- functions of any shape are indexed.
/**
 * Which module exports which function: the index that lets a function ship
 * by reference (module URL and export name) instead of by source.
 *
 * Functions are found by object identity in the namespaces of indexed
 * modules: those passed to `registerModule`, every local module the entry
 * script imports statically (see `entry_index.ts`), and on a worker the
 * modules a task's module imports. They finished evaluating before their
 * importer ran, so importing them again gives the very same instances.
 *
 * @module
 */

import { UnguardedEntryError } from "../errors.ts";
import { runtimePath } from "../runtime_copy.ts";
import type { PackageRef } from "./code_package.ts";
import { findImports } from "./imports.ts";

/** A module export: where a function ships from. */
export interface Export {
  /** The module's URL. */
  url: string;
  /** The export's name. */
  name: string;
  /** Where the module is in a code package, when it was loaded from one. */
  pkg?: PackageRef;
}

const exportsByFunction = new WeakMap<Function, Export>();

/**
 * The export `fn` is (by identity), if any.
 *
 * @example An indexed export, and a function no module exports
 * ```ts
 * import assert from "node:assert/strict";
 * import { exportOf, rememberExport } from "./module_index.ts";
 * const one = () => 1;
 * rememberExport(one, { url: "file:///tasks.ts", name: "one" });
 * assert.deepEqual(exportOf(one), { url: "file:///tasks.ts", name: "one" });
 * assert.equal(exportOf(() => 1), undefined);
 * ```
 */
export function exportOf(fn: Function): Export | undefined {
  return exportsByFunction.get(fn);
}

/**
 * Records `fn` as the export `exp` (the first name wins, except over
 * "default").
 *
 * @example A named export wins over the default one
 * ```ts
 * import assert from "node:assert/strict";
 * import { exportOf, rememberExport } from "./module_index.ts";
 * const f = () => 1;
 * rememberExport(f, { url: "file:///m.ts", name: "default" });
 * rememberExport(f, { url: "file:///m.ts", name: "f" });
 * rememberExport(f, { url: "file:///m.ts", name: "g" });
 * assert.equal(exportOf(f)?.name, "f");
 * ```
 */
export function rememberExport(fn: Function, exp: Export): void {
  const known = exportsByFunction.get(fn);
  if (!known || (known.name === "default" && exp.name !== "default")) {
    exportsByFunction.set(fn, exp);
  }
}

/**
 * Indexes every exported function of the namespace `ns` of module `url`
 * (exports still in their temporal dead zone are skipped).
 *
 * @example Indexing a namespace
 * ```ts
 * import assert from "node:assert/strict";
 * import { exportOf, indexNamespace } from "./module_index.ts";
 * const ns = { inc: (x: number) => x + 1, limit: 10 };
 * indexNamespace("file:///tasks.ts", ns);
 * assert.deepEqual(exportOf(ns.inc), { url: "file:///tasks.ts", name: "inc" });
 * ```
 */
export function indexNamespace(
  url: string,
  ns: Record<string, unknown>,
  pkg?: PackageRef,
): void {
  for (const name of Object.keys(ns)) {
    let value: unknown;
    try {
      value = ns[name];
    } catch {
      continue; // an export still in its temporal dead zone
    }
    if (typeof value !== "function") continue;
    rememberExport(value, pkg ? { url, name, pkg } : { url, name });
  }
}

/** Imports in flight that look for (or load) task functions. */
let shippingImports = 0;

/**
 * Imports `url` for shipping: while the import is in flight,
 * {@linkcode assertNotShippingImport} throws.
 *
 * @example Importing a module's namespace
 * ```ts
 * import assert from "node:assert/strict";
 * import { importForShipping } from "./module_index.ts";
 * const ns = await importForShipping(new URL("./hash.ts", import.meta.url).href);
 * assert.equal(typeof ns.hashId, "function");
 * ```
 */
export async function importForShipping(
  url: string,
): Promise<Record<string, unknown>> {
  shippingImports++;
  try {
    return await import(url);
  } finally {
    shippingImports--;
  }
}

/**
 * Throws {@linkcode UnguardedEntryError} when called while a module is being
 * imported to ship functions: the entry script (imported again on the client
 * and on every worker) must not start clusters or clients at import.
 *
 * @example Allowed outside a shipping import
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertNotShippingImport } from "./module_index.ts";
 * // No module is being imported for shipping here, so this does not throw.
 * assert.doesNotThrow(() => assertNotShippingImport("LocalCluster.start()"));
 * ```
 */
export function assertNotShippingImport(what: string): void {
  if (shippingImports === 0) return;
  throw new UnguardedEntryError(
    `${what} ran while Tendril imported the entry script to find its task ` +
      "functions (clients and workers import it again, with import.meta.main " +
      "false): guard the script's main block with `if (import.meta.main) { ... }`.",
  );
}

/** Local modules `url` imports statically (values, not types), resolved. */
async function staticImports(url: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(new URL(url));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const site of findImports(text)) {
    if (site.kind !== "static" || site.typeOnly) continue;
    let target: string;
    try {
      target = site.spec.startsWith(".") || site.spec.startsWith("/")
        ? new URL(site.spec, url).href
        : import.meta.resolve(site.spec);
    } catch {
      continue;
    }
    if (target.startsWith("file:")) out.push(target);
  }
  return out;
}

/**
 * Indexes the local modules `from` imports statically, transitively, once
 * each. They are already evaluated (their importer ran): importing them
 * again returns the same instances, so their functions are known by
 * identity. `exportAs` says under which URL (and code package) a module's
 * functions ship, or that a module is not to be indexed (nor walked).
 */
export async function indexReachable(
  from: string,
  exportAs: (file: string) => Omit<Export, "name"> | undefined,
): Promise<void> {
  const seen = new Set<string>([from]);
  const todo = await staticImports(from);
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const as = exportAs(file);
    if (!as) continue;
    try {
      indexNamespace(as.url, await importForShipping(file), as.pkg);
    } catch (e) {
      if (e instanceof UnguardedEntryError) throw e;
      continue; // not importable here: its functions ship by source
    }
    todo.push(...await staticImports(file));
  }
}

const indexedFrom = new Set<string>();

/**
 * Indexes the local modules that a module loaded to run a task (`target`,
 * imported from `url`, or from code package `pkg`) imports, so that tasks
 * submitting their functions ship them by reference too. Modules of a code
 * package are named by the client's URLs and their place in the package.
 * Once per loaded module.
 *
 * @example A module that imports nothing indexes nothing
 * ```ts
 * import { indexImportsOf } from "./module_index.ts";
 * const url = new URL("./hash.ts", import.meta.url).href;
 * await indexImportsOf(url, url);
 * ```
 */
export function indexImportsOf(
  target: string,
  url: string,
  pkg?: PackageRef,
): Promise<void> {
  if (indexedFrom.has(target)) return Promise.resolve();
  indexedFrom.add(target);
  // Package files sit in the package's folder as they sat in the client's.
  const up = `./${"../".repeat(pkg ? pkg.path.split("/").length - 1 : 0)}`;
  const folder = new URL(up, target).href, clientBase = new URL(up, url).href;
  return indexReachable(target, (file) => {
    if (runtimePath(file) !== undefined) return undefined; // the worker's own
    if (!pkg) return { url: file };
    if (!file.startsWith(folder)) return undefined; // not the client's code
    const rel = file.slice(folder.length);
    return {
      url: new URL(rel, clientBase).href,
      pkg: { id: pkg.id, path: decodeURIComponent(rel) },
    };
  });
}
