/**
 * Named datasets (Dask's `publish_dataset`): a value, often a structure of
 * futures, filed under a name at the scheduler, so any client can fetch it
 * later, also after its publisher released everything and left. While a
 * dataset is published the scheduler holds its keys itself (an owner of its
 * own, see `TaskGraph.holder`), so they are neither released nor forgotten;
 * `unpublish` lets them go.
 *
 * A client asking for a name not published is refused at once, unless it
 * asked to wait: it is then answered when the name is published (the
 * client bounds that wait with its timeout or signal; a waiter is dropped
 * when its client leaves).
 *
 * This file keeps the names, values and waiters; the graph changes (holds,
 * wants) go through the {@linkcode DatasetGraph} its scheduler hands it.
 *
 * @module
 */

import type { Packed } from "../../runtime/codec/packed.ts";
import type { ClientToScheduler, SchedulerToClient } from "../protocol.ts";
import type { TaskRecord } from "./records.ts";

/** The dataset requests of {@linkcode ClientToScheduler}. */
export type DatasetRequest = Extract<
  ClientToScheduler,
  { op: "publish" | "unpublish" | "get-dataset" | "list-datasets" }
>;

/** The answer to a dataset request. */
export type DatasetAnswer = Extract<
  SchedulerToClient,
  { op: "dataset-answer" }
>;

/** What {@linkcode Datasets} needs of the scheduler's graph. */
export interface DatasetGraph {
  /** The task of `key`, if the graph has it. */
  task(key: string): TaskRecord | undefined;
  /** The scheduler holds `ts` on behalf of `name` (see `TaskGraph.hold`). */
  hold(ts: TaskRecord, name: string): void;
  /** Lets go of everything held on behalf of `name`. */
  unhold(name: string): void;
  /** `client` (for its task `task`) holds futures on `keys`, as on a `want`. */
  want(client: string, task: string | undefined, keys: string[]): void;
  /** Sends an answer to `client`. */
  answer(client: string, msg: DatasetAnswer): void;
}

/** One published dataset. */
interface Dataset {
  /** Codec bytes of the value (key references in place of futures). */
  value: Packed;
  /** The keys the value references, held while it is published. */
  keys: string[];
}

/** A `get-dataset` waiting for its name to be published. */
interface Waiter {
  client: string;
  task: string | undefined;
  id: number;
}

/**
 * The name under which the scheduler holds the keys of dataset `name`.
 *
 * @example Apart from fire-and-forget and actor holds
 * ```ts
 * import assert from "node:assert/strict";
 * import { datasetHolder } from "./datasets.ts";
 * assert.equal(datasetHolder("xs"), "dataset\u0000xs");
 * ```
 */
export function datasetHolder(name: string): string {
  return `dataset\u0000${name}`;
}

/**
 * The published datasets, and the requests waiting for one.
 *
 * @example Publish, fetch, list, unpublish (with a stand-in graph)
 * ```ts
 * import assert from "node:assert/strict";
 * import { type DatasetAnswer, Datasets } from "./datasets.ts";
 * const answers: DatasetAnswer[] = [];
 * const d = new Datasets({
 *   task: () => undefined,
 *   hold() {},
 *   unhold() {},
 *   want() {},
 *   answer: (_client, msg) => void answers.push(msg),
 * });
 * d.handle("c", { op: "publish", id: 1, name: "xs", value: "\x01", keys: [] });
 * d.handle("c", { op: "publish", id: 2, name: "xs", value: "\x02", keys: [] });
 * assert.match(answers[1].error!, /"xs" is already published/);
 * d.handle("c", { op: "get-dataset", id: 3, name: "xs" });
 * assert.equal(answers[2].value, "\x01");
 * d.handle("c", { op: "list-datasets", id: 4 });
 * assert.deepEqual(answers[3].names, ["xs"]);
 * d.handle("c", { op: "unpublish", id: 5, name: "xs" });
 * d.handle("c", { op: "get-dataset", id: 6, name: "xs" });
 * assert.match(answers[5].error!, /no dataset named "xs"/);
 * ```
 */
export class Datasets {
  /** Published datasets, by name. */
  private readonly published = new Map<string, Dataset>();
  /** Requests waiting for a name to be published, by name. */
  private readonly waiting = new Map<string, Waiter[]>();

  /** Datasets kept in `graph`. */
  constructor(private readonly graph: DatasetGraph) {}

  /** The names published, sorted. */
  get names(): string[] {
    return [...this.published.keys()].sort();
  }

  /** The keys of dataset `name` (for the invariant checks). */
  keysOf(name: string): readonly string[] | undefined {
    return this.published.get(name)?.keys;
  }

  /** A dataset request from `client`; every request is answered. */
  handle(client: string, msg: DatasetRequest): void {
    switch (msg.op) {
      case "publish":
        return this.publish(client, msg);
      case "unpublish": {
        if (!this.published.delete(msg.name)) {
          return this.refuse(client, msg.id, `unpublish: ${missing(msg.name)}`);
        }
        this.graph.unhold(datasetHolder(msg.name));
        return this.graph.answer(client, { op: "dataset-answer", id: msg.id });
      }
      case "get-dataset": {
        const waiter = { client, task: msg.owner, id: msg.id };
        if (this.published.has(msg.name)) return this.give(msg.name, waiter);
        if (!msg.wait) {
          return this.refuse(
            client,
            msg.id,
            `getDataset: ${missing(msg.name)}`,
          );
        }
        const list = this.waiting.get(msg.name);
        if (list) list.push(waiter);
        else this.waiting.set(msg.name, [waiter]);
        return;
      }
      case "list-datasets":
        return this.graph.answer(client, {
          op: "dataset-answer",
          id: msg.id,
          names: this.names,
        });
    }
  }

  /** `client` left: its waiting requests go (nobody would read the answer). */
  clientLeft(client: string): void {
    for (const [name, list] of this.waiting) {
      const left = list.filter((w) => w.client !== client);
      if (left.length === 0) this.waiting.delete(name);
      else if (left.length < list.length) this.waiting.set(name, left);
    }
  }

  /**
   * Files a dataset: refused when the name is taken (unless `override`) or
   * a key it references is not in the graph; else its keys are held and
   * those waiting for the name get it.
   */
  private publish(
    client: string,
    msg: Extract<DatasetRequest, { op: "publish" }>,
  ): void {
    const { name, id } = msg;
    if (name === "") return this.refuse(client, id, "publish: empty name");
    if (this.published.has(name) && !msg.override) {
      return this.refuse(
        client,
        id,
        `publish: a dataset named ${JSON.stringify(name)} is already ` +
          `published; unpublish it first, or publish with { override: true }`,
      );
    }
    const tasks: TaskRecord[] = [];
    for (const key of msg.keys) {
      const ts = this.graph.task(key);
      if (!ts) {
        return this.refuse(
          client,
          id,
          `publish ${JSON.stringify(name)}: the scheduler no longer has ` +
            `${key} (released or cancelled)`,
        );
      }
      tasks.push(ts);
    }
    // Holds are counted per name: an override lets go of the old keys and
    // holds the new ones in one event, so keys in both are never released.
    const holder = datasetHolder(name);
    this.graph.unhold(holder);
    for (const ts of tasks) this.graph.hold(ts, holder);
    this.published.set(name, { value: msg.value, keys: [...msg.keys] });
    this.graph.answer(client, { op: "dataset-answer", id });
    const waiters = this.waiting.get(name);
    if (waiters) {
      this.waiting.delete(name);
      for (const w of waiters) this.give(name, w);
    }
  }

  /** Answers `w` with dataset `name`; its owner holds the keys from now on. */
  private give(name: string, w: Waiter): void {
    const { value, keys } = this.published.get(name)!;
    // Held before the answer leaves: an unpublish racing the client's own
    // `want` cannot release them in between.
    if (keys.length > 0) this.graph.want(w.client, w.task, keys);
    this.graph.answer(w.client, { op: "dataset-answer", id: w.id, value });
  }

  /** Answers request `id` of `client` with a refusal saying why. */
  private refuse(client: string, id: number, error: string): void {
    this.graph.answer(client, { op: "dataset-answer", id, error });
  }
}

/** The words for a name not published. */
function missing(name: string): string {
  return `no dataset named ${JSON.stringify(name)} is published`;
}
