/**
 * The messages scheduler, workers and clients exchange: one definition of
 * the protocol, shared by all sides. Every transport moves these plain
 * objects (structured clone on Web Workers, msgpack on TCP), and every state
 * machine consumes and produces only these. Messages from the network are
 * checked by the tables at the end of this file, which the compiler keeps in
 * step with the types (see `runtime/wire/checks.ts`).
 *
 * Every message about one run of a task carries `run`, the id the scheduler
 * gave that run: a late message about an earlier run of the same key (one
 * that was cancelled, stolen or rerun) is told apart and ignored.
 *
 * @module
 */

import type { Packed } from "../runtime/codec/packed.ts";
import { ProtocolError, SerializationError } from "../runtime/errors.ts";
import {
  bool,
  type Check,
  dict,
  list,
  map,
  messageChecker,
  type MessageTable,
  nat,
  num,
  optional,
  packed,
  record,
  str,
} from "../runtime/wire/checks.ts";
import type { FunctionRef } from "../runtime/shipping/describe.ts";
import type { CodePackage } from "../runtime/shipping/code_package.ts";

/**
 * Bytes a message may need around one value it carries (operation, key,
 * ids): a value whose codec bytes leave less than this under the message
 * limit is refused before it is sent (an error for that task or call, not
 * a closed connection).
 */
export const MESSAGE_SLACK = 64 * 1024;

/**
 * Refuses codec bytes too big to travel in one message under `limit` (with
 * {@linkcode MESSAGE_SLACK} to spare); `what` names them, `instead` says
 * what to do. No limit: anything goes.
 *
 * @throws {SerializationError} naming their size and the limit.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFitsMessage } from "./protocol.ts";
 * checkFitsMessage(new Uint8Array(10), 1 << 20, "the arguments of get()");
 * assert.throws(
 *   () => checkFitsMessage(new Uint8Array(1 << 20), 1 << 20, "the value of get()"),
 *   /the value of get\(\) is 1048576 bytes encoded, over the 1048576-byte message limit/,
 * );
 * ```
 */
export function checkFitsMessage(
  bytes: Packed,
  limit: number | undefined,
  what: string,
  instead = "",
): void {
  if (limit === undefined || bytes.length <= limit - MESSAGE_SLACK) return;
  throw new SerializationError(
    `${what} is ${bytes.length} bytes encoded, over the ${limit}-byte ` +
      `message limit (less ${MESSAGE_SLACK} for the message around it)` +
      (instead ? `; ${instead}` : ""),
  );
}

/** Bumped whenever a message below changes shape; checked in handshakes. */
export const PROTOCOL_VERSION = 5;

/**
 * Task priority, compared field by field: higher `user` first, then deeper
 * `depth` first (tasks launched from tasks run before unrelated queued work),
 * then lower `seq` first (FIFO).
 */
export type Priority = readonly [user: number, depth: number, seq: number];

const clamp = (x: number, lo: number, hi: number) =>
  x < lo ? lo : x > hi ? hi : Math.trunc(x);

/**
 * A priority as one number, smaller first, so priority queues compare
 * numbers instead of tuples. Exact for user priorities in [-511, 512],
 * depths up to 1023 and 2^32 sequence numbers (beyond, values clamp: deeper
 * tasks rank as depth 1023, sequence numbers wrap).
 *
 * @example User priority first, then depth
 * ```ts
 * import assert from "node:assert/strict";
 * import { priorityRank } from "./protocol.ts";
 * assert.ok(priorityRank([1, 0, 9]) < priorityRank([0, 0, 1]), "user priority first");
 * assert.ok(priorityRank([0, 2, 9]) < priorityRank([0, 1, 1]), "then deeper first");
 * ```
 */
export function priorityRank(p: Priority): number {
  const user = 512 - clamp(p[0], -511, 512);
  const depth = 1023 - clamp(p[1], 0, 1023);
  return (user * 1024 + depth) * 4294967296 + (p[2] % 4294967296);
}

/** One task as a client submits it. `args` are codec bytes. */
export interface TaskSpec {
  /** The task's key, unique in the cluster. */
  key: string;
  /** Function id (see `describeFunction`). */
  fn: string;
  /** Sent the first time a client uses `fn`, so the scheduler can forward it. */
  fnRef?: FunctionRef;
  /** Codec bytes of the argument array. */
  args: Packed;
  /** Keys this task's arguments reference: its dependencies. */
  deps?: string[];
  /** The submitting task's key when submitted from inside a task. */
  parent?: string;
  /** User priority: higher runs first. */
  priority?: number;
  /** Reruns allowed after the function throws. */
  retries?: number;
  /** Worker ids or addresses the task is restricted to. */
  workers?: string[];
  /** With `workers`: a preference, not a restriction. */
  allowOtherWorkers?: boolean;
  /** Worker resources it holds while assigned (`{ GPU: 1 }`). */
  resources?: Record<string, number>;
  /** With `resources`: give them back when the task secedes (not taken back on rejoin). */
  releaseResourcesOnSecede?: boolean;
  /** Set when the task constructs an actor (`client.actor`): `fn` is its class. */
  actor?: ActorSpec;
}

/**
 * The longest actor name and method name the checks let travel (in
 * UTF-16 code units); the client refuses longer ones before sending, as
 * a message that fails its checks closes its connection.
 */
export const ACTOR_NAME_MAX = 1 << 10;

/** How an actor is hosted, as `client.actor` asks for it. */
export interface ActorSpec {
  /** Method calls it runs at once (default 1: one at a time, in arrival order). */
  concurrency?: number;
  /** Times it is constructed again elsewhere when its worker dies (default 0). */
  maxRestarts?: number;
  /** Its cluster-wide name: it then lives until killed, reachable by name. */
  name?: string;
}

/** A dependency as the scheduler tells a worker where to find it. */
export interface DepLocation {
  /** The dependency's key. */
  key: string;
  /** Inline bytes for small values (no fetch needed). */
  value?: Packed;
  /** Data addresses of workers holding the value. */
  who?: string[];
}

/**
 * A value could not be fetched from any of the holders the sender was told
 * of. From a worker, `task` and `run` name the task that needed it (the
 * worker dropped that run); from a client they are absent.
 */
export interface MissingData {
  /** The operation. */
  op: "missing-data";
  /** The key whose value could not be fetched. */
  key: string;
  /** The task that needed it (workers only). */
  task?: string;
  /** That task's run (workers only). */
  run?: number;
  /** Holders that answered without the value. */
  notHeld: string[];
  /** Holders that could not be reached. */
  unreachable: string[];
  /** Why, in words (the last failure of each holder). */
  reason: string;
}

/** Client -> scheduler. `owner` is the task key for in-task clients. */
export type ClientToScheduler =
  /** New tasks, in submission order. */
  | { op: "submit"; tasks: TaskSpec[] }
  /** The owner holds futures on these keys: keep them and report their outcome. */
  | { op: "want"; keys: string[]; owner?: string }
  /** The owner holds no more futures on these keys. */
  | { op: "release"; keys: string[]; owner?: string }
  /** Cancel these keys, what depends on them and what they launched. */
  | { op: "cancel"; keys: string[] }
  | MissingData
  /**
   * The code package that module function refs with `pkg.id` name, sent
   * before the first task using it (workers fetch it with code-request).
   */
  | { op: "code-package"; package: CodePackage }
  /** Asks for a {@linkcode SchedulerInfo}; answered with the same `id`. */
  | { op: "scheduler-info"; id: number }
  /** Asks how far the trees of tasks launched by `keys` are (for `progress()`). */
  | { op: "tree-progress"; id: number; keys: string[] }
  /** Turns forwarding of task output to this client on or off (default on). */
  | { op: "forward-output"; on: boolean }
  /** Asks for the recent task output of every worker; answered with the same `id`. */
  | { op: "worker-logs"; id: number }
  /**
   * Asks for the runs that ended from sequence number `since` on (those the
   * scheduler still keeps); without `since`, only the current number.
   */
  | { op: "task-stream"; id: number; since?: number }
  /** Run these erred keys again, with the erred dependencies they failed from. */
  | { op: "retry"; keys: string[] }
  /** Call `fn(...args)` once on every worker (outside any task); answered by `call-result`. */
  | ({ op: "call-on-workers" } & FunctionCall)
  /** Call `fn(...args)` in the scheduler's process, if it allows client code. */
  | ({ op: "call-on-scheduler" } & FunctionCall)
  /**
   * Values the client put straight into workers' data stores
   * (`client.scatter`): each key is in memory on the workers named (by id),
   * with no function to recompute it; the owner holds a future on each.
   */
  | { op: "scattered"; values: ScatteredValue[]; owner?: string }
  /**
   * Retire these workers (ids or addresses) gracefully: no new work, their
   * queued work elsewhere, their values copied to other workers, then
   * closed; answered by `workers-retired` with the same `id`.
   */
  | { op: "retire-workers"; id: number; workers: string[] }
  /**
   * Restart the cluster: every task is cancelled, every worker replaced by
   * a fresh one; answered by `restarted` once as many workers are back.
   */
  | { op: "restart"; id: number }
  /**
   * Run these keys to the end even when no client wants them any more
   * (`fireAndForget`); once each is in memory or erred, the scheduler lets
   * it go as usual.
   */
  | { op: "fire-and-forget"; keys: string[] }
  /**
   * Publish `value` (codec bytes; `keys` are the futures it references,
   * which the scheduler holds while it is published) under `name`; a taken
   * name is refused unless `override`. Answered by `dataset-answer`.
   */
  | {
    op: "publish";
    id: number;
    name: string;
    value: Packed;
    keys: string[];
    override?: boolean;
  }
  /** Drop the dataset `name` (its keys are let go); answered by `dataset-answer`. */
  | { op: "unpublish"; id: number; name: string }
  /**
   * Ask for the dataset `name`: the owner (the client, or its task `owner`)
   * then holds futures on its keys. Unknown names are refused at once, or
   * with `wait` answered once published. Answered by `dataset-answer`.
   */
  | {
    op: "get-dataset";
    id: number;
    name: string;
    owner?: string;
    wait?: boolean;
  }
  /** Ask for the names of the published datasets; answered by `dataset-answer`. */
  | { op: "list-datasets"; id: number }
  /** Which task hosts the actor named `name`, answered by `actor-key`. */
  | { op: "get-actor"; id: number; name: string }
  /** End the actor of `key` now, whoever holds it (`actor.kill()`). */
  | { op: "kill-actor"; key: string }
  | CoordinationRequest;

/**
 * A request to a coordination primitive the scheduler keeps by name
 * (`Queue`, `Variable`, `ClusterEvent`, `Semaphore` and `Lock`, `Topic`).
 * Each is answered by one `coordinated` message with the same `id` (a
 * request that waits is answered when its wait ends, or with `withdrawn`
 * once the client withdraws it), except `topic-publish`, which is not
 * answered. `owner` is the task key of an in-task client's request: keys
 * referenced by a value it receives are held for that task.
 */
export type CoordinationRequest =
  /**
   * Put `value` (codec bytes; `refs` are the keys of futures inside it,
   * held while it is stored) at the back of queue `name`, or, with
   * `front`, back at its head (an item a withdrawn get received). Waits
   * while the queue holds `maxsize` items. `maxsize` fixes the queue's
   * bound the first time one is given; another bound later is an error.
   */
  | {
    op: "queue-put";
    id: number;
    name: string;
    value: Packed;
    refs?: string[];
    maxsize?: number;
    front?: boolean;
  }
  /**
   * Take the item at the head of queue `name`, waiting while it is empty;
   * with `batch`, take that many at once (answered in `values`), waiting
   * until there are; with `batch` 0, take every item there is, at once.
   */
  | {
    op: "queue-get";
    id: number;
    name: string;
    owner?: string;
    batch?: number;
  }
  /** How many items queue `name` holds (in `count`). */
  | { op: "queue-size"; id: number; name: string }
  /** Store `value` in variable `name` (the value it replaces is let go). */
  | {
    op: "variable-set";
    id: number;
    name: string;
    value: Packed;
    refs?: string[];
  }
  /** The value of variable `name`, waiting until it has one. */
  | { op: "variable-get"; id: number; name: string; owner?: string }
  /** Variable `name` has no value any more. */
  | { op: "variable-delete"; id: number; name: string }
  /** Set (`on`) or clear event `name`. */
  | { op: "event-set"; id: number; name: string; on: boolean }
  /**
   * Wait until event `name` is set; with `poll`, answer at once, `count`
   * 1 when it is set and 0 when not.
   */
  | { op: "event-wait"; id: number; name: string; poll?: boolean }
  /**
   * Take a lease of semaphore `name`, waiting while `maxLeases` are taken;
   * answered with the lease's number in `count`. A lease is given back on
   * release, or when the peer holding it leaves or dies.
   */
  | { op: "semaphore-acquire"; id: number; name: string; maxLeases: number }
  /** Give lease `lease` of semaphore `name` back. */
  | { op: "semaphore-release"; id: number; name: string; lease: number }
  /**
   * Receive what is published on topic `name` from now on, as
   * `topic-message`s with this `id`, until withdrawn or gone.
   */
  | { op: "topic-subscribe"; id: number; name: string; owner?: string }
  /** Send `value` to every subscriber of topic `name` (not answered). */
  | { op: "topic-publish"; name: string; value: Packed; refs?: string[] }
  /**
   * The client gives up request `id`: a wait still pending is answered
   * `withdrawn`; a subscription ends (not answered). A request already
   * answered is not affected (the client undoes what it received).
   */
  | { op: "withdraw"; id: number };

/** One value of a `scattered` message. */
export interface ScatteredValue {
  /** Its key. */
  key: string;
  /** Its encoded size, in bytes. */
  nbytes: number;
  /** Ids of the workers that acknowledged storing it. */
  workers: string[];
}

/** The scheduler's answers to a client's requests, matched by `id`. */
export type SchedulerAnswer = Extract<
  SchedulerToClient,
  {
    op:
      | "scheduler-info"
      | "tree-progress"
      | "worker-logs"
      | "task-stream"
      | "workers-retired"
      | "restarted"
      | "dataset-answer"
      | "actor-key";
  }
>;

/** A function call a client asks of the cluster's processes (`client.run`). */
export interface FunctionCall {
  /** The caller's id of the call, echoed in the answer. */
  id: number;
  /** Function id. */
  fn: string;
  /** Its definition (always sent: calls are rare). */
  fnRef: FunctionRef;
  /** Codec bytes of the argument array. */
  args: Packed;
}

/** Scheduler -> client. */
export type SchedulerToClient =
  /** `key` finished: its value inline, or the data addresses holding it. */
  | { op: "key-done"; key: string; value?: Packed; who?: string[] }
  /** `key` failed: the codec bytes of its error. */
  | { op: "key-erred"; key: string; error: Packed }
  /** `key` was cancelled, forgotten or refused; `reason` says which. */
  | { op: "key-cancelled"; key: string; reason: string }
  /** The waits of these tasks, blocked without secession, can never end. */
  | { op: "deadlock"; keys: string[]; message: string }
  /** The answer to the client's `scheduler-info` request `id`. */
  | { op: "scheduler-info"; id: number; info: SchedulerInfo }
  /**
   * The answer to `tree-progress` request `id`: per key asked, the tasks
   * launched in its tree so far, and how many of them finished or erred.
   */
  | { op: "tree-progress"; id: number; launched: number[]; done: number[] }
  /** Output of tasks whose tree this client's task rooted, printed on `worker`. */
  | { op: "task-output"; worker: string; lines: OutputLine[] }
  /** The answer to `worker-logs` request `id`: recent output lines by worker id. */
  | { op: "worker-logs"; id: number; logs: Record<string, string[]> }
  /**
   * The answer to `task-stream` request `id`: the runs asked for, the
   * sequence number after them, and how many asked for are no longer kept.
   */
  | {
    op: "task-stream";
    id: number;
    spans: TaskSpan[];
    seq: number;
    skipped: number;
  }
  /** Something the client's user should know (printed with console.warn). */
  | { op: "warning"; message: string }
  /**
   * The answer to `retire-workers` request `id`: the ids of the workers
   * retired, or why none was.
   */
  | { op: "workers-retired"; id: number; workers: string[]; error?: string }
  /** The answer to `restart` request `id`: as many workers as before are back. */
  | { op: "restarted"; id: number }
  /** Answer to `get-actor`: the key of the actor's task, absent when no live actor has that name. */
  | { op: "actor-key"; id: number; key?: string }
  /** The answer to call `id`: each process's value or error, by worker id ("scheduler" for it). */
  | {
    op: "call-result";
    id: number;
    values: Record<string, Packed>;
    errors: Record<string, Packed>;
  }
  /**
   * The answer to dataset request `id` (`publish`, `unpublish`,
   * `get-dataset`, `list-datasets`): the dataset's codec bytes, the names
   * published, or why the request was refused.
   */
  | {
    op: "dataset-answer";
    id: number;
    value?: Packed;
    names?: string[];
    error?: string;
  }
  | Coordinated
  /** A message published on the topic subscription `id` subscribed to. */
  | { op: "topic-message"; id: number; value: Packed; refs?: string[] };

/**
 * The answer to a {@linkcode CoordinationRequest} `id`: a value (with the
 * keys it references, now held for the asker), a number (a queue's size, a
 * lease, whether an event is set), an error, or `withdrawn`.
 */
export interface Coordinated {
  /** The operation. */
  op: "coordinated";
  /** The request's id. */
  id: number;
  /** Codec bytes of the value asked for. */
  value?: Packed;
  /** Codec bytes of each value of a batch asked for. */
  values?: Packed[];
  /** Keys of the futures inside `value`. */
  refs?: string[];
  /** The number asked for. */
  count?: number;
  /** Why the request was refused. */
  error?: string;
  /** The wait was withdrawn before it ended. */
  withdrawn?: boolean;
}

/** When a run ran, as its worker reports it with the run's end. */
export interface RunTimes {
  /** Epoch milliseconds (worker's clock) when the function was called. */
  start?: number;
  /** Epoch milliseconds when it returned. */
  stop?: number;
  /** Times it spent seceded, as epoch-millisecond pairs (from, to, ...). */
  seceded?: number[];
}

/** Worker -> scheduler (besides the client ops of its in-task client). */
export type WorkerToScheduler =
  /** A run returned: its value inline when small, and its encoded size. */
  | ({
    op: "task-finished";
    key: string;
    run: number;
    value?: Packed;
    nbytes: number;
    /** Keys referenced inside the result: kept alive with it. */
    refs?: string[];
    /** Milliseconds the run held its slot (absent when it seceded): learned per function. */
    ms?: number;
  } & RunTimes)
  /** A run threw: the codec bytes of its error, and when it ran. */
  | ({
    op: "task-erred";
    key: string;
    run: number;
    error: Packed;
  } & RunTimes)
  /** A run ended without a result: cancelled and returned, or dropped unstarted (cancelled or stolen). */
  | { op: "task-stopped"; key: string; run: number }
  /** The answer to `call-function` `id`: its value or its error. */
  | { op: "function-result"; id: number; value?: Packed; error?: Packed }
  /** A run gave its slot back (`secede()`). */
  | { op: "seceded"; key: string; run: number }
  /** A seceded run holds a slot again. */
  | { op: "rejoined"; key: string; run: number }
  /** A run waits for the keys `on` while keeping its slot (secession turned off). */
  | { op: "blocked"; key: string; run: number; on: string[] }
  /** That wait ended. */
  | { op: "unblocked"; key: string; run: number }
  /** The worker lacks code package `id` (answered by code-reply). */
  | { op: "code-request"; id: string }
  /** What running tasks printed (`console.log`, `console.error`...). */
  | { op: "task-output"; lines: OutputLine[] }
  /**
   * The worker's use of its machine, every few seconds: its process's
   * resident bytes, its isolate's heap bytes, and the cores its process
   * used since the last report.
   */
  | { op: "worker-usage"; rss: number; heap: number; cpu: number }
  /** The answer to `acquire`: keys now held here, and keys no holder gave. */
  | { op: "acquired"; keys: string[]; missing: string[] }
  | MissingData;

/** Scheduler -> worker. */
export type SchedulerToWorker =
  /**
   * Run task `key` as run `run`: the function (with its definition the
   * first time this worker gets it), its arguments, its dependencies.
   */
  | {
    op: "compute";
    key: string;
    run: number;
    fn: string;
    fnRef?: FunctionRef;
    args: Packed;
    /** Omitted when the task has no dependencies. */
    deps?: DepLocation[];
    /** The task's priority as {@linkcode priorityRank} gives it. */
    rank: number;
    /** Set when the task constructs an actor: the worker then hosts it. */
    actor?: { concurrency: number };
  }
  /** Stop the run: drop it if it has not started, else abort it. */
  | { op: "cancel-compute"; key: string; run: number; reason: string }
  /** Take the run back if it has not started (answered by task-stopped). */
  | { op: "steal"; key: string; run: number }
  /** Forget the values of these keys. */
  | { op: "free"; keys: string[] }
  /** Answer to code-request: the package, or why the scheduler has none. */
  | { op: "code-reply"; id: string; package?: CodePackage; error?: string }
  /** Call `fn(...args)` outside any task; answer `function-result` with its `id`. */
  | ({ op: "call-function" } & FunctionCall)
  /**
   * Fetch these values from their holders and keep them (a retiring
   * worker's values move here); answered by `acquired`.
   */
  | { op: "acquire"; deps: DepLocation[] }
  /**
   * Close the connection to the scheduler. `retired`: the worker holds
   * nothing the cluster needs and gets no more work; it stops for good.
   * `restart`: everything it holds is forgotten; it comes back fresh.
   */
  | { op: "close-worker"; reason: "retired" | "restart" };

/** One finished run, as the task stream shows it. */
export interface TaskSpan {
  /** The task's key. */
  key: string;
  /** The function's readable name. */
  name: string;
  /** The worker it ran on. */
  worker: string;
  /** Epoch milliseconds when it started, on the worker's clock. */
  start: number;
  /** Epoch milliseconds when it ended. */
  stop: number;
  /** Whether it threw. */
  erred: boolean;
  /** Times it spent seceded: epoch-millisecond pairs (from, to, ...), or null. */
  seceded: number[] | null;
}

/** A line a task printed. */
export interface OutputLine {
  /** The printing task's key. */
  key: string;
  /** `out` for `console.log`, `info`, `debug`; `err` for `warn`, `error`. */
  stream: "out" | "err";
  /** The line as the console would print it. */
  text: string;
}

/** One worker in a {@linkcode SchedulerInfo}. */
export interface WorkerSummary {
  /** Its id. */
  id: string;
  /** Where peers and clients fetch its data. */
  address: string;
  /** Tasks it runs at once. */
  slots: number;
  /** Tasks holding a slot (processing, not seceded). */
  executing: number;
  /** Tasks sent to it and not finished (queued there, fetching, running). */
  processing: number;
  /** Processing tasks that gave their slot back (`secede()`). */
  seceded: number;
  /** Values it holds. */
  heldKeys: number;
  /** Their encoded size, in bytes. */
  heldBytes: number;
  /** Resident bytes of its process (last report; in-process workers share theirs). */
  rss?: number;
  /** Heap bytes of its isolate (last report). */
  heap?: number;
  /** Cores its process used (last report; 1 = one core busy). */
  cpu?: number;
}

/** Counts and time of the runs of one function. */
export interface FunctionSummary {
  /** The function's name. */
  name: string;
  /** Runs that returned. */
  finished: number;
  /** Runs that threw. */
  erred: number;
  /** Total seconds of the runs that reported their time. */
  seconds: number;
}

/** What `client.schedulerInfo()` and the dashboard's `/api/info` report. */
export interface SchedulerInfo {
  /** Where clients and workers connect, when the scheduler listens on TCP. */
  address?: string;
  /** The dashboard's URL, when it runs. */
  dashboard?: string;
  /** Connected workers, in join order. */
  workers: WorkerSummary[];
  /** Tasks in the graph by status (released, waiting, queued, processing, memory, erred). */
  tasks: Record<string, number>;
  /** Runs that returned, over the scheduler's life. */
  finished: number;
  /** Runs that threw, over the scheduler's life. */
  erred: number;
  /** Per function, by name. */
  functions: FunctionSummary[];
  /** Connected clients (workers' in-task clients excluded). */
  clients: number;
  /** Epoch milliseconds when this was taken, on the scheduler's clock. */
  time: number;
}

/**
 * Anything -> worker data server: ask for values, or (clients,
 * `client.scatter`) put values into its store, answered by `stored`.
 */
export type DataRequest =
  | { op: "get-data"; id: number; keys: string[] }
  | { op: "put-data"; id: number; values: Record<string, Packed> };
/** Answer to a {@linkcode DataRequest}; `missing` lists keys not held. */
export type DataResponse = {
  op: "data";
  id: number;
  values: Record<string, Packed>;
  missing: string[];
};
/** Answer to a `put-data`: the keys now stored, or why none were. */
export type DataStored = {
  op: "stored";
  id: number;
  keys: string[];
  error?: string;
};
/**
 * Caller -> the worker hosting an actor: call `method` of the actor of
 * task `key` with `args` (codec bytes of the argument array).
 */
export type ActorCall = {
  op: "actor-call";
  id: number;
  key: string;
  method: string;
  args: Packed;
};
/**
 * Answer to an {@linkcode ActorCall}: the method's value, or what it threw
 * (codec bytes); `gone` when the worker hosts no actor of that key (it was
 * released, killed, or never was here).
 */
export type ActorReply = {
  op: "actor-reply";
  id: number;
  value?: Packed;
  error?: Packed;
  gone?: boolean;
};
/** Both directions of a data connection. */
export type DataMessage =
  | DataRequest
  | DataResponse
  | DataStored
  | ActorCall
  | ActorReply;

/** First message of an in-process worker: who it is (the scheduler answers nothing). */
export type RegisterWorker = {
  op: "register-worker";
  id: string;
  slots: number;
  address: string;
  version: number;
};

/**
 * A liveness signal over TCP, both ways: workers send it to the scheduler,
 * the scheduler to every client and worker. The receiving server or
 * connection consumes it; no state machine ever sees one.
 */
export type Heartbeat = { op: "heartbeat" };

/**
 * The operations of {@linkcode SchedulerToClient}, as a table the compiler
 * keeps complete: a new scheduler-to-client operation must be added here.
 */
const TO_CLIENT_OPS: Record<SchedulerToClient["op"], true> = {
  "key-done": true,
  "key-erred": true,
  "key-cancelled": true,
  deadlock: true,
  "scheduler-info": true,
  "tree-progress": true,
  "task-output": true,
  "worker-logs": true,
  "task-stream": true,
  warning: true,
  "call-result": true,
  "workers-retired": true,
  restarted: true,
  "dataset-answer": true,
  "actor-key": true,
  coordinated: true,
  "topic-message": true,
};

/**
 * Whether a message on a worker's connection is for the worker's in-task
 * client rather than for the worker itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isForClient } from "./protocol.ts";
 * assert.ok(isForClient({ op: "key-cancelled", key: "a", reason: "r" }));
 * assert.ok(!isForClient({ op: "free", keys: ["a"] }));
 * ```
 */
export function isForClient(msg: ToWorkerConnection): msg is SchedulerToClient {
  return Object.hasOwn(TO_CLIENT_OPS, msg.op);
}

/**
 * `batch` without its heartbeats (the same array when it has none, the
 * common case).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dropHeartbeats } from "./protocol.ts";
 * assert.deepEqual(dropHeartbeats([{ op: "heartbeat" }, { op: "x" }]), [{ op: "x" }]);
 * ```
 */
export function dropHeartbeats<T extends { op: string }>(
  batch: (T | Heartbeat)[],
): T[] {
  for (const msg of batch) {
    if (msg.op === "heartbeat") {
      return batch.filter((m) => m.op !== "heartbeat") as T[];
    }
  }
  return batch as T[];
}

/** Every message the scheduler may receive. */
export type ToScheduler = ClientToScheduler | WorkerToScheduler;
/** Every message a worker connection to the scheduler may receive. */
export type ToWorkerConnection = SchedulerToWorker | SchedulerToClient;

// ---- checks of messages from the network --------------------------------------

const key = str();
const keys = list(key);

const packageId = str(64);
const packageRef = record({ id: packageId, path: str(4096) });
const codePackage: Check<CodePackage> = record<CodePackage>({
  id: packageId,
  files: list(record({ path: str(4096), text: str(1 << 24) })),
});

const fnRef: Check<FunctionRef> = (v, at) => {
  const m = map(v, at);
  if (m.kind === "module") str(1 << 16)(m.url, `${at}.url`);
  else if (m.kind === "source") str(1 << 24)(m.source, `${at}.source`);
  else {
    throw new ProtocolError(
      `field ${at}.kind must be "module" or "source", got ${
        JSON.stringify(m.kind)
      }`,
    );
  }
  str()(m.name, `${at}.name`);
  optional(bool)(m.wrapped, `${at}.wrapped`);
  if (m.kind === "module") optional(packageRef)(m.pkg, `${at}.pkg`);
  return m as unknown as FunctionRef;
};

const taskSpec: Check<TaskSpec> = record<TaskSpec>({
  key,
  fn: key,
  fnRef: optional(fnRef),
  args: packed,
  deps: optional(keys),
  parent: optional(key),
  priority: optional(num),
  retries: optional(nat),
  workers: optional(keys),
  allowOtherWorkers: optional(bool),
  resources: optional(dict(num)),
  releaseResourcesOnSecede: optional(bool),
  actor: optional(record<ActorSpec>({
    concurrency: optional(nat),
    maxRestarts: optional(nat),
    name: optional(str(ACTOR_NAME_MAX)),
  })),
});

const outputLine: Check<OutputLine> = record<OutputLine>({
  key,
  stream: (v, at) => {
    if (v !== "out" && v !== "err") {
      throw new ProtocolError(`field ${at} must be "out" or "err"`);
    }
    return v;
  },
  text: str(1 << 16),
});

const missingData: MessageTable<MissingData>["missing-data"] = {
  key,
  task: optional(key),
  run: optional(nat),
  notHeld: keys,
  unreachable: keys,
  reason: str(1 << 16),
};

const functionCall = { id: nat, fn: key, fnRef, args: packed };

const name = str();
const positive: Check<number> = (v, at) => {
  if (nat(v, at) === 0) {
    throw new ProtocolError(`field ${at} must be a positive integer, got 0`);
  }
  return v as number;
};
const item = { value: packed, refs: optional(keys) };

const COORDINATION_TABLE: MessageTable<CoordinationRequest> = {
  "queue-put": {
    id: nat,
    name,
    ...item,
    maxsize: optional(nat),
    front: optional(bool),
  },
  "queue-get": { id: nat, name, owner: optional(key), batch: optional(nat) },
  "queue-size": { id: nat, name },
  "variable-set": { id: nat, name, ...item },
  "variable-get": { id: nat, name, owner: optional(key) },
  "variable-delete": { id: nat, name },
  "event-set": { id: nat, name, on: bool },
  "event-wait": { id: nat, name, poll: optional(bool) },
  "semaphore-acquire": { id: nat, name, maxLeases: positive },
  "semaphore-release": { id: nat, name, lease: nat },
  "topic-subscribe": { id: nat, name, owner: optional(key) },
  "topic-publish": { name, ...item },
  withdraw: { id: nat },
};

const CLIENT_TABLE: MessageTable<ClientToScheduler> = {
  submit: { tasks: list(taskSpec) },
  want: { keys, owner: optional(key) },
  release: { keys, owner: optional(key) },
  cancel: { keys },
  "missing-data": missingData,
  "code-package": { package: codePackage },
  "scheduler-info": { id: nat },
  "tree-progress": { id: nat, keys },
  "forward-output": { on: bool },
  "worker-logs": { id: nat },
  "task-stream": { id: nat, since: optional(nat) },
  retry: { keys },
  "call-on-workers": functionCall,
  "call-on-scheduler": functionCall,
  scattered: {
    values: list(record<ScatteredValue>({ key, nbytes: nat, workers: keys })),
    owner: optional(key),
  },
  "retire-workers": { id: nat, workers: keys },
  restart: { id: nat },
  "fire-and-forget": { keys },
  publish: {
    id: nat,
    name: key,
    value: packed,
    keys,
    override: optional(bool),
  },
  unpublish: { id: nat, name: key },
  "get-dataset": {
    id: nat,
    name: key,
    owner: optional(key),
    wait: optional(bool),
  },
  "list-datasets": { id: nat },
  "get-actor": { id: nat, name: str(ACTOR_NAME_MAX) },
  "kill-actor": { key },
  ...COORDINATION_TABLE,
};

const TO_SCHEDULER_TABLE: MessageTable<ToScheduler | Heartbeat> = {
  ...CLIENT_TABLE,
  "task-finished": {
    key,
    run: nat,
    value: optional(packed),
    nbytes: nat,
    refs: optional(keys),
    start: optional(num),
    stop: optional(num),
    seceded: optional(list(num)),
    ms: optional(num),
  },
  "task-erred": {
    key,
    run: nat,
    error: packed,
    start: optional(num),
    stop: optional(num),
    seceded: optional(list(num)),
  },
  "task-stopped": { key, run: nat },
  seceded: { key, run: nat },
  rejoined: { key, run: nat },
  blocked: { key, run: nat, on: keys },
  unblocked: { key, run: nat },
  "task-output": { lines: list(outputLine) },
  "worker-usage": { rss: nat, heap: nat, cpu: num },
  "function-result": {
    id: nat,
    value: optional(packed),
    error: optional(packed),
  },
  heartbeat: {},
  "code-request": { id: packageId },
  acquired: { keys, missing: keys },
};

const DATA_TABLE: MessageTable<DataMessage> = {
  "get-data": { id: nat, keys },
  data: { id: nat, values: dict(packed), missing: keys },
  "put-data": { id: nat, values: dict(packed) },
  stored: { id: nat, keys, error: optional(str(1 << 16)) },
  "actor-call": { id: nat, key, method: str(ACTOR_NAME_MAX), args: packed },
  "actor-reply": {
    id: nat,
    value: optional(packed),
    error: optional(packed),
    gone: optional(bool),
  },
};

/** Who sent a message: decides which operations are allowed. */
export type PeerRole = "client" | "worker";

const checkToScheduler = messageChecker(TO_SCHEDULER_TABLE);
const CLIENT_OPS: ReadonlySet<string> = new Set(Object.keys(CLIENT_TABLE));

/**
 * Checks one message sent to the scheduler by a peer of `role` (a worker
 * may also send its in-task client's operations, and heartbeats).
 *
 * @throws {ProtocolError} naming the operation and field.
 * @example Bad fields, unknown operations and worker operations from a client
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateToScheduler } from "./protocol.ts";
 * validateToScheduler({ op: "want", keys: ["a"] }, "client");
 * assert.throws(() => validateToScheduler({ op: "want", keys: [1] }, "client"), /field keys\[0\] must be a string/);
 * assert.throws(() => validateToScheduler({ op: "launch-missiles" }, "client"), /unknown operation "launch-missiles"/);
 * assert.throws(() => validateToScheduler({ op: "seceded", key: "a", run: 1 }, "client"), /"seceded" is for workers, not clients/);
 * ```
 */
export function validateToScheduler(
  msg: unknown,
  role: PeerRole,
): asserts msg is ToScheduler | Heartbeat {
  if (role === "client") {
    const op = (msg as { op?: unknown } | null)?.op;
    if (
      typeof op === "string" && !CLIENT_OPS.has(op) && op in TO_SCHEDULER_TABLE
    ) {
      throw new ProtocolError(
        `operation ${JSON.stringify(op)} is for workers, not clients`,
      );
    }
  }
  checkToScheduler(msg);
}

/**
 * Checks one message on a worker's data connection: a request for values,
 * or the answer to one.
 *
 * @throws {ProtocolError} naming the operation and field.
 * @example A request passes, a malformed one throws
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateDataMessage } from "./protocol.ts";
 * validateDataMessage({ op: "get-data", id: 1, keys: ["x"] });
 * assert.throws(() => validateDataMessage({ op: "get-data", id: "1", keys: [] }), /field id/);
 * ```
 */
export const validateDataMessage: (
  msg: unknown,
) => asserts msg is DataMessage = messageChecker(
  DATA_TABLE,
  " on a data connection",
);
