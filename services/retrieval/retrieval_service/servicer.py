"""RetrievalService RPC handlers: validate, build the allowed-row mask, search, answer.

Handlers stay lean on purpose (docs/architecture.md §6: Search p50 ≤ 1.5 ms over loopback): the query vector
comes straight from the repeated field with ``np.asarray``, filters are evaluated on precomputed
arrays, and each request reads the serving index once so a hot swap never changes it mid-call.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
from google.protobuf import timestamp_pb2

from movierec.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from movierec_catalog.filter import Filter
from movierec_core.errors import ServiceError, failed_precondition, invalid_argument, not_found, unavailable
from retrieval_service.filters import EMPTY, parse_filter
from retrieval_service.holder import IndexHolder
from retrieval_service.index import Allowed, Hits, IndexLoadError, LoadedIndex
from retrieval_service.keyphrases import KeyphraseHolder, LoadedKeyphrases
from retrieval_service.settings import RetrievalSettings

_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Problems:
    """Collects field violations so one INVALID_ARGUMENT names every bad field at once."""

    def __init__(self) -> None:
        self.violations: list[tuple[str, str]] = []

    def add(self, field: str, description: str) -> None:
        self.violations.append((field, description))

    def merge(self, error: ServiceError) -> None:
        self.violations.extend(error.field_violations or [("", error.message)])

    def raise_if_any(self) -> None:
        if self.violations:
            raise invalid_argument("; ".join(f"{f}: {d}" for f, d in self.violations),
                                   field_violations=self.violations)


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    def __init__(self, holder: IndexHolder, settings: RetrievalSettings, keyphrases: KeyphraseHolder | None = None):
        self.holder = holder
        self.settings = settings
        self.keyphrases = keyphrases

    # ---- RPCs -----------------------------------------------------------------------------

    async def Search(self, request, context):
        index = self._serving()
        problems = Problems()
        query = self._query(request.vector, index, "vector", problems)
        self._check_k(request.k, "k", problems)
        allowed = self._allowed(request, index, "filter", problems)
        problems.raise_if_any()
        hits = index.search(query, request.k, allowed)
        response = retrieval_pb2.SearchResponse(index_version=index.version)
        _fill_hits(response.hits, index, hits, allowed)
        return response

    async def SearchBatch(self, request, context):
        index = self._serving()
        problems = Problems()
        count = len(request.queries)
        if count == 0:
            problems.add("queries", "at least one query is required")
        elif count > self.settings.max_batch_queries:
            problems.add("queries", f"{count} queries exceed the limit of {self.settings.max_batch_queries}")
        problems.raise_if_any()
        queries = np.empty((count, index.dim), dtype=np.float32)
        alloweds: list[Allowed | None] = []
        for i, query in enumerate(request.queries):
            queries[i] = self._query(query.vector, index, f"queries[{i}].vector", problems)
            self._check_k(query.k, f"queries[{i}].k", problems)
            alloweds.append(self._allowed(query, index, f"queries[{i}].filter", problems))
        problems.raise_if_any()
        results = index.search_many(queries, [q.k for q in request.queries], alloweds)
        response = retrieval_pb2.SearchBatchResponse(index_version=index.version)
        for hits, allowed in zip(results, alloweds, strict=True):
            _fill_hits(response.results.add().hits, index, hits, allowed)
        return response

    async def MoreLikeThis(self, request, context):
        index = self._serving()
        problems = Problems()
        self._check_k(request.k, "k", problems)
        allowed = self._allowed(request, index, "filter", problems, also_exclude=request.movie_id)
        problems.raise_if_any()
        row = index.row_of(request.movie_id)
        if row is None:
            raise not_found(f"movie {request.movie_id} is not in index {index.version}",
                            field_violations=[("movie_id", f"unknown movie id {request.movie_id}")])
        hits = index.search(index.vectors[row], request.k, allowed)
        response = retrieval_pb2.MoreLikeThisResponse(index_version=index.version)
        _fill_hits(response.hits, index, hits, allowed)
        return response

    async def GetMovieVectors(self, request, context):
        index = self._serving()
        count = len(request.movie_ids)
        if count > self.settings.max_vector_ids:
            raise invalid_argument(f"{count} movie ids exceed the limit of {self.settings.max_vector_ids}",
                                   field_violations=[("movie_ids", f"at most {self.settings.max_vector_ids}")])
        response = retrieval_pb2.GetMovieVectorsResponse(index_version=index.version)
        movie_ids = np.asarray(request.movie_ids, dtype=np.int64)
        rows = index.attributes.lookup(movie_ids)
        known = rows >= 0
        response.movie_ids.extend(movie_ids[known].tolist())
        response.unknown_movie_ids.extend(movie_ids[~known].tolist())
        for vector in index.vectors[rows[known]]:
            response.vectors.add().values.extend(vector.tolist())
        return response

    async def GetIndexInfo(self, request, context):
        index = self._serving()
        response = retrieval_pb2.GetIndexInfoResponse(
            index_version=index.version, model=str(index.manifest.get("model", "")), dim=index.dim,
            count=index.count, index_kind=index.kind, catalog_version=index.catalog_version,
            max_k=self.settings.max_k, genres=index.attributes.genre_names,
            max_batch_queries=self.settings.max_batch_queries)
        created = _timestamp(index.manifest.get("created_at"))
        if created is not None:
            response.created_at.CopyFrom(created)
        return response

    async def ReloadIndex(self, request, context):
        version = request.index_version.strip()
        if version and not _VERSION_NAME.match(version):
            raise invalid_argument(f"index_version {version!r} is not a version directory name",
                                   field_violations=[("index_version", "letters, digits, '.', '_', '-' only")])
        try:
            loaded, swapped = await self.holder.reload(version or None)
        except IndexLoadError as error:
            serving = self.holder.current
            still = f"; still serving {serving.version}" if serving else ""
            raise failed_precondition(f"cannot load index {version or 'current'}: {error}{still}",
                                      reason="INDEX_LOAD_FAILED") from None
        return retrieval_pb2.ReloadIndexResponse(index_version=loaded.version, swapped=swapped)

    async def SearchKeyphrases(self, request, context):
        loaded = self._keyphrases()
        problems = Problems()
        count = len(request.phrases)
        if count == 0:
            problems.add("phrases", "at least one query keyphrase is required")
        elif count > self.settings.max_query_phrases:
            problems.add("phrases", f"{count} query keyphrases exceed the limit of {self.settings.max_query_phrases}")
        self._check_k(request.k, "k", problems)
        problems.raise_if_any()
        queries = np.empty((count, loaded.dim), dtype=np.float32)
        for i, phrase in enumerate(request.phrases):
            if not phrase.text.strip():
                problems.add(f"phrases[{i}].text", "must not be blank")
            vector = _checked_vector(phrase.vector, loaded.dim, f"keyphrase artifact {loaded.version}",
                                     f"phrases[{i}].vector", problems)
            if vector is not None:
                queries[i] = vector / np.linalg.norm(vector)
        spec = _filter_spec(request, loaded.attributes, "filter", problems)
        problems.raise_if_any()
        mask, lenient = loaded.allowed(spec) if spec is not None else (None, False)
        hits = loaded.search(queries, request.k, mask, self.settings.keyphrase_candidates)
        response = retrieval_pb2.SearchKeyphrasesResponse(keyphrase_version=loaded.version,
                                                          phrase_count=loaded.phrase_count, movie_count=loaded.count)
        unknown = loaded.runtime_unknown(hits.rows) if lenient else np.zeros(len(hits.rows), dtype=bool)
        texts = [p.text for p in request.phrases]
        for i, row in enumerate(hits.rows.tolist()):
            hit = response.hits.add(movie_id=int(loaded.movie_ids[row]), score=float(hits.scores[i]),
                                    runtime_unknown=bool(unknown[i]))
            for j, text in enumerate(texts):
                phrase, source = loaded.phrase_of_entry(int(hits.best_entries[i, j]))
                hit.matches.add(query_phrase=text, phrase=phrase, score=float(hits.best_scores[i, j]), source=source)
        return response

    # ---- validation ------------------------------------------------------------------------

    def _keyphrases(self) -> LoadedKeyphrases:
        loaded = self.keyphrases.current if self.keyphrases is not None else None
        if loaded is None:
            reason = self.keyphrases.not_ready_reason if self.keyphrases is not None else "keyphrase search is off"
            raise failed_precondition(f"keyphrase search is unavailable: {reason}", reason="NO_KEYPHRASES")
        return loaded

    def _serving(self) -> LoadedIndex:
        index = self.holder.current
        if index is None:
            raise unavailable(f"no index is loaded: {self.holder.not_ready_reason}", retry_after_s=1.0)
        return index

    def _query(self, values, index: LoadedIndex, field: str, problems: Problems) -> np.ndarray:
        query = _checked_vector(values, index.dim, f"index {index.version}", field, problems)
        return np.zeros(index.dim, dtype=np.float32) if query is None else query

    def _check_k(self, k: int, field: str, problems: Problems) -> None:
        if k <= 0:
            problems.add(field, f"k must be positive, got {k}")
        elif k > self.settings.max_k:
            problems.add(field, f"k={k} exceeds the limit of {self.settings.max_k}")

    def _allowed(self, request, index: LoadedIndex, field: str, problems: Problems,
                 also_exclude: int | None = None) -> Allowed | None:
        spec = _filter_spec(request, index.attributes, field, problems)
        if also_exclude is not None:
            spec = (spec or EMPTY).excluding([also_exclude])
        return None if spec is None else index.allowed(spec)


def _checked_vector(values, dim: int, served: str, field: str, problems: Problems) -> np.ndarray | None:
    """The query vector, or None with the violation recorded: wrong dimension, NaN/inf, all zeros."""
    vector = np.asarray(values, dtype=np.float32)
    if vector.shape != (dim,):
        problems.add(field, f"vector has {vector.size} dimensions, {served} has {dim}")
        return None
    # A finite vector whose norm overflows float32 is as unusable as an infinite one.
    if not np.isfinite(vector).all() or not np.isfinite(np.linalg.norm(vector)):
        problems.add(field, "vector contains NaN or infinite values")
        return None
    if not vector.any():
        problems.add(field, "vector is all zeros")
        return None
    return vector


def _filter_spec(request, attributes, field: str, problems: Problems) -> Filter | None:
    """The request's filter, parsed against the served columns; None when it has none (or it is invalid,
    with the violations recorded)."""
    if not request.HasField("filter") or request.filter.ByteSize() == 0:
        return None
    try:
        return parse_filter(request.filter, attributes, field)
    except ServiceError as error:
        problems.merge(error)
        return None


def _fill_hits(target, index: LoadedIndex, hits: Hits, allowed: Allowed | None) -> None:
    movie_ids = index.movie_ids[hits.rows].tolist()
    scores = hits.scores.tolist()
    unknown = index.runtime_unknown(hits.rows, allowed)
    if unknown is None:
        for movie_id, score in zip(movie_ids, scores, strict=True):
            target.add(movie_id=movie_id, score=score)
    else:
        for movie_id, score, flag in zip(movie_ids, scores, unknown.tolist(), strict=True):
            target.add(movie_id=movie_id, score=score, runtime_unknown=flag)


def _timestamp(value: object) -> timestamp_pb2.Timestamp | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp

