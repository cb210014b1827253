"""The maturity-estimates artifact: written by ``python -m movierec_catalog.maturity``, joined by
:func:`movierec_catalog.load_catalog` when it was made for the catalog being loaded.

Layout of ``artifacts/maturity/<key>/``::

    estimates.parquet  movie_id, certification_estimate, certification_confidence,
                       certification_estimate_max, certification_estimate_min, p_G … p_NC-17
                       (one row per catalog movie WITHOUT an official certification)
    manifest.json      key, catalog_version, index_version, tau, features, metrics, files {name: sha256}

``artifacts/maturity/current`` points at the key in use (symlink swapped atomically); the same
directories are kept in ``$MOVIEREC_CACHE_DIR/maturity`` (default ``~/.cache/movierec/maturity``).
This module needs only pyarrow, so loading a catalog never imports scikit-learn.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from movierec_core.hashing import sha256_file

from .paths import default_out_dir
from .schema import ESTIMATE_COLUMNS

log = logging.getLogger("movierec_catalog")

ESTIMATES_FILE = "estimates.parquet"
MANIFEST_FILE = "manifest.json"
ESTIMATES_SCHEMA = pa.schema(
    [
        pa.field("movie_id", pa.int64(), nullable=False),
        pa.field("certification_estimate", pa.string(), nullable=False),
        pa.field("certification_confidence", pa.float64(), nullable=False),
        pa.field("certification_estimate_max", pa.string(), nullable=False),
        pa.field("certification_estimate_min", pa.string(), nullable=False),
    ]
)


def default_maturity_root() -> Path:
    """$MOVIEREC_MATURITY_ROOT, else <repo>/artifacts/maturity."""
    env = os.environ.get("MOVIEREC_MATURITY_ROOT")
    return Path(env) if env else default_out_dir().parent / "maturity"


def default_maturity_dir() -> Path:
    """$MOVIEREC_MATURITY_DIR, else <maturity root>/current."""
    env = os.environ.get("MOVIEREC_MATURITY_DIR")
    return Path(env) if env else default_maturity_root() / "current"


def read_estimates(catalog_version: str, path: Path | None = None) -> dict[int, dict] | None:
    """movie_id -> the ESTIMATE_COLUMNS of that movie, or None when there is no usable artifact.

    The artifact is used only when it was made for ``catalog_version`` and its checksum matches;
    anything else (absent, stale, corrupt) is logged and ignored, so a catalog always loads —
    without estimates it simply has none (all four fields None).
    """
    vdir = Path(path or default_maturity_dir())
    manifest_path = vdir / MANIFEST_FILE
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("catalog_version") != catalog_version:
            log.info("maturity estimates at %s are for catalog %s, not %s; not used (run `make maturity`)",
                     vdir, manifest.get("catalog_version"), catalog_version)
            return None
        if sha256_file(vdir / ESTIMATES_FILE) != manifest["files"][ESTIMATES_FILE]:
            log.warning("maturity estimates at %s do not match their checksum; not used", vdir)
            return None
        table = pq.read_table(vdir / ESTIMATES_FILE, columns=["movie_id", *ESTIMATE_COLUMNS])
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        log.warning("could not read maturity estimates at %s: %s", vdir, exc)
        return None
    return {row.pop("movie_id"): row for row in table.to_pylist()}
