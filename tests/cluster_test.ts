// Tendril over TCP with real processes on loopback: the CLIs, a client
// reaching them with Client.connect("tcp://..."), bad input on the
// scheduler's port, tokens, TLS, and worker loss. Every test stops every
// process it starts; waits are on real events (a line printed, a socket
// closed, a result), never on sleeps. TENDRIL_TEST_VERBOSE=1 shows the
// processes' logs.
import assert from "node:assert/strict";
import { clusterTest } from "./fixtures/bounded.ts";
import { Packr, Unpackr } from "msgpackr";
import {
  Client,
  KilledWorkerError,
  registerModule,
  SchedulerLostError,
} from "../mod.ts";
import { PROTOCOL_VERSION } from "../actors/protocol.ts";
import { parseAddress } from "../runtime/wire/tcp/address.ts";
import { type Challenge, proofOf } from "../runtime/wire/handshake.ts";
import {
  big,
  busyFor,
  fib,
  holdUntilCancelled,
  inc,
  killMyWorker,
  pid,
  sum,
  total,
  whereAmI,
} from "./fixtures/tasks.ts";
import {
  alive,
  descendants,
  type Proc,
  runCli,
  runTask,
  withoutOrphans,
} from "./fixtures/processes.ts";
import { makeCertificate } from "./fixtures/certs.ts";

const TASKS = new URL("./fixtures/tasks.ts", import.meta.url);
await registerModule(TASKS);

const TOKEN = "s3cret-token";
const tokenFile = await Deno.makeTempFile({ prefix: "tendril-token-" });
await Deno.writeTextFile(tokenFile, `${TOKEN}\n`);

/** Starts a scheduler CLI; resolves with it and its address (its first stdout line). */
async function scheduler(args: string[] = []): Promise<[Proc, string]> {
  const proc = runCli("scheduler", ["--port", "0", ...args]);
  const address = await proc.stdout.waitFor(/^(tcp|tls):\/\//);
  return [proc, address];
}

/** Starts a worker CLI connected to `address`; resolves once it is registered. */
async function worker(address: string, args: string[] = []): Promise<Proc> {
  const proc = runCli("worker", [address, ...args], `worker ${args.join(" ")}`);
  await proc.stdout.waitFor(/^tendril worker /);
  return proc;
}

async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
}

clusterTest(
  "cluster: `deno task cluster` comes up, serves, and goes down leaving no process",
  async () => {
    const launcher = runTask("cluster", [
      "--workers",
      "2",
      "--slots",
      "1",
      "--port",
      "0",
    ]);
    await withoutOrphans(launcher, async () => {
      const address = await launcher.stdout.waitFor(/./);
      assert.match(
        address,
        /^tcp:\/\/127\.0\.0\.1:\d+\?token=[0-9a-f]{48}$/,
        "the first line is the address, with a fresh token",
      );
      // Without the token (another local user), nothing is served.
      await assert.rejects(
        Client.connect(address.replace(/\?.*$/, "")),
        /requires a token/,
      );
      // the launcher, its scheduler and 2 workers (and the task runner's shell, if any)
      assert.ok(descendants(launcher.pid).length >= 4);
      await using client = await Client.connect(address);
      assert.deepEqual(await client.gather(client.map(inc, [1, 2, 3])), [
        2,
        3,
        4,
      ]);
      const workers = new Set(
        await client.gather(
          Array.from(
            { length: 8 },
            (_, i) => client.with({ key: `pid-${i}` }).submit(pid),
          ),
        ),
      );
      assert.ok(workers.size >= 1);
    });
  },
);

clusterTest(
  "tcp: submit, map, gather, dependencies and fib across 2 worker processes",
  async (t) => {
    const [sched, address] = await scheduler();
    const workers = await Promise.all([
      worker(address, ["--name", "w1"]),
      worker(address, ["--name", "w2"]),
    ]);
    try {
      await using client = await Client.connect(address);
      await t.step("submit and result", async () => {
        assert.equal(await client.submit(inc, 41).result(), 42);
      });
      await t.step(
        "map, futures as arguments, gather keeps the shape",
        async () => {
          const fs = client.map(inc, [1, 2, 3, 4]);
          const s = client.submit(sum, fs);
          assert.deepEqual(await client.gather({ fs, s, n: 7 }), {
            fs: [2, 3, 4, 5],
            s: 14,
            n: 7,
          });
        },
      );
      await t.step(
        "values move worker to worker, and to the client, directly",
        async () => {
          const n = 100_000; // 800 KB: too big to travel through the scheduler
          const onW1 = client.with({ workers: "w1" }).submit(big, n);
          const onW2 = client.with({ workers: "w2" }).submit(total, onW1);
          const where = client.with({ workers: "w2" }).submit(whereAmI);
          assert.equal(await onW2.result(), (n * (n - 1)) / 2);
          assert.equal(await where.result(), "w2");
          const values = await onW1.result();
          assert.ok(values instanceof Float64Array);
          assert.equal(values.length, n);
          assert.equal(values[n - 1], n - 1);
        },
      );
      await t.step(
        "the seed's fib with getClient + secede + rejoin",
        async () => {
          assert.equal(await client.submit(fib, 15).result(), 610);
        },
      );
      await t.step(
        "a client that gives a token refuses a scheduler that cannot prove it",
        async () => {
          // The scheduler requires no token, so it cannot prove it knows
          // this one: it may be an impostor, and the client will not talk.
          await assert.rejects(
            Client.connect(`${address}?token=anything`),
            /could not prove it knows the token/,
          );
        },
      );
    } finally {
      await stopAll([...workers, sched]);
    }
  },
);

// ---- bad input on the scheduler's port ------------------------------------------

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

function frame(value: unknown): Uint8Array {
  const body = packr.pack(value);
  const out = new Uint8Array(body.length + 4);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

function bytes(value: unknown): Uint8Array {
  return new Uint8Array(packr.pack(value));
}

/** Reads exactly one frame (its length, then its payload), decoded. */
async function readFrame(conn: Deno.TcpConn): Promise<unknown> {
  const exactly = async (n: number) => {
    const buf = new Uint8Array(n);
    for (let got = 0; got < n;) {
      const r = await conn.read(buf.subarray(got));
      if (r === null) throw new Error("the server closed before a whole frame");
      got += r;
    }
    return buf;
  };
  const len = new DataView((await exactly(4)).buffer).getUint32(0);
  return unpackr.unpack(await exactly(len));
}

/** Reads until the server closes the socket; the frames it sent, decoded. */
async function untilClosed(conn: Deno.TcpConn): Promise<unknown[]> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
  } catch {
    // reset: closed all the same
  } finally {
    conn.close();
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  const frames: unknown[] = [];
  for (let at = 0; at + 4 <= all.length;) {
    const len = new DataView(all.buffer, at).getUint32(0);
    frames.push(unpackr.unpack(all.subarray(at + 4, at + 4 + len)));
    at += 4 + len;
  }
  return frames;
}

clusterTest(
  "tcp: bad input closes only that connection, with a logged reason",
  async (t) => {
    const [sched, address] = await scheduler([
      "--token-file",
      tokenFile,
      "--handshake-timeout",
      "500",
      "--heartbeat-timeout",
      "2000",
    ]);
    const w = await worker(address, [
      "--token-file",
      tokenFile,
      "--heartbeat-interval",
      "100",
    ]);
    const { port } = parseAddress(address);
    /** A raw socket to the scheduler. */
    const raw = async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.setNoDelay(true);
      return conn;
    };
    /** A client hello (fields in `extra` replace the defaults). */
    const hello = (extra: Record<string, unknown> = {}) => ({
      op: "hello",
      version: PROTOCOL_VERSION,
      role: "client",
      nonce: "n1",
      ...extra,
    });
    /**
     * Says hello with `extra` and answers the challenge with a proof of
     * `token` (`null`: leaves the challenge unanswered).
     */
    const signIn = (
      extra: Record<string, unknown> = {},
      token: string | null = TOKEN,
    ) =>
    async (conn: Deno.TcpConn) => {
      const msg = hello(extra);
      await conn.write(frame([msg]));
      const [challenge] = await readFrame(conn) as Challenge[];
      assert.equal(challenge.op, "challenge");
      if (token === null) return;
      const proof = proofOf(
        token,
        { side: "client", role: msg.role as string },
        challenge.nonce,
        msg.nonce,
      );
      await conn.write(frame([{ op: "proof", proof }]));
    };
    // A task that would kill the only worker if it ever ran.
    const evil = {
      op: "submit",
      tasks: [{
        key: "evil-1",
        fn: "m:evil",
        fnRef: { kind: "module", url: TASKS.href, name: "killMyWorker" },
        args: bytes([]),
        deps: [],
      }],
    };
    try {
      await using good = await Client.connect(`${address}?token=${TOKEN}`);
      const kept = good.submit(inc, 41);
      assert.equal(await kept.result(), 42);
      let n = 0;
      /** Sends `writes` on a fresh socket, expects the server to close it and log `log`. */
      const dropped = async (
        writes: Uint8Array[],
        log: RegExp,
        end = false,
        prelude?: (conn: Deno.TcpConn) => Promise<void>,
      ): Promise<unknown[]> => {
        const from = sched.stderr.lines.length;
        const conn = await raw();
        await prelude?.(conn);
        for (const w of writes) await conn.write(w);
        if (end) await conn.closeWrite();
        const frames = await untilClosed(conn);
        // The scheduler's next log line is about this connection.
        const line = await sched.stderr.waitFor(
          /^tendril: (closing connection|refusing connection|removing worker)/,
          from,
        );
        assert.match(line, log);
        // ...and the scheduler still serves a well-behaved client.
        const i = ++n;
        assert.equal(await good.submit(inc, i).result(), i + 1);
        return frames;
      };

      await t.step("garbage bytes", async () => {
        await dropped(
          [new TextEncoder().encode("garbage, not a frame\r\n")],
          /closing connection to 127\.0\.0\.1:\d+: frame of 1734439522 bytes exceeds the 16384-byte limit before authentication/,
        );
      });
      await t.step("an HTTP request gets an HTTP answer", async () => {
        const from = sched.stderr.lines.length;
        const conn = await raw();
        await conn.write(
          new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        );
        const answer = new TextDecoder().decode(
          await new Response(conn.readable).arrayBuffer(),
        );
        assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
        assert.match(answer, /Tendril scheduler protocol port/);
        await sched.stderr.waitFor(
          /sent an HTTP request \("GET \/ HTTP\/1\.1"\)/,
          from,
        );
        assert.equal(await good.submit(inc, 100).result(), 101);
      });
      await t.step("an oversized length prefix", async () => {
        await dropped(
          [new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x90])],
          /frame of 4294967295 bytes exceeds the 16384-byte limit before authentication/,
        );
      });
      await t.step("a truncated frame", async () => {
        await dropped(
          [frame([hello()]).subarray(0, 10)],
          /truncated frame: the connection ended after 6 of \d+ bytes/,
          true,
        );
      });
      await t.step("bytes that are not msgpack", async () => {
        await dropped(
          [new Uint8Array([0, 0, 0, 2, 0x93, 0x01])],
          /frame is not valid msgpack/,
        );
      });
      await t.step("a frame that is not a batch", async () => {
        await dropped(
          [frame({ op: "hello" })],
          /frame is not a batch \(array\) but a map/,
        );
      });
      await t.step("an unknown op before the hello", async () => {
        const frames = await dropped(
          [frame([{ op: "launch-missiles" }])],
          /refusing connection from .*: expected a hello first, got operation "launch-missiles"/,
        );
        assert.deepEqual(frames[0], [{
          op: "refused",
          reason: 'expected a hello first, got operation "launch-missiles"',
        }]);
      });
      await t.step("a submit without a hello is never run", async () => {
        await dropped(
          [frame([evil])],
          /expected a hello first, got operation "submit"/,
        );
        await dropped(
          [frame([hello(), evil])],
          /nothing may follow the hello before the welcome/,
        );
      });
      await t.step("a wrong token, a missing token", async () => {
        const wrong = await dropped(
          [],
          /: wrong token/,
          false,
          signIn({}, "guess"),
        );
        assert.deepEqual(wrong[0], [{ op: "refused", reason: "wrong token" }]);
        assert.deepEqual(wrong[1], { close: "wrong token" });
        await dropped(
          [frame([{ op: "want", keys: [] }])],
          /: expected a proof, got operation "want"/,
          false,
          signIn({}, null),
        );
        await dropped(
          [],
          /: wrong token/,
          false,
          signIn({
            role: "worker",
            id: "evil",
            slots: 1,
            address: "tcp://127.0.0.1:9",
          }, "guess"),
        );
      });
      await t.step("another protocol version", async () => {
        await dropped(
          [frame([hello({ version: 999 })])],
          /protocol version 999 is not supported \(this side speaks version \d+\)/,
        );
      });
      await t.step("an unknown op after the hello", async () => {
        const frames = await dropped(
          [frame([{ op: "launch-missiles", target: "moon" }])],
          /closing connection to .*: unknown operation "launch-missiles"/,
          false,
          signIn(),
        );
        assert.equal((frames[0] as { op: string }[])[0].op, "welcome");
        assert.match(
          (frames[1] as { close: string }).close,
          /unknown operation "launch-missiles"/,
        );
      });
      await t.step("wrong field types", async () => {
        await dropped(
          [frame([{ op: "want", keys: ["a", 7] }])],
          /bad "want" message: field keys\[1\] must be a string, got a number/,
          false,
          signIn(),
        );
        await dropped(
          [frame([{ ...evil, tasks: [{ ...evil.tasks[0], args: 42 }] }])],
          /bad "submit" message: field tasks\[0\]\.args must be bytes, got a number/,
          false,
          signIn(),
        );
        await dropped(
          [frame([{ op: "task-finished", key: "k", nbytes: 1 }])],
          /operation "task-finished" is for workers, not clients/,
          false,
          signIn(),
        );
      });
      await t.step("a peer that connects and stalls", async () => {
        await dropped(
          [],
          /refusing connection from .*: no hello within 500 ms/,
        );
      });
      await t.step(
        "a worker that stops sending heartbeats is removed",
        async () => {
          await dropped(
            [],
            /removing worker silent sent nothing for \d+ ms \(heartbeat timeout 2000 ms\)/,
            false,
            signIn({
              role: "worker",
              id: "silent",
              slots: 1,
              address: "tcp://127.0.0.1:9",
            }),
          );
        },
      );
      await t.step("no other client lost anything", async () => {
        assert.equal(await kept.result(), 42);
        assert.equal(await good.submit(fib, 10).result(), 55);
        assert.equal(
          w.process.pid > 0 && alive(w.process.pid),
          true,
          "the worker ran nothing evil",
        );
      });
    } finally {
      await stopAll([w, sched]);
    }
  },
);

// ---- tokens and TLS -----------------------------------------------------------------

clusterTest(
  "tcp: tokens are refused or accepted; off loopback one is required",
  async () => {
    const [sched, address] = await scheduler(["--token-file", tokenFile]);
    const w = await worker(address, ["--token-file", tokenFile]);
    try {
      await assert.rejects(
        () => Client.connect(address),
        /requires a token \(add \?token=\.\.\. to the address/,
      );
      await assert.rejects(
        () => Client.connect(`${address}?token=guess`),
        /could not prove it knows the token: .* or its token differs/,
      );
      {
        await using client = await Client.connect(`${address}?token=${TOKEN}`);
        assert.equal(await client.submit(inc, 1).result(), 2);
      }
      Deno.env.set("TENDRIL_TOKEN", TOKEN);
      try {
        await using client = await Client.connect(address);
        assert.equal(await client.submit(inc, 2).result(), 3);
      } finally {
        Deno.env.delete("TENDRIL_TOKEN");
      }
      // A worker without the token is refused too.
      const intruder = runCli("worker", [address], "intruder");
      const status = await intruder.status;
      await intruder.stop();
      assert.equal(status.code, 1);
      await intruder.stderr.waitFor(/requires a token/);
    } finally {
      await stopAll([w, sched]);
    }
    const open = runCli("scheduler", ["--host", "0.0.0.0", "--port", "0"]);
    const status = await open.status;
    await open.stop();
    assert.equal(status.code, 1);
    await open.stderr.waitFor(
      /refusing to listen on 0\.0\.0\.0 without a token/,
    );
  },
);

clusterTest("tls: a round trip with a generated certificate", async () => {
  const cert = await makeCertificate();
  const [sched, address] = await scheduler([
    "--tls-cert",
    cert.certFile,
    "--tls-key",
    cert.keyFile,
  ]);
  const w = await worker(address, [
    "--tls-ca",
    cert.certFile,
    "--tls-cert",
    cert.certFile,
    "--tls-key",
    cert.keyFile,
  ]);
  try {
    assert.match(address, /^tls:\/\/127\.0\.0\.1:\d+$/);
    await assert.rejects(() => Client.connect(address), /TLS handshake/);
    await using client = await Client.connect(`${address}?ca=${cert.certFile}`);
    assert.equal(await client.submit(inc, 1).result(), 2);
    const values = await client.submit(big, 50_000).result(); // fetched from the worker over TLS
    assert.equal(values.length, 50_000);
    assert.equal(await client.submit(fib, 10).result(), 55);
  } finally {
    await stopAll([w, sched]);
    await Deno.remove(cert.dir, { recursive: true });
  }
});

clusterTest(
  "tls: mutual TLS on every port: a peer without a trusted certificate is refused",
  async () => {
    // One self-signed certificate plays every part: the scheduler's and the
    // worker's own, the CA they trust, and the client's certificate.
    const cert = await makeCertificate();
    const tls = ["--tls-cert", cert.certFile, "--tls-key", cert.keyFile];
    const [sched, address] = await scheduler([
      ...tls,
      "--tls-client-ca",
      cert.certFile,
    ]);
    const w = await worker(address, [
      "--tls-ca",
      cert.certFile,
      ...tls,
      "--tls-client-ca",
      cert.certFile,
    ]);
    try {
      await assert.rejects(
        () => Client.connect(`${address}?ca=${cert.certFile}`),
        /TLS handshake|closed the connection during the handshake/,
      );
      await using client = await Client.connect(
        `${address}?ca=${cert.certFile}&cert=${cert.certFile}&key=${cert.keyFile}`,
      );
      assert.equal(await client.submit(inc, 1).result(), 2);
      // fetched from the worker's data port, which asks for a certificate too
      const values = await client.submit(big, 50_000).result();
      assert.equal(values.length, 50_000);
    } finally {
      await stopAll([w, sched]);
      await Deno.remove(cert.dir, { recursive: true });
    }
  },
);

clusterTest(
  "tcp: a lost scheduler fails pending futures with SchedulerLostError; workers dial a restarted one",
  async () => {
    let [sched, address] = await scheduler();
    const w = await worker(address);
    const { port } = parseAddress(address);
    try {
      {
        await using client = await Client.connect(address);
        assert.equal(await client.submit(inc, 1).result(), 2);
        const pending = client.submit(holdUntilCancelled);
        const from = w.stderr.lines.length;
        await sched.stop("SIGKILL");
        const error = await pending.exception<SchedulerLostError>();
        assert.ok(error instanceof SchedulerLostError, String(error));
        assert.equal(error.address, address);
        assert.equal(error.vanished, true, error.message);
        assert.match(error.message, /vanished/);
        // The worker survives, and dials again.
        await w.stderr.waitFor(/lost the scheduler.*dialling again/, from);
      }
      [sched, address] = await scheduler(["--port", String(port)]);
      await w.stdout.waitFor(/^tendril worker /, 1);
      {
        await using client = await Client.connect(address);
        assert.equal(await client.submit(inc, 2).result(), 3);
        const pending = client.submit(holdUntilCancelled);
        // A scheduler that shuts down says goodbye: closed, not vanished.
        await sched.stop("SIGTERM");
        const error = await pending.exception<SchedulerLostError>();
        assert.ok(error instanceof SchedulerLostError, String(error));
        assert.equal(error.vanished, false, error.message);
      }
    } finally {
      await stopAll([w, sched]);
    }
  },
);

clusterTest(
  "tcp: a frozen scheduler (SIGSTOP) is detected by its clients",
  async () => {
    const [sched, address] = await scheduler();
    const w = await worker(address);
    try {
      await using client = await Client.connect(
        `${address}?silence-timeout=1000`,
      );
      assert.equal(await client.submit(inc, 1).result(), 2);
      const pending = client.submit(holdUntilCancelled);
      sched.process.kill("SIGSTOP");
      const error = await pending.exception<SchedulerLostError>();
      assert.ok(error instanceof SchedulerLostError, String(error));
      assert.equal(error.vanished, true);
      assert.match(error.message, /no message from it for \d+ ms/);
    } finally {
      sched.process.kill("SIGCONT");
      await stopAll([w, sched]);
    }
  },
);

clusterTest(
  "tcp: a long synchronous task does not get its worker declared dead; a frozen worker is",
  async () => {
    const [sched, address] = await scheduler(["--heartbeat-timeout", "1500"]);
    const a = await worker(address);
    try {
      await using client = await Client.connect(address);
      // Four times the heartbeat timeout on the worker's main thread.
      assert.equal(await client.submit(busyFor, 6000).result(), 6000);
      assert.ok(
        !sched.stderr.lines.some((l) => /removing worker/.test(l)),
        "no worker was removed",
      );
      // A frozen worker falls silent, heartbeat thread and all: it is
      // removed, and work goes on on the other worker.
      const b = await worker(address);
      try {
        const id = /^tendril worker (\S+) /.exec(a.stdout.lines[0])![1];
        a.process.kill("SIGSTOP");
        await sched.stderr.waitFor(
          new RegExp(`removing worker ${id} sent nothing for \\d+ ms`),
        );
        assert.equal(await client.submit(inc, 1).result(), 2);
      } finally {
        a.process.kill("SIGCONT");
        await b.stop();
      }
    } finally {
      await stopAll([a, sched]);
    }
  },
);

// ---- worker loss ------------------------------------------------------------------------

clusterTest(
  "cluster: kill -9 of a worker mid fib(18); a task that kills its worker errs",
  async (t) => {
    const launcher = runCli("cluster", [
      "--workers",
      "2",
      "--slots",
      "1",
      "--port",
      "0",
    ]);
    await withoutOrphans(launcher, async () => {
      const address = await launcher.stdout.waitFor(/^tcp:\/\//);
      await using client = await Client.connect(address);

      await t.step("fib(18) survives losing a worker", async () => {
        const from = launcher.stdout.lines.length;
        const result = client.submit(fib, 18, 10).result();
        // The first fib(10) task prints its worker's pid: kill that worker then.
        const line = await launcher.stdout.waitFor(
          /^tendril-test fib\(10\) in pid \d+/,
          from,
        );
        const victim = Number(line.match(/pid (\d+)/)![1]);
        const seen = launcher.stderr.lines.length;
        Deno.kill(victim, "SIGKILL");
        // The scheduler noticed mid-run: the dead worker was processing tasks.
        const left = await launcher.stderr.waitFor(
          /^tendril: worker \S+ left/,
          seen,
        );
        const running = Number(
          left.match(/rescheduling its (\d+) processing tasks/)![1],
        );
        assert.ok(running > 0, left);
        assert.equal(await result, 2584);
        await launcher.stderr.waitFor(
          new RegExp(`worker pid ${victim} exited \\(SIGKILL\\); restarting`),
        );
      });

      await t.step(
        "a task that kills its worker every time ends in KilledWorkerError",
        async () => {
          const error = await client.submit(killMyWorker).result().then(
            () => assert.fail("it cannot succeed"),
            (e: Error) => e,
          );
          assert.ok(error instanceof KilledWorkerError);
          assert.equal(error.name, "KilledWorkerError");
          assert.match(error.message, /was running on 4 workers that died/);
          // and the (restarted) cluster still works
          assert.equal(await client.submit(fib, 10).result(), 55);
        },
      );
    });
  },
);

addEventListener("unload", () => {
  try {
    Deno.removeSync(tokenFile);
  } catch {
    // already gone
  }
});
