// client.scatter: a value put straight into workers' stores travels once
// (not inside every task's arguments), in-process and over TCP; broadcast
// puts a copy on every worker; a scattered value whose only holder is
// SIGKILLed errs with a LostDataError naming it, while a broadcast copy
// survives. Every cluster and process a test starts, it stops; waits are
// bounded.
import assert from "node:assert/strict";
import {
  Client,
  type ClientHost,
  getClient,
  LocalCluster,
  LostDataError,
} from "../mod.ts";
import { SchedulerServer } from "../actors/scheduler/server.ts";
import type { Scheduler } from "../actors/scheduler/actor.ts";
import { WorkerServer } from "../actors/worker/server.ts";
import { clusterTest, within } from "./fixtures/bounded.ts";
import { type Proc, runCli } from "./fixtures/processes.ts";

/** 50 MB of float64s, element i = i. */
const FIFTY_MB = 6_250_000;
const bigArray = () => Float64Array.from({ length: FIFTY_MB }, (_, i) => i);

/** Checks the scheduler's view: one scattered key, held once, never in a task's arguments. */
function sentOnce(scheduler: Scheduler, key: string, tasks: string[]): void {
  const state = scheduler.state;
  const x = state.tasks.get(key)!;
  assert.ok(x.scattered);
  assert.ok(x.nbytes >= 50e6, `the scattered value is ${x.nbytes} bytes`);
  assert.equal(x.whoHas!.length, 1, "put on one worker");
  for (const k of tasks) {
    const ts = state.tasks.get(k)!;
    assert.ok(ts.args.length < 1024, `${k}'s arguments: ${ts.args.length} B`);
    assert.deepEqual(ts.deps.map((d) => d.key), [key]);
  }
}

/** Uses element `i` of a scattered array. */
const pick = (xs: Float64Array, i: number) => xs[i * 1000] + xs.length;

clusterTest(
  "scatter in-process: a 50 MB array is put once and used by 20 tasks",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 2 });
    const puts: number[] = [];
    const counting = {
      async connectClient(): Promise<ClientHost> {
        const host = await cluster.connectClient();
        const put = host.put!.bind(host);
        return Object.assign(host, {
          put: (
            address: string,
            values: Record<string, Uint8Array | string>,
          ) => {
            for (const v of Object.values(values)) puts.push(v.length);
            return put(address, values);
          },
        });
      },
    };
    await using client = await Client.connect(counting);
    const x = await within("scatter", client.scatter(bigArray()));
    assert.match(x.key, /^scatter-[0-9a-f]{32}$/);
    assert.equal(x.status, "finished");
    const idx = Array.from({ length: 20 }, (_, i) => i);
    const fs = client.map(pick, idx.map(() => x), idx);
    const got = await within("20 tasks", client.gather(fs));
    assert.deepEqual(got, idx.map((i) => i * 1000 + FIFTY_MB));
    assert.equal(puts.length, 1, "one put");
    assert.ok(puts[0] >= 50e6);
    sentOnce(cluster.scheduler, x.key, fs.map((f) => f.key));
    // The same value scattered again is the same key (a content hash).
    const again = await within("scatter again", client.scatter(bigArray()));
    assert.equal(again.key, x.key);
    assert.equal((await within("its value", again.result())).length, FIFTY_MB);
  },
);

clusterTest(
  "scatter in-process: arrays and records give futures of the same shape; workers restricts",
  async () => {
    await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
    await using client = await Client.connect(cluster);
    const [one, two] = await client.scatter([1, "two"] as [number, string]);
    assert.equal(await one.result(), 1);
    assert.equal(await two.result(), "two");
    const w2 = cluster.workerIds[1];
    const rec = await client.scatter({ a: [1, 2], b: { c: 3 } }, {
      workers: w2,
      key: "cfg",
    });
    assert.equal(rec.a.key, "cfg-a");
    assert.deepEqual(await rec.b.result(), { c: 3 });
    for (const k of ["cfg-a", "cfg-b"]) {
      const ts = cluster.scheduler.state.tasks.get(k)!;
      assert.deepEqual(ts.whoHas!.map((w) => w.id), [w2]);
    }
    await assert.rejects(
      client.scatter(1, { workers: "nobody" }),
      /scatter: no connected worker among nobody/,
    );
    // From inside a task: the task's client scatters and uses the value.
    const inner = client.submit(async () => {
      const c = getClient();
      const v = await c.scatter([5, 6, 7]);
      return await c.submit((a: number, b: number) => a + b, v[0], v[2])
        .result();
    });
    assert.equal(await within("a scatter from a task", inner.result()), 12);
  },
);

clusterTest(
  "scatter over TCP: put once, used by 20 tasks; broadcast puts a copy on every worker",
  async () => {
    await using scheduler = await SchedulerServer.start({ port: 0 });
    await using w1 = await WorkerServer.start({
      scheduler: scheduler.address,
      slots: 2,
    });
    await using w2 = await WorkerServer.start({
      scheduler: scheduler.address,
      slots: 2,
    });
    await using client = await Client.connect(scheduler.address);
    const x = await within("scatter", client.scatter(bigArray()));
    const idx = Array.from({ length: 20 }, (_, i) => i);
    const fs = client.map(pick, idx.map(() => x), idx);
    const got = await within("20 tasks", client.gather(fs));
    assert.deepEqual(got, idx.map((i) => i * 1000 + FIFTY_MB));
    sentOnce(scheduler.scheduler, x.key, fs.map((f) => f.key));

    const b = await within(
      "broadcast",
      client.scatter(new Uint8Array(1 << 20).fill(7), { broadcast: true }),
    );
    const held = scheduler.scheduler.state.tasks.get(b.key)!.whoHas!;
    assert.deepEqual(held.map((w) => w.id).sort(), [w1.id, w2.id].sort());
    // Each worker reads its own copy.
    for (const w of [w1, w2]) {
      const f = client.with({ workers: w.id }).submit(
        (v: Uint8Array) => v[12345] + v.length,
        b,
      );
      assert.equal(
        await within(`a task on ${w.id}`, f.result()),
        7 + (1 << 20),
      );
    }
  },
);

async function worker(address: string, name: string): Promise<Proc> {
  const proc = runCli("worker", [address, "--name", name], `worker ${name}`);
  await within(
    `worker ${name} to register`,
    proc.stdout.waitFor(/^tendril worker /),
  );
  return proc;
}

clusterTest(
  "scatter over TCP: the only holder SIGKILLed gives dependents a LostDataError naming the key; a broadcast copy survives",
  async () => {
    const sched = runCli("scheduler", ["--port", "0"]);
    const procs = [sched];
    try {
      const address = await within(
        "the scheduler's address",
        sched.stdout.waitFor(/^tcp:\/\//),
      );
      const w1 = await worker(address, "w1");
      procs.push(w1, await worker(address, "w2"));
      await using client = await Client.connect(address);
      const only = await within(
        "scatter to w1",
        client.scatter([1, 2, 3], { workers: "w1", key: "only" }),
      );
      const everywhere = await within(
        "broadcast",
        client.scatter({ v: 42 }, { broadcast: true, key: "bc" }),
      );
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      assert.equal(
        await within("before", client.submit(sum, only).result()),
        6,
      );
      await w1.stop("SIGKILL");
      // The scheduler tells the client of the loss of only-0 in the same
      // step that errs only-1 and its dependents: once the dependent's error
      // is here, so is that.
      const dependent = client.submit((x: number) => x + 1, only[1]);
      const error = await within(
        "the dependent's error",
        dependent.exception(),
      );
      assert.ok(error instanceof LostDataError, String(error));
      assert.equal(error.key, "only-1");
      assert.match(error.message, /scattered value only-1 was lost/);
      const lost = await within("the loss", only[0].exception());
      assert.ok(lost instanceof LostDataError, String(lost));
      assert.equal(lost.key, "only-0");
      const used = client.submit((o: number) => o + 1, everywhere.v);
      assert.equal(await within("the broadcast copy", used.result()), 43);
    } finally {
      await Promise.all(procs.map((p) => p.stop()));
    }
  },
);
