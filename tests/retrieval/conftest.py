"""Fixtures for the retrieval tier: the real catalog, index artifacts, and a SERVING tier process.

Filter tests use random unit vectors over the real catalog's rows (filters depend on metadata,
not on what the vectors mean); quality checks use real vectors of the packaged model: the full
index at artifacts/index/current when it is there, else a small real subset built by the index job.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from retrieval_helpers import (
    QUALITY_MOVIES,
    admin_addr,
    admin_env,
    tier_env,
    unit_vectors,
    wait_status,
    write_artifact,
)

from movierec_catalog.catalog import Catalog, load_catalog, resolve_catalog_dir
from movierec_core.devstack import Managed, spawn, wait_port_file
from movierec_core.index_artifact import load_index_artifact
from movierec_core.paths import REPO_ROOT, artifacts_dir


@pytest.fixture(scope="session")
def catalog_dir(tmp_path_factory) -> Path:
    """The real catalog: artifacts/catalog when built, else built now by the real builder."""
    built = artifacts_dir() / "catalog"
    try:
        resolve_catalog_dir(built)
        return built
    except FileNotFoundError:
        out = tmp_path_factory.mktemp("catalog")
        subprocess.run([sys.executable, "-m", "movierec_catalog.build", "--out-dir", str(out)],
                       check=True, cwd=REPO_ROOT, capture_output=True)
        return out


@pytest.fixture(scope="session")
def catalog(catalog_dir) -> Catalog:
    return load_catalog(catalog_dir)


@dataclass
class RandomIndex:
    """A random-vector index over every catalog movie."""

    root: Path
    version: str
    movie_ids: np.ndarray
    vectors: np.ndarray


@pytest.fixture(scope="session")
def index_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="session")
def make_random_index(catalog, index_root) -> Callable[..., RandomIndex]:
    """``make(version, kind, seed)`` writes (once per session) a random index over every catalog movie."""
    movie_ids = catalog.movies.index.to_numpy(dtype=np.int64)
    made: dict[tuple, RandomIndex] = {}

    def make(version: str, kind: str = "flat", seed: int = 0, point: bool = True,
             root: Path | None = None) -> RandomIndex:
        root = root or index_root / version
        key = (root, version, kind, seed)
        if key not in made:
            vectors = unit_vectors(len(movie_ids), seed=seed)
            write_artifact(root, version, movie_ids, vectors, kind=kind, catalog_version=catalog.version,
                           point=point)
            made[key] = RandomIndex(root, version, movie_ids, vectors)
        return made[key]

    return make


@pytest.fixture
def serve_index(start_tier, catalog_dir):
    """Start the tier on an index dir and wait until it is SERVING; returns (addr, process)."""

    async def serve(index_dir: Path, **extra: str):
        addr, proc = start_tier("retrieval", tier_env(index_dir, catalog_dir, **extra))
        await wait_status(addr, "SERVING")
        return addr, proc

    return serve


@pytest.fixture(scope="session")
def shared_tier(tmp_path_factory, catalog_dir):
    """Tier processes shared by the tests that only read from them, one per name (the same real
    ``python -m retrieval_service`` on port 0 as ``start_tier``, started once per session)."""
    logs = tmp_path_factory.mktemp("shared-tier")
    started: dict[str, tuple[str, Managed]] = {}

    async def get(name: str, index_dir: Path, **extra: str) -> str:
        if name not in started:
            port_file = logs / f"{name}.port.json"
            admin = admin_env()
            get.admin_addrs[name] = admin_addr(admin)
            env = {**os.environ, **tier_env(index_dir, catalog_dir, **admin, **extra), "RETRIEVAL_PORT": "0",
                   "MOVIEREC_PORT_FILE": str(port_file), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
            proc = spawn(f"retrieval-{name}", [sys.executable, "-m", "retrieval_service"], env, logs)
            info = wait_port_file(port_file, proc, 60)
            started[name] = (f"127.0.0.1:{info['port']}", proc)
            get.metrics_ports[name] = info["metrics_port"]
            await wait_status(started[name][0], "SERVING")
        return started[name][0]

    get.metrics_ports = {}
    get.admin_addrs = {}
    yield get
    for _, proc in started.values():
        proc.stop()


@pytest.fixture(scope="session")
def real_index_dir(catalog, tmp_path_factory) -> Path:
    """Real vectors of the packaged model: artifacts/index/current if it matches the catalog, else
    a real subset (the quality movies + the first 300) built by the index job."""
    current = artifacts_dir() / "index" / "current"
    try:
        artifact = load_index_artifact(current)
        if (artifact.manifest.get("catalog_version") == catalog.version
                and set(QUALITY_MOVIES) <= set(artifact.movie_ids.tolist())):
            return current
    except Exception:  # not built (yet): fall back to a subset
        pass
    out = tmp_path_factory.mktemp("real-index")
    first = catalog.movies.sort_index().index[:300].tolist()
    ids = ",".join(str(m) for m in sorted(set(first) | set(QUALITY_MOVIES)))
    subprocess.run([sys.executable, "-m", "movierec_jobs.index", "--out", str(out), "--movie-ids", ids,
                    "--catalog", str(catalog.path), "--no-progress", "--torch-threads", "1"],
                   check=True, cwd=REPO_ROOT, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    return out / "current"
