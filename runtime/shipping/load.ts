// deno-lint-ignore-file ban-types -- loaded functions have any shape.
/**
 * Turning a {@linkcode FunctionDescription} back into a function on the
 * receiving side: import the module, or compile the source.
 *
 * @module
 */

import { ShippingError } from "../errors.ts";
import { runtimeCopies } from "../runtime_copy.ts";
import { compileFunction, type Wrapper } from "./compile.ts";
import type { PackageRef } from "./code_package.ts";
import { type FunctionDescription, rememberDescription } from "./describe.ts";
import { mainCopyUrl, mainModuleUrl } from "./entry_index.ts";
import {
  importForShipping,
  indexImportsOf,
  indexNamespace,
  rememberExport,
} from "./module_index.ts";

const moduleLoads = new Map<string, Promise<Function>>();
const sourceLoads = new WeakMap<object, Map<string, Promise<Function>>>();

/** Where a worker gets code packages (absent: it imports client modules by URL). */
export interface CodeSource {
  /** The URL to import a package's module from, installing the package first. */
  moduleUrl(ref: PackageRef): Promise<string>;
}

async function loadModuleRef(
  desc: FunctionDescription & { ref: { kind: "module" } },
  wrap: Wrapper | undefined,
  code: CodeSource | undefined,
): Promise<Function> {
  const { url, name, wrapped, pkg } = desc.ref;
  // In the client's own isolate, the entry script is only ever imported as its second instance.
  let target = url === mainModuleUrl() ? mainCopyUrl(url) : url;
  if (pkg && code) target = await code.moduleUrl(pkg);
  let ns: Record<string, unknown>;
  try {
    ns = await importForShipping(target);
  } catch (e) {
    const from = target === url ? "" : ` (from code package ${pkg!.id})`;
    const byUrl = pkg && !code
      ? ` This worker takes no code packages (--no-code-upload), so the ` +
        `client's files must be at the same path on its host.`
      : "";
    throw new ShippingError(
      `cannot import ${url}${from} to load function "${name}": ${
        (e as Error)?.message ?? e
      }${byUrl}`,
    );
  }
  refuseSecondRuntime(url, name);
  // Functions of the modules it imports, submitted from its tasks, ship by reference.
  await indexImportsOf(target, url, pkg);
  // Index the whole module: functions it exports that tasks submit from
  // here then ship by reference too.
  indexNamespace(url, ns, pkg);
  const value = ns[name];
  if (typeof value !== "function") {
    throw new ShippingError(
      `module ${url} has no exported function "${name}" (${
        value === undefined ? "missing" : typeof value
      }).`,
    );
  }
  rememberExport(value, pkg ? { url, name, pkg } : { url, name });
  const fn = wrapped && wrap
    ? wrap(value as (...args: never[]) => unknown)
    : value;
  rememberDescription(fn, desc);
  return fn;
}

/** Throws when importing `url` brought a second copy of the runtime in. */
function refuseSecondRuntime(url: string, name: string): void {
  const [first, ...others] = runtimeCopies();
  if (others.length === 0) return;
  throw new ShippingError(
    `cannot load function "${name}": importing ${url} loaded a second copy ` +
      `of the Tendril runtime (${others.join(", ")}) into a worker that runs ` +
      `${first}. Its tasks would not see this worker's client (getClient) ` +
      `and values would cross between two copies. Import Tendril in your ` +
      `modules by one specifier (the same path or import-map name everywhere).`,
  );
}

/**
 * Turns a description back into a function: imports the module (kind
 * `"module"`; the entry script runs with `import.meta.main` false; a ref
 * with a code package is imported from `options.code` when given, else
 * by its URL) or
 * compiles the source with `scope` in view (kind `"source"`; the function
 * sees itself under its name). For a ref with `wrapped: true`, returns
 * `options.wrap(fn)`, and recursive calls by the function's name go
 * through that wrapper. Cached by id (per scope object for sources); the
 * result is registered, so `describeFunction(result)` gives `desc` back.
 *
 * @throws {ShippingError} (as a rejection) if the module cannot be imported, the export is missing or not callable, or the source does not compile or uses a name neither `scope` nor the globals have.
 * @example Loading a function shipped by source
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeFunction, type FunctionDescription, loadFunction } from "./mod.ts";
 * // As a client would send it: `double` is a name of the task scope.
 * const desc: FunctionDescription = {
 *   id: "s:example",
 *   ref: { kind: "source", source: "(x) => double(x) + 1", name: "plusOne" },
 * };
 * const fn = await loadFunction(desc, { double: (x: number) => 2 * x }) as (x: number) => number;
 * assert.equal(fn(4), 9);
 * assert.equal(fn.name, "plusOne");
 * assert.equal(describeFunction(fn, new Set(["double"])).id, "s:example");
 * ```
 */
export function loadFunction(
  desc: FunctionDescription,
  scope: Record<string, unknown>,
  options: { wrap?: Wrapper; code?: CodeSource } = {},
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
      options.code,
    )
    : new Promise<Function>((resolve) => {
      const wrapSelf = ref.wrapped ? options.wrap : undefined;
      const fn = compileFunction(
        ref.source,
        scope,
        ref.name || undefined,
        wrapSelf,
        ref.name,
        true,
      );
      rememberDescription(fn, desc);
      resolve(fn);
    });
  cache.set(desc.id, loading);
  loading.catch(() => {
    if (cache.get(desc.id) === loading) cache.delete(desc.id);
  });
  return loading;
}
