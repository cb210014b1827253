"""Publishing review events onto the profile tier's Celery queue (Redis broker).

The gateway never imports the worker: it sends the task *by name* (``profile.apply_review``) with a
JSON payload, so the two deploy and scale independently.

A publish is two writes: first the event goes into the *pending ledger* (``<prefix>pending`` hash +
``<prefix>pending:due`` zset, prefix ``PROFILE_KEY_PREFIX``), then the Celery message is pushed. The
profile worker's scripts settle the ledger entry atomically with applying (or parking) the event,
and its sweeper re-publishes entries left pending too long. So an acknowledged event (202: both
writes done; with AOF ``appendfsync always`` they are on disk) survives even the windows in which the
Redis transport itself can drop a message (a consumer losing Redis between popping a message and
recording it as unacknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import redis
from celery import Celery

from movierec_core.config import env_int, env_str

REVIEW_TASK = "profile.apply_review"
INTERACTION_TASK = "profile.record_interaction"

# Bounded retries while publishing: a broker outage becomes a quick 503, never a hung request.
_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.05, "interval_step": 0.1, "interval_max": 0.2}

_apps: dict[str, Celery] = {}
_ledgers: dict[str, redis.Redis] = {}
_lock = threading.Lock()
# Publishing is blocking I/O (two Redis round trips); its own pool keeps a burst of reviews from
# queueing behind the event loop's small default executor (min(32, cores + 4) threads).
_executor = ThreadPoolExecutor(max_workers=env_int("GATEWAY_PUBLISH_THREADS", 16, minimum=1),
                               thread_name_prefix="publish")


class PublishError(Exception):
    """The event could not be handed to the broker (nothing was acknowledged)."""


def _publisher(broker_url: str) -> Celery:
    with _lock:
        app = _apps.get(broker_url)
        if app is None:
            app = Celery("movierec-gateway", broker=broker_url, set_as_current=False)
            app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                            broker_transport_options={"socket_timeout": 2, "socket_connect_timeout": 2})
            _apps[broker_url] = app
        return app


def _ledger(broker_url: str) -> redis.Redis:
    with _lock:
        client = _ledgers.get(broker_url)
        if client is None:
            client = redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2)
            _ledgers[broker_url] = client
        return client


def _send(broker_url: str, task: str, event: dict) -> None:
    queue = env_str("PROFILE_EVENTS_QUEUE", "profile-events")
    prefix = env_str("PROFILE_KEY_PREFIX", "movierec:")
    event_id = event["event_id"]
    ledger = _ledger(broker_url)
    try:
        ledger.pipeline(transaction=True) \
            .hset(f"{prefix}pending", event_id, json.dumps({"task": task, "event": event})) \
            .zadd(f"{prefix}pending:due", {event_id: int(time.time() * 1000)}) \
            .execute()
    except redis.RedisError as error:
        raise PublishError(f"review queue unavailable: {error}") from error
    try:
        _publisher(broker_url).send_task(task, kwargs={"event": event}, task_id=event_id, queue=queue,
                                         retry=True, retry_policy=_RETRY_POLICY)
    except Exception as error:  # kombu raises OperationalError and friends; all mean "not published"
        _forget(ledger, prefix, event_id)
        raise PublishError(f"review queue unavailable: {error}") from error


def _send_many(broker_url: str, task: str, events: list[dict]) -> None:
    """Many events at once (an import): one ledger transaction, then every message through one
    producer connection — the same two-step guarantee as :func:`_send`, without a round trip pair
    and a thread hop per event."""
    queue = env_str("PROFILE_EVENTS_QUEUE", "profile-events")
    prefix = env_str("PROFILE_KEY_PREFIX", "movierec:")
    ledger = _ledger(broker_url)
    now_ms = int(time.time() * 1000)
    try:
        pipe = ledger.pipeline(transaction=True)
        pipe.hset(f"{prefix}pending", mapping={e["event_id"]: json.dumps({"task": task, "event": e}) for e in events})
        pipe.zadd(f"{prefix}pending:due", {e["event_id"]: now_ms for e in events})
        pipe.execute()
    except redis.RedisError as error:
        raise PublishError(f"review queue unavailable: {error}") from error
    app = _publisher(broker_url)
    sent = 0
    try:
        with app.producer_or_acquire() as producer:
            for event in events:
                app.send_task(task, kwargs={"event": event}, task_id=event["event_id"], queue=queue,
                              retry=True, retry_policy=_RETRY_POLICY, producer=producer)
                sent += 1
    except Exception as error:  # not published: the sweeper re-sends what stays in the ledger
        for event in events[sent:]:
            _forget(ledger, prefix, event["event_id"])
        raise PublishError(f"review queue unavailable: {error}") from error


def _forget(ledger: redis.Redis, prefix: str, event_id: str) -> None:
    """Undo the ledger entry of an event that was not queued (if this fails too, the sweeper delivers it)."""
    with contextlib.suppress(redis.RedisError):
        ledger.pipeline(transaction=True).hdel(f"{prefix}pending", event_id) \
            .zrem(f"{prefix}pending:due", event_id).execute()


async def _run(function, *args) -> None:
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()  # request id and deadline follow, as with asyncio.to_thread
    await loop.run_in_executor(_executor, functools.partial(context.run, function, *args))


async def publish_review(broker_url: str, *, user_id: str, movie_id: int, rating: float, text: str = "",
                         event_id: str | None = None, created_at_ms: int | None = None) -> str:
    """Enqueue one review event and return its ``event_id`` (generated unless given)."""
    event = {"event_id": event_id or uuid.uuid4().hex, "user_id": user_id, "movie_id": int(movie_id),
             "rating": float(rating), "text": text, "created_at_ms": created_at_ms or int(time.time() * 1000)}
    await _run(_send, broker_url, REVIEW_TASK, event)
    return event["event_id"]


async def publish_reviews(broker_url: str, reviews: list[dict]) -> list[str]:
    """Enqueue many review events (``user_id, movie_id, rating`` and optionally ``text``,
    ``event_id``, ``created_at_ms`` each) in one go; returns their event ids in order."""
    now_ms = int(time.time() * 1000)
    events = [{"event_id": r.get("event_id") or uuid.uuid4().hex, "user_id": r["user_id"],
               "movie_id": int(r["movie_id"]), "rating": float(r["rating"]), "text": r.get("text", ""),
               "created_at_ms": r.get("created_at_ms") or now_ms} for r in reviews]
    if events:
        await _run(_send_many, broker_url, REVIEW_TASK, events)
    return [e["event_id"] for e in events]


async def publish_interaction(broker_url: str, *, user_id: str, movie_id: int, kind: str,
                              event_id: str | None = None, created_at_ms: int | None = None) -> str:
    """Enqueue a watch or click (recent-interest signal) and return its ``event_id``."""
    event = {"event_id": event_id or uuid.uuid4().hex, "user_id": user_id, "movie_id": int(movie_id),
             "kind": kind, "created_at_ms": created_at_ms or int(time.time() * 1000)}
    await _run(_send, broker_url, INTERACTION_TASK, event)
    return event["event_id"]
