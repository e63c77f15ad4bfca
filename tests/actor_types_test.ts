// Actor handles are typed: `deno check` accepts right uses and refuses a
// wrong method, wrong arguments, a wrong constructor argument, and a
// result used as the wrong type. Each case is a file written to a temporary
// folder and checked with this repository's config.
import assert from "node:assert/strict";

const MOD = new URL("../mod.ts", import.meta.url).href;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** A module using a Counter actor with `body` as the end of an async function. */
function program(body: string): string {
  return `import { Client, LocalCluster, type Actor } from "${MOD}";
class Counter {
  n = 0;
  constructor(start: number) { this.n = start; }
  increment(by = 1): number { return (this.n += by); }
  async label(prefix: string): Promise<string> { return prefix + this.n; }
}
export async function main(client: Client): Promise<void> {
  const counter: Actor<Counter> = await client.actor(Counter, 1);
${body}
}
void LocalCluster;
`;
}

/** Runs `deno check` on `source`; resolves with its exit success and its output. */
async function check(source: string): Promise<{ ok: boolean; out: string }> {
  const dir = await Deno.makeTempDir({ prefix: "tendril-types-" });
  try {
    const file = `${dir}/use.ts`;
    await Deno.writeTextFile(file, source);
    const { success, stdout, stderr } = await new Deno.Command(
      Deno.execPath(),
      {
        args: ["check", "--config", CONFIG, file],
        stdout: "piped",
        stderr: "piped",
      },
    ).output();
    const text = new TextDecoder();
    return {
      ok: success,
      out: text.decode(stdout) + text.decode(stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("deno check accepts right uses of an actor handle", async () => {
  const { ok, out } = await check(program(`
  const n: number = await counter.increment(2);
  const s: string = await counter.label("n=");
  await client.actor(Counter, 0, { name: "c", concurrency: 2 });
  await counter.kill();
  void n; void s;`));
  assert.ok(ok, out);
});

for (
  const [what, body, error] of [
    ["a method the class lacks", "await counter.decrement();", /decrement/],
    [
      "a wrong argument type",
      'await counter.increment("two");',
      /not assignable to parameter of type 'number'/,
    ],
    [
      "a result used as the wrong type",
      "const s: string = await counter.increment();\n  void s;",
      /Type 'number' is not assignable to type 'string'/,
    ],
    [
      "a wrong constructor argument",
      'await client.actor(Counter, "one");',
      /not assignable/,
    ],
    [
      "a call result used without awaiting",
      "const n: number = counter.increment();\n  void n;",
      /Promise<number>/,
    ],
  ] as const
) {
  Deno.test(`deno check refuses ${what}`, async () => {
    const { ok, out } = await check(program(body));
    assert.ok(!ok, `deno check passed a file with ${what}`);
    assert.match(out, error);
  });
}
