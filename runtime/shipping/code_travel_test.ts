// Code packages (client side) and the worker's code cache, driven directly.
import assert from "node:assert/strict";
import { ShippingError } from "../errors.ts";
import { RUNTIME_ROOT } from "../runtime_copy.ts";
import { CodeCache } from "./code_cache.ts";
import { type CodePackage, packageOf, RUNTIME_MARK } from "./code_package.ts";
import { hashId } from "./hash.ts";

/** A temporary project folder (with a deno.json) holding `files`. */
function project(files: Record<string, string>): string & Disposable {
  const dir = Deno.makeTempDirSync({ prefix: "tendril-pkg-" });
  for (const [path, text] of Object.entries(files)) {
    const full = `${dir}/${path}`;
    Deno.mkdirSync(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    Deno.writeTextFileSync(full, text);
  }
  return Object.assign(new String(dir), {
    [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }),
  }) as unknown as string & Disposable;
}

const packageOfFile = (dir: string, path: string) =>
  packageOf(`file://${dir}/${path}`);

Deno.test("a package holds the module graph, specifiers as the client resolves them", () => {
  using dir = project({
    "deno.json": "{}",
    "tasks.ts": [
      'import { K } from "./lib/k.ts";',
      'import type { T } from "./types.ts";',
      'import * as acorn from "acorn";', // the client's import map (this repo's)
      'import { getClient } from "@tendril/tendril";',
      `import { pack } from "${RUNTIME_ROOT}runtime/codec/packed.ts";`,
      'export const lazy = () => import("./lib/lazy.ts");',
      "// import { gone } from './commented.ts';",
      "export const f = (x: T) => x * K;",
    ].join("\n"),
    "lib/k.ts": 'export { J as K } from "../j.ts";\n',
    "lib/lazy.ts": "export const lazy = 1;\n",
    "j.ts": "export const J = 2;\n",
    "types.ts": "export type T = number;\n",
  });
  const { pkg, path } = packageOfFile(dir, "tasks.ts");
  assert.equal(path, "tasks.ts");
  assert.deepEqual(pkg.files.map((f) => f.path), [
    "j.ts",
    "lib/k.ts",
    "lib/lazy.ts",
    "tasks.ts",
  ]);
  const tasks = pkg.files.find((f) => f.path === "tasks.ts")!.text;
  assert.match(tasks, /import \* as acorn from "npm:acorn@8\.19\.0";/);
  assert.match(tasks, new RegExp(`from "${RUNTIME_MARK}mod\\.ts";`));
  assert.match(
    tasks,
    new RegExp(`from "${RUNTIME_MARK}runtime/codec/packed\\.ts";`),
  );
  assert.match(tasks, /import type \{ T \} from "\.\/types\.ts";/); // erased: untouched
  const k = pkg.files.find((f) => f.path === "lib/k.ts")!.text;
  assert.equal(k, 'export { J as K } from "../j.ts";\n');
  assert.equal(
    pkg.id,
    hashId(JSON.stringify(pkg.files.map((f) => [f.path, f.text]))),
  );
});

Deno.test("code that cannot travel is an error at packaging, naming the module", () => {
  using dir = project({
    "app/deno.json": "{}",
    "app/computed.ts":
      'const name = "./x.ts";\nexport const f = () => import(name);\n',
    "app/bare.ts":
      'import x from "no-such-package";\nexport const f = () => x;\n',
    "app/outside.ts":
      'import { y } from "../elsewhere/y.ts";\nexport const f = () => y;\n',
    "elsewhere/y.ts": "export const y = 1;\n",
  });
  const fails = (path: string, why: RegExp) =>
    assert.throws(() => packageOfFile(dir, path), (e) => {
      assert.ok(e instanceof ShippingError);
      assert.match(
        e.message,
        new RegExp(`^cannot package file://\\S+/${path}`),
      );
      assert.match(e.message, why);
      return true;
    });
  fails(
    "app/computed.ts",
    /line 2 imports a module by a computed specifier/,
  );
  fails("app/bare.ts", /cannot resolve its import "no-such-package"/);
  assert.throws(
    () => packageOfFile(dir, "app/outside.ts"),
    /cannot package file:\/\/\S+\/elsewhere\/y\.ts for workers: it is outside the project's folder/,
  );
});

function pkgOf(files: { path: string; text: string }[]): CodePackage {
  return {
    id: hashId(JSON.stringify(files.map((f) => [f.path, f.text]))),
    files,
  };
}

Deno.test("the code cache fetches a package once, writes the worker's runtime in, imports from disk", async () => {
  using dir = project({});
  const pkg = pkgOf([
    { path: "lib/v.ts", text: "export const v = 41;\n" },
    {
      path: "m.ts",
      text:
        `import { v } from "./lib/v.ts";\nimport { hashId } from "${RUNTIME_MARK}runtime/shipping/hash.ts";\n` +
        "export const f = () => [v + 1, hashId];\n",
    },
  ]);
  let fetches = 0;
  const cache = new CodeCache(`${dir}/cache`, async (id) => {
    fetches++;
    await Promise.resolve();
    assert.equal(id, pkg.id);
    return pkg;
  });
  const ref = { id: pkg.id, path: "m.ts" };
  const [a, b] = await Promise.all([
    cache.moduleUrl(ref),
    cache.moduleUrl(ref),
  ]);
  assert.equal(a, b);
  assert.equal(fetches, 1);
  const m = await import(a);
  const [value, hash] = m.f();
  assert.equal(value, 42);
  assert.equal(hash, hashId); // the worker's own runtime, not a copy
  // another cache on the same folder (another worker process) finds it on disk
  const again = new CodeCache(`${dir}/cache`, () => {
    throw new Error("no fetch expected");
  });
  assert.equal(await again.moduleUrl(ref), a);
  assert.deepEqual(again.timings.map((t) => t.fetchMs), [0]);
});

Deno.test("the code cache refuses a package whose content is not its id, or with paths out of it", async () => {
  using dir = project({});
  const good = pkgOf([{ path: "m.ts", text: "export {};\n" }]);
  const forged = { ...good, files: [{ path: "m.ts", text: "evil();\n" }] };
  const cache = new CodeCache(`${dir}/c`, () => Promise.resolve(forged));
  await assert.rejects(
    cache.moduleUrl({ id: good.id, path: "m.ts" }),
    (e) =>
      e instanceof ShippingError &&
      /arrived with other content/.test(e.message),
  );
  const escaping = pkgOf([{ path: "../m.ts", text: "export {};\n" }]);
  const cache2 = new CodeCache(`${dir}/c`, () => Promise.resolve(escaping));
  await assert.rejects(
    cache2.moduleUrl({ id: escaping.id, path: "m.ts" }),
    /has a bad path "\.\.\/m\.ts"/,
  );
  const missing = new CodeCache(
    `${dir}/c`,
    () => Promise.reject(new Error("the scheduler has no code package X")),
  );
  await assert.rejects(
    missing.moduleUrl({ id: "X", path: "m.ts" }),
    /cannot fetch code package X: the scheduler has no code package X/,
  );
  // nothing half-written is left behind
  const left = [...Deno.readDirSync(`${dir}/c`)].map((e) => e.name);
  assert.deepEqual(left, []);
});

Deno.test("the code cache stays within its bound, least recently used out first", async () => {
  using dir = project({});
  const pkgs = [1, 2, 3].map((n) =>
    pkgOf([{
      path: "m.ts",
      text: `export const n = ${n};${" ".repeat(400)}\n`,
    }])
  );
  const byId = new Map(pkgs.map((p) => [p.id, p]));
  const cache = new CodeCache(
    `${dir}/c`,
    (id) => Promise.resolve(byId.get(id)!),
    1000, // room for two packages
  );
  for (const p of pkgs) await cache.moduleUrl({ id: p.id, path: "m.ts" });
  const kept = [...Deno.readDirSync(`${dir}/c`)].map((e) =>
    e.name.split(".")[0]
  );
  assert.deepEqual(kept.sort(), [pkgs[1].id, pkgs[2].id].sort());
});

Deno.test("a half-written install left by a killed worker is cleared; a fresh one is left alone", async () => {
  using dir = project({});
  const stale = `${dir}/c/.stale-install`, fresh = `${dir}/c/.fresh-install`;
  Deno.mkdirSync(stale, { recursive: true });
  Deno.mkdirSync(fresh);
  Deno.writeTextFileSync(`${stale}/m.ts`, "half");
  const hourAgo = new Date(Date.now() - 3600_000);
  Deno.utimeSync(stale, hourAgo, hourAgo);
  const pkg = pkgOf([{ path: "m.ts", text: "export {};\n" }]);
  const cache = new CodeCache(`${dir}/c`, () => Promise.resolve(pkg));
  await cache.moduleUrl({ id: pkg.id, path: "m.ts" });
  const names = [...Deno.readDirSync(`${dir}/c`)].map((e) => e.name).sort();
  assert.deepEqual(names, [
    ".fresh-install",
    `${pkg.id}.${names[1].split(".")[1]}`,
  ]);
});

Deno.test("code caches sharing one folder install at the same time without failing each other", async () => {
  // Worker processes share the cache folder: one's eviction must not trip
  // over another's install in progress (renamed away between listing and
  // stat), which used to fail the install and the task needing it.
  using dir = project({});
  const pkgs = Array.from(
    { length: 24 },
    (_, i) => pkgOf([{ path: "m.ts", text: `export const n = ${i};\n` }]),
  );
  const byId = new Map(pkgs.map((p) => [p.id, p]));
  // A bound below one package: every install evicts, all the time.
  const caches = [0, 1, 2].map(() =>
    new CodeCache(`${dir}/shared`, (id) => Promise.resolve(byId.get(id)!), 1)
  );
  const urls = await Promise.all(
    pkgs.flatMap((p, i) =>
      caches.map((c, j) =>
        (i + j) % 2 === 0 ? c.moduleUrl({ id: p.id, path: "m.ts" }) : null
      ).filter((u) => u !== null)
    ),
  );
  assert.equal(urls.length, 36);
  for (const url of urls) assert.match(url, /^file:\/\/.*\/m\.ts$/);
});
