// The worker state machine, driven directly: no functions run, no I/O.
// Every event runs with validate on.
import assert from "node:assert/strict";
import { pack } from "../../runtime/codec/packed.ts";
import { type DepLocation, type Priority, priorityRank } from "../protocol.ts";
import { type WorkerEffect, type WorkerEvent, WorkerState } from "./state.ts";

/** A worker machine and the effects it produced since the last drain. */
class Sim {
  readonly w: WorkerState;
  out: WorkerEffect[] = [];
  private seq = 0;
  private runs = 0;
  readonly run = new Map<string, number>();

  constructor(slots = 1) {
    this.w = new WorkerState(slots, true);
  }

  event(e: WorkerEvent): void {
    this.out.push(...this.w.handle(e));
  }

  compute(key: string, deps: DepLocation[] = [], priority?: Priority): number {
    const run = ++this.runs;
    this.run.set(key, run);
    this.event({
      type: "message",
      msg: {
        op: "compute",
        key,
        run,
        fn: "f",
        args: pack([]),
        deps,
        rank: priorityRank(priority ?? [0, 0, this.seq++]),
      },
    });
    return run;
  }

  done(key: string, inline = true): void {
    const value = key.toUpperCase();
    this.event({
      type: "returned",
      key,
      run: this.run.get(key)!,
      value,
      bytes: pack(value),
      inline,
    });
  }

  drain(): WorkerEffect[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  executed(): string[] {
    return this.out.flatMap((e) => e.type === "execute" ? [e.key] : []);
  }

  sent(op: string): Record<string, unknown>[] {
    return this.out.flatMap((e) =>
      e.type === "send" && e.msg.op === op ? [e.msg as never] : []
    );
  }

  has(type: WorkerEffect["type"], key: string): boolean {
    return this.out.some((e) => e.type === type && "key" in e && e.key === key);
  }
}

Deno.test("worker: runs up to its slots, then by priority as slots free", () => {
  const t = new Sim(1);
  t.compute("a");
  t.compute("low", [], [0, 0, 100]);
  t.compute("high", [], [5, 0, 101]);
  assert.deepEqual(t.executed(), ["a"]);
  assert.equal(t.w.busySlots, 1);
  t.drain();
  t.done("a");
  assert.equal(t.sent("task-finished")[0].key, "a");
  assert.deepEqual(t.executed(), ["high"]);
  t.drain();
  t.done("high");
  assert.deepEqual(t.executed(), ["low"]);
});

Deno.test("worker: results are held and inlined only when asked", () => {
  const t = new Sim(1);
  t.compute("a");
  t.drain();
  t.done("a", false);
  assert.equal(t.sent("task-finished")[0].value, undefined);
  assert.equal(t.w.data.get("a")!.value, "A");
  t.event({ type: "message", msg: { op: "free", keys: ["a"] } });
  assert.equal(t.w.heldKeys, 0);
});

Deno.test("worker: five seceding tasks on one slot all become long-running", () => {
  const t = new Sim(1);
  for (const k of ["t0", "t1", "t2", "t3", "t4"]) t.compute(k);
  const started = t.executed();
  for (let i = 0; i < 5; i++) {
    t.drain();
    t.event({ type: "secede", key: `t${i}` });
    assert.deepEqual(t.sent("seceded")[0], {
      op: "seceded",
      key: `t${i}`,
      run: i + 1,
    });
    started.push(...t.executed());
  }
  assert.deepEqual(started, ["t0", "t1", "t2", "t3", "t4"]);
  assert.equal(t.w.busySlots, 0);
});

Deno.test("worker: rejoin waits for a busy slot and goes before unstarted tasks", () => {
  const t = new Sim(1);
  t.compute("a");
  t.compute("b");
  t.compute("c");
  t.event({ type: "secede", key: "a" }); // b starts
  t.drain();
  t.event({ type: "rejoin", key: "a" });
  assert.deepEqual(t.drain(), [], "slot busy: a waits");
  t.done("b");
  assert.ok(t.has("rejoined", "a"));
  assert.equal(t.sent("rejoined")[0].key, "a");
  assert.deepEqual(t.executed(), [], "c waits behind the rejoined task");
  t.drain();
  t.done("a");
  assert.deepEqual(t.executed(), ["c"]);
});

Deno.test("worker: rejoin without secede and secede twice are harmless", () => {
  const t = new Sim(1);
  t.compute("a");
  t.drain();
  t.event({ type: "rejoin", key: "a" });
  assert.ok(t.has("rejoined", "a"));
  t.drain();
  t.event({ type: "secede", key: "a" });
  t.event({ type: "secede", key: "a" });
  assert.equal(t.sent("seceded").length, 1);
  assert.equal(t.w.busySlots, 0);
});

Deno.test("worker: dependencies are held, decoded or fetched before the task is ready", () => {
  const t = new Sim(2);
  t.compute("x");
  t.done("x");
  t.drain();
  t.compute("t", [
    { key: "x" },
    { key: "small", value: pack(5) },
    { key: "big", who: ["inproc://w2"] },
  ]);
  const decode = t.out.find((e) => e.type === "decode");
  const fetch = t.out.find((e) => e.type === "fetch");
  assert.ok(decode?.type === "decode" && decode.dep === "small");
  assert.deepEqual(
    fetch?.type === "fetch" && [fetch.from, fetch.keys],
    ["inproc://w2", ["big"]],
  );
  assert.deepEqual(t.executed(), []);
  t.drain();
  t.event({ type: "decoded", key: "t", dep: "small", value: 5 });
  assert.deepEqual(t.executed(), []);
  t.event({
    type: "fetched",
    from: "inproc://w2",
    values: new Map([["big", "B"]]),
    missing: [],
  });
  const [run] = t.out.filter((e) => e.type === "execute");
  assert.ok(run?.type === "execute");
  assert.deepEqual([...run.deps!].sort(), [["big", "B"], ["small", 5], [
    "x",
    "X",
  ]]);
});

Deno.test("worker: a failed fetch tries the next holder, then reports missing data", () => {
  const t = new Sim(1);
  const run = t.compute("t", [{
    key: "big",
    who: ["inproc://a", "inproc://b"],
  }]);
  t.drain();
  t.event({
    type: "fetched",
    from: "inproc://a",
    values: new Map(),
    missing: ["big"],
  });
  const next = t.out.find((e) => e.type === "fetch");
  assert.deepEqual(next?.type === "fetch" && next.from, "inproc://b");
  assert.equal(t.sent("missing-data").length, 0);
  t.drain();
  t.event({
    type: "fetch-failed",
    from: "inproc://b",
    keys: ["big"],
    reason: "refused",
  });
  assert.deepEqual(t.sent("missing-data")[0], {
    op: "missing-data",
    key: "big",
    task: "t",
    run,
    notHeld: ["inproc://a"],
    unreachable: ["inproc://b"],
    reason: "inproc://a does not have it; inproc://b: refused",
  });
  assert.equal(t.w.statusOf("t"), undefined, "the run is dropped");
});

Deno.test("worker: cancelling an unstarted run drops it; a running one reports when it stops", () => {
  const t = new Sim(1);
  const running = t.compute("run");
  const queued = t.compute("queued");
  t.drain();
  t.event({
    type: "message",
    msg: {
      op: "cancel-compute",
      key: "queued",
      run: queued,
      reason: "released",
    },
  });
  assert.deepEqual(t.sent("task-stopped"), [{
    op: "task-stopped",
    key: "queued",
    run: queued,
  }]);
  t.drain();
  t.event({
    type: "message",
    msg: {
      op: "cancel-compute",
      key: "run",
      run: running,
      reason: "cancelled",
    },
  });
  assert.deepEqual(t.drain(), [{
    type: "abort",
    key: "run",
    reason: "cancelled",
  }]);
  assert.equal(
    t.w.busySlots,
    1,
    "an aborted run keeps its slot until it returns",
  );
  t.done("run");
  assert.equal(t.sent("task-finished").length, 0, "its result is dropped");
  assert.deepEqual(t.sent("task-stopped"), [{
    op: "task-stopped",
    key: "run",
    run: running,
  }]);
  assert.equal(t.w.busySlots, 0);
});

Deno.test("worker: a cancel for another run of the key is ignored", () => {
  const t = new Sim(1);
  const run = t.compute("a");
  t.drain();
  t.event({
    type: "message",
    msg: { op: "cancel-compute", key: "a", run: run + 7, reason: "old" },
  });
  assert.deepEqual(t.drain(), []);
  assert.equal(t.w.statusOf("a"), "executing");
});

Deno.test("worker: a new run of a key waits until the cancelled old one stops", () => {
  const t = new Sim(2);
  const old = t.compute("k");
  t.event({
    type: "message",
    msg: { op: "cancel-compute", key: "k", run: old, reason: "cancelled" },
  });
  t.drain();
  const fresh = t.compute("k");
  assert.deepEqual(t.executed(), [], "deferred");
  t.event({
    type: "returned",
    key: "k",
    run: old,
    value: 1,
    bytes: pack(1),
    inline: true,
  });
  assert.deepEqual(t.sent("task-stopped"), [{
    op: "task-stopped",
    key: "k",
    run: old,
  }]);
  assert.deepEqual(t.executed(), ["k"]);
  assert.equal(
    t.out.find((e) => e.type === "execute")?.type === "execute" &&
      (t.out.find((e) => e.type === "execute") as { run: number }).run,
    fresh,
  );
});

Deno.test("worker: a steal takes back an unstarted run, never a started one", () => {
  const t = new Sim(1);
  const a = t.compute("a");
  const b = t.compute("b");
  t.drain();
  t.event({ type: "message", msg: { op: "steal", key: "a", run: a } });
  assert.deepEqual(t.drain(), [], "a runs: not stolen");
  t.event({ type: "message", msg: { op: "steal", key: "b", run: b } });
  assert.deepEqual(t.sent("task-stopped"), [{
    op: "task-stopped",
    key: "b",
    run: b,
  }]);
  t.drain();
  t.done("a");
  assert.deepEqual(t.executed(), [], "b is gone");
});

Deno.test("worker: a cancelled task waiting to rejoin is released so it can unwind", () => {
  const t = new Sim(1);
  const a = t.compute("a");
  t.compute("b");
  t.event({ type: "secede", key: "a" });
  t.event({ type: "rejoin", key: "a" });
  t.drain();
  t.event({
    type: "message",
    msg: { op: "cancel-compute", key: "a", run: a, reason: "cancelled" },
  });
  assert.ok(t.has("rejoined", "a"));
  assert.ok(t.has("abort", "a"));
  assert.equal(t.w.busySlots, 1, "b still holds the only slot");
});

Deno.test("worker: failures free the slot and are reported", () => {
  const t = new Sim(1);
  const run = t.compute("a");
  t.drain();
  t.event({ type: "threw", key: "a", run, error: pack(new Error("x")) });
  assert.equal(t.sent("task-erred")[0].key, "a");
  assert.equal(t.w.busySlots, 0);
});

Deno.test("worker: an unknown operation is rejected with its name", () => {
  assert.throws(
    () =>
      new WorkerState(1).handle({
        type: "message",
        msg: { op: "nope" } as never,
      }),
    /unknown operation "nope"/,
  );
});

Deno.test("worker: a run's slot time travels with its result, for the scheduler to learn", () => {
  const t = new Sim(1);
  t.compute("a");
  t.compute("b");
  t.drain();
  const run = t.run.get("a")!;
  t.event({
    type: "returned",
    key: "a",
    run,
    value: 1,
    bytes: pack(1),
    inline: true,
    ms: 12.5,
  });
  assert.equal(t.sent("task-finished")[0].ms, 12.5);
  t.drain();
  t.done("b"); // no duration known (it seceded, say): none is sent
  assert.equal("ms" in t.sent("task-finished")[0], false);
});

Deno.test("worker: a function call runs outside the slots and answers with its value or error", () => {
  const t = new Sim(1);
  t.compute("busy"); // the only slot is taken: calls do not need one
  t.drain();
  t.event({
    type: "message",
    msg: {
      op: "call-function",
      id: 3,
      fn: "g",
      fnRef: { kind: "source", source: "() => 1", name: "g" },
      args: pack([]),
    },
  });
  assert.deepEqual(t.drain(), [{
    type: "call",
    id: 3,
    fn: "g",
    args: pack([]),
  }]);
  assert.ok(t.w.functionRef("g"));
  t.event({ type: "called", id: 3, value: pack(1) });
  assert.deepEqual(t.sent("function-result"), [{
    op: "function-result",
    id: 3,
    value: pack(1),
  }]);
  t.drain();
  t.event({ type: "called", id: 4, error: pack(new Error("x")) });
  assert.equal(t.sent("function-result")[0].error !== undefined, true);
});

Deno.test("worker: acquire keeps copies of values held elsewhere; values here answer at once; close-worker closes", () => {
  const t = new Sim();
  t.compute("a");
  t.done("a");
  t.drain();
  t.event({
    type: "message",
    msg: {
      op: "acquire",
      deps: [
        { key: "a", who: ["inproc://w0"] },
        { key: "x", who: ["inproc://w0"] },
        { key: "y", who: ["inproc://w0"] },
      ],
    },
  });
  assert.deepEqual(t.drain(), [
    {
      type: "send",
      msg: { op: "acquired", keys: ["a"], missing: [] },
    },
    {
      type: "acquire",
      deps: [
        { key: "x", who: ["inproc://w0"] },
        { key: "y", who: ["inproc://w0"] },
      ],
    },
  ]);
  const bytes = pack(7);
  t.event({
    type: "acquired",
    values: new Map([["x", { value: 7, bytes }]]),
    missing: ["y"],
  });
  assert.deepEqual(t.sent("acquired"), [
    { op: "acquired", keys: ["x"], missing: ["y"] },
  ]);
  assert.equal(t.w.data.get("x")?.value, 7);
  assert.ok(!t.w.data.has("y"));
  t.drain();
  t.event({
    type: "message",
    msg: { op: "close-worker", reason: "retired" },
  });
  assert.deepEqual(t.drain(), [{ type: "close", reason: "retired" }]);
});
