// The worker state machine, driven directly: no functions run, no I/O.
import assert from "node:assert/strict";
import { pack as encode } from "../../runtime/codec/packed.ts";
import { type WorkerEffect, WorkerState } from "./state.ts";
import { type DepLocation, type Priority, priorityRank } from "../protocol.ts";

let seq = 0;
function compute(
  w: WorkerState,
  key: string,
  deps: DepLocation[] = [],
  priority?: Priority,
) {
  w.handle({
    op: "compute",
    key,
    fn: "f",
    args: encode([]),
    deps,
    rank: priorityRank(priority ?? [0, 0, seq++]),
  });
}

function executed(effects: WorkerEffect[]): string[] {
  return effects.flatMap((e) => e.type === "execute" ? [e.task.key] : []);
}

function sent(effects: WorkerEffect[], op: string): Record<string, unknown>[] {
  return effects.flatMap((e) =>
    e.type === "send" && e.msg.op === op ? [e.msg as never] : []
  );
}

function done(w: WorkerState, key: string, inline = true) {
  w.finished(key, key.toUpperCase(), encode(key.toUpperCase()), inline);
}

Deno.test("worker: runs up to its slots, then by priority as slots free", () => {
  const w = new WorkerState(1);
  compute(w, "a");
  compute(w, "low", [], [0, 0, 100]);
  compute(w, "high", [], [5, 0, 101]);
  assert.deepEqual(executed(w.drain()), ["a"]);
  assert.equal(w.running, 1);
  done(w, "a");
  const effects = w.drain();
  assert.equal(sent(effects, "task-finished")[0].key, "a");
  assert.deepEqual(executed(effects), ["high"]);
  done(w, "high");
  assert.deepEqual(executed(w.drain()), ["low"]);
});

Deno.test("worker: results are held and inlined only when asked", () => {
  const w = new WorkerState(1);
  compute(w, "a");
  w.drain();
  w.finished("a", 1, encode(1), false);
  const [msg] = sent(w.drain(), "task-finished");
  assert.equal(msg.value, undefined);
  assert.equal(w.data.get("a")!.value, 1);
  w.handle({ op: "free", keys: ["a"] });
  assert.equal(w.heldKeys, 0);
});

Deno.test("worker: five seceding tasks on one slot all become long-running", () => {
  const w = new WorkerState(1);
  for (const k of ["t0", "t1", "t2", "t3", "t4"]) compute(w, k);
  const started: string[] = executed(w.drain());
  for (let i = 0; i < 5; i++) {
    w.secede(`t${i}`);
    const effects = w.drain();
    assert.equal(sent(effects, "seceded")[0].key, `t${i}`);
    started.push(...executed(effects));
  }
  assert.deepEqual(started, ["t0", "t1", "t2", "t3", "t4"]);
  assert.equal(w.running, 0);
  assert.ok([...w.tasks.values()].every((t) => t.status === "long-running"));
});

Deno.test("worker: rejoin waits for a busy slot and goes before unstarted tasks", () => {
  const w = new WorkerState(1);
  compute(w, "a");
  compute(w, "b");
  compute(w, "c");
  w.drain();
  w.secede("a"); // b starts
  w.drain();
  w.rejoin("a");
  assert.deepEqual(w.drain(), [], "slot busy: a waits");
  done(w, "b");
  const effects = w.drain();
  assert.ok(effects.some((e) => e.type === "rejoined" && e.key === "a"));
  assert.equal(sent(effects, "rejoined")[0].key, "a");
  assert.deepEqual(executed(effects), [], "c waits behind the rejoined task");
  done(w, "a");
  assert.deepEqual(executed(w.drain()), ["c"]);
});

Deno.test("worker: rejoin without secede and secede twice are harmless", () => {
  const w = new WorkerState(1);
  compute(w, "a");
  w.drain();
  w.rejoin("a");
  assert.ok(w.drain().some((e) => e.type === "rejoined" && e.key === "a"));
  w.secede("a");
  w.secede("a");
  assert.equal(sent(w.drain(), "seceded").length, 1);
  assert.equal(w.running, 0);
});

Deno.test("worker: dependencies are decoded or fetched before the task is ready", () => {
  const w = new WorkerState(2);
  w.handle({
    op: "compute",
    key: "x",
    fn: "f",
    args: encode([]),
    deps: [],
    rank: 0,
  });
  w.drain();
  done(w, "x");
  w.drain();
  compute(w, "t", [
    { key: "x" },
    { key: "small", value: encode(5) },
    { key: "big", who: ["inproc://w2"] },
  ]);
  const effects = w.drain();
  const decode = effects.find((e) => e.type === "decode");
  const fetch = effects.find((e) => e.type === "fetch");
  assert.ok(decode && decode.type === "decode" && decode.key === "small");
  assert.deepEqual(
    fetch && fetch.type === "fetch" && [fetch.from, fetch.keys],
    ["inproc://w2", ["big"]],
  );
  assert.deepEqual(executed(effects), []);
  const task = w.tasks.get("t")!;
  assert.equal(task.depValues!.get("x"), "X", "held locally");
  w.decoded(task, "small", 5);
  assert.deepEqual(executed(w.drain()), []);
  w.fetched(
    "inproc://w2",
    new Map([["big", { value: "B", bytes: encode("B") }]]),
    [],
  );
  assert.deepEqual(executed(w.drain()), ["t"]);
  assert.equal(task.depValues!.get("big"), "B");
});

Deno.test("worker: a failed fetch is reported as missing data", () => {
  const w = new WorkerState(1);
  compute(w, "t", [{ key: "big", who: ["inproc://gone"] }]);
  w.drain();
  w.fetched("inproc://gone", new Map(), ["big"]);
  const [missing] = sent(w.drain(), "missing-data");
  assert.deepEqual(missing, {
    op: "missing-data",
    key: "t",
    dep: "big",
    from: "inproc://gone",
  });
  assert.ok(!w.tasks.has("t"));
});

Deno.test("worker: cancelling a queued task drops it; a running one is aborted and its result dropped", () => {
  const w = new WorkerState(1);
  compute(w, "run");
  compute(w, "queued");
  w.drain();
  w.handle({ op: "cancel-compute", key: "queued", reason: "released" });
  w.handle({ op: "cancel-compute", key: "run", reason: "cancelled" });
  const effects = w.drain();
  assert.deepEqual(effects, [{
    type: "abort",
    key: "run",
    reason: "cancelled",
  }]);
  assert.equal(w.running, 1, "an aborted task keeps its slot until it returns");
  done(w, "run");
  const after = w.drain();
  assert.equal(sent(after, "task-finished").length, 0, "result dropped");
  assert.deepEqual(executed(after), [], "queued task was dropped");
  assert.equal(w.running, 0);
});

Deno.test("worker: a cancelled task waiting to rejoin is released so it can unwind", () => {
  const w = new WorkerState(1);
  compute(w, "a");
  compute(w, "b");
  w.drain();
  w.secede("a");
  w.drain();
  w.rejoin("a");
  w.drain();
  w.handle({ op: "cancel-compute", key: "a", reason: "cancelled" });
  const effects = w.drain();
  assert.ok(effects.some((e) => e.type === "rejoined" && e.key === "a"));
  assert.ok(effects.some((e) => e.type === "abort" && e.key === "a"));
  assert.equal(w.running, 1, "b still holds the only slot");
});

Deno.test("worker: failures free the slot and are reported", () => {
  const w = new WorkerState(1);
  compute(w, "a");
  w.drain();
  w.failed("a", encode(new Error("x")));
  const [msg] = sent(w.drain(), "task-erred");
  assert.equal(msg.key, "a");
  assert.equal(w.running, 0);
});

Deno.test("worker: an unknown operation is rejected with its name", () => {
  assert.throws(
    () => new WorkerState(1).handle({ op: "nope" } as never),
    /unknown operation "nope"/,
  );
});
