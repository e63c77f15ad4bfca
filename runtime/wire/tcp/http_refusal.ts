/**
 * HTTP spoken to a frame port: a browser or `curl` pointed at the
 * scheduler's port sends `GET / HTTP/1.1`, whose first four bytes read as a
 * frame length of over a gigabyte. Instead of a frame-size error, the
 * connection is answered with a plain HTTP error saying what the port is
 * and where the dashboard is, and closed. Only the first bytes of a
 * connection are looked at; every frame after them passes untouched.
 *
 * @module
 */

import type { ByteStream } from "./connection.ts";

/** Methods whose request line marks a connection as HTTP. */
const REQUEST_LINE =
  /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE) \S+ HTTP\/\d/;
/** Bytes read before deciding (a request line's start fits in them). */
const PROBE = 16;

/**
 * The HTTP request line at the start of `head`, if it starts with one.
 *
 * @example A request line, and a frame
 * ```ts
 * import assert from "node:assert/strict";
 * import { httpRequestLine } from "./http_refusal.ts";
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * assert.equal(httpRequestLine(bytes("GET / HTTP/1.1\r\nHost: x\r\n")), "GET / HTTP/1.1");
 * assert.equal(httpRequestLine(new Uint8Array([0, 0, 0, 5, 1, 2])), undefined);
 * ```
 */
export function httpRequestLine(head: Uint8Array): string | undefined {
  // Frames start with a big-endian length: a first byte that is not an
  // upper-case letter cannot begin a request line.
  if (head.length === 0 || head[0] < 0x41 || head[0] > 0x5a) return undefined;
  const text = new TextDecoder().decode(head.subarray(0, 512));
  const line = text.split(/\r?\n/, 1)[0];
  return REQUEST_LINE.test(line) ? line : undefined;
}

/**
 * Wraps a freshly accepted `stream`: when its first bytes are an HTTP
 * request, the peer gets a `400 Bad Request` whose body is `explain()`,
 * the stream is closed, and the reader sees the end of the stream (a
 * connection that sent nothing). Otherwise reads pass through.
 *
 * @example A GET is answered and ends the stream
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseHttp } from "./http_refusal.ts";
 * const written: Uint8Array[] = [];
 * const request = new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n");
 * let sent = false;
 * const stream = refuseHttp({
 *   read: (p) => {
 *     if (sent) return Promise.resolve(null);
 *     sent = true;
 *     p.set(request);
 *     return Promise.resolve(request.length);
 *   },
 *   write: (p) => (written.push(p.slice()), Promise.resolve(p.length)),
 *   closeWrite: () => Promise.resolve(),
 *   close: () => {},
 * }, "peer", () => "not HTTP here");
 * assert.equal(await stream.read(new Uint8Array(64)), null);
 * const answer = new TextDecoder().decode(written[0]);
 * assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
 * assert.match(answer, /not HTTP here/);
 * ```
 */
export function refuseHttp(
  stream: ByteStream,
  peer: string,
  explain: () => string,
): ByteStream {
  let probed = false;
  return {
    async read(p: Uint8Array): Promise<number | null> {
      if (probed) return stream.read(p);
      probed = true;
      let n = 0;
      // Gather enough of the first bytes to decide (frames pass at once:
      // their first byte is never a capital letter).
      for (;;) {
        const got = await stream.read(p.subarray(n));
        if (got === null) return n > 0 ? n : null;
        n += got;
        const head = p.subarray(0, n);
        if (head[0] < 0x41 || head[0] > 0x5a) return n;
        if (n >= PROBE || head.includes(0x0a)) break;
      }
      const line = httpRequestLine(p.subarray(0, n));
      if (line === undefined) return n;
      await answer(stream, explain());
      console.error(
        `tendril: ${peer} sent an HTTP request (${
          JSON.stringify(line.slice(0, 80))
        }) to a Tendril protocol port; answered 400 and closed it`,
      );
      return null;
    },
    write: (p) => stream.write(p),
    closeWrite: () => stream.closeWrite(),
    close: () => stream.close(),
  };
}

/** Writes a `400 Bad Request` with `body` and shuts the write side. */
async function answer(stream: ByteStream, body: string): Promise<void> {
  const text = body.endsWith("\n") ? body : `${body}\n`;
  const bytes = new TextEncoder().encode(text);
  const response = new TextEncoder().encode(
    "HTTP/1.1 400 Bad Request\r\n" +
      "Content-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${bytes.length}\r\n` +
      "Connection: close\r\n\r\n",
  );
  const all = new Uint8Array(response.length + bytes.length);
  all.set(response);
  all.set(bytes, response.length);
  try {
    let off = 0;
    while (off < all.length) off += await stream.write(all.subarray(off));
    await stream.closeWrite();
  } catch {
    // the peer is gone already; nothing to tell
  }
}
