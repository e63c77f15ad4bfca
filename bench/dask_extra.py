"""Dask cases that bench_dask.py does not cover, with its
cluster setup (LocalCluster of 2 worker processes, 2 threads each) and its
output format (one JSON line per measurement).

Usage: [MAP_NS=100000] [FIB_NS=14] [LAT_K=200] [PROCESSES=1]
       python3 dask_extra.py case ...
Cases: map (MAP_NS sizes), fib_delayed (FIB_NS sizes; bench_dask.py runs only
10 and 12), latency (LAT_K sequential submit+result round trips from the
client), startup_first (cluster start-up to the first result; PROCESSES=0 for
an in-process cluster of threads).
"""
import json
import logging
import os
import sys
import time

from dask import compute, delayed
from distributed import Client, LocalCluster

logging.getLogger("distributed").setLevel(logging.ERROR)


def noop(x):
    return x


@delayed
def fib_del(n):
    if n < 2:
        return n
    a, b = compute(fib_del(n - 1), fib_del(n - 2))
    return a + b


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


def main(cases):
    if "startup_first" in cases:
        startup_first()
    rest = [c for c in cases if c != "startup_first"]
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
    client.close()
    cluster.close()


if __name__ == "__main__":
    main(sys.argv[1:] or ["startup_first", "map", "fib_delayed", "latency"])
