"""Default locations, each overridable by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def default_data_dir() -> Path:
    """$MOVIEREC_DATA_DIR, else <repo>/../shared/data."""
    env = os.environ.get("MOVIEREC_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def default_out_dir() -> Path:
    return REPO_ROOT / "artifacts" / "catalog"


def default_cache_dir() -> Path:
    """$MOVIEREC_CACHE_DIR/catalog, else ~/.cache/movierec/catalog."""
    env = os.environ.get("MOVIEREC_CACHE_DIR")
    base = Path(env) if env else Path.home() / ".cache" / "movierec"
    return base / "catalog"


def default_catalog_dir() -> Path:
    """$MOVIEREC_CATALOG_DIR, else <repo>/artifacts/catalog/current."""
    env = os.environ.get("MOVIEREC_CATALOG_DIR")
    return Path(env) if env else default_out_dir() / "current"
