/**
 * Fails when the package's modules import each other in a cycle. Every
 * relative import counts: static, `import type` and dynamic `import("...")`,
 * because a type-only cycle still ties two modules' designs together.
 * Tests and fixtures are left out (they may import anything).
 *
 *     deno run --allow-read .ci/import_cycles.ts [dir ...]
 *
 * @module
 */

import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
const DIRS = Deno.args.length > 0
  ? Deno.args
  : ["mod.ts", "actors", "runtime", "cli"];
const SPECIFIER =
  /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g;

function* sources(path: string): Generator<string> {
  const info = Deno.statSync(path);
  if (info.isFile) {
    if (path.endsWith(".ts") && !/_test\.ts$/.test(path)) yield path;
    return;
  }
  for (const entry of Deno.readDirSync(path)) {
    yield* sources(join(path, entry.name));
  }
}

/** Module -> the modules it imports (only those inside the checked set). */
function graph(files: string[]): Map<string, string[]> {
  const known = new Set(files);
  const edges = new Map<string, string[]>();
  for (const file of files) {
    // Doc examples import the module they document: comments do not count.
    const text = Deno.readTextFileSync(file)
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/^\s*\/\/.*$/gm, "");
    const out = new Set<string>();
    for (const m of text.matchAll(SPECIFIER)) {
      const target = resolve(dirname(file), m[1]);
      if (known.has(target)) out.add(target);
    }
    edges.set(file, [...out]);
  }
  return edges;
}

/** Strongly connected components with more than one module (Tarjan). */
function cycles(edges: Map<string, string[]>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc);
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  return found;
}

const files = DIRS.flatMap((d) => [...sources(resolve(ROOT, d))]);
const found = cycles(graph(files));
if (found.length > 0) {
  for (const scc of found) {
    console.error(
      `import cycle: ${scc.map((f) => relative(ROOT, f)).sort().join(" <-> ")}`,
    );
  }
  Deno.exit(1);
}
console.log(`no import cycles among ${files.length} modules`);
