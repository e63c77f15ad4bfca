// The scheduler state machine, driven directly: no transport, no workers.
// Every event runs with validate on (every invariant checked after it),
// except in the 100,000-task chains, where that would be quadratic.
import assert from "node:assert/strict";
import { pack, type Packed, unpack } from "../../runtime/codec/packed.ts";
import type { LostDataError } from "../../runtime/errors.ts";
import {
  FN,
  fnRef,
  type Sent,
  Sim,
  spec,
} from "../../tests/fixtures/scheduler_sim.ts";

const errorOf = (m: Sent) => unpack(m.error as Packed) as Error;

// ---- the life of tasks ---------------------------------------------------------

Deno.test("scheduler: submit, compute, finish, notify, release forgets", () => {
  const t = new Sim();
  t.submit(spec("a"));
  const [compute] = t.sent("compute", "w1");
  assert.equal(compute.key, "a");
  assert.deepEqual(compute.fnRef, fnRef, "definition sent the first time");
  assert.equal(t.task("a").status, "processing");
  t.drain();
  t.finish("a", 42);
  assert.equal(unpack(t.sent("key-done", "c")[0].value as Packed), 42);
  assert.equal(t.s.heldKeys, 1);
  t.drain();
  t.msg("c", { op: "release", keys: ["a"] });
  assert.deepEqual(t.sent("free", "w1")[0].keys, ["a"]);
  assert.equal(t.s.tasks.size, 0);
});

Deno.test("scheduler: a function definition is sent once per worker", () => {
  const t = new Sim();
  t.submit(spec("a"), { ...spec("b"), fnRef: undefined });
  const computes = t.sent("compute");
  assert.equal(computes.length, 2);
  assert.ok(computes[0].fnRef);
  assert.equal(computes[1].fnRef, undefined);
});

Deno.test("scheduler: dependencies wait, then travel inline; used values are released", () => {
  const t = new Sim();
  t.submit(spec("a"), spec("b", { deps: ["a", "a"] }));
  t.msg("c", { op: "release", keys: ["a"] });
  assert.equal(t.task("b").status, "waiting");
  assert.equal(t.task("b").waitingOn, 1, "duplicate deps count once");
  t.drain();
  t.finish("a", "A");
  const [compute] = t.sent("compute", "w1");
  assert.equal(compute.key, "b");
  const deps = compute.deps as { key: string; value: Packed }[];
  assert.equal(unpack(deps[0].value), "A");
  assert.equal(t.sent("key-done", "c").length, 0, "nobody wants a any more");
  t.drain();
  t.finish("b");
  assert.equal(
    t.task("a").status,
    "released",
    "a's value goes, its lineage stays",
  );
  assert.ok(
    t.sent("free", "w1").some((m) => (m.keys as string[]).includes("a")),
  );
  t.msg("c", { op: "release", keys: ["b"] });
  assert.equal(t.s.tasks.size, 0, "both forgotten once b is released");
});

Deno.test("scheduler: large values are located, not inlined", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.submit(spec("a"));
  const holder = t.on("a");
  t.drain();
  t.finishBig("a");
  assert.deepEqual(t.sent("key-done", "c")[0].who, [`inproc://${holder}`]);
  t.drain();
  t.submit(spec("b", { deps: ["a"] }));
  const [compute] = t.sent("compute");
  assert.deepEqual((compute.deps as { who: string[] }[])[0].who, [
    `inproc://${holder}`,
  ]);
});

Deno.test("scheduler: placement prefers the worker with fewest executing tasks", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.submit(spec("a"), spec("b"), spec("c"), spec("d"));
  const to = t.out.flatMap((e) =>
    e.type === "send" && e.msg.op === "compute" ? [e.to] : []
  );
  assert.deepEqual(to.sort(), ["w1", "w1", "w2", "w2"]);
});

Deno.test("scheduler: queues beyond saturation, by priority then FIFO", () => {
  const t = new Sim([["w1", 1]], 1);
  t.submit(spec("a"), spec("low"), spec("high", { priority: 5 }));
  assert.deepEqual(t.sent("compute").map((m) => m.key), ["a"]);
  assert.equal(t.task("low").status, "queued");
  t.drain();
  t.finish("a");
  assert.deepEqual(t.sent("compute").map((m) => m.key), ["high"]);
  t.drain();
  t.finish("high");
  assert.deepEqual(t.sent("compute").map((m) => m.key), ["low"]);
});

Deno.test("scheduler: tasks launched from a task run before unrelated queued work", () => {
  const t = new Sim([["w1", 1]], 1);
  t.submit(spec("parent"), spec("unrelated"));
  t.drain();
  t.msg("w1", { op: "submit", tasks: [spec("child", { parent: "parent" })] });
  t.worker("seceded", "parent");
  assert.deepEqual(t.sent("compute").map((m) => m.key), ["child"]);
});

Deno.test("scheduler: secede frees the slot's budget, rejoin takes it back", () => {
  const t = new Sim([["w1", 1]], 1);
  t.submit(spec("a"), spec("b"));
  t.drain();
  const w = t.s.workers.get("w1")!;
  assert.equal(w.executing, 1);
  t.worker("seceded", "a");
  assert.deepEqual(t.sent("compute").map((m) => m.key), ["b"]);
  assert.equal(w.executing, 1, "a is long-running, b executes");
  t.worker("seceded", "a");
  assert.equal(w.executing, 1, "seceding twice is harmless");
  t.worker("rejoined", "a");
  assert.equal(w.executing, 2);
  t.finish("a");
  assert.equal(w.executing, 1);
});

Deno.test("scheduler: a finished task releases the futures it created", () => {
  const t = new Sim();
  t.submit(spec("p"));
  t.msg("w1", { op: "submit", tasks: [spec("kid", { parent: "p" })] });
  t.drain();
  t.finish("kid");
  assert.equal(
    t.sent("key-done", "w1")[0].key,
    "kid",
    "the worker's client hears",
  );
  t.drain();
  t.finish("p");
  assert.ok(!t.s.tasks.has("kid"), "child forgotten with its parent");
  assert.ok(
    t.sent("free", "w1").some((m) => (m.keys as string[]).includes("kid")),
  );
  assert.equal(t.s.heldKeys, 1, "only p remains, wanted by the client");
});

Deno.test("scheduler: result references keep the referenced futures alive", () => {
  const t = new Sim();
  t.submit(spec("p"));
  t.msg("w1", {
    op: "submit",
    tasks: [spec("kid", { parent: "p" }), spec("other", { parent: "p" })],
  });
  t.finish("kid");
  t.finish("other");
  t.finish("p", 0, { refs: ["kid"] });
  assert.ok(t.s.tasks.has("kid"));
  assert.ok(!t.s.tasks.has("other"));
  t.msg("c", { op: "release", keys: ["p"] });
  assert.equal(t.s.tasks.size, 0);
});

Deno.test("scheduler: cancelling a parent cancels its dependents and children", () => {
  const t = new Sim([["w1", 4]]);
  t.submit(spec("p"), spec("dep-on-p", { deps: ["p"] }));
  t.msg("w1", { op: "submit", tasks: [spec("kid", { parent: "p" })] });
  t.msg("w1", { op: "submit", tasks: [spec("grandkid", { parent: "kid" })] });
  t.drain();
  t.msg("c", { op: "cancel", keys: ["p"] });
  const cancelled = t.sent("key-cancelled", "c").map((m) => m.key).sort();
  assert.deepEqual(cancelled, ["dep-on-p", "p"]);
  const stopped = t.sent("cancel-compute", "w1").map((m) => m.key).sort();
  assert.deepEqual(stopped, ["grandkid", "kid", "p"]);
  assert.equal(t.s.tasks.size, 0);
  const w = t.s.workers.get("w1")!;
  assert.equal(w.stopping.size, 3, "their slots stay busy until they stop");
  for (const [run, s] of [...w.stopping]) {
    t.msg("w1", { op: "task-stopped", key: s.key, run });
  }
  assert.equal(w.executing, 0);
});

Deno.test("scheduler: a shared child survives its parent's cancellation", () => {
  const t = new Sim([["w1", 4]]);
  t.submit(spec("p"));
  t.msg("w1", { op: "submit", tasks: [spec("kid", { parent: "p" })] });
  t.msg("c", { op: "want", keys: ["kid"] });
  t.msg("c", { op: "cancel", keys: ["p"] });
  assert.equal(t.task("kid").status, "processing");
});

Deno.test("scheduler: retries rerun a failing task, then the error reaches clients and dependents", () => {
  const t = new Sim();
  t.submit(spec("a", { retries: 1 }), spec("b", { deps: ["a"] }));
  t.drain();
  t.err("a");
  assert.deepEqual(t.sent("compute").map((m) => m.key), ["a"], "retried");
  t.drain();
  t.err("a");
  const erred = t.sent("key-erred", "c");
  assert.deepEqual(erred.map((m) => m.key).sort(), ["a", "b"]);
  assert.equal(errorOf(erred[0]).name, "RangeError");
});

Deno.test("scheduler: identical keys share one task", () => {
  const t = new Sim();
  t.submit(spec("same"), spec("same"));
  t.msg("w1", { op: "submit", tasks: [spec("same")] });
  assert.equal(t.sent("compute").length, 1);
  assert.equal(t.task("same").wantedBy!.length, 2, "client and worker client");
});

Deno.test("scheduler: a lost worker's tasks move; a task that keeps killing workers errs", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.submit(spec("killer"));
  for (let i = 0; i < 3; i++) {
    const on = t.on("killer");
    t.leave(on);
    t.join(on);
    assert.equal(t.task("killer").status, "processing");
  }
  t.drain();
  t.leave(t.on("killer"));
  const [erred] = t.sent("key-erred", "c");
  assert.equal(errorOf(erred).name, "KilledWorkerError");
});

Deno.test("scheduler: a value lost with its worker is recomputed when still wanted", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.submit(spec("a"));
  const on = t.on("a");
  t.finishBig("a");
  t.leave(on);
  assert.equal(t.task("a").status, "processing");
  assert.notEqual(t.on("a"), on);
});

Deno.test("scheduler: a worker that left is given no work while its tasks' children stop", () => {
  // Found by the model tests: a task failing with KilledWorkerError frees
  // its slot on the worker that left, then stopping its child's run there
  // refilled that worker with queued work.
  const t = new Sim([["w1", 2]], 1);
  t.submit(spec("killer"));
  for (let i = 0; i < 3; i++) {
    t.leave("w1");
    t.join("w1", 2);
  }
  t.msg("w1", { op: "submit", tasks: [spec("kid", { parent: "killer" })] });
  t.submit(spec("queued"));
  assert.equal(t.task("queued").status, "queued");
  t.leave("w1");
  assert.equal(t.task("queued").status, "queued", "nobody is left to run it");
  assert.equal(t.task("killer").status, "erred");
});

Deno.test("scheduler: a task that no longer runs there cannot launch tasks", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.submit(spec("p", { workers: ["w1"] }));
  t.msg("w1", {
    op: "submit",
    tasks: [spec("x", { parent: "p", workers: ["w2"] })],
  });
  assert.equal(t.on("x"), "w2");
  t.drain();
  t.leave("w1"); // p is rescheduled; its child x is released and stopped
  assert.ok(t.sent("cancel-compute", "w2").some((m) => m.key === "x"));
  assert.ok(!t.s.tasks.has("x"));
  t.drain();
  // x has not seen the cancel yet and launches a grandchild:
  t.msg("w2", { op: "submit", tasks: [spec("orphan", { parent: "x" })] });
  t.msg("w2", { op: "want", keys: ["p"], owner: "x" });
  assert.ok(!t.s.tasks.has("orphan"), "no task without a live owner");
  assert.deepEqual(t.sent("key-cancelled", "w2").map((m) => m.key), [
    "orphan",
    "p",
  ]);
  assert.equal(t.s.owners.size, 1, "only the client's own owner exists");
});

Deno.test("scheduler: a client that leaves releases what it wanted", () => {
  const t = new Sim();
  t.submit(spec("a"));
  t.finish("a");
  t.event({ type: "client-left", id: "c" });
  assert.equal(t.s.tasks.size, 0);
});

Deno.test("scheduler: an unknown operation is refused with its name", () => {
  const t = new Sim();
  assert.throws(
    () => t.msg("c", { op: "explode" } as never),
    /"explode" is for workers, and c is not one/,
  );
  assert.throws(
    () => t.msg("w1", { op: "explode" } as never),
    /unknown operation "explode"/,
  );
});

// ---- symptoms of issue 8, each failed before --------------------------------

Deno.test("scheduler: a chain of 100,000 tasks errs, cancels, releases and leaves without recursion", () => {
  const n = 100_000;
  const chain = () =>
    Array.from(
      { length: n },
      (_, i) => spec(`t${i}`, i > 0 ? { deps: [`t${i - 1}`] } : {}),
    );
  // The root errs: every task of the chain errs with it.
  let t = new Sim([["w1", 1]], 4, false);
  t.submit(...chain());
  t.drain();
  t.err("t0");
  assert.equal(t.sent("key-erred", "c").length, n);
  t.s.validate();
  // Cancelling the root cancels the chain and forgets it.
  t = new Sim([["w1", 1]], 4, false);
  t.submit(...chain());
  t.msg("c", { op: "cancel", keys: ["t0"] });
  assert.equal(t.s.tasks.size, 0);
  t.s.validate();
  // Releasing every future, then the client leaving, forgets the chain.
  t = new Sim([["w1", 1]], 4, false);
  t.submit(...chain());
  t.msg("c", { op: "release", keys: chain().map((s) => s.key).slice(0, -1) });
  t.s.validate();
  assert.equal(
    t.s.tasks.size,
    n,
    "the last one is still wanted: all are its lineage",
  );
  t.event({ type: "client-left", id: "c" });
  assert.equal(t.s.tasks.size, 0);
  t.s.validate();
});

Deno.test("scheduler: a fetch that failed from a live holder is retried, then errs naming the holder", () => {
  const t = new Sim([["wB", 1], ["wC", 1]]);
  t.submit(spec("make", { workers: ["wC"] }));
  t.finishBig("make");
  t.submit(spec("use", { deps: ["make"], workers: ["wB"] }));
  // wB reports that its fetch of make from wC (alive) failed.
  const refused = () =>
    t.msg("wB", {
      op: "missing-data",
      key: "make",
      task: "use",
      run: t.task("use").run,
      notHeld: [],
      unreachable: ["inproc://wC"],
      reason: "connection refused",
    });
  for (let i = 1; i <= 3; i++) {
    assert.equal(
      t.task("use").status,
      "processing",
      `placed again (attempt ${i})`,
    );
    t.drain();
    refused();
    assert.match(
      t.logs()[0],
      /could not fetch its dependency make from inproc:\/\/wC/,
    );
  }
  t.drain();
  refused();
  const [erred] = t.sent("key-erred", "c");
  const e = errorOf(erred);
  assert.equal(e.name, "LostDataError");
  assert.match(
    e.message,
    /could not fetch its dependency make from inproc:\/\/wC \(connection refused\); tried 4 times/,
  );
  assert.deepEqual((e as LostDataError).unreachable, ["inproc://wC"]);
  assert.equal(t.task("make").status, "memory", "the holder keeps the value");
});

Deno.test("scheduler: a fetch that failed because the holder died waits for the recompute", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.submit(spec("d", { workers: ["w2"], allowOtherWorkers: true }));
  t.finishBig("d");
  t.submit(spec("use", { deps: ["d"], workers: ["w1"] }));
  const run = t.task("use").run;
  t.leave("w2"); // d is recomputed on w1 ...
  assert.equal(t.task("d").status, "processing");
  t.drain();
  // ... when w1's report of the failed fetch from w2 arrives.
  t.msg("w1", {
    op: "missing-data",
    key: "d",
    task: "use",
    run,
    notHeld: [],
    unreachable: ["inproc://w2"],
    reason: "connection reset",
  });
  assert.equal(t.sent("key-erred").length, 0, "no LostDataError");
  assert.equal(t.task("use").status, "waiting");
  assert.equal(t.task("use").waitingOn, 1, "waits on d once");
  t.finishBig("d");
  assert.equal(t.task("use").status, "processing");
  t.finish("use", 7);
  assert.equal(unpack(t.sent("key-done", "c").at(-1)!.value as Packed), 7);
});

Deno.test("scheduler: a holder that says it lacks the value loses it; the value is recomputed", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.submit(spec("d", { workers: ["w2"] }));
  t.finishBig("d");
  t.submit(spec("use", { deps: ["d"], workers: ["w1"] }));
  t.msg("w1", {
    op: "missing-data",
    key: "d",
    task: "use",
    run: t.task("use").run,
    notHeld: ["inproc://w2"],
    unreachable: [],
    reason: "w2 does not have it",
  });
  assert.equal(t.task("d").status, "processing", "recomputed on w2");
  assert.equal(t.task("use").status, "waiting");
});

Deno.test("scheduler: a lost value is recomputed through its whole lineage", () => {
  const t = new Sim([["w1", 1], ["w2", 1]], 4);
  t.submit(
    spec("a", { workers: ["w1"] }),
    spec("b", { deps: ["a"], workers: ["w1"] }),
    spec("c", { deps: ["b"], workers: ["w1"] }),
  );
  t.msg("c", { op: "release", keys: ["a", "b"] });
  t.finishBig("a");
  t.finishBig("b");
  t.finishBig("c");
  assert.equal(t.task("a").status, "released");
  assert.equal(t.task("b").status, "released");
  t.msg("c", { op: "release", keys: [] });
  // c restricted loosely from now on would not matter: w1 dies with c's value.
  t.join("w3");
  t.leave("w1");
  assert.equal(t.task("c").status, "waiting");
  assert.equal(t.task("b").status, "waiting");
  assert.equal(
    t.task("a").status,
    "queued",
    "only w1 may run it: it waits for w1",
  );
  t.join("w1");
  t.finishBig("a");
  t.finishBig("b");
  t.finishBig("c");
  assert.equal(t.task("c").status, "memory");
  assert.equal(t.task("a").status, "released");
});

Deno.test("scheduler: a queued dependent is re-blocked when its dependency is lost", () => {
  // Symptom 8: before, the queued task was assigned with a null holder list
  // and the scheduler threw while handling the healthy worker's message.
  const t = new Sim([["w1", 1], ["w2", 1]], 1);
  t.submit(spec("p", { workers: ["w1"], allowOtherWorkers: true }));
  t.finishBig("p", 16 * 1024);
  t.submit(spec("busy", { workers: ["w2"] }));
  t.submit(spec("q", { deps: ["p"], workers: ["w2"] }));
  assert.equal(t.task("q").status, "queued");
  t.leave("w1");
  assert.equal(t.task("q").status, "waiting");
  assert.equal(t.task("p").status, "queued", "p waits for room on w2");
  t.finishBig("busy");
  assert.equal(t.on("p"), "w2");
  t.finishBig("p", 16 * 1024);
  assert.equal(t.task("q").status, "processing");
  const [compute] = t.sent("compute").filter((m) => m.key === "q");
  assert.deepEqual((compute.deps as { who: string[] }[])[0].who, [
    "inproc://w2",
  ]);
});

Deno.test("scheduler: a cancelled run keeps its slot until its worker says it stopped", () => {
  const t = new Sim([["w1", 1]], 1);
  t.submit(spec("slow"));
  const run = t.task("slow").run;
  t.msg("c", { op: "cancel", keys: ["slow"] });
  t.submit(spec("inc"));
  assert.equal(t.task("inc").status, "queued", "the slot is still busy");
  t.drain();
  t.msg("w1", { op: "task-stopped", key: "slow", run });
  assert.deepEqual(t.sent("compute").map((m) => m.key), ["inc"]);
});

Deno.test("scheduler: a client leaving while its tasks run does not free their slots early", () => {
  const t = new Sim([["w1", 1]], 1);
  t.submit(spec("long"));
  const run = t.task("long").run;
  t.event({ type: "client-joined", id: "c2" });
  t.event({ type: "client-left", id: "c" });
  t.msg("c2", { op: "submit", tasks: [spec("next")] });
  assert.equal(t.task("next").status, "queued");
  t.msg("w1", { op: "task-finished", key: "long", run, nbytes: 1 });
  assert.equal(t.task("next").status, "processing");
});

Deno.test("scheduler: a late message about an earlier run is ignored", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.submit(spec("a", { workers: ["w1"], retries: 1 }));
  const first = t.task("a").run;
  t.err("a"); // retried as a new run
  assert.notEqual(t.task("a").run, first);
  t.msg("w1", { op: "task-finished", key: "a", run: first, nbytes: 1 });
  assert.equal(t.task("a").status, "processing", "the stale result is ignored");
});

Deno.test("scheduler: a task that would depend on itself is refused", () => {
  const t = new Sim();
  t.submit(spec("k", { deps: ["k"] }));
  const [erred] = t.sent("key-erred", "c");
  assert.match(errorOf(erred).message, /task k cannot depend on itself/);
  assert.equal(t.s.tasks.size, 0);
  t.msg("c", { op: "release", keys: ["k"] });
});

Deno.test("scheduler: a dependency the scheduler does not have is refused, naming it", () => {
  const t = new Sim();
  t.submit(spec("k", { deps: ["gone"] }));
  const e = errorOf(t.sent("key-erred", "c")[0]);
  assert.equal(e.name, "LostDataError");
  assert.match(e.message, /depends on gone, which the scheduler does not have/);
});

Deno.test("scheduler: work queued behind a blocked slot is stolen for an idle worker", () => {
  // Symptom 5: the parent keeps its slot on w1 and waits for kids; the
  // second kid landed behind it on w1 while w2 was free.
  const t = new Sim([["w1", 1], ["w2", 1]], 64);
  t.submit(spec("p", { workers: ["w1"] }));
  t.msg("w1", {
    op: "submit",
    tasks: [spec("a", { parent: "p" }), spec("b", { parent: "p" })],
  });
  assert.equal(t.on("a"), "w2");
  assert.equal(t.on("b"), "w1", "queued behind its parent");
  t.drain();
  const p = t.task("p");
  t.msg("w1", { op: "blocked", key: "p", run: p.run, on: ["a", "b"] });
  assert.deepEqual(t.sent("steal", "w1").map((m) => m.key), ["b"]);
  assert.equal(t.sent("deadlock").length, 0, "w2 can still run b");
  t.worker("task-stopped", "b"); // w1 gives b back, unstarted
  assert.equal(t.on("b"), "w2");
});

Deno.test("scheduler: waits that no slot can ever serve are a deadlock naming the tasks", () => {
  const t = new Sim([["w1", 1], ["w2", 1]], 64);
  t.submit(spec("p", { workers: ["w1"] }));
  t.msg("w1", {
    op: "submit",
    tasks: [spec("kid", { parent: "p", workers: ["w1"] })],
  });
  const p = t.task("p");
  t.msg("w1", { op: "blocked", key: "p", run: p.run, on: ["kid"] });
  t.worker("task-stopped", "kid"); // stolen, but only w1 may run it
  const [deadlock] = t.sent("deadlock", "w1");
  assert.deepEqual(deadlock.keys, ["p"]);
  assert.match(deadlock.message as string, /p waits for kid/);
});

Deno.test("scheduler: a blocked task is not a deadlock while a slot can serve its wait", () => {
  const t = new Sim([["w1", 2]], 1);
  t.submit(spec("p"));
  t.msg("w1", { op: "submit", tasks: [spec("kid", { parent: "p" })] });
  const p = t.task("p");
  t.msg("w1", { op: "blocked", key: "p", run: p.run, on: ["kid"] });
  assert.equal(t.sent("deadlock").length, 0);
});

Deno.test("scheduler: a missing-data report from a client points it at the value's new place", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.submit(spec("a", { workers: ["w1"], allowOtherWorkers: true }));
  t.finishBig("a");
  t.submit(spec("b", { deps: ["a"], workers: ["w2"] }));
  t.finishBig("b"); // b's worker fetched a; it holds b
  t.leave("w1");
  t.drain();
  t.msg("c", {
    op: "missing-data",
    key: "a",
    notHeld: [],
    unreachable: ["inproc://w1"],
    reason: "connection reset",
  });
  assert.equal(t.sent("key-done", "c").length, 0, "a is being recomputed");
  t.finishBig("a");
  assert.deepEqual(t.sent("key-done", "c")[0].who, ["inproc://w2"]);
});

Deno.test("scheduler: a missing-data report about a forgotten key is answered, not left hanging", () => {
  const t = new Sim();
  t.msg("c", {
    op: "missing-data",
    key: "gone",
    notHeld: [],
    unreachable: ["inproc://w9"],
    reason: "connection refused",
  });
  assert.deepEqual(t.sent("key-cancelled", "c").map((m) => m.key), ["gone"]);
});

Deno.test("scheduler: frees wait for the end of the batch, and a new run of the key cancels its free", () => {
  const t = new Sim([["w1", 1]], 4);
  t.submit(spec("a"));
  t.finishBig("a");
  t.drain();
  // One batch from the client: release a, then submit a again.
  const released = t.s.handle({
    type: "message",
    from: "c",
    msg: { op: "release", keys: ["a"] },
  });
  assert.equal(
    released.filter((e) => e.type === "send" && e.msg.op === "free").length,
    0,
    "held back",
  );
  const resubmitted = t.s.handle({
    type: "message",
    from: "c",
    msg: { op: "submit", tasks: [spec("a")] },
  });
  assert.ok(
    resubmitted.some((e) => e.type === "send" && e.msg.op === "compute"),
  );
  const flushed = t.s.handle({ type: "flush" });
  assert.deepEqual(
    flushed,
    [],
    "the free would have deleted the new run's result",
  );
  t.s.validate();
});

Deno.test("code packages: kept from clients, answered to workers, unknown ones refused by name", () => {
  const sim = new Sim();
  const pkg = { id: "P1", files: [{ path: "tasks.ts", text: "export {};" }] };
  assert.deepEqual(sim.msg("c", { op: "code-package", package: pkg }), []);
  const [reply] = sim.msg("w1", { op: "code-request", id: "P1" });
  assert.deepEqual(reply, {
    type: "send",
    to: "w1",
    msg: { op: "code-reply", id: "P1", package: pkg },
  });
  const [none] = sim.msg("w1", { op: "code-request", id: "P2" });
  assert.ok(none.type === "send" && none.msg.op === "code-reply");
  assert.match(
    (none.msg as { error?: string }).error ?? "",
    /the scheduler has no code package P2/,
  );
  // a client may not ask: that is a worker's operation
  assert.throws(
    () => sim.msg("c", { op: "code-request", id: "P1" }),
    /"code-request" is for workers, and c is not one/,
  );
});
// ---- retry ---------------------------------------------------------------------

Deno.test("scheduler: retry reruns an erred key with the erred dependency it failed from", () => {
  const t = new Sim();
  t.submit(spec("a"), spec("b", { deps: ["a"] }), spec("c"));
  t.err("a");
  t.finish("c");
  assert.deepEqual(t.sent("key-erred", "c").map((m) => m.key).sort(), [
    "a",
    "b",
  ]);
  t.msg("c", { op: "release", keys: ["a"] }); // only b is wanted now
  t.drain();
  t.msg("c", { op: "retry", keys: ["b"] });
  assert.equal(t.task("a").status, "processing", "the root runs again");
  assert.equal(t.task("a").error, null);
  assert.equal(t.task("b").status, "waiting");
  assert.deepEqual(t.sent("compute").map((m) => m.key), ["a"]);
  t.finish("a");
  t.finish("b", 7);
  const [done] = t.sent("key-done", "c").filter((m) => m.key === "b");
  assert.equal(unpack(done.value as Packed), 7);
  assert.equal(t.task("b").status, "memory");
  assert.equal(t.task("a").status, "released", "kept as lineage, valueless");
});

Deno.test("scheduler: retry of a key that is not erred reports it; an unknown key is cancelled", () => {
  const t = new Sim();
  t.submit(spec("a"));
  t.finish("a", 3);
  t.drain();
  t.msg("c", { op: "retry", keys: ["a", "nope"] });
  assert.deepEqual(t.sent("key-done", "c").map((m) => m.key), ["a"]);
  const [cancelled] = t.sent("key-cancelled", "c");
  assert.equal(cancelled.key, "nope");
  assert.match(String(cancelled.reason), /cannot retry/);
  assert.deepEqual(t.sent("compute"), [], "nothing reruns");
});

// ---- balance: learned durations, adaptive queues, stealing ---------------------

/** Finishes `key` reporting that its run took `ms` on its slot. */
function finishIn(t: Sim, key: string, ms: number): void {
  const ts = t.task(key);
  const bytes = pack(1);
  t.msg(ts.processingOn!.id, {
    op: "task-finished",
    key,
    run: ts.run,
    value: bytes,
    nbytes: bytes.length,
    ms,
  });
}

const SLOW = "s:slow";
const slowRef = { kind: "source" as const, source: "() => 1", name: "slow" };

Deno.test("scheduler: learned durations bound a worker's queue: slow tasks wait at the scheduler, quick ones queue deep", () => {
  const t = new Sim([["w1", 1], ["w2", 1]], 64);
  t.submit(spec("first", { fn: SLOW, fnRef: slowRef }));
  finishIn(t, "first", 100);
  assert.equal(t.s.durations.known(SLOW), 100_000);
  t.drain();
  const slow = Array.from(
    { length: 10 },
    (_, i) => spec(`s${i}`, { fn: SLOW }),
  );
  t.submit(...slow);
  assert.equal(t.sent("compute").length, 2, "one per slot, the rest wait");
  assert.equal(t.s.workers.get("w1")!.occupancy, 100_000);
  for (const w of t.s.workers.values()) assert.equal(w.processing.size, 1);
  finishIn(t, "s0", 100); // its worker takes the next slow task at once
  assert.deepEqual(t.sent("compute").slice(2).map((m) => m.key), ["s2"]);
  assert.equal(t.s.queue.length, 7);
});

Deno.test("scheduler: quick tasks (learned) queue up to saturation per slot", () => {
  const t = new Sim([["w1", 1], ["w2", 1]], 64);
  t.submit(spec("q"));
  finishIn(t, "q", 0.01);
  t.submit(...Array.from({ length: 200 }, (_, i) => spec(`q${i}`)));
  for (const w of t.s.workers.values()) {
    assert.equal(w.processing.size, 64, `${w.id} queues to saturation`);
    assert.equal(w.occupancy, 64 * 10);
  }
});

Deno.test("scheduler: a seceded task frees its share of its worker's queue", () => {
  const t = new Sim([["w1", 1]], 64);
  t.submit(spec("first", { fn: SLOW, fnRef: slowRef }));
  finishIn(t, "first", 100);
  t.submit(spec("a", { fn: SLOW }), spec("b", { fn: SLOW }));
  assert.equal(t.task("b").status, "queued");
  t.worker("seceded", "a");
  assert.equal(t.task("b").status, "processing");
  assert.equal(t.s.workers.get("w1")!.occupancy, 100_000, "only b counts");
  t.worker("rejoined", "a");
  assert.equal(t.s.workers.get("w1")!.occupancy, 200_000);
});

Deno.test("scheduler: a worker that joins steals unstarted work from a busy one, last queued first", () => {
  const t = new Sim([["w1", 1]], 64);
  // Unknown durations: all six go to the only worker.
  t.submit(...Array.from({ length: 6 }, (_, i) => spec(`t${i}`)));
  assert.equal(t.s.workers.get("w1")!.processing.size, 6);
  t.drain();
  t.join("w2");
  // Estimated at 0.5 s each (unknown), 3 move to even out 6 × 0.5 s.
  const steals = t.sent("steal", "w1").map((m) => m.key);
  assert.deepEqual(steals, ["t5", "t4", "t3"]);
  for (const key of steals) assert.ok(t.task(key).stealing);
  t.drain();
  // w1 gives back two that had not started; t3 had (no answer).
  t.worker("task-stopped", "t5");
  t.worker("task-stopped", "t4");
  assert.deepEqual(t.sent("compute", "w2").map((m) => m.key).sort(), [
    "t4",
    "t5",
  ]);
  assert.equal(t.on("t3"), "w1");
  t.finish("t3"); // the refused steal ends as a normal run
  assert.equal(t.task("t3").status, "memory");
});

Deno.test("scheduler: quick tasks are not worth stealing", () => {
  const t = new Sim([["w1", 1]], 64);
  t.submit(spec("first"));
  finishIn(t, "first", 0.05); // 50 µs: less than a steal's round trips
  t.submit(...Array.from({ length: 6 }, (_, i) => spec(`t${i}`)));
  t.drain();
  t.join("w2");
  assert.deepEqual(t.sent("steal"), []);
});

Deno.test("scheduler: an idle worker steals from the busiest when its own queue ran dry", () => {
  const t = new Sim([["w1", 1], ["w2", 1]], 64);
  t.submit(spec("first", { fn: SLOW, fnRef: slowRef }));
  finishIn(t, "first", 10); // learned: 10 ms, so 5 fit the 50 ms budget
  t.submit(...Array.from({ length: 8 }, (_, i) => spec(`s${i}`, { fn: SLOW })));
  const w1 = t.s.workers.get("w1")!;
  const w2 = t.s.workers.get("w2")!;
  assert.equal(w1.processing.size + w2.processing.size, 8);
  t.drain();
  // w2 finishes all it had; w1 is still on its first.
  for (const ts of [...w2.processing]) finishIn(t, ts.key, 10);
  const steals = t.sent("steal", "w1");
  assert.ok(steals.length >= 1, "w2 asks for some of w1's queue");
  assert.ok(steals.length < w1.processing.size, "never all of it");
});

// ---- resources and restrictions --------------------------------------------------

Deno.test("scheduler: a task with resources goes only where they are free, and holds them until it ends", () => {
  const t = new Sim([], 64);
  t.join("gpu", 4, { GPU: 2 });
  t.join("cpu", 4);
  const gpu = (key: string) => spec(key, { resources: { GPU: 1 } });
  t.submit(gpu("a"), gpu("b"), gpu("c"), spec("plain"));
  assert.equal(t.on("a"), "gpu");
  assert.equal(t.on("b"), "gpu");
  assert.equal(t.task("c").status, "queued", "no GPU free anywhere");
  assert.equal(t.s.workers.get("gpu")!.resourcesUsed.get("GPU"), 2);
  t.worker("seceded", "a"); // seceding keeps what it holds
  assert.equal(t.task("c").status, "queued");
  t.finish("a");
  assert.equal(t.on("c"), "gpu", "a's GPU went to c");
  t.msg("c", { op: "cancel", keys: ["b"] }); // a cancelled run holds it until it stops
  assert.equal(t.s.workers.get("gpu")!.resourcesUsed.get("GPU"), 2);
  t.msg("gpu", {
    op: "task-stopped",
    key: "b",
    run: t.s.workers.get("gpu")!.stopping.keys().next().value!,
  });
  assert.equal(t.s.workers.get("gpu")!.resourcesUsed.get("GPU"), 1);
});

Deno.test("scheduler: resources no worker offers err at once, naming the resource", () => {
  const t = new Sim([], 64);
  t.join("gpu", 1, { GPU: 1 });
  t.drain();
  t.submit(
    spec("big", { resources: { GPU: 2 } }),
    spec("tpu", { resources: { TPU: 1 } }),
  );
  const erred = t.sent("key-erred", "c");
  assert.deepEqual(erred.map((m) => m.key), ["big", "tpu"]);
  const e = errorOf(erred[0]) as Error & {
    resource: string;
    available: number;
  };
  assert.equal(e.name, "ResourceError");
  assert.equal(e.resource, "GPU");
  assert.equal(e.available, 1);
  assert.match(errorOf(erred[1]).message, /needs TPU=1/);
  t.submit(spec("bad", { resources: { GPU: -1 } }));
  assert.match(
    errorOf(t.sent("key-erred", "c")[2]).message,
    /GPU must be a positive number/,
  );
});

Deno.test("scheduler: a task restricted to a worker not connected warns, then errs when its grace is over", () => {
  const t = new Sim([["w1", 1]], 4);
  t.submit(
    spec("lost", { workers: ["nowhere"] }),
    spec("ok", { workers: ["w1"] }),
  );
  t.submit(
    spec("later", { workers: ["w2"] }),
    spec("loose", { workers: ["nowhere"], allowOtherWorkers: true }),
  );
  assert.ok(
    t.logs().some((l) =>
      /lost may run only on nowhere, which is not connected/.test(l)
    ),
  );
  const [warning] = t.sent("warning", "c");
  assert.match(String(warning.message), /lost may run only on nowhere/);
  const timers = t.out.flatMap((e) => e.type === "timer" ? [e] : []);
  assert.equal(timers.length, 2, "one timer per event");
  assert.equal(t.on("loose"), "w1");
  t.join("w2"); // later's worker arrives within its grace
  t.drain();
  t.event({ type: "tick", token: timers[0].token });
  const [erred] = t.sent("key-erred", "c");
  assert.equal(erred.key, "lost");
  assert.equal(errorOf(erred).name, "NoWorkerError");
  t.event({ type: "tick", token: timers[1].token });
  assert.equal(t.sent("key-erred", "c").length, 1, "later found its worker");
  assert.equal(t.on("later"), "w2");
});

Deno.test("scheduler: a restricted task whose only worker died waits its grace for another, then errs", () => {
  const t = new Sim([["w1", 1], ["w2", 1]], 1);
  t.submit(
    spec("run", { workers: ["w1"] }),
    spec("queued", { workers: ["w1"] }),
    spec("anywhere", { workers: ["w1", "w2"] }),
  );
  assert.equal(t.on("run"), "w1");
  assert.equal(t.task("queued").status, "queued");
  t.drain();
  t.leave("w1");
  assert.equal(t.task("run").status, "queued", "rescheduled: no worker for it");
  assert.ok(
    t.logs().some((l) =>
      /run may run only on w1, which is not connected/.test(l)
    ),
    t.logs().join("\n"),
  );
  const timers = t.out.flatMap((e) => e.type === "timer" ? [e] : []);
  assert.equal(timers.length, 1, "one timer for the event");
  t.event({ type: "tick", token: timers[0].token });
  const erred = t.sent("key-erred", "c").map((m) => m.key).sort();
  assert.deepEqual(erred, ["queued", "run"]);
  assert.equal(errorOf(t.sent("key-erred", "c")[0]).name, "NoWorkerError");
  assert.equal(t.on("anywhere"), "w2");
});

Deno.test("scheduler: a victim that dies with steals out loses nothing; a GPU task moves to the other GPU worker", () => {
  const t = new Sim([["w1", 1]], 64);
  t.submit(...Array.from({ length: 4 }, (_, i) => spec(`t${i}`)));
  t.join("w2");
  assert.ok(t.sent("steal", "w1").length > 0);
  t.drain();
  t.leave("w1"); // before answering any steal
  for (const key of ["t0", "t1", "t2", "t3"]) {
    assert.equal(t.on(key), "w2");
    assert.equal(t.task(key).stealing, false);
  }
  const gpu = new Sim([], 64);
  for (const id of ["g1", "g2"]) {
    gpu.join(id, 1, { GPU: 1 });
  }
  gpu.submit(
    spec("a", { resources: { GPU: 1 } }),
    spec("b", { resources: { GPU: 1 } }),
    spec("c", { resources: { GPU: 1 } }),
  );
  const first = gpu.on("a");
  const other = gpu.on("b");
  gpu.leave(first);
  assert.equal(gpu.task("a").status, "queued", "waits for a free GPU");
  assert.equal(gpu.s.workers.get(other)!.resourcesUsed.get("GPU"), 1);
  gpu.finish("b");
  assert.equal(gpu.on("a"), other, "a (older) gets b's GPU");
  assert.equal(gpu.task("c").status, "queued");
});

// ---- function calls on every worker (client.run) ----------------------------------

Deno.test("scheduler: a call on every worker gathers their answers; a worker that leaves answers with an error", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  const call = { id: 7, fn: FN, fnRef, args: pack([]) };
  t.msg("c", { op: "call-on-workers", ...call });
  const sent = t.sent("call-function");
  assert.deepEqual(
    t.out.flatMap((e) =>
      e.type === "send" && e.msg.op === "call-function" ? [e.to] : []
    ).sort(),
    ["w1", "w2"],
  );
  t.drain();
  t.msg("w1", {
    op: "function-result",
    id: sent[0].id as number,
    value: pack("one"),
  });
  assert.deepEqual(t.sent("call-result"), [], "waits for w2");
  t.leave("w2");
  const [result] = t.sent("call-result", "c");
  assert.equal(result.id, 7);
  assert.equal(unpack((result.values as Record<string, Packed>).w1), "one");
  assert.match(
    errorOf({ op: "x", error: (result.errors as Record<string, Packed>).w2 })
      .message,
    /worker w2 left/,
  );
  t.drain();
  // No workers: answered at once, empty. A scheduler machine runs no client code.
  const none = new Sim([]);
  none.msg("c", { op: "call-on-workers", ...call });
  none.msg("c", { op: "call-on-scheduler", ...call });
  const [empty, refused] = none.sent("call-result", "c");
  assert.deepEqual(empty.values, {});
  assert.match(
    errorOf({
      op: "x",
      error: (refused.errors as Record<string, Packed>).scheduler,
    }).message,
    /allow-client-code/,
  );
});

Deno.test("scheduler: a worker without the resource does not steal tasks that need it", () => {
  const t = new Sim([], 64);
  t.join("gpu", 1, { GPU: 4 });
  t.submit(
    ...Array.from({ length: 4 }, (_, i) => spec(`p${i}`)),
    // Last queued, so first in line to be stolen, were it not for the GPU.
    ...Array.from(
      { length: 4 },
      (_, i) => spec(`g${i}`, { resources: { GPU: 1 } }),
    ),
  );
  t.drain();
  t.join("cpu");
  const stolen = t.sent("steal", "gpu").map((m) => String(m.key));
  assert.ok(stolen.length > 0, "plain tasks move");
  assert.ok(stolen.every((k) => k.startsWith("p")), `stole ${stolen}`);
});

Deno.test("scheduler: resources are given back at secession only when the task says so", () => {
  const t = new Sim([], 64);
  t.join("gpu", 2, { GPU: 1 });
  const gpu = { resources: { GPU: 1 } };
  t.submit(
    spec("parent", { ...gpu, releaseResourcesOnSecede: true }),
    spec("child", gpu),
  );
  assert.equal(t.task("child").status, "queued");
  t.worker("seceded", "parent");
  assert.equal(t.on("child"), "gpu", "the parent's GPU went to its child");
  t.worker("rejoined", "parent"); // not taken back: the child holds it
  assert.equal(t.s.workers.get("gpu")!.resourcesUsed.get("GPU"), 1);
  t.finish("child");
  t.finish("parent");
  assert.equal(t.s.workers.get("gpu")!.resourcesUsed.size, 0);
});

// ---- scattered values ----------------------------------------------------------

Deno.test("scheduler: a scattered value is in memory on its worker; tasks using it run without recomputing it", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.msg("c", {
    op: "scattered",
    values: [{ key: "scatter-x", nbytes: 5e7, workers: ["w1"] }],
  });
  const [done] = t.sent("key-done", "c");
  assert.deepEqual(done, {
    op: "key-done",
    key: "scatter-x",
    who: ["inproc://w1"],
  });
  const x = t.task("scatter-x");
  assert.equal(x.status, "memory");
  assert.ok(x.scattered);
  t.submit(
    spec("a", { deps: ["scatter-x"] }),
    spec("b", { deps: ["scatter-x"] }),
  );
  const computes = t.sent("compute");
  assert.equal(computes.length, 2);
  for (const c of computes) {
    assert.deepEqual(c.deps, [{ key: "scatter-x", who: ["inproc://w1"] }]);
  }
  t.finish("a");
  t.finish("b");
  // Released by its client and unused: forgotten, freed on its holder.
  t.drain();
  t.msg("c", { op: "release", keys: ["scatter-x", "a", "b"] });
  assert.equal(t.s.tasks.size, 0);
  assert.ok((t.sent("free", "w1")[0].keys as string[]).includes("scatter-x"));
});

Deno.test("scheduler: a scattered value whose only holder dies errs its dependents with LostDataError naming it", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.msg("c", {
    op: "scattered",
    values: [{ key: "scatter-x", nbytes: 10, workers: ["w1"] }],
  });
  t.submit(spec("a", { deps: ["scatter-x"], workers: ["w2"] }));
  assert.equal(t.task("a").status, "processing");
  t.drain();
  t.leave("w1");
  const erred = t.sent("key-erred", "c");
  assert.deepEqual(erred.map((m) => m.key).sort(), ["a", "scatter-x"]);
  for (const m of erred) {
    const e = errorOf(m) as LostDataError;
    assert.equal(e.name, "LostDataError");
    assert.equal(e.key, "scatter-x");
    assert.match(e.message, /scattered value scatter-x was lost/);
  }
  assert.equal(t.sent("compute").length, 0, "nothing recomputes it");
  assert.equal(t.sent("cancel-compute", "w2").length, 1);
});

Deno.test("scheduler: a scattered value with a copy on another worker survives its holder's death", () => {
  const t = new Sim([["w1", 1], ["w2", 1], ["w3", 1]]);
  t.msg("c", {
    op: "scattered",
    values: [{ key: "scatter-x", nbytes: 10, workers: ["w1", "w2"] }],
  });
  t.leave("w1");
  const x = t.task("scatter-x");
  assert.equal(x.status, "memory");
  assert.deepEqual(x.whoHas!.map((w) => w.id), ["w2"]);
  t.submit(spec("a", { deps: ["scatter-x"] }));
  assert.deepEqual(t.sent("compute")[0].deps, [
    { key: "scatter-x", who: ["inproc://w2"] },
  ]);
  assert.equal(t.sent("key-erred").length, 0);
});

Deno.test("scheduler: a released scattered value is not recomputed for a dependent that needs it again", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.msg("c", {
    op: "scattered",
    values: [{ key: "scatter-x", nbytes: 10, workers: ["w1"] }],
  });
  t.submit(spec("a", { deps: ["scatter-x"], workers: ["w2"] }));
  t.finishBig("a");
  t.msg("c", { op: "release", keys: ["scatter-x"] });
  // Kept (released) as a's lineage; a's holder w2 dies: a is recomputed,
  // and its scattered dependency, gone, errs instead of running.
  assert.equal(t.task("scatter-x").status, "released");
  t.drain();
  t.leave("w2");
  const erred = t.sent("key-erred", "c");
  assert.deepEqual(erred.map((m) => m.key), ["a"]);
  assert.equal((errorOf(erred[0]) as LostDataError).key, "scatter-x");
});

Deno.test("scheduler: scattering onto workers no longer connected errs; over a computed key is refused", () => {
  const t = new Sim([["w1", 1]]);
  t.msg("c", {
    op: "scattered",
    values: [{ key: "scatter-x", nbytes: 10, workers: ["gone"] }],
  });
  const [lost] = t.sent("key-erred", "c");
  assert.equal((errorOf(lost) as LostDataError).key, "scatter-x");
  t.submit(spec("a"));
  t.drain();
  t.msg("c", {
    op: "scattered",
    values: [{ key: "a", nbytes: 10, workers: ["w1"] }],
  });
  assert.match(
    errorOf(t.sent("key-erred", "c")[0]).message,
    /cannot scatter a: a task with that key/,
  );
  assert.equal(t.task("a").status, "processing");
});

// ---- retiring workers ------------------------------------------------------------

/** The `workers-retired` answers to client `c`. */
const retiredAnswers = (t: Sim) => t.sent("workers-retired", "c");

Deno.test("scheduler: a retiring worker gives back unstarted runs, finishes the running one, its values move, then it closes", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  const onW1 = { workers: ["w1"], allowOtherWorkers: true };
  t.submit(spec("x", onW1));
  t.finishBig("x"); // held only by w1
  t.submit(spec("y", onW1));
  t.finish("y"); // inline: the scheduler keeps a copy
  t.submit(spec("a", onW1), spec("b", onW1));
  assert.equal(t.on("a"), "w1");
  assert.equal(t.on("b"), "w1");
  t.drain();
  t.msg("c", { op: "retire-workers", id: 5, workers: ["w1"] });
  assert.deepEqual(t.sent("steal", "w1").map((m) => m.key).sort(), ["a", "b"]);
  assert.deepEqual(t.sent("acquire"), [], "nothing moves while a run is on");
  t.drain();
  t.worker("task-stopped", "b"); // b had not started: it goes to w2
  assert.equal(t.on("b"), "w2");
  t.submit(spec("c1", onW1)); // new work avoids the retiring worker
  assert.equal(t.on("c1"), "w2");
  t.drain();
  t.finishBig("a"); // a had started: it ends there
  const [acquire] = t.sent("acquire", "w2");
  assert.deepEqual(
    (acquire.deps as { key: string; who: string[] }[])
      .map((d) => [d.key, d.who]).sort(),
    [["a", ["inproc://w1"]], ["x", ["inproc://w1"]]],
    "only values no other worker (and not the scheduler) holds move",
  );
  assert.deepEqual(t.sent("close-worker"), []);
  assert.deepEqual(retiredAnswers(t), []);
  t.drain();
  t.msg("w2", { op: "acquired", keys: ["x", "a"], missing: [] });
  assert.deepEqual(t.sent("close-worker", "w1"), [{
    op: "close-worker",
    reason: "retired",
  }]);
  assert.deepEqual(retiredAnswers(t), [{
    op: "workers-retired",
    id: 5,
    workers: ["w1"],
  }]);
  assert.ok(!t.s.workers.has("w1"));
  for (const key of ["x", "a"]) {
    assert.equal(t.task(key).status, "memory", `${key} was not recomputed`);
    assert.deepEqual(t.task(key).whoHas!.map((w) => w.id), ["w2"]);
  }
  assert.deepEqual(t.sent("compute"), [], "nothing recomputed");
  t.drain();
  // Its last words, sent before it heard, are dropped; then it hangs up.
  t.msg("w1", { op: "worker-usage", rss: 1, heap: 1, cpu: 0 });
  t.leave("w1");
  assert.deepEqual(t.drain(), []);
});

Deno.test("scheduler: a copy's taker that dies is replaced; a retiring worker that dies counts as retired; retiring all is refused", () => {
  const t = new Sim([["w1", 1], ["w2", 1], ["w3", 1]]);
  const onW1 = { workers: ["w1"], allowOtherWorkers: true };
  t.submit(spec("x", onW1));
  t.finishBig("x");
  t.drain();
  t.msg("c", { op: "retire-workers", id: 1, workers: ["inproc://w1"] });
  assert.equal(t.sent("acquire", "w2").length, 1, "to the first staying");
  t.drain();
  t.leave("w2"); // before it reported the copy
  assert.equal(t.sent("acquire", "w3").length, 1, "planned again");
  t.drain();
  // The taker could not get it: the value stays on w1, lost with it.
  t.msg("w3", { op: "acquired", keys: [], missing: ["x"] });
  assert.match(t.logs()[0], /w3 could not copy x/);
  assert.deepEqual(retiredAnswers(t)[0].workers, ["w1"]);
  assert.equal(t.on("x"), "w3", "recomputed: still wanted, no copy left");
  t.drain();

  const u = new Sim([["w1", 1], ["w2", 1]]);
  u.submit(spec("a", onW1));
  u.msg("c", { op: "retire-workers", id: 2, workers: ["w1", "nope"] });
  u.drain();
  u.leave("w1"); // died while its task ran
  assert.deepEqual(retiredAnswers(u)[0].workers, ["w1"]);
  assert.equal(u.on("a"), "w2", "its task runs again elsewhere");
  u.drain();
  u.msg("c", { op: "retire-workers", id: 3, workers: ["w2"] });
  assert.match(
    retiredAnswers(u)[0].error as string,
    /retiring w2 would leave no worker/,
  );
  assert.ok(u.s.workers.has("w2"));
  u.drain();
  u.msg("c", { op: "retire-workers", id: 4, workers: ["nope"] });
  assert.deepEqual(retiredAnswers(u), [{
    op: "workers-retired",
    id: 4,
    workers: [],
  }]);
});

Deno.test("scheduler: a restart cancels every task, closes every worker, and answers once as many are back", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.event({ type: "client-joined", id: "d" });
  t.submit(spec("a"), spec("b"), spec("c", { deps: ["a"] }));
  t.finishBig("a");
  t.msg("d", { op: "want", keys: ["b"] });
  t.drain();
  t.msg("c", { op: "restart", id: 9 });
  const cancelled = t.sent("key-cancelled");
  assert.deepEqual(
    cancelled.map((m) => m.key).sort(),
    ["a", "b", "b", "c"],
    "every holder of every key hears",
  );
  for (const m of cancelled) {
    assert.match(m.reason as string, /the cluster restarted/);
  }
  assert.deepEqual(t.sent("close-worker").map((m) => m.reason), [
    "restart",
    "restart",
  ]);
  assert.equal(t.s.tasks.size, 0);
  assert.equal(t.s.workers.size, 0);
  assert.deepEqual(t.sent("restarted"), [], "not before the workers are back");
  t.drain();
  t.msg("w1", { op: "worker-usage", rss: 1, heap: 1, cpu: 0 }); // last words
  t.leave("w1");
  t.join("w1"); // the same worker, fresh
  assert.deepEqual(t.sent("restarted"), []);
  t.submit(spec("a")); // new work runs on the fresh workers
  assert.equal(t.on("a"), "w1");
  t.join("w3");
  assert.deepEqual(t.sent("restarted", "c"), [{ op: "restarted", id: 9 }]);
});

Deno.test("scheduler: a retiring worker whose last peer dies stays, takes work again, and is left out of the answer", () => {
  const t = new Sim([["w1", 1], ["w2", 1]]);
  t.submit(spec("a", { workers: ["w1"], allowOtherWorkers: true }));
  t.msg("c", { op: "retire-workers", id: 3, workers: ["w1"] });
  t.drain();
  t.leave("w2");
  assert.deepEqual(retiredAnswers(t), [{
    op: "workers-retired",
    id: 3,
    workers: [],
  }]);
  assert.match(t.logs()[0], /w1 stays: no other worker is left/);
  assert.ok(!t.s.workers.get("w1")!.retiring);
  t.submit(spec("b"));
  assert.equal(t.on("b"), "w1");
});
