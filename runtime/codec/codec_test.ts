import assert from "node:assert/strict";
import { Packr, Unpackr } from "msgpackr";
import {
  decode,
  encode,
  keyRef,
  KeyReference,
  SerializationError,
} from "./codec.ts";

const roundTrip = <T>(v: T): T => decode(encode(v)) as T;

/** Stands in for a Future: a class instance marking itself with `[keyRef]`. */
class FakeFuture {
  readonly [keyRef]: string;
  constructor(key: string, readonly client = { big: "state" }) {
    this[keyRef] = key;
  }
  result(): Promise<number> {
    return Promise.resolve(1);
  }
}

function rejects(value: unknown, message: string | RegExp, what?: string) {
  assert.throws(() => encode(value, undefined, what), (e: unknown) => {
    assert.ok(
      e instanceof SerializationError,
      `not a SerializationError: ${e}`,
    );
    assert.equal(e.name, "SerializationError");
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

Deno.test("primitives round-trip exactly", () => {
  const values = [
    0,
    1,
    -1,
    127,
    128,
    -33,
    255,
    65536,
    2 ** 32,
    -(2 ** 31) - 1,
    2 ** 53 - 1,
    1.5,
    -0.25,
    Number.MIN_VALUE,
    Number.MAX_VALUE,
    NaN,
    Infinity,
    -Infinity,
    "",
    "plain",
    "héllo wörld ✓ 🌍 \u0000 \uffff",
    "x".repeat(70_000),
    true,
    false,
    null,
    undefined,
  ];
  for (const v of values) assert.ok(Object.is(roundTrip(v), v), String(v));
  assert.ok(Object.is(roundTrip(-0), -0));
  assert.deepStrictEqual(roundTrip([0, -0, { z: -0 }]), [0, -0, { z: -0 }]);
});

Deno.test("undefined and null stay distinct, also as object values", () => {
  const v = { a: undefined, b: null, c: [undefined, null, , 1] };
  const back = roundTrip(v);
  assert.deepStrictEqual(back, {
    a: undefined,
    b: null,
    c: [undefined, null, undefined, 1],
  });
  assert.ok("a" in back);
  assert.equal(back.a, undefined);
  assert.equal(back.b, null);
});

Deno.test("nested arrays and objects round-trip", () => {
  const v = {
    name: "task",
    args: [[1, [2, [3, [4]]]], { deep: { deeper: { deepest: ["x"] } } }],
    "key with spaces": { "": 0, "ü": "ñ" },
    empty: { arr: [], obj: {} },
  };
  assert.deepStrictEqual(roundTrip(v), v);
  const bare = Object.assign(Object.create(null), { a: 1 });
  assert.deepEqual(roundTrip(bare), { a: 1 });
});

Deno.test("BigInt of any size round-trips, negative too", () => {
  const values = [
    0n,
    1n,
    -1n,
    5n,
    2n ** 63n - 1n,
    2n ** 63n,
    -(2n ** 63n),
    2n ** 64n - 1n,
    2n ** 64n,
    -(2n ** 63n) - 1n,
    2n ** 200n + 12345n,
    -(2n ** 200n),
    -(7n ** 999n),
  ];
  for (const v of values) assert.equal(roundTrip(v), v);
  assert.deepStrictEqual(roundTrip({ big: [10n ** 30n] }), {
    big: [10n ** 30n],
  });
});

Deno.test("Date round-trips with milliseconds, before 1970 and invalid", () => {
  for (const t of [0, 1, 1_700_000_000_123, -1, -86_400_000_123, 8.64e15]) {
    const d = roundTrip(new Date(t));
    assert.ok(d instanceof Date);
    assert.equal(d.getTime(), t);
  }
  assert.ok(Number.isNaN(roundTrip(new Date(NaN)).getTime()));
});

Deno.test("Map and Set round-trip, with non-string keys and nesting", () => {
  const inner = new Map<unknown, unknown>([[1, "one"], [2n, [new Set([1])]]]);
  const map = new Map<unknown, unknown>([
    ["s", 1],
    [1, "number key"],
    [{ obj: "key" }, "object key"],
    [null, undefined],
    ["inner", inner],
  ]);
  const back = roundTrip(map);
  assert.ok(back instanceof Map);
  assert.deepStrictEqual(back, map);
  assert.ok(back.get("inner") instanceof Map);

  const set = new Set<unknown>([1, "a", null, undefined, new Map([["k", 1]])]);
  assert.deepStrictEqual(roundTrip(set), set);
  assert.deepStrictEqual(roundTrip([{ m: new Map() }, new Set()]), [{
    m: new Map(),
  }, new Set()]);
  // a Map nested in plain data is not mistaken for an object
  const nested = { a: [{ b: new Map([["c", new Map([["d", 1]])]]) }] };
  assert.deepStrictEqual(roundTrip(nested), nested);
  assert.ok(roundTrip(nested).a[0].b.get("c") instanceof Map);
});

Deno.test("every typed array keeps its element type; Uint8Array is a msgpack bin", () => {
  const arrays = [
    new Int8Array([-128, 0, 127]),
    new Uint8Array([0, 1, 255]),
    new Uint8ClampedArray([0, 200, 255]),
    new Int16Array([-32768, 1, 32767]),
    new Uint16Array([0, 65535]),
    new Int32Array([-(2 ** 31), 2 ** 31 - 1]),
    new Uint32Array([0, 2 ** 32 - 1]),
    new Float16Array([1.5, -0, Infinity]),
    new Float32Array([1.5, NaN, -Infinity]),
    new Float64Array([Math.PI, -0, NaN, 1e308]),
    new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
    new BigUint64Array([0n, 2n ** 64n - 1n]),
    new Float64Array(0),
  ];
  for (const a of arrays) {
    const back = roundTrip(a);
    assert.equal(back.constructor, a.constructor);
    assert.deepStrictEqual(back, a);
  }
  assert.deepStrictEqual(Array.from(encode(new Uint8Array([7, 8]))), [
    0xc4,
    2,
    7,
    8,
  ]);
  // a view at an offset sends only its own bytes, and decodes aligned
  const big = new Float64Array([1, 2, 3, 4]);
  assert.deepStrictEqual(
    roundTrip(big.subarray(1, 3)),
    new Float64Array([2, 3]),
  );
  const odd = new Uint8Array(new Int16Array([1, 2, 3]).buffer, 1, 4);
  assert.deepStrictEqual(roundTrip(odd), odd.slice());
  // sizes past the 8- and 16-bit length forms
  for (const n of [255, 256, 65535, 65536, 100_000]) {
    const u = new Uint8Array(n).map((_, i) => i % 251);
    assert.deepStrictEqual(roundTrip(u), u);
    const f = new Float32Array(n).map((_, i) => i / 3);
    assert.deepStrictEqual(roundTrip(f), f);
  }
});

Deno.test("ArrayBuffer and DataView round-trip", () => {
  const buf = new Uint8Array([1, 2, 3, 4, 5]).buffer;
  const back = roundTrip(buf);
  assert.ok(back instanceof ArrayBuffer);
  assert.deepStrictEqual(new Uint8Array(back), new Uint8Array([1, 2, 3, 4, 5]));
  const view = roundTrip(new DataView(buf, 1, 3));
  assert.ok(view instanceof DataView);
  assert.deepStrictEqual(
    new Uint8Array(view.buffer),
    new Uint8Array([2, 3, 4]),
  );
});

Deno.test("Error keeps name, message, stack, cause chain and own props", () => {
  const root = new Error("disk gone");
  const mid = Object.assign(new TypeError("bad read", { cause: root }), {
    code: "ENOENT",
    errno: -2,
    info: { path: "/x", when: new Date(5) },
  });
  const back = roundTrip(mid);
  assert.ok(back instanceof TypeError);
  assert.equal(back.name, "TypeError");
  assert.equal(back.message, "bad read");
  assert.equal(back.stack, mid.stack);
  assert.equal(back.code, "ENOENT");
  assert.equal(back.errno, -2);
  assert.deepStrictEqual(back.info, { path: "/x", when: new Date(5) });
  assert.ok(back.cause instanceof Error);
  assert.equal((back.cause as Error).message, "disk gone");
  assert.equal((back.cause as Error).stack, root.stack);
  assert.deepStrictEqual(back, mid);
  // own props stay enumerable, stack and cause stay hidden, as in the original
  assert.deepStrictEqual(Object.keys(back), ["code", "errno", "info"]);
  // a cause that is not an Error; a cause present but undefined; no cause
  assert.equal(roundTrip(new Error("x", { cause: 42 })).cause, 42);
  assert.ok(
    Object.hasOwn(roundTrip(new Error("x", { cause: undefined })), "cause"),
  );
  assert.ok(!Object.hasOwn(roundTrip(new Error("x")), "cause"));
});

Deno.test("Error classes: built-ins are real subclasses, others plain Errors named", () => {
  for (
    const C of [
      Error,
      EvalError,
      RangeError,
      ReferenceError,
      SyntaxError,
      TypeError,
      URIError,
    ]
  ) {
    const back = roundTrip(new C("m"));
    assert.equal(Object.getPrototypeOf(back), C.prototype, C.name);
    assert.equal(back.name, C.name);
  }
  class HttpError extends Error {
    override name = "HttpError";
    constructor(message: string, readonly status: number) {
      super(message);
    }
  }
  const original = new HttpError("not found", 404);
  const back = roundTrip(original) as Error & { status: number };
  assert.equal(Object.getPrototypeOf(back), Error.prototype);
  assert.equal(back.name, "HttpError");
  assert.equal(back.message, "not found");
  assert.equal(back.status, 404);
  assert.equal(back.stack, original.stack);
  assert.match(String(back), /^HttpError: not found/);
  const renamed = Object.assign(new Error("m"), { name: "Custom" });
  assert.equal(roundTrip(renamed).name, "Custom");
  const agg = roundTrip(new AggregateError([new RangeError("a"), 2], "many"));
  assert.ok(agg instanceof AggregateError);
  assert.equal(agg.message, "many");
  assert.ok(agg.errors[0] instanceof RangeError);
  assert.equal(agg.errors[1], 2);
  const notAggregate = roundTrip(
    Object.assign(new Error("e"), { errors: [1] }),
  );
  assert.deepStrictEqual(
    (notAggregate as Error & { errors: number[] }).errors,
    [1],
  );
});

Deno.test("key references are collected by onKey, in order, wherever they are", () => {
  const value = [
    new FakeFuture("a-1"),
    { nested: { deeper: [new FakeFuture("b-2")] } },
    new Map<unknown, unknown>([["k", new FakeFuture("c-3")], [
      new FakeFuture("d-4"),
      1,
    ]]),
    new Set([new FakeFuture("e-5")]),
    { [keyRef]: "f-6", ignored: () => "a plain object marked as a reference" },
    Object.assign(new Error("with a future"), { dep: new FakeFuture("g-7") }),
    new FakeFuture("a-1"),
  ];
  const keys: string[] = [];
  const bytes = encode(value, (k) => keys.push(k));
  assert.deepStrictEqual(keys, [
    "a-1",
    "b-2",
    "c-3",
    "d-4",
    "e-5",
    "f-6",
    "g-7",
    "a-1",
  ]);

  const resolved = decode(bytes, (k) => `<${k}>`) as unknown[];
  assert.equal(resolved[0], "<a-1>");
  assert.deepStrictEqual(resolved[1], { nested: { deeper: ["<b-2>"] } });
  assert.deepStrictEqual(
    resolved[2],
    new Map<unknown, unknown>([["k", "<c-3>"], ["<d-4>", 1]]),
  );
  assert.deepStrictEqual(resolved[3], new Set(["<e-5>"]));
  assert.equal(resolved[4], "<f-6>");
  assert.equal((resolved[5] as { dep: unknown }).dep, "<g-7>");
  assert.equal(resolved[6], "<a-1>");

  // no resolver: KeyReference objects, which travel again as the same keys
  const refs = decode(bytes) as unknown[];
  assert.ok(refs[0] instanceof KeyReference);
  assert.equal((refs[0] as KeyReference)[keyRef], "a-1");
  const again: string[] = [];
  encode(refs, (k) => again.push(k));
  assert.deepStrictEqual(again, keys);
  // the future's own state does not travel
  assert.ok(!new TextDecoder().decode(bytes).includes("state"));
});

Deno.test("any key string travels: empty, long, non-ASCII", () => {
  for (
    const key of ["", "k", "x".repeat(300), "y".repeat(70_000), "ключ-🔑-1"]
  ) {
    const keys: string[] = [];
    const back = decode(encode([new FakeFuture(key)], (k) => keys.push(k)));
    assert.deepStrictEqual(keys, [key]);
    assert.equal(((back as unknown[])[0] as KeyReference)[keyRef], key);
  }
});

Deno.test("onKey is not called when the encode fails", () => {
  const keys: string[] = [];
  assert.throws(
    () => encode([new FakeFuture("x-1"), () => 1], (k) => keys.push(k)),
    SerializationError,
  );
  assert.deepStrictEqual(keys, []);
});

Deno.test("errors from resolveKey propagate unchanged", () => {
  const bytes = encode([1, new FakeFuture("lost-1")]);
  class Missing extends Error {}
  const err = new Missing("no such key");
  assert.throws(() =>
    decode(bytes, () => {
      throw err;
    }), (e) => e === err);
  assert.deepStrictEqual(decode(encode([2])), [2]); // and the codec still works
});

Deno.test("unserializable values raise SerializationError naming type and path", () => {
  class Foo {
    x = 1;
  }
  const listed =
    "(only plain objects, arrays, Date, Map, Set, BigInt, typed arrays and Error travel)";
  rejects(() => 1, "cannot serialize a function");
  rejects(
    { args: [1, { cb: () => 1 }] },
    "cannot serialize a function at args[1].cb",
  );
  rejects([1, async function named() {}], "cannot serialize a function at [1]");
  rejects([class Bar {}], "cannot serialize a function at [0]");
  rejects({ s: Symbol("s") }, "cannot serialize a Symbol at s");
  rejects([new WeakMap()], "cannot serialize a WeakMap at [0]");
  rejects([new WeakSet()], "cannot serialize a WeakSet at [0]");
  rejects({ p: Promise.resolve(1) }, "cannot serialize a Promise at p");
  rejects([/re/g], "cannot serialize a RegExp at [0]");
  rejects(
    { a: { b: [new Foo()] } },
    `cannot serialize an instance of class Foo at a.b[0] ${listed}`,
  );
  rejects(new Foo(), `cannot serialize an instance of class Foo ${listed}`);
  rejects(
    [new (class {})()],
    `cannot serialize an instance of an anonymous class at [0] ${listed}`,
  );
  rejects(
    { "odd key": { "0": () => 1 } },
    'cannot serialize a function at ["odd key"]["0"]',
  );
  rejects(
    new Map([["k", () => 1]]),
    'cannot serialize a function at .get("k")',
  );
  rejects(
    new Map([[1, [Symbol()]]]),
    "cannot serialize a Symbol at .values()[0][0]",
  );
  rejects(new Map([[() => 1, 1]]), "cannot serialize a function at .keys()[0]");
  rejects(
    { s: new Set([1, new WeakRef({})]) },
    "cannot serialize a WeakRef at s.values()[1]",
  );
  rejects(
    [Object.assign(new Error("e"), { socket: new Foo() })],
    /^cannot serialize an instance of class Foo at \[0\]\.socket /,
  );
  rejects(
    new Error("e", { cause: () => 1 }),
    "cannot serialize a function at cause",
  );
  rejects(
    [1, () => 1],
    "cannot serialize the arguments of task inc-3: a function at [1]",
    "the arguments of task inc-3",
  );
  rejects(
    Symbol(),
    "cannot serialize the result of task t: a Symbol",
    "the result of task t",
  );
});

Deno.test("cycles and excessive depth raise SerializationError", () => {
  const a: Record<string, unknown> = { list: [1] };
  (a.list as unknown[]).push({ back: a });
  rejects(
    { root: a },
    "cannot serialize a circular reference at root.list[1].back",
  );
  const self: unknown[] = [];
  self.push(self);
  rejects(self, "cannot serialize a circular reference at [0]");
  const m = new Map<string, unknown>();
  m.set("me", m);
  rejects(m, 'cannot serialize a circular reference at .get("me")');
  let deep: unknown = 1;
  for (let i = 0; i < 1200; i++) deep = [deep];
  rejects(
    deep,
    /^cannot serialize a value nested over 1000 levels deep at (\[0\]){10}…$/,
  );
  // shared (acyclic) references are fine: sent once per occurrence
  const shared = { x: 1 };
  assert.deepStrictEqual(roundTrip([shared, shared]), [{ x: 1 }, { x: 1 }]);
});

Deno.test("a failed encode leaves the codec usable", () => {
  rejects([new WeakMap()], /WeakMap/);
  assert.deepStrictEqual(roundTrip([1, { a: "b" }]), [1, { a: "b" }]);
  // a failure deep inside a Map (written in one pass with the check)
  rejects([new Map([["k", { f: () => 1 }]])], /^cannot serialize a function/);
  const value = [new Map([["k", new Set([1n, new Date(3)])]]), "after"];
  assert.deepStrictEqual(roundTrip(value), value);
  // a getter that throws is wrapped too
  assert.throws(() =>
    encode({
      get boom() {
        throw new Error("getter");
      },
    }), SerializationError);
  assert.deepStrictEqual(roundTrip({ ok: true }), { ok: true });
});

Deno.test("encode returns a fresh copy with its own buffer", () => {
  const first = encode([1, 2, 3]);
  const snapshot = first.slice();
  const second = encode(["something else entirely", 4, 5, 6]);
  assert.deepStrictEqual(first, snapshot);
  assert.notEqual(first.buffer, second.buffer);
  assert.equal(first.byteOffset, 0);
  assert.equal(first.buffer.byteLength, first.byteLength);
  assert.equal(Object.getPrototypeOf(first), Uint8Array.prototype); // not a Buffer
  // transferable without detaching anything the codec uses
  const moved = structuredClone(first, { transfer: [first.buffer] });
  assert.equal(first.byteLength, 0);
  assert.deepStrictEqual(decode(moved), [1, 2, 3]);
  assert.deepStrictEqual(roundTrip([4]), [4]);
});

Deno.test("decode neither mutates nor aliases its input", () => {
  const payload = new Uint8Array([1, 2, 3]);
  const bytes = encode({ payload });
  const copy = bytes.slice();
  const back = decode(bytes) as { payload: Uint8Array };
  assert.deepStrictEqual(bytes, copy); // no expando property left on the input
  assert.equal(Object.getPrototypeOf(back.payload), Uint8Array.prototype);
  bytes.fill(0);
  assert.deepStrictEqual(back.payload, new Uint8Array([1, 2, 3]));
  // a Buffer-like subclass input or an offset view decodes the same
  const framed = new Uint8Array(bytes.length + 4);
  framed.set(copy, 4);
  assert.deepStrictEqual(decode(framed.subarray(4)), { payload });
});

Deno.test("bad bytes raise SerializationError and leave the codec usable", () => {
  for (
    const bad of [[0x92, 1], [0x91, 1, 2], [0xd4, 0x60, 0], [
      0xc7,
      3,
      5,
      99,
      0,
      0,
    ], []]
  ) {
    assert.throws(() => decode(new Uint8Array(bad)), (e: unknown) => {
      assert.ok(e instanceof SerializationError);
      assert.match(e.message, /^cannot decode a message: /);
      return true;
    });
  }
  assert.deepStrictEqual(roundTrip({ fine: [1] }), { fine: [1] });
});

Deno.test("the wire is standard msgpack", () => {
  assert.deepStrictEqual(Array.from(encode([42])), [0x91, 0x2a]);
  assert.deepStrictEqual(Array.from(encode({ a: 1 })), [
    0x81,
    0xa1,
    0x61,
    0x01,
  ]);
  assert.deepStrictEqual(Array.from(encode(-0)), [
    0xcb,
    0x80,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  // plain values read back with a stock decoder; every ext frames as one value
  const plain = { s: "x", n: [1, 2.5, null, true], u8: new Uint8Array([9]) };
  const stock = new Unpackr({ useRecords: false, mapsAsObjects: true });
  assert.deepStrictEqual(stock.unpack(encode(plain)), {
    ...plain,
    u8: new Uint8Array([9]),
  });
  const exts = [
    new Map([[1, 2]]),
    new Set([1]),
    new Error("e"),
    new Float32Array(2),
    new KeyReference("k"),
  ];
  const bytes = encode(exts);
  assert.equal(bytes[0], 0x95); // a five-element array of five exts, each
  let offset = 1; // framed by its own header: fixext 1/2/4/8/16 or ext 8
  const types = [];
  for (let i = 0; i < exts.length; i++) {
    const head = bytes[offset];
    if (head >= 0xd4 && head <= 0xd8) {
      types.push(bytes[offset + 1]);
      offset += 2 + 2 ** (head - 0xd4);
    } else {
      assert.equal(head, 0xc7, `element ${i}`);
      types.push(bytes[offset + 2]);
      offset += 3 + bytes[offset + 1];
    }
  }
  assert.equal(offset, bytes.length);
  assert.deepStrictEqual(types, [2, 3, 4, 5, 1]);
});

Deno.test("nested encode/decode inside onKey and resolveKey", () => {
  const inner = encode({ v: [1, 2] });
  const store = new Map([["dep-1", inner]]);
  const outer = encode([
    new FakeFuture("dep-1"),
    new Map([["m", new FakeFuture("dep-1")]]),
  ]);
  const back = decode(outer, (k) => decode(store.get(k)!)) as unknown[];
  assert.deepStrictEqual(back, [
    { v: [1, 2] },
    new Map([["m", { v: [1, 2] }]]),
  ]);
  const seen: string[] = [];
  encode([new FakeFuture("a")], (k) => {
    seen.push(k);
    encode([new FakeFuture("b")], (k2) => seen.push(k2));
  });
  assert.deepStrictEqual(seen, ["a", "b"]);
});

Deno.test("another Packr in the isolate is not broken by the codec", () => {
  const packr = new Packr({ useRecords: false });
  const unpackr = new Unpackr({ useRecords: false });
  const v = { a: [1, "x", null], when: new Date(7) };
  assert.deepStrictEqual(unpackr.unpack(packr.pack(v)), v);
});
