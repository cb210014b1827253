"""UI fixtures: Debian's Chromium driven by Playwright, and the whole movierec system behind it.

The browser is the machine's ``/usr/bin/chromium`` (``apt-get install chromium``); Playwright's own
browser download is never used. The tests skip — saying why — only when that binary is absent.
"""

from __future__ import annotations

import concurrent.futures
import functools
import http.server
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ui_helpers import CHROMIUM, CHROMIUM_ARGS, ONBOARDING_PICKS, REPO, STATIC_DIR, SUBSET_MOST_RATED


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium) to run the UI tests"
        print(f"\n[ui] SKIP: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


# ---- static UI only (no backend) --------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def static_server() -> Iterator[str]:
    """The static/ folder served over real HTTP on a free port (no API behind it)."""
    handler = functools.partial(_QuietHandler, directory=str(STATIC_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ---- the whole system ---------------------------------------------------------------------------

def _run(argv: list[str], env: dict[str, str], what: str, timeout_s: float = 900) -> str:
    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s)
    tail = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"{what} failed ({result.returncode}):\n{tail}"
    return result.stdout


@dataclass
class UiArtifacts:
    root: Path
    catalog_dir: Path  # a catalog version directory
    index_dir: Path  # an index artifact directory
    taste_map_dir: Path
    catalog: object  # movierec_catalog.Catalog: the facts to check what the UI shows against
    keyphrase_dir: Path  # a keyphrase artifact over the same subset (the mood search's matches)


@pytest.fixture(scope="module")
def ui_artifacts(tmp_path_factory) -> UiArtifacts:
    """Real artifacts in a temp dir: the catalog, an index over a real subset, the taste-map projection.

    Each step is the project's own command and reuses its content-hash cache (~/.cache/movierec),
    so only the first run on a machine embeds anything.
    """
    from movierec_catalog import load_catalog

    root = tmp_path_factory.mktemp("ui-artifacts")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "MOVIEREC_ARTIFACTS_DIR": str(root)}
    _run([sys.executable, "-m", "movierec_catalog.build", "--out-dir", str(root / "catalog")], env, "catalog build")
    catalog_dir = (root / "catalog" / "current").resolve()
    catalog = load_catalog(catalog_dir)
    most_rated = catalog.movies.sort_values(["ml_rating_count", "movie_id"], ascending=[False, True])
    ids = sorted(set(most_rated["movie_id"].head(SUBSET_MOST_RATED).astype(int)) | set(ONBOARDING_PICKS))
    _run([sys.executable, "-m", "movierec_jobs.index", "--out", str(root / "index"), "--catalog",
          str(catalog_dir), "--movie-ids", ",".join(map(str, ids)), "--no-progress"], env, "index job")
    index_dir = (root / "index" / "current").resolve()
    _run([sys.executable, "-m", "movierec_jobs.taste_map", "--index", str(index_dir), "--catalog", str(catalog_dir),
          "--out", str(root / "taste_map")], env, "taste map")
    _run([sys.executable, "-m", "movierec_jobs.themes", "--index", str(index_dir), "--catalog",
          str(catalog_dir), "--k-min", "4", "--k-max", "8", "--k-step", "1", "--no-cache"], env, "themes")
    _run([sys.executable, "-m", "movierec_jobs.keyphrases", "--out", str(root / "keyphrases"), "--catalog",
          str(catalog_dir), "--movie-ids", ",".join(map(str, ids)), "--no-progress"], env, "keyphrases")
    return UiArtifacts(root, catalog_dir, index_dir, root / "taste_map", catalog,
                       (root / "keyphrases" / "current").resolve())


@dataclass
class RunningSystem:
    url: str  # the gateway's base URL
    stack: object  # movierec_core.devstack.Stack: its .procs can be stopped to inject real faults


@pytest.fixture(scope="module")
def system(ui_artifacts, tmp_path_factory) -> Iterator[RunningSystem]:
    """Redis, every gRPC tier, a Celery worker and the gateway (movierec_core.devstack.Stack) on the subset.

    Every process is stopped afterwards.
    """
    from movierec_core.devstack import Stack

    a = ui_artifacts
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "MOVIEREC_ARTIFACTS_DIR": str(a.root),
        "MOVIEREC_CATALOG_DIR": str(a.catalog_dir),
        "MOVIEREC_INDEX_DIR": str(a.index_dir),
        "MOVIEREC_INDEX_ROOT": str(a.index_dir.parent),
        "RETRIEVAL_INDEX_DIR": str(a.index_dir),
        "RETRIEVAL_CATALOG_DIR": str(a.catalog_dir.parent),
        "PROFILE_INDEX_DIR": str(a.index_dir),
        "PROFILE_CATALOG_DIR": str(a.catalog_dir),
        "RANKER_INDEX_DIR": str(a.index_dir),
        "RANKER_CATALOG_DIR": str(a.catalog_dir),
        "GATEWAY_TASTE_MAP_DIR": str(a.taste_map_dir),
        "RETRIEVAL_KEYPHRASE_DIR": str(a.keyphrase_dir),
        "GATEWAY_JWT_SECRET": secrets.token_hex(32),
        "GATEWAY_AUTH_IP_RATE_LIMIT": "100000",  # the browser journeys sign up many users from 127.0.0.1
        # Two shared cores and other test runs: generous deadlines keep the real ranker in the loop.
        "GATEWAY_RPC_TIMEOUT_S": "5",
        "GATEWAY_RANK_TIMEOUT_S": "8",
        "GATEWAY_REQUEST_TIMEOUT_S": "20",
    }
    stack = Stack(tmp_path_factory.mktemp("ui-stack"), env)
    try:
        # Stack.start() runs its own asyncio loop; Playwright's sync API keeps one running in this
        # thread, so the stack starts from a thread of its own.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            endpoints = pool.submit(stack.start).result()
        yield RunningSystem(str(endpoints["gateway"]), stack)
    finally:
        stack.stop()
