// The futures API through the public surface, on a LocalCluster.
import assert from "node:assert/strict";
import { clusterTest } from "./fixtures/bounded.ts";
import {
  CancelledError,
  Client,
  type Future,
  getClient,
  LocalCluster,
  registerModule,
  SerializationError,
  ShippingError,
} from "../mod.ts";
import * as tasks from "./fixtures/tasks.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

async function withCluster(
  options: { workers: number; slots: number; saturation?: number },
  fn: (client: Client, cluster: LocalCluster) => Promise<void>,
) {
  await using cluster = await LocalCluster.start(options);
  await using client = await Client.connect(cluster);
  await fn(client, cluster);
}

const inc = (x: number) => x + 1;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

clusterTest("submit, result, status, key", async () => {
  await withCluster({ workers: 2, slots: 1 }, async (client) => {
    const f = client.submit(inc, 1);
    assert.equal(f.status, "pending");
    assert.match(f.key, /^inc-/);
    assert.equal(await f.result(), 2);
    assert.equal(f.status, "finished");
    assert.ok(f.done());
    assert.equal(await f.exception(), undefined);
  });
});

clusterTest(
  "futures as arguments, nested in arrays and objects; gather keeps shape",
  async () => {
    await withCluster({ workers: 2, slots: 1 }, async (client) => {
      const futures = client.map(inc, [1, 2, 3]);
      const total = client.submit(sum, futures);
      const nested = client.submit(
        (o: { a: number; b: number[]; c: { d: number } }) =>
          o.a + o.b[0] + o.b[1] + o.c.d,
        { a: futures[0], b: [futures[1], 10], c: { d: futures[2] } },
      );
      assert.equal(await total.result(), 9);
      assert.equal(await nested.result(), 2 + 13 + 4);
      assert.deepEqual(
        await client.gather({
          x: futures[0],
          y: [futures[1], { z: futures[2] }],
          k: "kept",
        }),
        {
          x: 2,
          y: [3, { z: 4 }],
          k: "kept",
        },
      );
    });
  },
);

clusterTest(
  "seed option 1 and 2: gather locally, remote len + getitem split",
  async () => {
    await withCluster({ workers: 2, slots: 1 }, async (client) => {
      const data = client.submit(
        (n: number) => Array.from({ length: n }, (_, i) => i * i),
        6,
      );
      // Option 1: bring the (small) data back and submit from here.
      const local = await data.result();
      const processed = client.map(inc, local);
      assert.equal(await client.submit(sum, processed).result(), 55 + 6);
      // Option 2: only the length comes back; data stays a future.
      const n = await client.submit((xs: number[]) => xs.length, data).result();
      const parts = Array.from(
        { length: n },
        (_, i) => client.submit((xs: number[], j: number) => xs[j], data, i),
      );
      const again = parts.map((p) => client.submit(inc, p));
      assert.equal(await client.submit(sum, again).result(), 55 + 6);
    });
  },
);

clusterTest(
  "large results stay on their worker and are fetched on demand",
  async () => {
    await withCluster({ workers: 2, slots: 1 }, async (client, cluster) => {
      const big = client.submit(
        (n: number) => new Float64Array(n).fill(1.5),
        200_000,
      );
      const len = client.submit((a: Float64Array) => a.length, big);
      const got = await big.result();
      assert.ok(got instanceof Float64Array);
      assert.equal(got.length, 200_000);
      assert.equal(got[199_999], 1.5);
      assert.equal(await len.result(), 200_000);
      const ts = cluster.scheduler.state.tasks.get(big.key)!;
      assert.equal(ts.value, null, "not inlined at the scheduler");
    });
  },
);

clusterTest(
  "pure submissions with identical arguments share one task",
  async () => {
    await withCluster({ workers: 1, slots: 1 }, async (client, cluster) => {
      const pure = client.with({ pure: true });
      const a = pure.submit(inc, 41);
      const b = pure.submit(inc, 41);
      const c = pure.submit(inc, 1);
      assert.equal(a.key, b.key);
      assert.notEqual(a.key, c.key);
      assert.equal(await b.result(), 42);
      const impure = [client.submit(inc, 41), client.submit(inc, 41)];
      assert.notEqual(impure[0].key, impure[1].key, "not pure by default");
      await client.gather(impure);
      assert.equal(
        [...cluster.scheduler.state.tasks.keys()].filter((k) => k === a.key)
          .length,
        1,
      );
    });
  },
);

clusterTest("explicit keys and priorities", async () => {
  await withCluster({ workers: 1, slots: 1, saturation: 1 }, async (client) => {
    const f = client.with({ key: "my-key", priority: 3 }).submit(inc, 1);
    assert.equal(f.key, "my-key");
    const keys = client.with({ key: "row" }).map(inc, [1, 2]).map((x) => x.key);
    assert.deepEqual(keys, ["row-0", "row-1"]);
    assert.equal(await f.result(), 2);
  });
});

clusterTest("retries rerun a failing task", async () => {
  await withCluster({ workers: 1, slots: 1 }, async (client) => {
    const flaky = (ok: number) => {
      const g = globalThis as unknown as { attempts?: number };
      g.attempts = (g.attempts ?? 0) + 1;
      if (g.attempts < ok) throw new Error(`attempt ${g.attempts}`);
      return g.attempts;
    };
    assert.equal(
      await client.with({ retries: 2 }).submit(flaky, 3).result(),
      3,
    );
    await assert.rejects(
      client.with({ retries: 1 }).submit(flaky, 100).result(),
      /attempt 5/,
    );
  });
});

clusterTest(
  "a task's error rethrows with its name, message and remote stack",
  async () => {
    await withCluster({ workers: 1, slots: 1 }, async (client) => {
      function explode(what: string): never {
        throw new TypeError(`bad ${what}`);
      }
      const f = client.submit(explode, "input");
      await assert.rejects(f.result(), (e: Error) => {
        assert.equal(e.name, "TypeError");
        assert.equal(e.message, "bad input");
        assert.match(e.stack ?? "", /explode/);
        return true;
      });
      assert.equal(f.status, "error");
      await assert.rejects(
        client.gather([client.submit(inc, 1), f]),
        /bad input/,
      );
      const dependent = client.submit(inc, f);
      await assert.rejects(
        dependent.result(),
        /bad input/,
        "dependents err with the cause",
      );
    });
  },
);

clusterTest("cancelling a queued task", async () => {
  await withCluster(
    { workers: 2, slots: 1, saturation: 1 },
    async (client, cluster) => {
      const [w0, w1] = cluster.workerIds;
      const on0 = client.with({ workers: w0 });
      const blocker = on0.submit(tasks.holdUntilCancelled);
      const queued = on0.submit(inc, 1);
      await client.with({ workers: w1 }).submit(inc, 0).result(); // ordered after both submits
      assert.equal(
        cluster.scheduler.state.tasks.get(queued.key)?.status,
        "queued",
      );
      await queued.cancel();
      assert.equal(queued.status, "cancelled");
      await assert.rejects(queued.result(), CancelledError);
      assert.ok(!cluster.scheduler.state.tasks.has(queued.key));
      await blocker.cancel();
      await assert.rejects(
        blocker.result(),
        (e: Error) => e.name === "CancelledError",
      );
    },
  );
});

clusterTest(
  "released results are forgotten: held keys go back to zero",
  async () => {
    await withCluster({ workers: 2, slots: 1 }, async (client, cluster) => {
      const fs = client.map(inc, Array.from({ length: 100 }, (_, i) => i));
      await client.gather(fs);
      assert.equal(cluster.scheduler.state.heldKeys, 100);
      for (const f of fs) f.release();
      // Cancelling a probe is a round trip ordered after the releases, and
      // leaves nothing held itself.
      await client.submit(inc, 0).cancel();
      assert.equal(cluster.scheduler.state.heldKeys, 0);
      assert.equal(cluster.scheduler.state.tasks.size, 0);
    });
  },
);

clusterTest("wait and asCompleted", async () => {
  await withCluster({ workers: 2, slots: 1 }, async (client) => {
    const fs = client.map(inc, [1, 2, 3, 4]);
    const { done, notDone } = await client.wait(fs);
    assert.equal(done.length, 4);
    assert.equal(notDone.length, 0);
    const more = client.map(inc, [10, 20, 30]);
    const seen: number[] = [];
    for await (const f of client.asCompleted(more)) seen.push(await f.result());
    assert.deepEqual(seen.sort((a, b) => a - b), [11, 21, 31]);
    const first = await client.wait([client.submit(inc, 1)], {
      returnWhen: "FIRST_COMPLETED",
    });
    assert.equal(first.done.length, 1);
  });
});

clusterTest(
  "an unserializable argument fails at submit, naming its type and the task",
  async () => {
    await withCluster({ workers: 1, slots: 1 }, async (client) => {
      assert.throws(
        () => client.submit((x: unknown) => x, { cb: () => 1 }),
        (e: Error) =>
          e instanceof SerializationError && /function/.test(e.message) &&
          /task/.test(e.message),
      );
      // The client still works afterwards.
      assert.equal(await client.submit(inc, 1).result(), 2);
    });
  },
);

clusterTest("an unserializable result is that task's error", async () => {
  await withCluster({ workers: 1, slots: 1 }, async (client) => {
    const f = client.submit(() => new (class Handle {})());
    await assert.rejects(f.result(), (e: Error) => {
      assert.equal(e.name, "SerializationError");
      assert.match(e.message, /result of task/);
      assert.match(e.message, new RegExp(f.key));
      assert.match(e.message, /class Handle/);
      return true;
    });
  });
});

clusterTest(
  "a closure that cannot ship is a ShippingError naming the variable",
  async () => {
    await withCluster({ workers: 1, slots: 1 }, (client) => {
      const threshold = 3;
      assert.throws(
        () => client.submit((x: number) => x > threshold, 5),
        (e: Error) =>
          e instanceof ShippingError && /"threshold"/.test(e.message) &&
          /[Ee]xport/.test(e.message),
      );
      return Promise.resolve();
    });
  },
);

clusterTest("a 10,000-task map", async () => {
  await withCluster({ workers: 2, slots: 1 }, async (client) => {
    const n = 10_000;
    const fs = client.map(inc, Array.from({ length: n }, (_, i) => i));
    const values = await client.gather(fs);
    assert.equal(values.length, n);
    assert.equal(values.reduce((a, b) => a + b, 0), (n * (n + 1)) / 2);
  });
});

clusterTest("worker restrictions", async () => {
  await withCluster({ workers: 2, slots: 1 }, async (client, cluster) => {
    const [, w1] = cluster.workerIds;
    const where = await client.gather(
      Array.from(
        { length: 6 },
        () => client.with({ workers: w1 }).submit(tasks.whereAmI),
      ),
    );
    assert.deepEqual(new Set(where), new Set([w1]));
  });
});

clusterTest(
  "getClient outside tasks is the newest client, or a clear error",
  async () => {
    await withCluster({ workers: 1, slots: 1 }, (client) => {
      assert.equal(getClient(), client);
      return Promise.resolve();
    });
    assert.throws(() => getClient(), /no client/);
  },
);

clusterTest("a closed client refuses new work", async () => {
  await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
  const client = await Client.connect(cluster);
  const f: Future<number> = client.submit(inc, 1);
  assert.equal(await f.result(), 2);
  await client.close();
  assert.throws(() => client.submit(inc, 1), /closed/);
});
