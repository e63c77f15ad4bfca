// Failure paths of issue 8 that need real processes over TCP: a holder no
// peer can reach, a holder killed right before a gather, and a queued
// dependent of a value lost with its worker. Every process a test starts,
// it stops; waits are bounded and name what they waited for.
import assert from "node:assert/strict";
import { Client, LostDataError, registerModule } from "../mod.ts";
import { clusterTest, within } from "./fixtures/bounded.ts";
import { type Proc, runCli } from "./fixtures/processes.ts";
import { consume, nap, produce } from "./fixtures/tasks.ts";

await registerModule(new URL("./fixtures/tasks.ts", import.meta.url));

async function scheduler(): Promise<[Proc, string]> {
  const proc = runCli("scheduler", ["--port", "0"]);
  return [
    proc,
    await within("the scheduler's address", proc.stdout.waitFor(/^tcp:\/\//)),
  ];
}

async function worker(address: string, ...args: string[]): Promise<Proc> {
  const proc = runCli("worker", [address, ...args], `worker ${args.join(" ")}`);
  await within(
    `worker ${args.join(" ")} to register`,
    proc.stdout.waitFor(/^tendril worker /),
  );
  return proc;
}

async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop()));
}

clusterTest(
  "a holder no peer can reach: the dependent errs naming it, instead of hanging",
  async () => {
    const [sched, address] = await scheduler();
    const procs = [sched];
    try {
      procs.push(await worker(address, "--name", "wB"));
      // wC binds 127.0.0.1 but tells everyone it is at 127.0.0.2: nobody can fetch from it.
      procs.push(
        await worker(address, "--name", "wC", "--advertise", "127.0.0.2"),
      );
      await using client = await Client.connect(address);
      const made = client.with({ workers: "wC" }).submit(produce, 3);
      const used = client.with({ workers: "wB" }).submit(consume, made);
      const error = await within("the dependent's error", used.exception());
      assert.ok(error instanceof LostDataError, String(error));
      assert.match(
        error.message,
        /could not fetch its dependency produce-\S+ from tcp:\/\/127\.0\.0\.2:\d+/,
      );
      assert.match(error.unreachable[0], /^tcp:\/\/127\.0\.0\.2:\d+$/);
      await within(
        "the scheduler's log",
        sched.stderr.waitFor(/giving up after 4 tries/),
      );
    } finally {
      await stopAll(procs);
    }
  },
);

clusterTest(
  "a gather right after its value's holder is killed waits for the recompute",
  async () => {
    const [sched, address] = await scheduler();
    const procs = [sched];
    try {
      const w1 = await worker(address, "--name", "w1");
      procs.push(w1, await worker(address, "--name", "w2"));
      await using client = await Client.connect(address);
      const made = client.with({ workers: "w1", allowOtherWorkers: true })
        .submit(produce, 5);
      await within("produce", client.wait([made]));
      await w1.stop("SIGKILL");
      const value = await within("the value, recomputed on w2", made.result());
      assert.equal(value.length, 2048);
      assert.equal(value[0], 5);
    } finally {
      await stopAll(procs);
    }
  },
);

clusterTest(
  "a queued dependent of a value lost with its worker waits for it; no healthy worker is dropped",
  async () => {
    const [sched, address] = await scheduler();
    const procs = [sched];
    try {
      const w1 = await worker(address, "--name", "w1");
      const w2 = await worker(address, "--name", "w2");
      procs.push(w1, w2);
      await using client = await Client.connect(address);
      const p = client.with({ workers: "w1" }).submit(produce, 7);
      await within("produce", client.wait([p]));
      // Fill w2 past its share (64 per slot): the rest, q too, queue at the scheduler.
      const naps = client.with({ workers: "w2" }).map(nap, Array(70).fill(20));
      const q = client.with({ workers: "w2" }).submit(consume, p);
      const from = sched.stderr.lines.length;
      await w1.stop("SIGKILL");
      // Before, q was assigned without a holder of p: the scheduler threw
      // while handling w2's message and dropped w2. Now q waits for p, which
      // only a worker named w1 may recompute.
      assert.equal((await within("the naps", client.gather(naps))).length, 70);
      assert.equal(q.status, "pending");
      procs.push(await worker(address, "--name", "w1"));
      assert.equal(await within("consume", q.result()), 7 * 2048);
      const left = sched.stderr.lines.slice(from).filter((l) =>
        / left /.test(l)
      );
      assert.deepEqual(left.map((l) => l.match(/worker (\S+) left/)?.[1]), [
        "w1",
      ]);
      assert.ok(!sched.stderr.lines.some((l) => /internal error/.test(l)));
    } finally {
      await stopAll(procs);
    }
  },
);
