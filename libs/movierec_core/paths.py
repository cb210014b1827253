"""Where things live on disk: the repository, its artifacts, the shared data and the cache."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def artifacts_dir() -> Path:
    return Path(os.environ.get("MOVIEREC_ARTIFACTS_DIR", REPO_ROOT / "artifacts"))


def data_dir() -> Path:
    return Path(os.environ.get("MOVIEREC_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


def cache_dir() -> Path:
    """Artifacts keyed by content hash are also kept here so that a fresh clone reuses them."""
    return Path(os.environ.get("MOVIEREC_CACHE_DIR", Path.home() / ".cache" / "movierec"))


def run_dir() -> Path:
    return Path(os.environ.get("MOVIEREC_RUN_DIR", REPO_ROOT / ".run"))
