"""One loaded index version (vectors, FAISS index, filter attributes) and its filtered k-NN search.

Search strategy, chosen per request from the allowed-row count ``n`` of the filter:

* exact kind (flat, the default): numpy scores every allowed row; with a small allowed set only
  those rows are gathered, otherwise one mat-vec over all rows with the blocked rows set to -inf.
  Exact, and faster than FAISS's flat scan for one query on this catalog size.
* approximate kinds (HNSW, IVF): no filter → FAISS search; a selective filter (``n`` at most
  ``exact_fraction`` of the rows) → exact numpy scoring over the allowed rows; otherwise FAISS with
  an ``IDSelectorBitmap`` in its SearchParameters, widening efSearch/nprobe when it finds fewer
  than k, and exact scoring as the last resort. Every returned score is recomputed as the exact
  inner product from the stored vectors, so lossy codes (PQ) only affect which rows are found.

Either way the filter is honoured and ``min(k, n)`` hits come back.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
import prometheus_client

from movierec_core.index_artifact import ArtifactError, IndexArtifact, load_index_artifact
from movierec_core.logs import log_fields
from retrieval_service.filters import UNKNOWN, Filter, FilterColumns, MaskCache, build_attributes
from retrieval_service.settings import DEFAULT_EF_SEARCH, DEFAULT_NPROBE, RetrievalSettings

log = logging.getLogger("retrieval.index")

GATHER_FRACTION = 1 / 8  # below this share of rows, gathering the allowed rows beats a full mat-vec
# OpenBLAS's sgemm with few rows is slower than that many mat-vecs (single-threaded, 9,741 × 384 float32:
# 3 queries 1.93 ms as one product vs 0.43 ms as three; 8: 1.90 vs 1.21; 32: 3.25 vs 4.82).
GEMM_MIN_QUERIES = 16
WIDEN_STEPS = 3  # approximate attempts (×4 efSearch/nprobe each) before exact scoring
EXACT_ALIASES = ("exact", "ip", "flatip", "indexflatip")
LOSSY_REFINE_FACTOR = 10  # candidates fetched per hit from a lossy (PQ/SQ) index before exact re-scoring


SEARCH_PATHS = prometheus_client.Counter(
    "movierec_retrieval_search_path_total",
    "Searches by the path that answered them (exact_all, exact_gather, exact_masked, faiss, faiss_selector, "
    "faiss_widened, exact_fallback, empty).", ("path",))
_PATH = {name: SEARCH_PATHS.labels(name) for name in (
    "exact_all", "exact_gather", "exact_masked", "faiss", "faiss_selector", "faiss_widened", "exact_fallback",
    "empty")}


class IndexLoadError(Exception):
    """An index version cannot be served (missing, corrupted, mismatched, or its catalog is absent)."""


@dataclass
class Allowed:
    """The rows a request's filter admits."""

    mask: np.ndarray  # bool (N,), read-only
    count: int
    flags_unknown_runtime: bool  # the filter admitted unknown runtimes (lenient runtime limit)
    _rows: np.ndarray | None = field(default=None, repr=False)
    _bitmap: np.ndarray | None = field(default=None, repr=False)

    @property
    def rows(self) -> np.ndarray:
        if self._rows is None:
            self._rows = np.flatnonzero(self.mask)
        return self._rows

    def selector(self) -> tuple[faiss.IDSelector, np.ndarray]:
        """A FAISS bitmap selector over the mask (keep the returned array alive during the search)."""
        if self._bitmap is None:
            self._bitmap = np.packbits(self.mask, bitorder="little")
        return faiss.IDSelectorBitmap(len(self.mask), faiss.swig_ptr(self._bitmap)), self._bitmap


@dataclass(frozen=True)
class Hits:
    rows: np.ndarray  # int64 index rows, best first
    scores: np.ndarray  # float32 inner products


EMPTY_HITS = Hits(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest scores, best first (ties by position, so results are stable)."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    part.sort()
    return part[np.argsort(-scores[part], kind="stable")]


def index_family(index: faiss.Index) -> str:
    if isinstance(index, faiss.IndexFlat):
        return "flat"
    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(index, faiss.IndexIVF):
        return "ivf"
    raise IndexLoadError(f"unsupported FAISS index type {type(index).__name__}")


def is_lossy(index: faiss.Index) -> bool:
    """True when the index stores compressed codes, so its distances are approximations."""
    return not isinstance(index, faiss.IndexFlat | faiss.IndexHNSWFlat | faiss.IndexIVFFlat)


def build_faiss_index(vectors: np.ndarray, kind: str, *, hnsw_m: int = 32, ef_construction: int = 200,
                      nlist: int | None = None, pq_m: int | None = None) -> faiss.Index:
    """An inner-product index of ``kind`` (flat / hnsw / ivf / ivfpq) over ``vectors``."""
    count, dim = vectors.shape
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
    elif kind in ("ivf", "ivfpq"):
        nlist = nlist or max(1, min(4 * int(math.sqrt(count)), count // 39))
        quantizer = faiss.IndexFlatIP(dim)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m or dim // 8, 8, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
    else:
        raise ValueError(f"unknown index kind {kind!r} (flat, hnsw, ivf, ivfpq)")
    index.add(vectors)
    return index


class LoadedIndex:
    """An immutable, fully loaded index version. Requests hold a reference for their whole life,
    so a hot swap never changes the object a request is using."""

    def __init__(self, artifact: IndexArtifact, index: faiss.Index, attributes: FilterColumns,
                 catalog_version: str, settings: RetrievalSettings):
        self.artifact = artifact
        self.path = artifact.path
        self.manifest = artifact.manifest
        self.version = artifact.version
        self.movie_ids = artifact.movie_ids
        self.vectors = artifact.vectors
        self.dim = artifact.dim
        self.count = len(artifact.movie_ids)
        self.index = index
        self.kind = index_family(index)
        self.exact = self.kind == "flat"
        self.attributes = attributes
        self.catalog_version = catalog_version
        self.settings = settings
        self.masks = MaskCache(attributes)
        self._every_row = np.ones(self.count, dtype=bool)
        self._every_row.setflags(write=False)
        self._refine = settings.refine_factor or (LOSSY_REFINE_FACTOR if is_lossy(index) else 1)
        # Gathering rows costs ~0.3 µs each at scale (random reads), so the exact path is capped in
        # absolute rows too: at 1M movies, 50k admitted rows (5%) go through FAISS, 5k are scored.
        self._exact_limit = max(1, min(int(settings.exact_fraction * self.count), settings.exact_max_rows))
        self._nlist = faiss.extract_index_ivf(index).nlist if self.kind == "ivf" else 0
        params = self.manifest.get("index_params") or {}
        # Precedence: the environment, then the parameters the index job chose, then defaults.
        self.ef_search = int(settings.hnsw_ef_search or params.get("ef_search") or DEFAULT_EF_SEARCH)
        self.nprobe = min(int(settings.ivf_nprobe or params.get("nprobe") or DEFAULT_NPROBE), self._nlist or 1)
        if self.kind == "hnsw":
            index.hnsw.efSearch = self.ef_search
        elif self.kind == "ivf":
            faiss.extract_index_ivf(index).nprobe = self.nprobe

    @property
    def signature(self) -> tuple:
        """What makes two loads the same version: the version name and its files' checksums."""
        return signature_of(self.manifest)

    def row_of(self, movie_id: int) -> int | None:
        row = int(self.attributes.lookup(np.array([movie_id]))[0])
        return row if row >= 0 else None

    # ---- filters -----------------------------------------------------------------------------

    def allowed(self, spec: Filter) -> Allowed | None:
        """The rows a filter admits, or None when it admits every row."""
        attributes_only = spec.attribute_part
        if attributes_only.is_empty:
            mask, count = self._every_row, self.count
        else:
            mask, count = self.masks.get(attributes_only)
        if spec.only_movie_ids:
            allow = np.zeros(self.count, dtype=bool)
            allow[self.attributes.rows_of(spec.only_movie_ids)] = True
            mask = mask & allow
            count = int(np.count_nonzero(mask))
        if spec.exclude_movie_ids:
            rows = np.unique(self.attributes.rows_of(spec.exclude_movie_ids))
            rows = rows[mask[rows]]
            if len(rows):
                mask = mask.copy()
                mask[rows] = False
                count -= len(rows)
        if count == self.count and not spec.admits_unknown_runtime:
            return None  # the filter removes nothing: take the unfiltered path
        return Allowed(mask, count, spec.admits_unknown_runtime)

    def runtime_unknown(self, rows: np.ndarray, allowed: Allowed | None) -> np.ndarray | None:
        """Per hit, whether it passed a runtime limit only because its runtime is unknown."""
        if allowed is None or not allowed.flags_unknown_runtime:
            return None
        return self.attributes.runtime_min[rows] == UNKNOWN

    # ---- search -------------------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int, allowed: Allowed | None) -> Hits:
        """The min(k, allowed rows) rows with the largest inner product with ``query``."""
        if allowed is None:
            if self.exact:
                return self._exact_all(query, k)
            return self._approximate(query, k, None) or self._fallback(self._exact_all, query, k)
        if allowed.count == 0:
            _PATH["empty"].inc()
            return EMPTY_HITS
        if self.exact or allowed.count <= self._exact_limit:
            return self._exact_allowed(query, k, allowed)
        return self._approximate(query, k, allowed) or self._fallback(self._exact_allowed, query, k, allowed)

    @staticmethod
    def _fallback(exact, *args) -> Hits:
        _PATH["exact_fallback"].inc()
        return exact(*args)

    def search_many(self, queries: np.ndarray, ks: list[int], alloweds: list[Allowed | None]) -> list[Hits]:
        """Several searches; the unfiltered ones share one matrix product (exact) or FAISS call."""
        results: list[Hits | None] = [None] * len(ks)
        plain = [i for i, allowed in enumerate(alloweds) if allowed is None]
        if self.exact:
            self._exact_full_scans(queries, ks, alloweds, results)
        elif len(plain) > 1:
            fetch = min(max(ks[i] for i in plain) * self._refine, self.count)
            _, ids = self.index.search(queries[plain], fetch, params=self._params(fetch, 1, None))
            for position, i in enumerate(plain):
                rows = ids[position][ids[position] >= 0]
                k = min(ks[i], self.count)
                if len(rows) >= k:  # else the single-query path below widens
                    _PATH["faiss"].inc()
                    scores = self.vectors[rows] @ queries[i]
                    top = top_k(scores, k)
                    results[i] = Hits(rows[top], scores[top])
        for i, hits in enumerate(results):
            if hits is None:
                results[i] = self.search(queries[i], ks[i], alloweds[i])
        return results  # type: ignore[return-value]

    def _exact_full_scans(self, queries: np.ndarray, ks: list[int], alloweds: list[Allowed | None],
                          results: list[Hits | None]) -> None:
        """From GEMM_MIN_QUERIES on, the exact searches that score every row (unfiltered, or a mask too
        wide to gather) share one matrix product; fewer go one mat-vec each (``search``)."""
        full = [i for i, allowed in enumerate(alloweds)
                if allowed is None or allowed.count > GATHER_FRACTION * self.count]
        if len(full) < GEMM_MIN_QUERIES:
            return
        scores = queries[full] @ self.vectors.T
        for position, i in enumerate(full):
            row_scores, allowed = scores[position], alloweds[i]
            if allowed is None:
                _PATH["exact_all"].inc()
                k = min(ks[i], self.count)
            else:
                _PATH["exact_masked"].inc()
                np.copyto(row_scores, np.float32(-np.inf), where=~allowed.mask)
                k = min(ks[i], allowed.count)
            top = top_k(row_scores, k)
            results[i] = Hits(top.astype(np.int64), row_scores[top])

    def _exact_all(self, query: np.ndarray, k: int) -> Hits:
        _PATH["exact_all"].inc()
        scores = self.vectors @ query
        top = top_k(scores, min(k, self.count))
        return Hits(top.astype(np.int64), scores[top])

    def _exact_allowed(self, query: np.ndarray, k: int, allowed: Allowed) -> Hits:
        k = min(k, allowed.count)
        if allowed.count <= GATHER_FRACTION * self.count:
            _PATH["exact_gather"].inc()
            rows = allowed.rows
            scores = np.take(self.vectors, rows, axis=0) @ query  # take: faster than fancy indexing
            top = top_k(scores, k)
            return Hits(rows[top], scores[top])
        _PATH["exact_masked"].inc()
        scores = self.vectors @ query
        np.copyto(scores, np.float32(-np.inf), where=~allowed.mask)
        top = top_k(scores, k)
        return Hits(top.astype(np.int64), scores[top])

    def _approximate(self, query: np.ndarray, k: int, allowed: Allowed | None) -> Hits | None:
        """FAISS search, widening efSearch/nprobe; None when it cannot find k admitted rows."""
        available = allowed.count if allowed is not None else self.count
        k = min(k, available)
        fetch = min(k * self._refine, available)
        selector, _keepalive = allowed.selector() if allowed is not None else (None, None)
        matrix = query.reshape(1, -1)
        for step in range(WIDEN_STEPS):
            params = self._params(fetch, 4 ** step, selector, available)
            _, ids = self.index.search(matrix, fetch, params=params)
            rows = ids[0][ids[0] >= 0]
            if len(rows) >= k:
                _PATH["faiss_widened" if step else "faiss" if selector is None else "faiss_selector"].inc()
                scores = self.vectors[rows] @ query  # exact inner products, also for PQ codes
                top = top_k(scores, k)
                return Hits(rows[top], scores[top])
            if self.kind == "ivf" and params.nprobe >= self._nlist:
                break
        return None

    def _params(self, fetch: int, widen: int, selector: faiss.IDSelector | None,
                available: int | None = None) -> faiss.SearchParameters:
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_search, fetch) * widen
        else:
            params = faiss.SearchParametersIVF()
            nprobe = self.nprobe
            if selector is not None and available:
                # Probe 1/f times the lists (f = admitted share), so the search sees as many admitted
                # vectors as an unfiltered one would (the non-admitted ones cost only a bitmap test),
                # and at least enough lists to expect twice the rows needed.
                nprobe = max(math.ceil(nprobe * self.count / available),
                             math.ceil(2 * fetch * self._nlist / available))
            params.nprobe = min(nprobe * widen, self._nlist)
        if selector is not None:
            params.sel = selector
        return params


def signature_of(manifest: dict) -> tuple:
    return manifest.get("version"), tuple(sorted((manifest.get("files") or {}).items()))


def read_manifest(path: Path) -> dict | None:
    try:
        return json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


class CatalogCache:
    """The catalog attributes last loaded, reused when a new index names the same catalog version."""

    def __init__(self) -> None:
        self._key: tuple[str, str] | None = None
        self._movies = None

    def movies(self, directory: Path, version: str):
        from movierec_catalog.catalog import load_catalog

        key = (str(directory), version)
        if key != self._key:
            self._movies = load_catalog(directory).movies
            self._key = key
        return self._movies


def resolve_catalog(manifest: dict, catalog_dir: Path) -> tuple[Path, str]:
    """The catalog directory holding the version the index was built from, and that version.

    Looks for ``catalog_dir/<catalog_version>`` first, then ``catalog_dir`` itself or its
    ``current``. An index naming a catalog version that cannot be found is refused: its rows
    would be filtered with another catalog's metadata.
    """
    from movierec_catalog.catalog import CatalogNotFoundError, resolve_catalog_dir

    wanted = manifest.get("catalog_version")
    if wanted and (catalog_dir / wanted / "manifest.json").is_file():
        return catalog_dir / wanted, wanted
    try:
        found = resolve_catalog_dir(catalog_dir)
    except CatalogNotFoundError as error:
        raise IndexLoadError(f"catalog for index {manifest.get('version')} not found: {error}") from None
    found_version = (read_manifest(found) or {}).get("version", "")
    if wanted and found_version != wanted:
        raise IndexLoadError(
            f"index {manifest.get('version')} was built from catalog {wanted}, but {catalog_dir}/{wanted} "
            f"does not exist and {found} holds catalog {found_version}; rebuild the index or "
            f"set RETRIEVAL_CATALOG_DIR")
    if not wanted:
        log.warning("index manifest names no catalog_version; filtering with the catalog at %s", found)
    return found, found_version


def load_index(path: Path, settings: RetrievalSettings, catalogs: CatalogCache | None = None) -> LoadedIndex:
    """Load, validate and prepare one index version (blocking: run it off the event loop)."""
    started = time.perf_counter()
    try:
        artifact = load_index_artifact(path, verify_checksums=settings.verify_checksums,
                                       expected_dim=settings.expected_dim)
    except ArtifactError as error:
        raise IndexLoadError(str(error)) from None
    except (OSError, ValueError, KeyError) as error:
        raise IndexLoadError(f"index artifact {path} is unreadable: {error}") from None
    index = _read_faiss(artifact, settings)
    catalog_path, catalog_version = resolve_catalog(artifact.manifest, settings.catalog_dir)
    try:
        movies = (catalogs or CatalogCache()).movies(catalog_path, catalog_version)
    except Exception as error:
        raise IndexLoadError(f"catalog at {catalog_path} is unreadable: {error}") from None
    attributes = build_attributes(movies, artifact.movie_ids)
    if attributes.missing_from_catalog:
        log.warning("index rows without catalog metadata (they fail every attribute filter)",
                    extra=log_fields(count=attributes.missing_from_catalog, version=artifact.version))
    loaded = LoadedIndex(artifact, index, attributes, catalog_version, settings)
    log.info("index loaded", extra=log_fields(version=loaded.version, kind=loaded.kind, count=loaded.count,
                                              dim=loaded.dim, catalog_version=catalog_version,
                                              load_s=round(time.perf_counter() - started, 3)))
    return loaded


def _read_faiss(artifact: IndexArtifact, settings: RetrievalSettings) -> faiss.Index:
    if settings.index_kind != "artifact":
        # Configured kind overrides the artifact's: built here from the verified vectors.
        return build_faiss_index(artifact.vectors, settings.index_kind)
    try:
        index = faiss.read_index(str(artifact.path / "index.faiss"))
    except RuntimeError as error:
        raise IndexLoadError(f"index artifact {artifact.path}: index.faiss is unreadable: {error}") from None
    declared = str(artifact.manifest.get("index_kind", "flat")).lower()
    family = index_family(index)
    if not declared.startswith(family) and not (family == "flat" and declared in EXACT_ALIASES):
        raise IndexLoadError(f"index artifact {artifact.path}: manifest says index_kind={declared!r} but "
                             f"index.faiss holds a {type(index).__name__}")
    if index.ntotal != len(artifact.movie_ids) or index.d != artifact.dim:
        raise IndexLoadError(f"index artifact {artifact.path}: index.faiss has {index.ntotal} × {index.d}, "
                             f"manifest says {len(artifact.movie_ids)} × {artifact.dim}")
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise IndexLoadError(f"index artifact {artifact.path}: index.faiss must use inner product")
    return index
