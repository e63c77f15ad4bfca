// deno-lint-ignore-file ban-types -- compiled functions have any shape.
/**
 * Compiling a function shipped by source: the source text becomes a
 * function again, in strict mode, with the names it uses from a scope object
 * (the in-task API) bound once, at compile time.
 *
 * @module
 */

import { ShippingError } from "../errors.ts";
import { analysisOf, label, quoteList } from "./analysis.ts";
import { WORKER_GLOBALS } from "./free_variables.ts";

/**
 * A function that wraps a compiled function (e.g. `delayed`'s wrapper
 * maker). It receives the raw function and returns the callable to use.
 */
export type Wrapper = (fn: (...args: never[]) => unknown) => Function;

const SCOPE = "__tendril_scope__";
const HELP = "__tendril_helpers__";

/**
 * Compiles `source` with `scope` in view: the engine behind
 * {@linkcode compileWithScope}. `displayName` names the result; with
 * `checkScope`, a free variable that neither `scope` nor the globals provide
 * is a {@linkcode ShippingError} (a worker loading a function checks this).
 *
 * @throws {ShippingError} if the source does not parse or compile, uses `import.meta`, or (with `checkScope`) a name nothing provides.
 * @example Checking the scope, as a worker loading a function does
 * ```ts
 * import assert from "node:assert/strict";
 * import { ShippingError } from "../errors.ts";
 * import { compileFunction } from "./compile.ts";
 * const triple = compileFunction(
 *   "(x) => x * factor",
 *   { factor: 3 },
 *   undefined,
 *   undefined,
 *   "triple",
 *   true,
 * ) as (x: number) => number;
 * assert.equal(triple(2), 6);
 * assert.equal(triple.name, "triple");
 * assert.throws(
 *   () => compileFunction("(x) => x * factor", {}, undefined, undefined, "f", true),
 *   (e) => e instanceof ShippingError && e.variables.join() === "factor",
 * );
 * ```
 */
export function compileFunction(
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
 * @example Binding scope names, and recursing through a wrapper
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileWithScope } from "./compile.ts";
 * const scope = { offset: 10 };
 * const f = compileWithScope("function f(n) { return n + offset; }", scope) as (n: number) => number;
 * assert.equal(f(1), 11);
 * let calls = 0;
 * const wrap = (fn: Function) => (n: number): number => (calls++, fn(n));
 * const fact = compileWithScope(
 *   "function fact(n) { return n < 2 ? 1 : n * fact(n - 1); }",
 *   {},
 *   "fact",
 *   wrap,
 * ) as (n: number) => number;
 * assert.equal(fact(5), 120);
 * assert.equal(calls, 5); // the outer call and four recursive ones
 * ```
 */
export function compileWithScope(
  source: string,
  scope: Record<string, unknown>,
  selfName?: string,
  wrapSelf?: Wrapper,
): Function {
  return compileFunction(source, scope, selfName, wrapSelf, selfName, false);
}
