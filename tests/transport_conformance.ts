/**
 * The conformance test every transport passes : ordering,
 * batching, close, errors, big payloads and bad frames. A transport's test
 * file calls {@linkcode transportConformance} with a factory of connected
 * pairs.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Connection } from "../runtime/wire/transport.ts";
import { ConnectionClosedError } from "../runtime/errors.ts";

/** Two connected ends, and what the suite needs to poke at them. */
export interface ConnectedPair {
  /** One end. */
  a: Connection<unknown, unknown>;
  /** The other end: receives what `a` sends. */
  b: Connection<unknown, unknown>;
  /**
   * Makes `b` receive something that is not a valid batch, as if `a`'s side
   * sent it (raw bytes for sockets, a non-array for postMessage). Omitted
   * when the transport has no wire to corrupt.
   */
  injectGarbage?: () => void | Promise<void>;
  /** Resolves once both ends (and anything else the pair holds) are released. */
  cleanup(): Promise<void>;
}

/** What the transport under test can do. */
export interface ConformanceOptions {
  /** Messages are serialized (so a value that cannot be is an error). */
  serializes?: boolean;
  /** Pairs come with `injectGarbage` (the transport checks its frames). */
  badFrames?: boolean;
}

type Pair = () => Promise<ConnectedPair>;

/** Collects messages on `conn` until `n` have arrived; resolves with them and the batch sizes. */
function collect(
  conn: Connection<unknown, unknown>,
  n: number,
): Promise<{ messages: unknown[]; batches: number[] }> {
  const messages: unknown[] = [];
  const batches: number[] = [];
  return new Promise((resolve, reject) => {
    conn.onClose((reason) =>
      reject(reason ?? new Error("closed before all messages arrived"))
    );
    conn.onMessages((batch) => {
      batches.push(batch.length);
      messages.push(...batch);
      if (messages.length >= n) resolve({ messages, batches });
    });
  });
}

function closed(
  conn: Connection<unknown, unknown>,
): Promise<Error | undefined> {
  return new Promise((resolve) => conn.onClose(resolve));
}

/** A macrotask boundary: what follows is sent in a new batch. */
const nextTurn = () => new Promise<void>((r) => setTimeout(r, 0));

async function withPair(
  makePair: Pair,
  body: (pair: ConnectedPair) => Promise<void>,
): Promise<void> {
  const pair = await makePair();
  try {
    await body(pair);
  } finally {
    pair.a.close();
    pair.b.close();
    await pair.cleanup();
  }
}

/**
 * Registers the conformance tests for a transport, named `${name}: ...`.
 *
 * @example
 * ```ts ignore
 * transportConformance("local", async () => {
 *   const [a, b] = localPair("a", "b");
 *   return { a, b, cleanup: () => Promise.resolve() };
 * });
 * ```
 */
export function transportConformance(
  name: string,
  makePair: Pair,
  options: ConformanceOptions = {},
): void {
  Deno.test(`${name}: messages arrive in order across batches, both ways`, () =>
    withPair(makePair, async ({ a, b }) => {
      const toB = collect(b, 1000);
      const toA = collect(a, 1000);
      for (let turn = 0; turn < 10; turn++) {
        for (let i = 0; i < 100; i++) {
          a.send({ n: turn * 100 + i });
          b.send([turn * 100 + i, "x".repeat(i)]);
        }
        await nextTurn();
      }
      const atB = await toB, atA = await toA;
      assert.deepEqual(
        atB.messages.map((m) => (m as { n: number }).n),
        Array.from({ length: 1000 }, (_, i) => i),
      );
      assert.deepEqual(
        atA.messages.map((m) => (m as [number])[0]),
        Array.from({ length: 1000 }, (_, i) => i),
      );
      assert.equal((atA.messages[999] as [number, string])[1], "x".repeat(99));
    }));

  Deno.test(`${name}: sends in one macrotask arrive as one batch`, () =>
    withPair(makePair, async ({ a, b }) => {
      const got = collect(b, 250);
      for (let i = 0; i < 250; i++) a.send(i);
      const { messages, batches } = await got;
      assert.deepEqual(batches, [250]);
      assert.equal(messages[249], 249);
    }));

  Deno.test(`${name}: batches that arrive before a handler are replayed`, () =>
    withPair(makePair, async ({ a, b }) => {
      // a -> b, then b -> a proves b received the first batch before any
      // handler of b's exists.
      const echo = collect(a, 1);
      a.send("early");
      await nextTurn();
      b.send("ping");
      await echo;
      const late = await collect(b, 1);
      assert.deepEqual(late.messages, ["early"]);
    }));

  Deno.test(`${name}: close is seen by the peer; sending after it throws`, () =>
    withPair(makePair, async ({ a, b }) => {
      const got: unknown[] = [];
      b.onMessages((batch) => got.push(...batch));
      const bClosed = closed(b);
      a.send("last words");
      a.close();
      assert.equal(a.closed, true);
      assert.equal(await bClosed, undefined);
      assert.deepEqual(got, ["last words"], "close flushes what was queued");
      assert.equal(b.closed, true);
      assert.throws(() => a.send("x"), ConnectionClosedError);
      assert.throws(() => b.send("x"), ConnectionClosedError);
      let late: Error | undefined | null = null;
      a.onClose((r) => (late = r));
      assert.equal(late, undefined, "onClose after close fires at once");
      a.close(); // idempotent
    }));

  Deno.test(`${name}: a close reason reaches the peer`, () =>
    withPair(makePair, async ({ a, b }) => {
      const bClosed = closed(b);
      a.close(new Error("going away"));
      const reason = await bClosed;
      assert.ok(reason instanceof Error);
      assert.match(reason.message, /going away/);
    }));

  if (options.serializes) {
    Deno.test(`${name}: a message that cannot be serialized fails the sender`, () =>
      withPair(makePair, async ({ a, b }) => {
        const aClosed = closed(a), bClosed = closed(b);
        a.send({ bad: Symbol("nope") });
        const reason = await aClosed;
        assert.ok(reason instanceof Error, "the sender closes with an error");
        await bClosed; // and the peer learns of it
        assert.throws(() => a.send(1), ConnectionClosedError);
      }));
  }

  Deno.test(`${name}: a 16 MiB payload arrives intact`, () =>
    withPair(makePair, async ({ a, b }) => {
      const size = 16 * 1024 * 1024;
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 13)) & 0xff;
      const got = collect(b, 2);
      a.send({ op: "big", bytes });
      a.send("after");
      const { messages } = await got;
      const received = (messages[0] as { bytes: Uint8Array }).bytes;
      assert.ok(received instanceof Uint8Array);
      assert.equal(received.length, size);
      let same = true;
      for (let i = 0; i < size; i++) {
        if (received[i] !== bytes[i]) {
          same = false;
          break;
        }
      }
      assert.ok(same, "the payload's bytes are unchanged");
      assert.equal(messages[1], "after");
    }));

  Deno.test({
    name: `${name}: a bad frame closes the connection with a reason`,
    ignore: !options.badFrames,
    fn: () =>
      withPair(makePair, async (pair) => {
        assert.ok(pair.injectGarbage, "badFrames pairs have injectGarbage");
        const { a, b } = pair;
        const got: unknown[] = [];
        b.onMessages((batch) => got.push(...batch));
        const bClosed = closed(b), aClosed = closed(a);
        await pair.injectGarbage();
        const reason = await bClosed;
        assert.ok(reason instanceof Error, "closed with a reason");
        assert.ok(reason.message.length > 0);
        await aClosed; // the sending side sees the close too
        assert.deepEqual(got, []);
      }),
  });
}
