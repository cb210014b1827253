"""Typed async client for the retrieval tier, for internal teams.

    async with RetrievalClient("dns:///retrieval:50052") as retrieval:
        result = await retrieval.search(vector, k=20, filter=SearchFilter(include_genres=("Comedy",),
                                                                          max_certification="PG-13"))
        for hit in result.hits:
            print(hit.movie_id, hit.score)

Every call carries a deadline (``timeout_s``, propagated from an enclosing request when there is
one) and is retried only on UNAVAILABLE (see :mod:`movierec_core.client`). A failed call raises
:class:`RetrievalError` with the status code, the message and the offending fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import grpc
import numpy as np

from movierec.common.v1 import common_pb2
from movierec.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from movierec_core.client import open_channel
from movierec_core.errors import describe_rpc_error

DEFAULT_TIMEOUT_S = 1.0
CERTIFICATIONS = ("G", "PG", "PG-13", "R", "NC-17")


class RetrievalError(Exception):
    """A retrieval call failed: its gRPC status code, message and field violations."""

    def __init__(self, code: grpc.StatusCode, message: str, field_violations: list[tuple[str, str]]):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.field_violations = field_violations


@dataclass(frozen=True)
class SearchFilter:
    """Hard constraints; every field optional. ``max_certification`` is "G" … "NC-17"."""

    exclude_movie_ids: Sequence[int] = ()
    include_genres: Sequence[str] = ()
    exclude_genres: Sequence[str] = ()
    min_year: int | None = None
    max_year: int | None = None
    max_runtime_min: int | None = None
    max_certification: str | None = None
    lenient_runtime: bool = False
    original_language: str | None = None

    def to_proto(self) -> common_pb2.Filter:
        message = common_pb2.Filter(exclude_movie_ids=list(self.exclude_movie_ids),
                                    include_genres=list(self.include_genres),
                                    exclude_genres=list(self.exclude_genres),
                                    lenient_runtime=self.lenient_runtime,
                                    original_language=self.original_language or "")
        for name in ("min_year", "max_year", "max_runtime_min"):
            value = getattr(self, name)
            if value is not None:
                setattr(message, name, value)
        if self.max_certification:
            message.max_certification = certification_value(self.max_certification)
        return message


def certification_value(name: str) -> int:
    """The proto enum value of "G" / "PG" / "PG-13" / "R" / "NC-17" (case-insensitive)."""
    normalised = name.strip().upper()
    if normalised not in CERTIFICATIONS:
        raise ValueError(f"unknown certification {name!r}; use one of {', '.join(CERTIFICATIONS)}")
    return CERTIFICATIONS.index(normalised) + 1


@dataclass(frozen=True)
class Hit:
    movie_id: int
    score: float
    runtime_unknown: bool = False


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    index_version: str

    @property
    def movie_ids(self) -> list[int]:
        return [hit.movie_id for hit in self.hits]


@dataclass(frozen=True)
class SearchQuery:
    """One query of :meth:`RetrievalClient.search_batch`."""

    vector: Sequence[float] | np.ndarray
    k: int = 20
    filter: SearchFilter | None = None


@dataclass(frozen=True)
class MovieVectors:
    vectors: dict[int, np.ndarray]  # known ids, in request order
    unknown_movie_ids: list[int]
    index_version: str


@dataclass(frozen=True)
class IndexInfo:
    index_version: str
    model: str
    dim: int
    count: int
    index_kind: str
    catalog_version: str
    created_at: datetime | None
    max_k: int
    max_batch_queries: int
    genres: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReloadResult:
    index_version: str
    swapped: bool


class RetrievalClient:
    """Async client of ``movierec.retrieval.v1.RetrievalService`` returning dataclasses."""

    def __init__(self, target: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 channel: grpc.aio.Channel | None = None):
        """``channel``, when given, should come from :func:`movierec_core.client.open_channel` (which
        puts the deadline on every call); ``timeout_s`` then is that channel's business."""
        self._own_channel = channel is None
        self._channel = channel or open_channel(target, default_timeout_s=timeout_s)
        self._stub = retrieval_pb2_grpc.RetrievalServiceStub(self._channel)

    async def __aenter__(self) -> RetrievalClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_channel:
            await self._channel.close()

    async def search(self, vector: Sequence[float] | np.ndarray, k: int = 20, *,
                     filter: SearchFilter | None = None, timeout_s: float | None = None) -> SearchResult:
        """The k catalog movies most similar to ``vector`` that pass ``filter``."""
        request = retrieval_pb2.SearchRequest(vector=_floats(vector), k=k)
        if filter is not None:
            request.filter.CopyFrom(filter.to_proto())
        response = await self._call("Search", request, timeout_s)
        return SearchResult(_hits(response.hits), response.index_version)

    async def search_batch(self, queries: Iterable[SearchQuery], *,
                           timeout_s: float | None = None) -> list[SearchResult]:
        """Several searches in one call; results in query order."""
        request = retrieval_pb2.SearchBatchRequest()
        for query in queries:
            message = request.queries.add(vector=_floats(query.vector), k=query.k)
            if query.filter is not None:
                message.filter.CopyFrom(query.filter.to_proto())
        response = await self._call("SearchBatch", request, timeout_s)
        return [SearchResult(_hits(result.hits), response.index_version) for result in response.results]

    async def more_like_this(self, movie_id: int, k: int = 20, *, filter: SearchFilter | None = None,
                             timeout_s: float | None = None) -> SearchResult:
        """The k movies most similar to a catalog movie, the movie itself excluded."""
        request = retrieval_pb2.MoreLikeThisRequest(movie_id=movie_id, k=k)
        if filter is not None:
            request.filter.CopyFrom(filter.to_proto())
        response = await self._call("MoreLikeThis", request, timeout_s)
        return SearchResult(_hits(response.hits), response.index_version)

    async def movie_vectors(self, movie_ids: Iterable[int], *, timeout_s: float | None = None) -> MovieVectors:
        """The stored (L2-normalized) vectors of catalog movies; unknown ids are listed apart."""
        request = retrieval_pb2.GetMovieVectorsRequest(movie_ids=list(movie_ids))
        response = await self._call("GetMovieVectors", request, timeout_s)
        vectors = {movie_id: np.asarray(vector.values, dtype=np.float32)
                   for movie_id, vector in zip(response.movie_ids, response.vectors, strict=True)}
        return MovieVectors(vectors, list(response.unknown_movie_ids), response.index_version)

    async def index_info(self, *, timeout_s: float | None = None) -> IndexInfo:
        response = await self._call("GetIndexInfo", retrieval_pb2.GetIndexInfoRequest(), timeout_s)
        created = response.created_at.ToDatetime() if response.HasField("created_at") else None
        return IndexInfo(response.index_version, response.model, response.dim, response.count,
                         response.index_kind, response.catalog_version, created, response.max_k,
                         response.max_batch_queries, list(response.genres))

    async def reload_index(self, index_version: str | None = None, *, admin_token: str | None = None,
                           timeout_s: float = 120.0) -> ReloadResult:
        """Load ``index_version`` (default: what ``current`` points at) and swap it in. Only the admin
        endpoint serves it (RETRIEVAL_ADMIN_PORT), to a caller presenting RETRIEVAL_ADMIN_TOKEN."""
        request = retrieval_pb2.ReloadIndexRequest(index_version=index_version or "")
        metadata = (("authorization", f"Bearer {admin_token}"),) if admin_token else None
        response = await self._call("ReloadIndex", request, timeout_s, metadata)
        return ReloadResult(response.index_version, response.swapped)

    async def _call(self, method: str, request, timeout_s: float | None, metadata=None):
        try:
            return await getattr(self._stub, method)(request, timeout=timeout_s, metadata=metadata)
        except grpc.RpcError as error:
            description = describe_rpc_error(error)
            raise RetrievalError(description.code, description.message, description.field_violations) from None


def _floats(vector: Sequence[float] | np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).ravel().tolist()


def _hits(messages) -> list[Hit]:
    return [Hit(hit.movie_id, hit.score, hit.runtime_unknown) for hit in messages]
