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

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from movierec_core.artifact_dir import ArtifactError, read_manifest, verify_files, write_version_dir
from movierec_core.paths import artifacts_dir

DATA_FILES = ("movie_ids.npy", "vectors.npy", "index.faiss")

__all__ = ["ArtifactError", "IndexArtifact", "current_index_dir", "index_root", "load_index_artifact",
           "point_current", "write_index_artifact"]


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
    manifest = read_manifest(path, "index", "make index")
    verify_files(path, manifest, DATA_FILES, "index", verify_checksums=verify_checksums)
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
    def write_files(tmp: Path) -> dict:
        np.save(tmp / "movie_ids.npy", np.asarray(movie_ids, dtype=np.int64))
        np.save(tmp / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
        write_index(tmp / "index.faiss")
        return {**manifest, "version": version, "count": len(movie_ids), "dim": int(vectors.shape[1])}

    return write_version_dir(root, version, DATA_FILES, write_files)


def point_current(root: Path, version: str) -> None:
    """Atomically repoint ``root/current`` at ``root/version`` (symlink + rename)."""
    link = root / "current"
    tmp = root / f".current-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(version)
    tmp.replace(link)
