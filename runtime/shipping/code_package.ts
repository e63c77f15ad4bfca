/**
 * Code packages: how the client's own modules reach workers that do not
 * have its files (other hosts, other folders). For a module whose exports
 * ship by reference, the client packs the local module graph it needs: the
 * module and every local file it imports, statically or by a literal
 * `import("...")`, transitively. Each specifier is rewritten as the client
 * resolves it, its import map applied: local files become relative paths
 * inside the package, the runtime becomes a mark the worker replaces with
 * its own copy (so the runtime is never loaded twice on a worker, whatever
 * path the client used), anything else (`npm:`, `jsr:`, `https:`, `node:`)
 * the full specifier the worker resolves as usual. So a worker needs
 * neither the client's files nor its `deno.json`. A package is named by a
 * hash of its content: two clients with two versions of `tasks.ts` make two
 * packages, and a worker caches each once (`code_cache.ts`).
 *
 * @module
 */

import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ShippingError } from "../errors.ts";
import { runtimePath } from "../runtime_copy.ts";
import { hashId } from "./hash.ts";
import { findImports, maskComments, rewriteImports } from "./imports.ts";

const fromFileUrl = (url: string) => fileURLToPath(url);
const toFileUrl = (path: string) => pathToFileURL(path).href;

/** One file of a package: its path inside the package, its rewritten text. */
export interface PackageFile {
  /** Relative path, `/`-separated (`tasks.ts`, `lib/format.ts`). */
  path: string;
  /** Source text with rewritten specifiers. */
  text: string;
}

/** A code package: content-addressed files. */
export interface CodePackage {
  /** Hash of the files (paths and texts). */
  id: string;
  /** The files, sorted by path. */
  files: PackageFile[];
}

/** Where a function's module is in its package (part of a module function ref). */
export interface PackageRef {
  /** The package's id. */
  id: string;
  /** The module's path inside the package. */
  path: string;
}

/** What a worker replaces with its own runtime's root URL in package files. */
export const RUNTIME_MARK = "tendril-runtime:///";

/** Largest package the client sends (sum of its texts, in UTF-16 units). */
export const MAX_PACKAGE_SIZE = 16 * 1024 * 1024;

const SCHEME = /^[a-zA-Z][a-zA-Z\d+.-]*:/;
const TENDRIL = /^(?:jsr:|npm:)?@tendril\/tendril(?:@[^/]*)?(\/.*)?$/;
const CONFIGS = ["deno.json", "deno.jsonc"];

/** How one specifier resolves, seen from the client. */
type Target =
  | { kind: "local"; url: string }
  | { kind: "runtime"; path: string }
  | { kind: "external"; spec: string };

/** An import map: exact keys, and prefix keys ending in `/`. */
interface ImportMap {
  base: string;
  imports: Record<string, string>;
}

let importMap: ImportMap | null | undefined;

/** The nearest folder at or above `dir` holding one of `names`, if any. */
function findUp(dir: string, names: string[]): string | undefined {
  for (let d = dir;; d = dirname(d)) {
    for (const name of names) {
      try {
        Deno.statSync(join(d, name));
        return join(d, name);
      } catch {
        // not here
      }
    }
    if (dirname(d) === d) return undefined;
  }
}

function entryDir(): string {
  try {
    const main = Deno.mainModule;
    if (main.startsWith("file:")) return dirname(fromFileUrl(main));
  } catch {
    // no entry script
  }
  return Deno.cwd();
}

/** The client's import map: the `imports` of the deno.json nearest the entry script (or the working folder). */
function clientImportMap(): ImportMap | null {
  if (importMap !== undefined) return importMap;
  const file = findUp(entryDir(), CONFIGS) ?? findUp(Deno.cwd(), CONFIGS);
  importMap = null;
  if (!file) return importMap;
  try {
    const config = JSON.parse(maskComments(Deno.readTextFileSync(file)));
    let imports = config.imports ?? {};
    let base = toFileUrl(file);
    if (typeof config.importMap === "string") {
      const mapUrl = new URL(config.importMap, base);
      imports = JSON.parse(Deno.readTextFileSync(mapUrl)).imports ?? {};
      base = mapUrl.href;
    }
    importMap = { base, imports };
  } catch {
    importMap = null; // unreadable: bare specifiers resolve as Deno resolves them here
  }
  return importMap;
}

/** The root of the client's project: the folder of the deno.json or package.json nearest `file`. */
function projectRoot(file: string): string {
  const config = findUp(dirname(file), [...CONFIGS, "package.json"]);
  return config ? dirname(config) : dirname(file);
}

function classify(url: string): Target {
  const inRuntime = runtimePath(url);
  if (inRuntime !== undefined) return { kind: "runtime", path: inRuntime };
  if (url.startsWith("file:")) return { kind: "local", url };
  return { kind: "external", spec: url };
}

/** Resolves `spec` as imported by the module `from`. */
function resolveSpec(spec: string, from: string): Target | undefined {
  const tendril = TENDRIL.exec(spec);
  if (tendril) {
    return { kind: "runtime", path: tendril[1]?.slice(1) ?? "mod.ts" };
  }
  if (/^\.{0,2}\//.test(spec)) return classify(new URL(spec, from).href);
  if (SCHEME.test(spec)) return classify(spec);
  const map = clientImportMap();
  if (map) {
    let target = map.imports[spec];
    if (target === undefined) {
      const prefix = Object.keys(map.imports)
        .filter((k) => k.endsWith("/") && spec.startsWith(k))
        .sort((a, b) => b.length - a.length)[0];
      if (prefix) target = map.imports[prefix] + spec.slice(prefix.length);
    }
    if (target !== undefined) {
      if (TENDRIL.test(target)) return resolveSpec(target, from);
      return classify(new URL(target, map.base).href);
    }
  }
  let resolved: string;
  try {
    resolved = import.meta.resolve(spec);
  } catch {
    return undefined;
  }
  // Deno resolves npm packages to files of its cache: that path means nothing elsewhere.
  if (/\/npm\/registry\.npmjs\.org\/|\/node_modules\//.test(resolved)) {
    return undefined;
  }
  return classify(resolved);
}

function cannotTravel(module: string, why: string): ShippingError {
  return new ShippingError(
    `cannot package ${module} for workers: ${why}. Workers on other hosts ` +
      `get the client's modules as a code package; fix the import, or run ` +
      `the workers with --no-code-upload and the same files at the same paths.`,
  );
}

const built = new Map<string, { pkg: CodePackage; path: string }>();

/**
 * The code package of the local module graph of `url` (a `file:` module
 * the client ships functions from), and `url`'s path in it. Built once per
 * module (synchronously: `submit` is).
 *
 * @throws {ShippingError} naming the module when a file cannot be read, lies outside the project's folder, imports by a computed specifier, or uses a bare specifier the client cannot resolve; or when the package is too large.
 * @example Packaging a module and the module it imports
 * ```ts
 * import assert from "node:assert/strict";
 * import { packageOf } from "./code_package.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/deno.json`, "{}");
 * Deno.mkdirSync(`${dir}/lib`);
 * Deno.writeTextFileSync(`${dir}/lib/k.ts`, "export const K = 2;\n");
 * Deno.writeTextFileSync(`${dir}/tasks.ts`, 'import { K } from "./lib/k.ts";\nexport const f = (x: number) => x * K;\n');
 * const { pkg, path } = packageOf(`file://${dir}/tasks.ts`);
 * assert.equal(path, "tasks.ts");
 * assert.deepEqual(pkg.files.map((f) => f.path), ["lib/k.ts", "tasks.ts"]);
 * assert.match(pkg.id, /^[\w-]{16}$/);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function packageOf(url: string): { pkg: CodePackage; path: string } {
  let done = built.get(url);
  if (done) return done;
  const roots = [projectRoot(fromFileUrl(url))];
  try {
    if (Deno.mainModule.startsWith("file:")) {
      roots.push(projectRoot(fromFileUrl(Deno.mainModule)));
    }
  } catch {
    // no entry script
  }
  const texts = new Map<string, string>();
  const targets = new Map<string, Map<number, Target>>();
  const todo = [url];
  let size = 0;
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (texts.has(file)) continue;
    const path = fromFileUrl(file);
    if (!roots.some((r) => path.startsWith(r + "/"))) {
      throw cannotTravel(
        file,
        `it is outside the project's folder (${roots.join(", ")})`,
      );
    }
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (e) {
      throw cannotTravel(file, `it cannot be read (${(e as Error).message})`);
    }
    size += text.length;
    if (size > MAX_PACKAGE_SIZE) {
      throw cannotTravel(url, `its modules exceed ${MAX_PACKAGE_SIZE} bytes`);
    }
    texts.set(file, text);
    const found = new Map<number, Target>();
    for (const site of findImports(text)) {
      if (site.typeOnly) continue;
      if (site.kind === "computed") {
        const line = text.slice(0, site.start).split("\n").length;
        throw cannotTravel(
          file,
          `line ${line} imports a module by a computed specifier (import(...) ` +
            `of an expression), which the client cannot resolve`,
        );
      }
      const target = resolveSpec(site.spec, file);
      if (!target) {
        throw cannotTravel(
          file,
          `the client cannot resolve its import "${site.spec}" (use a full ` +
            `npm:/jsr: specifier, or map it in the deno.json next to the entry script)`,
        );
      }
      found.set(site.start, target);
      if (target.kind === "local") todo.push(target.url);
    }
    targets.set(file, found);
  }
  const paths = [...texts.keys()].map(fromFileUrl);
  let base = dirname(paths[0]);
  while (!paths.every((p) => p.startsWith(base + "/"))) base = dirname(base);
  const inPackage = (file: string) => relative(base, fromFileUrl(file));
  const files: PackageFile[] = [];
  for (const [file, text] of texts) {
    const from = dirname(inPackage(file));
    const found = targets.get(file)!;
    const out = rewriteImports(text, findImports(text), (site) => {
      const target = found.get(site.start);
      if (!target) return undefined;
      if (target.kind === "runtime") return RUNTIME_MARK + target.path;
      if (target.kind === "external") return target.spec;
      const rel = relative(from, inPackage(target.url));
      return rel.startsWith(".") ? rel : `./${rel}`;
    });
    files.push({ path: inPackage(file), text: out });
  }
  files.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  const id = hashId(JSON.stringify(files.map((f) => [f.path, f.text])));
  done = { pkg: { id, files }, path: inPackage(url) };
  built.set(url, done);
  return done;
}
