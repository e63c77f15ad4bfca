/**
 * A client's connection to a scheduler over TCP, as the
 * {@linkcode ClientHost} that `Client.connect("tcp://HOST:PORT")` uses.
 * Values are fetched from the workers' data servers directly.
 *
 * The token and TLS trust come from, first to last: the options object;
 * the address's query (`tcp://host:8786?token=SECRET`,
 * `tls://host:8786?ca=/path/ca.pem`); the environment (`TENDRIL_TOKEN`,
 * `TENDRIL_TLS_CA`, a path to a PEM file), read only with env permission.
 * A client certificate for mutual TLS likewise: `?cert=c.pem&key=c.key`, or
 * `TENDRIL_TLS_CERT` and `TENDRIL_TLS_KEY`.
 * `?silence-timeout=MS` sets how long the scheduler may stay silent (it
 * sends heartbeats every second) before it counts as vanished (10 s).
 *
 * @module
 */

import { parseAddress } from "../../runtime/wire/tcp/address.ts";
import type { TcpConnection } from "../../runtime/wire/tcp/connection.ts";
import { connect } from "../../runtime/wire/tcp/listen.ts";
import type { ClientHost } from "./types.ts";
import {
  callActorAt,
  DataPeer,
  fetchFromHolders,
} from "../worker/data_peer.ts";
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  greet,
} from "../../runtime/wire/handshake.ts";
import type { SchedulerToClient, ToScheduler } from "../protocol.ts";
import { refuseOversized } from "./oversized.ts";
import { dropHeartbeats, validateDataMessage } from "../protocol.ts";
import { SchedulerLostError } from "../../runtime/errors.ts";
import {
  DEFAULT_SILENCE_TIMEOUT,
  SilenceWatch,
} from "../../runtime/wire/liveness.ts";

/** Options of {@linkcode connectRemote}. */
export interface RemoteOptions {
  /** The cluster's shared token. */
  token?: string;
  /** PEM CA certificates trusted for `tls://` scheduler and worker addresses. */
  caCerts?: string[];
  /**
   * PEM certificate and key presented to a `tls://` scheduler and workers
   * that ask for one (mutual TLS).
   */
  clientCert?: { cert: string; key: string };
  /** Milliseconds the handshake may take (default 10 s). */
  handshakeTimeout?: number;
  /** Largest frame accepted or sent, in bytes (default 64 MiB). */
  maxFrameSize?: number;
  /** Largest message accepted or sent, in bytes (default 2 GiB - 1). */
  maxMessageSize?: number;
  /**
   * Milliseconds without a message from the scheduler (it sends heartbeats)
   * after which it counts as vanished (default 10 s).
   */
  silenceTimeout?: number;
}

/** The `silence-timeout` query parameter, checked. */
function silenceParam(value: string | null): number | undefined {
  if (value === null) return undefined;
  const ms = Number(value);
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new RangeError(
      `silence-timeout must be a positive number of milliseconds, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return ms;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no env permission
  }
}

/**
 * Connects to the scheduler at `address` and says hello as a client.
 *
 * @throws (as a rejection) when unreachable, refused (wrong token, version) or timed out.
 */
export async function connectRemote(
  address: string,
  options: RemoteOptions = {},
): Promise<ClientHost> {
  const { params } = parseAddress(address);
  const token = options.token ?? params.get("token") ?? env("TENDRIL_TOKEN");
  let caCerts = options.caCerts;
  const caFile = params.get("ca") ?? env("TENDRIL_TLS_CA");
  if (!caCerts && caFile) caCerts = [await Deno.readTextFile(caFile)];
  const bare = address.replace(/\?.*$/, "");
  const timeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  let clientCert = options.clientCert;
  const certFile = params.get("cert") ?? env("TENDRIL_TLS_CERT");
  const keyFile = params.get("key") ?? env("TENDRIL_TLS_KEY");
  if (!clientCert && certFile && keyFile) {
    clientCert = {
      cert: await Deno.readTextFile(certFile),
      key: await Deno.readTextFile(keyFile),
    };
  }
  const dial = {
    caCerts,
    clientCert,
    maxFrameSize: options.maxFrameSize,
    maxMessageSize: options.maxMessageSize,
  };

  const conn = await connect<SchedulerToClient, unknown>(bare, dial);
  const welcome = await greet(
    conn as TcpConnection<unknown, unknown>,
    { role: "client", token },
    timeout,
  );
  if (typeof welcome.id !== "string") {
    conn.close();
    throw new Error(`${bare} did not give this client an id`);
  }

  const peers = new Map<string, Promise<DataPeer>>();
  const opened = new Set<TcpConnection<unknown, unknown>>();
  const peer = (worker: string): Promise<DataPeer> => {
    let p = peers.get(worker);
    if (!p) {
      p = (async () => {
        const c = await connect<unknown, unknown>(worker, dial);
        opened.add(c);
        if (closedByUs) c.close();
        c.onClose(() => {
          opened.delete(c);
          if (peers.get(worker) === p) peers.delete(worker);
        });
        await greet(c, { role: "client", token }, timeout);
        c.intercept = (batch) => {
          for (const msg of batch) validateDataMessage(msg);
          return batch;
        };
        return new DataPeer(c);
      })();
      peers.set(worker, p);
      p.catch(() => {
        if (peers.get(worker) === p) peers.delete(worker);
      });
    }
    return p;
  };

  // Messages that arrive before the client listens, and a loss before then.
  const early: SchedulerToClient[] = [];
  let handler: ((msg: SchedulerToClient) => void) | undefined;
  let onLost: ((reason: string, error?: Error) => void) | undefined;
  let lost: string | undefined;
  let closing: Promise<void> | undefined;
  let closedByUs = false;
  let lostError: SchedulerLostError | undefined;
  let silence: string | undefined;
  const watch = new SilenceWatch(
    options.silenceTimeout ?? silenceParam(params.get("silence-timeout")) ??
      DEFAULT_SILENCE_TIMEOUT,
    (ms) => {
      silence = `no message from it for ${Math.round(ms)} ms`;
      conn.close(new Error(silence));
    },
  );
  conn.intercept = (batch) => {
    watch.heard();
    return dropHeartbeats(batch as SchedulerToClient[]);
  };
  const deliver = (msg: SchedulerToClient) => {
    if (handler) handler(msg);
    else early.push(msg);
  };
  conn.onMessages((batch) => batch.forEach(deliver));
  // What could not be sent fails alone: the client checks each task's
  // arguments before this; here are the messages too big once assembled.
  (conn as TcpConnection<SchedulerToClient, ToScheduler>).oversized =
    refuseOversized(deliver);
  conn.onClose((reason) => {
    watch.stop();
    if (closedByUs) return;
    const vanished = silence !== undefined || conn.vanished;
    lostError = new SchedulerLostError(
      bare,
      vanished,
      silence ?? reason?.message ??
        (vanished
          ? "the connection ended without a goodbye (killed, or cut off)"
          : "it closed the connection"),
    );
    lost = lostError.message;
    console.error(`tendril: ${lost}`);
    onLost?.(lost, lostError);
  });

  return {
    id: welcome.id,
    maxMessageSize: (conn as TcpConnection<unknown, unknown>).maxMessageSize,
    shipsCode: true, // workers may be on hosts without this process's files
    send(msg) {
      if (!conn.closed) conn.send(msg);
    },
    fetch: (key, who) => fetchFromHolders(key, who, peer),
    put: (address, values) => peer(address).then((p) => p.put(values)),
    callActor: (address, key, method, args) =>
      callActorAt(address, key, method, args, peer),
    listen(h, l) {
      handler = h;
      onLost = l;
      for (const msg of early.splice(0)) h(msg);
      if (lost !== undefined) l(lost, lostError);
    },
    close: () =>
      closing ??= (async () => {
        closedByUs = true;
        watch.stop();
        conn.close();
        await Promise.allSettled([...peers.values()]);
        const data = [...opened];
        for (const c of data) c.close();
        await Promise.all([conn.done, ...data.map((c) => c.done)]);
      })(),
  };
}
