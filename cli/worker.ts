/**
 * `deno task worker tcp://HOST:PORT`: runs a Tendril worker that connects to
 * the scheduler at that address. Prints one line when connected; exits when
 * the scheduler goes away.
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
import { parseResources } from "../actors/scheduler/resources.ts";
import {
  intOption,
  readPem,
  readToken,
  runMain,
  stopOn,
  UsageError,
} from "./options.ts";

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
  --tls-key FILE            PEM private key of --tls-cert
  --heartbeat-interval MS   time between heartbeats (default ${DEFAULT_HEARTBEAT_INTERVAL})
  --handshake-timeout MS    time a handshake may take (default ${DEFAULT_HANDSHAKE_TIMEOUT})
  --max-frame-size BYTES    largest frame accepted (default ${DEFAULT_MAX_FRAME_SIZE})
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
      "heartbeat-interval": { type: "string" },
      "handshake-timeout": { type: "string" },
      "max-frame-size": { type: "string" },
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
  if (!values["tls-cert"] !== !values["tls-key"]) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  const server = await WorkerServer.start({
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
    tls: values["tls-cert"]
      ? {
        cert: readPem("tls-cert", values["tls-cert"]),
        key: readPem("tls-key", values["tls-key"]!),
      }
      : undefined,
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
  });
  console.log(`tendril worker ${server.id} at ${server.address}`);
  stopOn(() => server.close());
  const reason = await server.closed;
  await server.close();
  console.error(
    `tendril: worker ${server.id}: the scheduler connection closed${
      reason ? `: ${reason.message}` : ""
    }; exiting`,
  );
  Deno.exit(reason ? 1 : 0);
}

if (import.meta.main) await runMain(main);
