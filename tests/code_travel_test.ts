// Issue 13: functions reach workers from any project layout (subprocess runs
// of real app folders), and a second runtime copy is refused, never wrong.
import assert from "node:assert/strict";
import { makeApp, ROOT, runScript } from "./fixtures/apps.ts";
import { LAYOUT_APP, LAYOUT_RESULT } from "./fixtures/layout_app.ts";
import { runCli } from "./fixtures/processes.ts";

Deno.test("project layout (main.ts, tasks.ts, lib/, npm) on an in-process cluster", async () => {
  await using app = await makeApp(LAYOUT_APP);
  const out = await runScript(app, "main.ts");
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), LAYOUT_RESULT);
});

Deno.test("project layout (main.ts, tasks.ts, lib/, npm) on a TCP cluster", async () => {
  await using app = await makeApp(LAYOUT_APP);
  await using launcher = runCli("cluster", [
    "--workers",
    "2",
    "--slots",
    "1",
    "--port",
    "0",
  ]);
  const address = await launcher.stdout.waitFor(/^tcp:\/\//);
  const out = await runScript(app, "main.ts", [address]);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), LAYOUT_RESULT);
});

// The client's module imports Tendril through a symlink: another path, so a
// second copy of every runtime module. Before the codec owned its msgpack
// code, that copy re-registered msgpackr's global extensions and every
// later task on the worker got unresolved key references (NaN, "[object
// Object]", bytes without subarray), with no error.
const SECOND_COPY_APP: Record<string, string> = {
  "tasks.ts": `
import { getClient } from "./rt/mod.ts";
export function usesClient(): string {
  return typeof getClient().submit;
}
`,
  "main.ts": `
import { Client, LocalCluster } from "{{ROOT}}mod.ts";
import { usesClient } from "./tasks.ts";

if (import.meta.main) {
  await using cluster = await LocalCluster.start({ workers: 1, slots: 1 });
  await using client = await Client.connect(cluster);
  const refused = await client.submit(usesClient).result().then(
    (v) => ({ name: "none", message: String(v) }),
    (e) => ({ name: e.name, message: e.message }),
  );
  const a = client.submit(() => 20);
  const b = client.submit(() => new Uint8Array([1, 2]));
  const sum = client.submit(
    (x: number, y: Uint8Array) => \`\${x + y.length} \${typeof y.subarray}\`,
    a,
    b,
  );
  console.log(JSON.stringify({ refused, after: await sum.result() }));
}
`,
};

Deno.test("a module that loads a second runtime copy is refused on the worker; other tasks stay right", async () => {
  await using app = await makeApp(SECOND_COPY_APP);
  await Deno.symlink(ROOT.pathname, `${app}/rt`);
  const out = await runScript(app, "main.ts");
  assert.equal(out.code, 0, out.stderr);
  const { refused, after } = JSON.parse(out.stdout);
  assert.equal(refused.name, "ShippingError");
  assert.match(
    refused.message,
    /^cannot load function "usesClient": importing file:\/\/\S+\/tasks\.ts loaded a second copy of the Tendril runtime \(file:\/\/\S+\/rt\/\) into a worker that runs file:\/\/\S+\. .*Import Tendril in your modules by one specifier/,
  );
  assert.equal(after, "22 function");
});
