// client.restart() through the public API, in-process, with worker
// processes and over TCP: every task is cancelled (the futures of every
// client reject with a CancelledError saying the cluster restarted), every
// worker comes back fresh (holding nothing), and the call resolves once as
// many workers as before are back; new work then runs as usual.
import assert from "node:assert/strict";
import { clusterTest, within } from "./fixtures/bounded.ts";
import {
  CancelledError,
  Client,
  type ClusterLike,
  LocalCluster,
  registerModule,
} from "../mod.ts";
import { holdUntilCancelled, inc, whereAmI } from "./fixtures/tasks.ts";
import { tcpCluster } from "./fixtures/processes.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

/**
 * Two clients hold futures (done, running), one restarts: all reject as
 * cancelled by the restart, the workers hold nothing, new work runs.
 * Resolves with the worker ids after the restart.
 */
async function restartCancelsEverything(
  cluster: ClusterLike | string,
  workers: number,
): Promise<string[]> {
  await using a = await Client.connect(cluster);
  await using b = await Client.connect(cluster);
  const done = a.submit(whereAmI);
  const other = b.submit(inc, 1);
  await a.wait<unknown>([done, other]);
  const running = a.submit(holdUntilCancelled);
  await within("the restart", a.restart());
  for (const f of [done, running, other]) {
    await assert.rejects(f.result(), (e: unknown) => {
      assert.ok(e instanceof CancelledError, String(e));
      assert.match(e.message, /the cluster restarted/);
      return true;
    });
  }
  const info = await a.schedulerInfo();
  assert.equal(info.workers.length, workers);
  for (const w of info.workers) assert.equal(w.heldKeys, 0, `${w.id} is fresh`);
  assert.equal(
    Object.values(info.tasks).reduce((x, y) => x + y, 0),
    0,
    "no task is left",
  );
  assert.equal(await a.submit(inc, 5).result(), 6);
  assert.equal(await b.submit(inc, 6).result(), 7);
  return info.workers.map((w) => w.id);
}

clusterTest(
  "client.restart, in-process: fresh Web Workers replace the old",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    const before = cluster.workerIds;
    const after = await restartCancelsEverything(cluster, 2);
    assert.deepEqual(after.sort(), [...cluster.workerIds].sort());
    assert.ok(!after.some((id) => before.includes(id)), "new workers");
  },
);

clusterTest(
  "client.restart with worker processes: they register again",
  async () => {
    await using cluster = await LocalCluster.start({
      workers: 2,
      slots: 1,
      processes: true,
    });
    const before = cluster.workerIds;
    const after = await restartCancelsEverything(cluster, 2);
    assert.deepEqual(after.sort(), [...before].sort(), "same processes, fresh");
    assert.deepEqual(cluster.workerIds, before);
  },
);

clusterTest(
  "client.restart over tcp: workers drop everything and register again",
  async () => {
    await using cluster = await tcpCluster();
    const after = await restartCancelsEverything(cluster.address, 2);
    assert.deepEqual(after.sort(), ["w1", "w2"]);
    for (const w of cluster.workers) {
      await w.stderr.waitFor(
        /restarted by the scheduler; dropping everything/,
      );
    }
  },
);
