"""The keyphrase artifact: written by ``make keyphrases`` (movierec_jobs.keyphrases), read by retrieval.

Layout of ``artifacts/keyphrases/<version>/``::

    manifest.json       version, model, backend, model_fingerprint, dim, catalog_version, movies, phrases,
                        entries, sources, build figures, files {name: sha256}
    phrases.json        the unique phrases; row p of phrase_vectors.npy is phrases[p]
    phrase_vectors.npy  float32 (P, dim), L2-normalized (the index's model, as documents)
    movie_ids.npy       int64 (M,)
    offsets.npy         int64 (M + 1,): movie i's phrases are entries offsets[i]:offsets[i + 1]
    entry_phrase.npy    int32 (E,): phrase row of each entry
    entry_source.npy    uint8 (E,): where the phrase came from (manifest "sources" names the codes)
    index.faiss         FAISS IndexFlatIP over phrase_vectors.npy (row positions are the FAISS ids)

Phrases are deduplicated across movies (31k unique for 72k movie–phrase entries on the full catalog), so
each is embedded and stored once. ``artifacts/keyphrases/current`` points at the version being served.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from movierec_core.artifact_dir import ArtifactError, read_manifest, verify_files, write_version_dir
from movierec_core.paths import artifacts_dir

DATA_FILES = ("phrases.json", "phrase_vectors.npy", "movie_ids.npy", "offsets.npy", "entry_phrase.npy",
              "entry_source.npy", "index.faiss")

__all__ = ["ArtifactError", "KeyphraseArtifact", "current_keyphrase_dir", "keyphrase_root",
           "load_keyphrase_artifact", "write_keyphrase_artifact"]


def keyphrase_root() -> Path:
    return Path(os.environ.get("MOVIEREC_KEYPHRASE_ROOT", artifacts_dir() / "keyphrases"))


def current_keyphrase_dir() -> Path:
    return Path(os.environ.get("MOVIEREC_KEYPHRASE_DIR", keyphrase_root() / "current"))


@dataclass(frozen=True)
class KeyphraseArtifact:
    path: Path
    manifest: dict
    phrases: list[str]
    phrase_vectors: np.ndarray
    movie_ids: np.ndarray
    offsets: np.ndarray
    entry_phrase: np.ndarray
    entry_source: np.ndarray

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    def phrases_of(self, row: int) -> list[str]:
        return [self.phrases[p] for p in self.entry_phrase[self.offsets[row]:self.offsets[row + 1]]]


def load_keyphrase_artifact(path: Path | None = None, *, verify_checksums: bool = True) -> KeyphraseArtifact:
    """Load and validate a keyphrase artifact directory (default: ``current``)."""
    path = Path(path or current_keyphrase_dir()).resolve()
    manifest = read_manifest(path, "keyphrase", "make keyphrases")
    verify_files(path, manifest, DATA_FILES, "keyphrase", verify_checksums=verify_checksums)
    phrases = json.loads((path / "phrases.json").read_text())
    arrays = {name: np.load(path / f"{name}.npy", allow_pickle=False)
              for name in ("phrase_vectors", "movie_ids", "offsets", "entry_phrase", "entry_source")}
    artifact = KeyphraseArtifact(path, manifest, phrases, **arrays)
    _check(artifact)
    return artifact


def _check(a: KeyphraseArtifact) -> None:
    where = f"keyphrase artifact {a.path}"
    count, dim = len(a.phrases), int(a.manifest["dim"])
    if a.phrase_vectors.shape != (count, dim) or a.phrase_vectors.dtype != np.float32:
        raise ArtifactError(f"{where}: phrase_vectors {a.phrase_vectors.shape} do not match {count} phrases × {dim}")
    norms = np.linalg.norm(a.phrase_vectors, axis=1)
    if not np.all(np.isfinite(a.phrase_vectors)) or np.abs(norms - 1).max(initial=0) > 1e-3:
        raise ArtifactError(f"{where}: phrase vectors are not finite and L2-normalized")
    movies = len(a.movie_ids)
    if len(np.unique(a.movie_ids)) != movies or a.offsets.shape != (movies + 1,):
        raise ArtifactError(f"{where}: movie_ids must be unique and offsets must have {movies + 1} entries")
    entries = len(a.entry_phrase)
    if (a.offsets[0] != 0 or a.offsets[-1] != entries or np.any(np.diff(a.offsets) < 0)
            or a.entry_source.shape != (entries,)):
        raise ArtifactError(f"{where}: offsets do not delimit the {entries} entries")
    if entries and (a.entry_phrase.min() < 0 or a.entry_phrase.max() >= count):
        raise ArtifactError(f"{where}: an entry names a phrase row outside 0–{count - 1}")


def write_keyphrase_artifact(root: Path, version: str, manifest: dict, phrases: list[str], phrase_vectors: np.ndarray,
                             movie_ids: np.ndarray, offsets: np.ndarray, entry_phrase: np.ndarray,
                             entry_source: np.ndarray) -> Path:
    """Write a version directory atomically (temp dir + rename), with the FAISS flat index, and return it."""
    import faiss

    def write_files(tmp: Path) -> dict:
        vectors = np.ascontiguousarray(phrase_vectors, dtype=np.float32)
        (tmp / "phrases.json").write_text(json.dumps(phrases, ensure_ascii=False) + "\n")
        np.save(tmp / "phrase_vectors.npy", vectors)
        np.save(tmp / "movie_ids.npy", np.asarray(movie_ids, dtype=np.int64))
        np.save(tmp / "offsets.npy", np.asarray(offsets, dtype=np.int64))
        np.save(tmp / "entry_phrase.npy", np.asarray(entry_phrase, dtype=np.int32))
        np.save(tmp / "entry_source.npy", np.asarray(entry_source, dtype=np.uint8))
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        faiss.write_index(index, str(tmp / "index.faiss"))
        return {**manifest, "version": version, "dim": int(vectors.shape[1]), "phrases": len(phrases),
                "movies": len(movie_ids), "entries": len(entry_phrase)}

    return write_version_dir(root, version, DATA_FILES, write_files)
