/**
 * The handshake that opens every TCP connection. The connecting side's first
 * frame is `{ op: "hello", version, role, token?, ... }`; the listening side
 * answers `{ op: "welcome", version, ... }`, or `{ op: "refused", reason }`
 * and closes. Before the welcome nothing but the hello is accepted (workers
 * execute submitted code: an unauthenticated peer must never submit), and a
 * peer that says nothing is dropped after a timeout.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import type { TcpConnection } from "./tcp/connection.ts";
import { PROTOCOL_VERSION } from "../../actors/protocol.ts";
import { HandshakeError, ProtocolError } from "../errors.ts";

/** Who is connecting: a user's client, a worker (to the scheduler), or a worker's peer (to a data port). */
export type Role = "client" | "worker" | "peer";

/** The first message on a connection. */
export interface Hello {
  /** Always `"hello"`. */
  op: "hello";
  /** The protocol version the connecting side speaks; the listening side must speak the same. */
  version: number;
  /** Who is connecting. */
  role: Role;
  /** The cluster's shared token. */
  token?: string;
  /** Workers: their id. */
  id?: string;
  /** Workers: their slots. */
  slots?: number;
  /** Workers: amounts of resources they offer (`{ GPU: 2 }`). */
  resources?: Record<string, number>;
  /** Workers: their data address. */
  address?: string;
}

/** The answer to an accepted hello. */
export interface Welcome {
  /** Always `"welcome"`. */
  op: "welcome";
  /** The protocol version the listening side speaks. */
  version: number;
  /** Clients: the id the scheduler gave them. */
  id?: string;
}

/** The answer to a refused hello (the connection then closes). */
export interface Refusal {
  /** Always `"refused"`. */
  op: "refused";
  /** Why the hello was refused. */
  reason: string;
}

/** Default time to wait for a hello, or for its answer: 10 s. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/**
 * Says hello on `conn` and resolves with the welcome. Messages that follow
 * the welcome stay queued for the handler attached next. A refusal, a close
 * or no answer within `timeout` milliseconds closes the connection.
 *
 * @throws {HandshakeError} (as a rejection) when refused, closed or timed out.
 * @example Refused for a wrong token
 * ```ts
 * import assert from "node:assert/strict";
 * import { HandshakeError } from "../errors.ts";
 * import { admit, greet } from "./handshake.ts";
 * import { connect, listen } from "./tcp/listen.ts";
 * import type { TcpConnection } from "./tcp/connection.ts";
 * const accepted = Promise.withResolvers<TcpConnection<unknown, unknown>>();
 * const listener = await listen({ port: 0 }, (conn) => {
 *   admit(conn, { roles: ["client"], token: "secret", ready: () => {} });
 *   accepted.resolve(conn);
 * });
 * const conn = await connect(listener.address);
 * await assert.rejects(
 *   greet(conn, { role: "client", token: "guess" }),
 *   (e) => e instanceof HandshakeError && /wrong token/.test(e.message),
 * );
 * const server = await accepted.promise;
 * await Promise.all([conn.done, server.done, listener.close()]);
 * ```
 */
export function greet(
  conn: TcpConnection<unknown, unknown>,
  hello: Omit<Hello, "op" | "version">,
  timeout: number = DEFAULT_HANDSHAKE_TIMEOUT,
): Promise<Welcome> {
  return new Promise<Welcome>((resolve, reject) => {
    let settled = false;
    const fail = (error: HandshakeError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
      conn.close(error);
    };
    const timer = setTimeout(
      () =>
        fail(
          new HandshakeError(
            `${conn.peer} did not answer the hello within ${timeout} ms`,
          ),
        ),
      timeout,
    );
    conn.onClose((reason) =>
      fail(
        new HandshakeError(
          `${conn.peer} closed the connection during the handshake${
            reason ? `: ${reason.message}` : ""
          }`,
        ),
      )
    );
    conn.intercept = (batch) => {
      const first = batch[0] as { op?: unknown; reason?: unknown } | undefined;
      if (first?.op === "refused") {
        fail(
          new HandshakeError(
            `${conn.peer} refused the connection: ${String(first.reason)}`,
          ),
        );
        return [];
      }
      if (first?.op !== "welcome") {
        throw new ProtocolError(
          `expected a welcome or a refusal, got ${JSON.stringify(first?.op)}`,
        );
      }
      conn.intercept = null;
      settled = true;
      clearTimeout(timer);
      resolve(first as unknown as Welcome);
      return batch.slice(1);
    };
    conn.send({ op: "hello", version: PROTOCOL_VERSION, ...hello });
  });
}

/** How a listening side admits connections. */
export interface AdmitOptions {
  /** Roles accepted here. */
  roles: readonly Role[];
  /** When set, every hello must carry this token. */
  token?: string;
  /** Milliseconds to wait for the hello (default 10 s). */
  timeout?: number;
  /**
   * Further checks of an authenticated hello: a reason string refuses it;
   * otherwise the fields to add to the welcome.
   */
  check?(hello: Hello): string | Partial<Welcome>;
  /**
   * Called synchronously once the welcome is queued: attach the
   * connection's handler here, so nothing after the hello is missed.
   */
  ready(hello: Hello, welcome: Welcome): void;
}

/**
 * Runs the listening side of the handshake on a fresh connection: the first
 * batch must be exactly one acceptable hello (right version, an accepted
 * role, the token when one is set, and passing `options.check`). An
 * acceptable hello gets a welcome and `options.ready` is called; anything
 * else, or no hello within the timeout, gets a refusal and the connection
 * closes.
 *
 * @example Admitting a client and giving it an id
 * ```ts
 * import assert from "node:assert/strict";
 * import { admit, greet, type Hello } from "./handshake.ts";
 * import { connect, listen } from "./tcp/listen.ts";
 * import type { TcpConnection } from "./tcp/connection.ts";
 * const admitted = Promise.withResolvers<[TcpConnection<unknown, unknown>, Hello]>();
 * const listener = await listen({ port: 0 }, (conn) =>
 *   admit(conn, {
 *     roles: ["client"],
 *     token: "secret",
 *     check: () => ({ id: "client-1" }),
 *     ready: (hello) => admitted.resolve([conn, hello]),
 *   }));
 * const conn = await connect(listener.address);
 * const welcome = await greet(conn, { role: "client", token: "secret" });
 * assert.equal(welcome.id, "client-1");
 * const [server, hello] = await admitted.promise;
 * assert.equal(hello.role, "client");
 * conn.close();
 * await Promise.all([conn.done, server.done, listener.close()]);
 * ```
 */
export function admit(
  conn: TcpConnection<unknown, unknown>,
  options: AdmitOptions,
): void {
  const timeout = options.timeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  const refuse = (reason: string) => {
    clearTimeout(timer);
    console.error(`tendril: refusing connection from ${conn.peer}: ${reason}`);
    if (conn.closed) return;
    conn.send({ op: "refused", reason } satisfies Refusal);
    conn.close(new HandshakeError(reason));
  };
  const timer = setTimeout(
    () => refuse(`no hello within ${timeout} ms`),
    timeout,
  );
  conn.onClose(() => clearTimeout(timer));
  conn.intercept = (batch) => {
    conn.intercept = null; // one hello, whatever happens
    const reason = checkHello(batch, options);
    if (typeof reason === "string") {
      refuse(reason);
      return [];
    }
    const hello = reason;
    const extra = options.check?.(hello) ?? {};
    if (typeof extra === "string") {
      refuse(extra);
      return [];
    }
    clearTimeout(timer);
    const welcome: Welcome = {
      ...extra,
      op: "welcome",
      version: PROTOCOL_VERSION,
    };
    conn.send(welcome);
    options.ready(hello, welcome);
    return [];
  };
}

/** The hello, or why it is refused. */
function checkHello(batch: unknown[], options: AdmitOptions): Hello | string {
  const hello = batch[0] as Partial<Hello> | undefined;
  if (
    typeof hello !== "object" || hello === null || Array.isArray(hello) ||
    hello.op !== "hello"
  ) {
    return `expected a hello first, got ${
      typeof hello === "object" && hello !== null && "op" in hello
        ? `operation ${JSON.stringify(hello.op)}`
        : "something else"
    }`;
  }
  if (batch.length > 1) {
    return "nothing may follow the hello before the welcome";
  }
  if (hello.version !== PROTOCOL_VERSION) {
    return `protocol version ${
      JSON.stringify(hello.version)
    } is not supported (this side speaks version ${PROTOCOL_VERSION})`;
  }
  if (
    typeof hello.role !== "string" ||
    !options.roles.includes(hello.role as Role)
  ) {
    return `role ${JSON.stringify(hello.role)} is not accepted here (only ${
      options.roles.join(", ")
    })`;
  }
  if (hello.token !== undefined && typeof hello.token !== "string") {
    return "the token must be a string";
  }
  if (options.token !== undefined) {
    if (hello.token === undefined) return "a token is required";
    if (!sameToken(hello.token, options.token)) return "wrong token";
  }
  return hello as Hello;
}

/** Constant-time comparison (of digests, so lengths do not leak either). */
function sameToken(a: string, b: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}
