# The Dask side of the anchor measurements, kept in the repository so a clone
# can run `deno task bench:dask` (it started as the team's shared anchor
# script; bench/dask_extra.py adds the cases this one lacks).
"""Anchor measurements on Dask distributed (Debian's python3-distributed).

Runs the seed's patterns on a LocalCluster and prints one JSON line per case.
Usage: [FIB_NS=10,12,14] python3 bench_dask.py [case ...]   (cases: startup, map, fib_secede, fib_worker_client,
fib_delayed, connect, deadlock)
"""
import json, sys, time, logging
from dask import delayed, compute
from distributed import Client, LocalCluster, get_client, secede, rejoin, worker_client

logging.getLogger("distributed").setLevel(logging.ERROR)

def noop(x):
    return x

def fib_secede(n):
    if n < 2:
        return n
    client = get_client()
    a = client.submit(fib_secede, n - 1, pure=False)
    b = client.submit(fib_secede, n - 2, pure=False)
    secede()
    x, y = client.gather([a, b])
    rejoin()
    return x + y

def fib_wc(n):
    if n < 2:
        return n
    with worker_client() as client:
        a = client.submit(fib_wc, n - 1, pure=False)
        b = client.submit(fib_wc, n - 2, pure=False)
        x, y = client.gather([a, b])
    return x + y

@delayed
def fib_del(n):
    if n < 2:
        return n
    a, b = compute(fib_del(n - 1), fib_del(n - 2))
    return a + b

def fib_nosecede(n):
    if n < 2:
        return n
    client = get_client()
    a = client.submit(fib_nosecede, n - 1, pure=False)
    b = client.submit(fib_nosecede, n - 2, pure=False)
    x, y = client.gather([a, b])
    return x + y

def connect_cost(_):
    t0 = time.perf_counter()
    with worker_client() as c:
        t1 = time.perf_counter()
        c.submit(noop, 1, pure=False).result()
        t2 = time.perf_counter()
    return (t1 - t0, t2 - t1)

FIB_NS = tuple(int(x) for x in __import__("os").environ.get("FIB_NS", "10,12,14").split(","))

def ntasks(n):
    a, b = 1, 1
    for _ in range(n):
        a, b = b, a + b
    return 2 * a - 1

def out(**kw):
    print(json.dumps(kw), flush=True)

def main(cases):
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    startup = time.perf_counter() - t0
    if "startup" in cases:
        out(case="startup", seconds=round(startup, 3))
    if "map" in cases:
        for n in (1000, 10000):
            t = time.perf_counter()
            fs = client.map(noop, range(n), pure=False)
            client.gather(fs)
            dt = time.perf_counter() - t
            out(case="map", tasks=n, seconds=round(dt, 3), tasks_per_s=round(n / dt))
            del fs
    for name, fn in (("fib_secede", fib_secede), ("fib_worker_client", fib_wc)):
        if name in cases:
            for n in FIB_NS:
                t = time.perf_counter()
                r = client.submit(fn, n, pure=False).result(timeout=600)
                dt = time.perf_counter() - t
                out(case=name, n=n, result=r, tasks=ntasks(n), seconds=round(dt, 3),
                    tasks_per_s=round(ntasks(n) / dt))
    if "fib_delayed" in cases:
        for n in (10, 12):
            t = time.perf_counter()
            r = fib_del(n).compute()
            dt = time.perf_counter() - t
            out(case="fib_delayed", n=n, result=r, seconds=round(dt, 3))
    if "connect" in cases:
        res = client.gather(client.map(connect_cost, range(8), pure=False))
        conn = sorted(r[0] for r in res)
        rtt = sorted(r[1] for r in res)
        out(case="connect", worker_client_enter_ms_median=round(conn[4] * 1000, 2),
            submit_result_inside_task_ms_median=round(rtt[4] * 1000, 2))
    if "deadlock" in cases:
        f = client.submit(fib_nosecede, 8, pure=False)
        try:
            f.result(timeout=20)
            out(case="deadlock", deadlocked=False)
        except Exception as e:
            out(case="deadlock", deadlocked=True, error=type(e).__name__)
    client.close(); cluster.close()

if __name__ == "__main__":
    main(sys.argv[1:] or ["startup", "map", "fib_secede", "fib_worker_client", "fib_delayed", "connect"])
