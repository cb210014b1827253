"""What the load goes to: a whole system started here, or the one ``make up`` runs.

* **Own system** (default): ``movierec_core.devstack.Stack`` in a temporary directory — Redis,
  the four gRPC tiers, a Celery worker and the gateway, every process stopped afterwards. It
  serves the full index when ``artifacts/index/current`` loads, else an index over a real subset of
  the catalog (its most-rated movies) built by the project's own index job, which reuses the
  vector cache. This is the same approach as the UI tests' ``system`` fixture.
* **Endpoints file** (``--endpoints .run/endpoints.json``): the addresses ``make up`` wrote. The
  process ids ``make up`` recorded next to it (``.run/pids/``) are used for CPU accounting when they
  still name the same processes.

Every address is checked by :func:`movierec_load.safety.require_local_target` before use.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from movierec_core.index_artifact import ArtifactError, current_index_dir, load_index_artifact
from movierec_core.paths import REPO_ROOT, artifacts_dir
from movierec_load.cpu import process_start_time
from movierec_load.safety import require_local_target

GRPC_TIERS = ("embedding", "retrieval", "ranker", "profile")
PROCESS_NAMES = ("gateway", "worker", "profile", "ranker", "retrieval", "embedding", "redis")
DEFAULT_SUBSET = 400


@dataclass
class Targets:
    grpc: dict[str, str]  # tier → host:port
    gateway: str | None  # base URL
    index_dir: Path
    catalog_dir: Path
    origin: str
    process_groups: dict[str, int] = field(default_factory=dict)  # process name → process group id
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        return {"origin": self.origin, "grpc": self.grpc, "gateway": self.gateway, "index_dir": str(self.index_dir),
                "catalog_dir": str(self.catalog_dir), "cpu_accounting": sorted(self.process_groups),
                "notes": self.notes}


def check_local(targets: Targets, needed_tiers: set[str], need_gateway: bool) -> None:
    """Refuse (UnsafeTargetError) any needed target that is not on this machine, or that is missing."""
    for tier in sorted(needed_tiers):
        if tier not in targets.grpc:
            raise KeyError(f"no address for the {tier} tier in the endpoints")
        require_local_target(tier, targets.grpc[tier])
    if need_gateway:
        if not targets.gateway:
            raise KeyError("no address for the gateway in the endpoints")
        require_local_target("gateway", targets.gateway)


# ---- a running `make up` --------------------------------------------------------------------------

def from_endpoints_file(path: Path, index_dir: Path | None, catalog_dir: Path | None) -> Targets:
    endpoints = json.loads(path.read_text())
    grpc_targets = {tier: str(endpoints[tier]) for tier in GRPC_TIERS if endpoints.get(tier)}
    gateway = str(endpoints["gateway"]) if endpoints.get("gateway") else None
    from movierec_catalog.paths import default_catalog_dir

    targets = Targets(grpc_targets, gateway, Path(index_dir or current_index_dir()),
                      Path(catalog_dir or default_catalog_dir()), f"endpoints file {path}")
    targets.process_groups = recorded_process_groups(path.parent / "pids")
    return targets


def recorded_process_groups(pid_dir: Path) -> dict[str, int]:
    """Process groups recorded by ``make up`` whose pid still names the same process (same start time)."""
    groups = {}
    for record in sorted(pid_dir.glob("*.json")) if pid_dir.is_dir() else ():
        try:
            info = json.loads(record.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if info.get("start_time") is not None and process_start_time(info["pid"]) == info["start_time"]:
            groups[record.stem] = int(info["pid"])
    return groups


# ---- a system of our own ----------------------------------------------------------------------------

def _run(argv: list[str], env: dict[str, str], what: str, timeout_s: float = 900) -> None:
    result = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


def ensure_catalog(work: Path, env: dict[str, str]) -> Path:
    """The built catalog's version directory (building one into ``work`` when none exists)."""
    from movierec_catalog.catalog import CatalogNotFoundError, resolve_catalog_dir

    try:
        return resolve_catalog_dir(None).resolve()
    except CatalogNotFoundError:
        _run([sys.executable, "-m", "movierec_catalog.build", "--out-dir", str(work / "catalog")], env,
             "catalog build")
        return resolve_catalog_dir(work / "catalog").resolve()


def full_index_dir() -> Path | None:
    """artifacts/index/current when it is a valid artifact, else None."""
    current = artifacts_dir() / "index" / "current"
    try:
        load_index_artifact(current)
    except (ArtifactError, OSError, ValueError, KeyError):
        return None
    return current.resolve()


def build_subset_index(catalog_dir: Path, out: Path, size: int, env: dict[str, str]) -> Path:
    """An index over the ``size`` most-rated catalog movies, built by the project's index job."""
    from movierec_catalog import load_catalog

    movies = load_catalog(catalog_dir).movies
    ids = movies.sort_values(["ml_rating_count", "movie_id"], ascending=[False, True])["movie_id"].head(size)
    _run([sys.executable, "-m", "movierec_jobs.index", "--out", str(out), "--catalog", str(catalog_dir),
          "--movie-ids", ",".join(str(int(m)) for m in sorted(ids)), "--no-progress"], env, "index job")
    return (out / "current").resolve()


def stack_env(catalog_dir: Path, index_dir: Path, artifacts_root: Path | None) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "MOVIEREC_CATALOG_DIR": str(catalog_dir), "MOVIEREC_INDEX_DIR": str(index_dir),
           "MOVIEREC_INDEX_ROOT": str(index_dir.parent),
           "RETRIEVAL_INDEX_DIR": str(index_dir),
           # retrieval looks for <dir>/<catalog version> first: give it the folder of versions
           "RETRIEVAL_CATALOG_DIR": str(catalog_dir.parent),
           "PROFILE_INDEX_DIR": str(index_dir), "PROFILE_CATALOG_DIR": str(catalog_dir),
           "RANKER_INDEX_DIR": str(index_dir), "RANKER_CATALOG_DIR": str(catalog_dir),
           "GATEWAY_JWT_SECRET": secrets.token_hex(32),
           # Every simulated person comes from 127.0.0.1: lift the per-address and per-user budgets
           # that would otherwise (rightly) throttle one address signing up hundreds of users.
           "GATEWAY_AUTH_IP_RATE_LIMIT": "1000000", "GATEWAY_AUTH_RATE_LIMIT": "1000000",
           "GATEWAY_WRITE_RATE_LIMIT": "1000000", "GATEWAY_SEARCH_RATE_LIMIT": "1000000"}
    if artifacts_root is not None:  # a subset index: keep every other artifact out of the way, as the UI tests do
        env["MOVIEREC_ARTIFACTS_DIR"] = str(artifacts_root)
    return env


@contextmanager
def own_system(subset: int = DEFAULT_SUBSET, keep: bool = False) -> Iterator[Targets]:
    """Start the whole system in a temporary directory; stop every process afterwards."""
    from movierec_core.devstack import Stack

    work = Path(tempfile.mkdtemp(prefix="movierec-load-"))
    base = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    stack = None
    failed = True
    try:
        catalog_dir = ensure_catalog(work, base)
        index_dir = full_index_dir()
        if index_dir is not None:
            origin, artifacts_root = "own system (devstack.Stack), full index artifacts/index/current", None
        else:
            print(f"[load] artifacts/index/current is missing: indexing the {subset} most-rated movies", flush=True)
            index_dir = build_subset_index(catalog_dir, work / "index", subset, base)
            origin = f"own system (devstack.Stack), subset index of the {subset} most-rated movies"
            artifacts_root = work
        stack = Stack(work / "stack", stack_env(catalog_dir, index_dir, artifacts_root))
        print(f"[load] starting the system in {work} …", flush=True)
        endpoints = stack.start()
        targets = Targets({tier: str(endpoints[tier]) for tier in GRPC_TIERS}, str(endpoints["gateway"]),
                          index_dir, catalog_dir, origin,
                          {name: proc.pid for name, proc in stack.procs.items()})
        built_from = json.loads((index_dir / "manifest.json").read_text()).get("catalog_version")
        if built_from != catalog_dir.name:
            targets.notes.append(f"the index was built from catalog {built_from}, the catalog is {catalog_dir.name}")
        yield targets
        failed = False
    finally:
        if stack is not None:
            stack.stop()
        if keep or failed:
            print(f"[load] system files (logs) kept in {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
