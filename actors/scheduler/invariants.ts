/**
 * Every invariant of the scheduler's graph, checked in one pass. Tests (and
 * clusters started with `TENDRIL_VALIDATE=1`) run it after every event; it
 * throws on the first broken invariant, naming the task or worker.
 *
 * Besides the bookkeeping (both ends of every link agree, every count equals
 * what it counts) it checks that nothing can be forgotten in a wait: an
 * active task is on a live worker, in the queue, or waiting only for tasks
 * that are themselves active or done, and a queued task has no worker with
 * room that could take it.
 *
 * @module
 */

import { allowedOn, hasRoom } from "./placement.ts";
import { fitsResources } from "./resources.ts";
import { isActive, type TaskRecord, type WorkerRecord } from "./records.ts";
import type { TaskGraph } from "./transitions.ts";

/** A broken invariant: a bug in the scheduler, never a peer's fault. */
class Broken extends Error {
  override name = "InvariantError";
}

/** Throws unless `ok`; `what` describes the breach and is built only then. */
function check(ok: boolean, what: () => string): void {
  if (!ok) throw new Broken(`scheduler invariant broken: ${what()}`);
}

/**
 * Checks every invariant of `g`.
 *
 * @throws {Error} naming the first broken invariant.
 * @example A corrupted count is caught
 * ```ts
 * import assert from "node:assert/strict";
 * import { SchedulerState } from "./state.ts";
 * import { checkInvariants } from "./invariants.ts";
 * const s = new SchedulerState();
 * s.handle({ type: "worker-joined", id: "w1", slots: 1, address: "inproc://w1" });
 * checkInvariants(s);
 * s.workers.get("w1")!.executing = 5; // corrupt a count
 * assert.throws(() => checkInvariants(s), /w1 counts 5 executing, but/);
 * ```
 */
export function checkInvariants(g: TaskGraph): void {
  const queued = new Set<TaskRecord>();
  for (const ts of g.queue.data) queued.add(ts);
  for (const [key, ts] of g.tasks) checkTask(g, key, ts, queued);
  for (const [id, w] of g.workers) checkWorker(g, id, w);
  for (const [w, keys] of g.pendingFree) {
    for (const key of keys) {
      check(
        !(g.tasks.get(key)?.whoHas?.includes(w) ?? false),
        () =>
          `a free of ${key} is held back for ${w.id}, which holds its value`,
      );
    }
  }
  for (const [id, owner] of g.owners) {
    check(owner.id === id, () => `owner ${id} is filed under another id`);
    check(
      g.clientOwners.get(owner.client)?.has(owner) ?? false,
      () => `owner ${id} is not among its client's owners`,
    );
    for (const ts of owner.keys) {
      check(
        g.tasks.get(ts.key) === ts && (ts.wantedBy?.includes(owner) ?? false),
        () => `owner ${id} wants ${ts.key}, which does not list it`,
      );
    }
    if (owner.task !== undefined) {
      const t = g.tasks.get(owner.task);
      const running = t?.owners?.has(owner) && t.status === "processing" &&
        t.processingOn?.id === owner.client;
      const kept = t?.kept?.includes(owner) && t.status === "memory";
      check(
        Boolean(running || kept),
        () =>
          `owner ${id} belongs to task ${owner.task}, which neither runs on ` +
          `${owner.client} nor keeps it`,
      );
    }
  }
  for (const [client, owners] of g.clientOwners) {
    for (const owner of owners) {
      check(
        g.owners.get(owner.id) === owner && owner.client === client,
        () => `client ${client} lists an unknown owner ${owner.id}`,
      );
    }
  }
}

/** The invariants of one task, filed under `key`; `queued` is what the queue holds. */
function checkTask(
  g: TaskGraph,
  key: string,
  ts: TaskRecord,
  queued: Set<TaskRecord>,
): void {
  const at = () => `${key} (${ts.status})`;
  check(ts.key === key, () => `${key} is filed under another key`);
  if (ts.actor && ts.status === "memory") {
    // One instance, on one worker: its value is that worker's address.
    check(
      ts.whoHas?.length === 1 && ts.value !== null,
      () => `actor ${at()} is not hosted by exactly one worker`,
    );
  }
  check(
    ts.scattered
      ? ts.deps.length === 0 && !isActive(ts.status)
      : g.fns.has(ts.fn),
    () =>
      ts.scattered
        ? `scattered ${at()} has dependencies or is being computed`
        : `${at()} uses an unknown function ${ts.fn}`,
  );
  let active = 0;
  for (const d of ts.deps) {
    check(
      g.tasks.get(d.key) === d,
      () => `${at()} depends on ${d.key}, not in the graph`,
    );
    check(
      d.dependents?.has(ts) ?? false,
      () => `${at()} depends on ${d.key}, which does not list it`,
    );
  }
  for (const x of ts.dependents ?? []) {
    check(
      g.tasks.get(x.key) === x && x.deps.includes(ts),
      () => `${at()} lists dependent ${x.key}, which does not depend on it`,
    );
    if (isActive(x.status)) active++;
  }
  check(
    ts.activeDependents === active,
    () =>
      `${at()} counts ${ts.activeDependents} active dependents, has ${active}`,
  );
  const owners = ts.wantedBy ?? [];
  check(
    new Set(owners).size === owners.length,
    () => `${at()} lists an owner twice`,
  );
  for (const o of owners) {
    check(
      g.owners.get(o.id) === o && o.keys.has(ts),
      () => `${at()} is wanted by owner ${o.id}, which does not want it`,
    );
  }
  if (isActive(ts.status) || ts.status === "memory") {
    check(
      ts.needed,
      () => `${at()} is neither wanted nor needed by a dependent`,
    );
  }
  const notMemory = ts.deps.filter((d) => d.status !== "memory");
  switch (ts.status) {
    case "released":
      check(!ts.needed, () => `${at()} is needed but not computing`);
      check(
        (ts.dependents?.size ?? 0) > 0,
        () => `${at()} has no dependent: it should be forgotten`,
      );
      break;
    case "waiting":
      check(
        ts.waitingOn === notMemory.length && ts.waitingOn > 0,
        () =>
          `${at()} waits on ${ts.waitingOn}, but ${notMemory.length} ` +
          `dependencies are not in memory`,
      );
      for (const d of notMemory) {
        check(
          isActive(d.status),
          () =>
            `${at()} waits for ${d.key}, which is ${d.status}: it would wait forever`,
        );
      }
      break;
    case "queued":
      check(notMemory.length === 0, () => `${at()} has deps not in memory`);
      check(queued.has(ts), () => `${at()} is not in the queue`);
      for (const w of g.workers.values()) {
        const may = (!ts.restrictions || allowedOn(ts, w)) &&
          fitsResources(ts, w);
        check(
          !(hasRoom(w, g.saturation) && may),
          () => `${at()} is queued while ${w.id} has room for it`,
        );
      }
      break;
    case "processing":
      // A dependency lost while this ran is recomputed; the worker either
      // fetched it already or reports it missing. An actor that ended
      // meanwhile is erred: the task runs on, its calls rejected.
      for (const d of notMemory) {
        check(
          isActive(d.status) || (d.status === "erred" && d.actor !== null),
          () => `${at()} runs without ${d.key}, which is ${d.status}`,
        );
      }
      check(
        ts.processingOn !== null &&
          g.workers.get(ts.processingOn.id) === ts.processingOn &&
          ts.processingOn.processing.has(ts) && ts.run > 0,
        () => `${at()} is not processing on a live worker`,
      );
      break;
    case "memory":
      check(
        ts.value !== null || (ts.whoHas?.length ?? 0) > 0,
        () => `${at()} has no value and no holder`,
      );
      for (const h of ts.whoHas ?? []) {
        check(
          g.workers.get(h.id) === h && h.hasWhat.has(ts),
          () => `${at()} is held by ${h.id}, which does not hold it`,
        );
      }
      break;
    case "erred":
      check(ts.error !== null, () => `${at()} has no error`);
      check(
        ts.wanted || (ts.dependents?.size ?? 0) > 0,
        () => `${at()} is wanted by nobody: it should be forgotten`,
      );
      break;
    default:
      check(false, () => `${at()} is in the graph`);
  }
  if (ts.status !== "processing") {
    check(
      ts.processingOn === null && !ts.seceded && ts.blockedOn === null,
      () => `${at()} still has processing state`,
    );
    check(ts.owners === null, () => `${at()} owns futures but does not run`);
  }
  if (ts.status !== "memory") {
    check(
      ts.value === null && !ts.whoHas?.length && ts.kept === null,
      () => `${at()} still has a value, holders or kept futures`,
    );
  }
  if (ts.blockedOn !== null) {
    check(
      !ts.seceded && (ts.processingOn?.blocked.has(ts) ?? false),
      () => `${at()} is blocked but not filed as blocked`,
    );
  }
}

/** The invariants of one worker, filed under `id`. */
function checkWorker(g: TaskGraph, id: string, w: WorkerRecord): void {
  check(w.id === id, () => `worker ${id} is filed under another id`);
  let executing = 0;
  let occupancy = 0;
  const used = new Map<string, number>();
  const hold = (need: Readonly<Record<string, number>> | null) => {
    for (const name in need) used.set(name, (used.get(name) ?? 0) + need[name]);
  };
  for (const s of w.stopping.values()) hold(s.resources);
  for (const ts of w.processing) {
    if (ts.holding) hold(ts.resources);
    check(
      // Given back when it seceded (if asked to), and not taken back.
      ts.resources !== null ? ts.holding || ts.releaseOnSecede : !ts.holding,
      () =>
        `${ts.key} on ${id} ${ts.holding ? "holds" : "does not hold"} ` +
        `its resources`,
    );
    check(
      g.tasks.get(ts.key) === ts && ts.status === "processing" &&
        ts.processingOn === w,
      () => `${id} lists ${ts.key} as processing, which it is not there`,
    );
    if (!ts.seceded) {
      executing++;
      occupancy += ts.charged;
    }
    check(
      !w.stopping.has(ts.run),
      () => `${id} is stopping live run ${ts.run}`,
    );
  }
  for (const s of w.stopping.values()) {
    if (!s.holdsSlot) continue;
    executing++;
    occupancy += s.charged;
  }
  for (const name of new Set([...used.keys(), ...w.resourcesUsed.keys()])) {
    const counted = w.resourcesUsed.get(name) ?? 0;
    check(
      Math.abs(counted - (used.get(name) ?? 0)) <= 1e-9 * counted &&
        counted <= (w.resources?.[name] ?? 0),
      () =>
        `${id} counts ${counted} of ${name} in use, but its runs hold ` +
        `${used.get(name) ?? 0} and it offers ${w.resources?.[name] ?? 0}`,
    );
  }
  check(
    w.occupancy === occupancy,
    () =>
      `${id} counts ${w.occupancy} µs of occupancy, but the runs holding its ` +
      `slots were charged ${occupancy} µs`,
  );
  check(
    w.executing === executing,
    () =>
      `${id} counts ${w.executing} executing, but ${executing} runs hold its ` +
      `slots`,
  );
  for (const ts of w.hasWhat) {
    check(
      g.tasks.get(ts.key) === ts && ts.status === "memory" &&
        (ts.whoHas?.includes(w) ?? false),
      () => `${id} holds ${ts.key}, which does not list it`,
    );
  }
  for (const ts of w.blocked) {
    check(
      w.processing.has(ts) && ts.blockedOn !== null && !ts.seceded,
      () => `${id} lists ${ts.key} as blocked, which it is not`,
    );
  }
}
