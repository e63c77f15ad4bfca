/**
 * Codec throughput: our encode+decode against raw msgpackr (same wire options,
 * no walk, no extensions) and structuredClone, for a small task message, a
 * 1,000-number array and a 1 MiB Float64Array. "raw msgpackr + copy" adds the
 * per-message copy that callers need (pack() returns a view of a shared buffer).
 *
 * Run: `deno bench bench/codec_bench.ts`
 */
import { Packr, Unpackr } from "msgpackr";
import { decode, encode, keyRef } from "../runtime/codec/codec.ts";

const raw = new Packr({ useRecords: false, variableMapSize: true });
const rawUnpackr = new Unpackr({ useRecords: false });
const cases: [string, unknown][] = [
  ["[42]", [42]],
  ["small task message", [{ a: 1, b: "x" }, [1, 2, 3]]],
  ["1,000-number array", Array.from({ length: 1000 }, (_, i) => i * 1.5)],
  ["1 MiB Float64Array", new Float64Array(131072).map((_, i) => i)],
];
let sink: unknown;
for (const [name, value] of cases) {
  const group = name;
  Deno.bench(`codec encode+decode ${name}`, { group, baseline: true }, () => {
    sink = decode(encode(value));
  });
  Deno.bench(`raw msgpackr ${name}`, { group }, () => {
    sink = rawUnpackr.unpack(raw.pack(value));
  });
  Deno.bench(`raw msgpackr + copy ${name}`, { group }, () => {
    sink = rawUnpackr.unpack(new Uint8Array(raw.pack(value)));
  });
  Deno.bench(`structuredClone ${name}`, { group }, () => {
    sink = structuredClone(value);
  });
}
class Future { // what travels of a Future: its key
  readonly [keyRef] = "inc-2";
}
const message = [new Future(), 1];
Deno.bench("codec with a key reference", { group: "key" }, () => {
  const keys: string[] = [];
  sink = decode(encode(message, (k) => keys.push(k)), (k) => k);
});
Deno.bench("codec encode only [42]", { group: "encode" }, () => {
  sink = encode([42]);
});
Deno.bench("raw msgpackr pack only [42]", { group: "encode" }, () => {
  sink = raw.pack([42]);
});
Deno.bench("allocate a 2-byte Uint8Array", { group: "encode" }, () => {
  sink = new Uint8Array(2);
});
globalThis.addEventListener("unload", () => void sink);
