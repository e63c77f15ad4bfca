/**
 * The import specifiers of a module's source text, with their positions, so
 * the module graph can be walked (to index it, to package it) and the
 * specifiers rewritten (a code package carries the client's resolution of
 * every specifier). A scan of the text, not a parse: TypeScript cannot be
 * parsed here without a compiler. Comments are masked first; `import type`
 * and type-only braced lists are recognised (they are erased at run time);
 * an `import(...)` whose argument is not a string literal is reported as
 * computed.
 *
 * @module
 */

/** One import of a module. */
export interface ImportSite {
  /** The specifier as written (empty for a computed dynamic import). */
  spec: string;
  /** Offsets of the specifier's text, quotes excluded. */
  start: number;
  /** End offset (exclusive). */
  end: number;
  /** `import`/`export ... from`, a literal `import("x")`, or `import(expr)`. */
  kind: "static" | "dynamic" | "computed";
  /** Erased at run time (`import type`, a braced list of only types). */
  typeOnly: boolean;
}

// `import ... from "x"`, `export ... from "x"`, `import "x"`.
const STATIC =
  /^[ \t]*(?:import|export)\s+(type\s+)?(?:[^;()=]*?\sfrom\s*)?(["'])([^"'\n]+)\2/gm;
const DYNAMIC = /(?<![\w$.])import\s*\(\s*(?:(["'])([^"'\n]+)\1\s*[,)])?/g;
const ONLY_TYPES = /^\s*(?:import|export)\s*\{\s*(?:type\s+[\w$]+\s*,?\s*)+\}/;

/** `text` with comments blanked out (offsets and newlines kept). */
export function maskComments(text: string): string {
  return text.replace(
    /\/\*[\s\S]*?\*\/|(^|[^:/\\])\/\/.*$/gm,
    (m, lead: string | undefined) => {
      const keep = lead ?? "";
      return keep + m.slice(keep.length).replace(/[^\n]/g, " ");
    },
  );
}

/**
 * Every import of `text`, in order of position.
 *
 * @example Static, type-only, dynamic and computed imports
 * ```ts
 * import assert from "node:assert/strict";
 * import { findImports } from "./imports.ts";
 * const text = [
 *   'import { a } from "./a.ts";',
 *   'import type { T } from "./t.ts";',
 *   '// import { gone } from "./commented.ts";',
 *   'export * from "npm:pkg@1";',
 *   'const m = await import("./lazy.ts");',
 *   "const n = await import(name);",
 * ].join("\n");
 * const found = findImports(text).map((i) => [i.spec, i.kind, i.typeOnly]);
 * assert.deepEqual(found, [
 *   ["./a.ts", "static", false],
 *   ["./t.ts", "static", true],
 *   ["npm:pkg@1", "static", false],
 *   ["./lazy.ts", "dynamic", false],
 *   ["", "computed", false],
 * ]);
 * ```
 */
export function findImports(text: string): ImportSite[] {
  const masked = maskComments(text);
  const out: ImportSite[] = [];
  for (const m of masked.matchAll(STATIC)) {
    const spec = m[3];
    const start = m.index! + m[0].length - 1 - spec.length;
    const typeOnly = m[1] !== undefined || ONLY_TYPES.test(m[0]);
    out.push({
      spec,
      start,
      end: start + spec.length,
      kind: "static",
      typeOnly,
    });
  }
  for (const m of masked.matchAll(DYNAMIC)) {
    if (m[2] === undefined) {
      const at = m.index!;
      out.push({
        spec: "",
        start: at,
        end: at,
        kind: "computed",
        typeOnly: false,
      });
      continue;
    }
    const start = m.index! + m[0].indexOf(m[1]) + 1;
    out.push({
      spec: m[2],
      start,
      end: start + m[2].length,
      kind: "dynamic",
      typeOnly: false,
    });
  }
  return out.sort((a, b) => a.start - b.start);
}

/**
 * `text` with the specifier of each site replaced by `replace(site)`
 * (`undefined` keeps it).
 *
 * @example Rewriting one specifier
 * ```ts
 * import assert from "node:assert/strict";
 * import { findImports, rewriteImports } from "./imports.ts";
 * const text = 'import { a } from "./a.ts";\nimport "./b.ts";';
 * const out = rewriteImports(text, findImports(text), (s) =>
 *   s.spec === "./a.ts" ? "./lib/a.ts" : undefined);
 * assert.equal(out, 'import { a } from "./lib/a.ts";\nimport "./b.ts";');
 * ```
 */
export function rewriteImports(
  text: string,
  sites: readonly ImportSite[],
  replace: (site: ImportSite) => string | undefined,
): string {
  let out = "", at = 0;
  for (const site of sites) {
    if (site.kind === "computed") continue;
    const next = replace(site);
    if (next === undefined) continue;
    out += text.slice(at, site.start) + next;
    at = site.end;
  }
  return out + text.slice(at);
}
