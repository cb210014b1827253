"""Smoke test of the real command: ~2 s of load on a real retrieval tier serving a real (small) index.

The tier is ``python -m retrieval_service`` (``start_tier``) over an index of 60 catalog movies built
by the project's index job (vectors come from its cache after the first run); the generator is
``python -m movierec_load --endpoints …`` exactly as ``make load`` runs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import LOADTEST_DIR

from movierec_core.client import check_health
from movierec_core.paths import REPO_ROOT
from movierec_load.system import ensure_catalog

SCENARIOS = ("retrieval.search", "retrieval.search_filtered")
LEVELS = (1, 4)


@pytest.fixture(scope="module")
def small_index(tmp_path_factory) -> tuple[Path, Path]:
    """(catalog version dir, index dir): the built catalog and a real index over its first 60 movies."""
    work = tmp_path_factory.mktemp("load-index")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    catalog_dir = ensure_catalog(work, env)
    subprocess.run([sys.executable, "-m", "movierec_jobs.index", "--out", str(work / "index"), "--catalog",
                    str(catalog_dir), "--limit", "60", "--no-progress", "--torch-threads", "1"],
                   check=True, cwd=REPO_ROOT, capture_output=True, env=env, timeout=300)
    return catalog_dir, (work / "index" / "current").resolve()


async def _wait_serving(addr: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while await check_health(addr, "movierec.retrieval.v1.RetrievalService") != "SERVING":
        assert time.monotonic() < deadline, f"retrieval at {addr} never became SERVING"
        await asyncio.sleep(0.1)


def test_load_command_reports_real_figures(small_index, start_tier, tmp_path):
    catalog_dir, index_dir = small_index
    addr, proc = start_tier("retrieval", {"RETRIEVAL_INDEX_DIR": str(index_dir),
                                          "RETRIEVAL_CATALOG_DIR": str(catalog_dir.parent),
                                          "OPENBLAS_NUM_THREADS": "1"})
    asyncio.run(_wait_serving(addr))
    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text(json.dumps({"retrieval": addr}))
    out = tmp_path / "reports"
    argv = [sys.executable, "-m", "movierec_load", "--endpoints", str(endpoints), "--index-dir", str(index_dir),
            "--catalog-dir", str(catalog_dir), "--scenarios", ",".join(SCENARIOS), "--duration", "0.35",
            "--warmup", "0.1", "--concurrency", ",".join(map(str, LEVELS)),
            *(arg for name in SCENARIOS for arg in ("--rate", f"{name}=60")), "--out-dir", str(out)]
    result = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(LOADTEST_DIR)})
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert proc.alive()

    report = json.loads((out / "load.json").read_text())
    runs = report["grpc"]["runs"]
    assert [(r["scenario"], r["mode"], r["concurrency"]) for r in runs] == [
        (name, mode, level) for name in SCENARIOS for mode, level in (*(("closed", c) for c in LEVELS), ("open", None))]
    for run in runs:
        assert run["requests"] > 0 and run["ok"] == run["requests"], run
        assert run["errors"] == {} and run["error_rate"] == 0
        lat = run["latency_ms"]
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"] < 2000
        assert run["qps"] > 0 and not run["hard_stopped"]
    opened = [r for r in runs if r["mode"] == "open"]
    assert all(r["target_rps"] == 60 and r["requests"] == 21 for r in opened)  # 60 rps × 0.35 s, all sent
    assert report["meta"]["index"]["count"] == 60 and report["meta"]["notes"] == []
    assert {row["scenario"] for row in report["capacity"]["grpc"]} == set(SCENARIOS)
    assert report["gateway"]["levels"] == []

    markdown = (out / "load.md").read_text()
    assert "## Capacity per pod" in markdown and "`retrieval.search_filtered`" in markdown
    for plot in report["plots"]:
        assert (out / plot).stat().st_size > 1000 and f"]({plot})" in markdown
