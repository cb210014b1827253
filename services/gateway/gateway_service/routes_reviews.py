"""`POST /api/reviews`: validate a review, enqueue it for the profile worker, answer 202 with its id.

The reviewer is the token's user; a body ``userId``, when sent, must be that user (403 otherwise),
and ``user_id`` is not a field at all (422), so no spelling can act for someone else.
Reviews of movies the catalog does not know are 404, reviews by users without a taste profile 409:
rejected here, not accepted and dead-lettered by the worker later.

``Idempotency-Key`` (1–128 visible characters) makes a retry safe: the event id is derived from
(user, key), so a retried request answers the same ``eventId`` and the worker, idempotent by event
id, applies it once; the same key with a different review is 409.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Annotated

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway_service.deps import CurrentUser, ServicesDep, call, ensure_owner
from gateway_service.errors import ApiError, not_found, unavailable
from gateway_service.events import PublishError
from gateway_service.guards import write_budget
from gateway_service.schemas import ErrorBody
from movierec.profile.v1 import profile_pb2
from movierec_core.logs import log_fields

log = logging.getLogger("movierec.gateway.reviews")

router = APIRouter(tags=["reviews"], dependencies=[write_budget("review")])

IDEMPOTENCY_KEY = "movierec:gw:idem:review:{user_id}:{key}"
IDEMPOTENCY_TTL_S = 24 * 3600
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128,
                                              pattern=r"^[\x21-\x7e]+$")]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str | None = Field(None, alias="userId", min_length=1, max_length=128, pattern=r"^\S+$",
                                description="Optional; when sent it must be the token's user.")
    movie_id: int = Field(alias="movieId", gt=0, description="MovieLens movie id.")
    rating: float = Field(ge=0.5, le=5.0, description="0.5 to 5.0 in half stars.")
    text: str = Field("", max_length=4000, description="Optional review text.")

    @field_validator("rating")
    @classmethod
    def half_stars(cls, rating: float) -> float:
        if not float(rating * 2).is_integer():
            raise ValueError("rating must be in half stars (0.5, 1.0, …, 5.0)")
        return rating


class ReviewAccepted(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    event_id: str = Field(alias="eventId", description="Id of the queued event; applying it is idempotent.")


@router.post("/api/reviews", status_code=202, response_model=ReviewAccepted, response_model_by_alias=True,
             responses={code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422, 429, 503)})
async def post_review(review: ReviewIn, user: CurrentUser, services: ServicesDep,
                      idempotency_key: IdempotencyKey = None) -> ReviewAccepted:
    """Queue a review; the profile worker stores it and moves the taste vector (≥ 4.0 toward the
    movie, ≤ 2.5 away from it). 202: the event is in Redis and will be applied exactly once; it is on
    disk under `appendfsync always` (dev), within ~1 s under `everysec` (prod; gateway README)."""
    if review.user_id is not None:
        ensure_owner(user, review.user_id)
    if review.movie_id not in services.catalog:
        raise not_found(f"no movie with id {review.movie_id}", code="UNKNOWN_MOVIE")
    await _ensure_onboarded(services, user.user_id)
    event_id = await _event_id(services, user.user_id, review, idempotency_key)
    try:
        event_id = await services.publisher.publish_review(user_id=user.user_id, movie_id=review.movie_id,
                                                           rating=review.rating, text=review.text,
                                                           event_id=event_id)
    except PublishError as error:
        # The broker's host and port stay in the log, not in the answer.
        log.error("review not queued", extra=log_fields(error=str(error)))
        raise unavailable("the review queue is unavailable; nothing was saved, try again shortly") from None
    return ReviewAccepted(event_id=event_id)


async def _ensure_onboarded(services, user_id: str) -> None:
    try:
        await call("profile", services.profile.GetProfile, profile_pb2.GetProfileRequest(user_id=user_id))
    except ApiError as error:
        if error.status == 404:
            raise ApiError(409, "NOT_ONBOARDED", "rate movies after you have a taste profile: pick a few "
                                                 "movies first (POST /api/embeddings/generate) or chat") from None
        raise


async def _event_id(services, user_id: str, review: ReviewIn, key: str | None) -> str | None:
    """The event id for this request: derived from (user, key) with a key, else None (a new one)."""
    if key is None:
        return None
    fingerprint = hashlib.sha256(json.dumps(
        [review.movie_id, review.rating, review.text], separators=(",", ":")).encode()).hexdigest()
    event_id = hashlib.sha256(f"{user_id}\n{key}".encode()).hexdigest()[:32]
    stored_key = IDEMPOTENCY_KEY.format(user_id=user_id, key=hashlib.sha256(key.encode()).hexdigest()[:32])
    first = await services.redis.set(stored_key, fingerprint, nx=True, ex=IDEMPOTENCY_TTL_S)
    if not first:
        previous = await services.redis.get(stored_key)
        if previous is not None and (previous.decode() if isinstance(previous, bytes) else previous) != fingerprint:
            raise ApiError(409, "IDEMPOTENCY_KEY_REUSED",
                           "this Idempotency-Key was used for a different review; send a new key")
    return event_id
