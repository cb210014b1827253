"""Keyphrase job: ``python -m movierec_jobs.keyphrases`` (``make keyphrases``).

Extracts 8–15 keyphrases per catalog movie (:mod:`movierec_catalog.keyphrases`: TMDB keywords, MovieLens
tags, overview chunks, setting, mood, audience), deduplicates them across movies, embeds each unique phrase
once as a DOCUMENT with the index's model (the same ``EMBEDDING_*`` variables as the index job), and writes
``artifacts/keyphrases/<version>/`` (:mod:`movierec_core.keyphrase_artifact`), then repoints ``current``.

Caching, as for the index (services/embedding/README.md):

* the **version** hashes the catalog version, the subset, the model identity and KEYPHRASE_CODE_VERSION;
  an existing valid ``<out>/<version>`` is only repointed, a copy in ``$MOVIEREC_CACHE_DIR/keyphrases`` is
  copied back, and nothing loads the model;
* **phrase vectors** go through the index job's per-text vector cache (``$MOVIEREC_CACHE_DIR/vectors``), so
  a change of the extractor embeds only the phrases that are new.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from embedding_service.backends import EmbeddingBackend, ModelLoadError, create_backend, model_identity
from embedding_service.settings import EmbeddingSettings
from movierec_catalog.keyphrases import SOURCE_CODE, SOURCES, PhraseRarity, movie_keyphrases
from movierec_core.config import ConfigError
from movierec_core.index_artifact import ArtifactError, point_current
from movierec_core.keyphrase_artifact import keyphrase_root, load_keyphrase_artifact, write_keyphrase_artifact
from movierec_core.paths import cache_dir
from movierec_jobs.index import _digest, _movie_ids_arg, _vectors_for, select_movies

log = logging.getLogger("movierec.jobs.keyphrases")

# Bump when the extractor (libs/movierec_catalog/keyphrases.py) or the layout changes.
KEYPHRASE_CODE_VERSION = "2"
DEFAULT_BATCH_SIZE = 256  # phrases are a few tokens: big batches cost little padding


@dataclass(frozen=True)
class KeyphraseBuild:
    path: Path
    version: str
    status: str  # built | cached | reused
    movies: int
    entries: int
    phrases: int
    embedded: int
    extract_s: float
    embed_s: float
    seconds: float


def extract(frame, catalog) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(unique phrases, movie ids, offsets, entry phrase rows, entry source codes) for the selected rows.

    Rarity is counted over the whole catalog, so a subset gets the same phrases as the full build.
    """
    rarity = PhraseRarity(catalog.movies["overview"].tolist())
    phrase_row: dict[str, int] = {}
    offsets, entry_phrase, entry_source = [0], [], []
    for movie_id in frame.index:
        for phrase in movie_keyphrases(catalog.get(int(movie_id)), rarity):
            entry_phrase.append(phrase_row.setdefault(phrase.text, len(phrase_row)))
            entry_source.append(SOURCE_CODE[phrase.source])
        offsets.append(len(entry_phrase))
    return (list(phrase_row), frame.index.to_numpy(dtype=np.int64), np.asarray(offsets, dtype=np.int64),
            np.asarray(entry_phrase, dtype=np.int32), np.asarray(entry_source, dtype=np.uint8))


def artifact_version(catalog_version: str, movie_ids: np.ndarray, full_catalog: bool, identity) -> str:
    return "kp-" + _digest({"catalog_version": catalog_version,
                            "subset": None if full_catalog else _digest(movie_ids.tolist()),
                            "backend": identity.backend, "model_fingerprint": identity.fingerprint,
                            "document_prefix": identity.document_prefix, "code": KEYPHRASE_CODE_VERSION})


def _valid(path: Path) -> bool:
    if not (path / "manifest.json").exists():
        return False
    try:
        load_keyphrase_artifact(path)
    except (ArtifactError, ValueError, KeyError, OSError) as error:
        log.warning("rebuilding %s: %s", path, error)
        return False
    return True


def build_keyphrases(catalog, out_root: Path | None = None, settings: EmbeddingSettings | None = None,
                     movie_ids: Sequence[int] | None = None, *, limit: int | None = None,
                     cache_root: Path | None = None, use_cache: bool = True,
                     backend_factory: Callable[[EmbeddingSettings], EmbeddingBackend] = create_backend,
                     batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True) -> KeyphraseBuild:
    started = time.perf_counter()
    out_root = Path(out_root or keyphrase_root())
    cache_root = Path(cache_root or cache_dir())
    settings = settings or EmbeddingSettings.from_env()
    frame = select_movies(catalog.movies, movie_ids, limit)
    ids = frame.index.to_numpy(dtype=np.int64)
    identity = model_identity(settings)
    version = artifact_version(catalog.version, ids, len(ids) == len(catalog.movies), identity)
    cached = cache_root / "keyphrases" / version

    def done(status: str, path: Path, extract_s: float = 0.0, embed_s: float = 0.0, embedded: int = 0):
        point_current(out_root, version)
        manifest = load_keyphrase_artifact(path, verify_checksums=False).manifest
        return KeyphraseBuild(path, version, status, manifest["movies"], manifest["entries"], manifest["phrases"],
                              embedded, extract_s, embed_s, time.perf_counter() - started)

    if _valid(out_root / version):
        return done("reused", out_root / version)
    if use_cache and _valid(cached):
        out_root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(cached, out_root / version, dirs_exist_ok=True)
        return done("cached", out_root / version)

    phrases, movie_ids_arr, offsets, entry_phrase, entry_source = extract(frame, catalog)
    extract_s = time.perf_counter() - started
    embed_started = time.perf_counter()
    if phrases:
        vectors, embedded = _vectors_for(phrases, settings, identity, cache_root, backend_factory, batch_size,
                                         progress)
    else:
        raise ValueError("no keyphrases were extracted for the selected movies")
    embed_s = time.perf_counter() - embed_started
    manifest = {
        "model": identity.model_name, "backend": identity.backend, "model_fingerprint": identity.fingerprint,
        "document_prefix": identity.document_prefix, "catalog_version": catalog.version,
        "catalog_count": len(catalog.movies), "subset": len(ids) != len(catalog.movies),
        "sources": list(SOURCES), "code_version": KEYPHRASE_CODE_VERSION, "normalized": True,
        "build": {"extract_s": round(extract_s, 2), "embed_s": round(embed_s, 2), "embedded": embedded,
                  "from_vector_cache": len(phrases) - embedded, "batch_size": batch_size,
                  "torch_threads": settings.torch_threads},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = write_keyphrase_artifact(out_root, version, manifest, phrases, vectors, movie_ids_arr, offsets,
                                    entry_phrase, entry_source)
    if use_cache:
        try:
            shutil.copytree(path, cached, dirs_exist_ok=True)
        except OSError as error:
            print(f"keyphrases: could not copy to the cache {cached}: {error}", file=sys.stderr)
    return done("built", path, extract_s, embed_s, embedded)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m movierec_jobs.keyphrases",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="artifact root (default artifacts/keyphrases)")
    parser.add_argument("--catalog", type=Path, default=None,
                        help="catalog directory (default $MOVIEREC_CATALOG_DIR or artifacts/catalog/current)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N movies (by movie id)")
    parser.add_argument("--movie-ids", default=None, help="comma-separated movie ids (or @file, one per line)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="intra-op threads for the local model (default EMBEDDING_TORCH_THREADS, 1)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write $MOVIEREC_CACHE_DIR/keyphrases")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    from movierec_catalog.catalog import CatalogNotFoundError, load_catalog

    try:
        settings = EmbeddingSettings.from_env()
        if args.torch_threads is not None:
            settings = dataclasses.replace(settings, torch_threads=args.torch_threads)
        catalog = load_catalog(args.catalog)
        build = build_keyphrases(catalog, args.out, settings, _movie_ids_arg(args.movie_ids), limit=args.limit,
                                 use_cache=not args.no_cache, batch_size=args.batch_size,
                                 progress=not args.no_progress)
    except (ConfigError, CatalogNotFoundError, ModelLoadError, ArtifactError, ValueError, OSError) as error:
        print(f"keyphrases: {error}", file=sys.stderr)
        return 2
    figures = (f"{build.movies} movies, {build.entries} movie–phrase entries, {build.phrases} unique phrases")
    if build.status == "built":
        print(f"built {build.version}: {figures} ({build.embedded} embedded, {build.phrases - build.embedded} from "
              f"the vector cache) at {build.path} in {build.seconds:.1f} s (extract {build.extract_s:.1f} s, "
              f"embed {build.embed_s:.1f} s)")
    else:
        print(f"{build.status} {build.version}: {figures} at {build.path} ({build.seconds:.2f} s, nothing embedded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
