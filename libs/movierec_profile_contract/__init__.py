"""The profile tier's contract with its writers: Redis key layout, the review-event bus and the ledger.

One owner for what the gateway (publisher), the profile worker (consumer, sweeper, redrive) and the
profile server (store) must agree on. Nothing else in the repository spells a profile-tier key or a
task name (docs/architecture.md, "The profile tier's state"; services/profile/README.md for the table).

* **Keys**: :class:`ProfileKeys` builds every key under ``PROFILE_KEY_PREFIX`` (default ``movierec:``).
  A new profile-tier key is added here and nowhere else.
* **Bus**: one Celery task, :data:`REVIEW_TASK`, on queue ``PROFILE_EVENTS_QUEUE``; its only kwarg
  ``event`` is a ``movierec.events.v1.ReviewEvent`` in the proto3 JSON mapping
  (:func:`encode_review` / :func:`decode_review`) — the proto in ``protos/`` is the one schema.
* **Ledger**: before a message is queued the event is recorded in the pending ledger
  (:func:`record_pending`, one MULTI for both keys); the profile tier's scripts settle it.
* **Bounds**: what the per-user and tier-wide keys may hold under Redis ``noeviction``
  (services/profile/README.md, "Bounded state", has the arithmetic).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from movierec.events.v1 import events_pb2
from movierec_core.config import env_str

DEFAULT_PREFIX = "movierec:"
DEFAULT_QUEUE = "profile-events"

REVIEW_TASK = "profile.apply_review"
# The kwarg of REVIEW_TASK that carries the event.
EVENT_KWARG = "event"

# Bounds of the per-user applied-event index (a sorted set: event id → when it was applied, ms).
# An event is redelivered within minutes (visibility timeout 60 s, retries ≤ 8 × 30 s, the ledger
# sweeper every 120 s once the queue drains); 30 days keeps every realistic redelivery deduplicated,
# and the count cap bounds a user who sends more than that many events within the retention.
APPLIED_RETENTION_S = 30 * 86400
APPLIED_MAX_IDS = 5000
# Movies marked watched per user (the newest kept): half the catalog, so in practice never trimmed.
WATCHED_MAX = 5000
# Taste-vector snapshots per user (the history Taste Wrapped draws): at most one per UTC day of event
# time (the day's last state wins), the newest TASTE_HISTORY_MAX days kept (~1.9 KB each at 384-d).
TASTE_HISTORY_MAX = 60
DAY_MS = 86_400_000


@dataclass(frozen=True)
class ProfileKeys:
    """Every Redis key of the profile tier, under one prefix."""

    prefix: str = DEFAULT_PREFIX

    @classmethod
    def from_env(cls) -> ProfileKeys:
        return cls(env_str("PROFILE_KEY_PREFIX", DEFAULT_PREFIX))

    # per user
    def profile(self, user_id: str) -> str:
        return f"{self.prefix}profile:{user_id}"

    def applied(self, user_id: str) -> str:
        return f"{self.prefix}applied:{user_id}"

    def ratings(self, user_id: str) -> str:
        return f"{self.prefix}ratings:{user_id}"

    def steps(self, user_id: str) -> str:
        return f"{self.prefix}steps:{user_id}"

    def watchlist(self, user_id: str) -> str:
        return f"{self.prefix}watchlist:{user_id}"

    def watched(self, user_id: str) -> str:
        return f"{self.prefix}watched:{user_id}"

    def taste_history(self, user_id: str) -> str:
        """Sorted set: UTC day number (event time) → ``"<version> <at ms> "`` + float32 vector bytes."""
        return f"{self.prefix}taste-history:{user_id}"

    def batch_block(self, batch_id: str) -> str:
        return f"{self.prefix}batch-block:{batch_id or 'none'}"

    @property
    def profile_scan(self) -> str:
        """SCAN pattern of every profile hash (``profile(user)`` for all users)."""
        return self.profile("*")

    # tier-wide
    @property
    def interactions(self) -> str:
        return f"{self.prefix}interactions"

    @property
    def turns(self) -> str:
        return f"{self.prefix}turns"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}deadletter"

    @property
    def deadletter_ids(self) -> str:
        return f"{self.prefix}deadletter:ids"

    @property
    def deadletter_count(self) -> str:
        """A counter (string) of every event ever parked: the dead-letter alert's ``rate()``."""
        return f"{self.prefix}deadletter:count"

    @property
    def stats(self) -> str:
        return f"{self.prefix}stats"

    @property
    def pending(self) -> str:
        return f"{self.prefix}pending"

    @property
    def pending_due(self) -> str:
        return f"{self.prefix}pending:due"

    def names(self) -> tuple[str, ...]:
        """Every key or key family (``…:`` ends a per-user family), for overlap checks (replay)."""
        return tuple(name[len(self.prefix):] for name in (
            self.profile(""), self.applied(""), self.ratings(""), self.steps(""), self.watchlist(""), self.watched(""),
            self.taste_history(""), f"{self.prefix}batch-block:", self.interactions, self.turns, self.deadletter,
            self.stats, self.pending))

    def replay(self) -> ProfileKeys:
        """The default target of ``movierec_jobs.replay``: a sibling prefix that overlaps no live key."""
        return ProfileKeys(f"{self.prefix}replay:")


def queue_from_env() -> str:
    return env_str("PROFILE_EVENTS_QUEUE", DEFAULT_QUEUE)


class ContractError(ValueError):
    """A bus payload that is not a ReviewEvent; ``field`` names the offending part."""

    def __init__(self, message: str, field: str = "event"):
        super().__init__(message)
        self.field = field


def new_review(*, event_id: str, user_id: str, movie_id: int, rating: float, text: str = "",
               created_at_ms: int | None = None) -> events_pb2.ReviewEvent:
    created = Timestamp()
    created.FromMilliseconds(created_at_ms if created_at_ms is not None else int(time.time() * 1000))
    return events_pb2.ReviewEvent(event_id=event_id, user_id=user_id, movie_id=int(movie_id),
                                  rating=float(rating), text=text, created_at=created)


def encode_review(event: events_pb2.ReviewEvent) -> dict:
    """The bus form of a review: the proto3 JSON mapping (int64 as a string, time as RFC 3339)."""
    return json_format.MessageToDict(event, preserving_proto_field_name=True)


def decode_review(payload: object) -> events_pb2.ReviewEvent:
    """Parse a bus payload; unknown fields, wrong types and bad timestamps raise :class:`ContractError`.

    A payload of the shape published before this contract (``created_at_ms``, epoch ms) is still read,
    so messages queued by an older gateway during a rolling upgrade are applied, not dead-lettered.
    """
    if not isinstance(payload, Mapping):
        raise ContractError(f"a review event must be an object, not {type(payload).__name__}")
    if "created_at_ms" in payload and "created_at" not in payload:
        payload = dict(payload)
        legacy = payload.pop("created_at_ms")
        if legacy is not None:
            if isinstance(legacy, bool) or not isinstance(legacy, int) or legacy <= 0:
                raise ContractError(f"created_at_ms must be a positive integer, not {legacy!r}", "created_at")
            stamp = Timestamp()
            stamp.FromMilliseconds(legacy)
            payload["created_at"] = stamp.ToJsonString()
    try:
        return json_format.ParseDict(payload, events_pb2.ReviewEvent())
    except json_format.ParseError as error:
        message = str(error).split("\n")[0]
        raise ContractError(f"not a movierec.events.v1.ReviewEvent: {message}", _field_of(message)) from None


def review_fields(event: events_pb2.ReviewEvent) -> dict:
    """The plain fields the profile tier validates (``created_at_ms`` None when the event has no time).

    ``rating`` is a float32 on the wire: it is given back as the shortest decimal that rounds to it
    (7.3, not 7.300000190734863), so messages about it read as the user wrote it.
    """
    created = event.created_at.ToMilliseconds() if event.HasField("created_at") else None
    return {"event_id": event.event_id, "user_id": event.user_id, "movie_id": event.movie_id,
            "rating": float(f"{event.rating:.7g}"), "text": event.text, "created_at_ms": created}


_PARSE_FIELD = re.compile(r'Failed to parse (\w+) field|no field named "(\w+)"')


def _field_of(message: str) -> str:
    match = _PARSE_FIELD.search(message)
    if match is None:
        return "event"
    return match.group(1) or match.group(2)


# ---- the pending ledger --------------------------------------------------------------------------
def ledger_entry(task: str, payload: dict) -> str:
    """A ledger value: what the sweeper (or a redrive) needs to publish the event again."""
    return json.dumps({"task": task, "event": payload}, ensure_ascii=False)


def record_pending(client, keys: ProfileKeys, task: str, payloads: Mapping[str, dict],
                   now_ms: int | None = None) -> None:
    """Record events (id → payload) in the ledger: hash and due zset in one MULTI, so neither is
    ever written without the other."""
    if not payloads:
        return
    due = int(time.time() * 1000) if now_ms is None else now_ms
    pipe = client.pipeline(transaction=True)
    pipe.hset(keys.pending, mapping={event_id: ledger_entry(task, payload) for event_id, payload in payloads.items()})
    pipe.zadd(keys.pending_due, {event_id: due for event_id in payloads})
    pipe.execute()


def forget_pending(client, keys: ProfileKeys, event_ids: Iterable[str]) -> None:
    """Undo ledger entries of events that were never queued (both keys in one MULTI)."""
    ids = list(event_ids)
    if ids:
        client.pipeline(transaction=True).hdel(keys.pending, *ids).zrem(keys.pending_due, *ids).execute()


def send_event(app, task: str, payload: dict, event_id: str, queue: str, **options) -> None:
    """Queue one event as a Celery message of the contract's shape (the task id is the event id)."""
    app.send_task(task, kwargs={EVENT_KWARG: payload}, task_id=event_id, queue=queue, **options)
