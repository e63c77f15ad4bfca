// deno-lint-ignore-file ban-types -- functions of any shape are shipped; the API takes `Function`.
/**
 * Shipping functions to workers (DESIGN.md §5). JS functions cannot be
 * pickled, so a function travels either
 *
 * 1. by reference, `{ kind: "module", url, name }`, when it is exported from
 *    an indexed module (the entry script, see {@linkcode indexMainModule}, or
 *    one passed to {@linkcode registerModule}); the receiving side imports
 *    the module (the entry script then runs with `import.meta.main` false, so
 *    scripts guard their main block with `if (import.meta.main)`); or
 * 2. by source, `{ kind: "source", source, name }`, compiled on the receiving
 *    side with a scope object (the in-task API) in view. Its free variables
 *    are checked when it is described: one a worker cannot see is a
 *    {@linkcode ShippingError} naming it.
 *
 * @module
 */

import { sha1 } from "@noble/hashes/legacy";
import { resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import {
  analyzeFunctionSource,
  type SourceAnalysis,
  SourceParseError,
  WORKER_GLOBALS,
} from "./free_variables.ts";

export { freeVariables } from "./free_variables.ts";

/** How a function travels: a module export, or its source text. */
export type FunctionRef =
  | { kind: "module"; url: string; name: string; wrapped?: boolean }
  | { kind: "source"; source: string; name: string; wrapped?: boolean };

/** A shippable function: a stable short id (the cache key on both sides) and its ref. */
export interface FunctionDescription {
  id: string;
  ref: FunctionRef;
}

/**
 * A function cannot be shipped (or loaded): it captures a variable a worker
 * cannot see, is native or bound, or its module lacks the export.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeFunction, ShippingError } from "./function_ref.ts";
 * const threshold = 3;
 * assert.throws(
 *   () => describeFunction((x: number) => x > threshold, new Set()),
 *   (e) => e instanceof ShippingError && e.variables[0] === "threshold",
 * );
 * ```
 */
export class ShippingError extends Error {
  /** Always "ShippingError". */
  override name = "ShippingError";
  /** The variables the function uses that the other side cannot see (if that is the reason). */
  readonly variables: readonly string[];
  /** An error with `message`, naming the offending `variables`. */
  constructor(message: string, variables: readonly string[] = []) {
    super(message);
    this.variables = variables;
  }
}

/**
 * A function that wraps a compiled function (e.g. `delayed`'s wrapper
 * maker). It receives the raw function and returns the callable to use.
 */
export type Wrapper = (fn: (...args: never[]) => unknown) => Function;

const WRAPPED = Symbol.for("tendril.wrapped");
const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;
const toSource = (fn: Function): string => Function.prototype.toString.call(fn);

interface Entry {
  desc: FunctionDescription;
  /** Free variables that must be scope names; undefined when none. */
  needs?: readonly string[];
  /** The scope-name set `needs` was last checked against. */
  scope?: ReadonlySet<string>;
}
interface Export {
  url: string;
  name: string;
}

const described = new WeakMap<Function, Entry>();
const exportsByFunction = new WeakMap<Function, Export>();
const registered = new Map<string, Promise<void>>();
/** Entry-script exports found in a second instance of it, keyed by `sourceKey`. */
const mainBySource = new Map<string, Export>();
const analyses = new Map<string, SourceAnalysis>();
const MAX_ANALYSES = 1000;

const sourceKey = (wrapper: boolean, name: string, source: string) =>
  `${wrapper ? "w" : "f"}\0${name}\0${source}`;

function label(name: string, source: string): string {
  return name
    ? `function "${name}"`
    : `an anonymous function (${source.slice(0, 40).replace(/\s+/g, " ")}...)`;
}

function quoteList(names: readonly string[]): string {
  const q = names.map((n) => `"${n}"`);
  return q.length === 1
    ? q[0]
    : `${q.slice(0, -1).join(", ")} and ${q[q.length - 1]}`;
}

function analysisOf(source: string, name: string): SourceAnalysis {
  let a = analyses.get(source);
  if (a) return a;
  const what = label(name, source);
  const exportIt =
    "Export the function from its module (it is then shipped by reference).";
  try {
    a = analyzeFunctionSource(source);
  } catch (e) {
    if (!(e instanceof SourceParseError)) throw e;
    throw new ShippingError(
      `${what} cannot be shipped by source: its source text does not parse as a function. ${exportIt}`,
    );
  }
  if (a.usesImportMeta) {
    throw new ShippingError(
      `${what} cannot be shipped by source: it uses import.meta, which only its module has. ${exportIt}`,
    );
  }
  if (analyses.size >= MAX_ANALYSES) {
    analyses.delete(analyses.keys().next().value!);
  }
  analyses.set(source, a);
  return a;
}

// SHA-1 from @noble/hashes: node:crypto costs ~13 ms to import in a worker,
// this ~2 ms. Content ids, not security.
const utf8 = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function hashId(text: string): string {
  return base64url(sha1(utf8.encode(text))).slice(0, 16);
}

/**
 * The key of a pure call: the function's name and a hash of its id and its
 * encoded arguments, so identical pure submissions share one task. (Here,
 * beside the function ids, because a worker loads this module only when it
 * runs its first task.)
 *
 * @example
 * ```ts
 * import { pureKey } from "./function_ref.ts";
 * const a = pureKey("inc", "s:abc", new Uint8Array([1]));
 * console.assert(a === pureKey("inc", "s:abc", new Uint8Array([1])));
 * console.assert(a !== pureKey("inc", "s:abc", new Uint8Array([2])));
 * ```
 */
export function pureKey(name: string, fnId: string, args: Uint8Array): string {
  const id = utf8.encode(fnId);
  const all = new Uint8Array(id.length + 1 + args.length);
  all.set(id);
  all.set(args, id.length + 1); // a 0 byte separates the id from the arguments
  return `${name}-${base64url(sha1(all)).slice(0, 20)}`;
}

function moduleEntry(exp: Export, wrapped: boolean): Entry {
  const ref: FunctionRef = wrapped
    ? { kind: "module", url: exp.url, name: exp.name, wrapped: true }
    : { kind: "module", url: exp.url, name: exp.name };
  return {
    desc: { id: `m:${exp.url}#${exp.name}${wrapped ? "#w" : ""}`, ref },
  };
}

function cannotSee(what: string, vars: readonly string[]): ShippingError {
  const list = quoteList(vars);
  return new ShippingError(
    `${what} cannot be shipped by source: it uses ${list}, which a worker cannot see. ` +
      `Export the function from its module (it is then shipped by reference) or pass ${list} as ` +
      `${vars.length === 1 ? "an argument" : "arguments"}.`,
    vars,
  );
}

function describeFresh(fn: Function, scopeNames: ReadonlySet<string>): Entry {
  const exp = exportsByFunction.get(fn);
  if (exp) return moduleEntry(exp, false);
  const inner = (fn as unknown as Record<symbol, unknown>)[WRAPPED];
  const wrapped = typeof inner === "function";
  const target = wrapped ? inner as Function : fn;
  if (wrapped) {
    const innerExp = exportsByFunction.get(target);
    if (innerExp) return moduleEntry(innerExp, true);
  }
  const source = toSource(target);
  const name = target.name;
  if (mainBySource.size > 0) {
    const viaWrapper = wrapped
      ? mainBySource.get(sourceKey(true, name, source))
      : undefined;
    if (viaWrapper) return moduleEntry(viaWrapper, false);
    const viaFunction = mainBySource.get(sourceKey(false, name, source));
    if (viaFunction) return moduleEntry(viaFunction, wrapped);
  }
  if (NATIVE.test(source)) {
    throw new ShippingError(
      `function "${fn.name}" cannot be shipped: it is a native or bound function, whose source is not available. ` +
        `Call it from a function exported from a module, or from an arrow function.`,
    );
  }
  const a = analysisOf(source, name);
  const needs: string[] = [];
  const bad: string[] = [];
  for (const v of a.free) {
    if (v === name || WORKER_GLOBALS.has(v)) continue;
    needs.push(v);
    if (!scopeNames.has(v)) bad.push(v);
  }
  if (bad.length) throw cannotSee(label(name, source), bad);
  const ref: FunctionRef = wrapped
    ? { kind: "source", source, name, wrapped: true }
    : { kind: "source", source, name };
  const id = `s:${hashId(`${name}\0${wrapped ? "w" : ""}\0${source}`)}`;
  return {
    desc: { id, ref },
    needs: needs.length ? needs : undefined,
    scope: scopeNames,
  };
}

/**
 * Describes `fn` for shipping: by module reference if it (or, for a wrapper
 * such as `delayed(f)`, the wrapper or `f`) is an export of an indexed
 * module; else by source, after checking that every free variable is a
 * global of a Web Worker, one of `scopeNames`, or the function's own name.
 * Results are cached per function object (a repeat call is one WeakMap
 * lookup). Call {@linkcode indexMainModule} (and {@linkcode registerModule})
 * first: a function described before its module was indexed stays shipped
 * by source.
 *
 * @throws {ShippingError} when the function captures a variable a worker cannot see, is native or bound, or does not parse.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeFunction } from "./function_ref.ts";
 * const scope = new Set(["getClient"]);
 * const desc = describeFunction((n: number) => n * Math.PI, scope);
 * assert(desc.ref.kind === "source" && desc.id.startsWith("s:"));
 * assert(describeFunction((n: number) => n * Math.PI, scope).id === desc.id);
 * ```
 */
export function describeFunction(
  fn: Function,
  scopeNames: ReadonlySet<string>,
): FunctionDescription {
  const hit = described.get(fn);
  if (hit && (hit.needs === undefined || hit.scope === scopeNames)) {
    return hit.desc;
  }
  if (typeof fn !== "function") {
    throw new TypeError(`describeFunction: not a function: ${String(fn)}`);
  }
  if (hit) {
    const bad = hit.needs!.filter((v) => !scopeNames.has(v));
    if (bad.length) {
      throw cannotSee(label(hit.desc.ref.name, toSource(fn)), bad);
    }
    hit.scope = scopeNames;
    return hit.desc;
  }
  const entry = describeFresh(fn, scopeNames);
  described.set(fn, entry);
  return entry.desc;
}

/**
 * Whether `fn` is a named function whose free variables are all Web Worker
 * globals, `scopeNames` or its own name, so that
 * `compileWithScope(fn.toString(), scope, fn.name, wrap)` recompiles it
 * faithfully (used by `delayed` to route recursive calls through its wrapper).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canRebindSelf } from "./function_ref.ts";
 * const fib = (n: number): number => n < 2 ? n : fib(n - 1) + fib(n - 2);
 * assert(canRebindSelf(fib, new Set()));
 * const k = 2;
 * assert(!canRebindSelf((n: number) => n * k, new Set()));
 * ```
 */
export function canRebindSelf(
  fn: Function,
  scopeNames: ReadonlySet<string>,
): boolean {
  if (typeof fn !== "function" || !fn.name) return false;
  const source = toSource(fn);
  if (NATIVE.test(source)) return false;
  let a: SourceAnalysis;
  try {
    a = analysisOf(source, fn.name);
  } catch {
    return false;
  }
  return a.form !== "class" &&
    a.free.every((v) =>
      v === fn.name || WORKER_GLOBALS.has(v) || scopeNames.has(v)
    );
}

const SCOPE = "__tendril_scope__";
const HELP = "__tendril_helpers__";

function compileInternal(
  source: string,
  scope: Record<string, unknown>,
  selfName: string | undefined,
  wrapSelf: Wrapper | undefined,
  displayName: string | undefined,
  checkScope: boolean,
): Function {
  const a = analysisOf(source, displayName ?? selfName ?? "");
  const bindSelf = selfName !== undefined && selfName !== "" &&
    (a.free.includes(selfName) ||
      (wrapSelf !== undefined && a.form === "function" &&
        a.id?.name === selfName));
  if (checkScope) {
    const missing = a.free.filter((v) =>
      v !== selfName && !(v in scope) && !WORKER_GLOBALS.has(v) &&
      !(v in globalThis)
    );
    if (missing.length) {
      const what = label(displayName ?? "", source);
      const list = quoteList(missing);
      throw new ShippingError(
        `${what} cannot be loaded: it uses ${list}, which neither the task scope nor the globals here provide.`,
        missing,
      );
    }
  }
  let text = source;
  if (a.form === "method") text = `${HELP}.method(${a.methodExpr})`;
  else if (
    bindSelf && wrapSelf && a.form === "function" && a.id?.name === selfName
  ) {
    text = source.slice(0, a.id.start) + source.slice(a.id.end);
  }
  let body = '"use strict";\n';
  for (const v of a.free) {
    if (v === SCOPE || v === HELP) {
      throw new ShippingError(
        `${source.slice(0, 40)}: uses a reserved name ${v}`,
      );
    }
    if (
      (bindSelf && v === selfName) || v === "arguments" || v === "eval" ||
      !(v in scope)
    ) continue;
    body += `const ${v} = ${SCOPE}[${JSON.stringify(v)}];\n`;
  }
  body += bindSelf
    ? `let ${selfName} = (${text}\n);\n${selfName} = ${HELP}.finish(${selfName});\nreturn ${selfName};`
    : `return ${HELP}.finish((${text}\n));`;
  const helpers = {
    method(obj: object): Function {
      const d = Object.getOwnPropertyDescriptor(obj, "m")!;
      return (d.value ?? d.get ?? d.set) as Function;
    },
    finish(raw: Function): Function {
      const name = displayName ?? selfName;
      if (name !== undefined && raw.name !== name) {
        Object.defineProperty(raw, "name", { value: name, configurable: true });
      }
      return wrapSelf ? wrapSelf(raw as (...args: never[]) => unknown) : raw;
    },
  };
  let factory: Function;
  try {
    factory = new Function(SCOPE, HELP, body);
  } catch (e) {
    const what = label(displayName ?? "", source);
    throw new ShippingError(
      `${what} does not compile: ${(e as Error).message}`,
    );
  }
  return factory(scope, helpers) as Function;
}

/**
 * Compiles a function's source (any form `Function.prototype.toString`
 * gives: function, arrow, class, method shorthand) in strict mode, with the
 * properties of `scope` it uses in view (read once, at compile time).
 *
 * With `selfName`, the function sees itself under that name (for arrows and
 * methods that recurse by the name they were given). With `wrapSelf` too,
 * the result is `wrapSelf(compiled)` and that wrapper is what `selfName`
 * means inside: a named function expression (`function fibD(n) { ... }`) is
 * compiled with its own name removed, so recursive calls go through the
 * wrapper.
 *
 * @throws {ShippingError} if the source does not parse or compile, or uses `import.meta`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileWithScope } from "./function_ref.ts";
 * const scope = { offset: 10 };
 * const f = compileWithScope("function f(n) { return n + offset; }", scope) as (n: number) => number;
 * assert(f(1) === 11);
 * let calls = 0;
 * const wrap = (fn: Function) => (n: number): number => (calls++, fn(n));
 * const fact = compileWithScope(
 *   "function fact(n) { return n < 2 ? 1 : n * fact(n - 1); }",
 *   {},
 *   "fact",
 *   wrap,
 * ) as (n: number) => number;
 * assert(fact(5) === 120 && calls === 5);
 * ```
 */
export function compileWithScope(
  source: string,
  scope: Record<string, unknown>,
  selfName?: string,
  wrapSelf?: Wrapper,
): Function {
  return compileInternal(source, scope, selfName, wrapSelf, selfName, false);
}

/** Imports in flight that look for (or load) task functions. */
let shippingImports = 0;

async function importForShipping(
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
 * A module imported to find or load task functions started a cluster or a
 * client while being imported: its main block is not guarded.
 */
export class UnguardedEntryError extends ShippingError {
  /** Always "UnguardedEntryError". */
  override name = "UnguardedEntryError";
}

/**
 * Throws {@linkcode UnguardedEntryError} when called while a module is being
 * imported to ship functions: the entry script (imported again on the client
 * and on every worker) must not start clusters or clients at import.
 *
 * @example
 * ```ts
 * import { assertNotShippingImport } from "./function_ref.ts";
 * assertNotShippingImport("LocalCluster.start()"); // fine at top level
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

function mainModuleUrl(): string | undefined {
  try {
    return Deno.mainModule || undefined;
  } catch {
    return undefined;
  }
}

/** The URL of the entry script's second instance (importing the first could wait for its top-level await forever). */
function mainCopyUrl(url: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}tendril-index`;
}

function normalizeUrl(url: string | URL): string {
  if (url instanceof URL) return url.href;
  if (/^[a-zA-Z][a-zA-Z\d+.-]+:/.test(url)) return new URL(url).href;
  return pathToFileURL(resolvePath(url)).href;
}

function indexNamespace(url: string, ns: Record<string, unknown>): void {
  for (const name of Object.keys(ns)) {
    let value: unknown;
    try {
      value = ns[name];
    } catch {
      continue; // an export still in its temporal dead zone
    }
    if (typeof value !== "function") continue;
    const known = exportsByFunction.get(value);
    if (!known || (known.name === "default" && name !== "default")) {
      exportsByFunction.set(value, { url, name });
    }
  }
}

let mainIndexing: Promise<void> | undefined;

/**
 * Indexes the entry script (`Deno.mainModule`) once, so its exported
 * functions ship by reference. The entry script may still be running its
 * top-level `await` (typically `if (import.meta.main) await main()`), so
 * importing it would wait forever; instead a second instance of it is
 * imported (URL with `?tendril-index`, `import.meta.main` false, exactly
 * as a worker imports it) and functions are matched by name and source
 * text. Needs read permission for the script. A no-op when there is no
 * entry script (inside a Worker) or it cannot be imported; safe to call
 * many times (one shared promise).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indexMainModule } from "./function_ref.ts";
 * const once = indexMainModule();
 * assert(indexMainModule() === once);
 * await once; // a no-op where the entry script cannot be imported again
 * ```
 */
export function indexMainModule(): Promise<void> {
  return mainIndexing ??= (async () => {
    const url = mainModuleUrl();
    if (!url) return;
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
      const known = mainBySource.get(key);
      if (!known || (known.name === "default" && name !== "default")) {
        mainBySource.set(key, { url, name });
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
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeFunction, registerModule } from "./function_ref.ts";
 * import { freeVariables } from "./free_variables.ts";
 * await registerModule(new URL("./free_variables.ts", import.meta.url));
 * const desc = describeFunction(freeVariables, new Set());
 * assert(desc.ref.kind === "module" && desc.ref.name === "freeVariables");
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

const moduleLoads = new Map<string, Promise<Function>>();
const sourceLoads = new WeakMap<object, Map<string, Promise<Function>>>();

async function loadModuleRef(
  desc: FunctionDescription & { ref: { kind: "module" } },
  wrap: Wrapper | undefined,
): Promise<Function> {
  const { url, name, wrapped } = desc.ref;
  // In the client's own isolate, the entry script is only ever imported as its second instance.
  const target = url === mainModuleUrl() ? mainCopyUrl(url) : url;
  let ns: Record<string, unknown>;
  try {
    ns = await importForShipping(target);
  } catch (e) {
    throw new ShippingError(
      `cannot import ${url} to load function "${name}": ${
        (e as Error)?.message ?? e
      }`,
    );
  }
  // Index the whole module: functions it exports that tasks submit from
  // here then ship by reference too.
  indexNamespace(url, ns);
  const value = ns[name];
  if (typeof value !== "function") {
    throw new ShippingError(
      `module ${url} has no exported function "${name}" (${
        value === undefined ? "missing" : typeof value
      }).`,
    );
  }
  if (!exportsByFunction.has(value)) {
    exportsByFunction.set(value, { url, name });
  }
  const fn = wrapped && wrap
    ? wrap(value as (...args: never[]) => unknown)
    : value;
  described.set(fn, { desc });
  return fn;
}

/**
 * Turns a description back into a function: imports the module (kind
 * `"module"`; the entry script runs with `import.meta.main` false) or
 * compiles the source with `scope` in view (kind `"source"`; the function
 * sees itself under its name). For a ref with `wrapped: true`, returns
 * `options.wrap(fn)`, and recursive calls by the function's name go
 * through that wrapper. Cached by id (per scope object for sources); the
 * result is registered, so `describeFunction(result)` gives `desc` back.
 *
 * @throws {ShippingError} (as a rejection) if the export is missing or not callable, or the source uses a name neither `scope` nor the globals have.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeFunction, type FunctionDescription, loadFunction } from "./function_ref.ts";
 * // As a client would send it: `double` is a name of the task scope.
 * const desc: FunctionDescription = {
 *   id: "s:example",
 *   ref: { kind: "source", source: "(x) => double(x) + 1", name: "plusOne" },
 * };
 * const fn = await loadFunction(desc, { double: (x: number) => 2 * x }) as (x: number) => number;
 * assert(fn(4) === 9 && fn.name === "plusOne");
 * assert(describeFunction(fn, new Set(["double"])).id === "s:example");
 * ```
 */
export function loadFunction(
  desc: FunctionDescription,
  scope: Record<string, unknown>,
  options: { wrap?: Wrapper } = {},
): Promise<Function> {
  const { ref } = desc;
  let cache: Map<string, Promise<Function>>;
  if (ref.kind === "module" && !ref.wrapped) {
    cache = moduleLoads;
  } else {
    cache = sourceLoads.get(scope) ?? new Map();
    sourceLoads.set(scope, cache);
  }
  let loading = cache.get(desc.id);
  if (loading) return loading;
  loading = ref.kind === "module"
    ? loadModuleRef(
      desc as FunctionDescription & { ref: { kind: "module" } },
      options.wrap,
    )
    : new Promise<Function>((resolve) => {
      const wrapSelf = ref.wrapped ? options.wrap : undefined;
      const fn = compileInternal(
        ref.source,
        scope,
        ref.name || undefined,
        wrapSelf,
        ref.name,
        true,
      );
      described.set(fn, { desc });
      resolve(fn);
    });
  cache.set(desc.id, loading);
  loading.catch(() => {
    if (cache.get(desc.id) === loading) cache.delete(desc.id);
  });
  return loading;
}
