/**
 * The network edge under abuse, against a real scheduler process: floods of
 * idle and oversized-prefix connections stay bounded in memory, running out
 * of file descriptors pauses accept instead of spinning, and after each a
 * fresh client is served. RSS figures are printed for the notes; the bound
 * asserted is generous (a regression guard: before the fix, the oversized
 * prefixes alone took the scheduler past 500 MB).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Client, registerModule } from "../mod.ts";
import { parseAddress } from "../runtime/wire/tcp/address.ts";
import { big, inc, total } from "./fixtures/tasks.ts";
import { clusterTest, within } from "./fixtures/bounded.ts";
import { tcpCluster } from "./fixtures/processes.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

/** Resident memory of process `pid`, in bytes (`ps`: /proc needs --allow-all). */
async function rss(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("ps", {
    args: ["-o", "rss=", "-p", String(pid)],
  }).output();
  return Number(new TextDecoder().decode(stdout).trim()) * 1024;
}

/** A fresh client is served: the scheduler survived, and lets peers in. */
async function served(address: string): Promise<void> {
  await using client = await Client.connect(address);
  assert.equal(
    await within("a fresh client", client.submit(inc, 1).result()),
    2,
  );
}

/** Opens `n` raw sockets to `address`, writing `bytes` on each. */
async function open(
  address: string,
  n: number,
  bytes?: Uint8Array,
): Promise<Deno.TcpConn[]> {
  const { hostname, port } = parseAddress(address);
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i++) {
    const conn = await Deno.connect({ hostname, port });
    if (bytes) await conn.write(bytes).catch(() => 0);
    conns.push(conn);
  }
  return conns;
}

function closeAll(conns: Deno.TcpConn[]): void {
  for (const c of conns) {
    try {
      c.close();
    } catch {
      // closed by the server already
    }
  }
}

clusterTest(
  "1,000 idle and 8 oversized-prefix connections: memory stays bounded, a client is served",
  async () => {
    await using cluster = await tcpCluster(["w1"]);
    const { address, scheduler } = cluster;
    const conns: Deno.TcpConn[] = [];
    try {
      await served(address);
      const before = await rss(scheduler.pid);
      // Each announces a 64 MiB frame and sends 1 KiB of it.
      const prefix = new Uint8Array(4 + 1024);
      new DataView(prefix.buffer).setUint32(0, 64 * 1024 * 1024 - 1);
      const from = scheduler.stderr.lines.length;
      conns.push(...await open(address, 8, prefix));
      await scheduler.stderr.waitFor(
        /exceeds the 16384-byte limit before authentication/,
        from,
      );
      conns.push(...await open(address, 1000));
      await served(address);
      const after = await rss(scheduler.pid);
      console.log(
        `scheduler RSS: ${(before / 2 ** 20).toFixed(0)} MB before, ${
          (after / 2 ** 20).toFixed(0)
        } MB with 1,000 idle and 8 oversized-prefix connections`,
      );
      assert.ok(
        after - before < 128 * 2 ** 20,
        `the scheduler grew by ${((after - before) / 2 ** 20).toFixed(0)} MB`,
      );
      await scheduler.stderr.waitFor(
        /have not authenticated; closed the oldest/,
      );
    } finally {
      closeAll(conns);
    }
  },
);

clusterTest(
  "out of file descriptors: accept pauses instead of spinning, then serves again",
  async () => {
    // Room for the scheduler's own descriptors and a few sockets only.
    await using cluster = await tcpCluster(["w1"], {
      schedulerArgs: ["--handshake-timeout", "300"],
      schedulerPrefix: ["prlimit", "--nofile=64:64"],
    });
    const { address, scheduler } = cluster;
    const conns: Deno.TcpConn[] = [];
    try {
      conns.push(...await open(address, 100));
      await scheduler.stderr.waitFor(/accept on .* failed: .*pausing accept/);
      closeAll(conns);
      await served(address);
      await scheduler.stderr.waitFor(/accept on .* works again/);
      const failures = scheduler.stderr.lines.filter((l) =>
        /accept on .* failed/.test(l)
      );
      // One line per episode; before, ~29,000 lines a second.
      assert.ok(
        failures.length <= 10,
        `${failures.length} accept failures logged`,
      );
    } finally {
      closeAll(conns);
    }
  },
);

clusterTest(
  "values over the frame limit travel in frames: a 70 MB argument, result and worker-to-worker transfer",
  async () => {
    await using cluster = await tcpCluster();
    await using client = await Client.connect(cluster.address);
    const n = 70e6 / 8; // 70 MB of float64
    // A result bigger than a frame, made on one worker, consumed on the other.
    const made = client.with({ workers: ["w1"] }).submit(big, n);
    const summed = client.with({ workers: ["w2"] }).submit(total, made);
    assert.equal(await within("the sum", summed.result()), (n * (n - 1)) / 2);
    // ...gathered by the client...
    const value = await within("the gather", made.result());
    assert.equal(value.length, n);
    // ...and an argument bigger than a frame, sent by the client.
    assert.equal(
      await within(
        "the argument's sum",
        client.submit(total, value).result(),
      ),
      (n * (n - 1)) / 2,
    );
  },
);
