/**
 * A worker's use of its machine, sampled for the dashboard and `/metrics`:
 * the resident memory of its process, the heap of its isolate, and the CPU
 * its process used since the previous sample. (In-process workers share
 * their process: their RSS and CPU are the whole process's.)
 *
 * @module
 */

import process from "node:process";

/** Milliseconds between two samples a worker sends. */
export const USAGE_INTERVAL_MS = 2000;

/** One sample. */
export interface Usage {
  /** Resident set size of the process, in bytes. */
  rss: number;
  /** Heap used by the isolate, in bytes. */
  heap: number;
  /** CPU time used per wall-clock time since the previous sample (1 = one core busy). */
  cpu: number;
}

/**
 * Takes samples; CPU is measured between consecutive calls.
 *
 * @example Two samples
 * ```ts
 * import assert from "node:assert/strict";
 * import { UsageSampler } from "./usage.ts";
 * const sampler = new UsageSampler();
 * const usage = sampler.sample();
 * assert.ok(usage.rss > 0 && usage.heap > 0 && usage.cpu >= 0);
 * ```
 */
export class UsageSampler {
  private cpuMicros = UsageSampler.cpuNow();
  private wall = performance.now();

  /** Microseconds of CPU the process used so far. */
  private static cpuNow(): number {
    const { user, system } = process.cpuUsage();
    return user + system;
  }

  /** A sample now. */
  sample(): Usage {
    const cpu = UsageSampler.cpuNow(), wall = performance.now();
    const elapsedMs = Math.max(1e-3, wall - this.wall);
    const share = (cpu - this.cpuMicros) / 1000 / elapsedMs;
    this.cpuMicros = cpu;
    this.wall = wall;
    const memory = Deno.memoryUsage();
    return {
      rss: memory.rss,
      heap: memory.heapUsed,
      cpu: Math.max(0, Number(share.toFixed(3))),
    };
  }
}
