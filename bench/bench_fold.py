"""The taste fold's cost in the store: events/s of the Lua fast path and of the re-rating (refold) path.

    python bench/bench_fold.py [--threads 4] [--events 2000] [--history 50,200]

A fresh redis-server (AOF everysec), the full movie index, ``ProfileStore.apply`` through
``Profiles.apply_review`` (no Celery: this isolates what the fold changed; the worker's own cost per
event is measured by bench/bench_events.py):

1. **new ratings** (the fast path): ``--threads`` threads rating movies new to each of 200 users;
2. **re-ratings, spread**: the same, every event re-rating a movie the user already rated with other
   stars (each one a refold of that user's history of ``--history`` ratings);
3. **re-ratings, one hot user**: all threads re-rate one user's movies (optimistic retries counted).

Writes reports/bench-fold.json (with the load average: other processes' load shows in these figures).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import redis

from movierec_core.devstack import start_redis
from movierec_core.index_artifact import current_index_dir
from movierec_core.paths import REPO_ROOT
from profile_service.domain import Profiles
from profile_service.settings import StoreSettings, TasteConstants
from profile_service.store import ProfileStore
from profile_service.vectors import MovieVectors

REPORT = REPO_ROOT / "reports" / "bench-fold.json"
USERS = 200


def run_threads(threads: int, work) -> float:
    """Run ``work(thread_index)`` on each thread; seconds of wall time."""
    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started


def review(event_id: str, user: str, movie: int, rating: float) -> dict:
    return {"event_id": event_id, "user_id": user, "movie_id": movie, "rating": rating}


def measure(url: str, movies: MovieVectors, threads: int, events: int, history: int) -> dict:
    store = ProfileStore(StoreSettings(url), client=redis.Redis.from_url(url), prefix=f"bench-fold-{history}:")
    store.delete_prefix()
    profiles = Profiles(store, movies, TasteConstants(), None)
    ids = list(movies.rows)
    rng = np.random.default_rng(history)
    for user in range(USERS):
        profiles.onboard(f"u{user}", [int(m) for m in rng.choice(ids, 3)], [], "")
    rated = {f"u{u}": [int(m) for m in rng.choice(ids, history, replace=False)] for u in range(USERS)}
    per_thread = events // threads

    def history_work(t: int) -> None:
        for u in range(t, USERS, threads):
            for i, movie in enumerate(rated[f"u{u}"]):
                profiles.apply_review(review(f"h{u}-{i}", f"u{u}", movie, 4.5 if i % 3 else 1.0))

    history_s = run_threads(threads, history_work)
    n_history = USERS * history

    def rerate_work(t: int) -> None:
        for i in range(per_thread):
            user = f"u{(t + i * threads) % USERS}"
            movie = rated[user][(i * 7 + t) % history]
            profiles.apply_review(review(f"r{t}-{i}", user, movie, [2.0, 5.0, 1.0, 4.0][(i + t) % 4]))

    rerate_s = run_threads(threads, rerate_work)

    def hot_work(t: int) -> None:
        for i in range(per_thread // 4):
            movie = rated["u0"][(i * 5 + t) % history]
            profiles.apply_review(review(f"hot{t}-{i}", "u0", movie, [2.0, 5.0, 1.0, 4.0][(i + t) % 4]))

    hot_s = run_threads(threads, hot_work)
    store.delete_prefix()
    return {"history_per_user": history,
            "new_ratings_per_s": round(n_history / history_s, 1),
            "rerates_spread_per_s": round(per_thread * threads / rerate_s, 1),
            "rerates_one_hot_user_per_s": round((per_thread // 4) * threads / hot_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--history", default="50,200")
    parser.add_argument("--index-dir", type=Path, default=current_index_dir())
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    movies = MovieVectors.load(args.index_dir)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_redis(Path(tmp) / "data", Path(tmp) / "logs", appendfsync="everysec", name="bench-redis")
        try:
            url = f"redis://127.0.0.1:{port}/0"
            rows = [measure(url, movies, args.threads, args.events, int(h)) for h in args.history.split(",")]
        finally:
            proc.stop()
    report = {"threads": args.threads, "index_movies": len(movies.rows), "dim": movies.dim, "runs": rows,
              "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)], "cpus": os.cpu_count()}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
