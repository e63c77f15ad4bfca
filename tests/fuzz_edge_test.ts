/**
 * Randomized input against a real scheduler process (with a token), as a
 * CI test with bounded counts: random byte strings and random well-framed
 * msgpack batches before the hello, and random batches of messages (some
 * shaped like client operations, some anything) after authenticating.
 * After every case the connection is closed when its input was bad, stays
 * open and answered when every message in it was valid, and a
 * well-behaved client is still served; the scheduler's RSS stays bounded.
 * fast-check prints the seed and the shrunk case of a failure: keep such a
 * case below as a regular test.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { Packr, Unpackr } from "msgpackr";
import { Client } from "../mod.ts";
import { validateToScheduler } from "../actors/protocol.ts";
import { parseAddress } from "../runtime/wire/tcp/address.ts";
import { connect } from "../runtime/wire/tcp/listen.ts";
import type { TcpConnection } from "../runtime/wire/tcp/connection.ts";
import { greet } from "../runtime/wire/handshake.ts";
import { clusterTest, within } from "./fixtures/bounded.ts";
import { type Proc, runCli } from "./fixtures/processes.ts";

/** Resident memory of process `pid`, in bytes. */
async function rss(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("ps", {
    args: ["-o", "rss=", "-p", String(pid)],
  }).output();
  return Number(new TextDecoder().decode(stdout).trim()) * 1024;
}

// The frame encoding of runtime/wire/tcp/connection.ts (standard msgpack).
const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false });

/** One frame holding `body`: 4-byte big-endian length, then the bytes. */
function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** Resolves once the server ends the raw connection (EOF or reset). */
async function closedByServer(conn: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(4096);
  try {
    while ((await conn.read(buf)) !== null) {
      // the server's close notice, if any
    }
  } catch {
    // reset: closed too
  }
}

/** Whether every message of `batch`, as the scheduler decodes it, is a valid client operation. */
function allValid(batch: unknown[]): boolean {
  try {
    for (const msg of unpackr.unpack(packr.pack(batch)) as unknown[]) {
      validateToScheduler(msg, "client");
    }
    return true;
  } catch {
    return false;
  }
}

const CLIENT_OPS = [
  "submit",
  "want",
  "release",
  "cancel",
  "missing-data",
  "scheduler-info",
  "tree-progress",
  "forward-output",
  "worker-logs",
  "task-stream",
  "retry",
  "scattered",
  "heartbeat",
  // worker operations: refused from a client
  "task-finished",
  "seceded",
] as const;

/** Field values: often the right kind for some operation, sometimes anything. */
const field = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.nat({ max: 1000 }),
  fc.array(fc.string({ maxLength: 6 }), { maxLength: 4 }),
  fc.boolean(),
  fc.array(
    fc.record({
      key: fc.string({ maxLength: 6 }),
      nbytes: fc.nat(),
      workers: fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }),
    }),
    { maxLength: 2 },
  ),
  fc.anything({ maxDepth: 2 }),
);

/** A message shaped like an operation, with random fields. */
const opShaped = fc.record(
  {
    op: fc.constantFrom(...CLIENT_OPS),
    id: field,
    key: field,
    keys: field,
    owner: field,
    on: field,
    since: field,
    values: field,
    tasks: field,
    notHeld: field,
    unreachable: field,
    reason: field,
  },
  { requiredKeys: ["op"] },
);

/** Valid client operations on random keys: they reach the state machine. */
const keys = fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 });
const wellTyped = fc.oneof(
  fc.record({
    op: fc.constantFrom("want", "release", "cancel", "retry"),
    keys,
  }),
  fc.record({ op: fc.constant("tree-progress"), id: fc.nat(), keys }),
  fc.record({ op: fc.constant("task-stream"), id: fc.nat(), since: fc.nat() }),
  fc.record({ op: fc.constant("forward-output"), on: fc.boolean() }),
  fc.record({
    op: fc.constant("missing-data"),
    key: fc.string({ maxLength: 6 }),
    notHeld: keys,
    unreachable: keys,
    reason: fc.string({ maxLength: 20 }),
  }),
  fc.record({
    op: fc.constant("scattered"),
    values: fc.array(
      fc.record({
        key: fc.string({ maxLength: 6 }),
        nbytes: fc.nat(),
        workers: keys,
      }),
      { maxLength: 2 },
    ),
  }),
);

const message = fc.oneof(
  { weight: 6, arbitrary: wellTyped },
  { weight: 3, arbitrary: opShaped },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
);

clusterTest(
  "fuzz: random bytes and batches before and after the hello close only their connection; the scheduler keeps serving",
  async () => {
    const dir = await Deno.makeTempDir();
    const token = crypto.randomUUID();
    const tokenFile = `${dir}/token`;
    await Deno.writeTextFile(tokenFile, token);
    const procs: Proc[] = [];
    try {
      const scheduler = runCli("scheduler", [
        "--port",
        "0",
        "--token-file",
        tokenFile,
        "--handshake-timeout",
        "300",
      ]);
      procs.push(scheduler);
      const address = await within(
        "the scheduler's address",
        scheduler.stdout.waitFor(/^tcp:\/\//),
      );
      const bare = address.replace(/\?.*$/, "");
      const { hostname, port } = parseAddress(bare);
      await using client = await Client.connect(`${bare}?token=${token}`);
      const served = async (what: string) => {
        const info = await within(
          `${what}: a client served`,
          client.schedulerInfo(),
        );
        assert.equal(info.clients >= 1, true);
      };
      await served("at the start");
      const before = await rss(scheduler.pid);
      let cases = 0;

      // Before the hello: raw bytes, then well-framed msgpack batches.
      const raw = async (bytes: Uint8Array) => {
        cases++;
        const conn = await Deno.connect({ hostname, port });
        try {
          await conn.write(bytes).catch(() => 0);
          await within(
            "the server to close a bad connection",
            closedByServer(conn),
          );
        } finally {
          try {
            conn.close();
          } catch {
            // closed already
          }
        }
        await served("after raw bytes");
      };
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), raw),
        { numRuns: 30 },
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(message, { maxLength: 4 }),
          (batch) => raw(frame(packr.pack(batch))),
        ),
        { numRuns: 30 },
      );

      // After the hello: batches of random messages on an authenticated
      // connection, then a request. Valid batches are answered; a batch
      // with an invalid message closes the connection.
      let requestId = 1_000;
      const outcomes = { answered: 0, closed: 0 };
      await fc.assert(
        fc.asyncProperty(
          fc.array(message, { minLength: 1, maxLength: 4 }),
          async (batch) => {
            cases++;
            const conn = await connect<unknown, unknown>(bare, {});
            const closed = new Promise<void>((r) => conn.onClose(() => r()));
            try {
              await within(
                "the hello",
                greet(conn as TcpConnection<unknown, unknown>, {
                  role: "client",
                  token,
                }),
              );
              const id = ++requestId;
              const answered = new Promise<void>((resolve) =>
                conn.onMessages((msgs) => {
                  for (const m of msgs as { op?: string; id?: unknown }[]) {
                    if (m?.op === "scheduler-info" && m.id === id) resolve();
                  }
                })
              );
              for (const msg of batch) conn.send(msg);
              conn.flush();
              conn.send({ op: "scheduler-info", id });
              const outcome = await within(
                "an answer or a close",
                Promise.race([
                  answered.then(() => "answered" as const),
                  closed.then(() => "closed" as const),
                ]),
              );
              outcomes[outcome]++;
              assert.equal(
                outcome,
                allValid(batch) ? "answered" : "closed",
                `batch ${JSON.stringify(batch)?.slice(0, 300)}`,
              );
            } finally {
              conn.close();
              await conn.done;
            }
            await served("after an authenticated batch");
          },
        ),
        { numRuns: 60 },
      );

      // Both kinds of authenticated batch were tried.
      assert.ok(
        outcomes.answered > 0 && outcomes.closed > 0,
        JSON.stringify(outcomes),
      );
      const after = await rss(scheduler.pid);
      console.log(
        `fuzz: ${cases} cases (authenticated batches: ${outcomes.answered} ` +
          `answered, ${outcomes.closed} closed); scheduler RSS ${
            (before / 2 ** 20).toFixed(0)
          } MB before, ${(after / 2 ** 20).toFixed(0)} MB after`,
      );
      assert.ok(
        after - before < 128 * 2 ** 20,
        `the scheduler grew by ${((after - before) / 2 ** 20).toFixed(0)} MB`,
      );
      assert.ok(
        !scheduler.stderr.lines.some((l) => /internal error|uncaught/i.test(l)),
        scheduler.stderr.lines.filter((l) => /internal|uncaught/i.test(l)).join(
          "\n",
        ),
      );
    } finally {
      await Promise.all(procs.map((p) => p.stop()));
      await Deno.remove(dir, { recursive: true });
    }
  },
);
