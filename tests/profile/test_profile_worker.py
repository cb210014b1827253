"""The review event bus end to end: gateway publish → Redis broker → real Celery worker → Lua update.

Crash tests: ``kill -9`` of the worker's process group with events in flight, and a hard restart of
Redis (AOF, appendfsync always). In both, every acknowledged event must be applied exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections import Counter

import numpy as np
from profile_helpers import (
    DEFAULT_TASTE,
    expected_vectors,
    half_star_ratings,
    log_entries,
    store_for,
    wait_until,
    worker_env,
)

from gateway_service.events import PublishError
from movierec_jobs.replay import run as replay
from movierec_profile_contract import REVIEW_TASK, encode_review, new_review, record_pending
from profile_service.domain import Profiles
from profile_service.settings import ProfileSettings
from profile_service.taste import ema_step

LIKED = [356, 318, 296]
QUEUE = "profile-events"


def onboard_users(redis_url: str, movies, count: int) -> Profiles:
    profiles = Profiles(store_for(redis_url), movies, DEFAULT_TASTE, embedder=None)
    for user in range(count):
        profiles.onboard(f"user{user}", [LIKED[user % 3], 2571], [], "")
    return profiles


def broker_drained(profiles: Profiles) -> bool:
    """No message waiting in the queue, none delivered but unacknowledged, no event pending."""
    client = profiles.store.client
    return client.llen(QUEUE) == 0 and client.hlen("unacked") == 0 and client.hlen(profiles.store.pending_key) == 0


def bus_state(profiles: Profiles, expected: dict[str, str]) -> str:
    """What is where, for a failure message."""
    client = profiles.store.client
    applied = {e.event_id for e in log_entries(profiles.store)}
    missing = sorted(set(expected) - applied)
    return (f"missing {len(missing)} {missing[:10]}; queue {client.llen(QUEUE)}; unacked {client.hlen('unacked')}; "
            f"pending {client.hlen(profiles.store.pending_key)}; dead letters {profiles.store.deadletters(5)}")


def wait_applied(profiles: Profiles, expected: dict[str, str], users: int, timeout_s: float) -> None:
    store = profiles.store
    try:
        wait_until(lambda: store.client.xlen(store.interactions_key) >= users + len(expected)
                   and broker_drained(profiles), timeout_s, "every acknowledged event to be applied")
    except AssertionError as error:
        raise AssertionError(f"{error}: {bus_state(profiles, expected)}") from None


def replay_report(profile_env: dict[str, str], monkeypatch):
    for key, value in profile_env.items():
        monkeypatch.setenv(key, value)
    return replay(ProfileSettings.from_env(require_embedding=False), target_url=None,
                  target_prefix="movierec:replay:", parquet=None, tolerance=1e-6, keep=False)


def assert_applied_exactly_once(profiles: Profiles, movies, published: dict[str, str], users: int,
                                profile_env, monkeypatch) -> None:
    """Each published event is in the log once; versions, counters and vectors agree with the log."""
    entries = log_entries(profiles.store)
    counts = Counter(e.event_id for e in entries if e.kind == "rate")
    assert set(counts) == set(published), f"missing: {sorted(set(published) - set(counts))[:10]}"
    assert max(counts.values()) == 1
    per_user = Counter(published.values())
    expected = expected_vectors(entries, movies)
    for user in range(users):
        state = profiles.store.load(f"user{user}")
        assert state.version == 1 + per_user[f"user{user}"]
        assert state.counters["review_count"] == per_user[f"user{user}"]
        np.testing.assert_allclose(state.vector, expected[f"user{user}"], atol=1e-6)
    report = replay_report(profile_env, monkeypatch)
    assert report.ok(1e-6) and report.users_compared == users and report.max_abs_diff == 0.0, report


def test_a_review_on_the_bus_moves_the_vector_by_the_formula_once(redis_url, movies, profile_env, worker_factory,
                                                                  publishers):
    publisher = publishers(redis_url)
    profiles = onboard_users(redis_url, movies, 1)
    store = profiles.store
    before = store.load("user0").vector
    worker_factory(profile_env)

    event_id = asyncio.run(publisher.publish_review(user_id="user0", movie_id=1196, rating=4.5, text="great"))
    wait_until(lambda: store.load("user0").version == 2, 30, "the review to be applied")
    state = store.load("user0")
    np.testing.assert_allclose(state.vector, ema_step(before, movies.vector(1196), 0.8), atol=1e-7)
    assert state.ratings[1196]["rating"] == 4.5 and state.ratings[1196]["event_id"] == event_id

    # The same event delivered again (a redelivery, or a client retry) changes nothing.
    asyncio.run(publisher.publish_review(user_id="user0", movie_id=1196, rating=4.5, text="great",
                               event_id=event_id))
    wait_until(lambda: store.duplicates_seen() == 1 and broker_drained(profiles), 30, "the duplicate to be seen")
    again = store.load("user0")
    np.testing.assert_array_equal(again.vector, state.vector)
    assert again.version == 2 and store.client.xlen(store.interactions_key) == 2


def test_invalid_events_are_dead_lettered_with_the_reason_and_affect_nothing_else(
        redis_url, movies, profile_env, worker_factory, publishers):
    publisher = publishers(redis_url)
    profiles = onboard_users(redis_url, movies, 1)
    store = profiles.store
    worker_factory(profile_env)

    async def publish() -> dict[str, str]:
        ids = {"unknown movie": await publisher.publish_review(user_id="user0", movie_id=424242, rating=4.0),
               "rating 7.3": await publisher.publish_review(user_id="user0", movie_id=1196, rating=7.3),
               "missing user": await publisher.publish_review(user_id="nobody", movie_id=1196, rating=4.0)}
        for movie in (1196, 260, 593):
            await publisher.publish_review(user_id="user0", movie_id=movie, rating=5.0)
        return ids

    ids = asyncio.run(publish())
    wait_until(lambda: len(store.deadletters()) == 3 and store.load("user0").version == 4 and broker_drained(profiles),
               30, "3 dead letters and 3 applied reviews")
    parked = {entry["event"]["event_id"]: entry for entry in store.deadletters()}
    assert parked[ids["unknown movie"]]["code"] == "UNKNOWN_MOVIE"
    assert "movie 424242 is not in the catalog index" in parked[ids["unknown movie"]]["reason"]
    assert parked[ids["rating 7.3"]]["code"] == "RATING_OUT_OF_RANGE"
    assert "rating 7.3 is outside 0.5–5.0" in parked[ids["rating 7.3"]]["reason"]
    assert parked[ids["missing user"]]["code"] == "PROFILE_NOT_FOUND"
    assert "'nobody' has no profile" in parked[ids["missing user"]]["reason"]
    assert all(entry["retries"] == 0 for entry in parked.values())  # rejected at once, never retried
    logged = {e.event_id for e in log_entries(store)}
    assert not logged & set(ids.values())
    assert store.load("nobody") is None and store.load("user0").counters["review_count"] == 3


def test_transient_errors_are_retried_with_backoff_then_parked(redis_url, movies, profile_env, worker_factory,
                                                               publishers):
    """A review whose text must be embedded while the embedding tier is unreachable: 3 retries, then parked."""
    profiles = onboard_users(redis_url, movies, 1)
    worker_factory({**profile_env, "EMBEDDING_ADDR": "127.0.0.1:9", "PROFILE_EMBED_TIMEOUT_S": "0.2"})
    started = time.monotonic()
    event_id = asyncio.run(publishers(redis_url).publish_review(
        user_id="user0", movie_id=1196, rating=4.5, text="The music was wonderful. The ending was terrible."))
    wait_until(lambda: len(profiles.store.deadletters()) == 1, 40, "the review to be parked")
    elapsed = time.monotonic() - started
    entry = profiles.store.deadletters()[0]
    assert entry["event"]["event_id"] == event_id
    assert entry["code"] == "RETRIES_EXHAUSTED" and entry["retries"] == 3
    assert "gave up after 3 retries" in entry["reason"] and "UNAVAILABLE" in entry["reason"]
    assert elapsed >= 0.1 + 0.2 + 0.4  # the minimum of three jittered backoffs (0.2·2ⁿ, halved)
    assert profiles.store.load("user0").version == 1


def test_an_event_lost_between_broker_and_worker_is_redelivered_from_the_pending_ledger(
        redis_url, movies, profile_env, worker_factory):
    """The ledger entry exists but the broker lost the message (as when Redis dies between a
    consumer's BRPOP and its unacked bookkeeping): the sweeper re-publishes it."""
    profiles = onboard_users(redis_url, movies, 1)
    store = profiles.store
    event = encode_review(new_review(event_id="lost-1", user_id="user0", movie_id=1196, rating=5.0))
    record_pending(store.client, store.keys, REVIEW_TASK, {"lost-1": event})
    worker_factory({**profile_env, "PROFILE_PENDING_REDELIVER_S": "1"})
    wait_until(lambda: store.load("user0").version == 2, 30, "the lost event to be re-published and applied")
    assert store.client.hlen(store.pending_key) == 0 and store.client.zcard(store.pending_due_key) == 0
    assert [e.event_id for e in log_entries(store)][-1] == "lost-1"


def test_kill_9_of_the_worker_with_1000_events_in_flight_loses_and_doubles_nothing(
        redis_url, movies, profile_env, worker_factory, monkeypatch, publishers):
    publisher = publishers(redis_url)
    users, total = 20, 1000
    profiles = onboard_users(redis_url, movies, users)
    store = profiles.store
    rng = np.random.default_rng(1)
    ids = list(movies.rows)
    events = [{"event_id": f"k{i}", "user_id": f"user{i % users}", "movie_id": int(rng.choice(ids)),
               "rating": rating} for i, rating in enumerate(half_star_ratings(rng, total))]
    published: dict[str, str] = {}

    async def publish_all() -> None:
        semaphore = asyncio.Semaphore(16)  # as concurrent requests to the gateway would

        async def publish(event: dict) -> None:
            async with semaphore:
                await publisher.publish_review(user_id=event["user_id"], movie_id=event["movie_id"],
                                     rating=event["rating"], event_id=event["event_id"])
                published[event["event_id"]] = event["user_id"]

        await asyncio.gather(*(publish(event) for event in events))

    started = time.monotonic()
    asyncio.run(publish_all())  # all 1000 acknowledged and waiting in the broker
    published_s = time.monotonic() - started
    prefork = {**profile_env, "WORKER_POOL": "prefork"}  # a parent and child processes: kill the group
    first = worker_factory(prefork)
    wait_until(lambda: store.client.xlen(store.interactions_key) >= users + 150, 60, "150 applied events")
    os.killpg(first.pid, signal.SIGKILL)
    first.popen.wait(10)
    applied_at_kill = store.client.xlen(store.interactions_key) - users
    unacked_at_kill = store.client.hlen("unacked")
    assert applied_at_kill < total, "the kill came too late to interrupt anything"
    assert unacked_at_kill > 0, "no message was in the worker's hands when it died"

    restarted = time.monotonic()
    worker_factory(prefork)
    wait_applied(profiles, published, users, 90)
    print(f"\n[kill -9] published 1000 in {published_s:.1f}s; applied before the kill: {applied_at_kill}, "
          f"unacked at the kill: {unacked_at_kill}; all applied {time.monotonic() - restarted:.1f}s after the "
          f"restart; duplicates absorbed after redelivery: {store.duplicates_seen()}")
    assert_applied_exactly_once(profiles, movies, published, users, profile_env, monkeypatch)


def test_hard_redis_restarts_lose_no_acknowledged_event(
        private_redis, index_dir, catalog_dir, movies, worker_factory, monkeypatch, publishers):
    """Three SIGKILLs of Redis while reviews flow. Besides Celery's redelivery this exercises the two
    recoveries kombu needs: the pending-ledger sweeper (a message popped by the consumer but not yet
    recorded as unacked dies with the connection) and the worker re-executing itself when kombu
    crashes while tearing down its channel ("Unrecoverable error")."""
    users, total = 10, 300
    redis_url = private_redis.url
    publisher = publishers(redis_url)
    profile_env = worker_env(redis_url, index_dir, catalog_dir)
    profiles = onboard_users(redis_url, movies, users)
    store = profiles.store
    rng = np.random.default_rng(2)
    ids = list(movies.rows)
    acknowledged: dict[str, str] = {}
    failures: list[str] = []
    worker = worker_factory(profile_env)

    async def publish_all() -> None:
        for i, rating in enumerate(half_star_ratings(rng, total)):
            user, movie = f"user{i % users}", int(rng.choice(ids))
            while True:  # a client retries with the same event id until the gateway acknowledges
                try:
                    await publisher.publish_review(user_id=user, movie_id=movie, rating=rating, event_id=f"s{i}")
                    acknowledged[f"s{i}"] = user
                    break
                except PublishError as error:
                    failures.append(str(error))
                    await asyncio.sleep(0.2)
            await asyncio.sleep(0.01)

    publishing = threading.Thread(target=lambda: asyncio.run(publish_all()))
    publishing.start()
    for restart, down_s in enumerate((0.5, 1.5, 1.0)):
        wait_until(lambda n=restart: len(acknowledged) >= 60 * (n + 1), 60, "more acknowledged events")
        run_id = store.client.info("server")["run_id"]
        private_redis.kill()  # SIGKILL: only what the AOF fsynced survives
        time.sleep(down_s)
        private_redis.start()
        assert store.client.info("server")["run_id"] != run_id, "Redis was not restarted"
    publishing.join(120)
    assert len(acknowledged) == total
    wait_applied(profiles, acknowledged, users, 90)
    log = worker.log_path.read_text()
    print(f"\n[redis restarts] publishes refused while down: {len(failures)}; duplicates absorbed: "
          f"{store.duplicates_seen()}; sweeper re-publishes: {log.count('re-published pending events')}; "
          f"worker self-restarts: {log.count('restarting in 1 s')}")
    assert_applied_exactly_once(profiles, movies, acknowledged, users, profile_env, monkeypatch)
