/**
 * The scheduler actor: a thin shell around {@linkcode SchedulerState} that
 * turns connections' batches, joins and closes into events and carries out
 * the effects. A message that breaks the protocol closes only the connection
 * it came from; an internal error is logged as such and never blamed on (or
 * closes) the peer whose message revealed it.
 *
 * @module
 */

import { ProtocolError } from "../../runtime/errors.ts";
import { validateFromEnv } from "../../runtime/validate_env.ts";
import type { Connection } from "../../runtime/wire/transport.ts";
import { pack, type Packed, unpack } from "../../runtime/codec/packed.ts";
import { loadShipping } from "../../runtime/shipping/lazy.ts";
import type {
  FunctionCall,
  ToScheduler,
  ToWorkerConnection,
} from "../protocol.ts";
import {
  type SchedulerEffect,
  type SchedulerEvent,
  type SchedulerOptions,
  SchedulerState,
} from "./state.ts";

/** The transport interface, re-exported because {@linkcode SchedulerConnection} names it. */
export type { Connection };

/** The end of an input batch (see `SchedulerEvent`). */
const FLUSH: SchedulerEvent = { type: "flush" };

/**
 * What the scheduler does about a task that was told to stop and did not:
 * after `grace` milliseconds, if the run still has not reported stopping,
 * `stuck` is called with its worker and key (a supervisor restarts that
 * worker: nothing else can stop a function that never yields).
 */
export interface StuckRunWatch {
  /** Milliseconds a cancelled run has to stop. */
  grace: number;
  /** Called for each run that did not stop within `grace`. */
  stuck(worker: string, key: string): void;
}

/** A connection as the scheduler sees it. */
export type SchedulerConnection = Connection<ToScheduler, ToWorkerConnection>;

/**
 * The scheduler actor: holds the connection of each peer by id and feeds
 * what they send, and their joining and leaving, to its state machine.
 *
 * @example A client joins and leaves
 * ```ts
 * import assert from "node:assert/strict";
 * import { localPair } from "../../runtime/wire/local.ts";
 * import { Scheduler } from "./actor.ts";
 * const scheduler = new Scheduler({ validate: true });
 * const [mine, theirs] = localPair("c1", "scheduler");
 * scheduler.addClient("c1", theirs as never);
 * assert.deepEqual(scheduler.peers, ["c1"]);
 * mine.close();
 * assert.deepEqual(scheduler.peers, []);
 * ```
 */
export class Scheduler {
  /** The state machine (read it for stats and tests). */
  readonly state: SchedulerState;
  private readonly conns = new Map<string, SchedulerConnection>();
  /**
   * Timers the machine asked for (`timer` effects) and those watching
   * cancelled runs (see {@linkcode StuckRunWatch}), cleared on close.
   */
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  /** Whether clients may run functions here (`runOnScheduler`). */
  private readonly allowClientCode: boolean;
  /** Told of each worker the machine retired, once it was told to close. */
  private readonly onWorkerClosed:
    | ((id: string, reason: "retired" | "restart") => void)
    | undefined;

  /** A scheduler; `TENDRIL_VALIDATE=1` turns `validate` on. */
  constructor(
    options: SchedulerOptions & {
      allowClientCode?: boolean;
      /**
       * Called with each worker told to close, once told: `retired`
       * (`retireWorkers`: a supervisor stops it instead of replacing it) or
       * `restart` (`client.restart()`: a supervisor replaces it).
       */
      onWorkerClosed?: (id: string, reason: "retired" | "restart") => void;
    } = {},
    private readonly stuckRuns?: StuckRunWatch,
  ) {
    this.state = new SchedulerState({
      ...options,
      validate: options.validate ?? validateFromEnv(),
    });
    this.allowClientCode = options.allowClientCode ?? false;
    this.onWorkerClosed = options.onWorkerClosed;
  }

  /** Adds a worker reachable over `conn` (which also carries its in-task client). */
  addWorker(
    id: string,
    slots: number,
    address: string,
    conn: SchedulerConnection,
    resources?: Record<string, number>,
  ): void {
    this.attach(id, conn, { type: "worker-left", id });
    this.run({ type: "worker-joined", id, slots, address, resources });
  }

  /**
   * The supervisor gave up keeping workers alive: tasks that wait for one
   * fail with a `WorkersUnavailableError` saying `reason`, until a worker
   * joins.
   */
  workersUnavailable(reason: string): void {
    this.run({ type: "workers-unavailable", reason });
  }

  /** Adds a client reachable over `conn`. */
  addClient(id: string, conn: SchedulerConnection): void {
    this.attach(id, conn, { type: "client-left", id });
    this.run({ type: "client-joined", id });
  }

  /** Connected peer ids. */
  get peers(): string[] {
    return [...this.conns.keys()];
  }

  /**
   * Files `conn` under peer id `id`, hands its messages to the state
   * machine, and makes its closing the event `left`.
   *
   * @throws {Error} when a peer with that id is already connected.
   */
  private attach(
    id: string,
    conn: SchedulerConnection,
    left: SchedulerEvent,
  ): void {
    if (this.conns.has(id)) {
      throw new Error(`peer id ${id} is already connected`);
    }
    this.conns.set(id, conn);
    conn.onClose(() => {
      if (this.conns.get(id) !== conn) return;
      this.conns.delete(id);
      this.run(left);
    });
    conn.onMessages((batch) => this.receive(id, conn, batch));
  }

  /**
   * Handles a batch from peer `id`, one message at a time. A protocol
   * error closes that connection and drops the rest of the batch; any other
   * error is logged as the scheduler's own and the batch goes on.
   */
  private receive(
    id: string,
    conn: SchedulerConnection,
    batch: ToScheduler[],
  ): void {
    // One event object and one effects array for the whole batch (the
    // machine keeps neither); the effects go out after the batch's flush.
    const event = { type: "message" as const, from: id, msg: batch[0] };
    const effects: SchedulerEffect[] = [];
    let refused: ProtocolError | undefined;
    for (const msg of batch) {
      if (msg?.op === "call-on-scheduler" && this.allowClientCode) {
        void this.callHere(id, msg);
        continue;
      }
      event.msg = msg;
      try {
        this.state.handle(event, effects);
      } catch (e) {
        if (e instanceof ProtocolError) {
          refused = e;
          break;
        }
        internalError(`a ${JSON.stringify(msg?.op)} message from ${id}`, e);
      }
    }
    this.run(FLUSH, effects);
    if (refused) {
      console.error(
        `tendril: closing connection to ${conn.peer}: ${refused.message}`,
      );
      conn.close(refused);
    }
  }

  /**
   * Handles an event that no peer sent (a join, a leave, the end of a
   * batch), then the end of the batch, and carries out the effects.
   */
  private run(event: SchedulerEvent, effects: SchedulerEffect[] = []): void {
    try {
      this.state.handle(event, effects);
      if (event !== FLUSH) this.state.handle(FLUSH, effects);
    } catch (e) {
      internalError(`${event.type} of ${"id" in event ? event.id : "?"}`, e);
    }
    this.apply(effects);
  }

  /** Carries out effects: logs lines, sends to peers still connected. */
  private apply(effects: SchedulerEffect[]): void {
    for (const effect of effects) {
      if (effect.type === "log") {
        console.error(`tendril: ${effect.message}`);
        continue;
      }
      if (effect.type === "timer") {
        const { token } = effect;
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.run({ type: "tick", token });
        }, effect.ms);
        this.timers.add(timer);
        continue;
      }
      const conn = this.conns.get(effect.to);
      if (conn && !conn.closed) conn.send(effect.msg);
      if (effect.msg.op === "cancel-compute" && this.stuckRuns) {
        this.watchStop(effect.to, effect.msg.key, effect.msg.run);
      } else if (effect.msg.op === "close-worker") {
        this.onWorkerClosed?.(effect.to, effect.msg.reason);
      }
    }
  }

  /** Calls `stuckRuns.stuck` if run `run` of `key` is still stopping on `worker` after the grace. */
  private watchStop(worker: string, key: string, run: number): void {
    const { grace, stuck } = this.stuckRuns!;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.state.workers.get(worker)?.stopping.has(run)) {
        stuck(worker, key);
      }
    }, grace);
    this.timers.add(timer);
  }

  /**
   * Runs a client's function in this process (the scheduler was started
   * allowing client code) and answers with its value or error.
   */
  private async callHere(from: string, msg: FunctionCall): Promise<void> {
    const values: Record<string, Packed> = {};
    const errors: Record<string, Packed> = {};
    try {
      const { loadFunction } = await loadShipping();
      const fn = await loadFunction({ id: msg.fn, ref: msg.fnRef }, {});
      values.scheduler = pack(await fn(...(unpack(msg.args) as unknown[])));
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      try {
        errors.scheduler = pack(error);
      } catch {
        errors.scheduler = pack(new Error(error.message));
      }
    }
    this.apply([{
      type: "send",
      to: from,
      msg: { op: "call-result", id: msg.id, values, errors },
    }]);
  }

  /** Closes every connection (and stops the machine's timers). */
  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const conn of [...this.conns.values()]) conn.close();
    this.conns.clear();
  }
}

/** Logs an error of the scheduler itself, saying the peer is not at fault. */
function internalError(what: string, e: unknown): void {
  console.error(
    `tendril: internal error in the scheduler while handling ${what} ` +
      `(a bug; the peer is not at fault): ${(e as Error)?.stack ?? e}`,
  );
}
