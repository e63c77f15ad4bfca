/**
 * What a benchmark case is and how one is measured: open a session (its
 * cluster), warm up once, run it `reps` times, summarize, close.
 *
 * @module
 */

import { round3, summarize, type Summary } from "./stats.ts";

/** One repetition's measurement: the case's value plus side metrics. */
export interface Measure {
  /** In the case's unit; lower is better. */
  value: number;
  /** Side metrics of this repetition, in the units of `CaseDef.extras`. */
  extra?: Record<string, number>;
}

/** A case ready to run: usually a started cluster and a connected client. */
export interface Session extends AsyncDisposable {
  /** Runs once, unmeasured (default: `run()` once). */
  warmup?(): Promise<unknown>;
  /** Runs and measures once. */
  run(): Promise<Measure>;
}

/** Options a case is opened with. */
export interface CaseOptions {
  /** Smaller sizes, for a smoke run. */
  quick: boolean;
}

/** A benchmark case. */
export interface CaseDef {
  /** Dotted id, e.g. `fib.secede.20`; `--only fib.secede` selects by prefix. */
  id: string;
  /** What it measures, one line. */
  title: string;
  /** Unit of `Measure.value` ("ms", "µs", "B/task"). */
  unit: string;
  /** Units of the side metrics, by name. */
  extras?: Record<string, string>;
  /** Repetitions when `--reps` is not given (default 5). */
  reps?: number;
  /** Starts the session, or says why the case is skipped. */
  open(options: CaseOptions): Promise<Session | { skipped: string }>;
}

/** A side metric over the repetitions. */
export interface ExtraSummary extends Summary {
  unit: string;
}

/** One case's result, as printed in its JSON line. */
export interface CaseResult {
  case: string;
  title: string;
  unit?: string;
  reps?: number;
  median?: number;
  min?: number;
  max?: number;
  samples?: number[];
  extra?: Record<string, ExtraSummary>;
  skipped?: string;
  error?: string;
  /** Something odd that did not spoil the numbers. */
  warning?: string;
}

/** Opens `def`, warms up, runs `reps` times and summarizes. */
export async function measure(
  def: CaseDef,
  options: CaseOptions,
  reps: number,
): Promise<CaseResult> {
  const base = { case: def.id, title: def.title };
  const session = await def.open(options);
  if ("skipped" in session) return { ...base, skipped: session.skipped };
  await using s = session;
  await (s.warmup ? s.warmup() : s.run());
  const runs: Measure[] = [];
  for (let i = 0; i < reps; i++) runs.push(await s.run());
  const values = runs.map((r) => r.value);
  const extra: Record<string, ExtraSummary> = {};
  for (const [name, unit] of Object.entries(def.extras ?? {})) {
    const xs = runs.map((r) => r.extra?.[name]).filter((x) =>
      x !== undefined
    ) as number[];
    if (xs.length) extra[name] = { ...roundAll(summarize(xs)), unit };
  }
  return {
    ...base,
    unit: def.unit,
    reps,
    ...roundAll(summarize(values)),
    samples: values.map(round3),
    extra,
  };
}

function roundAll(s: Summary): Summary {
  return { median: round3(s.median), min: round3(s.min), max: round3(s.max) };
}

/** Milliseconds `fn` takes, and its result. */
export async function timed<T>(
  fn: () => Promise<T>,
): Promise<[number, T]> {
  const t = performance.now();
  const out = await fn();
  return [performance.now() - t, out];
}

/** Resolves once `cond()` holds, polling every `everyMs`; throws after `timeoutMs`. */
export async function until(
  cond: () => boolean,
  timeoutMs = 120_000,
  everyMs = 10,
): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) {
      throw new Error(`condition not met after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
