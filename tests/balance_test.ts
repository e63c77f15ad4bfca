// Balance between workers through the public API, in-process and over TCP:
// work queued on a worker behind a task that holds its slot moves to an
// idle worker (work stealing) instead of waiting there. Before stealing,
// the tasks queued behind the holder waited until it ended: here it ends
// only when cancelled after they all finished, so without stealing this
// test would hang (bounded, it fails naming what it waited for).
import assert from "node:assert/strict";
import { clusterTest, within } from "./fixtures/bounded.ts";
import { Client, LocalCluster, registerModule } from "../mod.ts";
import { holdUntilCancelled, whereAmI } from "./fixtures/tasks.ts";
import { tcpCluster } from "./fixtures/processes.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

/** Work queued behind a slot holder finishes on the other worker. */
async function queuedWorkMoves(client: Client): Promise<void> {
  const holder = client.submit(holdUntilCancelled);
  const rest = Array.from({ length: 6 }, () => client.submit(whereAmI));
  const where = await within(
    "the tasks queued behind the holder (stolen by the idle worker)",
    client.gather(rest),
    30_000,
  );
  assert.equal(holder.status, "pending", "the holder still holds its slot");
  assert.equal(new Set(where).size, 1, "all ran on the worker without it");
  await holder.cancel();
}

clusterTest(
  "balance: queued work moves to an idle worker, in-process",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    await queuedWorkMoves(client);
  },
);

clusterTest(
  "balance: queued work moves to an idle worker, over tcp",
  async () => {
    await using cluster = await tcpCluster(["w1", "w2"], {
      workerArgs: ["--slots", "1"],
    });
    await using client = await Client.connect(cluster.address);
    await queuedWorkMoves(client);
  },
);

clusterTest(
  "balance: a worker added by scale takes the work queued behind a busy slot",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
    await using client = await Client.connect(cluster);
    const holder = client.submit(holdUntilCancelled);
    const rest = Array.from({ length: 6 }, () => client.submit(whereAmI));
    await cluster.scale(2);
    const where = await within(
      "the tasks queued behind the holder (stolen by the new worker)",
      client.gather(rest),
      30_000,
    );
    assert.deepEqual(new Set(where), new Set([cluster.workerIds[1]]));
    await holder.cancel();
  },
);
