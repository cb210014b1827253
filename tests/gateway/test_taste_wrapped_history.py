"""Taste Wrapped over time through the real stack: gateway, profile server + worker, Redis, retrieval.

The days come from the ratings' own dates (a Letterboxd import carries them as ``created_at``): the user
onboards today and imports ratings dated tomorrow, then the day after, so the profile tier keeps one
snapshot per day and Taste Wrapped draws a path of three dated points and a radar "then" ≠ "now".
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from gateway_helpers import catalog, onboard, signup, wait_for

from gateway_service.taste_map import load_taste_map
from movierec_core.index_artifact import load_index_artifact


def _letterboxd(day, movies, rating: float) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Date", "Name", "Year", "Letterboxd URI", "Rating"])
    for i, movie in enumerate(movies):
        writer.writerow([day.isoformat(), movie.title, movie.year, f"https://boxd.it/h{movie.movie_id}-{i}", rating])
    return out.getvalue().encode()


def _indexed(index_dir, predicate, count: int):
    found = []
    for movie_id in load_index_artifact(index_dir).movie_ids:
        movie = catalog().get(int(movie_id))
        if movie is not None and movie.year and predicate(movie):
            found.append(movie)
    # unique titles only, so title + year links to exactly this movie
    titles = [m.title for m in found]
    return [m for m in found if titles.count(m.title) == 1][:count]


def test_taste_wrapped_draws_the_path_through_time_and_the_radar_then_vs_now(client, index_dir, taste_map_dir):
    user = signup(client, "drift")
    onboard(client, user)  # crime picks and vibes: today's snapshot
    today = datetime.now(UTC).date()
    if datetime.now(UTC) + timedelta(minutes=2) >= datetime.combine(today + timedelta(days=1), datetime.min.time(),
                                                                    UTC):
        pytest.skip("too close to UTC midnight: the onboarding's day would be ambiguous")
    family = _indexed(index_dir, lambda m: "Animation" in m.genres and "Crime" not in m.genres, 6)
    imax = _indexed(index_dir, lambda m: "IMAX" in m.genres, 1)
    assert len(family) == 6 and imax, "the test index lacks animated or IMAX movies"
    headers = {**user.headers, "Content-Type": "text/csv"}

    def ratings():
        return client.get(f"/api/users/{user.user_id}/profile", headers=user.headers).json()["ratings"]

    # Day 1: three animated movies loved (and an IMAX title: the radar must not show "IMAX" as a genre).
    first = client.post("/api/import", headers=headers, content=_letterboxd(today + timedelta(days=1),
                                                                            family[:3] + imax, 5.0))
    assert first.status_code == 200, first.text
    wait_for(lambda: len(ratings()) == 4, timeout_s=30)
    # Day 2, once day 1 is applied (the events of one day could otherwise arrive after the next day's).
    second = client.post("/api/import", headers=headers, content=_letterboxd(today + timedelta(days=2),
                                                                             family[3:], 5.0))
    assert second.status_code == 200, second.text
    wait_for(lambda: len(ratings()) == 7, timeout_s=30)

    response = client.get(f"/api/users/{user.user_id}/taste", headers=user.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["historyDays"] == 3
    path = body["map"]["path"]
    assert [p["day"] for p in path] == [(today + timedelta(days=d)).isoformat() for d in (0, 1, 2)]
    versions = [p["version"] for p in path]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert len({(round(p["x"], 4), round(p["y"], 4)) for p in path}) == 3  # the taste moved each day

    # The last point is the current long-term vector projected with the map's own PCA.
    profile = client.get(f"/api/users/{user.user_id}/profile", headers=user.headers).json()
    taste_map = load_taste_map(taste_map_dir / body["map"]["indexVersion"])
    x, y = taste_map.project(np.asarray(profile["vector"], dtype=np.float32))
    assert (path[-1]["x"], path[-1]["y"]) == pytest.approx((x, y), abs=1e-5)

    radar = body["tasteRadar"]
    assert body["tasteRadarUnavailableReason"] is None and radar["thenIsNow"] is False
    genres = {g for m in (catalog().get(int(i)) for i in load_index_artifact(index_dir).movie_ids) if m
              for g in m.genres}
    assert len(radar["axes"]) >= 3 and set(radar["axes"]) <= genres and "IMAX" not in radar["axes"]
    series = {s["kind"]: s for s in radar["series"]}
    assert set(series) == {"then", "now", "average_viewer", "critic_consensus"}
    assert series["then"]["day"] == today.isoformat()
    then, now = (dict(zip(radar["axes"], series[k]["values"], strict=True)) for k in ("then", "now"))
    assert then != now
    assert now == pytest.approx(dict(zip(radar["axes"], taste_map.genre_leans(np.asarray(profile["vector"])),
                                         strict=True)), abs=1e-3)
    if "Crime" in then:  # from gangster picks to loved cartoons
        assert now["Crime"] < then["Crime"]
    assert series["average_viewer"]["values"] != series["critic_consensus"]["values"]
    moves = {axis: now[axis] - then[axis] for axis in radar["axes"]}
    toward, away = max(moves, key=moves.get), min(moves, key=moves.get)
    assert f"Since {today.isoformat()} your taste has moved toward {toward} and away from {away}." in body["summary"]

    # The ratings radar (Affinity formula) shows content genres only.
    assert body["radar"] and all(p["genre"] != "IMAX" for p in body["radar"])

    # Map axes are named by themes of the served themes artifact (built on the same index).
    names = body["map"]["axisNames"]
    theme_names = {t["name"] for t in client.get("/api/themes").json()["themes"]}
    assert names is not None and len(names) == 2
    assert all(n["negative"] in theme_names and n["positive"] in theme_names and n["negative"] != n["positive"]
               for n in names)


def test_a_new_user_has_one_day_and_then_is_now(client):
    user = signup(client, "fresh")
    onboard(client, user)
    body = client.get(f"/api/users/{user.user_id}/taste", headers=user.headers).json()
    assert body["historyDays"] == 1 and len(body["map"]["path"]) == 1
    assert body["tasteRadar"]["thenIsNow"] is True
