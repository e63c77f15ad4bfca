// The TCP transport (and TCP over TLS) against the shared transport
// conformance suite, plus what only a byte stream can get wrong: oversized,
// truncated and undecodable frames, and frames split across reads.
import assert from "node:assert/strict";
import { TcpConnection } from "../runtime/wire/tcp/connection.ts";
import { Packr } from "msgpackr";
import {
  connect,
  type FrameListener,
  listen,
  type ListenOptions,
} from "../runtime/wire/tcp/listen.ts";
import {
  type ConnectedPair,
  transportConformance,
} from "./transport_conformance.ts";
import { makeCertificate, type TestCertificate } from "./fixtures/certs.ts";

type Raw = { write(p: Uint8Array): Promise<number> };

interface RawPair extends ConnectedPair {
  a: TcpConnection<unknown, unknown>;
  b: TcpConnection<unknown, unknown>;
  raw: Raw;
}

/** A listener, one connection dialled to it (keeping its raw stream), and the accepted end. */
async function tcpPair(
  cert?: TestCertificate,
  maxFrameSize?: number,
  maxMessageSize?: number,
): Promise<RawPair> {
  let accepted!: (c: TcpConnection<unknown, unknown>) => void;
  const server = new Promise<TcpConnection<unknown, unknown>>((
    r,
  ) => (accepted = r));
  const listener: FrameListener = await listen(
    {
      port: 0,
      tls: cert ? { cert: cert.cert, key: cert.key } : undefined,
      linger: 500,
      maxFrameSize,
      maxMessageSize,
    },
    (conn) => accepted(conn),
  );
  const tcp = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.port,
  });
  tcp.setNoDelay(true);
  const raw = cert
    ? await Deno.startTls(tcp, { hostname: "127.0.0.1", caCerts: [cert.cert] })
    : tcp;
  const a = new TcpConnection<unknown, unknown>(raw, "server", {
    linger: 500,
    maxFrameSize,
    maxMessageSize,
  });
  const b = await server;
  return {
    a,
    b,
    raw,
    // A frame of one byte, 42: valid msgpack, but a number, not a batch.
    injectGarbage: async () =>
      void await raw.write(new Uint8Array([0, 0, 0, 1, 42])),
    cleanup: async () => {
      await Promise.all([a.done, b.done]);
      await listener.close();
    },
  };
}

transportConformance("tcp", () => tcpPair(), {
  serializes: true,
  badFrames: true,
});

const cert = await makeCertificate();
transportConformance("tls", () => tcpPair(cert), {
  serializes: true,
  badFrames: true,
});

/** Sends `bytes` raw from a's side and resolves with b's close reason. */
async function badInput(
  bytes: Uint8Array,
  thenEnd = false,
): Promise<Error | undefined> {
  const pair = await tcpPair();
  try {
    const reason = new Promise<Error | undefined>((r) => pair.b.onClose(r));
    pair.b.onMessages(() => assert.fail("nothing valid was sent"));
    await pair.raw.write(bytes);
    if (thenEnd) await (pair.raw as Deno.TcpConn).closeWrite();
    return await reason;
  } finally {
    pair.a.close();
    pair.b.close();
    await pair.cleanup();
  }
}

Deno.test("tcp: an oversized length prefix closes with a reason naming the limit", async () => {
  const reason = await badInput(
    new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
  );
  assert.match(
    reason!.message,
    /frame of 4294967295 bytes exceeds the 67108864-byte limit/,
  );
});

Deno.test("tcp: a truncated frame followed by EOF closes with a reason", async () => {
  const reason = await badInput(
    new Uint8Array([0, 0, 0, 10, 0x93, 1, 2]),
    true,
  );
  assert.match(
    reason!.message,
    /truncated frame: the connection ended after 3 of 10 bytes/,
  );
});

Deno.test("tcp: garbage bytes close with a reason", async () => {
  const reason = await badInput(new Uint8Array([0x7f, 0xff, 0xff, 0xff, 1]));
  assert.match(reason!.message, /frame of 2147483647 bytes exceeds/);
  // Read as a length prefix, "GET " is a 1.2 GB frame: named as HTTP instead.
  const http = await badInput(
    new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"),
  );
  assert.match(http!.message, /the peer sent an HTTP request/);
  // A TLS ClientHello on a plain port.
  const tls = await badInput(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00]));
  assert.match(tls!.message, /TLS handshake on a plain tcp:\/\/ port/);
  const undecodable = await badInput(
    new Uint8Array([0, 0, 0, 3, 0x93, 0xc1, 0xc1]),
  );
  assert.match(undecodable!.message, /not valid msgpack/);
});

Deno.test("tcp: the maximum frame size bounds a frame, not a message; the message limit holds", async () => {
  const limit = 64 * 1024;
  const pair = await tcpPair(undefined, limit, 1024 * 1024);
  try {
    assert.equal(pair.a.maxFrameSize, limit);
    // A message of several frame sizes travels in several frames, whole...
    const got: unknown[] = [];
    const all = new Promise<void>((resolve) =>
      pair.b.onMessages((batch) => {
        got.push(...batch);
        if (got.length === 3) resolve();
      })
    );
    const big = new Uint8Array(5 * limit + 7).map((_, i) => i % 251);
    pair.a.send(big);
    pair.a.send(new Uint8Array(40 * 1024));
    pair.a.send("end");
    await all;
    assert.deepEqual(got[0], big);
    assert.equal((got[1] as Uint8Array).length, 40 * 1024);
    // ...but one over the message limit fails the sender with a reason...
    const closed = new Promise<Error | undefined>((r) => pair.a.onClose(r));
    pair.a.send(new Uint8Array(1024 * 1024));
    assert.match(
      (await closed)!.message,
      /exceeds the 1048576-byte message limit/,
    );
  } finally {
    pair.a.close();
    pair.b.close();
    await pair.cleanup();
  }
  // ...and the receiver refuses a frame over its limit.
  const small = await tcpPair(undefined, 1000);
  try {
    const reason = new Promise<Error | undefined>((r) => small.b.onClose(r));
    const frame = new Uint8Array(4 + 1001);
    new DataView(frame.buffer).setUint32(0, 1001);
    await small.raw.write(frame);
    assert.match(
      (await reason)!.message,
      /frame of 1001 bytes exceeds the 1000-byte limit/,
    );
  } finally {
    small.a.close();
    small.b.close();
    await small.cleanup();
  }
});

Deno.test("tcp: with an oversized handler, a message over the limit is refused alone; its batch-mates and replacements travel", async () => {
  const pair = await tcpPair(undefined, 64 * 1024, 256 * 1024);
  try {
    const refused: [unknown, number][] = [];
    pair.a.oversized = (msg, size) => {
      refused.push([msg, size]);
      // A list too big whole is sent as its halves; anything else refused.
      if (Array.isArray(msg) && msg.length > 1) {
        const half = msg.length >> 1;
        return [msg.slice(0, half), msg.slice(half)];
      }
    };
    const got: unknown[] = [];
    const all = new Promise<void>((resolve) =>
      pair.b.onMessages((batch) => {
        got.push(...batch);
        if (got.includes("end")) resolve();
      })
    );
    pair.a.send("first");
    pair.a.send(new Uint8Array(300 * 1024)); // refused
    pair.a.send([new Uint8Array(200 * 1024), new Uint8Array(200 * 1024)]);
    pair.a.send("end");
    await all;
    assert.equal(got.length, 4);
    assert.equal(got[0], "first");
    assert.deepEqual(
      (got[1] as Uint8Array[]).map((x) => x.length),
      [200 * 1024],
    );
    assert.equal((got[2] as Uint8Array[]).length, 1);
    assert.equal(got[3], "end");
    assert.equal(refused.length, 2);
    assert.ok((refused[0][0] as Uint8Array).length === 300 * 1024);
    assert.ok(refused[0][1] > 256 * 1024);
    assert.ok(!pair.a.closed, "the connection stays open");
  } finally {
    pair.a.close();
    pair.b.close();
    await pair.cleanup();
  }
});

Deno.test("tcp: frames split across reads, byte by byte, are reassembled", async () => {
  const pair = await tcpPair();
  try {
    const got = new Promise<unknown[]>((r) => pair.b.onMessages(r));
    // [1, "two"] as msgpack: 0x92 0x01 0xa3 t w o
    const frame = new Uint8Array([0, 0, 0, 6, 0x92, 1, 0xa3, 0x74, 0x77, 0x6f]);
    for (const byte of frame) await pair.raw.write(new Uint8Array([byte]));
    assert.deepEqual(await got, [1, "two"]);
  } finally {
    pair.a.close();
    pair.b.close();
    await pair.cleanup();
  }
});

Deno.test("tcp: connect() reaches a listener by address; refuses bad addresses", async () => {
  let server!: TcpConnection<string, string>;
  const accepted = Promise.withResolvers<void>();
  const listener = await listen<string, string>({ port: 0 }, (conn) => {
    server = conn;
    accepted.resolve();
  });
  const client = await connect<string, string>(listener.address);
  await accepted.promise;
  const got = new Promise<string[]>((r) => client.onMessages(r));
  server.send("welcome");
  assert.deepEqual(await got, ["welcome"]);
  client.close();
  await Promise.all([client.done, server.done, listener.close()]);
  await assert.rejects(
    () => connect("http://127.0.0.1:1"),
    /scheme must be tcp/,
  );
  await assert.rejects(() => connect("tcp://127.0.0.1"), /host and a port/);
});

Deno.test("tls: a client that does not trust the certificate cannot connect", async () => {
  const listener = await listen({
    port: 0,
    tls: { cert: cert.cert, key: cert.key },
  }, (conn) => conn.close());
  try {
    await assert.rejects(
      () => connect(`tls://127.0.0.1:${listener.port}`),
      /TLS handshake/,
    );
  } finally {
    await listener.close();
  }
});

addEventListener("unload", () => {
  try {
    Deno.removeSync(cert.dir, { recursive: true });
  } catch {
    // already gone
  }
});

/** A listener with `options`, one raw socket to it, and the server side of it. */
async function rawTo(options: Partial<ListenOptions>) {
  const accepted = Promise.withResolvers<TcpConnection<unknown, unknown>>();
  const listener = await listen(
    { port: 0, linger: 200, ...options },
    (c) => accepted.resolve(c),
  );
  const raw = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.port,
  });
  const server = await accepted.promise;
  const reason = new Promise<Error | undefined>((r) => server.onClose(r));
  return {
    raw,
    server,
    reason,
    async [Symbol.asyncDispose]() {
      server.close();
      try {
        raw.close();
      } catch {
        // closed
      }
      await Promise.all([server.done, listener.close()]);
    },
  };
}

Deno.test("tcp: a frame that stalls after it started is cut off", async () => {
  await using pair = await rawTo({ frameAllowance: 100 });
  // 100 bytes announced, one sent, then nothing: a trickle that never ends.
  await pair.raw.write(new Uint8Array([0, 0, 0, 100, 0x91]));
  const reason = await pair.reason;
  assert.match(
    reason!.message,
    /a frame of 100 bytes did not arrive within \d+ ms: the peer sends too slowly/,
  );
});

Deno.test("tcp: before authentication frames are small; after it, full size", async () => {
  await using pair = await rawTo({ preAuthFrameSize: 1024 });
  const got = new Promise<unknown[]>((r) => pair.server.onMessages(r));
  assert.equal(pair.server.isAuthenticated, false);
  assert.equal(pair.server.maxFrameSize, 1024);
  pair.server.authenticated();
  const big = new Packr({ useRecords: false }).pack(["x".repeat(4000)]);
  const frame = new Uint8Array(4 + big.length);
  new DataView(frame.buffer).setUint32(0, big.length);
  frame.set(big, 4);
  await pair.raw.write(frame);
  assert.equal(((await got)[0] as string).length, 4000);

  await using early = await rawTo({ preAuthFrameSize: 1024 });
  await early.raw.write(frame);
  assert.match(
    (await early.reason)!.message,
    /exceeds the 1024-byte limit before authentication/,
  );
});

Deno.test("tls: mutual TLS admits a peer with a trusted certificate and refuses one without", async () => {
  const server = await makeCertificate();
  const client = await makeCertificate();
  const accepted: TcpConnection<unknown, unknown>[] = [];
  const listener = await listen({
    port: 0,
    linger: 200,
    tls: { cert: server.cert, key: server.key, clientCa: client.cert },
  }, (conn) => accepted.push(conn));
  try {
    const address = `tls://127.0.0.1:${listener.port}`;
    const conn = await connect<string, string>(address, {
      caCerts: [server.cert],
      clientCert: { cert: client.cert, key: client.key },
      linger: 200,
    });
    const echoed = new Promise<string[]>((r) => conn.onMessages(r));
    while (accepted.length === 0) await new Promise((r) => setTimeout(r, 5));
    accepted[0].onMessages((batch) => accepted[0].send(batch[0]));
    conn.send("over mutual TLS");
    assert.deepEqual(await echoed, ["over mutual TLS"]);
    conn.close();
    await conn.done;
    // Without a client certificate the listener refuses the handshake: the
    // connection ends before any frame (how far the dialler gets varies).
    const refused = await connect<string, string>(address, {
      caCerts: [server.cert],
      linger: 200,
    }).then(
      async (c) => {
        const closed = new Promise((r) => c.onClose(r));
        c.send("let me in");
        await closed;
        await c.done;
        return "closed";
      },
      (e) => (e as Error).message,
    );
    assert.ok(
      refused === "closed" || /TLS handshake .* failed/.test(refused),
      refused,
    );
  } finally {
    for (const c of accepted) c.close();
    await Promise.all([...accepted.map((c) => c.done), listener.close()]);
    await Deno.remove(server.dir, { recursive: true });
    await Deno.remove(client.dir, { recursive: true });
  }
});
