/**
 * The code packages clients sent, kept for the workers that will ask for
 * them (a worker fetches a package once, through the scheduler it is
 * already connected to; clients need not be reachable by workers, and a
 * package outlives its client while tasks it launched still run). Bounded:
 * the oldest-sent packages go first once the total text exceeds the bound.
 *
 * @module
 */

import type { CodePackage } from "../../runtime/shipping/code_package.ts";

/** Default bound of the packages a scheduler keeps, in UTF-16 units of text. */
export const DEFAULT_CODE_STORE_SIZE = 256 * 1024 * 1024;

/**
 * Code packages by id, oldest first.
 *
 * @example Keeping the newest packages within the bound
 * ```ts
 * import assert from "node:assert/strict";
 * import { CodeStore } from "./code_store.ts";
 * const store = new CodeStore(10);
 * store.add({ id: "a", files: [{ path: "a.ts", text: "123456" }] });
 * store.add({ id: "b", files: [{ path: "b.ts", text: "123456" }] });
 * assert.equal(store.get("a"), undefined);
 * assert.equal(store.get("b")?.files[0].path, "b.ts");
 * ```
 */
export class CodeStore {
  private readonly packages = new Map<
    string,
    { pkg: CodePackage; size: number }
  >();
  private total = 0;

  /** A store of at most `maxSize` units of text (the newest package is always kept). */
  constructor(private readonly maxSize: number = DEFAULT_CODE_STORE_SIZE) {}

  /** Keeps `pkg` (as the newest), dropping the oldest beyond the bound. */
  add(pkg: CodePackage): void {
    const known = this.packages.get(pkg.id);
    if (known) {
      this.packages.delete(pkg.id);
      this.packages.set(pkg.id, known);
      return;
    }
    const size = pkg.files.reduce(
      (n, f) => n + f.path.length + f.text.length,
      0,
    );
    this.packages.set(pkg.id, { pkg, size });
    this.total += size;
    for (const [id, { size }] of this.packages) {
      if (this.total <= this.maxSize || id === pkg.id) break;
      this.packages.delete(id);
      this.total -= size;
    }
  }

  /** The package `id`, if kept. */
  get(id: string): CodePackage | undefined {
    return this.packages.get(id)?.pkg;
  }
}
