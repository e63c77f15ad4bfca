/**
 * `LocalCluster.start({ processes: true })`: workers as child processes.
 * Each test breaks a worker the way a runaway task would (out of memory,
 * kill -9, a loop that never yields), then checks that this process lives
 * on, the task errs or completes as promised, later work runs on a restored
 * number of workers, and that close leaves no process, port or file.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  Client,
  KilledWorkerError,
  LocalCluster,
  registerModule,
  WorkersUnavailableError,
} from "../mod.ts";
import {
  consume,
  exhaustMemory,
  fib,
  inc,
  nap,
  pid,
  produce,
  sum,
} from "./fixtures/tasks.ts";
import { clusterTest, until, within } from "./fixtures/bounded.ts";
import { cancelASpinner, stillWorks } from "./fixtures/supervised.ts";
import {
  alive,
  commandLine,
  descendants,
  runScript,
  workerPids,
} from "./fixtures/processes.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

/** Resolves once the cluster has `n` live workers, all registered, none of them in `gone`. */
function workersBack(
  cluster: LocalCluster,
  n: number,
  gone: string[] = [],
): Promise<void> {
  return until(`${n} workers again`, () => {
    const ids = cluster.workerIds;
    const registered = [...cluster.scheduler.state.workers.keys()];
    return ids.length === n && registered.length === n &&
      ids.every((id) => registered.includes(id)) &&
      !ids.some((id) => gone.includes(id));
  });
}

Deno.test("memoryLimit without processes is refused", async () => {
  await assert.rejects(
    LocalCluster.start({ workers: 1, memoryLimit: 128 * 2 ** 20 }),
    /memoryLimit needs processes: true/,
  );
  await assert.rejects(
    LocalCluster.start({ workers: 1, processes: true, memoryLimit: 1000 }),
    /memoryLimit is in bytes and at least 1 MiB, got 1000/,
  );
});

clusterTest(
  "processes: submit, map, gather and the seed's fib run on worker processes",
  async () => {
    await using cluster = await LocalCluster.start({
      workers: 2,
      slots: 1,
      processes: true,
    });
    assert.deepEqual(cluster.workerIds, [
      `${cluster.name}-w0`,
      `${cluster.name}-w1`,
    ]);
    await using client = await Client.connect(cluster);
    assert.equal(await within("inc", client.submit(inc, 1).result()), 2);
    const squares = client.map(inc, [1, 2, 3]);
    assert.equal(
      await within("a sum of futures", client.submit(sum, squares).result()),
      9,
    );
    // getClient, secede and rejoin inside tasks, across two processes.
    assert.equal(await within("fib(12)", client.submit(fib, 12).result()), 144);
    const pids = await within(
      "the workers' pids",
      Promise.all(
        cluster.workerIds.map((id) =>
          client.with({ workers: id }).submit(pid).result()
        ),
      ),
    );
    assert.equal(new Set(pids).size, 2);
    assert.ok(!pids.includes(Deno.pid));
  },
);

clusterTest(
  "processes: a task that runs out of memory costs one worker, not the program",
  async () => {
    await using cluster = await LocalCluster.start({
      workers: 2,
      slots: 1,
      processes: true,
      memoryLimit: 128 * 2 ** 20,
      allowedFailures: 0,
    });
    await using client = await Client.connect(cluster);
    const before = cluster.workerIds;
    const error = await within(
      "the task that exhausts memory",
      client.submit(exhaustMemory).exception(),
    );
    assert.ok(error instanceof KilledWorkerError, String(error));
    assert.equal(error.attempts, 1);
    await stillWorks(client);
    await workersBack(cluster, 2);
    assert.equal(
      cluster.workerIds.filter((id) => before.includes(id)).length,
      1,
    );
  },
);

clusterTest(
  "processes: kill -9 of a worker mid-job loses nothing",
  async () => {
    await using cluster = await LocalCluster.start({
      workers: 2,
      slots: 1,
      processes: true,
    });
    await using client = await Client.connect(cluster);
    const [victimId] = cluster.workerIds;
    const victim = await within(
      "the victim's pid",
      client.with({ workers: victimId }).submit(pid).result(),
    );
    // Values held on both workers, then dependents queued behind slow tasks.
    const made = client.map(produce, Array.from({ length: 20 }, (_, i) => i));
    await within("the producers", client.wait(made));
    const slow = client.map(nap, Array.from({ length: 30 }, () => 30));
    const used = made.map((f) => client.submit(consume, f));
    await within("the first slow task", slow[0].result());
    Deno.kill(victim, "SIGKILL");
    const [naps, sums] = await within(
      "the whole job",
      client.gather([slow, used]),
    );
    assert.deepEqual(naps, Array.from({ length: 30 }, () => 30));
    assert.deepEqual(sums, Array.from({ length: 20 }, (_, i) => 2048 * i));
    await workersBack(cluster, 2, [victimId]);
    assert.ok(!alive(victim));
    await stillWorks(client);
  },
);

clusterTest(
  "processes: a cancelled task that never yields gets its worker process killed and replaced",
  async () => {
    await using cluster = await LocalCluster.start({
      workers: 1,
      processes: true,
      cancelGrace: 200,
    });
    await using client = await Client.connect(cluster);
    const [spinner] = cluster.workerIds;
    await cancelASpinner(client);
    // One worker only: later tasks can run only on its replacement.
    await stillWorks(client);
    await workersBack(cluster, 1, [spinner]);
  },
);

clusterTest(
  "processes: close leaves no process, port or token file behind",
  async () => {
    const cluster = await LocalCluster.start({
      workers: 2,
      processes: true,
    });
    const children = descendants(Deno.pid).filter((p) =>
      commandLine(p)?.includes(`--name ${cluster.name}-w`)
    );
    assert.equal(children.length, 2);
    const line = commandLine(children[0])!;
    const tokenFile = line.match(/--token-file (\S+)/)![1];
    const address = line.match(/tcp:\/\/127\.0\.0\.1:(\d+)/)!;
    assert.equal((await Deno.stat(tokenFile)).mode! & 0o777, 0o600);
    {
      await using client = await Client.connect(cluster);
      assert.equal(await within("inc", client.submit(inc, 1).result()), 2);
    }
    await within("close", cluster.close());
    for (const p of children) assert.ok(!alive(p), `worker pid ${p} is alive`);
    assert.equal(await Deno.stat(tokenFile).catch(() => null), null);
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port: Number(address[1]) }),
      Deno.errors.ConnectionRefused,
    );
    await assert.rejects(Client.connect(cluster), /cluster is closed/);
  },
);

clusterTest(
  "processes: worker processes exit by themselves when their program is killed",
  async () => {
    const app = runScript(
      new URL("./fixtures/processes_cluster_app.ts", import.meta.url),
      [],
      "processes app",
    );
    let tokenFile: string | undefined;
    try {
      await app.stdout.waitFor(/^ready /);
      const workers = descendants(app.pid);
      assert.equal(workers.length, 2);
      tokenFile = commandLine(workers[0])!.match(/--token-file (\S+)/)![1];
      await app.stop("SIGKILL");
      await until(
        "the orphaned workers to exit",
        () => !workers.some(alive),
      );
    } finally {
      await app.stop("SIGKILL");
      // Killed outright, the program could not remove its token file.
      if (tokenFile) await Deno.remove(tokenFile).catch(() => {});
    }
  },
);

clusterTest(
  "processes: workers that cannot start make start() reject, leaving no process",
  async () => {
    // A 1 MiB heap is too small for Deno itself: each worker aborts at boot.
    await assert.rejects(
      LocalCluster.start({
        workers: 1,
        processes: true,
        memoryLimit: 2 ** 20,
      }),
      /worker local\d+-w0 exited before it registered \(killed by SIG\w+\)/,
    );
    assert.deepEqual(workerPids(Deno.pid), []);
  },
);

clusterTest(
  "processes: replacements that keep dying before they register are given up on",
  async () => {
    await using cluster = await LocalCluster.start({
      workers: 2,
      processes: true,
    });
    await using client = await Client.connect(cluster);
    const [victimId, survivor] = cluster.workerIds;
    const victim = await within(
      "the victim's pid",
      client.with({ workers: victimId }).submit(pid).result(),
    );
    // Without the token file no new worker can start.
    const tokenFile = commandLine(victim)!.match(/--token-file (\S+)/)![1];
    await Deno.remove(tokenFile);
    Deno.kill(victim, "SIGKILL");
    // A replacement starts as soon as one dies, so one worker is left only
    // once the cluster stopped replacing.
    await until("the replacing to stop", () => cluster.workerIds.length === 1);
    assert.deepEqual(cluster.workerIds, [survivor]);
    assert.deepEqual(workerPids(Deno.pid).length, 1);
    await stillWorks(client);
  },
);

clusterTest(
  "processes: when no worker can be kept alive, waiting tasks fail saying so instead of hanging",
  async () => {
    await using cluster = await LocalCluster.start({
      workers: 2,
      processes: true,
    });
    await using client = await Client.connect(cluster);
    const pids = await within(
      "the workers' pids",
      Promise.all(
        cluster.workerIds.map((id) =>
          client.with({ workers: id }).submit(pid).result()
        ),
      ),
    );
    // Without the token file no new worker can start.
    const tokenFile = commandLine(pids[0])!.match(/--token-file (\S+)/)![1];
    await Deno.remove(tokenFile);
    for (const p of pids) Deno.kill(p, "SIGKILL");
    await until("the replacing to stop", () => cluster.workerIds.length === 0);
    const error = await within(
      "a task with no worker to run it",
      client.submit(inc, 1).exception(),
    );
    assert.ok(error instanceof WorkersUnavailableError, String(error));
    assert.match(error.message, /in a row exited before they registered/);
  },
);
