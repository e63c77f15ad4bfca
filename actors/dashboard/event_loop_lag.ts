/**
 * Measures how late this isolate's event loop runs a timer: the scheduler's
 * responsiveness, as `/metrics` reports it. A busy scheduler (a long
 * synchronous batch) shows as lag.
 *
 * @module
 */

/** Milliseconds between samples. */
const INTERVAL_MS = 100;
/** Samples kept: the last 5 seconds. */
const SAMPLES = 50;

/**
 * Samples the event loop's lag every 100 ms while running; its timer does
 * not keep the process alive.
 *
 * @example Started, read, stopped
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventLoopLag } from "./event_loop_lag.ts";
 * const lag = new EventLoopLag();
 * assert.equal(lag.seconds, 0, "no sample yet");
 * lag.stop();
 * ```
 */
export class EventLoopLag {
  private readonly samples: number[] = [];
  private last = performance.now();
  private readonly timer: ReturnType<typeof setInterval>;

  /** Starts sampling. */
  constructor() {
    this.timer = setInterval(() => this.sample(), INTERVAL_MS);
    this.timer.unref?.();
  }

  /** Files how late this tick came. */
  private sample(): void {
    const now = performance.now();
    const lag = Math.max(0, now - this.last - INTERVAL_MS);
    this.last = now;
    if (this.samples.length >= SAMPLES) this.samples.shift();
    this.samples.push(lag);
  }

  /** The largest lag of the last 5 seconds, in seconds. */
  get seconds(): number {
    let max = 0;
    for (const s of this.samples) if (s > max) max = s;
    return max / 1000;
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.timer);
  }
}
