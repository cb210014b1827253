"""Catalog search for onboarding, movie details, placeholder posters and the vibe tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from gateway_service import movies
from gateway_service.deps import ServicesDep
from gateway_service.errors import bad_request, not_found
from gateway_service.guards import client_address
from gateway_service.schemas import MAX_ID, ErrorBody, MovieDetail, MovieSearchResponse, VibesResponse
from gateway_service.vibes import VIBES

router = APIRouter(prefix="/api", tags=["movies"])

MovieIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A MovieLens movie id")]


@router.get("/movies", response_model=MovieSearchResponse,
            responses={400: {"model": ErrorBody}, 422: {"model": ErrorBody}, 429: {"model": ErrorBody}})
async def search_movies(request: Request, services: ServicesDep,
                        query: Annotated[str, Query(max_length=200, description="Part of a title")],
                        limit: Annotated[int, Query(ge=1, le=50)] = 10) -> MovieSearchResponse:
    """Title search (case, accent and punctuation-insensitive; "matrix 1999" restricts to that year).
    Unauthenticated, so budgeted per client address (GATEWAY_SEARCH_RATE_LIMIT a minute, 429 beyond)."""
    request.app.state.search_limiter.hit("title search", client_address(request))
    if not query.strip():
        raise bad_request("query must not be empty", [("query", "must contain at least one character")])
    found = await services.extras["title_search"].search(query, limit)
    return MovieSearchResponse(query=query, movies=[movies.summary(m) for m in found])


@router.get("/movies/{movieId}", response_model=MovieDetail,
            responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
async def movie_detail(movieId: MovieIdPath,
                       services: ServicesDep) -> MovieDetail:
    movie = services.catalog.get(movieId)
    if movie is None:
        raise not_found(f"no movie with id {movieId}")
    return movies.detail(movie)


@router.get("/posters/{movieId}.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}, 404: {"model": ErrorBody}})
async def poster(movieId: MovieIdPath,
                 services: ServicesDep) -> Response:
    """A locally generated placeholder poster: title and year on a colour derived from the id."""
    movie = services.catalog.get(movieId)
    if movie is None:
        raise not_found(f"no movie with id {movieId}")
    return Response(movies.poster_svg(movie), media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/vibes", response_model=VibesResponse)
async def vibes() -> VibesResponse:
    """Vibe tags for onboarding; send their ids as ``vibes`` to /api/embeddings/generate."""
    return VibesResponse(vibes=list(VIBES))
