/**
 * Summary statistics and number formatting for the benchmark report.
 *
 * @module
 */

/** Median, minimum and maximum of some samples. */
export interface Summary {
  median: number;
  min: number;
  max: number;
}

/** The median (mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Median, min and max of `xs`. */
export function summarize(xs: readonly number[]): Summary {
  return {
    median: median(xs),
    min: Math.min(...xs),
    max: Math.max(...xs),
  };
}

/** Rounds to 3 significant digits (keeps JSON lines short). */
export function round3(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(x))));
  return Number(x.toFixed(Math.min(digits, 6)));
}

/** A number with unit, human sized: 1234567 "B" -> "1.23 MB". */
export function fmt(x: number | undefined, unit: string): string {
  if (x === undefined || Number.isNaN(x)) return "–";
  if (unit === "ms" && Math.abs(x) >= 1000) return `${sig(x / 1000)} s`;
  if (unit === "µs" && Math.abs(x) >= 1000) return fmt(x / 1000, "ms");
  if (unit === "B" || unit === "B/task") {
    const suffix = unit === "B" ? "" : "/task";
    const abs = Math.abs(x);
    if (abs >= 1 << 20) return `${sig(x / (1 << 20))} MiB${suffix}`;
    if (abs >= 1 << 10) return `${sig(x / (1 << 10))} KiB${suffix}`;
    return `${sig(x)} B${suffix}`;
  }
  if (unit === "/s") {
    if (Math.abs(x) >= 1e6) return `${sig(x / 1e6)} M/s`;
    if (Math.abs(x) >= 1e3) return `${sig(x / 1e3)} k/s`;
    return `${sig(x)} /s`;
  }
  return `${sig(x)} ${unit}`;
}

/** Three significant digits, without exponent notation. */
export function sig(x: number): string {
  if (x === 0) return "0";
  return String(round3(x));
}
