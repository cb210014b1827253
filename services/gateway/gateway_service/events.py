"""Publishing review events onto the profile tier's Celery queue (Redis broker).

The gateway never imports the worker: it sends the task *by name* with a
``movierec.events.v1.ReviewEvent`` in the proto3 JSON mapping, and every key, the task name and the
queue come from the profile tier's contract (``movierec_profile_contract``), so the two deploy and
scale independently and agree on one schema.

A publish is two writes: first the event goes into the *pending ledger* (the contract's
``record_pending``: hash + due zset in one MULTI), then the Celery message is pushed. The profile
worker's scripts settle the ledger entry atomically with applying (or parking) the event, and its
sweeper re-publishes entries left pending too long. So an acknowledged event (202: both writes done;
on disk with AOF ``appendfsync always``, the dev default; within ~1 s with the prod overlay's
``everysec``: services/gateway/README.md, "What a 202 promises") survives even the windows in which the Redis
transport itself can drop a message (a consumer losing Redis between popping a message and recording
it as unacknowledged).

One :class:`ReviewPublisher` is built with the gateway's services and closed with them in the app's
lifespan (``deps.build_services`` / ``Services.close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import uuid
from concurrent.futures import ThreadPoolExecutor

import redis
from celery import Celery

from movierec_core.config import env_int
from movierec_profile_contract import (
    REVIEW_TASK,
    ProfileKeys,
    encode_review,
    forget_pending,
    new_review,
    queue_from_env,
    record_pending,
    send_event,
)

# Bounded retries while publishing: a broker outage becomes a quick 503, never a hung request.
_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.05, "interval_step": 0.1, "interval_max": 0.2}


class PublishError(Exception):
    """The event could not be handed to the broker (nothing was acknowledged)."""


class ReviewPublisher:
    """Review events → the pending ledger, then the profile tier's queue."""

    def __init__(self, broker_url: str, *, keys: ProfileKeys | None = None, queue: str | None = None):
        self.keys = keys or ProfileKeys.from_env()
        self.queue = queue or queue_from_env()
        self._app = Celery("movierec-gateway", broker=broker_url, set_as_current=False)
        self._app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                              broker_transport_options={"socket_timeout": 2, "socket_connect_timeout": 2})
        self._ledger = redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2)
        # Publishing is blocking I/O (two Redis round trips); its own pool keeps a burst of reviews
        # from queueing behind the event loop's small default executor (min(32, cores + 4) threads).
        self._executor = ThreadPoolExecutor(max_workers=env_int("GATEWAY_PUBLISH_THREADS", 16, minimum=1),
                                            thread_name_prefix="publish")

    async def publish_review(self, *, user_id: str, movie_id: int, rating: float, text: str = "",
                             event_id: str | None = None, created_at_ms: int | None = None) -> str:
        """Enqueue one review event and return its ``event_id`` (generated unless given)."""
        event_id = event_id or uuid.uuid4().hex
        payload = encode_review(new_review(event_id=event_id, user_id=user_id, movie_id=movie_id, rating=rating,
                                           text=text, created_at_ms=created_at_ms))
        await self._run(self._send_many, [(event_id, payload)])
        return event_id

    async def publish_reviews(self, reviews: list[dict]) -> list[str]:
        """Enqueue many review events (``user_id, movie_id, rating`` and optionally ``text``,
        ``event_id``, ``created_at_ms`` each) in one go; returns their event ids in order."""
        events = []
        for review in reviews:
            event_id = review.get("event_id") or uuid.uuid4().hex
            events.append((event_id, encode_review(new_review(
                event_id=event_id, user_id=review["user_id"], movie_id=review["movie_id"], rating=review["rating"],
                text=review.get("text", ""), created_at_ms=review.get("created_at_ms")))))
        if events:
            await self._run(self._send_many, events)
        return [event_id for event_id, _ in events]

    def close(self) -> None:
        """Wait for publishes in flight, then release the broker's and the ledger's connections."""
        self._executor.shutdown(wait=True)
        self._app.close()
        self._ledger.close()

    # ---- blocking part, on the publish pool ------------------------------------------------------
    def _send_many(self, events: list[tuple[str, dict]]) -> None:
        """The ledger first (one transaction), then every message through one producer connection; a
        message that could not be queued has its ledger entry undone (if that fails too, the worker's
        sweeper delivers it)."""
        try:
            record_pending(self._ledger, self.keys, REVIEW_TASK, dict(events))
        except redis.RedisError as error:
            raise PublishError(f"review queue unavailable: {error}") from error
        sent = 0
        try:
            with self._app.producer_or_acquire() as producer:
                for event_id, payload in events:
                    send_event(self._app, REVIEW_TASK, payload, event_id, self.queue, retry=True,
                               retry_policy=_RETRY_POLICY, producer=producer)
                    sent += 1
        except Exception as error:  # kombu raises OperationalError and friends; all mean "not published"
            with contextlib.suppress(redis.RedisError):
                forget_pending(self._ledger, self.keys, [event_id for event_id, _ in events[sent:]])
            raise PublishError(f"review queue unavailable: {error}") from error

    async def _run(self, function, *args) -> None:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # request id and deadline follow, as with asyncio.to_thread
        await loop.run_in_executor(self._executor, functools.partial(context.run, function, *args))
