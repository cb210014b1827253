"""The Lua-scripted profile store against a real Redis: exact formulas, idempotency, atomicity, replay."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from profile_helpers import DEFAULT_TASTE, expected_vectors, log_entries, store_for

from movierec_jobs.export_log import INTERACTIONS_SCHEMA, rows_of, write_parquet
from movierec_jobs.replay import overlaps, run
from profile_service.domain import InvalidEvent, Profiles
from profile_service.settings import ProfileSettings
from profile_service.store import ProfileNotFound
from profile_service.taste import DAY_MS, ema_step, fuse_onboarding, recent_accumulate

LIKED = [356, 318, 296]


@pytest.fixture
def profiles(redis_url, movies) -> Profiles:
    return Profiles(store_for(redis_url), movies, DEFAULT_TASTE, embedder=None)


def review(event_id: str, user_id: str, movie_id: int, rating: float, at_ms: int | None = None) -> dict:
    event = {"event_id": event_id, "user_id": user_id, "movie_id": movie_id, "rating": rating, "text": "ok"}
    if at_ms is not None:
        event["created_at_ms"] = at_ms
    return event


def test_onboarding_and_a_liked_review_move_the_vector_exactly_as_the_formulas_say(profiles, movies):
    result, unknown = profiles.onboard("ada", [*LIKED, 987654321], [], "")
    assert result.applied and result.version == 1 and unknown == [987654321]
    onboarded = profiles.store.load("ada").vector
    np.testing.assert_allclose(onboarded, fuse_onboarding(movies.stack(LIKED), None, 0.7), atol=1e-7)

    assert profiles.apply_review(review("r1", "ada", 2571, 4.5)).applied
    state = profiles.store.load("ada")
    np.testing.assert_allclose(state.vector, ema_step(onboarded, movies.vector(2571), 0.8), atol=1e-7)
    assert np.linalg.norm(state.vector) == pytest.approx(1.0, abs=1e-6)
    assert state.version == 2 and state.counters["review_count"] == 1
    assert state.ratings[2571]["rating"] == 4.5

    # A rating below 4.0 is stored but does not move the taste vector.
    assert profiles.apply_review(review("r2", "ada", 593, 3.5)).applied
    after = profiles.store.load("ada")
    np.testing.assert_array_equal(after.vector, state.vector)
    assert after.version == 3 and after.ratings[593]["rating"] == 3.5 and after.counters["review_count"] == 2


def test_a_duplicate_event_changes_nothing(profiles):
    profiles.onboard("bo", LIKED, [], "")
    first = profiles.apply_review(review("dup", "bo", 2571, 5.0))
    store = profiles.store
    before = (store.client.hgetall(store.profile_key("bo")), store.client.hgetall(store.ratings_key("bo")),
              store.client.xlen(store.interactions_key))
    again = profiles.apply_review(review("dup", "bo", 2571, 5.0))
    assert first.applied and not again.applied and again.version == first.version
    after = (store.client.hgetall(store.profile_key("bo")), store.client.hgetall(store.ratings_key("bo")),
             store.client.xlen(store.interactions_key))
    assert after == before
    assert store.duplicates_seen() == 1


def test_concurrent_updates_of_one_user_are_never_lost(profiles, movies):
    profiles.onboard("cy", LIKED, [], "")
    ids = list(movies.rows)[:50]
    threads = [threading.Thread(target=lambda t=t: [
        profiles.apply_review(review(f"t{t}-{i}", "cy", ids[(t * 7 + i) % len(ids)], 4.0 + (i % 3) * 0.5))
        for i in range(60)]) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = profiles.store.load("cy")
    assert state.version == 1 + 240 and state.counters["review_count"] == 240
    # The log order is the order Redis serialized the updates in; the formulas replayed in that
    # order give the stored vector.
    entries = log_entries(profiles.store)
    assert len({e.event_id for e in entries if e.kind == "rate"}) == 240
    np.testing.assert_allclose(state.vector, expected_vectors(entries, movies)["cy"], atol=1e-6)


def test_recent_interests_follow_the_formula_and_feed_the_scoring_vector(profiles, movies):
    profiles.onboard("di", LIKED, [], "")
    day0 = 1_700_000_000_000
    steps = [("rate", 2571, 5.0, day0 + 2 * DAY_MS), ("watch", 1196, None, day0 + 3 * DAY_MS),
             ("click", 260, None, day0), ("rate", 593, 2.0, day0 + DAY_MS)]  # the last one is not liked
    for n, (kind, movie, rating, at) in enumerate(steps):
        if kind == "rate":
            profiles.apply_review(review(f"d{n}", "di", movie, rating, at))
        else:
            profiles.record_interaction("di", movie, kind, f"d{n}", at)
    acc, weight, at = None, 0.0, None
    for vector, w, t in ((movies.vector(2571), 1.5, day0 + 2 * DAY_MS), (movies.vector(1196), 0.8, day0 + 3 * DAY_MS),
                         (movies.vector(260), 0.2, day0)):
        acc, weight, at = recent_accumulate(acc, weight, at, vector, w, t, 0.95)
    state = profiles.store.load("di")
    np.testing.assert_allclose(state.recent, acc, atol=1e-6)
    assert state.recent_weight == pytest.approx(weight, rel=1e-12) and state.recent_time_ms == day0 + 3 * DAY_MS
    assert state.counters == {"review_count": 2, "message_count": 0, "watch_count": 1, "click_count": 1}

    view = profiles.get("di", at_ms=day0 + 3 * DAY_MS)
    blended = 0.7 * state.vector.astype(np.float64) + 0.3 * acc / np.linalg.norm(acc)
    np.testing.assert_allclose(view.scoring_vector, blended / np.linalg.norm(blended), atol=1e-6)
    # A year later the recent interests have faded below the threshold: scoring = base.
    faded = profiles.get("di", at_ms=day0 + 365 * DAY_MS)
    assert faded.recent_weight == 0.0
    np.testing.assert_array_equal(faded.scoring_vector, state.vector)


def test_invalid_events_are_rejected_with_a_reason_and_change_nothing(profiles):
    profiles.onboard("ed", LIKED, [], "")
    before = profiles.store.load("ed")
    cases = [(review("i1", "ed", 424242, 4.0), "UNKNOWN_MOVIE", "movie 424242 is not in the catalog index"),
             (review("i2", "ed", 2571, 7.3), "RATING_OUT_OF_RANGE", "rating 7.3 is outside 0.5–5.0"),
             (review("i3", "", 2571, 4.0), "MISSING_FIELD", "user_id is required"),
             ({"event_id": "i4", "user_id": "ed", "movie_id": "two", "rating": 4}, "INVALID_EVENT", "movie_id")]
    for event, reason, message in cases:
        with pytest.raises(InvalidEvent) as caught:
            profiles.apply_review(event)
        assert caught.value.reason == reason and message in caught.value.message
    with pytest.raises(ProfileNotFound, match="'ghost' has no profile"):
        profiles.apply_review(review("i5", "ghost", 2571, 4.0))
    with pytest.raises(InvalidEvent, match="at least one known liked movie"):
        profiles.onboard("fay", [111111111], [], "   ")
    after = profiles.store.load("ed")
    np.testing.assert_array_equal(after.vector, before.vector)
    assert after.version == before.version and profiles.store.client.xlen(profiles.store.interactions_key) == 1


def test_dead_letter_parking_is_idempotent(profiles):
    store = profiles.store
    assert store.park("ev1", {"event": {"event_id": "ev1"}, "reason": "rating 7.3 is outside"})
    assert not store.park("ev1", {"event": {"event_id": "ev1"}, "reason": "rating 7.3 is outside"})
    assert [entry["reason"] for entry in store.deadletters()] == ["rating 7.3 is outside"]


def test_replay_rebuilds_the_same_profiles_from_the_log_and_from_its_parquet_export(
        profiles, movies, redis_url, profile_env, tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    ids = list(movies.rows)
    for user in range(5):
        profiles.onboard(f"u{user}", [int(m) for m in rng.choice(ids, 3)], [], "")
    for n in range(200):
        user = f"u{n % 5}"
        if n % 10 == 9:
            profiles.record_interaction(user, int(rng.choice(ids)), "watch", f"w{n}")
        else:
            profiles.apply_review(review(f"r{n}", user, int(rng.choice(ids)), float(rng.integers(1, 11)) / 2))
    for key, value in profile_env.items():
        monkeypatch.setenv(key, value)
    settings = ProfileSettings.from_env(require_embedding=False)

    report = run(settings, target_url=None, target_prefix="movierec:replay:", parquet=None, tolerance=1e-6, keep=True)
    assert report.ok(1e-6), report
    assert (report.entries, report.users_compared, report.max_abs_diff) == (205, 5, 0.0)
    replayed = store_for(redis_url)
    replayed.prefix = "movierec:replay:"
    assert replayed.load("u3").version == profiles.store.load("u3").version

    out = tmp_path / "interactions.parquet"
    assert write_parquet(rows_of(profiles.store, "interactions"), INTERACTIONS_SCHEMA, out) == 205
    from_file = run(settings, target_url=None, target_prefix="movierec:replay2:", parquet=out, tolerance=1e-6,
                    keep=False)
    assert from_file.ok(1e-6) and from_file.max_abs_diff == 0.0 and from_file.users_compared == 5

    # A corrupted live vector is caught.
    store = profiles.store
    state = store.load("u1")
    store.client.hset(store.profile_key("u1"), "vec", (state.vector * 0.5).astype("<f4").tobytes())
    broken = run(settings, target_url=None, target_prefix="movierec:replay:", parquet=None, tolerance=1e-6,
                 keep=False)
    assert not broken.ok(1e-6) and broken.mismatched_users[0]["user_id"] == "u1"
    assert overlaps("movierec:", "movierec:profile:") and overlaps("movierec:", "movie")
    assert not overlaps("movierec:", "movierec:replay:")
