// Issue 13: functions reach workers from any project layout (subprocess runs
// of real app folders), and a second runtime copy is refused, never wrong.
import assert from "node:assert/strict";
import { CONFIG, makeApp, ROOT, runScript } from "./fixtures/apps.ts";
import { within } from "./fixtures/bounded.ts";
import { LAYOUT_APP, LAYOUT_RESULT } from "./fixtures/layout_app.ts";
import { runCli } from "./fixtures/processes.ts";

Deno.test("project layout (main.ts, tasks.ts, lib/, npm) on an in-process cluster", async () => {
  await using app = await makeApp(LAYOUT_APP);
  const out = await runScript(app, "main.ts");
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), LAYOUT_RESULT);
});

/** `deno task cluster` of 2 workers keeping code packages in a temporary folder. */
async function tcpCluster(...args: string[]) {
  const cache = await Deno.makeTempDir({ prefix: "tendril-code-" });
  const launcher = runCli("cluster", [
    "--workers",
    "2",
    "--slots",
    "1",
    "--port",
    "0",
    ...(args.includes("--no-code-upload") ? [] : ["--code-cache", cache]),
    ...args,
  ]);
  let address: string;
  try {
    address = await launcher.stdout.waitFor(/^tcp:\/\//);
  } catch (e) {
    await launcher.stop();
    await Deno.remove(cache, { recursive: true });
    throw e;
  }
  return {
    address,
    cache,
    async [Symbol.asyncDispose]() {
      await launcher.stop();
      await Deno.remove(cache, { recursive: true });
    },
  };
}

/** Package folders in a worker code cache. */
async function cached(cache: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(cache)) {
    if (e.isDirectory && !e.name.startsWith(".")) out.push(e.name);
  }
  return out.sort();
}

Deno.test("project layout (main.ts, tasks.ts, lib/, npm) on a TCP cluster, code in packages", async () => {
  await using app = await makeApp(LAYOUT_APP);
  await using cluster = await tcpCluster();
  const out = await runScript(app, "main.ts", [cluster.address]);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), LAYOUT_RESULT);
  // main.ts's graph and tasks.ts's graph: one folder each (shared by both workers)
  const folders = await cached(cluster.cache);
  assert.equal(folders.length, 2, folders.join());
  const main = folders.find((f) =>
    Deno.readDirSync(`${cluster.cache}/${f}`).some((e) => e.name === "main.ts")
  );
  assert.ok(main);
  // the runtime is the worker's own copy, whatever path the client used
  const tasks = await Deno.readTextFile(`${cluster.cache}/${main}/tasks.ts`);
  assert.match(tasks, new RegExp(`from "${ROOT.href}mod.ts"`));
});

Deno.test("project layout on a TCP cluster whose workers take no code (--no-code-upload)", async () => {
  await using app = await makeApp(LAYOUT_APP);
  await using cluster = await tcpCluster("--no-code-upload");
  const out = await runScript(app, "main.ts", [cluster.address]);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), LAYOUT_RESULT);
  assert.deepEqual(await cached(cluster.cache), []);
});

// Two clients, one path, two versions of tasks.ts: module identity includes
// the package, so each gets its own version, also after the other ran.
const VERSIONED_APP = (version: string): Record<string, string> => ({
  "tasks.ts": `export const VERSION = "${version}";
export function versioned(x: number): string {
  return \`\${VERSION}:\${x}\`;
}
`,
  "main.ts": `
import { Client } from "{{ROOT}}mod.ts";
import { versioned } from "./tasks.ts";
if (import.meta.main) {
  await using client = await Client.connect(Deno.args[0]);
  console.log(await client.submit(versioned, 1).result());
  // Wait for a line on stdin, then submit again (the other client ran meanwhile).
  for await (const _ of Deno.stdin.readable) break;
  console.log(await client.submit(versioned, 2).result());
}
`,
});

Deno.test("two clients with different versions of tasks.ts on one cluster each get their own", async () => {
  await using app = await makeApp(VERSIONED_APP("v1"));
  await using cluster = await tcpCluster();
  const first = new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", CONFIG, "-A", "main.ts", cluster.address],
    cwd: `${app}`,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const lines = first.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    assert.equal((await within("v1 client", lines.read())).value, "v1:1\n");
    await Deno.writeTextFile(
      `${app}/tasks.ts`,
      VERSIONED_APP("v2")["tasks.ts"],
    );
    const second = await runScript(app, "main.ts", [cluster.address]);
    // (its stdin is closed: it submits twice at once)
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, "v2:1\nv2:2\n");
    const writer = first.stdin.getWriter();
    await writer.write(new TextEncoder().encode("again\n"));
    await writer.close();
    assert.equal((await within("v1 again", lines.read())).value, "v1:2\n");
    assert.equal((await within("v1 exit", first.status)).code, 0);
  } finally {
    try {
      first.kill("SIGKILL");
    } catch {
      // exited
    }
    await first.status;
  }
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

Deno.test("code that cannot travel is a ShippingError at submit on a TCP cluster, naming the module", async () => {
  await using app = await makeApp({
    "plugins.ts": `
export async function load(name: string): Promise<unknown> {
  return await import(\`./plugins/\${name}.ts\`);
}
`,
    "main.ts": `
import { Client } from "{{ROOT}}mod.ts";
import { load } from "./plugins.ts";
if (import.meta.main) {
  await using client = await Client.connect(Deno.args[0]);
  try {
    client.submit(load, "x");
    console.log("submitted");
  } catch (e) {
    console.log(JSON.stringify({ name: (e as Error).name, message: (e as Error).message }));
  }
  console.log(await client.submit((x: number) => x + 1, 1).result());
}
`,
  });
  await using cluster = await tcpCluster();
  const out = await runScript(app, "main.ts", [cluster.address]);
  assert.equal(out.code, 0, out.stderr);
  const [first, second] = out.stdout.trim().split("\n");
  const error = JSON.parse(first);
  assert.equal(error.name, "ShippingError");
  assert.match(
    error.message,
    /^cannot package file:\/\/\S+\/plugins\.ts for workers: line 3 imports a module by a computed specifier/,
  );
  assert.equal(second, "2"); // the client is still fine
});
