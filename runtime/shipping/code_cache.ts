/**
 * A worker's cache of code packages: one folder per package (and per
 * runtime copy, since the runtime mark is replaced by this worker's runtime
 * root), written once under a temporary name and renamed into place, so
 * workers sharing a cache folder never see half a package. Folders are
 * evicted least recently used first once the cache outgrows its bound.
 *
 * @module
 */

import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ShippingError } from "../errors.ts";
import { RUNTIME_ROOT } from "../runtime_copy.ts";
import {
  type CodePackage,
  type PackageRef,
  RUNTIME_MARK,
} from "./code_package.ts";
import { hashId } from "./hash.ts";

/** Default bound of a cache folder's size. */
export const DEFAULT_CODE_CACHE_BYTES = 256 * 1024 * 1024;

/** How long installing a package took, for measurement. */
export interface InstallTiming {
  /** The package. */
  id: string;
  /** Milliseconds to fetch it (0 when it was on disk already). */
  fetchMs: number;
  /** Milliseconds to write it (0 when it was on disk already). */
  writeMs: number;
}

const COMPLETE = ".complete";
/** A half-written install older than this was left by a worker that died. */
const STALE_INSTALL_MS = 10 * 60 * 1000;

/**
 * Code packages on disk, fetched on first use.
 *
 * @example Installing a package once and importing from it
 * ```ts
 * import assert from "node:assert/strict";
 * import { CodeCache } from "./code_cache.ts";
 * import { hashId } from "./hash.ts";
 * const files = [{ path: "m.ts", text: "export const seven = 7;\n" }];
 * const pkg = { id: hashId(JSON.stringify(files.map((f) => [f.path, f.text]))), files };
 * let fetches = 0;
 * const dir = Deno.makeTempDirSync();
 * const cache = new CodeCache(dir, () => (fetches++, Promise.resolve(pkg)));
 * const url = await cache.moduleUrl({ id: pkg.id, path: "m.ts" });
 * assert.equal((await import(url)).seven, 7);
 * await cache.moduleUrl({ id: pkg.id, path: "m.ts" });
 * assert.equal(fetches, 1);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class CodeCache {
  private readonly installing = new Map<string, Promise<string>>();
  private readonly tag = hashId(RUNTIME_ROOT).slice(0, 8);
  /**
   * When this process last used each package folder (a counter): breaks
   * ties between equal modification times, which packages installed within
   * one clock tick share.
   */
  private readonly lastUse = new Map<string, number>();
  private uses = 0;
  /** Installs, newest last (what the cache measured; the last 100). */
  readonly timings: InstallTiming[] = [];

  /**
   * A cache in `dir` (created if missing) holding at most `maxBytes` of
   * packages, fetching a package it lacks with `fetch`.
   */
  constructor(
    readonly dir: string,
    private readonly fetch: (id: string) => Promise<CodePackage>,
    private readonly maxBytes: number = DEFAULT_CODE_CACHE_BYTES,
    private readonly onInstall?: (timing: InstallTiming) => void,
  ) {}

  /**
   * The URL to import the module `ref.path` of package `ref.id` from,
   * fetching and writing the package first if it is not on disk.
   *
   * @throws {ShippingError} (as a rejection) when the package cannot be fetched, does not match its id, or cannot be written.
   */
  async moduleUrl(ref: PackageRef): Promise<string> {
    const folder = await this.install(ref.id);
    return pathToFileURL(join(folder, ref.path)).href;
  }

  /** The folder of package `id`, installed once (concurrent calls share it). */
  private install(id: string): Promise<string> {
    let done = this.installing.get(id);
    if (!done) {
      done = this.installOnce(id);
      this.installing.set(id, done);
      done.catch(() => this.installing.delete(id));
    }
    return done;
  }

  /** Finds package `id` on disk, or fetches, checks and writes it. */
  private async installOnce(id: string): Promise<string> {
    if (!/^[\w-]{1,64}$/.test(id)) {
      throw new ShippingError(`bad code package id ${JSON.stringify(id)}`);
    }
    const folder = join(this.dir, `${id}.${this.tag}`);
    try {
      await Deno.stat(join(folder, COMPLETE));
      const now = new Date();
      await Deno.utime(folder, now, now).catch(() => {}); // recently used
      this.lastUse.set(folder, ++this.uses);
      this.installed({ id, fetchMs: 0, writeMs: 0 });
      return folder;
    } catch {
      // not installed yet
    }
    const t0 = performance.now();
    let pkg: CodePackage;
    try {
      pkg = await this.fetch(id);
    } catch (e) {
      throw new ShippingError(
        `cannot fetch code package ${id}: ${(e as Error)?.message ?? e}`,
      );
    }
    const t1 = performance.now();
    const actual = hashId(
      JSON.stringify(pkg.files.map((f) => [f.path, f.text])),
    );
    if (actual !== id) {
      throw new ShippingError(
        `code package ${id} arrived with other content (hash ${actual})`,
      );
    }
    await Deno.mkdir(this.dir, { recursive: true });
    const temp = await Deno.makeTempDir({ dir: this.dir, prefix: `.${id}-` });
    try {
      for (const file of pkg.files) {
        if (file.path.split("/").some((p) => p === ".." || p === "")) {
          throw new ShippingError(
            `code package ${id} has a bad path ${JSON.stringify(file.path)}`,
          );
        }
        const path = join(temp, file.path);
        await Deno.mkdir(join(path, ".."), { recursive: true });
        await Deno.writeTextFile(
          path,
          file.text.replaceAll(RUNTIME_MARK, RUNTIME_ROOT),
        );
      }
      await Deno.writeTextFile(join(temp, COMPLETE), "");
      try {
        await Deno.rename(temp, folder);
      } catch {
        // another worker sharing the folder installed it first
        await Deno.remove(temp, { recursive: true });
      }
    } catch (e) {
      await Deno.remove(temp, { recursive: true }).catch(() => {});
      if (e instanceof ShippingError) throw e;
      throw new ShippingError(
        `cannot write code package ${id} to ${this.dir}: ${
          (e as Error).message
        }`,
      );
    }
    this.installed({
      id,
      fetchMs: t1 - t0,
      writeMs: performance.now() - t1,
    });
    this.lastUse.set(folder, ++this.uses);
    // Best effort: the package is installed whatever eviction meets.
    await this.evict(folder).catch((e) =>
      console.error(
        `tendril: evicting old code packages from ${this.dir} failed: ${
          (e as Error)?.message ?? e
        }`,
      )
    );
    return folder;
  }

  /** Records (and reports) one install. */
  private installed(timing: InstallTiming): void {
    if (this.timings.push(timing) > 100) this.timings.shift();
    this.onInstall?.(timing);
  }

  /**
   * Removes least recently used packages (never `keep`) while over the
   * bound, and installs a killed worker left half-written. Other worker
   * processes share the folder and install or evict at the same time: an
   * entry that vanishes while it is looked at is skipped.
   */
  private async evict(keep: string): Promise<void> {
    const entries: { path: string; used: number; bytes: number }[] = [];
    let total = 0;
    const now = Date.now();
    for await (const e of Deno.readDir(this.dir)) {
      if (!e.isDirectory) continue;
      const path = join(this.dir, e.name);
      try {
        if (e.name.startsWith(".")) { // an install in progress, or left by a killed worker
          const since = (await Deno.stat(path)).mtime?.getTime() ?? now;
          if (now - since > STALE_INSTALL_MS) {
            await Deno.remove(path, { recursive: true }).catch(() => {});
          }
          continue;
        }
        const bytes = await folderBytes(path);
        const used = (await Deno.stat(path)).mtime?.getTime() ?? 0;
        entries.push({ path, used, bytes });
        total += bytes;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    entries.sort((a, b) =>
      a.used - b.used ||
      (this.lastUse.get(a.path) ?? 0) - (this.lastUse.get(b.path) ?? 0)
    );
    for (const e of entries) {
      if (total <= this.maxBytes) break;
      if (e.path === keep) continue;
      await Deno.remove(e.path, { recursive: true }).catch(() => {});
      total -= e.bytes;
    }
  }
}

async function folderBytes(path: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(path)) {
    const p = join(path, e.name);
    n += e.isDirectory ? await folderBytes(p) : (await Deno.stat(p)).size;
  }
  return n;
}
