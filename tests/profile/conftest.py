"""Fixtures of the profile tests: a small real movie index, real worker and embedding processes.

The index holds the 300 most-rated catalog movies, embedded by the real index job with the real
packaged model. It is written under the movierec cache, so later sessions only reuse it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from profile_helpers import start_worker, worker_env

from gateway_service.events import ReviewPublisher
from movierec_core.devstack import Managed, spawn, start_redis, wait_port_file
from movierec_core.paths import REPO_ROOT, cache_dir
from profile_service.vectors import MovieVectors

INDEX_MOVIES = 300


@pytest.fixture(scope="session")
def index_dir(catalog_dir: Path) -> Path:
    """A real index artifact over the most-rated catalog movies (built once, then reused from the cache)."""
    table = pq.read_table(catalog_dir / "movies.parquet", columns=["movie_id", "ml_rating_count"]).to_pandas()
    ids = table.sort_values(["ml_rating_count", "movie_id"], ascending=[False, True]).movie_id.head(INDEX_MOVIES)
    root = cache_dir() / "test-artifacts" / "profile-index"
    root.mkdir(parents=True, exist_ok=True)
    ids_file = root / "movie_ids.txt"
    ids_file.write_text("\n".join(str(int(m)) for m in ids) + "\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "MOVIEREC_CATALOG_DIR": str(catalog_dir)}
    done = subprocess.run([sys.executable, "-m", "movierec_jobs.index", "--movie-ids", f"@{ids_file}",
                           "--out", str(root), "--no-progress"], env=env, cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"index job failed:\n{done.stderr[-3000:]}")
    return root / "current"


@pytest.fixture(scope="session")
def movies(index_dir: Path) -> MovieVectors:
    return MovieVectors.load(index_dir)


@pytest.fixture
def profile_env(redis_url: str, index_dir: Path, catalog_dir: Path) -> dict[str, str]:
    return worker_env(redis_url, index_dir, catalog_dir)


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator:
    """Start real Celery worker processes; every one still running is stopped afterwards."""
    started: list[Managed] = []

    def start(env: dict[str, str]) -> Managed:
        proc = start_worker(env, tmp_path / "logs", name=f"worker-{len(started)}")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def publishers() -> Iterator:
    """The gateway's own publisher, one per Redis URL (as the gateway builds one), closed afterwards."""
    built: dict[str, ReviewPublisher] = {}

    def publisher_for(redis_url: str) -> ReviewPublisher:
        if redis_url not in built:
            built[redis_url] = ReviewPublisher(redis_url)
        return built[redis_url]

    yield publisher_for
    for publisher in built.values():
        publisher.close()


@dataclass
class PrivateRedis:
    """A redis-server of this test alone (AOF, appendfsync always), so killing it disturbs no other suite."""

    data: Path
    logs: Path
    proc: Managed
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        self.proc.stop(sig=signal.SIGKILL)

    def start(self) -> None:
        self.proc, _ = start_redis(self.data, self.logs, port=self.port, appendfsync="always",
                                   name="private-redis")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    proc, port = start_redis(tmp_path / "redis", tmp_path / "logs", appendfsync="always", name="private-redis")
    server = PrivateRedis(tmp_path / "redis", tmp_path / "logs", proc, port)
    yield server
    server.proc.stop()


@pytest.fixture(scope="session")
def embedding_addr(tmp_path_factory) -> Iterator[str]:
    """One real embedding tier (packaged model) for the session: loading the model takes a while."""
    root = tmp_path_factory.mktemp("embedding")
    port_file = root / "embedding.port.json"
    env = {**os.environ, "EMBEDDING_PORT": "0", "MOVIEREC_PORT_FILE": str(port_file), "PYTHONUNBUFFERED": "1",
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = spawn("embedding", [sys.executable, "-m", "embedding_service"], env, root / "logs")
    try:
        info = wait_port_file(port_file, proc, 120)
        yield f"127.0.0.1:{info['port']}"
    finally:
        proc.stop()
