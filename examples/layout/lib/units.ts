/** A nested module of the layout example. */
export const UNIT = "kg";

/** Formats a weight. */
export function label(x: number): string {
  return `${x} ${UNIT}`;
}
