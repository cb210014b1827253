"""Multi-vector keyphrase search (SearchKeyphrases): the keyphrase artifact, its max-sim search and its holder.

A movie's score for a query is ``mean_j max_p cos(q_j, p)``: for each of the query's own keyphrases q_j, the
best cosine among the movie's keyphrases p, averaged over the query's phrases (services/retrieval/README.md,
"Keyphrase search"). Two stages:

1. a FAISS inner-product search over every unique phrase vector finds each query phrase's ``M`` nearest
   phrases (default ``RETRIEVAL_KEYPHRASE_CANDIDATES`` = 256); the movies owning any of them, that pass the
   filter, are the candidates;
2. each candidate is scored exactly over all of its phrases.

A movie owning none of the ``M`` phrases of q_j scores at most ``t_j`` (the M-th similarity) on it, so when the
k-th candidate's score is at least ``mean_j t_j`` no other movie can beat it and the answer is exact; otherwise
``M`` widens ×4 until it is (at ``M`` = every phrase the search is exhaustive). The answer is therefore always
the exact max-sim top k.

``RETRIEVAL_KEYPHRASE_SEARCH=auto`` (the default) skips stage 1 while the artifact has at most
:data:`EXHAUSTIVE_MAX_PHRASES` phrases: one mat-mul of every phrase vector with the query phrases, gathered per
movie, is faster there than FAISS's top-M selection (31k phrases, 3–5 query phrases: ~17 ms against 30–50 ms;
services/retrieval/README.md, "Keyphrase search"). Both paths give the same exact answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import prometheus_client

from movierec_core.index_artifact import ArtifactError
from movierec_core.keyphrase_artifact import KeyphraseArtifact, load_keyphrase_artifact
from movierec_core.logs import log_fields
from retrieval_service.filters import UNKNOWN, Filter, FilterColumns, MaskCache, build_attributes
from retrieval_service.holder import fingerprint
from retrieval_service.index import CatalogCache, IndexLoadError, resolve_catalog, top_k

log = logging.getLogger("retrieval.keyphrases")
WIDEN = 4
EXHAUSTIVE_MAX_PHRASES = 100_000
SEARCH_MODES = ("auto", "faiss", "exhaustive")
KEYPHRASE_PATHS = prometheus_client.Counter(
    "movierec_retrieval_keyphrase_search_total",
    "Keyphrase searches by path: exhaustive (one mat-mul), 0 (a selective filter, scored directly) or the FAISS "
    "rounds taken (1 = the first candidate set was provably exact).",
    ("rounds",))


@dataclass(frozen=True)
class KeyphraseHits:
    rows: np.ndarray  # movie rows of the artifact, best first
    scores: np.ndarray  # float32 mean max-sim
    best_entries: np.ndarray  # int64 (len(rows), n query phrases): the entry of each movie's best phrase
    best_scores: np.ndarray  # float32 (len(rows), n query phrases)
    rounds: int


class LoadedKeyphrases:
    """One immutable keyphrase artifact version, ready to search."""

    def __init__(self, artifact: KeyphraseArtifact, index: faiss.Index | None, attributes: FilterColumns,
                 catalog_version: str):
        self.artifact = artifact
        self.version = artifact.version
        self.path = artifact.path
        self.dim = artifact.dim
        self.vectors = artifact.phrase_vectors
        self.movie_ids = artifact.movie_ids
        self.index = index
        self.attributes = attributes
        self.catalog_version = catalog_version
        self.masks = MaskCache(attributes)
        self.count = len(artifact.movie_ids)
        self.phrase_count = len(artifact.phrases)
        self.sources = list(artifact.manifest.get("sources") or [])
        counts = np.diff(artifact.offsets)
        self.has_phrases = counts > 0
        self.entry_movie = np.repeat(np.arange(self.count, dtype=np.int64), counts)
        # phrase → owning movie rows (CSR), for turning nearest phrases into candidate movies.
        order = np.argsort(artifact.entry_phrase, kind="stable")
        self.owner_rows = self.entry_movie[order]
        self.owner_offsets = np.searchsorted(artifact.entry_phrase[order], np.arange(self.phrase_count + 1))

    # ---- filters --------------------------------------------------------------------------------

    def allowed(self, spec: Filter) -> tuple[np.ndarray | None, bool]:
        """(mask over the movie rows or None for every row, whether unknown runtimes were admitted)."""
        attributes = spec.attribute_part
        mask = None if attributes.is_empty else self.masks.get(attributes)[0]
        if spec.only_movie_ids:
            allow = np.zeros(self.count, dtype=bool)
            allow[self.attributes.rows_of(spec.only_movie_ids)] = True
            mask = allow if mask is None else mask & allow
        if spec.exclude_movie_ids:
            rows = self.attributes.rows_of(spec.exclude_movie_ids)
            if len(rows):
                mask = np.ones(self.count, dtype=bool) if mask is None else mask.copy()
                mask[rows] = False
        return mask, spec.admits_unknown_runtime

    def runtime_unknown(self, rows: np.ndarray) -> np.ndarray:
        return self.attributes.runtime_min[rows] == UNKNOWN

    # ---- search -----------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, mask: np.ndarray | None, candidates: int) -> KeyphraseHits:
        """The exact max-sim top ``k`` movies (that ``mask`` admits) for the L2-normalized ``queries`` (n × dim).

        Exhaustive when the FAISS index was not loaded (:func:`uses_faiss`), else the two-stage search."""
        if self.index is None:
            rows = np.flatnonzero(self.has_phrases if mask is None else self.has_phrases & mask)
            hits = self._score(queries, rows, k, self.vectors @ queries.T)
            KEYPHRASE_PATHS.labels("exhaustive").inc()
            return KeyphraseHits(*hits, rounds=0)
        if mask is not None and np.count_nonzero(mask) <= max(candidates, k):
            # A selective filter (e.g. "these 50 movies"): score every admitted movie directly.
            hits = self._score(queries, np.flatnonzero(mask & self.has_phrases), k)
            KEYPHRASE_PATHS.labels("0").inc()
            return KeyphraseHits(*hits, rounds=0)
        fetch = min(max(1, candidates), self.phrase_count)
        rounds = 0
        while True:
            rounds += 1
            scores, ids = self.index.search(queries, fetch)
            exhaustive = fetch >= self.phrase_count
            cand = np.zeros(self.count, dtype=bool)
            phrases = np.unique(ids[ids >= 0])
            starts = self.owner_offsets[phrases]
            cand[self.owner_rows[_ranges(starts, self.owner_offsets[phrases + 1] - starts)]] = True
            if mask is not None:
                cand &= mask
            hits = self._score(queries, np.flatnonzero(cand), k)
            bound = -np.inf if exhaustive else float(scores[:, -1].mean())
            if exhaustive or (len(hits[0]) >= k and hits[1][-1] >= bound):
                KEYPHRASE_PATHS.labels(str(min(rounds, 4))).inc()
                return KeyphraseHits(*hits, rounds=rounds)
            fetch = min(fetch * WIDEN, self.phrase_count)

    def _score(self, queries: np.ndarray, rows: np.ndarray, k: int, phrase_sims: np.ndarray | None = None):
        empty = (np.empty(0, np.int64), np.empty(0, np.float32), np.empty((0, len(queries)), np.int64),
                 np.empty((0, len(queries)), np.float32))
        if not len(rows):
            return empty
        offsets = self.artifact.offsets
        starts, ends = offsets[rows], offsets[rows + 1]
        lengths = ends - starts
        entries = _ranges(starts, lengths)
        phrases = self.artifact.entry_phrase[entries]
        sims = phrase_sims[phrases] if phrase_sims is not None else self.vectors[phrases] @ queries.T  # (entries, n)
        seg = np.cumsum(lengths) - lengths
        best = np.maximum.reduceat(sims, seg, axis=0)  # (rows, n)
        movie_scores = best.mean(axis=1)
        top = top_k(movie_scores, min(k, len(rows)))
        # The entry of each chosen movie's best phrase per query phrase.
        best_entries = np.empty((len(top), len(queries)), dtype=np.int64)
        for i, position in enumerate(top):
            block = sims[seg[position]:seg[position] + lengths[position]]
            best_entries[i] = entries[seg[position] + block.argmax(axis=0)]
        return rows[top], movie_scores[top].astype(np.float32), best_entries, best[top].astype(np.float32)

    def phrase_of_entry(self, entry: int) -> tuple[str, str]:
        phrase = self.artifact.phrases[int(self.artifact.entry_phrase[entry])]
        code = int(self.artifact.entry_source[entry])
        return phrase, self.sources[code] if code < len(self.sources) else str(code)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, s + n)`` for each (s, n), vectorised."""
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)


def uses_faiss(mode: str, phrase_count: int) -> bool:
    """``RETRIEVAL_KEYPHRASE_SEARCH``: ``faiss``, ``exhaustive``, or ``auto`` (FAISS above EXHAUSTIVE_MAX_PHRASES)."""
    return mode == "faiss" or (mode == "auto" and phrase_count > EXHAUSTIVE_MAX_PHRASES)


def load_keyphrases(path: Path, catalog_dir: Path, *, verify_checksums: bool = True,
                    catalogs: CatalogCache | None = None, mode: str = "auto") -> LoadedKeyphrases:
    """Load and prepare a keyphrase artifact (blocking). Raises IndexLoadError with the reason.

    ``index.faiss`` is read only when the search will use it (an exhaustive search needs only the vectors, and
    the flat index would hold a second copy of them in memory)."""
    started = time.perf_counter()
    try:
        artifact = load_keyphrase_artifact(path, verify_checksums=verify_checksums)
        faiss_path = uses_faiss(mode, len(artifact.phrases))
        index = faiss.read_index(str(artifact.path / "index.faiss")) if faiss_path else None
    except ArtifactError as error:
        raise IndexLoadError(str(error)) from None
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise IndexLoadError(f"keyphrase artifact {path} is unreadable: {error}") from None
    if index is not None and (index.ntotal != len(artifact.phrases) or index.d != artifact.dim
                              or index.metric_type != faiss.METRIC_INNER_PRODUCT):
        raise IndexLoadError(f"keyphrase artifact {artifact.path}: index.faiss ({index.ntotal} × {index.d}) does not "
                             f"match its {len(artifact.phrases)} phrases × {artifact.dim} inner-product vectors")
    catalog_path, catalog_version = resolve_catalog(artifact.manifest, catalog_dir)
    movies = (catalogs or CatalogCache()).movies(catalog_path, catalog_version)
    loaded = LoadedKeyphrases(artifact, index, build_attributes(movies, artifact.movie_ids), catalog_version)
    log.info("keyphrases loaded", extra=log_fields(version=loaded.version, movies=loaded.count,
                                                   phrases=loaded.phrase_count, faiss=index is not None,
                                                   load_s=round(time.perf_counter() - started, 3)))
    return loaded


class KeyphraseHolder:
    """The serving keyphrase artifact (optional: absent means SearchKeyphrases answers FAILED_PRECONDITION).

    Loaded after the index at start-up; a watcher swaps in a repointed ``current`` like the index holder does.
    """

    def __init__(self, path: Path | None, catalog_dir: Path, *, verify_checksums: bool = True,
                 watch_interval_s: float = 0.0, mode: str = "auto", catalogs: CatalogCache | None = None):
        self.path = path
        self.mode = mode
        self.catalog_dir = catalog_dir
        self.verify_checksums = verify_checksums
        self.watch_interval_s = watch_interval_s
        self.current: LoadedKeyphrases | None = None
        self.not_ready_reason = ("keyphrase search is off (RETRIEVAL_KEYPHRASE_DIR=off)" if path is None
                                 else "the keyphrase artifact is still loading")
        self._seen: tuple | None = None
        self._catalogs = catalogs or CatalogCache()  # the index holder's: one catalog in memory, not two
        self._watcher: asyncio.Task | None = None

    async def start(self) -> None:
        if self.path is None:
            return
        await self._load()
        if self.watch_interval_s > 0:
            self._watcher = asyncio.create_task(self._watch(), name="keyphrase-watcher")

    async def _load(self) -> None:
        self._seen = fingerprint(self.path)
        if not (Path(self.path) / "manifest.json").exists():
            self.not_ready_reason = (f"no keyphrase artifact at {self.path}: build it with `make keyphrases` "
                                     "(or point RETRIEVAL_KEYPHRASE_DIR at one)")
            return
        try:
            loaded = await asyncio.to_thread(load_keyphrases, Path(self.path), self.catalog_dir,
                                             verify_checksums=self.verify_checksums, catalogs=self._catalogs,
                                             mode=self.mode)
        except Exception as error:  # a bad artifact must never take the tier down: the other RPCs still serve
            reason = error if isinstance(error, IndexLoadError) else f"{type(error).__name__}: {error}"
            still = f"; still serving {self.current.version}" if self.current else ""
            self.not_ready_reason = f"keyphrase artifact at {self.path} cannot be loaded: {reason}{still}"
            log.error(self.not_ready_reason)
            return
        self.current = loaded

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.watch_interval_s)
            if fingerprint(self.path) != self._seen:
                await self._load()
