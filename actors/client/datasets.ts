/**
 * The client's side of named datasets (`client.publish`, `getDataset`,
 * `unpublish`, `listDatasets`): their options, the checks made before a
 * request leaves, and the reading of the scheduler's answers. The
 * scheduler's side is `actors/scheduler/datasets.ts`.
 *
 * @module
 */

import { TendrilError } from "../../runtime/errors.ts";
import { MAX_KEY } from "../../runtime/wire/checks.ts";
import type { SchedulerAnswer } from "../protocol.ts";
import type { AwaitOptions } from "./types.ts";

/** Options of `client.publish`. */
export interface PublishOptions {
  /** Replace a dataset already published under the name (default: refuse). */
  override?: boolean;
}

/** Options of `client.getDataset`. */
export interface GetDatasetOptions extends AwaitOptions {
  /**
   * Wait for the name to be published instead of rejecting at once when
   * it is not (bound the wait with `timeout` or `signal`).
   */
  wait?: boolean;
}

/**
 * Checks a dataset name before it travels (the scheduler's checks would
 * close the connection on one that is not a string or too long).
 *
 * @throws {TypeError} when `name` is not a string.
 * @throws {RangeError} when it is empty or too long.
 * @example A name passes; an empty one or a number does not
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkDatasetName } from "./datasets.ts";
 * checkDatasetName("results", "publish()");
 * assert.throws(() => checkDatasetName("", "publish()"), /publish\(\): a dataset name must not be empty/);
 * assert.throws(() => checkDatasetName(7 as never, "getDataset()"), TypeError);
 * ```
 */
export function checkDatasetName(name: unknown, what: string): void {
  if (typeof name !== "string") {
    throw new TypeError(
      `${what}: a dataset name must be a string, got ${typeof name}`,
    );
  }
  if (name === "" || name.length > MAX_KEY) {
    throw new RangeError(
      `${what}: a dataset name must not be empty nor longer than ${MAX_KEY} ` +
        `characters, got ${name.length}`,
    );
  }
}

/**
 * The scheduler's answer to a dataset request, or its refusal as an error.
 *
 * @throws {TendrilError} with the scheduler's reason when it refused.
 * @example An answer is returned; a refusal is thrown
 * ```ts
 * import assert from "node:assert/strict";
 * import { datasetAnswer } from "./datasets.ts";
 * assert.deepEqual(datasetAnswer({ op: "dataset-answer", id: 1, names: ["a"] }).names, ["a"]);
 * assert.throws(() => datasetAnswer({ op: "dataset-answer", id: 1, error: "no" }), /^TendrilError: no$/);
 * ```
 */
export function datasetAnswer(
  answer: SchedulerAnswer,
): Extract<SchedulerAnswer, { op: "dataset-answer" }> {
  if (answer.op !== "dataset-answer") {
    throw new TendrilError(`expected a dataset answer, got ${answer.op}`);
  }
  if (answer.error !== undefined) throw new TendrilError(answer.error);
  return answer;
}
