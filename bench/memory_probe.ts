/**
 * Memory probes: this isolate's heap after a forced GC (needs
 * `--v8-flags=--expose-gc`), and the process's peak RSS sampled during a run
 * (in-process workers are threads, so the RSS covers them too).
 *
 * @module
 */

const gc = (globalThis as { gc?: () => void }).gc;

/** Why heap probes cannot run, or undefined when they can. */
export function gcUnavailable(): string | undefined {
  return gc
    ? undefined
    : "needs --v8-flags=--expose-gc (deno task bench sets it)";
}

/** `heapUsed` of this isolate after full GCs (and finalizers) have run. */
export async function heapAfterGc(): Promise<number> {
  if (!gc) throw new Error(gcUnavailable());
  for (let i = 0; i < 4; i++) {
    gc();
    // Let FinalizationRegistry callbacks and message handlers run.
    await new Promise((r) => setTimeout(r, 10));
  }
  return Deno.memoryUsage().heapUsed;
}

/** Runs `fn` while sampling RSS every `everyMs`; returns its result and the peak. */
export async function withPeakRss<T>(
  fn: () => Promise<T>,
  everyMs = 5,
): Promise<{ result: T; peakRss: number }> {
  let peak = Deno.memoryUsage().rss;
  const sample = () => {
    const rss = Deno.memoryUsage().rss;
    if (rss > peak) peak = rss;
  };
  const timer = setInterval(sample, everyMs);
  try {
    const result = await fn();
    sample();
    return { result, peakRss: peak };
  } finally {
    clearInterval(timer);
  }
}
