// The client state machine, driven directly (validate on after every event).
import assert from "node:assert/strict";
import { pack } from "../../runtime/codec/packed.ts";
import { ClientState } from "./state.ts";

Deno.test("client: retry turns erred keys pending and asks the scheduler for those only", () => {
  const c = new ClientState(true);
  for (const key of ["bad", "good"]) {
    c.handle({
      type: "submit",
      spec: { key, fn: "f", args: pack([]) },
      owner: "",
    });
  }
  c.handle({ type: "flush" });
  c.handle({
    type: "message",
    msg: { op: "key-erred", key: "bad", error: pack(new Error("x")) },
  });
  c.handle({
    type: "message",
    msg: { op: "key-done", key: "good", value: pack(1) },
  });
  c.handle({ type: "retry", keys: ["bad", "good", "unknown"] });
  assert.equal(c.record("bad")!.status, "pending");
  assert.equal(c.record("bad")!.error, undefined);
  assert.equal(c.record("good")!.status, "finished");
  const [sent] = c.handle({ type: "flush" });
  assert.deepEqual(sent, {
    type: "send",
    msgs: [{ op: "retry", keys: ["bad"] }],
  });
  assert.deepEqual(c.handle({ type: "retry", keys: ["good"] }), []);
  assert.deepEqual(
    c.handle({ type: "flush" }),
    [],
    "nothing to retry: no message",
  );
});

Deno.test("client: keys of an unread dataset answer are released, except those the owner holds", () => {
  const c = new ClientState(true);
  c.handle({ type: "hold", key: "kept", owner: "" });
  c.handle({ type: "hold", key: "other-owner", owner: "task-1" });
  c.handle({ type: "flush" });
  c.handle({
    type: "unwanted",
    keys: ["kept", "other-owner", "new"],
    owner: "",
  });
  const [sent] = c.handle({ type: "flush" });
  assert.deepEqual(sent, {
    type: "send",
    msgs: [{ op: "release", keys: ["other-owner", "new"], owner: undefined }],
  });
  assert.ok(c.record("kept")!.heldBy(""), "the held key is untouched");
  assert.ok(c.record("other-owner")!.heldBy("task-1"));
});
