/**
 * Static analysis of function source text: which form it has (function,
 * arrow, class or method shorthand) and which variables it uses without
 * declaring them (its free variables). Parsing is done by acorn, scope
 * resolution by eslint-scope (the scope analyser ESLint itself uses).
 *
 * @module
 */

import { parse } from "acorn";
import type { Node as AcornNode } from "acorn";
import { simple as walkSimple } from "acorn-walk";
import { analyze } from "eslint-scope";

/** What {@linkcode analyzeFunctionSource} learns about one function's source. */
export interface SourceAnalysis {
  /** `"method"` for method shorthand (`foo(x) { ... }`); `"class"` for a class. */
  form: "function" | "arrow" | "class" | "method";
  /** Free variable names, in first-use order, without duplicates. */
  free: string[];
  /** The name bound by a function expression itself (`function f() {}`): name and its span in the source. */
  id?: { name: string; start: number; end: number };
  /** For a method: an object-literal expression holding it under the key `m` (computed keys are dropped). */
  methodExpr?: string;
  /** Whether the source uses `import.meta` (which only its own module can evaluate). */
  usesImportMeta: boolean;
}

/** Thrown when source text is not a function (or class, or method) acorn can parse. */
export class SourceParseError extends SyntaxError {
  /** Always `"SourceParseError"`. */
  override name = "SourceParseError";
}

// eslint-scope takes estraverse's visitor keys; acorn also records import attributes.
const childVisitorKeys = { ImportExpression: ["source", "options"] };

type AnyNode = AcornNode & Record<string, unknown>;

function tryParse(text: string): AnyNode | undefined {
  for (const sourceType of ["module", "script"] as const) {
    try {
      return parse(text, {
        ecmaVersion: "latest",
        sourceType,
        ranges: true,
      }) as unknown as AnyNode;
    } catch {
      // try the next source type
    }
  }
  return undefined;
}

function collectFree(
  program: AnyNode,
  skip?: { start: number; end: number },
): string[] {
  const sourceType = program.sourceType === "module" ? "module" : "script";
  // deno-lint-ignore no-explicit-any
  const manager = analyze(program as any, {
    ecmaVersion: 2022,
    sourceType,
    childVisitorKeys,
  });
  const seen = new Set<string>();
  for (const ref of manager.globalScope!.through) {
    const ident = ref.identifier as unknown as { name: string; start: number };
    if (skip && ident.start >= skip.start && ident.start < skip.end) continue;
    seen.add(ident.name);
  }
  return [...seen];
}

function findsImportMeta(source: string, program: AnyNode): boolean {
  if (!/\bimport\s*\.\s*meta\b/.test(source)) return false;
  let found = false;
  walkSimple(program as AcornNode, {
    MetaProperty(node) {
      const n = node as unknown as { meta: { name: string } };
      if (n.meta.name === "import") found = true;
    },
  });
  return found;
}

/**
 * Analyses the source text of one function as `Function.prototype.toString`
 * returns it: `function f() {}` (also async / generator), arrow functions,
 * classes and method shorthand such as `foo(x) { ... }` or `get x() { ... }`.
 *
 * @throws {SourceParseError} if the text is none of these.
 * @example A named function expression, a method, and not a function
 * ```ts
 * import assert from "node:assert/strict";
 * import { analyzeFunctionSource, SourceParseError } from "./free_variables.ts";
 * const a = analyzeFunctionSource("function f(x) { return f(x - k); }");
 * assert.equal(a.form, "function");
 * assert.deepEqual(a.id, { name: "f", start: 9, end: 10 });
 * assert.deepEqual(a.free, ["k"]);
 * assert.equal(analyzeFunctionSource("get x() { return y; }").form, "method");
 * assert.throws(() => analyzeFunctionSource("1 + 1"), SourceParseError);
 * ```
 */
export function analyzeFunctionSource(source: string): SourceAnalysis {
  // Surrounding whitespace is allowed; the rest must be exactly one function.
  const first = source.length - source.trimStart().length;
  const last = source.trimEnd().length;
  // 1. A function, arrow or class parses as a parenthesized expression.
  let program = tryParse(`(${source}\n)`);
  const body = program?.body as AnyNode[] | undefined;
  const expr = body?.length === 1
    ? (body[0].expression as AnyNode | undefined)
    : undefined;
  if (expr && expr.start === first + 1 && expr.end === last + 1) {
    const form = expr.type === "FunctionExpression"
      ? "function"
      : expr.type === "ArrowFunctionExpression"
      ? "arrow"
      : expr.type === "ClassExpression"
      ? "class"
      : undefined;
    if (form) {
      const id = expr.id as AnyNode | null | undefined;
      return {
        form,
        free: collectFree(program!),
        id: id
          ? { name: id.name as string, start: id.start - 1, end: id.end - 1 }
          : undefined,
        usesImportMeta: findsImportMeta(source, program!),
      };
    }
  }
  // 2. Method shorthand (also getters, setters, class methods): wrap in an object literal.
  program = tryParse(`({${source}\n})`);
  const obj = (program?.body as AnyNode[] | undefined)?.[0]?.expression as
    | AnyNode
    | undefined;
  const props = obj?.type === "ObjectExpression"
    ? (obj.properties as AnyNode[])
    : [];
  const prop = props.length === 1 ? props[0] : undefined;
  if (
    prop && prop.type === "Property" && prop.start === first + 2 &&
    prop.end === last + 2 &&
    (prop.method || prop.kind === "get" || prop.kind === "set")
  ) {
    const value = prop.value as AnyNode;
    const key = prop.key as AnyNode;
    const prefix =
      (prop.kind === "get" ? "get " : prop.kind === "set" ? "set " : "") +
      (value.async ? "async " : "") + (value.generator ? "*" : "");
    return {
      form: "method",
      free: collectFree(
        program!,
        prop.computed ? { start: key.start, end: key.end } : undefined,
      ),
      methodExpr: `({ ${prefix}m${source.slice(value.start - 2)}\n})`,
      usesImportMeta: findsImportMeta(source, program!),
    };
  }
  throw new SourceParseError(
    `not the source of a function: ${source.slice(0, 80)}`,
  );
}

/**
 * The free variables of a function's source: names it reads or writes that
 * are declared neither inside it (parameters, `var`/`let`/`const`, `class`,
 * `catch` bindings, nested functions, its own name) nor anywhere it can
 * see. Property names (`a.b`, `{ b: 1 }`) and labels are not variables;
 * `typeof x` counts. In method shorthand, a computed key is not counted.
 *
 * @throws {SourceParseError} if the text is not a function, class or method.
 * @example Parameters, locals and property names are not free
 * ```ts
 * import assert from "node:assert/strict";
 * import { freeVariables } from "./free_variables.ts";
 * const free = freeVariables("(a, { b } = c) => { let d = a.e + b; return typeof f + d; }");
 * assert.deepEqual(free, ["c", "f"]);
 * ```
 */
export function freeVariables(source: string): string[] {
  return analyzeFunctionSource(source).free.slice();
}

// Globals of a Deno Web Worker. Besides these, whatever `globalThis` holds
// when this module loads counts, except names only the main window has.
const STANDARD_GLOBALS = (
  "globalThis Infinity NaN undefined eval isFinite isNaN parseFloat " +
  "parseInt decodeURI decodeURIComponent encodeURI encodeURIComponent " +
  "escape unescape AggregateError Array ArrayBuffer Atomics BigInt " +
  "BigInt64Array BigUint64Array Boolean DataView Date Error EvalError " +
  "FinalizationRegistry Float16Array Float32Array Float64Array Function " +
  "Int8Array Int16Array Int32Array Intl Iterator JSON Map Math Number " +
  "Object Promise Proxy RangeError ReferenceError Reflect RegExp Set " +
  "SharedArrayBuffer String Symbol SyntaxError TypeError Uint8Array " +
  "Uint8ClampedArray Uint16Array Uint32Array URIError WeakMap WeakRef " +
  "WeakSet SuppressedError DisposableStack AsyncDisposableStack " +
  "WebAssembly Deno self console crypto performance setTimeout " +
  "clearTimeout setInterval clearInterval queueMicrotask structuredClone " +
  "reportError atob btoa fetch Request Response Headers FormData URL " +
  "URLSearchParams URLPattern TextEncoder TextDecoder TextEncoderStream " +
  "TextDecoderStream AbortController AbortSignal Blob File FileReader " +
  "Event EventTarget CustomEvent ErrorEvent MessageEvent MessageChannel " +
  "MessagePort BroadcastChannel ReadableStream WritableStream " +
  "TransformStream CompressionStream DecompressionStream WebSocket Worker " +
  "navigator location postMessage close name onmessage onmessageerror " +
  "onerror DOMException Crypto CryptoKey SubtleCrypto Performance " +
  "PerformanceMark PerformanceMeasure ImageData WorkerGlobalScope " +
  "DedicatedWorkerGlobalScope WorkerNavigator WorkerLocation"
).split(" ");
const MAIN_ONLY_GLOBALS = new Set([
  "alert",
  "confirm",
  "prompt",
  "localStorage",
  "sessionStorage",
  "window",
]);

function collectGlobals(): Set<string> {
  const names = new Set(STANDARD_GLOBALS);
  for (let o: object | null = globalThis; o; o = Object.getPrototypeOf(o)) {
    for (const n of Object.getOwnPropertyNames(o)) {
      if (!MAIN_ONLY_GLOBALS.has(n)) names.add(n);
    }
  }
  return names;
}

/** Names a function shipped by source may use as globals (a snapshot taken when this module loads). */
export const WORKER_GLOBALS: ReadonlySet<string> = collectGlobals();
