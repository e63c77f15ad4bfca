// The scheduler state machine, driven directly: no transport, no workers.
import assert from "node:assert/strict";
import {
  pack as encode,
  type Packed,
  unpack as decode,
} from "../../runtime/codec/packed.ts";
import { type Outgoing, SchedulerState } from "./state.ts";
import type { TaskSpec } from "../protocol.ts";

const FN = "s:test";
const fnRef = { kind: "source" as const, source: "(x) => x", name: "id" };

function spec(key: string, extra: Partial<TaskSpec> = {}): TaskSpec {
  return { key, fn: FN, fnRef, args: encode([1]), deps: [], ...extra };
}

function setup(workers: [string, number][] = [["w1", 1]], saturation = 4) {
  const s = new SchedulerState({ saturation });
  for (const [id, slots] of workers) s.addWorker(id, slots, `inproc://${id}`);
  s.addClient("c");
  s.drain();
  return s;
}

function ops(out: Outgoing[], op: string, to?: string) {
  return out.filter((o) => o.msg.op === op && (to === undefined || o.to === to))
    .map((o) => o.msg as never as Record<string, unknown>);
}

function finish(
  s: SchedulerState,
  worker: string,
  key: string,
  value: unknown = 1,
) {
  const bytes = encode(value);
  s.handle(worker, {
    op: "task-finished",
    key,
    value: bytes,
    nbytes: bytes.length,
  });
}

Deno.test("scheduler: submit, compute, finish, notify, release forgets", () => {
  const s = setup();
  s.handle("c", { op: "submit", tasks: [spec("a")] });
  let out = s.drain();
  const [compute] = ops(out, "compute", "w1");
  assert.equal(compute.key, "a");
  assert.deepEqual(
    compute.fnRef,
    fnRef,
    "function definition sent the first time",
  );
  assert.equal(s.tasks.get("a")!.status, "processing");
  finish(s, "w1", "a", 42);
  out = s.drain();
  const [done] = ops(out, "key-done", "c");
  assert.equal(decode(done.value as Packed), 42);
  assert.equal(s.heldKeys, 1);
  s.handle("c", { op: "release", keys: ["a"] });
  out = s.drain();
  assert.deepEqual(ops(out, "free", "w1")[0].keys, ["a"]);
  assert.equal(s.heldKeys, 0);
  assert.equal(s.tasks.size, 0);
});

Deno.test("scheduler: function definition is sent once per worker", () => {
  const s = setup();
  s.handle("c", {
    op: "submit",
    tasks: [spec("a"), { ...spec("b"), fnRef: undefined }],
  });
  const computes = ops(s.drain(), "compute");
  assert.equal(computes.length, 2);
  assert.ok(computes[0].fnRef);
  assert.equal(computes[1].fnRef, undefined);
});

Deno.test("scheduler: dependencies wait, then travel inline; deps are forgotten after use", () => {
  const s = setup();
  s.handle("c", {
    op: "submit",
    tasks: [spec("a"), spec("b", { deps: ["a", "a"] })],
  });
  s.handle("c", { op: "release", keys: ["a"] });
  assert.equal(s.tasks.get("b")!.status, "waiting");
  assert.equal(s.tasks.get("b")!.waitingOn, 1, "duplicate deps count once");
  s.drain();
  finish(s, "w1", "a", "A");
  const out = s.drain();
  const [compute] = ops(out, "compute", "w1");
  assert.equal(compute.key, "b");
  const deps = compute.deps as { key: string; value: Uint8Array }[];
  assert.equal(deps[0].key, "a");
  assert.equal(decode(deps[0].value), "A");
  assert.equal(ops(out, "key-done", "c").length, 0, "nobody wants a any more");
  finish(s, "w1", "b");
  const after = s.drain();
  assert.ok(!s.tasks.has("a"), "a forgotten once b finished");
  assert.ok(
    ops(after, "free", "w1").some((m) => (m.keys as string[]).includes("a")),
  );
});

Deno.test("scheduler: large values are located, not inlined", () => {
  const s = setup([["w1", 1], ["w2", 1]]);
  s.handle("c", { op: "submit", tasks: [spec("a")] });
  const [first] = ops(s.drain(), "compute");
  const holder = s.tasks.get("a")!.processingOn!.id;
  s.handle(holder, { op: "task-finished", key: "a", nbytes: 1e6 });
  const [done] = ops(s.drain(), "key-done", "c");
  assert.equal(first.key, "a");
  assert.deepEqual(done.who, [`inproc://${holder}`]);
  s.handle("c", { op: "submit", tasks: [spec("b", { deps: ["a"] })] });
  const [compute] = ops(s.drain(), "compute");
  assert.deepEqual((compute.deps as { who: string[] }[])[0].who, [
    `inproc://${holder}`,
  ]);
});

Deno.test("scheduler: placement prefers the worker with fewest executing tasks", () => {
  const s = setup([["w1", 1], ["w2", 1]]);
  s.handle("c", {
    op: "submit",
    tasks: [spec("a"), spec("b"), spec("c"), spec("d")],
  });
  const computes = s.drain().filter((o) => o.msg.op === "compute");
  assert.deepEqual(computes.map((o) => o.to).sort(), ["w1", "w1", "w2", "w2"]);
});

Deno.test("scheduler: queues beyond saturation, by priority then FIFO", () => {
  const s = setup([["w1", 1]], 1);
  s.handle("c", {
    op: "submit",
    tasks: [spec("a"), spec("low"), spec("high", { priority: 5 })],
  });
  assert.deepEqual(ops(s.drain(), "compute").map((m) => m.key), ["a"]);
  assert.equal(s.tasks.get("low")!.status, "queued");
  finish(s, "w1", "a");
  assert.deepEqual(ops(s.drain(), "compute").map((m) => m.key), ["high"]);
  finish(s, "w1", "high");
  assert.deepEqual(ops(s.drain(), "compute").map((m) => m.key), ["low"]);
});

Deno.test("scheduler: tasks launched from a task run before unrelated queued work", () => {
  const s = setup([["w1", 1]], 1);
  s.handle("c", { op: "submit", tasks: [spec("parent"), spec("unrelated")] });
  s.drain();
  s.handle("w1", {
    op: "submit",
    tasks: [spec("child", { parent: "parent" })],
  });
  s.handle("w1", { op: "seceded", key: "parent" });
  assert.deepEqual(ops(s.drain(), "compute").map((m) => m.key), ["child"]);
});

Deno.test("scheduler: secede frees the slot's budget, rejoin takes it back", () => {
  const s = setup([["w1", 1]], 1);
  s.handle("c", { op: "submit", tasks: [spec("a"), spec("b")] });
  s.drain();
  const w = s.workers.get("w1")!;
  assert.equal(w.executing, 1);
  s.handle("w1", { op: "seceded", key: "a" });
  assert.deepEqual(ops(s.drain(), "compute").map((m) => m.key), ["b"]);
  assert.equal(w.executing, 1, "a is long-running, b executes");
  s.handle("w1", { op: "seceded", key: "a" });
  assert.equal(w.executing, 1, "seceding twice is harmless");
  s.handle("w1", { op: "rejoined", key: "a" });
  assert.equal(w.executing, 2);
  finish(s, "w1", "a");
  assert.equal(w.executing, 1);
});

Deno.test("scheduler: a finished task releases the futures it created", () => {
  const s = setup();
  s.handle("c", { op: "submit", tasks: [spec("p")] });
  s.handle("w1", { op: "submit", tasks: [spec("kid", { parent: "p" })] });
  s.drain();
  finish(s, "w1", "kid");
  const toParentClient = ops(s.drain(), "key-done", "w1");
  assert.equal(
    toParentClient[0].key,
    "kid",
    "the worker's client hears about its child",
  );
  finish(s, "w1", "p");
  const out = s.drain();
  assert.ok(!s.tasks.has("kid"), "child forgotten with its parent");
  assert.ok(
    ops(out, "free", "w1").some((m) => (m.keys as string[]).includes("kid")),
  );
  assert.equal(s.heldKeys, 1, "only p remains, wanted by the client");
});

Deno.test("scheduler: result references keep the referenced futures alive", () => {
  const s = setup();
  s.handle("c", { op: "submit", tasks: [spec("p")] });
  s.handle("w1", {
    op: "submit",
    tasks: [spec("kid", { parent: "p" }), spec("other", { parent: "p" })],
  });
  s.drain();
  finish(s, "w1", "kid");
  finish(s, "w1", "other");
  s.handle("w1", {
    op: "task-finished",
    key: "p",
    value: encode(0),
    nbytes: 1,
    refs: ["kid"],
  });
  s.drain();
  assert.ok(s.tasks.has("kid"));
  assert.ok(!s.tasks.has("other"));
  s.handle("c", { op: "release", keys: ["p"] });
  s.drain();
  assert.equal(s.tasks.size, 0);
});

Deno.test("scheduler: cancelling a parent cancels its children and their children", () => {
  const s = setup([["w1", 4]]);
  s.handle("c", {
    op: "submit",
    tasks: [spec("p"), spec("dep-on-p", { deps: ["p"] })],
  });
  s.handle("w1", { op: "submit", tasks: [spec("kid", { parent: "p" })] });
  s.handle("w1", {
    op: "submit",
    tasks: [spec("grandkid", { parent: "kid" })],
  });
  s.drain();
  s.handle("c", { op: "cancel", keys: ["p"] });
  const out = s.drain();
  const cancelled = ops(out, "key-cancelled", "c").map((m) => m.key).sort();
  assert.deepEqual(cancelled, ["dep-on-p", "p"]);
  const aborted = ops(out, "cancel-compute", "w1").map((m) => m.key).sort();
  assert.deepEqual(aborted, ["grandkid", "kid", "p"]);
  assert.equal(s.tasks.size, 0);
  assert.equal(s.workers.get("w1")!.executing, 0);
});

Deno.test("scheduler: a shared child survives its parent's cancellation", () => {
  const s = setup([["w1", 4]]);
  s.handle("c", { op: "submit", tasks: [spec("p")] });
  s.handle("w1", { op: "submit", tasks: [spec("kid", { parent: "p" })] });
  s.handle("c", { op: "want", keys: ["kid"] });
  s.drain();
  s.handle("c", { op: "cancel", keys: ["p"] });
  s.drain();
  assert.equal(s.tasks.get("kid")?.status, "processing");
});

Deno.test("scheduler: retries rerun a failing task, then the error reaches clients and dependents", () => {
  const s = setup();
  const boom = encode(new RangeError("boom"));
  s.handle("c", {
    op: "submit",
    tasks: [spec("a", { retries: 1 }), spec("b", { deps: ["a"] })],
  });
  s.drain();
  s.handle("w1", { op: "task-erred", key: "a", error: boom });
  assert.deepEqual(
    ops(s.drain(), "compute").map((m) => m.key),
    ["a"],
    "retried",
  );
  s.handle("w1", { op: "task-erred", key: "a", error: boom });
  const out = s.drain();
  const erred = ops(out, "key-erred", "c").map((m) => m.key).sort();
  assert.deepEqual(erred, ["a", "b"]);
  const e = decode(ops(out, "key-erred", "c")[0].error as Packed) as Error;
  assert.equal(e.name, "RangeError");
});

Deno.test("scheduler: identical keys share one task", () => {
  const s = setup();
  s.handle("c", { op: "submit", tasks: [spec("same"), spec("same")] });
  s.handle("w1", { op: "submit", tasks: [spec("same")] });
  assert.equal(ops(s.drain(), "compute").length, 1);
  assert.equal(
    s.tasks.get("same")!.wantedBy!.length,
    2,
    "client and worker client",
  );
});

Deno.test("scheduler: all slots blocked on queued work is diagnosed as a deadlock", () => {
  const s = setup([["w1", 1]], 1);
  s.handle("c", { op: "submit", tasks: [spec("p")] });
  s.handle("w1", { op: "submit", tasks: [spec("kid", { parent: "p" })] });
  assert.equal(s.tasks.get("kid")!.status, "queued");
  s.handle("w1", { op: "blocked", key: "p", on: ["kid"] });
  const [deadlock] = ops(s.drain(), "deadlock", "w1");
  assert.deepEqual(deadlock.keys, ["p"]);
  assert.match(deadlock.message as string, /p waits for kid/);
});

Deno.test("scheduler: a blocked task is not a deadlock while a slot is free", () => {
  const s = setup([["w1", 2]], 1);
  s.handle("c", { op: "submit", tasks: [spec("p")] });
  s.handle("w1", { op: "submit", tasks: [spec("kid", { parent: "p" })] });
  s.handle("w1", { op: "blocked", key: "p", on: ["kid"] });
  assert.equal(ops(s.drain(), "deadlock").length, 0);
});

Deno.test("scheduler: a lost worker's tasks move; a task that keeps killing workers errs", () => {
  const s = setup([["w1", 1], ["w2", 1]]);
  s.handle("c", { op: "submit", tasks: [spec("killer")] });
  s.drain();
  for (let i = 0; i < 3; i++) {
    const on = s.tasks.get("killer")!.processingOn!.id;
    s.removeWorker(on);
    s.addWorker(on, 1, `inproc://${on}`);
    assert.equal(s.tasks.get("killer")!.status, "processing");
  }
  s.removeWorker(s.tasks.get("killer")!.processingOn!.id);
  const [erred] = ops(s.drain(), "key-erred", "c");
  assert.equal(
    (decode(erred.error as Packed) as Error).name,
    "KilledWorkerError",
  );
});

Deno.test("scheduler: a value lost with its worker is recomputed when still wanted", () => {
  const s = setup([["w1", 1], ["w2", 1]]);
  s.handle("c", { op: "submit", tasks: [spec("a")] });
  s.drain();
  const on = s.tasks.get("a")!.processingOn!.id;
  s.handle(on, { op: "task-finished", key: "a", nbytes: 1e6 });
  s.drain();
  s.removeWorker(on);
  assert.equal(s.tasks.get("a")!.status, "processing");
  assert.notEqual(s.tasks.get("a")!.processingOn!.id, on);
});

Deno.test("scheduler: a task that no longer runs there cannot launch tasks", () => {
  const s = setup([["w1", 1], ["w2", 1]]);
  s.handle("c", { op: "submit", tasks: [spec("p", { workers: ["w1"] })] });
  s.handle("w1", {
    op: "submit",
    tasks: [spec("x", { parent: "p", workers: ["w2"] })],
  });
  s.drain();
  assert.equal(s.tasks.get("x")!.processingOn!.id, "w2");
  s.removeWorker("w1"); // p is rescheduled; its child x is released and aborted
  const out = s.drain();
  assert.ok(ops(out, "cancel-compute", "w2").some((m) => m.key === "x"));
  assert.ok(!s.tasks.has("x"));
  // x has not seen the abort yet and launches a grandchild:
  s.handle("w2", { op: "submit", tasks: [spec("orphan", { parent: "x" })] });
  s.handle("w2", { op: "want", keys: ["p"], owner: "x" });
  const refused = s.drain();
  assert.ok(!s.tasks.has("orphan"), "no task without a live owner");
  assert.deepEqual(ops(refused, "key-cancelled", "w2").map((m) => m.key), [
    "orphan",
    "p",
  ]);
  assert.equal(s.owners.size, 1, "only the client's own owner exists");
});

Deno.test("scheduler: a client that leaves releases what it wanted", () => {
  const s = setup();
  s.handle("c", { op: "submit", tasks: [spec("a")] });
  s.drain();
  finish(s, "w1", "a");
  s.removeClient("c");
  s.drain();
  assert.equal(s.tasks.size, 0);
});

Deno.test("scheduler: an unknown operation is rejected with its name", () => {
  const s = setup();
  assert.throws(
    () => s.handle("c", { op: "explode" } as never),
    /unknown operation "explode"/,
  );
});
