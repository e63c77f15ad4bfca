"""Dask cases that bench_dask.py does not cover, with its
cluster setup (LocalCluster of 2 worker processes, 2 threads each) and its
output format (one JSON line per measurement).

Usage: [MAP_NS=100000] [FIB_NS=14] [LAT_K=200] [PROCESSES=1]
       python3 dask_extra.py case ...
Cases: balance (the mixed and skewed workloads of bench/cases/balance.ts on
2 workers of 1 thread, BALANCE_REPS runs after a warm-up, median), map (MAP_NS sizes), fib_delayed (FIB_NS sizes; bench_dask.py runs only
10 and 12), latency (LAT_K sequential submit+result round trips from the
client), startup_first (cluster start-up to the first result; PROCESSES=0 for
an in-process cluster of threads), actor (ACTOR_K calls on one
`client.submit(Counter, actor=True)`: per-call round trips from the client
and from inside a task, then ACTOR_K sequential and ACTOR_K concurrent calls
from the client in all).
"""
import json
import logging
import os
import sys
import time

from dask import compute, delayed
from distributed import Client, LocalCluster, get_worker

logging.getLogger("distributed").setLevel(logging.ERROR)


def noop(x):
    return x


@delayed
def fib_del(n):
    if n < 2:
        return n
    a, b = compute(fib_del(n - 1), fib_del(n - 2))
    return a + b


class Counter:
    """The actor of the actor cases (bench/cases/actor.ts has its twin)."""

    def __init__(self, start=0):
        self.n = start

    def increment(self, by=1):
        self.n += by
        return self.n


def actor_calls_in_task(counter, k):
    """k sequential round trips to `counter` from inside a task, in µs."""
    samples = []
    for _ in range(k):
        t = time.perf_counter()
        counter.increment().result()
        samples.append((time.perf_counter() - t) * 1e6)
    return samples


def sleep_ms(ms):
    if ms > 0:
        time.sleep(ms / 1000)
    return get_worker().address


def balance_workload(kind):
    """The same durations (ms) as balanceWorkload in bench/cases/balance.ts."""
    if kind == "mixed":
        slow = [300, 60, 380, 140, 220, 20, 340, 100, 260, 180]
        return [slow[i // 20] if i % 20 == 0 else 0 for i in range(200)]
    return [100 if i % 101 == 0 else 1 for i in range(1010)]


def busiest_share(durations, where):
    by_worker = {}
    total = 0
    for ms, w in zip(durations, where):
        total += ms
        by_worker[w] = by_worker.get(w, 0) + ms
    return max(by_worker.values()) / total


def balance():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1,
                           processes=True, dashboard_address=None)
    client = Client(cluster)
    reps = ints("BALANCE_REPS", "3")[0]
    for kind in ["mixed", "skewed"]:
        durations = balance_workload(kind)
        runs = []
        for rep in range(reps + 1):  # the first is a warm-up
            t = time.perf_counter()
            fs = client.map(sleep_ms, durations, pure=False)
            where = client.gather(fs)
            dt = time.perf_counter() - t
            del fs
            if rep > 0:
                runs.append((dt, busiest_share(durations, where)))
        runs.sort()
        dt, share = runs[len(runs) // 2]
        out(case="balance", kind=kind, seconds=round(dt, 3),
            busiest_share=round(share, 3))
    client.close()
    cluster.close()


def ints(name, default):
    return [int(x) for x in os.environ.get(name, default).split(",")]


def out(**kw):
    print(json.dumps(kw), flush=True)


def start(processes=True):
    cluster = LocalCluster(n_workers=2, threads_per_worker=2,
                           processes=processes, dashboard_address=None)
    return cluster, Client(cluster)


def startup_first():
    processes = os.environ.get("PROCESSES", "1") != "0"
    t = time.perf_counter()
    cluster, client = start(processes)
    client.submit(noop, 1, pure=False).result()
    dt = time.perf_counter() - t
    out(case="startup_first", processes=processes, seconds=round(dt, 3))
    client.close()
    cluster.close()


def per_call(samples):
    samples = sorted(samples)
    return round(samples[len(samples) // 2], 1), \
        round(samples[int(len(samples) * 0.99)], 1)


def actor(client):
    k = ints("ACTOR_K", "1000")[0]
    counter_future = client.submit(Counter, 10, actor=True)
    counter = counter_future.result()
    for _ in range(10):  # warm-up
        counter.increment().result()
    samples = []
    for _ in range(k):
        t = time.perf_counter()
        counter.increment().result()
        samples.append((time.perf_counter() - t) * 1e6)
    med, p99 = per_call(samples)
    out(case="actor_client", calls=k, us_median=med, us_p99=p99)
    # The task runs on the worker that does not host the actor, as in
    # bench/cases/actor.ts.
    host = client.who_has([counter_future])[counter_future.key][0]
    other = [w for w in client.scheduler_info()["workers"] if w != host]
    client.submit(actor_calls_in_task, counter, 10, pure=False,
                  workers=other).result()
    samples = client.submit(actor_calls_in_task, counter, k, pure=False,
                            workers=other).result()
    med, p99 = per_call(samples)
    out(case="actor_task", calls=k, us_median=med, us_p99=p99)
    t = time.perf_counter()
    for _ in range(k):
        counter.increment().result()
    dt = time.perf_counter() - t
    out(case="actor_sequential", calls=k, seconds=round(dt, 4),
        calls_per_s=round(k / dt))
    t = time.perf_counter()
    futures = [counter.increment() for _ in range(k)]
    for f in futures:
        f.result()
    dt = time.perf_counter() - t
    out(case="actor_concurrent", calls=k, seconds=round(dt, 4),
        calls_per_s=round(k / dt))


def main(cases):
    if "startup_first" in cases:
        startup_first()
    if "balance" in cases:
        balance()
    rest = [c for c in cases if c not in ("startup_first", "balance")]
    if not rest:
        return
    cluster, client = start()
    if "map" in rest:
        for n in ints("MAP_NS", "100000"):
            t = time.perf_counter()
            fs = client.map(noop, range(n), pure=False)
            client.gather(fs)
            dt = time.perf_counter() - t
            out(case="map", tasks=n, seconds=round(dt, 3),
                tasks_per_s=round(n / dt))
            del fs
    if "fib_delayed" in rest:
        for n in ints("FIB_NS", "14"):
            t = time.perf_counter()
            r = fib_del(n).compute()
            dt = time.perf_counter() - t
            out(case="fib_delayed", n=n, result=r, seconds=round(dt, 3))
    if "latency" in rest:
        k = ints("LAT_K", "200")[0]
        client.submit(noop, 0, pure=False).result()  # warm-up
        samples = []
        for i in range(k):
            t = time.perf_counter()
            client.submit(noop, i, pure=False).result()
            samples.append((time.perf_counter() - t) * 1e6)
        samples.sort()
        out(case="latency", calls=k, us_median=round(samples[k // 2], 1),
            us_p99=round(samples[int(k * 0.99)], 1))
    if "actor" in rest:
        actor(client)
    client.close()
    cluster.close()


if __name__ == "__main__":
    main(sys.argv[1:] or ["startup_first", "map", "fib_delayed", "latency"])
