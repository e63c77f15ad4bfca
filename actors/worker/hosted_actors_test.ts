// Hosting actors, in the pure call queue and in the worker shell: a compute
// marked `actor` constructs and hosts the instance (its value is the
// worker's address), calls run in arrival order up to the concurrency, a
// free drops the instance (calls waiting then get ActorDiedError), and a
// call of a key not hosted is answered `gone`.
import assert from "node:assert/strict";
import { pack, unpack } from "../../runtime/codec/packed.ts";
import { ActorDiedError } from "../../runtime/errors.ts";
import { localPair } from "../../runtime/wire/local.ts";
import type { ToScheduler, ToWorkerConnection } from "../protocol.ts";
import { WorkerActor } from "./actor.ts";
import { HostedActors } from "./hosted_actors.ts";

const codec = {
  decode: (b: string | Uint8Array) => unpack(b),
  encodeValue: (v: unknown) => pack(v),
  encodeError: (e: unknown) => pack(e),
  run: <R>(fn: () => R) => fn(),
};

Deno.test("calls wait their turn; dropping the actor fails those still waiting", async () => {
  const actors = new HostedActors(codec);
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  actors.host("a", { wait: () => gate, now: () => "now" }, 1);
  const first = actors.call({
    op: "actor-call",
    id: 1,
    key: "a",
    method: "wait",
    args: pack([]),
  });
  const second = actors.call({
    op: "actor-call",
    id: 2,
    key: "a",
    method: "now",
    args: pack([]),
  });
  actors.drop("a");
  const waited = await second;
  assert.ok(unpack(waited.error!) instanceof ActorDiedError);
  release();
  assert.equal((await first).error, undefined, "the running call finishes");
});

Deno.test("concurrency 2 starts two calls at once, a third after one ends", async () => {
  const actors = new HostedActors(codec);
  const started: number[] = [];
  const gates: (() => void)[] = [];
  actors.host("a", {
    run(i: number) {
      started.push(i);
      return new Promise<void>((r) => gates.push(r));
    },
  }, 2);
  const calls = [1, 2, 3].map((i) =>
    actors.call({
      op: "actor-call",
      id: i,
      key: "a",
      method: "run",
      args: pack([i]),
    })
  );
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(started, [1, 2]);
  gates[0]();
  await calls[0];
  assert.deepEqual(started, [1, 2, 3]);
  gates[1]();
  gates[2]();
  await Promise.all(calls);
});

Deno.test("the worker shell hosts an actor task's instance and drops it when freed", async () => {
  const [toScheduler, fromWorker] = localPair<ToScheduler, ToWorkerConnection>(
    "w1",
    "scheduler",
  );
  const sent: ToScheduler[] = [];
  const waits: [string, () => void][] = [];
  fromWorker.onMessages((batch) => {
    sent.push(...(batch as ToScheduler[]));
    for (const msg of batch as ToScheduler[]) {
      if (msg.op !== "task-finished") continue;
      for (const [key, resolve] of waits) if (key === msg.key) resolve();
    }
  });
  const finishedTask = (key: string) =>
    new Promise<void>((r) => waits.push([key, r]));
  const worker = new WorkerActor({
    id: "w1",
    slots: 1,
    address: "inproc://w1",
    scheduler: toScheduler as never,
    connect: () => Promise.reject(new Error("no peers")),
  });
  try {
    const finished = finishedTask("box-1");
    fromWorker.send({
      op: "compute",
      key: "box-1",
      run: 1,
      fn: "s:box",
      fnRef: {
        kind: "source",
        name: "Box",
        source:
          "class Box { constructor(v) { this.v = v; } get() { return this.v; } }",
      },
      args: pack([41]),
      rank: 0,
      actor: { concurrency: 1 },
    } as ToWorkerConnection);
    await finished;
    const done = sent.find((m) => m.op === "task-finished");
    assert.ok(done, JSON.stringify(sent));
    assert.equal(
      unpack(done.value!),
      "inproc://w1",
      "its value is where it lives",
    );
    assert.ok(worker.actors.has("box-1"));
    const reply = await worker.actors.call({
      op: "actor-call",
      id: 1,
      key: "box-1",
      method: "get",
      args: pack([]),
    });
    assert.equal(unpack(reply.value!), 41);
    // A compute sent after the free is answered after it was handled.
    const next = finishedTask("one-1");
    fromWorker.send({ op: "free", keys: ["box-1"] });
    fromWorker.send({
      op: "compute",
      key: "one-1",
      run: 2,
      fn: "s:one",
      fnRef: { kind: "source", name: "one", source: "() => 1" },
      args: pack([]),
      rank: 0,
    } as ToWorkerConnection);
    await next;
    assert.equal(worker.actors.has("box-1"), false);
    const late = await worker.actors.call({
      op: "actor-call",
      id: 2,
      key: "box-1",
      method: "get",
      args: pack([]),
    });
    assert.equal(late.gone, true);
  } finally {
    worker.close();
    toScheduler.close();
  }
});
