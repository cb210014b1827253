"""The Celery task: a thin wrapper that applies one review event through :class:`~profile_service.domain.Profiles`.

The bus carries one task, ``movierec_profile_contract.REVIEW_TASK``, whose ``event`` is a
``movierec.events.v1.ReviewEvent`` in the proto3 JSON mapping (decoded by the contract; a payload that
is not one is dead-lettered as ``INVALID_EVENT``). Chat messages and watches/clicks reach the profile
tier over gRPC (``ApplyMessage``, ``RecordInteraction``), not the bus.

Delivery policy (the task is idempotent by ``event_id``, which is what makes ``acks_late`` safe):

* applied, or already applied → acked;
* invalid (bad field, unknown movie, no profile, …) → parked in the dead-letter list with the
  reason, then acked — never retried;
* transient (Redis connection/timeout, embedding tier UNAVAILABLE) → retried with exponential
  backoff and jitter up to ``PROFILE_TASK_MAX_RETRIES``, then parked;
* a retry that cannot be published (the broker itself is down) → the message is rejected *with*
  requeue, so it stays in the broker (Celery's own ``autoretry_for`` rejects it without requeue in
  that case, which would drop the event during exactly the outage it is meant to survive);
* the worker dies mid-task → the unacked message is redelivered after the visibility timeout.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from celery import Celery, Task
from celery.exceptions import Reject

from movierec_core.logs import log_fields
from movierec_profile_contract import REVIEW_TASK, ContractError, decode_review, review_fields
from profile_service.domain import InvalidEvent, Profiles
from profile_service.embedder import Embedder, EmbeddingUnavailable
from profile_service.settings import ProfileSettings, WorkerSettings
from profile_service.store import ApplyResult, InvalidUpdate, ProfileNotFound, ProfileStore, now_ms
from profile_service.vectors import MovieVectors

TRANSIENT_ERRORS = (redis.ConnectionError, redis.TimeoutError, EmbeddingUnavailable)
PERMANENT_ERRORS = (InvalidEvent, ProfileNotFound, InvalidUpdate)

log = logging.getLogger("movierec.profile.worker")


@dataclass
class WorkerContext:
    """What every task needs; the Profiles (Redis client, gRPC channel) are built once per process."""

    settings: ProfileSettings
    worker: WorkerSettings
    movies: MovieVectors
    _profiles: Profiles | None = None
    _pid: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def profiles(self) -> Profiles:
        with self._lock:
            if self._profiles is None or self._pid != os.getpid():
                embedder = (Embedder(self.settings.embedding_addr, self.settings.embed_timeout_s, self.movies.dim)
                            if self.settings.embedding_addr else None)
                self._profiles = Profiles(ProfileStore(self.settings.store), self.movies, self.settings.taste,
                                          embedder)
                self._pid = os.getpid()
            return self._profiles

    def backoff_s(self, retries: int) -> float:
        """Exponential backoff with full jitter, capped."""
        ceiling = min(self.worker.retry_backoff_max_s, self.worker.retry_backoff_s * (2 ** retries))
        return random.uniform(ceiling / 2, ceiling)


def dead_letter_id(task: Task, event: object) -> str:
    if isinstance(event, dict) and isinstance(event.get("event_id"), str) and event["event_id"]:
        return event["event_id"]
    return task.request.id or hashlib.sha256(json.dumps(event, default=str, sort_keys=True).encode()).hexdigest()


def park(context: WorkerContext, task: Task, event: object, reason: str, code: str) -> dict:
    """Record the event in the dead-letter list; if Redis is down, keep the message in the broker instead."""
    entry = {"event": event, "reason": reason, "code": code, "task": task.name, "task_id": task.request.id,
             "retries": task.request.retries, "at": now_ms()}
    try:
        context.profiles().store.park(dead_letter_id(task, event), entry)
    except TRANSIENT_ERRORS as error:
        raise Reject(f"cannot park the event ({error}); leaving it in the broker", requeue=True) from None
    log.warning("event dead-lettered", extra=log_fields(task=task.name, task_id=task.request.id, code=code,
                                                        reason=reason))
    return {"status": "dead-lettered", "code": code, "reason": reason}


def run_event(context: WorkerContext, task: Task, event: object,
              apply: Callable[[Profiles], ApplyResult]) -> dict:
    try:
        result = apply(context.profiles())
    except PERMANENT_ERRORS as error:
        code = {ProfileNotFound: "PROFILE_NOT_FOUND", InvalidUpdate: "VECTOR_MISMATCH"}.get(
            type(error), getattr(error, "reason", "INVALID_EVENT"))
        return park(context, task, event, str(error), code)
    except TRANSIENT_ERRORS as error:
        return retry_or_park(context, task, event, error)
    except Exception as error:  # a bug must not loop forever: park it with the error for a human
        log.exception("unexpected error applying an event", extra=log_fields(task=task.name))
        return park(context, task, event, f"unexpected error: {error!r}", "UNEXPECTED_ERROR")
    return {"status": "applied" if result.applied else "duplicate", "version": result.version}


def retry_or_park(context: WorkerContext, task: Task, event: object, error: Exception) -> dict:
    retries = task.request.retries
    if retries >= context.worker.max_retries:
        return park(context, task, event, f"gave up after {retries} retries: {error}", "RETRIES_EXHAUSTED")
    countdown = context.backoff_s(retries)
    log.info("transient error, retrying", extra=log_fields(task=task.name, task_id=task.request.id,
                                                           retries=retries, countdown_s=round(countdown, 3),
                                                           error=str(error)))
    try:
        raise task.retry(exc=error, countdown=countdown, max_retries=context.worker.max_retries)
    except Reject:
        raise Reject(f"cannot publish the retry ({error}); leaving the event in the broker", requeue=True) from None


def register_tasks(app: Celery, context: WorkerContext) -> None:
    options = {"bind": True, "acks_late": True, "reject_on_worker_lost": True,
               "max_retries": context.worker.max_retries}

    @app.task(name=REVIEW_TASK, **options)
    def apply_review(self: Task, event: dict) -> dict:
        return run_event(context, self, event, lambda profiles: profiles.apply_review(review_input(event)))


def review_input(event: object) -> dict:
    """The bus payload → the plain review fields (:class:`InvalidEvent` when it is not a ReviewEvent)."""
    try:
        return review_fields(decode_review(event))
    except ContractError as error:
        raise InvalidEvent(str(error), error.field) from None
