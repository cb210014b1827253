"""Bounded profile-tier state under Redis ``noeviction``, the dead-letter redrive, and the bus contract.

Real redis-server (the session fixture), real Lua scripts, real worker processes and the gateway's own
publisher; the bounds are the contract's (``movierec_profile_contract``), not test doubles.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from google.protobuf import json_format
from profile_helpers import DEFAULT_TASTE, log_entries, store_for, wait_until

from gateway_service.events import ReviewPublisher
from movierec.events.v1 import events_pb2
from movierec_core.paths import REPO_ROOT
from movierec_profile_contract import (
    APPLIED_MAX_IDS,
    APPLIED_RETENTION_S,
    REVIEW_TASK,
    WATCHED_MAX,
    ProfileKeys,
)
from profile_service.domain import ProfileNotFound, Profiles
from profile_service.settings import StoreSettings
from profile_service.store import ProfileStore, now_ms

LIKED = [356, 318, 296]
DAY_MS = 86_400_000


def review(event_id: str, user: str = "u", movie: int = 1196, rating: float = 4.5, text: str = "") -> dict:
    return {"event_id": event_id, "user_id": user, "movie_id": movie, "rating": rating, "text": text,
            "created_at_ms": now_ms()}


def profiles_for(store: ProfileStore, movies, *users: str) -> Profiles:
    profiles = Profiles(store, movies, DEFAULT_TASTE, embedder=None)
    for user in users:
        profiles.onboard(user, LIKED, [], "")
    return profiles


# ---- the per-user applied-event index --------------------------------------------------------------

def test_applied_ids_older_than_the_retention_are_dropped_and_the_cap_holds(redis_url, movies):
    store = store_for(redis_url)
    profiles = profiles_for(store, movies, "u")
    key = store.applied_key("u")
    assert store.client.type(key) == b"zset"
    now = now_ms()
    retention_ms = APPLIED_RETENTION_S * 1000
    store.client.zadd(key, {f"old-{i}": now - retention_ms - 3_600_000 - i for i in range(100)})
    store.client.zadd(key, {f"young-{i}": now - retention_ms + 3_600_000 for i in range(10)})

    assert profiles.apply_review(review("r1")).applied
    left = {member.decode() for member in store.client.zrange(key, 0, -1)}
    assert not any(member.startswith("old-") for member in left)
    assert {f"young-{i}" for i in range(10)} <= left and "r1" in left

    # More ids within the retention than the cap: the oldest go, the newest (and the new one) stay.
    store.client.zadd(key, {f"recent-{i}": now - 600_000 + i for i in range(APPLIED_MAX_IDS + 500)})
    assert profiles.apply_review(review("r2", movie=260)).applied
    assert store.client.zcard(key) == APPLIED_MAX_IDS
    assert store.client.zscore(key, "r2") is not None
    assert store.client.zscore(key, f"recent-{APPLIED_MAX_IDS + 499}") is not None
    assert store.client.zscore(key, "recent-0") is None and store.client.zscore(key, "young-0") is None


def test_a_redelivered_event_within_the_retention_is_still_a_duplicate(redis_url, movies):
    store = store_for(redis_url)
    profiles = profiles_for(store, movies, "u")
    event = review("again")
    assert profiles.apply_review(event).applied
    state = store.load("u")
    # A busy user: thousands of later events, still within the cap, then the redelivery.
    store.client.zadd(store.applied_key("u"), {f"later-{i}": now_ms() + i for i in range(APPLIED_MAX_IDS - 10)})
    result = profiles.apply_review(event)
    assert not result.applied and result.version == state.version
    assert store.duplicates_seen() == 1
    again = store.load("u")
    np.testing.assert_array_equal(again.vector, state.vector)
    assert again.version == state.version and again.counters == state.counters
    assert [e.event_id for e in log_entries(store)].count("again") == 1


def test_an_applied_set_from_before_the_trim_is_converted_and_still_deduplicates(redis_url, movies):
    store = store_for(redis_url)
    profiles = profiles_for(store, movies, "legacy")
    key = store.applied_key("legacy")
    members = [m.decode() for m in store.client.zrange(key, 0, -1)]
    store.client.delete(key)
    store.client.sadd(key, *members, "applied-long-ago")  # the layout before the index was time-trimmed
    version = store.load("legacy").version

    result = profiles.apply_review(review("applied-long-ago", user="legacy"))
    assert not result.applied and result.version == version
    assert store.client.type(key) == b"zset"
    assert {m.decode() for m in store.client.zrange(key, 0, -1)} == {*members, "applied-long-ago"}
    assert abs(store.client.zscore(key, "applied-long-ago") - now_ms()) < 60_000  # kept for a full retention
    assert profiles.apply_review(review("new-one", user="legacy")).applied


# ---- the watched set ---------------------------------------------------------------------------------

def test_a_watch_marks_the_movie_watched_in_its_own_step_capped_and_without_a_profile_too(redis_url, movies):
    store = store_for(redis_url)
    profiles = profiles_for(store, movies, "u")
    assert profiles.record_interaction("u", 1196, "watch", "w1").applied
    assert profiles.record_interaction("u", 260, "click", "c1").applied  # a click is not a watch
    assert store.watched_ids("u") == [1196]
    # A chat-first user without a profile: nothing to nudge, but the mark stays (the answer is NOT_FOUND).
    with pytest.raises(ProfileNotFound):
        profiles.record_interaction("chat-first", 2571, "watch", "w2")
    assert store.watched_ids("chat-first") == [2571] and store.load("chat-first") is None
    # Capped: the newest WATCHED_MAX stay.
    old = now_ms() - DAY_MS
    store.client.zadd(store.watched_key("u"), {str(1_000_000 + i): old + i for i in range(WATCHED_MAX)})
    assert profiles.record_interaction("u", 593, "watch", "w3").applied
    watched = store.watched_ids("u")
    assert len(watched) == WATCHED_MAX and watched[0] == 593 and 1_000_000 not in watched


# ---- dead letters ------------------------------------------------------------------------------------

def test_dead_letters_are_capped_counted_and_parked_once(redis_url):
    store = ProfileStore(StoreSettings(redis_url, deadletter_maxlen=5))
    keys = store.keys
    for i in range(8):
        assert store.park(f"d{i}", {"event": {"event_id": f"d{i}"}, "code": "UNKNOWN_MOVIE", "reason": "test"})
    assert store.client.llen(keys.deadletter) == 5 and store.client.zcard(keys.deadletter_ids) == 5
    assert [e["event"]["event_id"] for e in store.deadletters()] == ["d7", "d6", "d5", "d4", "d3"]
    assert {m.decode() for m in store.client.zrange(keys.deadletter_ids, 0, -1)} == {"d3", "d4", "d5", "d6", "d7"}
    assert store.deadletters_parked() == 8
    assert not store.park("d7", {"event": {"event_id": "d7"}, "code": "UNKNOWN_MOVIE", "reason": "again"})
    assert store.deadletters_parked() == 8 and store.client.llen(keys.deadletter) == 5

    store.client.delete(keys.deadletter_ids)
    store.client.sadd(keys.deadletter_ids, "parked-long-ago")  # the id set before it was capped
    assert not store.park("parked-long-ago", {"event": {}, "code": "X", "reason": "again"})
    assert store.client.type(keys.deadletter_ids) == b"zset"


# ---- the logs' byte budgets --------------------------------------------------------------------------

def test_the_interaction_and_turn_logs_stay_within_their_byte_budgets(redis_url, movies):
    budget = 1_000_000
    store = ProfileStore(StoreSettings(redis_url, log_max_bytes=budget, turns_max_bytes=budget // 2))
    profiles = profiles_for(store, movies, *(f"u{n}" for n in range(10)))
    rated = [m for m in movies.rows if m not in LIKED][:250]
    text = "a long review, " * 266  # ~4,000 characters: the gateway's limit
    # The scripts go by Redis's MEMORY USAGE estimate (it extrapolates from the oldest nodes), so the
    # budget holds within the estimate's error: one entry over, then trimmed to 95 %.
    for n, movie in enumerate(rated):
        profiles.apply_review(review(f"big-{n}", user=f"u{n % 10}", movie=int(movie), text=text))
        used = store.client.memory_usage(store.interactions_key)
        assert used <= budget * 1.15, f"{used} B after {n + 1} reviews"
    assert store.client.memory_usage(store.interactions_key, samples=0) <= budget * 1.05  # the exact size
    logged = [e.event_id for e in log_entries(store)]
    assert logged[-1] == "big-249" and "big-0" not in logged
    assert 150 < len(logged) < 250, len(logged)  # ~4.3 KB each: about 220 fit in 1 MB

    for n in range(300):
        profiles.log_turn("u0", "s", n, text, list(range(1, 51)), [0.5] * 50, [1, 2, 3])
    assert store.client.memory_usage(store.turns_key, samples=0) <= budget // 2 * 1.05
    assert 50 < store.client.xlen(store.turns_key) < 300


# ---- redrive -----------------------------------------------------------------------------------------

def redrive_cli(redis_url: str, *args: str) -> dict:
    env = {**os.environ, "REDIS_URL": redis_url}
    done = subprocess.run([sys.executable, "-m", "profile_service.redrive", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def snapshot(store: ProfileStore) -> tuple:
    client, keys = store.client, store.keys
    return (client.lrange(keys.deadletter, 0, -1), client.zrange(keys.deadletter_ids, 0, -1, withscores=True),
            store.deadletters_parked(), client.hgetall(keys.pending), client.llen("profile-events"))


def test_redrive_dry_run_changes_nothing_and_apply_redrives_once(redis_url, movies, profile_env, worker_factory,
                                                                  publishers):
    store = store_for(redis_url)
    profiles = profiles_for(store, movies, "user0")
    publisher = publishers(redis_url)
    worker_factory(profile_env)

    async def publish() -> list[str]:
        return [await publisher.publish_review(user_id="late", movie_id=1196, rating=5.0),
                await publisher.publish_review(user_id="late", movie_id=260, rating=4.0),
                await publisher.publish_review(user_id="user0", movie_id=424242, rating=4.0)]

    late_1, late_2, unknown = asyncio.run(publish())
    drained = lambda: (store.client.llen("profile-events") == 0 and store.client.hlen("unacked") == 0  # noqa: E731
                       and store.client.hlen(store.pending_key) == 0)
    wait_until(lambda: len(store.deadletters()) == 3 and drained(), 30, "three dead letters")
    before = snapshot(store)

    dry = redrive_cli(redis_url)
    assert dry["apply"] is False and dry["matched"] == 3 and dry["redriven"] == 0
    assert dry["by_code"] == {"PROFILE_NOT_FOUND": 2, "UNKNOWN_MOVIE": 1}
    assert sorted(dry["event_ids"]) == sorted([late_1, late_2, unknown])
    time.sleep(1.0)
    assert snapshot(store) == before  # nothing moved: list, id index, counter, ledger, queue

    profiles.onboard("late", LIKED, [], "")  # the cause is fixed: the user exists now
    applied = redrive_cli(redis_url, "--apply", "--code", "PROFILE_NOT_FOUND")
    assert applied["matched"] == 2 and applied["redriven"] == 2 and applied["publish_failed"] == 0
    wait_until(lambda: store.load("late").version == 3 and drained(), 30, "the two redriven reviews to apply")
    assert [e["event"]["event_id"] for e in store.deadletters()] == [unknown]
    assert store.client.zrange(store.keys.deadletter_ids, 0, -1) == [unknown.encode()]
    assert store.deadletters_parked() == 3  # applied this time: not parked again
    assert sorted(store.load("late").ratings) == [260, 1196]

    again = redrive_cli(redis_url, "--apply", "--code", "PROFILE_NOT_FOUND")
    assert again["matched"] == 0 and again["redriven"] == 0
    time.sleep(1.0)
    assert drained() and store.load("late").version == 3
    assert [e.event_id for e in log_entries(store)].count(late_1) == 1


def test_make_redrive_deadletters_is_a_dry_run_unless_apply_is_1():
    def recipe(*variables: str) -> str:
        done = subprocess.run(["make", "-n", "redrive-deadletters", *variables], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return [line for line in done.stdout.splitlines() if "profile_service.redrive" in line][-1]

    assert "--apply" not in recipe()
    assert "--apply" not in recipe("APPLY=0")
    assert recipe("APPLY=1").split("profile_service.redrive")[1].split() == ["--apply"]
    assert recipe("APPLY=1", "CODE=RETRIES_EXHAUSTED").split("profile_service.redrive")[1].split() == [
        "--apply", "--code", "RETRIES_EXHAUSTED"]


# ---- the bus contract: the gateway's publisher and the worker agree ----------------------------------

def test_the_gateway_publisher_and_the_worker_agree_on_the_contract(redis_url, movies, profile_env, worker_factory,
                                                                     monkeypatch):
    """Published through the gateway's own publisher under a non-default prefix and queue: the message
    is a strict ReviewEvent in proto JSON, the ledger sits under the prefix, and the worker applies it."""
    monkeypatch.setenv("PROFILE_KEY_PREFIX", "contract:")
    monkeypatch.setenv("PROFILE_EVENTS_QUEUE", "contract-events")
    store = ProfileStore(StoreSettings(redis_url, key_prefix="contract:"))
    profiles_for(store, movies, "user0")
    publisher = ReviewPublisher(redis_url)
    created = now_ms() - 5 * DAY_MS
    try:
        event_id = asyncio.run(publisher.publish_review(user_id="user0", movie_id=1196, rating=4.5, text="great",
                                                        created_at_ms=created))
    finally:
        publisher.close()

    (raw,) = store.client.lrange("contract-events", 0, -1)
    message = json.loads(raw)
    assert message["headers"]["task"] == REVIEW_TASK and message["headers"]["id"] == event_id
    _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert set(kwargs) == {"event"}
    event = json_format.ParseDict(kwargs["event"], events_pb2.ReviewEvent())  # strict: no unknown field
    assert (event.event_id, event.user_id, event.movie_id, event.rating, event.text) == (
        event_id, "user0", 1196, 4.5, "great")
    assert event.created_at.ToMilliseconds() == created
    ledger = json.loads(store.client.hget("contract:pending", event_id))
    assert ledger == {"task": REVIEW_TASK, "event": kwargs["event"]}
    assert store.client.zscore("contract:pending:due", event_id) is not None
    assert not list(store.client.scan_iter(match="movierec:*"))  # the prefix is honoured on both sides

    worker_factory({**profile_env, "PROFILE_KEY_PREFIX": "contract:", "PROFILE_EVENTS_QUEUE": "contract-events"})
    wait_until(lambda: store.load("user0").version == 2, 30, "the review to be applied")
    rating = store.load("user0").ratings[1196]
    assert (rating["rating"], rating["at"], rating["event_id"], rating["text"]) == (4.5, created, event_id, "great")
    wait_until(lambda: store.client.hlen("contract:pending") == 0, 10, "the ledger to be settled")


# ---- one owner -------------------------------------------------------------------------------------

CONTRACT = Path("libs/movierec_profile_contract/__init__.py")
KEY_LITERAL = re.compile(r"""(movierec:|\{[\w.]*prefix\})(profile:|applied:|ratings:|steps:|watchlist:|"""
                         r"""taste-history:|batch-block:|interactions|turns|deadletter|stats|pending)""")


def python_sources() -> list[Path]:
    return sorted(p for root in ("libs", "services") for p in (REPO_ROOT / root).rglob("*.py"))


def test_profile_tier_keys_and_task_names_are_spelled_only_in_the_contract():
    spelled_keys, spelled_task = set(), set()
    for path in python_sources():
        relative = path.relative_to(REPO_ROOT)
        if relative == CONTRACT:
            continue
        source = path.read_text()
        if KEY_LITERAL.search(source):
            spelled_keys.add(relative.as_posix())
        if "profile.apply_review" in source or "profile.apply_message" in source:
            spelled_task.add(relative.as_posix())
    assert spelled_keys == set()
    assert spelled_task == set()
    assert KEY_LITERAL.search((REPO_ROOT / CONTRACT).read_text())  # the pattern does find keys where they live


def test_the_dead_letter_alert_takes_the_rate_of_the_parked_counter():
    counter = ProfileKeys().deadletter_count
    rules = yaml.safe_load((REPO_ROOT / "deploy/k8s/alerts/profile.rules.yaml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    on_counter = [e for e in exprs if f'redis_key_value{{key="{counter}"}}' in e]
    assert on_counter and all(re.match(r"^(rate|increase)\(", e) for e in on_counter)
    assert not any("redis_key_size" in e and "deadletter" in e for e in exprs)  # not the (capped) list length
    statefulset = (REPO_ROOT / "deploy/k8s/bases/redis/statefulset.yaml").read_text()
    exported = re.search(r"--check-single-keys=(\S+)", statefulset).group(1).split(",")
    assert f"db0={counter}" in exported
