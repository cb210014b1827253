"""Plain helpers shared by the retrieval tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import faiss
import grpc
import numpy as np

from movierec.retrieval.v1 import retrieval_pb2_grpc
from movierec_core.client import check_health
from movierec_core.devstack import free_port
from movierec_core.index_artifact import point_current, write_index_artifact
from retrieval_service.index import build_faiss_index

SERVICE = "movierec.retrieval.v1.RetrievalService"
ADMIN_TOKEN = "test-retrieval-admin-token-0123456789abcdef"
DIM = 384
# Movies the quality checks reason about (MovieLens ids).
TOY_STORY, TOY_STORY_2, TOY_STORY_3 = 1, 3114, 78499
MATRIX, MATRIX_RELOADED, MATRIX_REVOLUTIONS = 2571, 6365, 6934
QUALITY_MOVIES = (TOY_STORY, TOY_STORY_2, TOY_STORY_3, MATRIX, MATRIX_RELOADED, MATRIX_REVOLUTIONS)


def unit_vectors(count: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def write_artifact(root: Path, version: str, movie_ids: np.ndarray, vectors: np.ndarray, *,
                   kind: str = "flat", catalog_version: str, point: bool = False) -> Path:
    """An index artifact in the index job's format (write_index_artifact + a FAISS index of ``kind``)."""
    # A light HNSW graph: building the default one over random 384-d vectors takes ~30 s here.
    index = build_faiss_index(vectors, kind, hnsw_m=16, ef_construction=40)

    def write_index(path: Path) -> None:
        faiss.write_index(index, str(path))

    manifest = {"model": f"random-unit-vectors-{version}", "backend": "test", "index_kind": kind,
                "catalog_version": catalog_version, "created_at": datetime.now(UTC).isoformat()}
    path = write_index_artifact(root, version, manifest, movie_ids, vectors, write_index)
    if point:
        point_current(root, version)
    return path


def tier_env(index_dir: Path, catalog_dir: Path, **extra: str) -> dict[str, str]:
    return {"RETRIEVAL_INDEX_DIR": str(index_dir), "RETRIEVAL_CATALOG_DIR": str(catalog_dir),
            "RETRIEVAL_WATCH_INTERVAL_S": "0.5", "OPENBLAS_NUM_THREADS": "1", **extra}


async def wait_status(addr: str, wanted: str, timeout_s: float = 60.0) -> str:
    deadline = time.monotonic() + timeout_s
    status = "UNREACHABLE"
    while time.monotonic() < deadline:
        status = await check_health(addr, SERVICE)
        if status == wanted:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"{addr} stayed {status}, expected {wanted}")


def search_paths(metrics_port: int) -> dict[str, float]:
    """The tier's movierec_retrieval_search_path_total counters, scraped from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {match[0]: float(match[1])
            for match in re.findall(r'^movierec_retrieval_search_path_total\{path="(\w+)"\} (\S+)$', text, re.M)}


def stub(channel: grpc.aio.Channel) -> retrieval_pb2_grpc.RetrievalServiceStub:
    return retrieval_pb2_grpc.RetrievalServiceStub(channel)


def admin_env() -> dict[str, str]:
    """Environment turning on the admin endpoint (ReloadIndex) on a free loopback port."""
    return {"RETRIEVAL_ADMIN_PORT": str(free_port()), "RETRIEVAL_ADMIN_TOKEN": ADMIN_TOKEN}


def admin_addr(env: dict[str, str]) -> str:
    return f"127.0.0.1:{env['RETRIEVAL_ADMIN_PORT']}"


ADMIN_METADATA = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
