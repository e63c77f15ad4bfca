// The network checks of every message are a table the compiler holds to the
// message types (runtime/wire/checks.ts): a field without a check, or with
// the check of another type, does not type-check. This test proves it by
// type-checking such tables.
import assert from "node:assert/strict";
import { within } from "./fixtures/bounded.ts";

const CHECKS = new URL("../runtime/wire/checks.ts", import.meta.url).href;

async function typeChecks(table: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tendril-table-" });
  try {
    const file = `${dir}/table.ts`;
    await Deno.writeTextFile(
      file,
      `import { list, type MessageTable, nat, optional, str } from ${
        JSON.stringify(CHECKS)
      };
type Msg = { op: "want"; keys: string[]; owner?: string } | { op: "seceded"; key: string; run: number };
export const table: MessageTable<Msg> = ${table};
`,
    );
    const out = await within(
      "deno check",
      new Deno.Command(Deno.execPath(), {
        args: [
          "check",
          "--config",
          new URL("../deno.json", import.meta.url).pathname,
          file,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output(),
    );
    return out.success ? "" : new TextDecoder().decode(out.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("protocol checks: a complete table type-checks; a missing or mistyped check does not", async () => {
  assert.equal(
    await typeChecks(
      `{ want: { keys: list(str()), owner: optional(str()) }, seceded: { key: str(), run: nat } }`,
    ),
    "",
  );
  assert.match(
    await typeChecks(
      `{ want: { keys: list(str()), owner: optional(str()) }, seceded: { key: str() } }`,
    ),
    /Property 'run' is missing/,
  );
  assert.match(
    await typeChecks(
      `{ want: { keys: list(str()), owner: str() }, seceded: { key: str(), run: nat } }`,
    ),
    /not assignable/,
    "a check of `string` will not do for an optional string",
  );
});
