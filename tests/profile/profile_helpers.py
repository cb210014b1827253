"""Helpers shared by the profile tests: real worker processes, waiting, the formulas replayed in numpy."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from movierec_core.devstack import Managed, spawn
from profile_service.interactions import Interaction
from profile_service.settings import StoreSettings, TasteConstants
from profile_service.store import ProfileStore
from profile_service.taste import ema_step, fuse_onboarding
from profile_service.vectors import MovieVectors


def start_worker(env: dict[str, str], logs: Path, name: str = "worker", timeout_s: float = 60.0) -> Managed:
    """``python -m profile_service.worker`` in its own process group; returns once Celery says ready."""
    # INFO: readiness is read from Celery's "ready." line.
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "LOG_LEVEL": "INFO"}
    proc = spawn(name, [sys.executable, "-m", "profile_service.worker"], full_env, logs)
    start = proc.log_path.stat().st_size if proc.log_path.exists() else 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"worker exited with {proc.popen.returncode}:\n{proc.log_tail(30)}")
        with open(proc.log_path, "rb") as handle:
            handle.seek(start)
            if b" ready." in handle.read():
                return proc
        time.sleep(0.1)
    proc.stop()
    raise TimeoutError(f"worker not ready within {timeout_s}s:\n{proc.log_tail(30)}")


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def store_for(redis_url: str) -> ProfileStore:
    return ProfileStore(StoreSettings(redis_url))


def log_entries(store: ProfileStore) -> list[Interaction]:
    return [Interaction.from_fields(fields) for _, fields in store.read_stream(store.interactions_key)]


def expected_vectors(entries: list[Interaction], movies: MovieVectors) -> dict[str, np.ndarray]:
    """Every user's taste vector recomputed in numpy from the log, formula by formula (no Redis, no Lua)."""
    vectors: dict[str, np.ndarray] = {}
    for event in entries:
        if event.kind == "onboard":
            liked = movies.stack(list(event.movie_ids)) if event.movie_ids else None
            vectors[event.user_id] = fuse_onboarding(liked, event.embedding, event.weight)
        elif event.kind == "rate" and event.alpha is not None:
            vectors[event.user_id] = ema_step(vectors[event.user_id], movies.vector(event.movie_ids[0]), event.alpha)
        elif event.kind == "message":
            vectors[event.user_id] = ema_step(vectors[event.user_id], event.embedding, event.alpha)
    return vectors


def half_star_ratings(rng: np.random.Generator, count: int) -> list[float]:
    return [float(r) for r in rng.integers(1, 11, size=count) / 2]


def worker_env(redis_url: str, index_dir: Path, catalog_dir: Path) -> dict[str, str]:
    """Environment of the profile service and worker under test: short redelivery and retry times."""
    return {
        "REDIS_URL": redis_url,
        "PROFILE_INDEX_DIR": str(index_dir),
        "PROFILE_CATALOG_DIR": str(catalog_dir),
        "CELERY_VISIBILITY_TIMEOUT_S": "5",
        "CELERY_RESTORE_INTERVAL_S": "1",
        "PROFILE_RETRY_BACKOFF_S": "0.2",
        "PROFILE_RETRY_BACKOFF_MAX_S": "2",
        "PROFILE_TASK_MAX_RETRIES": "3",
        # After the visibility timeout + a restore sweep, so Celery's own redelivery comes first.
        "PROFILE_PENDING_REDELIVER_S": "8",
        "PROFILE_PENDING_SWEEP_S": "1",
        "WORKER_CONCURRENCY": "2",
    }


DEFAULT_TASTE = TasteConstants()
