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


def _fold_step(u: np.ndarray, ops: list[tuple[str, float, np.ndarray]]) -> np.ndarray:
    """pull c: normalize(c·u + (1−c)·v); push β: normalize(u − β·v); float64 inside, float32 after the step."""
    x = u.astype(np.float64)
    for op, coef, vector in ops:
        v = vector.astype(np.float32).astype(np.float64)
        x = coef * x + (1 - coef) * v if op == "pull" else x - coef * v
        x = x / np.linalg.norm(x)
    return x.astype(np.float32)


def _logged_ops(event: Interaction, movies: MovieVectors) -> list[tuple[str, float, np.ndarray]]:
    if event.kind == "message":
        return [("pull", event.alpha, event.embedding)]
    ops = []
    for part in filter(None, event.ops.split(";")):
        op, coef, source = part.split(" ")
        vector = movies.vector(event.movie_ids[0]) if source == "movie" else event.op_vectors[int(source)]
        ops.append((op, float(coef), vector))
    return ops


def expected_vectors(entries: list[Interaction], movies: MovieVectors) -> dict[str, np.ndarray]:
    """Every user's taste vector recomputed in numpy from the log, rule by rule (no Redis, no Lua).

    The rules, written again independently of the service: onboarding sets the base and drops the
    steps; a message appends a step; a rating replaces the movie's step (appended at the end), unless
    it is older than the stored rating (ignored) or rates it exactly as before (kept in place).
    """
    base: dict[str, np.ndarray] = {}
    steps: dict[str, dict[str, tuple[list, float | None, str]]] = {}
    latest_at: dict[tuple[str, int], int] = {}
    for event in entries:
        user = event.user_id
        if event.kind == "onboard":
            liked = movies.stack(list(event.movie_ids)).astype(np.float64).mean(axis=0) if event.movie_ids else None
            if liked is not None and event.embedding is not None:
                fused = event.weight * liked + (1 - event.weight) * event.embedding.astype(np.float64)
            else:
                fused = liked if liked is not None else event.embedding.astype(np.float64)
            base[user] = (fused / np.linalg.norm(fused)).astype(np.float32)
            steps[user] = {}
        elif event.kind == "message":
            steps[user][f"c:{event.event_id}"] = (_logged_ops(event, movies), None, "")
        elif event.kind == "rate":
            movie = event.movie_ids[0]
            if latest_at.get((user, movie), -1) > event.created_at_ms:
                continue
            latest_at[(user, movie)] = event.created_at_ms
            key = f"r:{movie}"
            previous = steps[user].get(key)
            if previous is not None and previous[1:] == (event.rating, event.text):
                continue
            steps[user].pop(key, None)
            ops = _logged_ops(event, movies)
            if ops:
                steps[user][key] = (ops, event.rating, event.text)
    vectors = {}
    for user, start in base.items():
        u = start
        for ops, _, _ in steps[user].values():  # dicts keep insertion order: the fold order
            u = _fold_step(u, ops)
        vectors[user] = u
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
