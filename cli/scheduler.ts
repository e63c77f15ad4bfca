/**
 * `deno task scheduler`: runs a Tendril scheduler on this machine and prints
 * its address as the first line of stdout.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  DEFAULT_HEARTBEAT_TIMEOUT,
  DEFAULT_PORT,
  SchedulerServer,
} from "../actors/scheduler/server.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT } from "../runtime/wire/handshake.ts";
import { DEFAULT_DASHBOARD_PORT } from "../actors/dashboard/server.ts";
import { DEFAULT_MAX_FRAME_SIZE } from "../runtime/wire/tcp/connection.ts";
import {
  intOption,
  readTlsFlags,
  readToken,
  runMain,
  stopOn,
  UsageError,
} from "./options.ts";

const HELP = `Usage: deno task scheduler [options]

Runs a Tendril scheduler. Prints its address (tcp://HOST:PORT or
tls://HOST:PORT) as the first line of stdout; workers and clients connect to it.

Options:
  --host HOST               interface to bind (default 127.0.0.1); anything but
                            loopback requires a token
  --port PORT               port (default ${DEFAULT_PORT}; 0 = any free port)
  --token-file FILE         shared token every client and worker must present
                            (default: the TENDRIL_TOKEN environment variable)
  --tls-cert FILE           PEM certificate chain: serve tls:// (needs --tls-key)
  --tls-key FILE            PEM private key of --tls-cert
  --tls-client-ca FILE      mutual TLS: clients and workers must present a
                            certificate signed by this CA
  --handshake-timeout MS    time a new connection has to say hello (default ${DEFAULT_HANDSHAKE_TIMEOUT})
  --heartbeat-timeout MS    silence after which a worker is removed (default ${DEFAULT_HEARTBEAT_TIMEOUT})
  --allow-client-code       let clients run functions in this process
                            (client.runOnScheduler); off by default
  --unknown-worker-grace MS time a task restricted to workers that are not
                            connected waits for one before it errs (default 10000)
  --max-frame-size BYTES    largest frame accepted (default ${DEFAULT_MAX_FRAME_SIZE})
  --allowed-failures N      worker deaths a task survives; one more and it errs
                            with KilledWorkerError (default 3, as in Dask)
  --dashboard-port PORT     HTTP port of the dashboard, /metrics and /api/info
                            (default ${DEFAULT_DASHBOARD_PORT}, or a free one if taken; 0 = any free port);
                            same interface and token as the scheduler
  --no-dashboard            serve no dashboard
  -h, --help                show this help
`;

/** Parses the command line, starts the scheduler and prints its address; a signal stops it. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      "token-file": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "tls-client-ca": { type: "string" },
      "handshake-timeout": { type: "string" },
      "heartbeat-timeout": { type: "string" },
      "unknown-worker-grace": { type: "string" },
      "allow-client-code": { type: "boolean", default: false },
      "max-frame-size": { type: "string" },
      "allowed-failures": { type: "string" },
      "dashboard-port": { type: "string" },
      "no-dashboard": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const tls = readTlsFlags(values);
  if (values["no-dashboard"] && values["dashboard-port"] !== undefined) {
    throw new UsageError("--no-dashboard and --dashboard-port contradict");
  }
  const dashboardPort = values["dashboard-port"];
  const server = await SchedulerServer.start({
    host: values.host ?? "127.0.0.1",
    port: intOption("port", values.port, DEFAULT_PORT),
    token: readToken(values["token-file"]),
    tls,
    handshakeTimeout: intOption(
      "handshake-timeout",
      values["handshake-timeout"],
      DEFAULT_HANDSHAKE_TIMEOUT,
      1,
    ),
    heartbeatTimeout: intOption(
      "heartbeat-timeout",
      values["heartbeat-timeout"],
      DEFAULT_HEARTBEAT_TIMEOUT,
      1,
    ),
    allowClientCode: values["allow-client-code"],
    unknownWorkerGraceMs: intOption(
      "unknown-worker-grace",
      values["unknown-worker-grace"],
      10_000,
      0,
    ),
    maxFrameSize: intOption(
      "max-frame-size",
      values["max-frame-size"],
      DEFAULT_MAX_FRAME_SIZE,
      1024,
    ),
    allowedFailures: intOption(
      "allowed-failures",
      values["allowed-failures"],
      3,
      0,
    ),
    dashboard: values["no-dashboard"] ? false : {
      port: intOption("dashboard-port", dashboardPort, DEFAULT_DASHBOARD_PORT),
      anyPortIfTaken: dashboardPort === undefined,
    },
  });
  console.log(server.address);
  if (server.dashboardUrl) {
    console.error(`tendril: dashboard at ${server.dashboardUrl}`);
  }
  stopOn(() => server.close());
}

if (import.meta.main) await runMain(main);
