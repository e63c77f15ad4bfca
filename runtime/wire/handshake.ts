/**
 * The handshake that opens every TCP connection. The connecting side speaks
 * first, `{ op: "hello", version, role, nonce, ... }`. The listening side
 * answers `{ op: "welcome", version, ... }`, or `{ op: "refused", reason }`
 * and closes; when it requires a token it first sends
 * `{ op: "challenge", nonce, proof }` and waits for `{ op: "proof", proof }`.
 * Before the welcome nothing else is accepted (workers execute submitted
 * code: an unauthenticated peer must never submit), and a peer that says
 * nothing is dropped after a timeout. The connecting side speaking first
 * lets a listener tell another protocol (an HTTP request) by its first bytes
 * and answer in kind before it has written anything.
 *
 * The cluster token never crosses the wire: each side proves it knows it
 * with an HMAC over both sides' fresh nonces (the connecting side's covers
 * its role too, so a proof is worth nothing on another connection or as the
 * other side's), and the connecting side checks the listener's proof before
 * it proves anything, so a client holding a token never talks to an
 * impostor.
 *
 * @module
 */

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { TcpConnection } from "./tcp/connection.ts";
import { PROTOCOL_VERSION } from "../../actors/protocol.ts";
import { HandshakeError, ProtocolError } from "../errors.ts";

/**
 * Who is connecting: a user's client, a worker (to the scheduler), a
 * worker's heartbeat thread (to the scheduler), or a worker's peer (to a
 * data port).
 */
export type Role = "client" | "worker" | "heartbeat" | "peer";

/** The connecting side's first message. */
export interface Hello {
  /** Always `"hello"`. */
  op: "hello";
  /** The protocol version the connecting side speaks; the listening side must speak the same. */
  version: number;
  /** Who is connecting. */
  role: Role;
  /** The connecting side's fresh random nonce (hex). */
  nonce: string;
  /** Workers: their id. */
  id?: string;
  /** Workers: their slots. */
  slots?: number;
  /** Workers: amounts of resources they offer (`{ GPU: 2 }`). */
  resources?: Record<string, number>;
  /** Workers: their data address. */
  address?: string;
}

/** A listener that requires a token answers a hello with this first. */
export interface Challenge {
  /** Always `"challenge"`. */
  op: "challenge";
  /** The listening side's fresh random nonce (hex). */
  nonce: string;
  /** HMAC proving the listening side knows the token (see {@linkcode proofOf}). */
  proof: string;
}

/** The connecting side's answer to a challenge. */
export interface Proof {
  /** Always `"proof"`. */
  op: "proof";
  /** HMAC proving the connecting side knows the token. */
  proof: string;
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

/** Which side of a handshake a proof is for. */
export type ProofSide = { side: "client"; role: string } | { side: "server" };

/**
 * The HMAC-SHA256 (hex) of the nonces, keyed by the token, for one side of
 * a handshake: the connecting side's covers its role too.
 *
 * @example The two sides' proofs differ, and depend on every nonce
 * ```ts
 * import assert from "node:assert/strict";
 * import { proofOf } from "./handshake.ts";
 * const client = proofOf("t", { side: "client", role: "worker" }, "a", "b");
 * assert.notEqual(client, proofOf("t", { side: "server" }, "a", "b"));
 * assert.notEqual(client, proofOf("t", { side: "client", role: "worker" }, "a", "c"));
 * assert.equal(client.length, 64);
 * ```
 */
export function proofOf(
  token: string,
  who: ProofSide,
  serverNonce: string,
  clientNonce: string,
): string {
  const label = who.side === "client" ? `client ${who.role}` : "server";
  return createHmac("sha256", token)
    .update(
      `tendril v${PROTOCOL_VERSION} ${label} ${serverNonce} ${clientNonce}`,
    )
    .digest("hex");
}

/** A fresh random nonce (128 bits, hex). */
function nonce(): string {
  return randomBytes(16).toString("hex");
}

/**
 * Says hello on `conn` and resolves with the welcome. Messages that follow
 * the welcome stay queued for the handler attached next. A refusal, a close
 * or no answer within `timeout` milliseconds closes the connection.
 *
 * @throws {HandshakeError} (as a rejection) when refused, closed or timed out.
 * @example A wrong token: the listener's proof does not match it
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
 *   (e) => e instanceof HandshakeError && /could not prove it knows the token/.test(e.message),
 * );
 * const server = await accepted.promise;
 * await Promise.all([conn.done, server.done, listener.close()]);
 * ```
 */
export function greet(
  conn: TcpConnection<unknown, unknown>,
  hello: Omit<Hello, "op" | "version" | "nonce"> & { token?: string },
  timeout: number = DEFAULT_HANDSHAKE_TIMEOUT,
): Promise<Welcome> {
  const { token, ...fields } = hello;
  const clientNonce = nonce();
  return new Promise<Welcome>((resolve, reject) => {
    let settled = false;
    let proved = false;
    const fail = (error: HandshakeError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
      conn.close(error);
    };
    const notOurs =
      " (is it a Tendril port? A TLS port needs a tls:// address)";
    const timer = setTimeout(
      () =>
        fail(
          new HandshakeError(
            `${conn.peer} did not answer the hello within ${timeout} ms${notOurs}`,
          ),
        ),
      timeout,
    );
    conn.onClose((reason) =>
      fail(
        new HandshakeError(
          `${conn.peer} closed the connection during the handshake${
            reason ? `: ${reason.message}` : ""
          }${notOurs}`,
        ),
      )
    );
    conn.intercept = (batch) => {
      const first = batch[0] as
        | { op?: unknown; reason?: unknown; nonce?: unknown; proof?: unknown }
        | undefined;
      if (first?.op === "refused") {
        fail(
          new HandshakeError(
            `${conn.peer} refused the connection: ${String(first.reason)}`,
          ),
        );
        return [];
      }
      if (first?.op === "challenge" && !proved) {
        if (token === undefined) {
          fail(
            new HandshakeError(
              `${conn.peer} requires a token (add ?token=... to the address, or set TENDRIL_TOKEN)`,
            ),
          );
          return [];
        }
        if (typeof first.nonce !== "string" || first.nonce.length > 128) {
          throw new ProtocolError("the challenge has no nonce");
        }
        const expected = proofOf(
          token,
          { side: "server" },
          first.nonce,
          clientNonce,
        );
        if (!sameProof(first.proof, expected)) {
          fail(
            new HandshakeError(
              `${conn.peer} could not prove it knows the token: it is not the cluster you meant, or its token differs`,
            ),
          );
          return [];
        }
        proved = true;
        const proof = proofOf(
          token,
          { side: "client", role: fields.role },
          first.nonce,
          clientNonce,
        );
        conn.send({ op: "proof", proof } satisfies Proof);
        if (batch.length > 1) {
          throw new ProtocolError("nothing may follow the challenge");
        }
        return [];
      }
      if (first?.op !== "welcome") {
        throw new ProtocolError(
          `expected a welcome, a challenge or a refusal, got ${
            JSON.stringify(first?.op)
          }`,
        );
      }
      if (token !== undefined && !proved) {
        // A listener that asks for no token cannot prove it knows ours.
        fail(
          new HandshakeError(
            `${conn.peer} could not prove it knows the token: it requires none, so it is not the cluster you meant`,
          ),
        );
        return [];
      }
      conn.intercept = null;
      settled = true;
      clearTimeout(timer);
      conn.authenticated();
      resolve(first as unknown as Welcome);
      return batch.slice(1);
    };
    conn.send(
      {
        op: "hello",
        version: PROTOCOL_VERSION,
        nonce: clientNonce,
        ...fields,
      } satisfies Hello,
    );
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
  /** Sends the welcome once the hello is authenticated (or needs no token). */
  const welcome = (hello: Hello) => {
    const extra = options.check?.(hello) ?? {};
    if (typeof extra === "string") return refuse(extra);
    clearTimeout(timer);
    const welcome: Welcome = {
      ...extra,
      op: "welcome",
      version: PROTOCOL_VERSION,
    };
    conn.authenticated();
    conn.send(welcome);
    options.ready(hello, welcome);
  };
  conn.intercept = (batch) => {
    const hello = checkHello(batch, options);
    if (typeof hello === "string") {
      conn.intercept = null;
      refuse(hello);
      return [];
    }
    if (options.token === undefined) {
      conn.intercept = null;
      welcome(hello);
      return [];
    }
    const token = options.token;
    const challenge: Challenge = {
      op: "challenge",
      nonce: nonce(),
      proof: "",
    };
    challenge.proof = proofOf(
      token,
      { side: "server" },
      challenge.nonce,
      hello.nonce,
    );
    conn.send(challenge);
    // One answer: the proof.
    conn.intercept = (answer) => {
      conn.intercept = null;
      const msg = answer[0] as { op?: unknown; proof?: unknown } | undefined;
      if (msg?.op !== "proof" || answer.length > 1) {
        refuse(
          msg?.op === "proof"
            ? "nothing may follow the proof before the welcome"
            : `expected a proof, got ${describeOp(msg)}`,
        );
        return [];
      }
      const expected = proofOf(
        token,
        { side: "client", role: hello.role },
        challenge.nonce,
        hello.nonce,
      );
      if (!sameProof(msg.proof, expected)) refuse("wrong token");
      else welcome(hello);
      return [];
    };
    return [];
  };
}

/** "operation X" or "something else", for a message that should have been another. */
function describeOp(msg: unknown): string {
  return typeof msg === "object" && msg !== null && "op" in msg
    ? `operation ${JSON.stringify((msg as { op: unknown }).op)}`
    : "something else";
}

/** The hello, or why it is refused. */
function checkHello(batch: unknown[], options: AdmitOptions): Hello | string {
  const hello = batch[0] as Partial<Hello> | undefined;
  if (
    typeof hello !== "object" || hello === null || Array.isArray(hello) ||
    hello.op !== "hello"
  ) {
    return `expected a hello first, got ${describeOp(hello)}`;
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
  if (typeof hello.nonce !== "string" || hello.nonce.length > 128) {
    return "the hello needs a nonce (a string of at most 128 characters)";
  }
  return hello as Hello;
}

/** Constant-time comparison of a received proof with the expected one. */
function sameProof(got: unknown, expected: string): boolean {
  if (typeof got !== "string" || got.length !== expected.length) return false;
  return timingSafeEqual(
    new TextEncoder().encode(got),
    new TextEncoder().encode(expected),
  );
}
