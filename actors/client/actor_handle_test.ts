// ActorLink against a fake client: where calls go as the record of the
// actor's key changes, and what the link leaves on the record between calls.
import assert from "node:assert/strict";
import { type ActorClient, ActorLink } from "./actor_handle.ts";
import { KeyRecord } from "./state.ts";
import type { Future } from "./future.ts";
import { pack, unpack } from "../../runtime/codec/packed.ts";

/** A link over a fake client whose every worker answers with its own address. */
function fakeLink(address: string) {
  const record = new KeyRecord("Counter-1");
  record.status = "finished";
  record.value = pack(address);
  const sent: string[] = [];
  const methods: string[] = [];
  const client: ActorClient = {
    maxMessageSize: undefined,
    settle: () => Promise.resolve(),
    errorOf: (r) => unpack(r.error!),
    decodeValue: (b) => unpack(b),
    callActor: (to, _key, method) => {
      sent.push(to);
      methods.push(method);
      return Promise.resolve({ op: "actor-reply", id: 0, value: pack(to) });
    },
    relocate: () => {},
    killActor: () => Promise.resolve(),
    watch: (r, fn) => {
      (r.waiters ??= []).push(fn);
      return () => r.waiters?.splice(r.waiters.indexOf(fn), 1);
    },
  };
  const future = { key: record.key, record } as unknown as Future<unknown>;
  return {
    link: new ActorLink(client, future, address),
    record,
    sent,
    methods,
  };
}

Deno.test("a link leaves no waiter on its record once its calls are answered", async () => {
  const { link, record } = fakeLink("tcp://a");
  assert.equal(await link.call("get", []), "tcp://a");
  // A waiter would hold the link, and its future, for as long as the key
  // is known: a dropped handle would never be collected.
  assert.equal(record.waiters?.length ?? 0, 0);
});

Deno.test("news that came between calls moves the next call", async () => {
  const { link, record, sent } = fakeLink("tcp://a");
  assert.equal(await link.call("get", []), "tcp://a");
  // Constructed again elsewhere while no call was under way.
  record.value = pack("tcp://b");
  assert.equal(await link.call("get", []), "tcp://b");
  assert.deepEqual(sent, ["tcp://a", "tcp://b"]);
});

Deno.test("calls made together are sent in the order made, the first ones too", async () => {
  const { link, record, methods } = fakeLink("tcp://a");
  const calls = ["a", "b", "c"].map((m) => link.call(m, []));
  await Promise.all(calls);
  // Again after news: a changed value is read without waiting, too.
  record.value = pack("tcp://b");
  await Promise.all(["d", "e"].map((m) => link.call(m, [])));
  assert.deepEqual(methods, ["a", "b", "c", "d", "e"]);
});
