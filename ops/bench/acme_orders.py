#!/usr/bin/python3
"""Complete ACME orders per second: newOrder -> http-01 -> finalize -> certificate download, by
N concurrent workers, each with its own account (ES256) and keep-alive connection, against one
ACME server, with one shared http-01 responder on 127.0.0.1:PORT. The client is
tests/integration/acme/acme_client.py, the same one the protocol tests use.

    acme_orders.py DIRECTORY CA_FILE HTTP01_PORT --concurrency 16 [--seconds 10] [--orders 2000]

Each worker keeps starting orders until --seconds have passed or --orders have been started in
all (whichever comes first; both bound the run); orders in flight then finish and count.
Prints one line:

    orders=N errors=E seconds=T orders_per_s=X p50_ms=Y p99_ms=Z requests_per_order=R client_cpu_s=C

orders_per_s = orders completed / (last completion - start); latencies are per order, from
newOrder to the downloaded chain. Account creation happens before the clock starts.

Polling: the same schedule for every server, ignoring Retry-After (a server asking for 1 s would
otherwise be measured on its advice, not its speed): --poll-interval waits, in seconds, between
the tries on one object, the last repeating (default 0.005,0.01,0.02,0.05: quick for a fast
server, at most 20 requests/s per waiting worker for a slow one). --honour-retry-after follows
Retry-After instead (bounded to 10 s; the last --poll-interval value when there is none).

--processes K spreads the workers over K processes (threads within each), so that the client's
GIL is not what is measured; the responder then serves key authorizations from files under a
temporary directory, which the workers of every process write.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import secrets
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "acme"))
from acme_client import AccountKey, AcmeClient, Http01Responder  # noqa: E402


class Shared:
    """What the workers of one process share: the start time, the deadline, the order budget."""

    def __init__(self, deadline: float, budget, lock):
        self.deadline = deadline
        self.budget = budget      # a multiprocessing.Value: orders that may still be started
        self.lock = lock

    def stop(self):
        """No more orders, in any process (--stop-on-error)."""
        with self.lock:
            self.budget.value = 0

    def take(self) -> bool:
        if time.time() >= self.deadline:
            return False
        with self.lock:
            if self.budget.value <= 0:
                return False
            self.budget.value -= 1
            return True


def worker(idx: int, args, responder: Http01Responder, clients: list, shared_box: dict, go: threading.Event,
           results: list, errors: list):
    c = clients[idx]
    go.wait()
    shared: Shared = shared_box["shared"]
    seq = 0
    consecutive = 0
    while shared.take():
        seq += 1
        name = f"o{os.getpid()}-{idx}-{seq}-{secrets.token_hex(3)}.{args.zone}"
        t0 = time.monotonic()
        try:
            c.issue([name], responder, interval=None if args.honour_retry_after else args.poll_schedule,
                    timeout=args.order_timeout)
            results.append((t0, time.monotonic()))
            consecutive = 0
        except Exception as e:  # a failed order counts as an error; too many in a row stop the worker
            errors.append(f"{name}: {type(e).__name__}: {str(e)[:300]}")
            if args.stop_on_error:
                shared.stop()
                return
            consecutive += 1
            if consecutive >= 5:
                errors.append(f"worker {idx}: 5 failures in a row, stopping")
                return


def run_process(args, n_workers: int, store_dir, budget, lock, ready, start_at, out_queue):
    """Runs n_workers threads; reports (results, errors, requests, cpu) through out_queue (or
    returns them when out_queue is None)."""
    responder = Http01Responder(args.http01_port, store_dir=store_dir)
    if store_dir is None:
        responder.start()
    clients = []
    try:
        for i in range(n_workers):
            c = AcmeClient(args.directory, args.ca, AccountKey.generate(args.key_type), timeout=args.timeout)
            c.poll_interval = args.poll_schedule[-1]
            c.honour_retry_after = args.honour_retry_after
            c.new_account(contact=[f"mailto:bench{i}@{args.zone}"], expect=(201,), what="newAccount")
            clients.append(c)
    except Exception as e:
        if ready is not None:
            ready.put(f"setup failed: {e}")
        raise
    if ready is not None:
        ready.put("ready")
    # Wait for the common start time (set once every process has its accounts).
    while start_at.value == 0:
        time.sleep(0.005)
    deadline = start_at.value + args.seconds
    delay = start_at.value - time.time()
    if delay > 0:
        time.sleep(delay)
    shared_box = {"shared": Shared(deadline, budget, lock)}
    go = threading.Event()
    results: list = []
    errors: list = []
    counts0 = [_requests(c) for c in clients]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    threads = [threading.Thread(target=worker, args=(i, args, responder, clients, shared_box, go, results, errors))
               for i in range(n_workers)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    requests = sum(_requests(c) - r0 for c, r0 in zip(clients, counts0))
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    # Wall-clock (time.time) stamps, comparable across processes.
    base = time.time() - time.monotonic()
    res = [(a + base, b + base) for a, b in results]
    for c in clients:
        c.close()
    if store_dir is None:
        responder.stop()
    out = (res, errors, requests, cpu)
    if out_queue is not None:
        out_queue.put(out)
    return out


def _requests(c: AcmeClient) -> int:
    return getattr(c, "_bench_requests", 0)


def _count_requests():
    """Counts every HTTP request a client makes (monkey-patched onto AcmeClient.http)."""
    orig = AcmeClient.http

    def http(self, *a, **kw):
        self._bench_requests = getattr(self, "_bench_requests", 0) + 1
        return orig(self, *a, **kw)
    AcmeClient.http = http


# Which step of an order a request belongs to: the innermost AcmeClient method on the stack that
# names one (the same for every server, whatever its URL layout).
_STEPS = ("respond_challenge", "finalize", "download", "new_order", "poll", "authorize")
_TRACE: list = []   # (step, seconds) per request, with --trace
_TRACE_LOCK = threading.Lock()


def _trace_requests():
    """Records each request's step and wall time (monkey-patched onto AcmeClient.http)."""
    orig = AcmeClient.http

    def http(self, *a, **kw):
        f, step = sys._getframe(1), "other"
        while f is not None:
            if f.f_code.co_name in _STEPS:
                step = f.f_code.co_name
                break
            f = f.f_back
        t0 = time.monotonic()
        try:
            return orig(self, *a, **kw)
        finally:
            with _TRACE_LOCK:
                _TRACE.append((step, time.monotonic() - t0))
    AcmeClient.http = http


def trace_table(orders: int) -> str:
    """Per step: requests per order and their median / total wall time per order."""
    by: dict = {}
    for step, dt in _TRACE:
        by.setdefault(step, []).append(dt)
    lines = ["step requests/order median_ms ms/order"]
    for step in _STEPS + ("other",):
        v = sorted(by.get(step, []))
        if v:
            lines.append(f"{step} {len(v) / max(1, orders):.2f} {percentile(v, 50) * 1000:.2f} "
                         f"{sum(v) * 1000 / max(1, orders):.2f}")
    return "\n".join(lines)


def percentile(sorted_vals: list, p: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("directory")
    ap.add_argument("ca")
    ap.add_argument("http01_port", type=int)
    ap.add_argument("--concurrency", "-c", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0, help="stop starting orders after this long")
    ap.add_argument("--orders", type=int, default=100000, help="start at most this many orders in all")
    ap.add_argument("--processes", type=int, default=1, help="spread the workers over this many processes")
    ap.add_argument("--poll-interval", default="0.005,0.01,0.02,0.05",
                    help="waits between polls of one object, comma-separated; the last repeats")
    ap.add_argument("--honour-retry-after", action="store_true")
    ap.add_argument("--order-timeout", type=float, default=60.0, help="one order, all its polling included")
    ap.add_argument("--timeout", type=float, default=15.0, help="one HTTP request")
    ap.add_argument("--stop-on-error", action="store_true",
                    help="end the run at the first failed order (a wedged server then costs one --timeout)")
    ap.add_argument("--zone", default="example.internal")
    ap.add_argument("--key-type", default="ES256", choices=AccountKey.ALGS)
    ap.add_argument("--json", action="store_true", help="print a JSON object instead of the key=value line")
    ap.add_argument("--trace", action="store_true",
                    help="also print, to stderr, each order step's requests and wall time (one process only)")
    args = ap.parse_args()
    args.poll_schedule = tuple(float(x) for x in args.poll_interval.split(","))
    _count_requests()
    if args.trace:
        _trace_requests()
    procs = max(1, min(args.processes, args.concurrency))

    cpu_parent0 = resource.getrusage(resource.RUSAGE_SELF)
    if procs == 1:
        # One process: the workers are threads beside the responder; run_process reports "ready"
        # once the accounts exist, then waits for start_at.
        budget = mp.Value("q", args.orders, lock=False)
        start_at = mp.Value("d", 0.0, lock=False)
        ready_q: "mp.Queue" = mp.Queue()
        holder: dict = {}
        th = threading.Thread(target=lambda: holder.setdefault(
            "out", run_process(args, args.concurrency, None, budget, threading.Lock(), ready_q, start_at, None)))
        th.start()
        msg = ready_q.get(timeout=120)
        if msg != "ready":
            print(msg, file=sys.stderr)
            th.join()
            return 1
        t_start = time.time() + 0.05
        start_at.value = t_start
        th.join()
        results, errors, requests, cpu = holder["out"]
    else:
        ctx = mp.get_context("fork")
        store_dir = tempfile.mkdtemp(prefix="acme-http01-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        budget = ctx.Value("q", args.orders, lock=False)
        lock = ctx.Lock()
        start_at = ctx.Value("d", 0.0, lock=False)
        ready_q, out_q = ctx.Queue(), ctx.Queue()
        shares = [args.concurrency // procs + (1 if i < args.concurrency % procs else 0) for i in range(procs)]
        ps = [ctx.Process(target=run_process, args=(args, n, store_dir, budget, lock, ready_q, start_at, out_q))
              for n in shares]
        for p in ps:   # forked before the responder's thread exists
            p.start()
        responder = Http01Responder(args.http01_port, store_dir=store_dir).start()
        try:
            for _ in ps:
                msg = ready_q.get(timeout=120)
                if msg != "ready":
                    print(msg, file=sys.stderr)
                    for p in ps:
                        p.terminate()
                    return 1
            cpu_parent0 = resource.getrusage(resource.RUSAGE_SELF)
            t_start = time.time() + 0.05
            start_at.value = t_start
            results, errors, requests, cpu = [], [], 0, 0.0
            for _ in ps:
                r, e, q, c = out_q.get(timeout=args.seconds + args.order_timeout + 120)
                results += r
                errors += e
                requests += q
                cpu += c
            for p in ps:
                p.join()
            cpu_parent1 = resource.getrusage(resource.RUSAGE_SELF)   # the responder's share
            cpu += (cpu_parent1.ru_utime - cpu_parent0.ru_utime) + (cpu_parent1.ru_stime - cpu_parent0.ru_stime)
        finally:
            responder.stop()
            shutil.rmtree(store_dir, ignore_errors=True)

    lat = sorted((b - a) * 1000 for a, b in results)
    end = max((b for _, b in results), default=t_start)
    elapsed = max(1e-9, end - t_start)
    out = {
        "orders": len(results),
        "errors": len([e for e in errors if not e.startswith("worker ")]),
        "seconds": round(elapsed, 2),
        "orders_per_s": round(len(results) / elapsed, 1),
        "p50_ms": round(percentile(lat, 50), 1),
        "p99_ms": round(percentile(lat, 99), 1),
        "requests_per_order": round(requests / max(1, len(results) + len(errors)), 1),
        "client_cpu_s": round(cpu, 2),
        "concurrency": args.concurrency,
        "processes": procs,
    }
    for e in errors[:5]:
        print(f"error: {e}", file=sys.stderr)
    if args.trace:
        print(trace_table(len(results) + len(errors)), file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    else:
        print(" ".join(f"{k}={v}" for k, v in out.items()))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
