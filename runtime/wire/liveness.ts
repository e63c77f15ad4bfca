/**
 * Telling a peer that vanished from one that is quiet: each side of a
 * long-lived connection sends a heartbeat every interval, and the other
 * gives up on it after a timeout of silence.
 *
 * A watcher that was itself stopped (its isolate blocked by a long
 * synchronous task, or its process frozen and resumed) cannot judge: its
 * last check is older than the timeout, so every peer looks silent. A
 * {@linkcode SilenceWatch} notices its own late tick and gives its peer a
 * fresh allowance instead of declaring it gone.
 *
 * @module
 */

/** Default silence after which a peer counts as vanished: 10 s. */
export const DEFAULT_SILENCE_TIMEOUT = 10_000;

/**
 * Watches one peer for silence.
 *
 * @example A peer that stays silent is reported once
 * ```ts
 * import assert from "node:assert/strict";
 * import { SilenceWatch } from "./liveness.ts";
 * const silent = Promise.withResolvers<number>();
 * const watch = new SilenceWatch(50, (ms) => silent.resolve(ms));
 * assert.ok((await silent.promise) > 50);
 * watch.stop();
 * ```
 */
export class SilenceWatch {
  #lastHeard = performance.now();
  #lastTick = performance.now();
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #tick: number;

  /** Calls `onSilent(ms)` once the peer has been silent for more than `timeout` ms. */
  constructor(
    readonly timeout: number,
    private readonly onSilent: (silentMs: number) => void,
  ) {
    this.#tick = Math.max(5, Math.min(1000, timeout / 4));
    this.#timer = setInterval(() => this.#check(), this.#tick);
  }

  /** The peer said something. */
  heard(): void {
    this.#lastHeard = performance.now();
  }

  /** Stops watching (also after it reported). */
  stop(): void {
    clearInterval(this.#timer);
  }

  #check(): void {
    const now = performance.now();
    const late = now - this.#lastTick > this.#tick + this.timeout / 2;
    this.#lastTick = now;
    // This side was stopped, not the peer silent: start counting afresh.
    if (late) this.#lastHeard = now;
    const silent = now - this.#lastHeard;
    if (silent <= this.timeout) return;
    this.stop();
    this.onSilent(silent);
  }
}
