"""Abuse and ownership at the edge, against real gateway processes over the real tiers and Redis:
the acting user comes from the token, budgets answer 429, retries with an Idempotency-Key apply
once, oversized bodies are refused, errors carry no internals, and a Redis outage leaves the
gateway ready for what does not need Redis."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid

import httpx
import pytest
from gateway_helpers import GODFATHER, assert_error, dead_address, onboard, profile_version, signup, wait_for

from movierec_core.devstack import free_port

pytestmark = pytest.mark.slow

HOST_PORT = re.compile(r"127\.0\.0\.1:\d+|localhost:\d+|redis://")


def _user_routes(user_id: str) -> dict[str, dict]:
    """Every route whose body names the user, with an otherwise valid body."""
    return {
        "/api/recommendations": {"userId": user_id},
        "/api/embeddings/generate": {"userId": user_id, "movies": [GODFATHER]},
        "/api/chat": {"userId": user_id, "message": "a comedy"},
        "/api/reviews": {"userId": user_id, "movieId": GODFATHER, "rating": 4.0},
    }


def test_the_acting_user_comes_from_the_token_in_every_spelling(client):
    alice, bob = signup(client, "alice"), signup(client, "bob")
    onboard(client, alice)
    onboard(client, bob)
    bob_before = profile_version(client, bob)
    for route, body in _user_routes(bob.user_id).items():
        # camelCase naming someone else: 403; snake_case is not a field at all: 422 — never a way in.
        assert_error(client.post(route, headers=alice.headers, json=body), 403, "FORBIDDEN")
        snake = {("user_id" if k == "userId" else k): v for k, v in body.items()}
        problem = assert_error(client.post(route, headers=alice.headers, json=snake), 422)
        assert "user_id" in {f["field"].split(".")[-1] for f in problem["fields"]}, (route, problem)
    # A missing userId: a review acts for the token's user; the other routes say the field is required.
    missing = client.post("/api/reviews", headers=alice.headers, json={"movieId": GODFATHER, "rating": 4.0})
    assert missing.status_code == 202, missing.text
    for route, body in _user_routes(alice.user_id).items():
        if route != "/api/reviews":
            assert_error(client.post(route, headers=alice.headers, json={k: v for k, v in body.items()
                                                                          if k != "userId"}), 422)
    assert profile_version(client, bob) == bob_before  # nothing alice sent touched bob


def test_reviews_of_unknown_movies_or_users_without_a_profile_are_refused(client):
    fresh = signup(client, "fresh")
    assert_error(client.post("/api/reviews", headers=fresh.headers, json={"movieId": GODFATHER, "rating": 4.0}),
                 409, "NOT_ONBOARDED")
    onboard(client, fresh)
    assert_error(client.post("/api/reviews", headers=fresh.headers, json={"movieId": 99_999_999, "rating": 4.0}),
                 404, "UNKNOWN_MOVIE")


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"movieId": 2571, "rating": 7.3}, "rating", "less than or equal to 5"),
    ({"movieId": 2571, "rating": 4.3}, "rating", "half stars"),
    ({"movieId": 2571, "rating": 0}, "rating", "greater than or equal to 0.5"),
    ({"movieId": -3, "rating": 4.0}, "movieId", "greater than 0"),
    ({"movieId": 2571, "rating": 4.0, "stars": 5}, "stars", "Extra inputs"),
])
def test_an_invalid_review_is_422_with_a_message_per_field(client, body, field, words):
    user = signup(client, "badrev")
    problem = assert_error(client.post("/api/reviews", headers=user.headers, json=body), 422)
    messages = {f["field"].split(".")[-1]: f["message"] for f in problem["fields"]}
    assert words in messages[field], messages


def test_a_retried_review_with_the_same_key_applies_once(client):
    user = signup(client, "retry")
    onboard(client, user)
    before = profile_version(client, user)
    key = {"Idempotency-Key": f"rate-{uuid.uuid4().hex}"}
    body = {"movieId": 1, "rating": 5.0}
    first = client.post("/api/reviews", headers={**user.headers, **key}, json=body)
    second = client.post("/api/reviews", headers={**user.headers, **key}, json=body)
    assert first.status_code == second.status_code == 202
    assert first.json()["eventId"] == second.json()["eventId"]
    wait_for(lambda: profile_version(client, user) > before)
    # Another review (no key) is applied after the retried one; the version counts each event once.
    client.post("/api/reviews", headers=user.headers, json={"movieId": 2571, "rating": 4.0}).raise_for_status()
    wait_for(lambda: profile_version(client, user) >= before + 2)
    assert profile_version(client, user) == before + 2
    reused = client.post("/api/reviews", headers={**user.headers, **key}, json={"movieId": 1, "rating": 1.0})
    assert_error(reused, 409, "IDEMPOTENCY_KEY_REUSED")


TASTE_TURN = "something dark and gritty about revenge"


def _sse_events(text: str) -> dict[str, list]:
    events: dict[str, list] = {}
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.setdefault(lines["event"], []).append(json.loads(lines["data"]))
    return events


def test_a_retried_chat_turn_with_the_same_key_answers_once(client):
    user = signup(client, "chatretry")
    onboard(client, user)
    before = profile_version(client, user)
    key = {**user.headers, "Idempotency-Key": f"turn-{uuid.uuid4().hex}"}
    body = {"userId": user.user_id, "message": TASTE_TURN}
    first = client.post("/api/chat", headers=key, json=body)
    assert first.status_code == 200, first.text
    assert first.json()["tasteUpdated"] is True and "idempotent-replayed" not in first.headers
    second = client.post("/api/chat", headers=key, json=body)
    assert second.status_code == 200 and second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    # The stream route with the same key replays the same stored answer as its events.
    streamed = _sse_events(client.post("/api/chat/stream", headers=key, json=body).text)
    assert streamed["result"] == [first.json()]
    assert streamed["reply"] == [{"text": first.json()["reply"]}]
    assert [c["movieId"] for c in streamed["picks"][0]["recommendations"]] == \
        [c["movieId"] for c in first.json()["recommendations"]]
    assert profile_version(client, user) == before + 1  # one EMA step for three requests
    history = client.get(f"/api/chat/{first.json()['sessionId']}", headers=user.headers).json()
    assert [t["text"] for t in history["turns"] if t["role"] == "user"] == [TASTE_TURN]
    assert_error(client.post("/api/chat", headers=key, json={**body, "message": "a comedy"}), 409,
                 "IDEMPOTENCY_KEY_REUSED")
    # Without a key a retry is a new turn: it takes the taste step again (documented in routes_chat.py).
    for _ in range(2):
        client.post("/api/chat", headers=user.headers, json=body).raise_for_status()
    assert profile_version(client, user) == before + 3


def test_a_chat_turn_that_failed_after_its_taste_step_applies_it_once_when_retried(stack, start_gateway, client):
    user = signup(client, "chatfail")
    onboard(client, user)
    before = profile_version(client, user)
    key = {**user.headers, "Idempotency-Key": f"turn-{uuid.uuid4().hex}"}
    body = {"userId": user.user_id, "message": TASTE_TURN}
    broken = start_gateway(RETRIEVAL_ADDR=dead_address())  # the turn fails after the EMA step, at retrieval
    with httpx.Client(base_url=broken.url, timeout=30) as http:
        failed = http.post("/api/chat", headers=key, json=body)
    assert_error(failed, 503)
    assert profile_version(client, user) == before + 1
    retried = client.post("/api/chat", headers=key, json=body)  # the same key on a healthy replica
    assert retried.status_code == 200, retried.text
    assert "idempotent-replayed" not in retried.headers  # nothing was stored for the failed attempt
    assert retried.json()["tasteUpdated"] is False and retried.json()["recommendations"]
    assert profile_version(client, user) == before + 1  # the step of the failed attempt, not a second one


def test_budgets_answer_429_with_retry_after(stack, start_gateway):
    gateway = start_gateway(GATEWAY_WRITE_RATE_LIMIT="3", GATEWAY_WRITE_RATE_WINDOW_S="3600",
                            GATEWAY_SEARCH_RATE_LIMIT="4", GATEWAY_AUTH_IP_RATE_LIMIT="3",
                            GATEWAY_AUTH_RATE_WINDOW_S="3600")
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        searches = [http.get("/api/movies", params={"query": "godfather"}).status_code for _ in range(5)]
        assert searches == [200] * 4 + [429]
        # Distinct usernames from one address: the per-address budget stops the flood.
        signups = [http.post("/api/auth/signup", json={"username": f"flood_{uuid.uuid4().hex[:8]}",
                                                       "password": "correct horse battery"}) for _ in range(4)]
        assert [r.status_code for r in signups] == [201, 201, 201, 429]
        limited = assert_error(signups[-1], 429, "RATE_LIMITED")
        assert "signup" in limited["message"] and int(signups[-1].headers["Retry-After"]) >= 1
        token = {"Authorization": f"Bearer {signups[0].json()['accessToken']}"}
        user_id = signups[0].json()["userId"]
        onboarded = http.post("/api/embeddings/generate", headers=token,
                              json={"userId": user_id, "movies": [GODFATHER]})
        assert onboarded.status_code == 200, onboarded.text
        writes = [http.post(f"/api/users/{user_id}/watched", headers=token, json={"movieId": 1}).status_code
                  for _ in range(4)]
        assert writes == [200] * 3 + [429]
        assert http.get(f"/api/users/{user_id}/profile", headers=token).status_code == 200  # reads are free


def test_oversized_bodies_are_refused_and_responses_carry_security_headers(client):
    user = signup(client, "big")
    huge = client.post("/api/chat", headers={**user.headers, "Content-Type": "application/json"},
                       content=b'{"userId": "' + b"x" * 2_000_000 + b'"}')
    assert_error(huge, 413, "BODY_TOO_LARGE")
    for response in (client.get("/"), client.get("/api/movies", params={"query": "heat"}), huge):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'self'" in response.headers["content-security-policy"]


def test_redis_down_keeps_the_gateway_ready_and_errors_free_of_internals(stack, start_gateway, client):
    user = signup(client, "outage")  # a token from the healthy gateway: same signing secret
    gateway = start_gateway(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        ready = http.get("/readyz")
        assert ready.status_code == 200 and "Redis" in ready.json()["reason"]
        assert http.get("/").status_code == 200
        assert http.get("/api/movies", params={"query": "godfather"}).status_code == 200
        for response in (
            http.post("/api/auth/signup", json={"username": f"x_{uuid.uuid4().hex[:8]}", "password": "long enough"}),
            http.post("/api/reviews", headers=user.headers, json={"movieId": GODFATHER, "rating": 4.0}),
        ):
            body = assert_error(response, 503)
            assert not HOST_PORT.search(response.text), response.text
            assert "unavailable" in body["message"]


def test_a_gateway_without_a_jwt_secret_outside_dev_mode_refuses_to_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("GATEWAY_JWT_SECRET", "GATEWAY_DEV_MODE")}
    env.update(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", EMBEDDING_ADDR=dead_address(),
               RETRIEVAL_ADDR=dead_address(), PROFILE_ADDR=dead_address(), RANKER_ADDR=dead_address(),
               MOVIEREC_RUN_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "gateway_service"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["gateway: configuration error: GATEWAY_JWT_SECRET is required "
                                                "(or set GATEWAY_DEV_MODE=true for a generated development secret)"]
