/**
 * Supervision of in-process workers: a worker whose thread ends, or whose
 * task cannot be stopped, is replaced; a task's stray error is reported
 * against it without ending its worker; thrown non-Errors keep their content.
 * Each test breaks the thing it recovers from, then checks that later work
 * completes on the same number of workers and that no future hangs.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  Client,
  KilledWorkerError,
  LocalCluster,
  registerModule,
} from "../mod.ts";
import {
  exitWorker,
  strayRejection,
  strayThrowAfterReturn,
  strayThrowWhileRunning,
  throwObject,
} from "./fixtures/tasks.ts";
import { clusterTest, until, within } from "./fixtures/bounded.ts";
import { cancelASpinner, stillWorks } from "./fixtures/supervised.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

/** Resolves once the cluster has `n` live, registered workers again. */
function workersBack(cluster: LocalCluster, n: number): Promise<void> {
  return until(`${n} workers`, () => cluster.scheduler.state.workers.size >= n);
}

clusterTest(
  "Deno.exit in a task: the worker is replaced, the task errs as KilledWorkerError",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    const before = cluster.workerIds;
    const error = await within(
      "the exiting task",
      client.submit(exitWorker, 1).exception(),
    );
    assert.ok(error instanceof KilledWorkerError, String(error));
    // Retried on a fresh worker each time: one more death than allowed.
    assert.equal(error.attempts, 4);
    await workersBack(cluster, 2);
    assert.equal(cluster.workerIds.length, 2);
    assert.notDeepEqual(cluster.workerIds, before);
    await stillWorks(client);
  },
);

clusterTest(
  "allowedFailures sets how many deaths a task survives",
  async () => {
    await using cluster = await LocalCluster.start({
      workers: 1,
      allowedFailures: 0,
    });
    await using client = await Client.connect(cluster);
    const error = await within(
      "the exiting task",
      client.submit(exitWorker, 3).exception(),
    );
    assert.ok(error instanceof KilledWorkerError);
    assert.equal(error.attempts, 1);
    await stillWorks(client);
  },
);

clusterTest(
  "a stray timer error after a task returned leaves its worker alive",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    const ids = cluster.workerIds;
    // Twice per worker: before, this left no worker at all.
    for (let i = 0; i < 4; i++) {
      assert.equal(
        await within(
          "a task with a stray timer",
          client.submit(strayThrowAfterReturn, i).result(),
        ),
        i,
      );
    }
    await stillWorks(client);
    assert.deepEqual(cluster.workerIds, ids);
  },
);

clusterTest(
  "a stray timer error while a task runs ends that run with the error",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 1 });
    await using client = await Client.connect(cluster);
    const ids = cluster.workerIds;
    const error = await within(
      "the task",
      client.submit(strayThrowWhileRunning).exception(),
    );
    assert.match((error as Error).message, /stray error while running/);
    const rejected = await within(
      "the task",
      client.submit(strayRejection).exception(),
    );
    assert.deepEqual(rejected, { code: 7 });
    await stillWorks(client);
    assert.deepEqual(cluster.workerIds, ids);
  },
);

clusterTest("a thrown non-Error keeps its content", async () => {
  await using cluster = await LocalCluster.start({ workers: 1 });
  await using client = await Client.connect(cluster);
  await assert.rejects(
    within("the task", client.submit(throwObject, 42).result()),
    (e) => {
      assert.deepEqual(e, { code: 42 });
      return true;
    },
  );
});

clusterTest(
  "a cancelled task that never yields gets its worker restarted",
  async () => {
    await using cluster = await LocalCluster.start({
      workers: 1,
      cancelGrace: 200,
    });
    await using client = await Client.connect(cluster);
    const ids = cluster.workerIds;
    await cancelASpinner(client);
    // One worker only: later tasks can run only on its replacement.
    await stillWorks(client);
    assert.notDeepEqual(cluster.workerIds, ids);
  },
);
