"""`POST /api/reviews`: validate a review, enqueue it for the profile worker, answer 202 with its id."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway_service.events import PublishError, publish_review

router = APIRouter(tags=["reviews"])


class ReviewIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(alias="userId", min_length=1, max_length=128, pattern=r"^\S+$",
                         description="The reviewer (1–128 characters, no spaces).")
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
    model_config = ConfigDict(populate_by_name=True)

    event_id: str = Field(alias="eventId", description="Id of the queued event; applying it is idempotent.")


@router.post("/api/reviews", status_code=202, response_model=ReviewAccepted, response_model_by_alias=True,
             responses={422: {"description": "Invalid review (field messages in `detail`)"},
                        503: {"description": "The review queue (Redis) is unavailable; nothing was queued"}})
async def post_review(review: ReviewIn, request: Request) -> ReviewAccepted:
    """Queue a review; the profile worker stores it and, for ratings ≥ 4.0, moves the taste vector."""
    try:
        event_id = await publish_review(request.app.state.settings.redis_url, user_id=review.user_id,
                                        movie_id=review.movie_id, rating=review.rating, text=review.text)
    except PublishError as error:
        raise HTTPException(status_code=503, detail=str(error)) from None
    return ReviewAccepted(event_id=event_id)
