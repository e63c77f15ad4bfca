// deno-lint-ignore-file ban-types -- functions of any shape are analysed.
/**
 * What shipping needs to know of a function's source text: its form and free
 * variables (cached per source text), whether it is native, and how to name
 * it in an error message.
 *
 * @module
 */

import { ShippingError } from "../errors.ts";
import {
  analyzeFunctionSource,
  type SourceAnalysis,
  SourceParseError,
} from "./free_variables.ts";

/** Where a wrapper (such as `delayed`'s) keeps the function it wraps. */
export const WRAPPED: unique symbol = Symbol.for("tendril.wrapped") as never;

const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;
const MAX_ANALYSES = 1000;
const analyses = new Map<string, SourceAnalysis>();

/**
 * The source text V8 keeps for `fn` (for TypeScript: the transpiled text).
 *
 * @example The transpiled text of a TypeScript arrow function
 * ```ts
 * import assert from "node:assert/strict";
 * import { toSource } from "./analysis.ts";
 * assert.equal(toSource((x: number) => x), "(x)=>x");
 * ```
 */
export const toSource = (fn: Function): string =>
  Function.prototype.toString.call(fn);

/**
 * True for native and bound functions, whose source is not available.
 *
 * @example Native, bound and ordinary functions
 * ```ts
 * import assert from "node:assert/strict";
 * import { isNativeSource, toSource } from "./analysis.ts";
 * const inc = (x: number) => x + 1;
 * assert.ok(isNativeSource(toSource(Math.max)));
 * assert.ok(isNativeSource(toSource(inc.bind(null))));
 * assert.ok(!isNativeSource(toSource(inc)));
 * ```
 */
export function isNativeSource(source: string): boolean {
  return NATIVE.test(source);
}

/**
 * How an error message names a function: by its name, or by the start of
 * its source when it has none.
 *
 * @example Named and anonymous functions
 * ```ts
 * import assert from "node:assert/strict";
 * import { label } from "./analysis.ts";
 * assert.equal(label("inc", "(x) => x + 1"), 'function "inc"');
 * assert.equal(label("", "(x) => x + 1"), "an anonymous function ((x) => x + 1...)");
 * ```
 */
export function label(name: string, source: string): string {
  return name
    ? `function "${name}"`
    : `an anonymous function (${source.slice(0, 40).replace(/\s+/g, " ")}...)`;
}

/**
 * Quotes names for an error message: `"a"`, `"a" and "b"`,
 * `"a", "b" and "c"`.
 *
 * @example Quoting one, two and three names
 * ```ts
 * import assert from "node:assert/strict";
 * import { quoteList } from "./analysis.ts";
 * assert.equal(quoteList(["a"]), '"a"');
 * assert.equal(quoteList(["a", "b"]), '"a" and "b"');
 * assert.equal(quoteList(["a", "b", "c"]), '"a", "b" and "c"');
 * ```
 */
export function quoteList(names: readonly string[]): string {
  const q = names.map((n) => `"${n}"`);
  return q.length === 1
    ? q[0]
    : `${q.slice(0, -1).join(", ")} and ${q[q.length - 1]}`;
}

/**
 * The analysis of a function's source (cached by source text).
 *
 * @throws {ShippingError} when the source does not parse or uses `import.meta`.
 * @example Free variables, and a source that cannot ship
 * ```ts
 * import assert from "node:assert/strict";
 * import { ShippingError } from "../errors.ts";
 * import { analysisOf } from "./analysis.ts";
 * assert.deepEqual(analysisOf("(x) => x + k", "f").free, ["k"]);
 * assert.throws(() => analysisOf("() => import.meta.url", "f"), ShippingError);
 * ```
 */
export function analysisOf(source: string, name: string): SourceAnalysis {
  let a = analyses.get(source);
  if (a) return a;
  const what = label(name, source);
  const exportIt =
    "Export it from a local module that the entry script imports (or from " +
    "one passed to registerModule(url)): it then ships by reference.";
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
