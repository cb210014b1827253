"""Per-user read models: the profile, watched movies and Taste Wrapped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path

from gateway_service.deps import CurrentUser, ServicesDep, ensure_owner
from gateway_service.errors import not_found
from gateway_service.recommend import load_user, record_watched
from gateway_service.schemas import ErrorBody, ProfileView, RatingView, TasteResponse, WatchedRequest, WatchedResponse
from gateway_service.taste import taste

router = APIRouter(prefix="/api/users", tags=["users"])

UserIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 422, 503, 504)}


def _timestamp(ts) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if ts.seconds or ts.nanos else None


@router.get("/{userId}/profile", response_model=ProfileView, responses=_ERRORS)
async def profile(userId: UserIdPath, user: CurrentUser,
                  services: ServicesDep) -> ProfileView:
    """The taste profile (404 NOT_ONBOARDED before onboarding); ``version`` grows with every applied event."""
    ensure_owner(user, userId)
    view = await load_user(services, userId)
    p = view.profile
    return ProfileView(
        user_id=userId, version=p.version, liked_movie_ids=list(p.liked_movie_ids), message_count=p.message_count,
        review_count=p.review_count, updated_at=_timestamp(p.updated_at), vector=list(p.vector),
        ratings=[RatingView(movie_id=r.movie_id, rating=r.rating, rated_at=_timestamp(r.rated_at)) for r in p.ratings])


@router.post("/{userId}/watched", response_model=WatchedResponse, responses=_ERRORS)
async def watched(userId: UserIdPath, body: WatchedRequest, user: CurrentUser,
                  services: ServicesDep) -> WatchedResponse:
    """Mark a movie watched: it is excluded from later recommendations and logged as a watch interaction."""
    ensure_owner(user, userId)
    if body.movie_id not in services.catalog:
        raise not_found(f"no movie with id {body.movie_id}")
    await record_watched(services, userId, body.movie_id)
    return WatchedResponse(movie_id=body.movie_id, watched=True)


@router.get("/{userId}/taste", response_model=TasteResponse, responses=_ERRORS)
async def taste_wrapped(userId: UserIdPath, user: CurrentUser,
                        services: ServicesDep) -> TasteResponse:
    """Genre radar (Affinity formula), a 2-D taste map and a short summary."""
    ensure_owner(user, userId)
    return await taste(services, userId)
