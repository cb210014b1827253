"""GET/POST/DELETE /api/users/{userId}/watchlist: movies saved for later, kept by the profile tier.

Watchlisted movies are kept out of recommendations (``UserView.seen``) and shown in their own row on
the home page. Ownership comes from the token, like every per-user route.
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Path

from gateway_service.deps import CurrentUser, ServicesDep, call, ensure_owner
from gateway_service.errors import not_found
from gateway_service.movies import summary
from gateway_service.routes_movies import MovieIdPath  # bounded like every movie id (an int64 beyond it is a 500)
from gateway_service.schemas import ErrorBody, WatchlistItem, WatchlistRequest, WatchlistResponse
from movierec.profile.v1 import profile_pb2

router = APIRouter(prefix="/api/users", tags=["watchlist"])

UserIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 422, 429, 503, 504)}


def _response(services, user_id: str, entries, changed: bool | None = None) -> WatchlistResponse:
    items = []
    for entry in entries:
        movie = services.catalog.get(entry.movie_id)
        if movie is not None:  # a movie dropped from a later catalog is not shown (and not lost)
            items.append(WatchlistItem(**summary(movie).model_dump(), added_at=entry.added_at.ToDatetime(tzinfo=UTC)))
    return WatchlistResponse(user_id=user_id, items=items, changed=changed)


@router.get("/{userId}/watchlist", response_model=WatchlistResponse, responses=_ERRORS)
async def get_watchlist(userId: UserIdPath, user: CurrentUser, services: ServicesDep) -> WatchlistResponse:
    """The saved movies, newest first."""
    ensure_owner(user, userId)
    response = await call("profile", services.profile.GetWatchlist, profile_pb2.GetWatchlistRequest(user_id=userId))
    return _response(services, userId, response.entries)


@router.post("/{userId}/watchlist", response_model=WatchlistResponse, responses=_ERRORS)
async def add_to_watchlist(userId: UserIdPath, body: WatchlistRequest, user: CurrentUser,
                           services: ServicesDep) -> WatchlistResponse:
    """Save a movie (idempotent: saving it again keeps its date; ``changed`` says whether it was new).
    409 WATCHLIST_FULL at the profile tier's limit."""
    ensure_owner(user, userId)
    if body.movie_id not in services.catalog:
        raise not_found(f"no movie with id {body.movie_id}")
    request = profile_pb2.AddToWatchlistRequest(user_id=userId, movie_id=body.movie_id)
    response = await call("profile", services.profile.AddToWatchlist, request)
    return _response(services, userId, response.entries, response.added)


@router.delete("/{userId}/watchlist/{movieId}", response_model=WatchlistResponse, responses=_ERRORS)
async def remove_from_watchlist(userId: UserIdPath, movieId: MovieIdPath, user: CurrentUser,
                                services: ServicesDep) -> WatchlistResponse:
    """Remove a movie (idempotent: ``changed`` is false when it was not on the list)."""
    ensure_owner(user, userId)
    request = profile_pb2.RemoveFromWatchlistRequest(user_id=userId, movie_id=movieId)
    response = await call("profile", services.profile.RemoveFromWatchlist, request)
    return _response(services, userId, response.entries, response.removed)
