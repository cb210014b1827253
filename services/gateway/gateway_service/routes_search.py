"""POST /api/search: free-text search ("something cozy set in a small town") with matched keyphrases per movie.

The logic is :func:`gateway_service.keyphrase_search.keyphrase_search`; this module is the HTTP contract.
Unauthenticated like title search, so budgeted per client address (GATEWAY_SEARCH_RATE_LIMIT a minute).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import AfterValidator, Field, StringConstraints

from gateway_service.deps import ServicesDep
from gateway_service.guards import client_address
from gateway_service.keyphrase_search import keyphrase_search
from gateway_service.movies import summary
from gateway_service.schemas import ApiModel, ErrorBody, MovieId, MovieSummary, RequestModel
from movierec_catalog.filter import Filter

router = APIRouter(prefix="/api", tags=["search"])

Certification = Literal["G", "PG", "PG-13", "R", "NC-17"]
def _encodable(value: str) -> str:
    """JSON may carry lone surrogates and NULs that no gRPC string can: refuse them here (422), not as a
    503 from a tier that could never have read them."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


Genre = Annotated[str, StringConstraints(min_length=1, max_length=40), AfterValidator(_encodable)]
Language = Annotated[str, StringConstraints(min_length=2, max_length=3), AfterValidator(_encodable)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class SearchFilter(RequestModel):
    """The one hard Filter (libs/movierec_catalog/filter.py), in the API's spelling; unknown metadata never passes."""

    include_genres: Annotated[list[Genre], Field(default_factory=list, max_length=20)]
    exclude_genres: Annotated[list[Genre], Field(default_factory=list, max_length=20)]
    min_year: Annotated[int, Field(ge=1870, le=2100)] | None = None
    max_year: Annotated[int, Field(ge=1870, le=2100)] | None = None
    min_runtime_min: Annotated[int, Field(ge=1, le=1000)] | None = None
    max_runtime_min: Annotated[int, Field(ge=1, le=1000)] | None = None
    lenient_runtime: bool = False
    min_certification: Certification | None = None
    max_certification: Certification | None = None
    use_certification_estimates: bool = False
    original_language: Language | None = None
    exclude_movies: Annotated[list[MovieId], Field(default_factory=list, max_length=500)]

    def to_filter(self) -> Filter:
        return Filter(include_genres=self.include_genres, exclude_genres=self.exclude_genres,
                      min_year=self.min_year, max_year=self.max_year, min_runtime_min=self.min_runtime_min,
                      max_runtime_min=self.max_runtime_min, lenient_runtime=self.lenient_runtime,
                      min_certification=self.min_certification, max_certification=self.max_certification,
                      use_certification_estimates=self.use_certification_estimates,
                      original_language=self.original_language, exclude_movie_ids=self.exclude_movies)


class SearchBody(RequestModel):
    query: Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(_not_blank),
                     AfterValidator(_encodable)]
    filter: SearchFilter | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 10


class KeyphraseMatchView(ApiModel):
    query_phrase: str
    phrase: str
    score: float
    source: str


class SearchMovie(MovieSummary):
    score: float
    # The movie's keyphrases that matched the query's ("cozy small town", "found family"), best first.
    matched_keyphrases: list[str]
    # Per query keyphrase, the movie's closest keyphrase (also the weak ones).
    matches: list[KeyphraseMatchView]
    runtime_unknown: bool = False


class SearchResponse(ApiModel):
    query: str
    request_type: Literal["mood", "other"]
    method: Literal["vector", "keyphrase", "hybrid"]
    query_keyphrases: list[str]
    keyphrase_version: str | None
    keyphrases_unavailable: str | None = None
    movies: list[SearchMovie]


@router.post("/search", response_model=SearchResponse,
             responses={code: {"model": ErrorBody} for code in (400, 422, 429, 503, 504)})
async def search(body: SearchBody, request: Request, services: ServicesDep) -> SearchResponse:
    """Movies for a free-text request, ranked by the method measured best for its type (reports/keyphrases.md),
    each with the keyphrases it matched. ``filter`` applies as everywhere (400 names an unknown genre)."""
    request.app.state.search_limiter.hit("search", client_address(request))
    hard = body.filter.to_filter() if body.filter is not None else Filter()
    result = await keyphrase_search(services, body.query.strip(), hard, body.limit)
    movies = []
    for found in result.movies:
        movie = services.catalog.get(found.movie_id)
        movies.append(SearchMovie(
            **summary(movie).model_dump(), score=round(found.score, 4), matched_keyphrases=found.matched_keyphrases,
            matches=[KeyphraseMatchView(query_phrase=m.query_phrase, phrase=m.phrase, score=round(m.score, 4),
                                        source=m.source) for m in found.matches],
            runtime_unknown=found.runtime_unknown))
    return SearchResponse(query=result.query, request_type=result.request_type, method=result.method,
                          query_keyphrases=result.query_keyphrases, keyphrase_version=result.keyphrase_version,
                          keyphrases_unavailable=result.keyphrases_unavailable, movies=movies)
