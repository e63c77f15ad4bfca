/**
 * The entry script's part of the module index, and `registerModule`.
 *
 * The modules the entry script imports are indexed by identity (they are
 * evaluated). The entry script itself may still be running its top-level
 * `await`, so importing it would wait forever: a second instance of it is
 * imported instead (URL with `?tendril-index`, `import.meta.main` false,
 * exactly as a worker imports it), only when it exports something and
 * guards its main block, and its exports are matched by name and source
 * text, but only for functions that no other indexed module exports: a
 * function with the same name and source in another module is that
 * module's (issue: a sibling's `scale` once shipped as the entry script's).
 *
 * @module
 */

import { resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import { UnguardedEntryError } from "../errors.ts";
import { toSource, WRAPPED } from "./analysis.ts";
import { maskComments } from "./imports.ts";
import {
  type Export,
  importForShipping,
  indexNamespace,
  indexReachable,
} from "./module_index.ts";

/** Entry-script exports found in its second instance, by `sourceKey`. */
const entryBySource = new Map<string, Export>();

const registered = new Map<string, Promise<void>>();

const sourceKey = (wrapper: boolean, name: string, source: string) =>
  `${wrapper ? "w" : "f"}\0${name}\0${source}`;

/**
 * The entry-script export whose name and source equal `fn`'s (`wrapper`:
 * matched as the inside of an exported wrapper), if the entry script was
 * indexed.
 *
 * @example No match for a function the entry script does not export
 * ```ts
 * import assert from "node:assert/strict";
 * import { entryExportLike } from "./entry_index.ts";
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
 * The entry script's URL, when there is one (not inside a Web Worker).
 *
 * @example In the main isolate
 * ```ts
 * import assert from "node:assert/strict";
 * import { mainModuleUrl } from "./entry_index.ts";
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
 * import { mainCopyUrl } from "./entry_index.ts";
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

/** Indexes the modules the entry script imports, transitively (local files only). */
function indexEntryImports(entry: string): Promise<void> {
  return indexReachable(entry, (url) => ({ url }));
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
 * import { unguardedEntryExporting } from "./entry_index.ts";
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
 * import { indexMainModule } from "./entry_index.ts";
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
 * import { registerModule } from "./entry_index.ts";
 * import { exportOf } from "./module_index.ts";
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
