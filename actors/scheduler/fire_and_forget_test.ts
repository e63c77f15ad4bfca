// Fire-and-forget in the scheduler state machine, driven directly.
import assert from "node:assert/strict";
import { Sim, spec } from "../../tests/fixtures/scheduler_sim.ts";

Deno.test("fire-and-forget: the task runs on after its client leaves, then is forgotten", () => {
  const t = new Sim();
  t.submit(spec("a"));
  t.msg("c", { op: "fire-and-forget", keys: ["a"] });
  t.event({ type: "client-left", id: "c" });
  assert.equal(t.task("a").status, "processing");
  assert.equal(t.sent("cancel-compute").length, 0, "not stopped");
  t.finish("a");
  assert.equal(t.s.tasks.has("a"), false, "let go once in memory");
  assert.deepEqual(t.sent("free", "w1").map((m) => m.keys), [["a"]]);
  assert.deepEqual(t.holds(), {}, "no hold is left behind");
});

Deno.test("fire-and-forget: dependencies run too; an erred key is let go", () => {
  const t = new Sim();
  t.submit(spec("a"), spec("b", { deps: ["a"] }));
  t.msg("c", { op: "fire-and-forget", keys: ["b"] });
  t.msg("c", { op: "release", keys: ["a", "b"] });
  assert.equal(t.task("b").status, "waiting");
  assert.deepEqual(t.holds(), { "fire-and-forget\u0000b": ["b"] });
  t.finish("a");
  assert.equal(t.task("b").status, "processing");
  t.err("b");
  assert.equal(t.s.tasks.size, 0, "erred, and nobody wants it");
  assert.deepEqual(t.holds(), {});
});

Deno.test("fire-and-forget: other holders keep the key; a done key is not held; cancel lets go", () => {
  const t = new Sim();
  t.event({ type: "client-joined", id: "d" });
  t.submit(spec("a"), spec("b"));
  t.msg("d", { op: "want", keys: ["a"] });
  t.msg("c", { op: "fire-and-forget", keys: ["a"] });
  t.finish("a");
  t.event({ type: "client-left", id: "c" });
  assert.equal(t.task("a").status, "memory", "d still holds it");
  // A key already in memory has run to its end: nothing to hold.
  t.msg("d", { op: "fire-and-forget", keys: ["a", "unknown"] });
  t.msg("d", { op: "release", keys: ["a"] });
  assert.equal(t.s.tasks.has("a"), false);
  assert.equal(t.s.tasks.has("b"), false, "b went with c");
  // A cancelled key is let go too (its hold does not outlive it).
  t.msg("d", { op: "submit", tasks: [spec("y")] });
  t.msg("d", { op: "fire-and-forget", keys: ["y"] });
  t.msg("d", { op: "cancel", keys: ["y"] });
  assert.equal(t.s.tasks.has("y"), false);
  assert.deepEqual(t.holds(), {}, "no hold outlives its key");
});
