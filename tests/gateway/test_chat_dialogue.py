"""The conversation through the real gateway and every real tier (small real index, tests/gateway/conftest.py).

Chat-first for a brand-new user, follow-up questions that leave the taste vector alone, constraints that
persist and can be removed (chips), "something else" / "I've seen those", diagnostics, and the SSE stream.
Every returned pick is checked against the catalog's facts here, independently of the service's Filter.
"""

from __future__ import annotations

import json

import pytest
from gateway_helpers import assert_error, catalog, onboard, signup

HEAT, SHAUN = 6, 8874
CERTS = ("G", "PG", "PG-13", "R", "NC-17")


def _chat(client, user, message=None, session_id=None, *, diagnostics=False, **extra) -> dict:
    body = {"userId": user.user_id, **({"message": message} if message is not None else {}),
            **({"sessionId": session_id} if session_id else {}), **extra}
    headers = {**user.headers, **({"X-Movierec-Diagnostics": "1"} if diagnostics else {})}
    response = client.post("/api/chat", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _profile(client, user) -> dict:
    response = client.get(f"/api/users/{user.user_id}/profile", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _ids(answer: dict) -> list[int]:
    return [c["movieId"] for c in answer["recommendations"]]


def test_a_brand_new_user_can_chat_first(client):
    user = signup(client, "first")
    assert_error(client.get(f"/api/users/{user.user_id}/profile", headers=user.headers), 404, "NOT_ONBOARDED")
    answer = _chat(client, user, "Hi, I am after something like Shaun of the Dead")
    assert answer["onboarded"] is True and answer["tasteUpdated"] is True
    assert [t["movieId"] for t in answer["constraints"]["seedTitles"]] == [SHAUN]
    assert 3 <= len(answer["recommendations"]) <= 5 and SHAUN not in _ids(answer), "a seed is never recommended"
    profile = _profile(client, user)  # the chat created the taste profile
    assert SHAUN in profile["likedMovieIds"]
    assert answer["understoodBy"] in ("rules", "rules+llm") and answer["replySource"] == "template"


def test_words_of_a_named_title_or_a_constraint_are_no_request_terms_of_the_picks(client):
    # "Shaun of the Dead" and "nothing gory" are a seed and a constraint: no card may be explained as
    # matching the request by "shaun", "dead" or "gory"; the taste words ("funny") may be
    user = signup(client, "terms")
    answer = _chat(client, user, "something funny like Shaun of the Dead, nothing gory")
    assert answer["recommendations"]
    cited = " ".join(f["value"] for card in answer["recommendations"] for f in card["factors"]
                     if f["kind"] == "query_term").lower()
    asked = " ".join(card["explanation"].split("Like your request for", 1)[1].split(",", 1)[0]
                     for card in answer["recommendations"] if "Like your request for" in card["explanation"]).lower()
    assert not any(word in cited + " " + asked for word in ("shaun", "dead", "gory")), (cited, asked)


def test_a_greeting_gets_a_question_back_not_an_error(client):
    user = signup(client, "hello")
    answer = _chat(client, user, "hi")
    assert answer["recommendations"] == [] and "?" not in answer["reply"][:0]
    assert "movie" in answer["reply"].lower()
    assert_error(client.get(f"/api/users/{user.user_id}/profile", headers=user.headers), 404, "NOT_ONBOARDED")


def test_follow_ups_answer_about_the_pick_and_leave_the_taste_alone(client):
    user = signup(client, "why")
    onboard(client, user)
    first = _chat(client, user, "a crime movie")
    picks = first["recommendations"]
    assert len(picks) >= 2
    before = _profile(client, user)
    answer = _chat(client, user, "why the second one?", first["sessionId"])
    assert answer["act"] == "follow_up" and answer["recommendations"] == []
    assert picks[1]["title"] in answer["reply"] and answer["tasteUpdated"] is False
    about = _chat(client, user, f"tell me about {picks[0]['title']}", first["sessionId"])
    assert about["recommendations"] == [] and picks[0]["title"] in about["reply"]
    thanks = _chat(client, user, "thanks!", first["sessionId"])  # small talk never re-runs the request
    assert thanks["act"] == "smalltalk" and thanks["recommendations"] == []
    after = _profile(client, user)
    assert after["version"] == before["version"] and after["vector"] == before["vector"]
    # the session still holds the picks: "more like the second one" seeds with it
    more = _chat(client, user, "more like the second one", first["sessionId"])
    assert [t["movieId"] for t in more["constraints"]["seedTitles"]] == [picks[1]["movieId"]]
    assert picks[1]["movieId"] not in _ids(more) and more["recommendations"]


def test_save_the_second_one_puts_it_on_the_watchlist_and_out_of_later_picks(client):
    user = signup(client, "save")
    onboard(client, user)
    first = _chat(client, user, "a crime movie")
    second = first["recommendations"][1]
    before = _profile(client, user)
    saved = _chat(client, user, "save the second one", first["sessionId"])
    assert saved["act"] == "save" and saved["recommendations"] == [] and saved["tasteUpdated"] is False
    assert second["title"] in saved["reply"] and "watchlist" in saved["reply"]
    watchlist = client.get(f"/api/users/{user.user_id}/watchlist", headers=user.headers)
    assert watchlist.status_code == 200, watchlist.text
    assert [item["movieId"] for item in watchlist.json()["items"]] == [second["movieId"]]
    again = _chat(client, user, "save the second one", first["sessionId"])  # saving twice adds nothing
    assert "Already on your watchlist" in again["reply"]
    assert len(client.get(f"/api/users/{user.user_id}/watchlist", headers=user.headers).json()["items"]) == 1
    after = _profile(client, user)
    assert after["version"] == before["version"] and after["vector"] == before["vector"]
    more = _chat(client, user, "another crime movie", first["sessionId"])
    assert more["recommendations"] and second["movieId"] not in _ids(more)


def _violations(card: dict, c: dict) -> list[str]:
    """The catalog facts of a pick against the active constraints (written apart from the service's Filter)."""
    movie = catalog().get(card["movieId"])
    out = []
    if set(c["excludeGenres"]) & set(movie.genres):
        out.append("excluded genre")
    if c["includeGenres"] and not set(c["includeGenres"]) & set(movie.genres):
        out.append("no asked genre")
    if c["minYear"] is not None and (movie.year is None or movie.year < c["minYear"]):
        out.append("too old")
    if c["maxYear"] is not None and (movie.year is None or movie.year > c["maxYear"]):
        out.append("too new")
    if c["maxRuntimeMin"] is not None and (movie.runtime_min is None or movie.runtime_min > c["maxRuntimeMin"]):
        out.append("too long")
    if c["maxCertification"] is not None and (movie.certification not in CERTS or
                                              CERTS.index(movie.certification) > CERTS.index(c["maxCertification"])):
        out.append("above the cap")
    if card["movieId"] in {t["movieId"] for t in c["excludeTitles"] + c["seedTitles"]}:
        out.append("excluded title")
    return out


def test_constraints_persist_and_a_removed_chip_reruns_without_it(client):
    user = signup(client, "chips")
    onboard(client, user)
    first = _chat(client, user, "something from the 90s, no horror, under 2 hours")
    c = first["constraints"]
    assert (c["minYear"], c["maxYear"], c["maxRuntimeMin"], c["excludeGenres"]) == (1990, 1999, 119, ["Horror"])
    assert {chip["slot"] for chip in first["chips"]} >= {"years", "runtime", "exclude_genres"}
    assert all(not _violations(card, c) for card in first["recommendations"]), first["recommendations"]
    second = _chat(client, user, "a comedy", first["sessionId"])
    c2 = second["constraints"]
    assert (c2["minYear"], c2["maxRuntimeMin"], c2["includeGenres"]) == (1990, 119, ["Comedy"]), "they persist"
    assert all(not _violations(card, c2) for card in second["recommendations"])
    years = next(chip for chip in second["chips"] if chip["slot"] == "years")
    rerun = _chat(client, user, None, first["sessionId"], removeConstraints=[{"slot": years["slot"],
                                                                              "value": years["value"]}])
    c3 = rerun["constraints"]
    assert (c3["minYear"], c3["maxYear"]) == (None, None)
    assert (c3["maxRuntimeMin"], c3["includeGenres"], c3["excludeGenres"]) == (119, ["Comedy"], ["Horror"])
    assert rerun["recommendations"] and all(not _violations(card, c3) for card in rerun["recommendations"])
    assert rerun["tasteUpdated"] is False


def test_something_else_and_seen_those_never_repeat_a_pick(client):
    user = signup(client, "seen")
    onboard(client, user)
    first = _chat(client, user, "an action movie")
    shown = set(_ids(first))
    other = _chat(client, user, "something else", first["sessionId"])
    assert other["recommendations"] and not shown & set(_ids(other))
    shown |= set(_ids(other))
    seen = _chat(client, user, "I've seen those", first["sessionId"])
    assert seen["recommendations"] and not shown & set(_ids(seen))
    watched = set(_ids(other))
    later = client.post("/api/recommendations", headers=user.headers, json={"userId": user.user_id}).json()
    assert not watched & {c["movieId"] for row in later["carousels"] for c in row["recommendations"]}, \
        "picks marked seen are recorded as watched"


def test_diagnostics_only_when_asked(client):
    user = signup(client, "diag")
    onboard(client, user)
    plain = _chat(client, user, "a comedy, no romance")
    assert "diagnostics" not in plain
    asked = _chat(client, user, "a comedy, no romance", diagnostics=True)
    d = asked["diagnostics"]
    assert d["retrievedMovieIds"] and set(_ids(asked)) <= set(d["rankedMovieIds"]) | set(d["retrievedMovieIds"])
    for movie_id in d["retrievedMovieIds"]:
        movie = catalog().get(movie_id)
        assert "Comedy" in movie.genres and "Romance" not in movie.genres, "retrieval enforced the filter"
    assert d["droppedByFinalFilter"] == []


def _events(response) -> list[tuple[str, dict]]:
    events = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_the_stream_sends_picks_first_then_the_reply_then_the_result(client):
    user = signup(client, "stream")
    onboard(client, user)
    response = client.post("/api/chat/stream", headers=user.headers,
                           json={"userId": user.user_id, "message": "a crime movie from the 90s"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = _events(response)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "picks" and kinds[-1] == "result" and set(kinds[1:-1]) == {"reply"}
    picks, result = events[0][1], events[-1][1]
    assert picks["recommendations"] == result["recommendations"] and picks["constraints"]["minYear"] == 1990
    assert "".join(data["text"] for kind, data in events if kind == "reply") == result["reply"]


@pytest.mark.parametrize("body", [{"removeConstraints": [{"slot": "years"}]},
                                  {"message": "x", "removeConstraints": [{"slot": "nope"}]}, {}])
def test_bad_chat_requests_are_422(client, body):
    user = signup(client, "bad")
    assert_error(client.post("/api/chat", headers=user.headers, json={"userId": user.user_id, **body}), 422)
