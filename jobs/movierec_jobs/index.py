"""Catalog embedding job: ``python -m movierec_jobs.index`` (``make index``).

Embeds every catalog movie's ``embedding_text`` as a DOCUMENT with the configured backend (the same
``EMBEDDING_*`` variables as the service, so queries and documents share one model), L2-normalizes,
builds a FAISS inner-product index and writes ``<out>/<version>/`` with
:func:`movierec_core.index_artifact.write_index_artifact`, then repoints ``<out>/current``.

Caching, so nothing expensive happens twice:

* The **artifact version** is a hash of everything that determines it (catalog version, the chosen
  subset, backend, model fingerprint, document prefix, index kind + parameters, JOB_CODE_VERSION).
  When ``<out>/<version>`` already holds a valid artifact the job only repoints ``current`` and
  reports "reused", without loading the model.
* **Vectors** are cached under ``$MOVIEREC_CACHE_DIR/vectors/<model key>/`` (default
  ``~/.cache/movierec``), keyed by the model identity and the sha256 of each text. A fresh clone
  (CI) therefore re-embeds nothing, a different index kind reuses every vector, a catalog rebuild
  re-embeds only the texts that changed, and a different model gets a different key.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from embedding_service.backends import (
    EmbeddingBackend,
    EmbedKind,
    ModelIdentity,
    ModelLoadError,
    create_backend,
    l2_normalize,
    model_identity,
)
from embedding_service.settings import EmbeddingSettings
from movierec_core.config import ConfigError
from movierec_core.index_artifact import (
    ArtifactError,
    index_root,
    load_index_artifact,
    point_current,
    write_index_artifact,
)
from movierec_core.paths import cache_dir

log = logging.getLogger("movierec.jobs.index")

# Bump when the way vectors or indexes are produced changes, so old artifacts are not reused.
JOB_CODE_VERSION = "1"
VECTOR_CODE_VERSION = "1"
INDEX_KINDS = ("flat", "hnsw", "ivf")
DEFAULT_BATCH_SIZE = 64


# ---- index kinds -----------------------------------------------------------------------------------

def index_params(kind: str, count: int, overrides: dict | None = None) -> dict:
    """The full, resolved parameters of an index kind for ``count`` vectors (part of the version)."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if kind == "flat":
        params: dict = {}
    elif kind == "hnsw":
        params = {"m": 32, "ef_construction": 200, "ef_search": 128}
    elif kind == "ivf":
        # ~4·√n lists, but at least 39 training points per list (FAISS's own minimum).
        nlist = max(1, min(int(4 * math.sqrt(count)), count // 39))
        params = {"nlist": nlist, "nprobe": min(16, nlist)}
    else:
        raise ValueError(f"unknown index kind {kind!r}; choose one of {', '.join(INDEX_KINDS)}")
    unknown = set(overrides) - set(params)
    if unknown:
        raise ValueError(f"index kind {kind!r} has no parameter(s) {sorted(unknown)}")
    return {**params, **overrides, "metric": "inner_product"}


def build_faiss_index(vectors: np.ndarray, kind: str, params: dict):
    """A FAISS inner-product index over L2-normalized ``vectors`` (row i gets FAISS id i)."""
    import faiss

    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, params["m"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params["ef_construction"]
        index.hnsw.efSearch = params["ef_search"]
    elif kind == "ivf":
        if params["nlist"] > len(vectors):
            raise ValueError(f"ivf nlist={params['nlist']} exceeds the {len(vectors)} vectors to index")
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, params["nlist"], faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = params["nprobe"]
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    index.add(vectors)
    return index


# ---- vector cache ----------------------------------------------------------------------------------

def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class VectorCache:
    """Document vectors of one model, keyed by the sha256 of the text.

    Each run that embeds something adds one ``part-*.npz`` (written to a temp file, then renamed), so
    concurrent jobs never corrupt each other; readers take the union of the parts.
    """

    def __init__(self, root: Path, identity: ModelIdentity):
        self.key = _digest({"backend": identity.backend, "fingerprint": identity.fingerprint,
                            "document_prefix": identity.document_prefix, "code": VECTOR_CODE_VERSION})
        self.dir = root / "vectors" / self.key
        self.identity = identity

    def lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        wanted = set(keys)
        found: dict[str, np.ndarray] = {}
        for part in sorted(self.dir.glob("part-*.npz")):
            try:
                with np.load(part, allow_pickle=False) as data:
                    part_keys, vectors = data["keys"], data["vectors"]
            except (OSError, ValueError, KeyError) as error:
                log.warning("ignoring unreadable vector cache part %s: %s", part, error)
                continue
            for row, key in enumerate(part_keys.tolist()):
                if key in wanted and key not in found:
                    found[key] = vectors[row]
        return found

    def store(self, keys: Sequence[str], vectors: np.ndarray) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        if not meta.exists():
            meta.write_text(json.dumps(dataclasses.asdict(self.identity), indent=2) + "\n")
        name = f"part-{_digest(sorted(keys))}.npz"
        with tempfile.NamedTemporaryFile(dir=self.dir, prefix=".part-", suffix=".npz", delete=False) as tmp:
            np.savez(tmp, keys=np.asarray(keys, dtype="<U64"), vectors=vectors.astype(np.float32))
        final = self.dir / name
        Path(tmp.name).chmod(0o644)  # NamedTemporaryFile is private; the cache is shared like any cache
        Path(tmp.name).replace(final)
        return final


# ---- the job ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IndexBuild:
    path: Path
    version: str
    reused: bool
    count: int
    embedded: int
    from_cache: int
    seconds: float


def select_movies(movies, movie_ids: Sequence[int] | None = None, limit: int | None = None):
    """The catalog rows to index, in movie-id order: all, an explicit id list, or the first ``limit``."""
    frame = movies.sort_index()
    if movie_ids is not None:
        wanted = sorted({int(m) for m in movie_ids})
        unknown = [m for m in wanted if m not in frame.index]
        if unknown:
            raise ValueError(f"movie ids not in the catalog: {unknown[:10]}{' …' if len(unknown) > 10 else ''}")
        frame = frame.loc[wanted]
    if limit is not None:
        if limit < 1:
            raise ValueError(f"--limit must be at least 1 (got {limit})")
        frame = frame.iloc[:limit]
    blank = [int(m) for m, text in frame["embedding_text"].items() if not isinstance(text, str) or not text.strip()]
    if blank:
        raise ValueError(f"catalog movies without embedding_text: {blank[:10]}; rebuild the catalog")
    return frame


def artifact_version(catalog_version: str, movie_ids: np.ndarray, full_catalog: bool, identity: ModelIdentity,
                     kind: str, params: dict) -> str:
    """``<kind>-<hash>``: every input that changes the artifact changes the hash."""
    payload = {
        "catalog_version": catalog_version,
        "subset": None if full_catalog else _digest(movie_ids.tolist()),
        "backend": identity.backend, "model_fingerprint": identity.fingerprint,
        "document_prefix": identity.document_prefix,
        "index_kind": kind, "index_params": params, "job_code_version": JOB_CODE_VERSION,
    }
    return f"{kind}-{_digest(payload)}"


def build_index(catalog, out_root: Path | None = None, settings: EmbeddingSettings | None = None,
                index_kind: str = "flat", movie_ids: Sequence[int] | None = None, *, limit: int | None = None,
                params: dict | None = None, cache_root: Path | None = None,
                backend_factory: Callable[[EmbeddingSettings], EmbeddingBackend] = create_backend,
                batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True) -> IndexBuild:
    """Embed (or reuse) the catalog's vectors, build the index artifact and point ``current`` at it.

    ``catalog`` is a :class:`movierec_catalog.catalog.Catalog` (``.movies``, ``.version``). The model is
    loaded only when some text is in neither the artifact nor the vector cache.
    """
    started = time.perf_counter()
    out_root = Path(out_root or index_root())
    settings = settings or EmbeddingSettings.from_env()
    frame = select_movies(catalog.movies, movie_ids, limit)
    ids = frame.index.to_numpy(dtype=np.int64)
    identity = model_identity(settings)
    resolved = index_params(index_kind, len(ids), params)
    version = artifact_version(catalog.version, ids, len(ids) == len(catalog.movies), identity, index_kind,
                               resolved)

    if _valid_artifact(out_root / version):
        point_current(out_root, version)
        return IndexBuild(out_root / version, version, True, len(ids), 0, 0, time.perf_counter() - started)

    texts = frame["embedding_text"].tolist()
    vectors, embedded = _vectors_for(texts, settings, identity, cache_root or cache_dir(), backend_factory,
                                     batch_size, progress)
    index = build_faiss_index(vectors, index_kind, resolved)
    manifest = {
        "model": identity.model_name, "backend": identity.backend, "model_fingerprint": identity.fingerprint,
        "document_prefix": identity.document_prefix, "index_kind": index_kind, "index_params": resolved,
        "catalog_version": catalog.version, "catalog_count": len(catalog.movies),
        "subset": len(ids) != len(catalog.movies), "normalized": True,
        "job_code_version": JOB_CODE_VERSION, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }

    def write_index(path: Path) -> None:
        import faiss

        faiss.write_index(index, str(path))

    path = write_index_artifact(out_root, version, manifest, ids, vectors, write_index)
    point_current(out_root, version)
    return IndexBuild(path, version, False, len(ids), embedded, len(ids) - embedded,
                      time.perf_counter() - started)


def _valid_artifact(path: Path) -> bool:
    if not (path / "manifest.json").exists():
        return False
    try:
        load_index_artifact(path)
    except (ArtifactError, ValueError, KeyError) as error:
        log.warning("rebuilding %s: %s", path, error)
        return False
    return True


def _vectors_for(texts: list[str], settings: EmbeddingSettings, identity: ModelIdentity, cache_root: Path,
                 backend_factory, batch_size: int, progress: bool) -> tuple[np.ndarray, int]:
    """Vectors for ``texts`` (row-aligned), embedding only what the cache lacks; returns (vectors, embedded)."""
    cache = VectorCache(cache_root, identity)
    keys = [text_key(text) for text in texts]
    cached = cache.lookup(keys)
    missing = list(dict.fromkeys(key for key in keys if key not in cached))
    if missing:
        by_key = dict(zip(keys, texts, strict=True))
        backend = backend_factory(settings)
        fresh = embed_documents(backend, [by_key[key] for key in missing], batch_size, progress)
        cache.store(missing, fresh)
        cached.update(zip(missing, fresh, strict=True))
    dims = {vector.shape[0] for vector in cached.values()}
    if len(dims) != 1:
        raise ArtifactError(f"vector cache {cache.dir} mixes dimensions {sorted(dims)}; delete it and rerun")
    return l2_normalize(np.stack([cached[key] for key in keys])), len(missing)


def embed_documents(backend: EmbeddingBackend, texts: list[str], batch_size: int = DEFAULT_BATCH_SIZE,
                    progress: bool = True) -> np.ndarray:
    """Encode ``texts`` as documents in batches with a progress bar; rows follow ``texts``."""
    from tqdm import tqdm

    # Similar lengths in one batch waste less work on padding.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.empty((len(texts), backend.dim), dtype=np.float32)
    with tqdm(total=len(texts), unit="text", desc="embedding", disable=not progress, file=sys.stderr) as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            out[rows] = backend.encode([texts[i] for i in rows], EmbedKind.DOCUMENT)
            bar.update(len(rows))
    return out


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---- command line ----------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m movierec_jobs.index", description=__doc__.split("\n")[0])
    parser.add_argument("--index-kind", choices=INDEX_KINDS, default="flat",
                        help="flat = exact IndexFlatIP (default); hnsw = IndexHNSWFlat; ivf = IndexIVFFlat")
    parser.add_argument("--out", type=Path, default=None, help="artifact root (default artifacts/index)")
    parser.add_argument("--catalog", type=Path, default=None,
                        help="catalog directory (default $MOVIEREC_CATALOG_DIR or artifacts/catalog/current)")
    parser.add_argument("--limit", type=int, default=None, help="index only the first N movies (by movie id)")
    parser.add_argument("--movie-ids", default=None,
                        help="comma-separated movie ids to index (or @file with one id per line)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="intra-op threads for the local model (default EMBEDDING_TORCH_THREADS, 1)")
    parser.add_argument("--hnsw-m", type=int, default=None)
    parser.add_argument("--hnsw-ef-construction", type=int, default=None)
    parser.add_argument("--hnsw-ef-search", type=int, default=None)
    parser.add_argument("--ivf-nlist", type=int, default=None, help="default ≈ 4·√N")
    parser.add_argument("--ivf-nprobe", type=int, default=None)
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def _movie_ids_arg(value: str | None) -> list[int] | None:
    if value is None:
        return None
    text = Path(value[1:]).read_text() if value.startswith("@") else value.replace(",", " ")
    try:
        return [int(token) for token in text.split()]
    except ValueError:
        raise ValueError(f"--movie-ids must be integers separated by commas or lines: {value!r}") from None


def _params_from_args(args: argparse.Namespace) -> dict:
    names = {"hnsw": {"m": args.hnsw_m, "ef_construction": args.hnsw_ef_construction,
                      "ef_search": args.hnsw_ef_search},
             "ivf": {"nlist": args.ivf_nlist, "nprobe": args.ivf_nprobe}}
    return names.get(args.index_kind, {})


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    from movierec_catalog.catalog import CatalogNotFoundError, load_catalog

    try:
        settings = EmbeddingSettings.from_env()
        if args.torch_threads is not None:
            settings = dataclasses.replace(settings, torch_threads=args.torch_threads)
        catalog = load_catalog(args.catalog)
        build = build_index(catalog, args.out, settings, args.index_kind, _movie_ids_arg(args.movie_ids),
                            limit=args.limit, params=_params_from_args(args), batch_size=args.batch_size,
                            progress=not args.no_progress)
    except (ConfigError, CatalogNotFoundError, ModelLoadError, ArtifactError, ValueError, OSError) as error:
        print(f"index: {error}", file=sys.stderr)
        return 2
    if build.reused:
        print(f"reused {build.version}: {build.count} vectors already at {build.path} "
              f"({build.seconds:.2f} s, nothing embedded)")
    else:
        print(f"built {build.version}: {build.count} vectors ({build.embedded} embedded, {build.from_cache} "
              f"from the vector cache) at {build.path} in {build.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
