// The HTTP probe of accepted streams, with scripted streams: request lines
// that arrive in pieces, frames that pass untouched, early ends.
import assert from "node:assert/strict";
import type { ByteStream } from "./connection.ts";
import { refuseHttp } from "./http_refusal.ts";

/** A stream that hands out `chunks`, one per read, and records writes. */
function scripted(chunks: Uint8Array[]): ByteStream & { written: string } {
  const s = {
    written: "",
    read(p: Uint8Array): Promise<number | null> {
      const c = chunks.shift();
      if (!c) return Promise.resolve(null);
      p.set(c);
      return Promise.resolve(c.length);
    },
    write(p: Uint8Array): Promise<number> {
      s.written += new TextDecoder().decode(p);
      return Promise.resolve(p.length);
    },
    closeWrite: () => Promise.resolve(),
    close: () => {},
  };
  return s;
}

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("a request line in pieces is answered", async () => {
  const s = scripted([bytes("GE"), bytes("T /x HT"), bytes("TP/1.1\r\n")]);
  const wrapped = refuseHttp(s, "peer", () => "see the dashboard");
  assert.equal(await wrapped.read(new Uint8Array(1024)), null);
  assert.match(s.written, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.match(s.written, /Content-Length: 18\r\n/);
  assert.match(s.written, /\r\n\r\nsee the dashboard\n$/);
});

Deno.test("a frame passes untouched, and so does everything after it", async () => {
  const frame = new Uint8Array([0, 0, 0, 3, 0x47, 0x45, 0x54]); // "GET" as payload
  const s = scripted([frame, bytes("GET / HTTP/1.1\r\n")]);
  const wrapped = refuseHttp(s, "peer", () => "no");
  const buf = new Uint8Array(1024);
  assert.equal(await wrapped.read(buf), frame.length);
  assert.deepEqual(buf.subarray(0, frame.length), frame);
  assert.equal(await wrapped.read(buf), 16, "later bytes are not probed");
  assert.equal(s.written, "");
});

Deno.test("capital letters that are no request line pass to the framing", async () => {
  const s = scripted([bytes("HELLO THERE, NOT HTTP\n")]);
  const wrapped = refuseHttp(s, "peer", () => "no");
  assert.equal(await wrapped.read(new Uint8Array(1024)), 22);
  assert.equal(s.written, "");
});

Deno.test("a stream that ends during the probe gives what it sent", async () => {
  const s = scripted([bytes("GE")]);
  const wrapped = refuseHttp(s, "peer", () => "no");
  const buf = new Uint8Array(1024);
  assert.equal(await wrapped.read(buf), 2);
  assert.equal(await wrapped.read(buf), null);
  assert.equal(s.written, "");
});
