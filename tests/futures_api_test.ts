// The futures API a Dask user expects (timeouts and signals on result and
// gather, wait with a count, asCompleted with add and results, map over
// several iterables, cancel and retry of structures, futures returned by
// tasks), through the public surface: each case runs on an in-process
// LocalCluster and on a scheduler with two worker processes over TCP.
import assert from "node:assert/strict";
import { clusterTest } from "./fixtures/bounded.ts";
import {
  CancelledError,
  Client,
  Future,
  LocalCluster,
  registerModule,
  TimeoutError,
} from "../mod.ts";
import { inc } from "./fixtures/tasks.ts";
import {
  failUntilFile,
  firstCompletedInTask,
  pendingUntilCancelled,
  returnsAFuture,
  timeoutInTask,
} from "./fixtures/futures_tasks.ts";
import { tcpCluster } from "./fixtures/processes.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));
await registerModule(new URL("./fixtures/futures_tasks.ts", import.meta.url));

type Case = [name: string, body: (client: Client) => Promise<void>];

const add = (x: number, y: number) => x + y;

const CASES: Case[] = [
  [
    "result and gather reject with TimeoutError, and a signal's reason",
    async (client) => {
      const never = client.submit(pendingUntilCancelled);
      const e = await never.result({ timeout: 5 }).catch((e) => e);
      assert.ok(e instanceof TimeoutError, String(e));
      assert.equal(e.ms, 5);
      assert.match(
        e.message,
        /result\(\) of pendingUntilCancelled-.* timed out/,
      );
      await assert.rejects(
        client.gather({ a: [never] }, { timeout: 5 }),
        TimeoutError,
      );
      await assert.rejects(never.exception({ timeout: 5 }), TimeoutError);
      const stop = new AbortController();
      const waiting = client.gather([never], { signal: stop.signal });
      stop.abort(new RangeError("stop"));
      await assert.rejects(waiting, RangeError);
      await assert.rejects(
        never.result({ signal: AbortSignal.abort(new Error("already")) }),
        /already/,
      );
      assert.equal(
        never.status,
        "pending",
        "a bounded wait leaves the task alone",
      );
      // A value at hand is returned whatever the bound.
      const one = client.submit(inc, 0);
      assert.equal(await one.result(), 1);
      assert.equal(await one.result({ timeout: 0 }), 1);
      assert.deepEqual(await client.gather([one], { timeout: 0 }), [1]);
      await never.cancel();
    },
  ],
  [
    "a timed-out wait inside a task gives the slot back and the task goes on",
    async (client) => {
      assert.deepEqual(await client.submit(timeoutInTask).result(), [
        "TimeoutError",
        2,
      ]);
    },
  ],
  [
    "wait: FIRST_COMPLETED, a count, ALL_COMPLETED, and a timeout",
    async (client) => {
      const never = client.submit(pendingUntilCancelled);
      const quick = client.map(inc, [1, 2]);
      const first = await client.wait([never, ...quick], {
        returnWhen: "FIRST_COMPLETED",
      });
      assert.ok(first.done.length >= 1 && first.notDone.includes(never));
      const two = await client.wait([never, ...quick], { returnWhen: 2 });
      assert.deepEqual(new Set(two.done), new Set(quick));
      assert.deepEqual(two.notDone, [never]);
      await assert.rejects(
        client.wait([never, ...quick], { returnWhen: 3, timeout: 5 }),
        TimeoutError,
      );
      await assert.rejects(
        client.wait(quick, { returnWhen: 3 }),
        /count in \[0, 2\], got 3/,
      );
      const none = await client.wait([never], { returnWhen: 0 });
      assert.deepEqual(none.notDone, [never]);
      await never.cancel();
      const all = await client.wait([never, ...quick]);
      assert.equal(all.done.length, 3);
      assert.equal(never.status, "cancelled");
    },
  ],
  [
    "asCompleted: completion order, add while iterating, withResults",
    async (client) => {
      const never = client.submit(pendingUntilCancelled);
      const fast = client.submit(inc, 1);
      const seq = client.asCompleted([never, fast]);
      assert.equal(seq.count, 2);
      const order: string[] = [];
      let added: Future<number> | undefined;
      for await (const f of seq) {
        order.push(f === never ? "never" : f === fast ? "fast" : "added");
        if (f === fast) seq.add(added = client.submit(inc, 10));
        if (f === added) await never.cancel(); // only now can `never` end
      }
      assert.deepEqual(order, ["fast", "added", "never"]);
      assert.ok(seq.isEmpty());
      const pairs: [Future<number>, number][] = [];
      for await (
        const pair of client.asCompleted(client.map(inc, [1, 2, 3]), {
          withResults: true,
        })
      ) pairs.push(pair);
      assert.deepEqual(pairs.map(([, v]) => v).sort(), [2, 3, 4]);
      for (const [f, v] of pairs) assert.equal(await f.result(), v);
      const erred = client.submit(failUntilFile, "/nonexistent/never");
      await assert.rejects(
        (async () => {
          for await (
            const _ of client.asCompleted([erred], { withResults: true })
          ) {
            // unreachable: the only future erred
          }
        })(),
        /no file at \/nonexistent\/never/,
      );
      assert.equal(await client.submit(firstCompletedInTask).result(), 2);
    },
  ],
  ["map over several iterables, typed, of one length", async (client) => {
    const sums = client.map(add, [1, 2, 3], new Set([10, 20, 30]));
    const typed: Future<number>[] = sums;
    assert.deepEqual(await client.gather(typed), [11, 22, 33]);
    const chained = client.map(add, sums, [100, 200, 300]);
    assert.deepEqual(await client.gather(chained), [111, 222, 333]);
    assert.throws(() => client.map(add, [1, 2], [1]), /lengths 2, 1/);
    assert.deepEqual(await client.gather(client.map(inc, [])), []);
    const keyed = client.with({ key: "pairs" }).map(add, [1, 2], [3, 4]);
    assert.deepEqual(keyed.map((f) => f.key), ["pairs-0", "pairs-1"]);
  }],
  [
    "cancel a structure; retry erred futures with what they failed from",
    async (client) => {
      const a = client.submit(pendingUntilCancelled);
      const b = client.submit(pendingUntilCancelled);
      await client.cancel({ x: [a], y: { z: b }, other: 1 });
      assert.equal(a.status, "cancelled");
      assert.equal(b.status, "cancelled");
      await assert.rejects(a.result(), CancelledError);
      const path = await Deno.makeTempFile({ prefix: "tendril-retry-" });
      await Deno.remove(path);
      try {
        const root = client.submit(failUntilFile, path);
        const child = client.submit((s: string) => `got ${s}`, root);
        const fine = client.submit(inc, 1);
        await assert.rejects(child.result(), /no file at/);
        await assert.rejects(root.result(), /no file at/);
        await Deno.writeTextFile(path, "it");
        assert.equal(await fine.result(), 2);
        client.retry({ c: child, f: fine });
        assert.equal(child.status, "pending");
        assert.equal(
          fine.status,
          "finished",
          "a finished future is left alone",
        );
        assert.equal(root.status, "error", "only the futures asked for reset");
        assert.equal(await child.result(), "got it");
        // The root ran again too, and its holder heard.
        assert.equal(await root.result(), "it");
        client.retry(root); // not erred any more: nothing to do
        assert.equal(root.status, "finished");
      } finally {
        await Deno.remove(path).catch(() => {});
      }
    },
  ],
  [
    "await on a future gives the future: tasks can return futures",
    async (client) => {
      const f = client.submit(returnsAFuture, 41);
      // Future is deliberately not thenable (see README): awaiting it is a no-op.
      assert.equal(await (f as unknown as Promise<unknown>), f);
      const inner = await f.result();
      assert.ok(inner instanceof Future, "a returned future stays a future");
      assert.equal(await inner.result(), 42);
    },
  ],
];

clusterTest("futures API on an in-process cluster", async (t) => {
  await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
  await using client = await Client.connect(cluster);
  for (const [name, body] of CASES) await t.step(name, () => body(client));
});

clusterTest("futures API over tcp, two worker processes", async (t) => {
  await using cluster = await tcpCluster(["w1", "w2"], {
    workerArgs: ["--slots", "1"],
  });
  await using client = await Client.connect(cluster.address);
  for (const [name, body] of CASES) await t.step(name, () => body(client));
});
