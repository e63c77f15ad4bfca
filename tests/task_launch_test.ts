// Tasks that launch tasks, through the public API on a LocalCluster.
import assert from "node:assert/strict";
import { clusterTest } from "./fixtures/bounded.ts";
import {
  Client,
  compute,
  DeadlockError,
  delayed,
  getClient,
  LocalCluster,
  registerModule,
  rejoin,
  secede,
  workerClient,
} from "../mod.ts";
import * as tasks from "./fixtures/tasks.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

async function withCluster(
  options: { workers: number; slots: number },
  fn: (client: Client, cluster: LocalCluster) => Promise<void>,
) {
  await using cluster = await LocalCluster.start(options);
  await using client = await Client.connect(cluster);
  await fn(client, cluster);
}

for (const shape of [{ workers: 1, slots: 1 }, { workers: 2, slots: 2 }]) {
  const label = `${shape.workers}x${shape.slots}`;
  clusterTest(`fib three ways by module reference on ${label}`, async () => {
    await withCluster(shape, async (client, cluster) => {
      const roots = [
        client.submit(tasks.fib, 10),
        client.submit(tasks.fibWC, 10),
        client.submit(tasks.fibNoSecede, 10),
      ];
      assert.deepEqual(await client.gather(roots), [55, 55, 55]);
      assert.equal(await tasks.fibD(10).compute(), 55);
      for (const f of roots) f.release();
      // Children went with their parents, roots with their futures: a
      // probe (ordered after the releases) is all the scheduler holds.
      const probe = client.submit(tasks.inc, 0);
      await probe.result();
      assert.equal(cluster.scheduler.state.heldKeys, 1);
      assert.equal(cluster.scheduler.state.tasks.size, 1);
    });
  });
}

// The same three styles, not exported: shipped by source.
async function fibSrc(n: number): Promise<number> {
  if (n < 2) return n;
  const client = getClient();
  const a = client.submit(fibSrc, n - 1);
  const b = client.submit(fibSrc, n - 2);
  secede();
  const [x, y] = await client.gather([a, b]);
  await rejoin();
  return x + y;
}
async function fibWCSrc(n: number): Promise<number> {
  if (n < 2) return n;
  await using client = await workerClient();
  const [x, y] = await client.gather([
    client.submit(fibWCSrc, n - 1),
    client.submit(fibWCSrc, n - 2),
  ]);
  return x + y;
}
const fibDSrc = delayed(async function fibDSrc(n: number): Promise<number> {
  if (n < 2) return n;
  const [a, b] = await compute(fibDSrc(n - 1), fibDSrc(n - 2));
  return a + b;
});

clusterTest("fib three ways shipped by source on 1x1", async () => {
  await withCluster({ workers: 1, slots: 1 }, async (client) => {
    assert.equal(await client.submit(fibSrc, 12).result(), 144);
    assert.equal(await client.submit(fibWCSrc, 12).result(), 144);
    assert.equal(await fibDSrc(12).compute(), 144);
  });
});

clusterTest(
  "five tasks seceding on one slot all become long-running at once",
  async () => {
    await withCluster({ workers: 1, slots: 1 }, async (client) => {
      await client.submit(tasks.reset).result();
      const fs = Array.from(
        { length: 5 },
        () => client.submit(tasks.secedeAndWaitFor, 5),
      );
      assert.deepEqual(await client.gather(fs), [5, 5, 5, 5, 5]);
    });
  },
);

clusterTest("rejoin waits while the slot is busy, then proceeds", async () => {
  await withCluster({ workers: 1, slots: 1 }, async (client) => {
    const log = await client.submit(tasks.rejoinWhileBusy).result();
    assert.deepEqual(log, [
      "holder start",
      "rejoin requested",
      "holder end",
      "rejoined",
    ]);
  });
});

clusterTest("nested workerClient", async () => {
  await withCluster({ workers: 1, slots: 1 }, async (client) => {
    assert.equal(await client.submit(tasks.nestedWorkerClients, 1).result(), 3);
  });
});

clusterTest(
  "a child's error rejects the parent's await and reaches the client",
  async () => {
    await withCluster({ workers: 1, slots: 1 }, async (client) => {
      const f = client.submit(tasks.parentOfFailure, 7);
      await assert.rejects(f.result(), (e: Error) => {
        assert.equal(e.name, "RangeError");
        assert.equal(e.message, "child failed on 7");
        assert.match(
          e.stack ?? "",
          /failChild/,
          "the remote stack names the child",
        );
        return true;
      });
      assert.equal((await f.exception())?.name, "RangeError");
    });
  },
);

clusterTest(
  "cancelling a parent cancels its children, which see the abort",
  async () => {
    await withCluster({ workers: 1, slots: 1 }, async (client, cluster) => {
      await client.submit(tasks.reset).result();
      const parent = client.submit(tasks.parentOfSleeper);
      await client.submit(tasks.sleeperStarted).result();
      const keys = () =>
        [...cluster.scheduler.state.tasks.keys()].filter((k) =>
          /^(parentOfSleeper|sleeperUntilCancelled)-/.test(k)
        );
      assert.equal(keys().length, 2, "parent and child");
      await parent.cancel();
      assert.equal(parent.status, "cancelled");
      assert.deepEqual(keys(), [], "child forgotten with its parent");
      const log = await client.submit(tasks.readLog).result();
      assert.equal(log.length, 1);
      assert.match(log[0], /^aborted sleeperUntilCancelled-/);
    });
  },
);

clusterTest(
  "opting out of secession and filling every slot is diagnosed as a deadlock",
  async () => {
    await withCluster({ workers: 1, slots: 1 }, async (client) => {
      const f = client.submit(tasks.waitWithoutSecede);
      await assert.rejects(f.result(), (e: Error) => {
        assert.ok(e instanceof DeadlockError);
        assert.equal(e.name, "DeadlockError");
        assert.match(e.message, /waitWithoutSecede-\S+ waits for inc-/);
        return true;
      });
    });
  },
);

clusterTest(
  "children of a parent pinned to one worker spread over both workers",
  async () => {
    await withCluster({ workers: 2, slots: 1 }, async (client, cluster) => {
      const [w0] = cluster.workerIds;
      const parent = client.with({ workers: w0 }).submit(tasks.spread, 6);
      const where = await parent.result();
      assert.deepEqual(new Set(where), new Set(cluster.workerIds));
    });
  },
);

clusterTest(
  "getClient inside tasks is one shared client per worker",
  async () => {
    await withCluster({ workers: 2, slots: 2 }, async (client, cluster) => {
      const seen = await client.gather(
        Array.from({ length: 8 }, () => client.submit(tasks.clientIdentity)),
      );
      for (const [worker, clientId, stable] of seen) {
        assert.ok(stable);
        assert.equal(
          clientId,
          worker,
          "the worker's client speaks as the worker",
        );
      }
      assert.ok(seen.every(([w]) => cluster.workerIds.includes(w)));
    });
  },
);
