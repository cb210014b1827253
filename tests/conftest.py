"""Shared fixtures: a real redis-server, real tier processes on port 0, always cleaned up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from movierec_core.devstack import Managed, spawn, start_redis, wait_port_file

REPO = Path(__file__).resolve().parents[1]


def docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@dataclass
class RedisServer:
    """A redis-server we own: its URL, and stop/restart for persistence tests (AOF on)."""

    port: int
    data_dir: Path
    logs: Path
    proc: Managed | None
    origin: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self, hard: bool = False) -> None:
        if self.proc is not None:
            self.proc.stop(sig=9 if hard else 15)

    def restart(self, hard: bool = False) -> None:
        self.stop(hard=hard)
        self.proc, _ = start_redis(self.data_dir, self.logs, port=self.port, appendfsync="always")

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushdb()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """A real Redis for the whole session: testcontainers when a Docker engine answers, else the local binary."""
    if docker_engine_answers():  # pragma: no cover - no Docker engine on CI
        from testcontainers.redis import RedisContainer

        with RedisContainer() as container:
            port = int(container.get_exposed_port(6379))
            print(f"\n[redis] testcontainers RedisContainer on port {port}")
            yield RedisServer(port, Path(), Path(), None, "testcontainers")
        return
    root = tmp_path_factory.mktemp("redis")
    proc, port = start_redis(root / "data", root / "logs", appendfsync="always")
    print(f"\n[redis] local redis-server binary on port {port} (no Docker engine answered)")
    server = RedisServer(port, root / "data", root / "logs", proc, "local binary")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A flushed Redis database for one test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def start_tier(tmp_path) -> Iterator:
    """Start ``python -m <tier>_service`` as a real process on port 0; returns (address, process).

    ``start_tier("retrieval", {"RETRIEVAL_INDEX_DIR": ...})``; every process is stopped afterwards.
    """
    started: list[Managed] = []

    def start(tier: str, env: dict[str, str] | None = None, timeout_s: float = 120.0) -> tuple[str, Managed]:
        port_file = tmp_path / f"{tier}-{len(started)}.port.json"
        full_env = {**os.environ, **(env or {}), f"{tier.upper()}_PORT": "0",
                    "MOVIEREC_PORT_FILE": str(port_file), "PYTHONUNBUFFERED": "1"}
        full_env.setdefault("OMP_NUM_THREADS", "1")
        module = f"{tier}_service" if tier != "worker" else "profile_service.worker"
        proc = spawn(f"{tier}-{len(started)}", [sys.executable, "-m", module], full_env, tmp_path / "logs")
        started.append(proc)
        info = wait_port_file(port_file, proc, timeout_s)
        return f"127.0.0.1:{info['port']}", proc

    yield start
    for proc in reversed(started):
        proc.stop()


# ---- real artifacts for whole-system tests ------------------------------------------------------

def run_job(argv: list[str], env: dict[str, str], what: str, timeout_s: float = 900) -> None:
    """Run one of the project's own offline commands; fail the test with its output if it fails."""
    done = subprocess.run([sys.executable, *argv], env={**os.environ, **env}, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout_s)
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


@pytest.fixture(scope="session")
def catalog_dir() -> Path:
    """The real catalog (``make test`` builds it first; it is content-hashed and cached)."""
    from movierec_catalog.paths import default_catalog_dir

    path = default_catalog_dir().resolve()
    if not (path / "movies.parquet").exists():
        run_job(["-m", "movierec_catalog.build"], {}, "catalog build")
        path = default_catalog_dir().resolve()
    return path


@pytest.fixture(scope="session")
def small_index_dir(catalog_dir: Path) -> Path:
    """A real index over the 300 most-rated movies (+ 20 French ones), built by the real index job.

    Vectors are cached per text under the movierec cache, so only a machine's first session embeds.
    """
    import pyarrow.parquet as pq

    from movierec_core.paths import cache_dir

    movies = pq.read_table(catalog_dir / "movies.parquet",
                           columns=["movie_id", "ml_rating_count", "original_language"]).to_pandas()
    ranked = movies.sort_values(["ml_rating_count", "movie_id"], ascending=[False, True])
    french = ranked[ranked.original_language == "fr"].movie_id.head(20)
    ids = sorted(set(ranked.movie_id.head(300)) | set(french))
    root = cache_dir() / "test-artifacts" / "small-index"
    root.mkdir(parents=True, exist_ok=True)
    ids_file = root / "movie_ids.txt"
    ids_file.write_text("\n".join(map(str, ids)) + "\n")
    run_job(["-m", "movierec_jobs.index", "--movie-ids", f"@{ids_file}", "--out", str(root),
             "--no-progress"], {"OMP_NUM_THREADS": "1", "MOVIEREC_CATALOG_DIR": str(catalog_dir)}, "index job")
    return (root / "current").resolve()


@pytest.fixture(scope="session")
def system_env(catalog_dir: Path, small_index_dir: Path) -> dict[str, str]:
    """Environment for ``movierec_core.devstack.Stack`` over the small real index."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
            "MOVIEREC_CATALOG_DIR": str(catalog_dir), "MOVIEREC_INDEX_DIR": str(small_index_dir),
            "RETRIEVAL_INDEX_DIR": str(small_index_dir), "RETRIEVAL_CATALOG_DIR": str(catalog_dir.parent),
            "WORKER_CONCURRENCY": "1"}
