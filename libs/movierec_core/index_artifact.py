"""The movie-vector index artifact: written by the index job, read by retrieval, profile and ranker.

Layout of ``artifacts/index/<version>/``::

    manifest.json   version, model, backend, dim, count, index_kind, index_params, catalog_version,
                    created_at, files {name: sha256}
    movie_ids.npy   int64 (N,)  — row i of vectors.npy is movie movie_ids[i]
    vectors.npy     float32 (N, dim), L2-normalized
    index.faiss     the FAISS index over vectors.npy (row positions are the FAISS ids)

``artifacts/index/current`` is a symlink to the version being served; it is replaced atomically.
:func:`load_index_artifact` verifies checksums, shapes and norms, so a corrupted or mismatched
artifact is refused with a clear message instead of being served.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from movierec_core.hashing import sha256_file
from movierec_core.paths import artifacts_dir

MANIFEST = "manifest.json"
DATA_FILES = ("movie_ids.npy", "vectors.npy", "index.faiss")


class ArtifactError(Exception):
    """An index artifact is missing, corrupted or inconsistent."""


@dataclass(frozen=True)
class IndexArtifact:
    path: Path
    manifest: dict
    movie_ids: np.ndarray
    vectors: np.ndarray

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    def row_of(self) -> dict[int, int]:
        return {int(movie_id): row for row, movie_id in enumerate(self.movie_ids)}


def index_root() -> Path:
    return Path(os.environ.get("MOVIEREC_INDEX_ROOT", artifacts_dir() / "index"))


def current_index_dir() -> Path:
    return Path(os.environ.get("MOVIEREC_INDEX_DIR", index_root() / "current"))




def load_index_artifact(path: Path | None = None, *, verify_checksums: bool = True,
                        expected_dim: int | None = None) -> IndexArtifact:
    """Load and validate an index artifact directory (default: ``current``)."""
    path = Path(path or current_index_dir()).resolve()
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise ArtifactError(f"no index artifact at {path} (missing {MANIFEST}); run `make index`")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{manifest_path} is not valid JSON: {error}") from None
    for name in DATA_FILES:
        file = path / name
        if not file.exists():
            raise ArtifactError(f"index artifact {path} is missing {name}")
        expected = manifest.get("files", {}).get(name)
        if verify_checksums and expected and sha256_file(file) != expected:
            raise ArtifactError(f"index artifact {path}: {name} does not match its manifest checksum")
    movie_ids = np.load(path / "movie_ids.npy", allow_pickle=False)
    vectors = np.load(path / "vectors.npy", allow_pickle=False)
    _check_shapes(path, manifest, movie_ids, vectors, expected_dim)
    return IndexArtifact(path, manifest, movie_ids, vectors)


def _check_shapes(path: Path, manifest: dict, movie_ids: np.ndarray, vectors: np.ndarray,
                  expected_dim: int | None) -> None:
    dim, count = int(manifest["dim"]), int(manifest["count"])
    if vectors.ndim != 2 or vectors.shape != (count, dim) or vectors.dtype != np.float32:
        raise ArtifactError(f"index artifact {path}: vectors {vectors.shape} {vectors.dtype} do not match "
                            f"manifest count={count} dim={dim} float32")
    if movie_ids.shape != (count,) or len(np.unique(movie_ids)) != count:
        raise ArtifactError(f"index artifact {path}: movie_ids must be {count} unique ids")
    if expected_dim is not None and dim != expected_dim:
        raise ArtifactError(f"index artifact {path} has dimension {dim}, expected {expected_dim}")
    norms = np.linalg.norm(vectors, axis=1)
    if not np.all(np.isfinite(vectors)) or np.abs(norms - 1).max(initial=0) > 1e-3:
        raise ArtifactError(f"index artifact {path}: vectors are not finite and L2-normalized")


def write_index_artifact(root: Path, version: str, manifest: dict, movie_ids: np.ndarray,
                         vectors: np.ndarray, write_index) -> Path:
    """Write a version directory atomically (temp dir + rename) and return its path.

    ``write_index(path)`` writes ``index.faiss``. The manifest gets version, count, dim and checksums.
    """
    root.mkdir(parents=True, exist_ok=True)
    final = root / version
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=root))
    try:
        np.save(tmp / "movie_ids.npy", np.asarray(movie_ids, dtype=np.int64))
        np.save(tmp / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
        write_index(tmp / "index.faiss")
        full = {**manifest, "version": version, "count": len(movie_ids), "dim": int(vectors.shape[1]),
                "files": {name: sha256_file(tmp / name) for name in DATA_FILES}}
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def point_current(root: Path, version: str) -> None:
    """Atomically repoint ``root/current`` at ``root/version`` (symlink + rename)."""
    link = root / "current"
    tmp = root / f".current-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(version)
    tmp.replace(link)
