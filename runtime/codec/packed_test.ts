// Packed values: fast paths agree with the codec byte for byte.
import assert from "node:assert/strict";
import { encode } from "./codec.ts";
import { pack, STRING_LIMIT, toBytes, unpack } from "./packed.ts";

const samples: unknown[] = [
  0,
  1,
  127,
  128,
  255,
  256,
  65535,
  65536,
  2 ** 31 - 1,
  2 ** 32 - 1,
  -1,
  -32,
  -33,
  -128,
  -129,
  -32768,
  -32769,
  -(2 ** 31),
  -0,
  1.5,
  NaN,
  Infinity,
  null,
  undefined,
  true,
  false,
  "",
  "abc",
  "ünï",
  [],
  [1, 2, 3],
  [1, [2]],
  [-1, 127, -32],
  Array.from({ length: 15 }, (_, i) => i),
  Array.from({ length: 16 }, (_, i) => i),
  [1, 300],
  { a: 1 },
  new Map([[1, 2]]),
  new Date(5),
  10n,
];

Deno.test("packed: every sample round-trips exactly", () => {
  for (const v of samples) {
    const p = pack(v);
    assert.deepStrictEqual(unpack(p), v, `round trip of ${String(v)}`);
    if (Object.is(v, -0)) assert.ok(Object.is(unpack(p), -0));
  }
});

Deno.test("packed: fast-path encodings are the codec's bytes", () => {
  for (const v of samples) {
    assert.deepStrictEqual(
      toBytes(pack(v)),
      encode(v),
      `bytes of ${String(v)}`,
    );
  }
});

Deno.test("packed: codec bytes of small integers decode through the fast path", () => {
  for (const v of [200, 40000, 3_000_000_000, -100, -20000, -2_000_000_000]) {
    const bytes = encode(v);
    const s = String.fromCharCode(...bytes);
    assert.equal(unpack(s), v);
    assert.deepEqual(unpack(String.fromCharCode(...encode([v, 1]))), [v, 1]);
  }
});

Deno.test("packed: small encodings are strings, large ones bytes", () => {
  assert.equal(typeof pack("x".repeat(10)), "string");
  assert.ok(pack("x".repeat(STRING_LIMIT * 2)) instanceof Uint8Array);
  assert.equal(
    unpack(pack("x".repeat(STRING_LIMIT * 2))),
    "x".repeat(STRING_LIMIT * 2),
  );
});

Deno.test("packed: a truncated small encoding is an error, not a wrong value", () => {
  assert.throws(() => unpack(String.fromCharCode(0x92, 1)));
});
