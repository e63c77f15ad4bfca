// deno-lint-ignore-file ban-types -- functions of any shape are shipped; the API takes `Function`.
/**
 * How a function travels to a worker. JS functions cannot be pickled, so a
 * function travels either
 *
 * 1. by reference, `{ kind: "module", url, name }`, when it is exported from
 *    an indexed module (see `module_index.ts`); the receiving side imports
 *    the module; or
 * 2. by source, `{ kind: "source", source, name }`, compiled on the receiving
 *    side with a scope object (the in-task API) in view. Its free variables
 *    are checked when it is described: one a worker cannot see is a
 *    {@linkcode ShippingError} naming it.
 *
 * A function's id includes where it comes from: `m:URL#name` for a module
 * export, a hash of its name and source otherwise.
 *
 * @module
 */

import { ShippingError, UnguardedEntryError } from "../errors.ts";
import {
  analysisOf,
  isNativeSource,
  label,
  quoteList,
  toSource,
  WRAPPED,
} from "./analysis.ts";
import {
  type CodePackage,
  packageOf,
  type PackageRef,
} from "./code_package.ts";
import { WORKER_GLOBALS } from "./free_variables.ts";
import { hashId } from "./hash.ts";
import { entryExportLike, unguardedEntryExporting } from "./entry_index.ts";
import { type Export, exportOf } from "./module_index.ts";

/** How a function travels: a module export, or its source text. */
export type FunctionRef =
  | {
    kind: "module";
    url: string;
    name: string;
    wrapped?: boolean;
    /** Where the module is in the client's code package (when it sent one). */
    pkg?: PackageRef;
  }
  | { kind: "source"; source: string; name: string; wrapped?: boolean };

/** A shippable function: a stable short id (the cache key on both sides) and its ref. */
export interface FunctionDescription {
  /** `m:URL#name` for module exports, `s:HASH` for sources. */
  id: string;
  /** How it travels. */
  ref: FunctionRef;
}

interface Entry {
  desc: FunctionDescription;
  /** Free variables that must be scope names; undefined when none. */
  needs?: readonly string[];
  /** The scope-name set `needs` was last checked against. */
  scope?: ReadonlySet<string>;
}

const described = new WeakMap<Function, Entry>();

/**
 * Records that `fn` is described by `desc` (a loaded function describes as
 * what it was loaded from), so {@linkcode describeFunction} returns `desc`
 * for it without looking at its source.
 *
 * @example Describing a loaded function as what it was loaded from
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   describeFunction,
 *   type FunctionDescription,
 *   rememberDescription,
 * } from "./describe.ts";
 * const fn = () => 1;
 * const desc: FunctionDescription = {
 *   id: "m:file:///tasks.ts#one",
 *   ref: { kind: "module", url: "file:///tasks.ts", name: "one" },
 * };
 * rememberDescription(fn, desc);
 * assert.equal(describeFunction(fn, new Set()), desc);
 * ```
 */
export function rememberDescription(
  fn: Function,
  desc: FunctionDescription,
): void {
  described.set(fn, { desc });
}

function moduleEntry(exp: Export, wrapped: boolean): Entry {
  const ref: FunctionRef = wrapped
    ? { kind: "module", url: exp.url, name: exp.name, wrapped: true }
    : { kind: "module", url: exp.url, name: exp.name };
  if (exp.pkg) ref.pkg = exp.pkg;
  return { desc: { id: moduleId(ref), ref } };
}

/**
 * The id of a module function ref: its module's URL and export name, and the
 * package when the module travels in one (two versions of a module are two
 * packages, so two functions).
 *
 * @example With and without a package
 * ```ts
 * import assert from "node:assert/strict";
 * import { moduleId } from "./describe.ts";
 * const ref = { kind: "module" as const, url: "file:///a/tasks.ts", name: "inc" };
 * assert.equal(moduleId(ref), "m:file:///a/tasks.ts#inc");
 * assert.equal(
 *   moduleId({ ...ref, pkg: { id: "P1", path: "tasks.ts" } }),
 *   "m:file:///a/tasks.ts#inc@P1",
 * );
 * ```
 */
export function moduleId(
  ref: FunctionRef & { kind: "module" },
): string {
  return `m:${ref.url}#${ref.name}${ref.wrapped ? "#w" : ""}${
    ref.pkg ? `@${ref.pkg.id}` : ""
  }`;
}

/**
 * `desc` as it travels with its module's code package: a module function
 * ref of a `file:` module gains the package (see `code_package.ts`), built
 * once per module. Other descriptions come back as they are.
 *
 * @throws {ShippingError} when the module's code cannot be packaged.
 * @example A source function needs no package
 * ```ts
 * import assert from "node:assert/strict";
 * import { withPackage } from "./describe.ts";
 * const desc = { id: "s:x", ref: { kind: "source" as const, source: "() => 1", name: "" } };
 * assert.equal(withPackage(desc).desc, desc);
 * ```
 */
export function withPackage(
  desc: FunctionDescription,
): { desc: FunctionDescription; pkg?: CodePackage } {
  const { ref } = desc;
  if (ref.kind !== "module" || ref.pkg || !ref.url.startsWith("file:")) {
    return { desc };
  }
  let hit = packaged.get(desc.id);
  if (!hit) {
    const { pkg, path } = packageOf(ref.url);
    const withPkg = { ...ref, pkg: { id: pkg.id, path } };
    hit = { desc: { id: moduleId(withPkg), ref: withPkg }, pkg };
    packaged.set(desc.id, hit);
  }
  return hit;
}

const packaged = new Map<
  string,
  { desc: FunctionDescription; pkg: CodePackage }
>();

/** How to make a function ship by reference (true wherever it is defined). */
export const BY_REFERENCE: string =
  "export it from a local module that the entry script imports (or from " +
  "one passed to registerModule(url)): it then ships by reference, with " +
  "everything its module uses";

function cannotSee(
  what: string,
  name: string,
  vars: readonly string[],
): ShippingError {
  const list = quoteList(vars);
  const lead =
    `${what} cannot be shipped by source: it uses ${list}, which a worker cannot see.`;
  const entry = name ? unguardedEntryExporting(name) : undefined;
  if (entry) {
    return new UnguardedEntryError(
      `${lead} It is exported by the entry script ${entry}, which workers ` +
        `would have to import to load it, but the script has no ` +
        `\`if (import.meta.main)\` guard (importing it would run it again). ` +
        `Wrap the script's main code in \`if (import.meta.main) { ... }\`.`,
      vars,
    );
  }
  return new ShippingError(
    `${lead} To use it on workers, ${BY_REFERENCE}; or, for data, pass ` +
      `${vars.length === 1 ? "it as an argument" : "them as arguments"} ` +
      `(values travel as arguments, functions do not).`,
    vars,
  );
}

function describeFresh(fn: Function, scopeNames: ReadonlySet<string>): Entry {
  const exp = exportOf(fn);
  if (exp) return moduleEntry(exp, false);
  const inner = (fn as unknown as Record<symbol, unknown>)[WRAPPED];
  const wrapped = typeof inner === "function";
  const target = wrapped ? inner as Function : fn;
  if (wrapped) {
    const innerExp = exportOf(target);
    if (innerExp) return moduleEntry(innerExp, true);
  }
  const source = toSource(target);
  const name = target.name;
  const viaWrapper = wrapped ? entryExportLike(true, name, source) : undefined;
  if (viaWrapper) return moduleEntry(viaWrapper, false);
  const viaFunction = entryExportLike(false, name, source);
  if (viaFunction) return moduleEntry(viaFunction, wrapped);
  if (isNativeSource(source)) {
    throw new ShippingError(
      `function "${fn.name}" cannot be shipped: it is a native or bound function, whose source is not available. ` +
        `Call it from an arrow function (\`(x) => f(x)\`), or ${BY_REFERENCE}.`,
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
  if (bad.length) throw cannotSee(label(name, source), name, bad);
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
 * lookup). Index modules first (`indexMainModule`, `registerModule`): a
 * function described before its module was indexed stays shipped by source.
 *
 * @throws {ShippingError} when the function captures a variable a worker cannot see, is native or bound, or does not parse.
 * @example Shipping an arrow function by source
 * ```ts
 * import assert from "node:assert/strict";
 * import { ShippingError, UnguardedEntryError } from "../errors.ts";
 * import { describeFunction } from "./describe.ts";
 * const scope = new Set(["getClient"]);
 * const desc = describeFunction((n: number) => n * Math.PI, scope);
 * assert.equal(desc.ref.kind, "source");
 * assert.match(desc.id, /^s:/);
 * // The same source gets the same id.
 * assert.equal(describeFunction((n: number) => n * Math.PI, scope).id, desc.id);
 * const k = 2;
 * assert.throws(
 *   () => describeFunction((n: number) => n * k, scope),
 *   (e) => e instanceof ShippingError && e.variables.join() === "k",
 * );
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
      throw cannotSee(
        label(hit.desc.ref.name, toSource(fn)),
        hit.desc.ref.name,
        bad,
      );
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
 * @example A recursive function, and one that captures a variable
 * ```ts
 * import assert from "node:assert/strict";
 * import { canRebindSelf } from "./describe.ts";
 * const fib = (n: number): number => n < 2 ? n : fib(n - 1) + fib(n - 2);
 * assert.equal(canRebindSelf(fib, new Set()), true);
 * const k = 2;
 * const timesK = (n: number) => n * k;
 * assert.equal(canRebindSelf(timesK, new Set()), false);
 * assert.equal(canRebindSelf(timesK, new Set(["k"])), true);
 * ```
 */
export function canRebindSelf(
  fn: Function,
  scopeNames: ReadonlySet<string>,
): boolean {
  if (typeof fn !== "function" || !fn.name) return false;
  const source = toSource(fn);
  if (isNativeSource(source)) return false;
  let free: string[];
  let form: string;
  try {
    ({ free, form } = analysisOf(source, fn.name));
  } catch {
    return false;
  }
  return form !== "class" &&
    free.every((v) =>
      v === fn.name || WORKER_GLOBALS.has(v) || scopeNames.has(v)
    );
}
