"""The taste vector's history (``P taste-history:<user>``): one snapshot per UTC day, capped, idempotent.

Real redis-server (the session fixture) and the real Lua scripts; the day comes from the event time
(``created_at``), so the tests date their events on chosen days. The gRPC read (``GetTasteHistory``)
goes through a real profile server process.
"""

from __future__ import annotations

import time

import grpc
import numpy as np
from profile_helpers import DEFAULT_TASTE, store_for

from movierec.profile.v1 import profile_pb2, profile_pb2_grpc
from movierec_jobs.replay import ReplayReport, compare, live_entries, rebuild
from movierec_profile_contract import DAY_MS, TASTE_HISTORY_MAX
from profile_service.domain import Profiles
from profile_service.settings import StoreSettings
from profile_service.store import ProfileStore, now_ms

LIKED = [356, 318, 296]
TODAY = now_ms() // DAY_MS


def at(day_offset: int, hour: int = 12) -> int:
    """Epoch ms of ``hour``:00 UTC, ``day_offset`` days after today."""
    return (TODAY + day_offset) * DAY_MS + hour * 3_600_000


def review(event_id: str, movie: int, rating: float, when_ms: int, user: str = "u") -> dict:
    return {"event_id": event_id, "user_id": user, "movie_id": movie, "rating": rating, "text": "",
            "created_at_ms": when_ms}


def others(movies, count: int) -> list[int]:
    return [m for m in sorted(movies.rows) if m not in LIKED][:count]


def onboarded(redis_url: str, movies, user: str = "u") -> Profiles:
    profiles = Profiles(store_for(redis_url), movies, DEFAULT_TASTE, embedder=None)
    profiles.onboard(user, LIKED, [], "")
    return profiles


def test_one_snapshot_per_day_the_days_last_state_wins_and_only_changes_count(redis_url, movies):
    profiles = onboarded(redis_url, movies)
    store = profiles.store
    first = store.taste_history("u")
    assert [s.day for s in first] == [TODAY]  # onboarding sets the vector: today's snapshot
    np.testing.assert_array_equal(first[0].vector, store.load("u").vector)

    a, b, c, d = others(movies, 4)
    assert profiles.apply_review(review("r1", a, 5.0, at(1, 9))).applied
    after_first = store.load("u").vector
    assert profiles.apply_review(review("r2", b, 4.5, at(1, 20))).applied
    state = store.load("u")
    history = store.taste_history("u")
    assert [s.day for s in history] == [TODAY, TODAY + 1]
    np.testing.assert_array_equal(history[1].vector, state.vector)  # the day's last state
    assert not np.array_equal(history[1].vector, after_first)
    assert history[1].version == state.version and history[1].at_ms == at(1, 20)

    # A watch does not move the taste vector: no snapshot, even on a new day.
    assert profiles.record_interaction("u", c, "watch", "w1", at(2)).applied
    assert [s.day for s in store.taste_history("u")] == [TODAY, TODAY + 1]

    # A re-rating (the recompute path) on a later day is a change like any other.
    assert profiles.apply_review(review("r3", a, 1.0, at(3))).applied
    history = store.taste_history("u")
    assert [s.day for s in history] == [TODAY, TODAY + 1, TODAY + 3]
    np.testing.assert_array_equal(history[-1].vector, store.load("u").vector)

    # An event dated before the newest snapshot's day updates that snapshot: the history never goes back.
    assert profiles.apply_review(review("r4", d, 5.0, at(0, 1))).applied
    history = store.taste_history("u")
    assert [s.day for s in history] == [TODAY, TODAY + 1, TODAY + 3]
    np.testing.assert_array_equal(history[-1].vector, store.load("u").vector)
    np.testing.assert_array_equal(history[0].vector, first[0].vector)


def test_an_event_applied_twice_adds_no_second_snapshot_and_changes_none(redis_url, movies):
    profiles = onboarded(redis_url, movies)
    store = profiles.store
    movie = others(movies, 1)[0]
    event = review("once", movie, 5.0, at(1))
    assert profiles.apply_review(event).applied
    key = store.taste_history_key("u")
    raw = store.client.zrange(key, 0, -1, withscores=True)
    assert len(raw) == 2
    assert not profiles.apply_review(event).applied
    assert not profiles.apply_review({**event, "created_at_ms": at(2)}).applied  # same id, another day
    assert store.client.zrange(key, 0, -1, withscores=True) == raw
    # Pipelined batch of duplicates (the replay/apply_many path) too.
    results = store.apply_many([store_event for store_event in _logged(store)], movies)
    assert all(not r.applied for r in results)
    assert store.client.zrange(key, 0, -1, withscores=True) == raw


def _logged(store: ProfileStore):
    entries, _ = live_entries(store)
    return list(entries)


def test_the_history_keeps_the_newest_days_up_to_its_cap_and_replay_rebuilds_it(redis_url, movies):
    profiles = onboarded(redis_url, movies)
    store = profiles.store
    days = TASTE_HISTORY_MAX + 12
    candidates = others(movies, days)
    for i, movie in enumerate(candidates):
        assert profiles.apply_review(review(f"d{i}", movie, 5.0 if i % 2 else 1.0, at(i + 1))).applied
    history = store.taste_history("u")
    assert len(history) == TASTE_HISTORY_MAX == store.client.zcard(store.taste_history_key("u"))
    assert [s.day for s in history] == list(range(TODAY + days - TASTE_HISTORY_MAX + 1, TODAY + days + 1))
    assert history[-1].version == store.load("u").version
    np.testing.assert_array_equal(history[-1].vector, store.load("u").vector)
    versions = [s.version for s in history]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    # ~1.9 KB per snapshot at 384-d (measured 113,680 B for 60; the README's "Bounded state" row)
    used = store.client.memory_usage(store.taste_history_key("u"), samples=0)
    assert used <= TASTE_HISTORY_MAX * 2048, used

    # Replay into another prefix with the same scripts rebuilds the same history (days, versions, vectors).
    target = ProfileStore(StoreSettings(redis_url, key_prefix="movierec:replay:"))
    report = ReplayReport()
    entries, _ = live_entries(store)
    logged = rebuild(entries, target, movies, report)
    compare(store, target, logged, report, 0.0)
    assert report.users_compared == 1 and not report.mismatched_users, report
    rebuilt = target.taste_history("u")
    assert [(s.day, s.version) for s in rebuilt] == [(s.day, s.version) for s in history]
    for live, again in zip(history, rebuilt, strict=True):
        np.testing.assert_array_equal(live.vector, again.vector)
    target.delete_prefix()


def test_get_taste_history_over_grpc(redis_url, movies, profile_env, start_tier):
    profiles = onboarded(redis_url, movies, "grpc-user")
    movie = others(movies, 1)[0]
    assert profiles.apply_review(review("g1", movie, 5.0, at(2), user="grpc-user")).applied
    address, _ = start_tier("profile", {**profile_env, "EMBEDDING_ADDR": "127.0.0.1:1"})
    with grpc.insecure_channel(address) as channel:
        stub = profile_pb2_grpc.ProfileServiceStub(channel)
        answer = when_serving(lambda: stub.GetTasteHistory(profile_pb2.GetTasteHistoryRequest(user_id="grpc-user"),
                                                           timeout=30))
        assert answer.max_snapshots == TASTE_HISTORY_MAX
        assert [s.day.ToMilliseconds() for s in answer.snapshots] == [TODAY * DAY_MS, (TODAY + 2) * DAY_MS]
        assert answer.snapshots[-1].changed_at.ToMilliseconds() == at(2)
        np.testing.assert_allclose(np.array(answer.snapshots[-1].vector, dtype=np.float32),
                                   profiles.store.load("grpc-user").vector)
        empty = stub.GetTasteHistory(profile_pb2.GetTasteHistoryRequest(user_id="nobody"), timeout=30)
        assert list(empty.snapshots) == []
        try:
            stub.GetTasteHistory(profile_pb2.GetTasteHistoryRequest(user_id="bad id!"), timeout=30)
            raise AssertionError("a bad user id was accepted")
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def when_serving(call, timeout_s: float = 120.0):
    """The call's answer once the server has loaded (it answers UNAVAILABLE until then)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
