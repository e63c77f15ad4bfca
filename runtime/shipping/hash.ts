/**
 * Content ids for shipped functions and pure task keys: SHA-1 from
 * `@noble/hashes`, because `node:crypto` costs ~13 ms to import in a worker
 * and this ~2 ms. Content ids, not security.
 *
 * @module
 */

import { sha1 } from "@noble/hashes/legacy";

const utf8 = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * A short id (16 base64url characters) of `text`.
 *
 * @example Same text, same id
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashId } from "./hash.ts";
 * assert.equal(hashId("a"), hashId("a"));
 * assert.notEqual(hashId("a"), hashId("b"));
 * assert.equal(hashId("a").length, 16);
 * ```
 */
export function hashId(text: string): string {
  return base64url(sha1(utf8.encode(text))).slice(0, 16);
}

/**
 * The key of a pure call: the function's name and a hash of its id and its
 * encoded arguments, so identical pure submissions share one task.
 *
 * @example Same function and arguments, same key
 * ```ts
 * import assert from "node:assert/strict";
 * import { pureKey } from "./hash.ts";
 * const a = pureKey("inc", "s:abc", new Uint8Array([1]));
 * assert.equal(a, pureKey("inc", "s:abc", new Uint8Array([1])));
 * assert.notEqual(a, pureKey("inc", "s:abc", new Uint8Array([2])));
 * assert.match(a, /^inc-[\w-]{20}$/);
 * ```
 */
export function pureKey(name: string, fnId: string, args: Uint8Array): string {
  const id = utf8.encode(fnId);
  const all = new Uint8Array(id.length + 1 + args.length);
  all.set(id);
  all.set(args, id.length + 1); // a 0 byte separates the id from the arguments
  return `${name}-${base64url(sha1(all)).slice(0, 20)}`;
}
