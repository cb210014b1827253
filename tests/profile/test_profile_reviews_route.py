"""`POST /api/reviews` (gateway router) against a real Redis broker: 202 + queued task, 422, 503."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import httpx
import pytest
import redis
from fastapi import FastAPI

from gateway_service.routes_reviews import router
from movierec_core.devstack import free_port


def gateway_app(redis_url: str) -> FastAPI:
    """The router mounted as the gateway mounts it; the route reads only ``settings.redis_url``."""
    app = FastAPI()
    app.state.settings = SimpleNamespace(redis_url=redis_url)
    app.include_router(router)
    return app


async def post(app: FastAPI, body: dict) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        return await client.post("/api/reviews", json=body)


async def test_a_valid_review_is_queued_for_the_profile_worker_and_answered_202(redis_url):
    response = await post(gateway_app(redis_url), {"userId": "ann", "movieId": 2571, "rating": 4.5,
                                                   "text": "  still great  "})
    assert response.status_code == 202
    event_id = response.json()["eventId"]
    queued = redis.Redis.from_url(redis_url).lrange("profile-events", 0, -1)
    assert len(queued) == 1
    message = json.loads(queued[0])
    assert message["headers"]["task"] == "profile.apply_review" and message["headers"]["id"] == event_id
    _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    event = kwargs["event"]
    assert (event["event_id"], event["user_id"], event["movie_id"], event["rating"], event["text"]) == \
        (event_id, "ann", 2571, 4.5, "still great")
    assert event["created_at_ms"] > 1_600_000_000_000


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"userId": "ann", "movieId": 2571, "rating": 7.3}, "rating", "less than or equal to 5"),
    ({"userId": "ann", "movieId": 2571, "rating": 4.3}, "rating", "half stars"),
    ({"userId": "ann", "movieId": 2571, "rating": 0}, "rating", "greater than or equal to 0.5"),
    ({"movieId": 2571, "rating": 4.0}, "userId", "Field required"),
    ({"userId": "a b", "movieId": 2571, "rating": 4.0}, "userId", "pattern"),
    ({"userId": "ann", "movieId": -3, "rating": 4.0}, "movieId", "greater than 0"),
    ({"userId": "ann", "movieId": 2571, "rating": 4.0, "stars": 5}, "stars", "Extra inputs"),
])
async def test_an_invalid_review_is_422_with_a_message_per_field_and_queues_nothing(redis_url, body, field, message):
    response = await post(gateway_app(redis_url), body)
    assert response.status_code == 422
    problems = {problem["loc"][-1]: problem["msg"] for problem in response.json()["detail"]}
    assert message in problems[field]
    assert redis.Redis.from_url(redis_url).llen("profile-events") == 0


async def test_a_review_is_503_when_the_queue_is_down():
    response = await post(gateway_app(f"redis://127.0.0.1:{free_port()}/0"),
                          {"userId": "ann", "movieId": 2571, "rating": 4.0})
    assert response.status_code == 503
    assert "review queue unavailable" in response.json()["detail"]
