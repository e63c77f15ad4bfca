/**
 * Moves one big value worker to worker over TCP and reports the throughput,
 * for comparison with the TCP bulk floor in LIMITS.md (4.2 GiB/s): a
 * Float64Array of `--mb` megabytes (default 1000) is made on one worker and
 * summed on the other, then summed where it was made; the difference is
 * the transfer (encode, frames, decode).
 *
 * Run: deno run -A bench/big_value.ts [--mb 1000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Client, registerModule } from "../mod.ts";
import { big, total } from "../tests/fixtures/tasks.ts";
import { tcpCluster } from "../tests/fixtures/processes.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { mb: { type: "string" } },
  });
  const mb = Number(values.mb ?? 1000);
  await registerModule(new URL("../tests/fixtures/tasks.ts", import.meta.url));
  await using cluster = await tcpCluster();
  await using client = await Client.connect(cluster.address);
  const n = (mb * 1e6) / 8;
  const made = client.with({ workers: ["w1"] }).submit(big, n);
  await made.exception();
  let t = performance.now();
  await client.with({ workers: ["w1"] }).submit(total, made).result();
  const local = performance.now() - t;
  t = performance.now();
  await client.with({ workers: ["w2"] }).submit(total, made).result();
  const remote = performance.now() - t;
  const seconds = (remote - local) / 1000;
  console.log(
    `${mb} MB worker to worker: ${(remote - local).toFixed(0)} ms ` +
      `(sum on the holder ${local.toFixed(0)} ms, on the other worker ${
        remote.toFixed(0)
      } ms): ${
        (mb / 1024 / seconds).toFixed(2)
      } GiB/s; TCP bulk floor 4.2 GiB/s`,
  );
}
