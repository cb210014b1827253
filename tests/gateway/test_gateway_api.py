"""The REST API end to end: a real gateway process over real tiers, Redis and a real (small) index."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import httpx
import jwt
import pytest
from gateway_helpers import (
    GODFATHER,
    GOODFELLAS,
    JWT_SECRET,
    PULP_FICTION,
    assert_error,
    catalog,
    dead_address,
    onboard,
    profile_version,
    signup,
    wait_for,
    within_one_window,
)

from movierec_catalog.filter import CERT_RANK

pytestmark = pytest.mark.slow


# ---- accounts ----------------------------------------------------------------------------

def test_signup_login_and_me(client):
    user = signup(client, "alice")
    assert user.user_id.startswith("u_")
    again = client.post("/api/auth/signup", json={"username": user.username.upper(), "password": "another pass"})
    assert assert_error(again, 409, "USERNAME_TAKEN")["fields"][0]["field"] == "username"
    login = client.post("/api/auth/login", json={"username": user.username, "password": user.password})
    assert login.status_code == 200 and login.json()["userId"] == user.user_id
    assert login.json()["tokenType"] == "bearer" and login.json()["expiresIn"] > 0
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {login.json()['accessToken']}"})
    assert me.status_code == 200 and me.json()["username"] == user.username
    wrong = client.post("/api/auth/login", json={"username": user.username, "password": "wrong password"})
    unknown = client.post("/api/auth/login", json={"username": "nobody_" + user.username, "password": "whatever1"})
    assert assert_error(wrong, 401)["message"] == assert_error(unknown, 401)["message"]


def test_tokens_are_checked(client):
    user = signup(client, "tok")
    assert_error(client.get("/api/auth/me"), 401, "UNAUTHENTICATED")
    assert_error(client.get("/api/auth/me", headers={"Authorization": "Bearer not-a-jwt"}), 401)
    forged = jwt.encode({"sub": user.user_id, "name": user.username, "iat": int(time.time()),
                         "exp": int(time.time()) + 600, "iss": "movierec-gateway"}, "x" * 40, algorithm="HS256")
    assert_error(client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"}), 401)
    expired = jwt.encode({"sub": user.user_id, "name": user.username, "iat": int(time.time()) - 7200,
                          "exp": int(time.time()) - 3600, "iss": "movierec-gateway"}, JWT_SECRET, algorithm="HS256")
    body = assert_error(client.get("/api/auth/me", headers={"Authorization": f"Bearer {expired}"}), 401)
    assert "expired" in body["message"]


def test_user_scoped_routes_refuse_other_users(client):
    alice, bob = signup(client, "alice"), signup(client, "bob")
    onboard(client, bob)
    h = alice.headers
    calls = [
        client.post("/api/recommendations", headers=h, json={"userId": bob.user_id}),
        client.post("/api/embeddings/generate", headers=h, json={"userId": bob.user_id, "movies": [GODFATHER]}),
        client.post("/api/chat", headers=h, json={"userId": bob.user_id, "message": "a comedy"}),
        client.post("/api/reviews", headers=h, json={"userId": bob.user_id, "movieId": GODFATHER, "rating": 1.0}),
        client.get(f"/api/users/{bob.user_id}/profile", headers=h),
        client.get(f"/api/users/{bob.user_id}/taste", headers=h),
        client.post(f"/api/users/{bob.user_id}/watched", headers=h, json={"movieId": GODFATHER}),
    ]
    for response in calls:
        assert_error(response, 403, "FORBIDDEN")
    bob_chat = client.post("/api/chat", headers=bob.headers, json={"userId": bob.user_id, "message": "a comedy"})
    assert bob_chat.status_code == 200, bob_chat.text
    assert_error(client.get(f"/api/chat/{bob_chat.json()['sessionId']}", headers=h), 403)
    assert_error(client.post("/api/chat", headers=h, json={"userId": alice.user_id, "message": "a comedy",
                                                          "sessionId": bob_chat.json()["sessionId"]}), 403)


def test_auth_routes_are_rate_limited_per_client_and_username(client):
    user = signup(client, "limited")
    within_one_window(60)
    statuses = [client.post("/api/auth/login", json={"username": user.username, "password": "wrong password"})
                for _ in range(6)]
    assert [r.status_code for r in statuses[:5]] == [401] * 5
    limited = statuses[5]
    assert_error(limited, 429, "RATE_LIMITED")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Even the right password is refused until the window ends; another username is not affected.
    right = client.post("/api/auth/login", json={"username": user.username, "password": user.password})
    assert right.status_code == 429
    other = signup(client, "other")
    other_login = client.post("/api/auth/login", json={"username": other.username, "password": other.password})
    assert other_login.status_code == 200


# ---- movies ------------------------------------------------------------------------------

def test_movie_search_detail_and_posters(client):
    found = client.get("/api/movies", params={"query": "godfather", "limit": 3})
    assert found.status_code == 200
    movies = found.json()["movies"]
    assert 1 <= len(movies) <= 3 and movies[0]["movieId"] == GODFATHER
    body = assert_error(client.get("/api/movies", params={"query": "   "}), 400, "INVALID_ARGUMENT")
    assert body["fields"][0]["field"] == "query"
    assert assert_error(client.get("/api/movies"), 422)["fields"][0]["field"] == "query"
    body = assert_error(client.get("/api/movies", params={"query": "x", "limit": 0}), 422)
    assert body["fields"][0]["field"] == "limit"
    detail = client.get(f"/api/movies/{GODFATHER}").json()
    assert detail["title"] == "The Godfather" and detail["year"] == 1972 and "Crime" in detail["genres"]
    assert_error(client.get("/api/movies/999999999"), 404)
    poster = client.get(f"/api/posters/{GODFATHER}.svg")
    assert poster.status_code == 200 and poster.headers["content-type"].startswith("image/svg+xml")
    assert "The Godfather" in poster.text and "1972" in poster.text
    vibes = client.get("/api/vibes").json()["vibes"]
    assert {"id", "label", "description"} <= set(vibes[0]) and len(vibes) >= 8


# ---- onboarding and carousels ------------------------------------------------------------

def test_onboarding_reports_the_real_stages(client):
    user = signup(client, "onb")
    body = onboard(client, user)
    assert body["userId"] == user.user_id and len(body["embedding"]) == 384
    assert [s["name"] for s in body["stages"]] == ["validate", "profile", "retrieve", "rank"]
    assert all(s["ms"] >= 0 for s in body["stages"]) and body["profileVersion"] >= 1
    assert body["unknownMovies"] == []


def test_onboarding_streams_stages_as_server_sent_events(client):
    user = signup(client, "sse")
    with client.stream("POST", "/api/embeddings/generate", headers={**user.headers, "Accept": "text/event-stream"},
                       json={"userId": user.user_id, "movies": [GODFATHER, 999999999], "vibes": ["dark"]}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [block for block in response.read().decode().split("\n\n") if block]
    kinds = [block.split("\n")[0].removeprefix("event: ") for block in events]
    assert kinds == ["stage", "stage", "stage", "stage", "result"]
    result = json.loads(events[-1].split("\n", 1)[1].removeprefix("data: "))
    assert result["unknownMovies"] == [999999999] and len(result["embedding"]) == 384


def test_carousels_after_onboarding(client):
    user = signup(client, "car")
    picks = {GODFATHER, GOODFELLAS, PULP_FICTION}
    onboard(client, user, movies=sorted(picks))
    response = client.post("/api/recommendations", headers=user.headers,
                           json={"userId": user.user_id, "numResults": 5, "excludeMovies": [1213]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["coldStart"] is False and body["degraded"] is False and body["indexVersion"]
    kinds = [c["kind"] for c in body["carousels"]]
    assert kinds == ["top_picks", "because_you_loved", "fans_of", "theme"], kinds
    assert body["carousels"][0]["title"] == "Top picks for you"
    because = body["carousels"][1]
    assert because["seedMovieId"] in picks and catalog().get(because["seedMovieId"]).title in because["title"]
    fans = body["carousels"][2]
    assert fans["genre"] in {g for m in picks for g in catalog().get(m).genres}
    shown = [card["movieId"] for c in body["carousels"] for card in c["recommendations"]]
    assert len(shown) == len(set(shown)), "a movie appears in at most one carousel"
    # The ranker leaves out what an earlier carousel picked (distinct_picks), so each one is still full.
    assert [len(c["recommendations"]) for c in body["carousels"]] == [5, 5, 5, 5]
    assert not set(shown) & picks, "movies the user picked are never recommended back"
    for carousel in body["carousels"]:
        assert 1 <= len(carousel["recommendations"]) <= 5
        for card in carousel["recommendations"]:
            movie = catalog().get(card["movieId"])
            assert card["title"] == movie.title and card["year"] == movie.year
            assert 0 <= card["matchScore"] <= 1 and card["explanation"].strip()
            assert card["posterUrl"] and card["placeholderUrl"] == f"/api/posters/{card['movieId']}.svg"
        if carousel["kind"] == "fans_of":
            assert all(carousel["genre"] in c["genres"] for c in carousel["recommendations"])
    with_context = client.post("/api/recommendations", headers=user.headers, json={
        "userId": user.user_id, "numResults": 5, "excludeMovies": [1213], "context": "animated talking toys"})
    assert with_context.status_code == 200, with_context.text
    top = [c["movieId"] for c in with_context.json()["carousels"][0]["recommendations"]]
    assert top != [c["movieId"] for c in body["carousels"][0]["recommendations"]], "the context steers top picks"


def test_cold_start_before_onboarding(client):
    user = signup(client, "cold")
    assert_error(client.get(f"/api/users/{user.user_id}/profile", headers=user.headers), 404, "NOT_ONBOARDED")
    assert_error(client.get(f"/api/users/{user.user_id}/taste", headers=user.headers), 404, "NOT_ONBOARDED")
    response = client.post("/api/recommendations", headers=user.headers, json={"userId": user.user_id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["coldStart"] is True and [c["kind"] for c in body["carousels"]] == ["top_picks"]
    # Chat-first: the first chat message's words start the taste profile (no onboarding call).
    chat = client.post("/api/chat", headers=user.headers, json={"userId": user.user_id, "message": "a comedy"})
    assert chat.status_code == 200, chat.text
    assert chat.json()["recommendations"] and chat.json()["onboarded"] is True
    assert all("Comedy" in catalog().get(c["movieId"]).genres for c in chat.json()["recommendations"])
    assert client.get(f"/api/users/{user.user_id}/profile", headers=user.headers).status_code == 200


# ---- chat --------------------------------------------------------------------------------

def _assert_respects(card: dict, check) -> None:
    movie = catalog().get(card["movieId"])
    assert movie is not None and check(movie), (card["title"], movie)


def test_chat_constraints_hold_for_every_pick_across_turns(client):
    user = signup(client, "chat")
    onboard(client, user)
    first = client.post("/api/chat", headers=user.headers, json={
        "userId": user.user_id, "message": "something from the 90s, nothing too scary, under 2 hours"})
    assert first.status_code == 200, first.text
    body = first.json()
    c = body["constraints"]
    assert (c["minYear"], c["maxYear"], c["maxRuntimeMin"]) == (1990, 1999, 119)
    assert set(c["excludeGenres"]) == {"Horror", "Thriller"} and c["descriptions"]
    assert 3 <= len(body["recommendations"]) <= 5
    for card in body["recommendations"]:
        _assert_respects(card, lambda m: 1990 <= m.year <= 1999 and m.runtime_min is not None
                         and m.runtime_min <= 119 and not {"Horror", "Thriller"} & set(m.genres))
        assert card["title"] in body["reply"]
    assert body["tasteUpdated"] is False  # a message made only of constraints does not move the taste vector
    first_pick = body["recommendations"][0]
    runtimes = sorted(catalog().get(r["movieId"]).runtime_min for r in body["recommendations"])

    second = client.post("/api/chat", headers=user.headers, json={
        "userId": user.user_id, "sessionId": body["sessionId"],
        "message": f"something shorter, and not {first_pick['title']}"})
    assert second.status_code == 200, second.text
    c2 = second.json()["constraints"]
    median = runtimes[len(runtimes) // 2] if len(runtimes) % 2 else sum(runtimes[len(runtimes) // 2 - 1:][:2]) / 2
    assert c2["maxRuntimeMin"] == int(median) - 1
    assert (c2["minYear"], c2["maxYear"]) == (1990, 1999), "earlier constraints stay active"
    assert first_pick["movieId"] in [m["movieId"] for m in c2["excludeTitles"]]
    for card in second.json()["recommendations"]:
        assert card["movieId"] != first_pick["movieId"]
        _assert_respects(card, lambda m: 1990 <= m.year <= 1999 and m.runtime_min <= c2["maxRuntimeMin"]
                         and not {"Horror", "Thriller"} & set(m.genres))

    third = client.post("/api/chat", headers=user.headers, json={
        "userId": user.user_id, "sessionId": body["sessionId"], "message": "reset. family friendly please"})
    assert third.status_code == 200, third.text
    t = third.json()["constraints"]
    assert t["maxCertification"] == "PG" and t["minYear"] is None and t["excludeTitles"] == []
    before = profile_version(client, user)
    fourth = client.post("/api/chat", headers=user.headers, json={
        "userId": user.user_id, "sessionId": body["sessionId"], "message": "a comedy with talking animals"})
    assert fourth.status_code == 200, fourth.text
    f = fourth.json()
    assert f["constraints"]["maxCertification"] == "PG", "the reset's constraints persist"
    assert f["tasteUpdated"] is True and f["profileVersion"] > before  # taste words move the taste vector
    assert f["recommendations"], f["reply"]
    for card in f["recommendations"]:
        _assert_respects(card, lambda m: m.certification in ("G", "PG") and "Horror" not in m.genres
                         and "Comedy" in m.genres)
        assert CERT_RANK[card["certification"]] <= CERT_RANK["PG"]

    history = client.get(f"/api/chat/{body['sessionId']}", headers=user.headers)
    assert history.status_code == 200
    assert [turn["role"] for turn in history.json()["turns"]] == ["user", "assistant"] * 4


def test_chat_language_and_more_like(client):
    user = signup(client, "lang")
    onboard(client, user)
    french = client.post("/api/chat", headers=user.headers, json={"userId": user.user_id,
                                                                 "message": "something in French"})
    assert french.status_code == 200, french.text
    assert french.json()["constraints"]["language"] == "fr"
    assert french.json()["recommendations"], french.json()["reply"]
    for card in french.json()["recommendations"]:
        _assert_respects(card, lambda m: m.original_language == "fr")
    like = client.post("/api/chat", headers=user.headers, json={"userId": user.user_id,
                                                               "message": "more like Toy Story"})
    assert like.status_code == 200, like.text
    assert [t["title"] for t in like.json()["constraints"]["seedTitles"]] == ["Toy Story"]
    ids = [c["movieId"] for c in like.json()["recommendations"]]
    assert 1 not in ids and ids
    assert {"Animation", "Children"} & {g for i in ids for g in catalog().get(i).genres}


def test_turns_are_logged(client, stack):
    import redis

    user = signup(client, "log")
    onboard(client, user)
    response = client.post("/api/chat", headers=user.headers, json={"userId": user.user_id, "message": "a comedy"})
    assert response.status_code == 200
    r = redis.Redis.from_url(stack.redis_url)
    found = []
    for key in r.scan_iter(match="*turns*"):
        if r.type(key) == b"stream":
            found += [entry for _, entry in r.xrange(key) if user.user_id.encode() in b"".join(entry.values())]
    assert found, "the chat turn was appended to a turn log stream"


# ---- reviews -----------------------------------------------------------------------------

def test_review_is_accepted_and_applied(client):
    user = signup(client, "rev")
    onboard(client, user)
    before = profile_version(client, user)
    response = client.post("/api/reviews", headers=user.headers,
                           json={"userId": user.user_id, "movieId": 1, "rating": 4.5, "text": "lovely"})
    assert response.status_code == 202, response.text
    assert response.json()["eventId"]
    wait_for(lambda: profile_version(client, user) > before)
    ratings = client.get(f"/api/users/{user.user_id}/profile", headers=user.headers).json()["ratings"]
    assert {"movieId": 1, "rating": 4.5} in [{k: r[k] for k in ("movieId", "rating")} for r in ratings]
    assert_error(client.post("/api/reviews", headers=user.headers,
                             json={"userId": user.user_id, "movieId": 1, "rating": 6}), 422)


# ---- bad input ---------------------------------------------------------------------------

def test_bad_input_gets_field_level_messages(client):
    user = signup(client, "bad")
    h = user.headers
    body = assert_error(client.post("/api/recommendations", headers=h, json={"userId": user.user_id,
                                                                            "numResults": 0}), 422)
    assert body["fields"][0]["field"] == "numResults"
    body = assert_error(client.post("/api/recommendations", headers=h, json={"userId": user.user_id,
                                                                            "numresults": 3}), 422)
    assert body["fields"][0]["field"] == "numresults"
    body = assert_error(client.post("/api/chat", headers=h, json={"userId": user.user_id, "message": "   "}), 422)
    assert body["fields"][0]["field"] == "message"
    assert_error(client.post("/api/chat", headers=h, content=b"{not json", ), 422)
    body = assert_error(client.post("/api/embeddings/generate", headers=h, json={"userId": user.user_id}), 400)
    assert {f["field"] for f in body["fields"]} == {"movies", "vibes", "freeText"}
    body = assert_error(client.post("/api/embeddings/generate", headers=h,
                                    json={"userId": user.user_id, "movies": [999999999]}), 400)
    assert "999999999" in body["fields"][0]["message"]
    assert_error(client.post(f"/api/users/{user.user_id}/watched", headers=h, json={"movieId": 999999999}), 404)
    assert_error(client.get("/api/chat/c_doesnotexist", headers=h), 404)


# ---- degraded and failing tiers ------------------------------------------------------------

@pytest.fixture
def black_hole():
    """A TCP listener that accepts connections and never answers (a hung LLM endpoint)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v1"


@pytest.fixture
def hung_ranker(start_tier, index_dir, catalog_dir):
    """A real ranker process that is paused (SIGSTOP): connections open, answers never come."""
    addr, proc = start_tier("ranker", {"RANKER_INDEX_DIR": str(index_dir), "RANKER_CATALOG_DIR": str(catalog_dir)})
    os.kill(proc.pid, signal.SIGSTOP)
    yield addr
    os.kill(proc.pid, signal.SIGCONT)


@pytest.mark.parametrize("broken", ["ranker_down", "ranker_hung"])
def test_ranker_failure_degrades_to_grounded_retrieval_order(client, stack, start_tier, request, broken):
    user = signup(client, "deg")
    onboard(client, user)
    if broken == "ranker_down":
        overrides = {"RANKER_ADDR": dead_address()}
    else:
        overrides = {"RANKER_ADDR": request.getfixturevalue("hung_ranker"), "GATEWAY_RANK_TIMEOUT_S": "0.5"}
    addr, _ = start_tier("gateway", stack.gateway_env(**overrides))
    with httpx.Client(base_url=f"http://{addr}", timeout=30) as degraded_client:
        response = degraded_client.post("/api/recommendations", headers=user.headers,
                                        json={"userId": user.user_id, "numResults": 4})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["degraded"] is True and body["ranker"] == "retrieval-order"
        assert ("UNAVAILABLE" if broken == "ranker_down" else "DEADLINE_EXCEEDED") in body["degradedReason"]
        loved = {GODFATHER, GOODFELLAS, PULP_FICTION}
        for carousel in body["carousels"]:
            assert carousel["degraded"] is True
            for card in carousel["recommendations"]:
                movie = catalog().get(card["movieId"])
                for factor in card["factors"]:  # every factor is a true catalog fact
                    if factor["kind"] == "genre":
                        assert factor["sourceMovieId"] in loved
                        assert factor["value"] in movie.genres
                        assert factor["value"] in catalog().get(factor["sourceMovieId"]).genres
                    else:
                        assert factor["kind"] == "decade" and factor["value"] == f"{movie.year // 10 * 10}s"
        chat = degraded_client.post("/api/chat", headers=user.headers,
                                    json={"userId": user.user_id, "message": "from the 80s, no comedies"})
        assert chat.status_code == 200 and chat.json()["degraded"] is True
        for card in chat.json()["recommendations"]:
            _assert_respects(card, lambda m: 1980 <= m.year <= 1989 and "Comedy" not in m.genres)


def test_ranker_own_fallback_is_passed_through(client, stack, start_tier, black_hole, index_dir, catalog_dir):
    """A ranker whose LLM hangs answers within the deadline with its numeric order, flagged degraded."""
    user = signup(client, "llm")
    onboard(client, user)
    ranker, _ = start_tier("ranker", {"RANKER_INDEX_DIR": str(index_dir), "RANKER_CATALOG_DIR": str(catalog_dir),
                                      "RANKER_LLM_BASE_URL": black_hole, "RANKER_LLM_TIMEOUT_S": "0.3"})
    addr, _ = start_tier("gateway", stack.gateway_env(RANKER_ADDR=ranker))
    with httpx.Client(base_url=f"http://{addr}", timeout=30) as gw:
        body = gw.post("/api/recommendations", headers=user.headers, json={"userId": user.user_id}).json()
    assert body["degraded"] is True and body["ranker"] != "retrieval-order"
    assert "llm" in body["degradedReason"].lower()
    assert all(c["degraded"] for c in body["carousels"]) and body["carousels"][0]["recommendations"]


def test_a_tier_down_is_503_not_a_stack_trace(client, stack, start_tier, index_dir, catalog_dir):
    user = signup(client, "down")
    onboard(client, user)
    retrieval, proc = start_tier("retrieval", {"RETRIEVAL_INDEX_DIR": str(index_dir),
                                               "RETRIEVAL_CATALOG_DIR": str(catalog_dir)})
    addr, _ = start_tier("gateway", stack.gateway_env(RETRIEVAL_ADDR=retrieval))
    with httpx.Client(base_url=f"http://{addr}", timeout=30) as gw:
        wait_for(lambda: gw.post("/api/recommendations", headers=user.headers,
                                 json={"userId": user.user_id}).status_code == 200, timeout_s=60)
        proc.stop()
        body = assert_error(gw.post("/api/recommendations", headers=user.headers, json={"userId": user.user_id}),
                            503, "UNAVAILABLE")
        assert "retrieval" in body["message"]
        assert gw.get("/healthz").status_code == 503
    addr, _ = start_tier("gateway", stack.gateway_env(PROFILE_ADDR=dead_address()))
    with httpx.Client(base_url=f"http://{addr}", timeout=30) as gw:
        assert_error(gw.post("/api/chat", headers=user.headers, json={"userId": user.user_id, "message": "hi"}),
                     503, "UNAVAILABLE")


# ---- taste wrapped, ops ------------------------------------------------------------------

def test_taste_wrapped_follows_the_affinity_formula(client):
    user = signup(client, "taste")
    onboard(client, user)
    reviews = {1: 5.0, 2571: 4.0, 356: 2.0}  # Toy Story, The Matrix, Forrest Gump
    before = profile_version(client, user)
    for movie_id, rating in reviews.items():
        assert client.post("/api/reviews", headers=user.headers,
                           json={"userId": user.user_id, "movieId": movie_id, "rating": rating}).status_code == 202
    wait_for(lambda: profile_version(client, user) >= before + len(reviews))
    response = client.get(f"/api/users/{user.user_id}/taste", headers=user.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["radarSource"] == "ratings" and body["ratingsCount"] == 3
    for point in body["radar"]:
        rated = [r for m, r in reviews.items() if point["genre"] in catalog().get(m).genres]
        assert point["count"] == len(rated) and point["affinity"] == pytest.approx(sum(rated) / len(rated), abs=1e-3)
    kinds = {p["kind"] for p in body["map"]["points"]}
    assert {"you", "average_viewer", "critic_consensus", "top_movie", "nearby"} <= kinds
    assert body["map"]["method"] == "pca" and body["mapUnavailableReason"] is None
    assert "You have rated 3 movies" in body["summary"]
    assert body["topMovies"][0]["movieId"] == 1


def test_health_and_metrics(client):
    assert client.get("/healthz").json()["status"] == "ok"
    client.get("/api/vibes")
    metrics = client.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/api/vibes",status="200"}' in metrics
    assert "http_request_duration_seconds_bucket" in metrics
    assert client.get("/docs").status_code == 200
