// Every example runs with `deno run` and prints the right answer.
import assert from "node:assert/strict";
import { within } from "./fixtures/bounded.ts";
import { runCli } from "./fixtures/processes.ts";

/** Runs a script to its end; one that runs past the bound is killed and fails the test. */
async function output(args: string[]): Promise<Deno.CommandOutput> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = child.output();
  try {
    return await within(`deno ${args.join(" ")}`, out);
  } catch (e) {
    child.kill("SIGKILL");
    await out;
    throw e;
  }
}

async function run(script: string, ...args: string[]): Promise<string> {
  const url = new URL(`../examples/${script}`, import.meta.url);
  const out = await output(["run", "--allow-read", url.pathname, ...args]);
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return text;
}

Deno.test("example: launch from client (seed options 1 and 2)", async () => {
  const out = await run("launch_from_client.ts");
  assert.match(out, /option 1: 8 elements, aggregate = 227/);
  assert.match(out, /option 2: 8 elements, aggregate = 227/);
});

for (
  const script of [
    "fib_get_client.ts",
    "fib_worker_client.ts",
    "fib_delayed.ts",
  ]
) {
  Deno.test(`example: ${script}`, async () => {
    assert.match(await run(script, "12"), /fib\(12\) = 144 in /);
  });
}

Deno.test("example: a memo actor shared by a recursive task tree", async () => {
  const out = await run("actor_memo.ts", "30");
  assert.match(out, /fib\(30\) = 832040 in /);
  assert.match(out, /memo: 29 entries after fib\(30\)/);
  assert.match(out, /fib\(40\) = 102334155: \d+ more misses/);
  assert.match(out, /memo: 39 entries, \d+ hits, \d+ misses/);
});

Deno.test("example: the main.ts + tasks.ts + lib/ layout, in-process", async () => {
  assert.equal(
    await run("layout/main.ts"),
    "50\n30 kg\n100\n1001\n42\n",
  );
});

Deno.test("example: the main.ts + tasks.ts + lib/ layout on deno task cluster", async () => {
  const cache = await Deno.makeTempDir({ prefix: "tendril-code-" });
  const launcher = runCli("cluster", [
    "--workers",
    "2",
    "--port",
    "0",
    "--code-cache",
    cache,
  ]);
  let out: Deno.CommandOutput;
  try {
    const address = await launcher.stdout.waitFor(/^tcp:\/\//);
    const url = new URL("../examples/layout/main.ts", import.meta.url);
    out = await output(["run", "-A", url.pathname, address]);
  } finally {
    await launcher.stop();
    await Deno.remove(cache, { recursive: true });
  }
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(
    new TextDecoder().decode(out.stdout),
    "50\n30 kg\n100\n1001\n42\n",
  );
});

Deno.test("example: a plain top-level-await script", async () => {
  assert.equal(await run("plain_script.ts"), "sum of squares = 30\n");
});

Deno.test("a top-level-await script without a guard runs when it ships only inline code", async () => {
  const url = new URL("./fixtures/unguarded_script.ts", import.meta.url);
  const out = await output(["run", "--allow-read", url.pathname]);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout), "28\n");
});

Deno.test("an unguarded script whose export needs module shipping is told to add the guard", async () => {
  const url = new URL("./fixtures/unguarded_needs_guard.ts", import.meta.url);
  const out = await output(["run", "--allow-read", url.pathname]);
  assert.notEqual(out.code, 0);
  assert.equal(new TextDecoder().decode(out.stdout), "2\n"); // inline work ran
  const stderr = new TextDecoder().decode(out.stderr);
  assert.match(
    stderr,
    /UnguardedEntryError: function "scaled" cannot be shipped by source: it uses "SCALE", which a worker cannot see\. It is exported by the entry script file:\/\/\S+unguarded_needs_guard\.ts, .*Wrap the script's main code in `if \(import\.meta\.main\) \{ \.\.\. \}`\./,
  );
});
