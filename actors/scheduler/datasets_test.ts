// Named datasets in the scheduler state machine, driven directly.
import assert from "node:assert/strict";
import { pack } from "../../runtime/codec/packed.ts";
import { KeyReference } from "../../runtime/codec/codec.ts";
import type { ToScheduler } from "../protocol.ts";
import { type Sent, Sim, spec } from "../../tests/fixtures/scheduler_sim.ts";

type Publish = Extract<ToScheduler, { op: "publish" }>;

/** A scheduler with clients `c` and `ids` joined. */
function sim(...ids: string[]): Sim {
  const t = new Sim();
  for (const id of ids) t.event({ type: "client-joined", id });
  return t;
}

const errorOf = (m: Sent) => String(m.error);

function publish(
  name: string,
  keys: string[],
  extra: Partial<Publish> = {},
): Publish {
  const value = pack({ parts: keys.map((k) => new KeyReference(k)) });
  return { op: "publish", id: 1, name, value, keys, ...extra };
}

Deno.test("datasets: published keys outlive their publisher and go with unpublish", () => {
  const t = sim("d");
  t.submit(spec("a"));
  t.finish("a");
  t.msg("c", publish("xs", ["a"]));
  assert.deepEqual(t.sent("dataset-answer", "c"), [{
    op: "dataset-answer",
    id: 1,
  }]);
  t.event({ type: "client-left", id: "c" });
  assert.equal(t.task("a").status, "memory", "held while published");
  assert.deepEqual(t.holds(), { "dataset\u0000xs": ["a"] });

  t.msg("d", { op: "get-dataset", id: 7, name: "xs" });
  const [answer] = t.sent("dataset-answer", "d");
  assert.equal(answer.id, 7);
  assert.deepEqual(answer.value, publish("xs", ["a"]).value);
  assert.ok(
    t.task("a").wantedBy!.some((o) => o.client === "d"),
    "the asker holds the keys as soon as it is answered",
  );
  t.msg("d", { op: "unpublish", id: 8, name: "xs" });
  assert.deepEqual(t.holds(), {});
  assert.equal(t.task("a").status, "memory", "d still holds it");
  t.msg("d", { op: "release", keys: ["a"] });
  assert.equal(t.s.tasks.has("a"), false, "forgotten once nobody holds it");
  assert.deepEqual(t.sent("free", "w1").map((m) => m.keys), [["a"]]);
});

Deno.test("datasets: a taken name is refused unless overridden; override swaps the keys", () => {
  const t = sim();
  t.submit(spec("a"), spec("b"));
  t.msg("c", publish("xs", ["a", "b"]));
  t.msg("c", publish("xs", ["b"], { id: 2 }));
  const [, refused] = t.sent("dataset-answer", "c");
  assert.match(
    errorOf(refused),
    /"xs" is already published; unpublish it first/,
  );
  assert.deepEqual(t.holds(), { "dataset\u0000xs": ["a", "b"] }, "unchanged");

  t.msg("c", publish("xs", ["b"], { id: 3, override: true }));
  assert.equal(t.sent("dataset-answer", "c")[2].error, undefined);
  assert.deepEqual(t.holds(), { "dataset\u0000xs": ["b"] });
  t.msg("c", { op: "release", keys: ["a", "b"] });
  assert.equal(t.s.tasks.has("a"), false, "a was let go by the override");
  assert.equal(t.task("b").status, "processing", "b never was");
});

Deno.test("datasets: unknown names and keys are refused with their names; nothing else changes", () => {
  const t = sim();
  t.msg("c", publish("xs", ["gone"]));
  t.msg("c", { op: "get-dataset", id: 2, name: "nope" });
  t.msg("c", { op: "unpublish", id: 3, name: "nope" });
  t.msg("c", publish("", []));
  const errors = t.sent("dataset-answer", "c").map(errorOf);
  assert.match(errors[0], /publish "xs": the scheduler no longer has gone/);
  assert.match(errors[1], /getDataset: no dataset named "nope" is published/);
  assert.match(errors[2], /unpublish: no dataset named "nope"/);
  assert.match(errors[3], /empty name/);
  t.msg("c", { op: "list-datasets", id: 5 });
  assert.deepEqual(t.sent("dataset-answer", "c")[4].names, []);
  assert.deepEqual(t.holds(), {});
});

Deno.test("datasets: a waiting request is answered on publish; its client leaving drops it", () => {
  const t = sim("d", "e");
  t.msg("d", { op: "get-dataset", id: 4, name: "later", wait: true });
  t.msg("e", { op: "get-dataset", id: 5, name: "later", wait: true });
  assert.equal(t.sent("dataset-answer").length, 0, "nobody answered yet");
  t.event({ type: "client-left", id: "e" });
  t.submit(spec("a"));
  t.msg("c", publish("later", ["a"]));
  t.msg("c", publish("other", []));
  assert.equal(t.sent("dataset-answer", "e").length, 0);
  const [answer] = t.sent("dataset-answer", "d");
  assert.equal(answer.id, 4);
  assert.ok(answer.value);
  t.msg("c", { op: "list-datasets", id: 6 });
  assert.deepEqual(t.sent("dataset-answer", "c").at(-1)!.names, [
    "later",
    "other",
  ]);
  t.event({ type: "client-left", id: "c" });
  t.event({ type: "client-left", id: "d" });
  assert.equal(t.task("a").status, "processing", "held for the dataset");
});
