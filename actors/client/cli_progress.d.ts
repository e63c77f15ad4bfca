/**
 * The part of cli-progress's API that `progress.ts` uses. (The
 * `@types/cli-progress` package pulls in `@types/node`, whose current
 * version Deno's type checker cannot fully resolve.)
 *
 * @module
 */

/** Options of a bar. */
export interface Options {
  /** Where to draw. */
  stream?: { write(chunk: string): unknown; isTTY?: boolean };
  /** Print lines when the stream is not a terminal. */
  noTTYOutput?: boolean;
  /** Milliseconds between those lines. */
  notTTYSchedule?: number;
  /** The line's template. */
  format?: string;
  /** Hide the terminal's cursor while drawing. */
  hideCursor?: boolean;
  /** Updates the ETA is estimated from. */
  etaBuffer?: number;
}

/** A preset look. */
export interface Preset {
  /** Character of the done part. */
  barCompleteChar: string;
  /** Character of the rest. */
  barIncompleteChar: string;
}

/** One progress bar. */
export class SingleBar {
  /** A bar with `options`, looking like `preset`. */
  constructor(options: Options, preset?: Preset);
  /** Starts drawing. */
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  /** Sets the value (and the template's other fields). */
  update(value: number, payload?: Record<string, unknown>): void;
  /** Sets the total. */
  setTotal(total: number): void;
  /** Draws a last time and stops. */
  stop(): void;
}

/** Preset looks. */
export const Presets: {
  /** Shaded blocks. */
  shades_classic: Preset;
};

/** The package's default export. */
declare const cliProgress: {
  /** See {@linkcode SingleBar}. */
  SingleBar: typeof SingleBar;
  /** See {@linkcode Presets}. */
  Presets: typeof Presets;
};
export default cliProgress;
