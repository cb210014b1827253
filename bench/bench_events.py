"""Review events: sustained events/s and review → taste-vector-updated latency, end to end.

    python bench/bench_events.py [--rate 500] [--seconds 20] [--runs 3] [--concurrency 2] [--pool prefork]

What runs, ``--runs`` times (the report keeps every run and their median with min/max): a fresh
redis-server (AOF with the ``appendfsync`` production ships, read from the prod overlay's redis.conf —
``everysec`` — unless ``--appendfsync always`` is given), one real Celery worker process (``python -m
profile_service.worker``) with the full movie index, and in this process the gateway's own publish
path (``gateway_service.events.ReviewPublisher.publish_review``, called from an asyncio loop as the REST route does).

Measured:
1. **paced**: reviews published at ``--rate`` for ``--seconds``. Latency of each event = from the
   start of its publish call to the moment a reader sees it in the interaction log — the entry is
   written by the same atomic script that bumps the profile version, so that is when the new
   vector is visible. Reports the achieved applied rate and p50/p95/p99.
2. **capacity**: a backlog of ``--backlog`` events queued while no worker runs, then drained by a
   fresh worker: events/s from its first to its last applied event (what the worker side sustains).
3. **atomic update micro-benchmark**: the Lua script vs a WATCH/MULTI read-modify-write of the same
   EMA, 4 threads hammering one user (the contended case): updates/s and optimistic retries.

Writes reports/bench-events.json. The machine's load average is recorded: on a shared 2-core
machine other processes' load shows up directly in these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import redis

from gateway_service.events import ReviewPublisher
from movierec_core.devstack import Managed, spawn, start_redis
from movierec_core.index_artifact import current_index_dir
from movierec_core.paths import REPO_ROOT
from profile_service.domain import Profiles
from profile_service.settings import StoreSettings, TasteConstants
from profile_service.store import ProfileStore
from profile_service.taste import ema_step, pack, unpack
from profile_service.vectors import MovieVectors

REPORT = REPO_ROOT / "reports" / "bench-events.json"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


class LogObserver(threading.Thread):
    """Reads the interaction log as it grows and notes when each event id became visible."""

    def __init__(self, url: str, stream: str):
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.stream = stream
        self.seen: dict[str, float] = {}
        self.stop_flag = threading.Event()
        self.last_id = "$"

    def run(self) -> None:
        while not self.stop_flag.is_set():
            try:
                reply = self.client.xread({self.stream: self.last_id}, count=1000, block=200)
            except redis.ConnectionError:
                return  # Redis is being stopped at the end of the run
            now = time.perf_counter()
            for _stream, entries in reply or ():
                for entry_id, fields in entries:
                    self.last_id = entry_id
                    self.seen[fields[b"event_id"].decode()] = now


def start_worker(env: dict[str, str], logs: Path) -> Managed:
    proc = spawn("bench-worker", [sys.executable, "-m", "profile_service.worker"],
                 {**os.environ, **env, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "LOG_LEVEL": "INFO"}, logs)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if b" ready." in proc.log_path.read_bytes():
            return proc
        if not proc.alive():
            raise RuntimeError(f"worker exited:\n{proc.log_tail()}")
        time.sleep(0.05)
    proc.stop()
    raise TimeoutError(f"worker not ready:\n{proc.log_tail()}")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by these processes (from /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def process_group(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    members.append(int(entry.name))
            except OSError:
                pass
    return members


def make_events(rng: np.random.Generator, movie_ids: list[int], users: int, count: int, tag: str) -> list[dict]:
    return [{"event_id": f"{tag}-{i}", "user_id": f"bench{i % users}", "movie_id": int(rng.choice(movie_ids)),
             "rating": float(rng.integers(1, 11)) / 2} for i in range(count)]


async def publish_paced(url: str, events: list[dict], rate: float) -> tuple[dict[str, float], list[float]]:
    """Publish at ``rate``/s (each publish in a thread, as the gateway route does); returns start times."""
    started: dict[str, float] = {}
    durations: list[float] = []

    publisher = ReviewPublisher(url)

    async def one(event: dict) -> None:
        t0 = time.perf_counter()
        started[event["event_id"]] = t0
        await publisher.publish_review(user_id=event["user_id"], movie_id=event["movie_id"],
                                       rating=event["rating"], event_id=event["event_id"])
        durations.append(time.perf_counter() - t0)

    loop_start = time.perf_counter()
    tasks = []
    for i, event in enumerate(events):
        delay = loop_start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(event)))
    await asyncio.gather(*tasks)
    publisher.close()
    return started, durations


def wait_for(observer: LogObserver, ids: list[str], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(i in observer.seen for i in ids):
            return True
        time.sleep(0.05)
    return False


def paced_run(url: str, events: list[dict], rate: float, observer: LogObserver) -> dict:
    started, publish_s = asyncio.run(publish_paced(url, events, rate))
    ids = [e["event_id"] for e in events]
    complete = wait_for(observer, ids, 120)
    latencies = [observer.seen[i] - started[i] for i in ids if i in observer.seen]
    first, last = min(started.values()), max(observer.seen[i] for i in ids if i in observer.seen)
    return {
        "offered_rate_per_s": rate, "events": len(events), "applied": len(latencies), "complete": complete,
        "applied_rate_per_s": round(len(latencies) / (last - first), 1),
        "latency_ms": {f"p{q}": round(percentile(latencies, q) * 1e3, 2) for q in (50, 95, 99)}
        | {"max": round(max(latencies) * 1e3, 2)},
        "publish_call_ms": {"p50": round(percentile(publish_s, 50) * 1e3, 2),
                            "p95": round(percentile(publish_s, 95) * 1e3, 2)},
    }


def capacity_run(url: str, events: list[dict], worker_env: dict[str, str], logs: Path,
                 observer: LogObserver) -> dict:
    async def publish_all() -> None:
        semaphore = asyncio.Semaphore(16)
        publisher = ReviewPublisher(url)

        async def one(event: dict) -> None:
            async with semaphore:
                await publisher.publish_review(user_id=event["user_id"], movie_id=event["movie_id"],
                                               rating=event["rating"], event_id=event["event_id"])

        await asyncio.gather(*(one(e) for e in events))
        publisher.close()

    asyncio.run(publish_all())
    worker = start_worker(worker_env, logs)
    try:
        ids = [e["event_id"] for e in events]
        complete = wait_for(observer, ids, 300)
        times = sorted(observer.seen[i] for i in ids if i in observer.seen)
    finally:
        worker.stop()
    return {"backlog": len(events), "applied": len(times), "complete": complete,
            "drain_rate_per_s": round((len(times) - 1) / (times[-1] - times[0]), 1) if len(times) > 1 else None}


def atomic_update_benchmark(url: str, movies: MovieVectors, updates_per_thread: int = 300, threads: int = 4) -> dict:
    """Lua script vs WATCH/MULTI for one contended user (same EMA, same writes, same log append)."""
    client = redis.Redis.from_url(url)
    store = ProfileStore(StoreSettings(url), client=client, prefix="bench-atomic:")
    store.delete_prefix()
    profiles = Profiles(store, movies, TasteConstants(), None)
    profiles.onboard("hot", [int(next(iter(movies.rows)))], [], "")
    movie_ids = list(movies.rows)[:100]

    def lua_worker(t: int) -> None:
        for i in range(updates_per_thread):
            profiles.apply_review({"event_id": f"lua-{t}-{i}", "user_id": "hot",
                                   "movie_id": movie_ids[(t + i) % 100], "rating": 4.5})

    retries = [0]
    key, applied_key = store.profile_key("hot"), store.applied_key("hot")

    def watch_worker(t: int) -> None:
        own = redis.Redis.from_url(url)
        for i in range(updates_per_thread):
            event_id, movie = f"watch-{t}-{i}", movie_ids[(t + i) % 100]
            while True:
                with own.pipeline() as pipe:
                    try:
                        pipe.watch(key, applied_key)
                        if pipe.zscore(applied_key, event_id) is not None:
                            break
                        vector = ema_step(unpack(pipe.hget(key, "vec")), movies.vector(movie), 0.8)
                        pipe.multi()
                        pipe.hset(key, "vec", pack(vector))
                        pipe.hincrby(key, "version", 1)
                        pipe.zadd(applied_key, {event_id: int(time.time() * 1000)})
                        pipe.xadd(store.interactions_key, {"event_id": event_id, "user_id": "hot"},
                                  maxlen=100000, approximate=True)
                        pipe.execute()
                        break
                    except redis.WatchError:
                        retries[0] += 1

    results = {}
    for name, target in (("lua_script", lua_worker), ("watch_multi", watch_worker)):
        before = int(client.hget(key, "version"))
        pool = [threading.Thread(target=target, args=(t,)) for t in range(threads)]
        t0 = time.perf_counter()
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        elapsed = time.perf_counter() - t0
        applied = int(client.hget(key, "version")) - before
        results[name] = {"updates": applied, "updates_per_s": round(applied / elapsed, 1)}
    results["watch_multi"]["optimistic_retries"] = retries[0]
    results["threads"] = threads
    store.delete_prefix()
    return results


TARGET_EVENTS_PER_S = 500  # docs/architecture.md, "Numbers": at the shipped durability
TARGET_P95_MS = 250
PROD_REDIS_CONF = REPO_ROOT / "deploy" / "k8s" / "overlays" / "prod" / "redis.conf"


def shipped_appendfsync() -> str:
    """The durability production runs: the prod overlay's ``appendfsync`` line."""
    for line in PROD_REDIS_CONF.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "appendfsync":
            return parts[1]
    raise SystemExit(f"{PROD_REDIS_CONF} sets no appendfsync")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=float(TARGET_EVENTS_PER_S), help="offered events/s (paced run)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the paced run")
    parser.add_argument("--backlog", type=int, default=5000, help="events queued for the capacity run")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("WORKER_CONCURRENCY", "4")))
    parser.add_argument("--pool", choices=("prefork", "threads", "solo"),
                        default=os.environ.get("WORKER_POOL", "threads"))
    parser.add_argument("--appendfsync", choices=("everysec", "always"), default=shipped_appendfsync(),
                        help="Redis AOF fsync policy (default: the prod overlay's)")
    parser.add_argument("--runs", type=int, default=3, help="independent runs; the report keeps each and the median")
    parser.add_argument("--index-dir", type=Path, default=current_index_dir())
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    movies = MovieVectors.load(args.index_dir)
    runs = []
    for number in range(1, args.runs + 1):
        runs.append(one_run(args, movies))
        paced = runs[-1]["paced"]
        print(f"run {number}/{args.runs}: {paced['applied_rate_per_s']}/s applied, "
              f"p95 {paced['latency_ms']['p95']} ms, drain {runs[-1]['capacity']['drain_rate_per_s']}/s", flush=True)
    report = {
        "benchmark": "review events: publish → worker → Lua update → visible in the log",
        "command": "python bench/bench_events.py " + " ".join(sys.argv[1:]),
        "worker": {"pool": args.pool, "concurrency": args.concurrency}, "redis_appendfsync": args.appendfsync,
        "index_version": movies.version, "users": args.users, "cpu_count": os.cpu_count(),
        "offered_rate_per_s": args.rate, "targets": {"events_per_s": TARGET_EVENTS_PER_S, "p95_ms": TARGET_P95_MS},
        "summary": summary_of(runs), "runs": runs,
    }
    report["meets_targets"] = bool(report["summary"]["paced_applied_rate_per_s"]["median"] >= 0.95 * TARGET_EVENTS_PER_S
                                   and report["summary"]["paced_p95_ms"]["median"] <= TARGET_P95_MS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2), f"meets targets: {report['meets_targets']}", sep="\n")
    return 0


def summary_of(runs: list[dict]) -> dict:
    """Median with min/max over the runs of the figures the targets are about."""
    figures = {
        "paced_applied_rate_per_s": [r["paced"]["applied_rate_per_s"] for r in runs],
        "paced_p50_ms": [r["paced"]["latency_ms"]["p50"] for r in runs],
        "paced_p95_ms": [r["paced"]["latency_ms"]["p95"] for r in runs],
        "capacity_drain_rate_per_s": [r["capacity"]["drain_rate_per_s"] for r in runs],
        "cpu_ms_per_event_worker": [r["paced"]["cpu_ms_per_event"]["worker"] for r in runs],
        "cpu_ms_per_event_publisher_and_observer": [r["paced"]["cpu_ms_per_event"]["publisher_and_observer"]
                                                    for r in runs],
    }
    return {name: {"median": round(float(np.median(values)), 2), "min": min(values), "max": max(values)}
            for name, values in figures.items()}


def one_run(args: argparse.Namespace, movies: MovieVectors) -> dict:
    """One fresh Redis and worker: paced run, backlog drain, atomic-update micro-benchmark."""
    root = Path(tempfile.mkdtemp(prefix="bench-events-"))
    redis_proc, port = start_redis(root / "redis", root / "logs", appendfsync=args.appendfsync, name="bench-redis")
    url = f"redis://127.0.0.1:{port}/0"
    worker_env = {"REDIS_URL": url, "PROFILE_INDEX_DIR": str(args.index_dir), "WORKER_POOL": args.pool,
                  "WORKER_CONCURRENCY": str(args.concurrency)}
    observer = None
    worker = None
    try:
        store = ProfileStore(StoreSettings(url))
        profiles = Profiles(store, movies, TasteConstants(), None)
        movie_ids = list(movies.rows)
        rng = np.random.default_rng(0)
        for user in range(args.users):
            profiles.onboard(f"bench{user}", [int(m) for m in rng.choice(movie_ids, 3)], [], "")
        observer = LogObserver(url, store.interactions_key)
        observer.start()
        worker = start_worker(worker_env, root / "logs")
        paced_run(url, make_events(rng, movie_ids, args.users, 200, "warmup"), 100, observer)
        load_before = os.getloadavg()
        paced_events = make_events(rng, movie_ids, args.users, int(args.rate * args.seconds), "paced")
        worker_pids = process_group(worker.pid)
        cpu_before = (cpu_seconds(worker_pids), cpu_seconds([redis_proc.pid]), time.process_time())
        paced = paced_run(url, paced_events, args.rate, observer)
        cpu_after = (cpu_seconds(worker_pids), cpu_seconds([redis_proc.pid]), time.process_time())
        # CPU each side spent per event: what the pipeline needs from the machine, whatever else runs on it.
        paced["cpu_ms_per_event"] = {
            name: round((after - before) / len(paced_events) * 1e3, 3)
            for name, before, after in zip(("worker", "redis", "publisher_and_observer"), cpu_before, cpu_after,
                                           strict=True)}
        worker.stop()
        worker = None
        capacity = capacity_run(url, make_events(rng, movie_ids, args.users, args.backlog, "backlog"), worker_env,
                                root / "logs", observer)
        atomic = atomic_update_benchmark(url, movies)
        load_after = os.getloadavg()
    finally:
        if observer is not None:
            observer.stop_flag.set()
            observer.join(2)
        if worker is not None:
            worker.stop()
        redis_proc.stop()
    return {"loadavg_1m": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
            "paced": paced, "capacity": capacity, "atomic_update": atomic}


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
