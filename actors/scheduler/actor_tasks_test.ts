// Actor tasks in the scheduler state machine, driven directly (validate on):
// an actor dies with its worker even though its value (the address) is
// inline, is constructed again while it has restarts, keeps its name until
// killed, and a taken name is refused.
import assert from "node:assert/strict";
import { type Packed, unpack } from "../../runtime/codec/packed.ts";
import { ActorDiedError, type TendrilError } from "../../runtime/errors.ts";
import { type Sent, Sim, spec } from "../../tests/fixtures/scheduler_sim.ts";

const errorOf = (m: Sent) => unpack(m.error as Packed) as TendrilError;

/** A sim with two workers and actor task `a` constructed on one of them. */
function hosted(actor: { maxRestarts?: number; name?: string } = {}) {
  const sim = new Sim([["w1", 1], ["w2", 1]]);
  sim.submit(spec("a", { actor }));
  const compute = sim.sent("compute")[0];
  assert.deepEqual(compute.actor, { concurrency: 1 });
  const host = sim.on("a");
  sim.finish("a", `inproc://${host}`);
  assert.equal(sim.task("a").status, "memory");
  sim.drain();
  return { sim, host, other: host === "w1" ? "w2" : "w1" };
}

Deno.test("an actor dies with its worker: holders get ActorDiedError", () => {
  const { sim, host } = hosted();
  sim.leave(host);
  const [erred] = sim.sent("key-erred", "c");
  assert.ok(errorOf(erred) instanceof ActorDiedError);
  assert.match(errorOf(erred).message, /actor a died: its worker w\d left/);
  assert.equal(sim.task("a").status, "erred");
  assert.equal(sim.sent("compute").length, 0, "not constructed again");
});

Deno.test("an actor with restarts is constructed again on another worker, then dies", () => {
  const { sim, host, other } = hosted({ maxRestarts: 1 });
  sim.leave(host);
  assert.equal(sim.sent("key-erred").length, 0);
  const [again] = sim.sent("compute", other);
  assert.equal(again.key, "a");
  assert.match(
    sim.logs().join("\n"),
    /constructing it again \(0 restarts left\)/,
  );
  sim.finish("a", `inproc://${other}`);
  const [done] = sim.sent("key-done", "c");
  assert.equal(unpack(done.value as Packed), `inproc://${other}`);
  sim.drain();
  sim.join("w3");
  sim.leave(other);
  assert.ok(errorOf(sim.sent("key-erred", "c")[0]) instanceof ActorDiedError);
});

Deno.test("an unnamed actor is freed on its worker once released", () => {
  const { sim, host } = hosted();
  sim.msg("c", { op: "release", keys: ["a"] });
  assert.deepEqual(sim.sent("free", host)[0].keys, ["a"]);
  assert.equal(sim.s.tasks.has("a"), false);
});

Deno.test("a named actor outlives its creator's release, refuses its name to another, and dies when killed", () => {
  const { sim, host } = hosted({ name: "hits" });
  sim.msg("c", { op: "release", keys: ["a"] });
  assert.equal(sim.task("a").status, "memory", "held by its name");
  sim.msg("c", { op: "get-actor", id: 7, name: "hits" });
  assert.deepEqual(sim.sent("actor-key", "c")[0], {
    op: "actor-key",
    id: 7,
    key: "a",
  });
  sim.submit(spec("b", { actor: { name: "hits" } }));
  const [refused] = sim.sent("key-erred", "c");
  assert.equal(refused.key, "b");
  assert.match(errorOf(refused).message, /an actor named "hits" exists/);
  assert.equal(sim.s.tasks.has("b"), false);
  sim.drain();
  sim.msg("c", { op: "kill-actor", key: "a" });
  assert.deepEqual(sim.sent("free", host)[0].keys, ["a"]);
  assert.equal(sim.s.tasks.has("a"), false, "nobody else held it");
  sim.msg("c", { op: "get-actor", id: 8, name: "hits" });
  assert.equal(sim.sent("actor-key", "c")[0].key, undefined);
});

Deno.test("killing a held actor errs it for its holders; its name is free again", () => {
  const { sim } = hosted({ name: "hits" });
  sim.msg("c", { op: "kill-actor", key: "a" });
  const [erred] = sim.sent("key-erred", "c");
  assert.match(errorOf(erred).message, /actor a died: it was killed/);
  sim.submit(spec("b", { actor: { name: "hits" } }));
  assert.equal(sim.task("b").status, "processing");
  assert.equal(sim.s.actorNames.get("hits")?.key, "b");
});

Deno.test("an actor whose constructor erred gives its name up to a new one", () => {
  const sim = new Sim([["w1", 1]]);
  sim.submit(spec("a", { actor: { name: "n" } }));
  sim.err("a");
  sim.submit(spec("b", { actor: { name: "n" } }));
  assert.equal(sim.task("b").status, "processing");
  assert.equal(sim.s.tasks.has("a"), true, "its creator still holds it");
  sim.msg("c", { op: "release", keys: ["a"] });
  assert.equal(sim.s.tasks.has("a"), false, "no longer held by the name");
});

Deno.test("a task running with an actor goes on when the actor is killed; one still waiting errs", () => {
  const { sim } = hosted();
  sim.submit(
    spec("user", { deps: ["a"] }),
    spec("late", { deps: ["a", "user"] }),
  );
  assert.equal(sim.task("user").status, "processing");
  assert.equal(sim.task("late").status, "waiting");
  sim.drain();
  sim.msg("c", { op: "kill-actor", key: "a" });
  const stopped = sim.sent("cancel-compute").map((m) => m.key);
  assert.deepEqual(stopped, [], "no running task is stopped");
  assert.equal(sim.task("user").status, "processing", "it runs on");
  assert.equal(sim.task("late").status, "erred", "it cannot get the actor");
  sim.finish("user", "fell back");
  assert.equal(sim.task("user").status, "memory");
});
