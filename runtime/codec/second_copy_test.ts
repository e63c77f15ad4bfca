import assert from "node:assert/strict";
import { decode, encode, keyRef } from "./codec.ts";
import { pack, unpack } from "./packed.ts";

// Issue 13, item 4: a client module that imports the runtime by another path
// loads a second copy of it in the worker. Both copies must keep encoding
// and decoding correctly, whichever was loaded last.
Deno.test("a second copy of the codec in the isolate changes nothing", async () => {
  const other = await import(
    new URL("./codec.ts?second-runtime-copy", import.meta.url).href
  ) as typeof import("./codec.ts");
  const otherPacked = await import(
    new URL("./packed.ts?second-runtime-copy", import.meta.url).href
  ) as typeof import("./packed.ts");
  assert.notEqual(other.decode, decode); // really another module instance
  const value = [
    { [keyRef]: "dep-1" },
    new Map([[1, { [keyRef]: "dep-2" }]]),
    new Set(["a"]),
    new Uint16Array([1, 2]),
    new RangeError("r"),
  ];
  const values: Record<string, unknown> = {
    "dep-1": 41,
    "dep-2": new Uint8Array([7]),
  };
  const copies: [typeof encode, typeof decode][] = [
    [encode, decode],
    [other.encode, other.decode],
  ];
  for (const [enc, dec] of copies) {
    const keys: string[] = [];
    const bytes = enc(value, (k: string) => keys.push(k));
    assert.deepEqual(keys, ["dep-1", "dep-2"]);
    for (const d of [decode, other.decode, dec]) {
      const back = d(bytes, (k: string) => values[k]) as unknown[];
      assert.equal(back[0], 41);
      const bin = (back[1] as Map<number, Uint8Array>).get(1)!;
      assert.equal(typeof bin.subarray, "function");
      assert.deepEqual(bin, new Uint8Array([7]));
      assert.deepEqual(back[2], new Set(["a"]));
      assert.deepEqual(back[3], new Uint16Array([1, 2]));
      assert.ok(back[4] instanceof RangeError);
    }
  }
  // packed values (as tasks' arguments travel) too
  const p = pack([{ [keyRef]: "dep-1" }, { [keyRef]: "dep-1" }]);
  assert.deepEqual(unpack(p, (k) => values[k]), [41, 41]);
  assert.deepEqual(otherPacked.unpack(p, (k) => values[k]), [41, 41]);
});
