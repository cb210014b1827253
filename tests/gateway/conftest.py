"""Fixtures of the gateway tests: the whole system as real processes over a small real index.

The index holds the 300 most-rated catalog movies plus the 20 most-rated French-language ones,
embedded by the real index job with the packaged model (vectors are cached under the movierec
cache, so only the first session pays for them). One stack — Redis, embedding, retrieval, profile,
Celery worker, ranker, gateway — serves the whole session; tests that need a broken tier start an
extra gateway (or tier) of their own with ``start_tier``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from gateway_helpers import JWT_SECRET

from movierec_core.devstack import Managed, spawn, wait_port_file
from movierec_core.paths import REPO_ROOT


@pytest.fixture(scope="session")
def index_dir(small_index_dir: Path) -> Path:
    """The shared small real index (tests/conftest.py): 300 most-rated + 20 French movies."""
    return small_index_dir


@pytest.fixture(scope="session")
def taste_map_dir(index_dir: Path, catalog_dir: Path, tmp_path_factory) -> Path:
    """The offline taste-map job, run for real on the test index."""
    out = tmp_path_factory.mktemp("taste-map")
    env = {**os.environ, "MOVIEREC_CATALOG_DIR": str(catalog_dir)}
    done = subprocess.run([sys.executable, "-m", "movierec_jobs.taste_map", "--index", str(index_dir),
                           "--out", str(out)], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"taste map job failed:\n{done.stderr[-3000:]}")
    return out


@pytest.fixture(scope="session")
def themes_dir(index_dir: Path, catalog_dir: Path, tmp_path_factory) -> Path:
    """The offline themes job (`make themes`), run for real on the test index (k over 4–8: 320 movies)."""
    out = tmp_path_factory.mktemp("themes")
    env = {**os.environ, "MOVIEREC_CATALOG_DIR": str(catalog_dir)}
    done = subprocess.run([sys.executable, "-m", "movierec_jobs.themes", "--index", str(index_dir),
                           "--k-min", "4", "--k-max", "8", "--k-step", "1", "--out", str(out), "--no-cache"],
                          env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"themes job failed:\n{done.stderr[-3000:]}")
    return out / "current"


@dataclass
class Stack:
    """The session's running system: addresses of every tier and the gateway's base URL."""

    redis_url: str
    embedding: str
    retrieval: str
    profile: str
    ranker: str
    gateway: str
    env: dict[str, str]

    def gateway_env(self, **overrides: str) -> dict[str, str]:
        """Environment for an extra gateway process (e.g. one pointing at a dead ranker)."""
        return {**self.env, "EMBEDDING_ADDR": self.embedding, "RETRIEVAL_ADDR": self.retrieval,
                "PROFILE_ADDR": self.profile, "RANKER_ADDR": self.ranker, **overrides}


def _start(name: str, module: str, env: dict[str, str], root: Path, started: list[Managed],
           timeout_s: float = 180.0) -> str:
    port_file = root / f"{name}.port.json"
    full = {**os.environ, **env, f"{name.upper()}_PORT": "0", "MOVIEREC_PORT_FILE": str(port_file),
            "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = spawn(name, [sys.executable, "-m", module], full, root / "logs")
    started.append(proc)
    info = wait_port_file(port_file, proc, timeout_s)
    return f"127.0.0.1:{info['port']}"


async def _wait_serving(addresses: dict[str, str], timeout_s: float = 180.0) -> None:
    import asyncio
    import time

    from movierec_core.client import check_health

    deadline = time.monotonic() + timeout_s
    pending = dict(addresses)
    while pending and time.monotonic() < deadline:
        for name, addr in list(pending.items()):
            if await check_health(addr) == "SERVING":
                pending.pop(name)
        await asyncio.sleep(0.2)
    if pending:
        raise TimeoutError(f"not SERVING after {timeout_s:.0f}s: {sorted(pending)}")


@pytest.fixture(scope="session")
def stack(redis_server, index_dir: Path, catalog_dir: Path, taste_map_dir: Path, themes_dir: Path,
          tmp_path_factory) -> Iterator[Stack]:
    import asyncio

    root = tmp_path_factory.mktemp("stack")
    started: list[Managed] = []
    redis_url = redis_server.url.replace("/0", "/3")  # a database of its own: other tests flush db 0
    common = {"REDIS_URL": redis_url, "MOVIEREC_CATALOG_DIR": str(catalog_dir)}
    try:
        embedding = _start("embedding", "embedding_service", common, root, started)
        retrieval = _start("retrieval", "retrieval_service", {**common, "RETRIEVAL_INDEX_DIR": str(index_dir),
                                                              "RETRIEVAL_CATALOG_DIR": str(catalog_dir)}, root, started)
        ranker = _start("ranker", "ranker_service", {**common, "RANKER_INDEX_DIR": str(index_dir),
                                                     "RANKER_CATALOG_DIR": str(catalog_dir)}, root, started)
        profile_env = {**common, "EMBEDDING_ADDR": embedding, "RETRIEVAL_ADDR": retrieval,
                       "PROFILE_INDEX_DIR": str(index_dir), "PROFILE_CATALOG_DIR": str(catalog_dir)}
        profile = _start("profile", "profile_service", profile_env, root, started)
        started.append(spawn("worker", [sys.executable, "-m", "profile_service.worker"],
                             {**os.environ, **profile_env, "PROFILE_ADDR": profile, "PYTHONUNBUFFERED": "1",
                              "OMP_NUM_THREADS": "1", "WORKER_CONCURRENCY": "1"}, root / "logs"))
        asyncio.run(_wait_serving({"embedding": embedding, "retrieval": retrieval, "ranker": ranker,
                                   "profile": profile}))
        gateway_env = {**common, "GATEWAY_JWT_SECRET": JWT_SECRET, "GATEWAY_TASTE_MAP_DIR": str(taste_map_dir),
                       "MOVIEREC_THEMES_DIR": str(themes_dir),
                       "GATEWAY_AUTH_RATE_LIMIT": "5", "GATEWAY_AUTH_RATE_WINDOW_S": "60",
                       "GATEWAY_REQUEST_TIMEOUT_S": "10", "GATEWAY_RPC_TIMEOUT_S": "5", "GATEWAY_RANK_TIMEOUT_S": "5",
                       "GATEWAY_DIAGNOSTICS": "true",
                       # Every test signs up from 127.0.0.1; test_security checks these budgets on a gateway of its own.
                       "GATEWAY_AUTH_IP_RATE_LIMIT": "100000", "GATEWAY_WRITE_RATE_LIMIT": "100000",
                       "GATEWAY_SEARCH_RATE_LIMIT": "100000"}
        gateway = _start("gateway", "gateway_service", {**gateway_env, "EMBEDDING_ADDR": embedding,
                                                        "RETRIEVAL_ADDR": retrieval, "PROFILE_ADDR": profile,
                                                        "RANKER_ADDR": ranker}, root, started)
        yield Stack(redis_url, embedding, retrieval, profile, ranker, f"http://{gateway}", gateway_env)
    finally:
        for proc in reversed(started):
            proc.stop()


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway, timeout=30.0) as http:
        yield http


# ---- extra gateway processes ----------------------------------------------------------------

@dataclass
class GatewayProcess:
    """A gateway started by a test: its base URL, what it wrote to its port file, and the process."""

    url: str
    info: dict
    proc: Managed

    def log_lines(self) -> list[dict]:
        """The JSON log lines written so far (the gateway logs one JSON object per line)."""
        lines = []
        for raw in self.proc.log_path.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                lines.append(json.loads(raw))
        return lines


def _gateway_launcher(stack: Stack, root: Path, started: list[Managed]):
    def start(**overrides: str) -> GatewayProcess:
        name = f"gateway-{len(started)}"
        port_file = root / f"{name}.port.json"
        env = {**os.environ, **stack.gateway_env(**overrides), "GATEWAY_PORT": "0",
               "MOVIEREC_PORT_FILE": str(port_file), "PYTHONUNBUFFERED": "1"}
        proc = spawn(name, [sys.executable, "-m", "gateway_service"], env, root / "logs")
        started.append(proc)
        info = wait_port_file(port_file, proc, 120)
        return GatewayProcess(f"http://127.0.0.1:{info['port']}", info, proc)

    return start


@pytest.fixture
def start_gateway(stack: Stack, tmp_path: Path) -> Iterator:
    """``start_gateway(RETRIEVAL_ADDR=..., ...)``: a real gateway process over the session's tiers, with
    these environment overrides; stopped after the test."""
    started: list[Managed] = []
    yield _gateway_launcher(stack, tmp_path, started)
    for proc in reversed(started):
        proc.stop()


@pytest.fixture(scope="module")
def configured_gateway(stack: Stack, tmp_path_factory) -> Iterator[GatewayProcess]:
    """A gateway configured as in a cluster: /metrics on its own port, X-Forwarded-For trusted from the
    (loopback) proxy only, and Server-Timing headers on."""
    started: list[Managed] = []
    start = _gateway_launcher(stack, tmp_path_factory.mktemp("configured-gateway"), started)
    try:
        yield start(GATEWAY_METRICS_PORT="0", GATEWAY_FORWARDED_ALLOW_IPS="127.0.0.1", GATEWAY_SERVER_TIMING="true",
                    GATEWAY_AUTH_RATE_WINDOW_S="3600")
    finally:
        for proc in reversed(started):
            proc.stop()
