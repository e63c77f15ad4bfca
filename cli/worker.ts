/**
 * `deno task worker tcp://HOST:PORT`: runs a Tendril worker that connects to
 * the scheduler at that address. Prints one line each time it connects.
 * When the scheduler goes away (killed, restarted, cut off) the worker drops
 * its tasks and values and dials again with backoff, for up to
 * `--reconnect-timeout`, then exits with code 1. Errors a task leaves behind
 * (a throw from a timer it set, an unhandled rejection) are reported against
 * that task instead of ending the process.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_HANDSHAKE_TIMEOUT } from "../runtime/wire/handshake.ts";
import {
  DEFAULT_HEARTBEAT_INTERVAL,
  WorkerServer,
} from "../actors/worker/server.ts";
import { DEFAULT_MAX_FRAME_SIZE } from "../runtime/wire/tcp/connection.ts";
import { DEFAULT_SILENCE_TIMEOUT } from "../runtime/wire/liveness.ts";
import { guardStrayErrors } from "../actors/worker/stray_errors.ts";
import { parseResources } from "../actors/scheduler/resources.ts";
import {
  intOption,
  readPem,
  readTlsFlags,
  readToken,
  runMain,
  stopOn,
  UsageError,
} from "./options.ts";

/** Default time a worker keeps dialling a lost scheduler: 5 minutes. */
const DEFAULT_RECONNECT_TIMEOUT = 300_000;
/** Where code packages are kept unless `--code-cache` says otherwise (beside Deno's own cache). */
const DEFAULT_CODE_CACHE_DIR = (() => {
  const env = (name: string) => Deno.env.get(name) || undefined;
  const cache = env("XDG_CACHE_HOME") ??
    (env("HOME") ? `${env("HOME")}/.cache` : undefined);
  return cache
    ? `${cache}/tendril/code`
    : `${env("TMPDIR") ?? "/tmp"}/tendril-code-cache`;
})();
const DEFAULT_CODE_CACHE_MB = 256;

const HELP = `Usage: deno task worker SCHEDULER_ADDRESS [options]

Runs a Tendril worker connected to the scheduler at SCHEDULER_ADDRESS
(tcp://HOST:PORT or tls://HOST:PORT). It serves its results to peers and
clients on a port of its own. Prints "tendril worker ID at ADDRESS" once
connected.

Options:
  --slots N                 tasks it runs at once (default 1)
  --resources NAME=N,...    amounts of resources it offers, e.g. GPU=2,MEM=8e9
                            (tasks submitted with { resources } hold them)
  --name ID                 its id (default worker-<pid>-<random>)
  --host HOST               interface of its data server (default 127.0.0.1
                            when the scheduler is on loopback, else 0.0.0.0)
  --port PORT               port of its data server (default 0 = any free port)
  --advertise HOST          host name peers use to reach it
  --token-file FILE         the cluster's shared token (default: TENDRIL_TOKEN)
  --tls-ca FILE             PEM CA certificate to trust for tls:// addresses
  --tls-cert FILE           PEM certificate: serve data over TLS (needs --tls-key)
  --tls-key FILE            PEM private key of --tls-cert; the worker also
                            presents this certificate when it dials a tls://
                            scheduler or peer that asks for one (mutual TLS)
  --tls-client-ca FILE      mutual TLS on its data port: peers and clients
                            must present a certificate signed by this CA
  --heartbeat-interval MS   time between heartbeats (default ${DEFAULT_HEARTBEAT_INTERVAL})
  --handshake-timeout MS    time a handshake may take (default ${DEFAULT_HANDSHAKE_TIMEOUT})
  --max-frame-size BYTES    largest frame accepted (default ${DEFAULT_MAX_FRAME_SIZE})
  --silence-timeout MS      silence of the scheduler after which it counts as
                            gone (default ${DEFAULT_SILENCE_TIMEOUT})
  --reconnect-timeout MS    how long to keep dialling a lost scheduler before
                            exiting (default ${DEFAULT_RECONNECT_TIMEOUT})
  --code-cache DIR          where clients' code packages are kept (default
                            ${DEFAULT_CODE_CACHE_DIR})
  --code-cache-size MB      bound of that folder (default ${DEFAULT_CODE_CACHE_MB})
  --no-code-upload          take no code packages: import clients' modules by
                            their URL (their files must be on this host)
  -h, --help                show this help
`;

/** `--resources`, parsed, or a usage error naming the problem. */
function resourcesOption(text: string): Record<string, number> {
  try {
    return parseResources(text);
  } catch (e) {
    throw new UsageError(`--resources: ${(e as Error).message}`);
  }
}

/**
 * Parses the command line, connects the worker, and exits once the
 * scheduler connection closes (code 1 if it failed) or on a signal.
 */
async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      slots: { type: "string" },
      resources: { type: "string" },
      name: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      advertise: { type: "string" },
      "token-file": { type: "string" },
      "tls-ca": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "tls-client-ca": { type: "string" },
      "heartbeat-interval": { type: "string" },
      "handshake-timeout": { type: "string" },
      "max-frame-size": { type: "string" },
      "silence-timeout": { type: "string" },
      "reconnect-timeout": { type: "string" },
      "code-cache": { type: "string" },
      "code-cache-size": { type: "string" },
      "no-code-upload": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      "give the scheduler's address, e.g. tcp://127.0.0.1:8786",
    );
  }
  if (values["no-code-upload"] && values["code-cache"]) {
    throw new UsageError(
      "--no-code-upload and --code-cache exclude each other",
    );
  }
  const tls = readTlsFlags(values);
  const options: Parameters<typeof WorkerServer.start>[0] = {
    scheduler: positionals[0],
    id: values.name,
    slots: intOption("slots", values.slots, 1, 1),
    resources: values.resources === undefined
      ? undefined
      : resourcesOption(values.resources),
    host: values.host,
    port: intOption("port", values.port, 0),
    advertise: values.advertise,
    token: readToken(values["token-file"]),
    caCerts: values["tls-ca"]
      ? [readPem("tls-ca", values["tls-ca"])]
      : undefined,
    tls,
    // Its own certificate is also what it presents when a peer asks.
    clientCert: tls && { cert: tls.cert, key: tls.key },
    heartbeatInterval: intOption(
      "heartbeat-interval",
      values["heartbeat-interval"],
      DEFAULT_HEARTBEAT_INTERVAL,
      1,
    ),
    handshakeTimeout: intOption(
      "handshake-timeout",
      values["handshake-timeout"],
      DEFAULT_HANDSHAKE_TIMEOUT,
      1,
    ),
    maxFrameSize: intOption(
      "max-frame-size",
      values["max-frame-size"],
      DEFAULT_MAX_FRAME_SIZE,
      1024,
    ),
    silenceTimeout: intOption(
      "silence-timeout",
      values["silence-timeout"],
      DEFAULT_SILENCE_TIMEOUT,
      1,
    ),
    codeCache: values["no-code-upload"] ? undefined : {
      dir: values["code-cache"] ?? DEFAULT_CODE_CACHE_DIR,
      maxBytes: intOption(
        "code-cache-size",
        values["code-cache-size"],
        DEFAULT_CODE_CACHE_MB,
        1,
      ) * 1024 * 1024,
    },
  };
  const reconnectTimeout = intOption(
    "reconnect-timeout",
    values["reconnect-timeout"],
    DEFAULT_RECONNECT_TIMEOUT,
    0,
  );
  let current: WorkerServer | undefined;
  let stopping = false;
  guardStrayErrors((error, task) => {
    if (current) current.worker.strayError(error, task);
    else console.error(`tendril: uncaught error: ${error}`);
  });
  stopOn(() => {
    stopping = true;
    return current?.close() ?? Promise.resolve();
  });
  // The first connection fails fast (a wrong address or token is a usage
  // error); later ones are the same scheduler coming back.
  let server: WorkerServer | undefined = await WorkerServer.start(options);
  for (;;) {
    current = server;
    console.log(`tendril worker ${server.id} at ${server.address}`);
    const reason = await server.closed;
    await server.close();
    if (stopping) return;
    if (server.worker.retired === "retired") {
      // Retired by the scheduler (retireWorkers): done for good, not lost.
      console.error(
        `tendril: worker ${server.id}: ${server.worker.retired} by the scheduler; exiting`,
      );
      Deno.exit(0); // the signal listeners of stopOn would keep it alive
    }
    console.error(
      server.worker.retired === "restart"
        ? `tendril: worker ${server.id}: restarted by the scheduler; ` +
          `dropping everything and registering again`
        : `tendril: worker ${server.id}: lost the scheduler${
          reason ? ` (${reason.message})` : ""
        }; its tasks and values are dropped; dialling again for up to ${reconnectTimeout} ms`,
    );
    current = undefined;
    server = await reconnect(options, reconnectTimeout, () => stopping);
    if (!server) {
      if (stopping) return;
      console.error(
        `tendril: no scheduler at ${options.scheduler} within ${reconnectTimeout} ms; exiting`,
      );
      Deno.exit(1);
    }
  }
}

/**
 * Starts a worker again, with backoff (100 ms doubling to 5 s), until it
 * connects, `timeout` ms pass, or `stopping()`; undefined when it gave up.
 */
async function reconnect(
  options: Parameters<typeof WorkerServer.start>[0],
  timeout: number,
  stopping: () => boolean,
): Promise<WorkerServer | undefined> {
  const deadline = performance.now() + timeout;
  let delay = 100;
  while (!stopping() && performance.now() + delay <= deadline) {
    await new Promise((r) => setTimeout(r, delay));
    try {
      return await WorkerServer.start(options);
    } catch {
      delay = Math.min(5000, delay * 2);
    }
  }
  return undefined;
}

if (import.meta.main) await runMain(main);
