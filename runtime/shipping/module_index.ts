// deno-lint-ignore-file ban-types -- functions of any shape are indexed.
/**
 * Which module exports which function: the index that lets a function ship
 * by reference (module URL and export name) instead of by source.
 *
 * Functions are found by object identity in the namespaces of indexed
 * modules: those passed to {@linkcode registerModule}, and every local module
 * the entry script imports statically (they finished evaluating before the
 * entry script's body ran, so importing them again gives the very same
 * instances). The entry script itself is the one exception: it may still be
 * running its top-level `await`, so importing it would wait forever. A
 * second instance of it is imported instead (URL with `?tendril-index`,
 * `import.meta.main` false, exactly as a worker imports it) and its exports
 * are matched by name and source text, but only for functions that no other
 * indexed module exports: a function with the same name and source in
 * another module is that module's (issue: a sibling's `scale` once shipped as
 * the entry script's).
 *
 * @module
 */

import { resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import { UnguardedEntryError } from "../errors.ts";
import { runtimePath } from "../runtime_copy.ts";
import { toSource, WRAPPED } from "./analysis.ts";
import type { PackageRef } from "./code_package.ts";
import { findImports, maskComments } from "./imports.ts";

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
/** Entry-script exports found in its second instance, by `sourceKey`. */
const entryBySource = new Map<string, Export>();
const registered = new Map<string, Promise<void>>();

const sourceKey = (wrapper: boolean, name: string, source: string) =>
  `${wrapper ? "w" : "f"}\0${name}\0${source}`;

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
 * The entry-script export whose name and source equal `fn`'s (`wrapper`:
 * matched as the inside of an exported wrapper), if the entry script was
 * indexed.
 *
 * @example No match for a function the entry script does not export
 * ```ts
 * import assert from "node:assert/strict";
 * import { entryExportLike } from "./module_index.ts";
 * assert.equal(entryExportLike(false, "f", "() => 1"), undefined);
 * ```
 */
export function entryExportLike(
  wrapper: boolean,
  name: string,
  source: string,
): Export | undefined {
  if (entryBySource.size === 0) return undefined;
  return entryBySource.get(sourceKey(wrapper, name, source));
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

/**
 * The entry script's URL, when there is one (not inside a Web Worker).
 *
 * @example In the main isolate
 * ```ts
 * import assert from "node:assert/strict";
 * import { mainModuleUrl } from "./module_index.ts";
 * assert.equal(mainModuleUrl(), Deno.mainModule);
 * ```
 */
export function mainModuleUrl(): string | undefined {
  try {
    return Deno.mainModule || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The URL of the entry script's second instance (importing the first could
 * wait for its top-level await forever).
 *
 * @example With and without a query
 * ```ts
 * import assert from "node:assert/strict";
 * import { mainCopyUrl } from "./module_index.ts";
 * assert.equal(mainCopyUrl("file:///main.ts"), "file:///main.ts?tendril-index");
 * assert.equal(mainCopyUrl("file:///main.ts?v=2"), "file:///main.ts?v=2&tendril-index");
 * ```
 */
export function mainCopyUrl(url: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}tendril-index`;
}

function normalizeUrl(url: string | URL): string {
  if (url instanceof URL) return url.href;
  if (/^[a-zA-Z][a-zA-Z\d+.-]+:/.test(url)) return new URL(url).href;
  return pathToFileURL(resolvePath(url)).href;
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
async function indexReachable(
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

/** Indexes the modules the entry script imports, transitively (local files only). */
function indexEntryImports(entry: string): Promise<void> {
  return indexReachable(entry, (url) => ({ url }));
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
  if (!pkg || target === url) {
    return indexReachable(
      target,
      (file) => runtimePath(file) === undefined ? { url: file } : undefined,
    );
  }
  const depth = pkg.path.split("/").length - 1;
  const folder = new URL(`./${"../".repeat(depth)}`, target).href;
  const clientBase = new URL(`./${"../".repeat(depth)}`, url).href;
  return indexReachable(target, (file) => {
    if (!file.startsWith(folder)) return undefined; // the worker's runtime
    const path = decodeURIComponent(file.slice(folder.length));
    return {
      url: new URL(file.slice(folder.length), clientBase).href,
      pkg: { id: pkg.id, path },
    };
  });
}

let mainIndexing: Promise<void> | undefined;
/** The entry script when it was not imported (no guard): its URL and exported names. */
let unguardedEntry: { url: string; names: Set<string> } | undefined;

// `export function f`, `export const f =`, `export { f, g as h }`, `export default function f`.
const EXPORTED =
  /^\s*export\s+(?:default\s+)?(?:async\s+)?(?:function\*?|const|let|var|class)\s+([\w$]+)|^\s*export\s*\{([^}]*)\}/gm;

/** Names a module's source exports (a static scan: what an error message needs). */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(EXPORTED)) {
    if (m[1]) names.add(m[1]);
    for (const part of (m[2] ?? "").split(",")) {
      const name = part.trim().split(/\s+as\s+/).pop()?.trim();
      if (name && !name.startsWith("type ")) names.add(name);
    }
  }
  return names;
}

/**
 * The entry script that was not indexed because it has no
 * `if (import.meta.main)` guard, if `name` is one of its exports.
 *
 * @example Nothing to report when the entry script was indexed
 * ```ts
 * import assert from "node:assert/strict";
 * import { unguardedEntryExporting } from "./module_index.ts";
 * assert.equal(unguardedEntryExporting("inc"), undefined);
 * ```
 */
export function unguardedEntryExporting(name: string): string | undefined {
  return unguardedEntry?.names.has(name) ? unguardedEntry.url : undefined;
}

/**
 * Indexes the entry script (`Deno.mainModule`) and the local modules it
 * imports, once, so their exported functions ship by reference. Needs read
 * permission for them. A no-op when there is no entry script (inside a
 * Worker) or it cannot be imported; safe to call many times (one shared
 * promise).
 *
 * The modules the entry script imports are already evaluated, so indexing
 * them runs nothing. The entry script itself is imported a second time only
 * when that is safe and useful: when it exports something and guards its
 * main block with `if (import.meta.main)`. A script without the guard is
 * left alone (importing it would run it again); its functions ship by
 * source, and one that cannot gets an error saying to add the guard.
 *
 * @example One shared promise
 * ```ts
 * import assert from "node:assert/strict";
 * import { indexMainModule } from "./module_index.ts";
 * const once = indexMainModule();
 * assert.equal(indexMainModule(), once);
 * await once;
 * ```
 */
export function indexMainModule(): Promise<void> {
  return mainIndexing ??= (async () => {
    const url = mainModuleUrl();
    if (!url) return;
    await indexEntryImports(url);
    let text: string | undefined;
    try {
      text = url.startsWith("file:")
        ? await Deno.readTextFile(new URL(url))
        : undefined;
    } catch {
      text = undefined; // no read permission: try the import
    }
    if (text !== undefined) {
      const code = maskComments(text);
      const names = exportedNames(code);
      if (names.size === 0) return; // nothing of its own to ship
      if (!/import\.meta\.main\b/.test(code)) {
        unguardedEntry = { url, names };
        return;
      }
    }
    let ns: Record<string, unknown>;
    try {
      ns = await importForShipping(mainCopyUrl(url));
    } catch (e) {
      if (e instanceof UnguardedEntryError) throw e;
      return;
    }
    for (const name of Object.keys(ns)) {
      let value: unknown;
      try {
        value = ns[name];
      } catch {
        continue;
      }
      if (typeof value !== "function") continue;
      const inner = (value as unknown as Record<symbol, unknown>)[WRAPPED];
      const key = typeof inner === "function"
        ? sourceKey(true, inner.name, toSource(inner))
        : sourceKey(false, value.name, toSource(value));
      const known = entryBySource.get(key);
      if (!known || (known.name === "default" && name !== "default")) {
        entryBySource.set(key, { url, name });
      }
    }
  })();
}

/**
 * Imports a module and indexes its exported functions (and exported
 * callable wrappers), so they ship by reference. A URL or a file path
 * (relative paths resolve against the working directory); pass
 * `import.meta.url` to register the calling module. Registering the entry
 * script is {@linkcode indexMainModule}. Do not register a module whose
 * top-level `await` is still running: importing it waits for it.
 *
 * @throws the import's error if the module cannot be imported.
 * @example Registering a module by URL
 * ```ts
 * import assert from "node:assert/strict";
 * import { exportOf, registerModule } from "./module_index.ts";
 * import { freeVariables } from "./free_variables.ts";
 * await registerModule(new URL("./free_variables.ts", import.meta.url));
 * assert.equal(exportOf(freeVariables)?.name, "freeVariables");
 * ```
 */
export function registerModule(url: string | URL): Promise<void> {
  let href: string;
  try {
    href = normalizeUrl(url);
  } catch (e) {
    return Promise.reject(e);
  }
  if (href === mainModuleUrl()) return indexMainModule();
  let done = registered.get(href);
  if (!done) {
    done = importForShipping(href).then((ns) => indexNamespace(href, ns));
    registered.set(href, done);
    done.catch(() => registered.delete(href));
  }
  return done;
}
