"""The profile tier's domain: validate an event, turn it into an Interaction, apply it, read profiles.

Shared by the gRPC servicer (synchronous RPCs) and the Celery tasks (review events from the bus).
Raises :class:`InvalidEvent` for input that can never be applied (→ INVALID_ARGUMENT or the
dead-letter list) and :class:`~profile_service.store.ProfileNotFound`; transient trouble surfaces as
``redis.ConnectionError``/``redis.TimeoutError`` or :class:`~profile_service.embedder.EmbeddingUnavailable`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import numpy as np

from profile_service.embedder import Embedder, EmbeddingRejected, EmbeddingUnavailable
from profile_service.interactions import Interaction
from profile_service.sentiment import polar_clauses
from profile_service.settings import TasteConstants
from profile_service.steps import MOVIE, format_ops
from profile_service.store import ApplyResult, ProfileNotFound, ProfileState, ProfileStore, TasteSnapshot, now_ms
from profile_service.taste import PULL, PUSH, VECTOR_DTYPE, is_valid_rating, normalize, recent_weight_at, scoring_vector

MAX_ID_CHARS = 128
MAX_MOVIE_IDS = 200
MAX_VIBES = 20
MAX_VIBE_CHARS = 200
MAX_TEXT_CHARS = 4000
MAX_TURN_IDS = 1000

__all__ = ["EmbeddingUnavailable", "InvalidEvent", "ProfileNotFound", "ProfileView", "Profiles"]


class InvalidEvent(Exception):
    """Input that can never be applied; ``field`` names the offending field."""

    def __init__(self, message: str, field: str = "", reason: str = "INVALID_EVENT"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class ProfileView:
    """A profile as answered to callers: the stored state plus the scoring vector at read time."""

    user_id: str
    vector: np.ndarray
    scoring_vector: np.ndarray
    recent_weight: float
    version: int
    cold_start: bool
    state: ProfileState | None
    liked_movie_ids: tuple[int, ...] = ()


def check_id(value: str, field: str) -> str:
    if not value or not value.strip():
        raise InvalidEvent(f"{field} is required", field, "MISSING_FIELD")
    if len(value) > MAX_ID_CHARS or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise InvalidEvent(f"{field} must be 1–{MAX_ID_CHARS} printable characters without spaces", field)
    return value


def check_text(value: str, field: str, limit: int = MAX_TEXT_CHARS) -> str:
    if len(value) > limit:
        raise InvalidEvent(f"{field} has {len(value)} characters; the limit is {limit}", field)
    return value


class Profiles:
    def __init__(self, store: ProfileStore, movies, taste: TasteConstants, embedder: Embedder | None,
                 cold_start: np.ndarray | None = None):
        self.store = store
        self.movies = movies
        self.taste = taste
        self.embedder = embedder
        self.cold_start = cold_start

    # ---- reads ----------------------------------------------------------------------------
    def get(self, user_id: str, *, allow_cold_start: bool = False, at_ms: int | None = None) -> ProfileView:
        check_id(user_id, "user_id")
        state = self.store.load(user_id)
        if state is None:
            if allow_cold_start and self.cold_start is not None:
                return ProfileView(user_id, self.cold_start, self.cold_start, 0.0, 0, True, None)
            raise ProfileNotFound(user_id)
        return self.view(state, at_ms)

    def view(self, state: ProfileState, at_ms: int | None = None) -> ProfileView:
        weight = recent_weight_at(state.recent_weight, state.recent_time_ms, at_ms or now_ms(),
                                  self.taste.decay_per_day)
        scoring = scoring_vector(state.vector, state.recent, weight, self.taste.scoring_base_weight,
                                 self.taste.recent_min_weight)
        effective = weight if weight >= self.taste.recent_min_weight else 0.0
        return ProfileView(state.user_id, state.vector, scoring, effective, state.version, False, state,
                           self.liked_ids(state))

    def taste_history(self, user_id: str) -> list[TasteSnapshot]:
        """The taste vector's daily snapshots, oldest first (store.py's ``snapshot``; README "Taste history")."""
        check_id(user_id, "user_id")
        return self.store.taste_history(user_id)

    def liked_ids(self, state: ProfileState) -> tuple[int, ...]:
        """Movies picked at onboarding, then movies rated at or above the like threshold (oldest first)."""
        liked = dict.fromkeys(state.liked_movie_ids)
        for movie_id, record in sorted(state.ratings.items(), key=lambda item: (item[1]["at"], item[0])):
            if record["rating"] >= self.taste.like_threshold:
                liked[movie_id] = None
        return tuple(liked)

    # ---- writes ---------------------------------------------------------------------------
    def onboard(self, user_id: str, movie_ids: list[int], vibes: list[str], free_text: str,
                event_id: str = "") -> tuple[ApplyResult, list[int]]:
        """Fuse liked movies and text into a new taste vector; returns (result, unknown movie ids)."""
        check_id(user_id, "user_id")
        event_id = check_id(event_id, "event_id") if event_id else uuid.uuid4().hex
        if len(movie_ids) > MAX_MOVIE_IDS:
            raise InvalidEvent(f"movie_ids has {len(movie_ids)} ids; the limit is {MAX_MOVIE_IDS}", "movie_ids")
        if len(vibes) > MAX_VIBES:
            raise InvalidEvent(f"vibes has {len(vibes)} entries; the limit is {MAX_VIBES}", "vibes")
        clean_vibes = [check_text(v.strip(), "vibes", MAX_VIBE_CHARS) for v in vibes if v.strip()]
        free_text = check_text(free_text.strip(), "free_text")
        known, unknown = self.movies.split_known(movie_ids)
        text = onboarding_text(clean_vibes, free_text)
        if not known and not text:
            detail = f" (unknown movie ids: {unknown})" if unknown else ""
            raise InvalidEvent("onboarding needs at least one known liked movie, a vibe or free text" + detail,
                               "movie_ids", "NO_SIGNAL")
        embedding = self._embed(text, "free_text") if text else None
        now = now_ms()
        interaction = Interaction(
            kind="onboard", event_id=event_id, user_id=user_id, created_at_ms=now, applied_at_ms=now,
            movie_ids=tuple(known), text=free_text, vibes=tuple(clean_vibes), embedding=embedding,
            weight=self.taste.onboard_movie_weight, index_version=self.movies.version)
        return self.store.apply(interaction, self.movies), unknown

    def apply_message(self, user_id: str, text: str, event_id: str, created_at_ms: int | None = None) -> ApplyResult:
        """EMA step toward the message's embedding."""
        check_id(user_id, "user_id")
        check_id(event_id, "event_id")
        text = check_text(text.strip(), "text")
        if not text:
            raise InvalidEvent("text is required", "text", "MISSING_FIELD")
        created_at_ms = event_time(created_at_ms)
        embedding = self._embed(text, "text")
        interaction = Interaction(
            kind="message", event_id=event_id, user_id=user_id, created_at_ms=created_at_ms,
            applied_at_ms=now_ms(), text=text, embedding=embedding, alpha=self.taste.message_alpha)
        return self.store.apply(interaction, self.movies)

    def apply_review(self, event: dict) -> ApplyResult:
        """Store the review and make it the movie's step of the taste fold (replacing an earlier one).

        ≥ like threshold: pull toward the movie; ≤ dislike threshold: push away from it; in between: no
        move. Review text adds a weaker pull toward its positive clauses and push from its negative ones.
        """
        review = ReviewInput.parse(event)
        self._check_movie(review.movie_id)
        liked = review.rating >= self.taste.like_threshold
        ops, op_vectors = self.review_ops(review.rating, review.text)
        interaction = Interaction(
            kind="rate", event_id=review.event_id, user_id=review.user_id, created_at_ms=review.created_at_ms,
            applied_at_ms=now_ms(), movie_ids=(review.movie_id,), rating=review.rating, text=review.text,
            weight=self.taste.rate_weight if liked else None,
            decay_per_day=self.taste.decay_per_day,  # also decays a replaced rating's recent contribution
            index_version=self.movies.version, ops=format_ops(ops), op_vectors=op_vectors)
        return self.store.apply(interaction, self.movies)

    def review_ops(self, rating: float, text: str) -> tuple[list[tuple[str, float, str]], np.ndarray | None]:
        """The fold step of a review: the movie's pull or push, then its text's clauses (see README)."""
        taste = self.taste
        ops: list[tuple[str, float, str]] = []
        if rating >= taste.like_threshold:
            ops.append((PULL, taste.review_alpha, MOVIE))
        elif rating <= taste.dislike_threshold and taste.dislike_beta > 0:
            ops.append((PUSH, taste.dislike_beta, MOVIE))
        clauses = polar_clauses(text) if text and self.embedder is not None else []
        if not clauses:
            return ops, None
        vectors = self._embed_many([clause.text for clause in clauses], "text")
        extra = []
        for sign, op, coef in ((1, PULL, taste.review_text_alpha), (-1, PUSH, taste.review_text_beta)):
            rows = [i for i, clause in enumerate(clauses) if clause.polarity * sign > 0]
            if rows and (op == PULL or coef > 0):
                ops.append((op, coef, str(len(extra))))
                extra.append(normalize(vectors[rows].astype(np.float64).mean(axis=0)))
        return ops, np.asarray(extra, dtype=VECTOR_DTYPE) if extra else None

    def record_interaction(self, user_id: str, movie_id: int, kind: str, event_id: str,
                           created_at_ms: int | None = None) -> ApplyResult:
        """A watch or click: recent-interest signal only."""
        check_id(user_id, "user_id")
        check_id(event_id, "event_id")
        if kind not in ("watch", "click"):
            raise InvalidEvent(f"kind must be watch or click, not {kind!r}", "kind")
        self._check_movie(movie_id)
        interaction = Interaction(
            kind=kind, event_id=event_id, user_id=user_id, created_at_ms=event_time(created_at_ms),
            applied_at_ms=now_ms(), movie_ids=(int(movie_id),), weight=self.taste.recent_weight_of(kind),
            decay_per_day=self.taste.decay_per_day, index_version=self.movies.version)
        return self.store.apply(interaction, self.movies)

    def log_turn(self, user_id: str, session_id: str, message_index: int, input_text: str,
                 retrieved_ids: list[int], retrieved_scores: list[float], picked_ids: list[int],
                 created_at_ms: int | None = None) -> str:
        check_id(user_id, "user_id")
        if session_id:
            check_id(session_id, "session_id")
        if message_index < 0:
            raise InvalidEvent("message_index must be ≥ 0", "message_index")
        if len(retrieved_ids) != len(retrieved_scores):
            raise InvalidEvent(f"{len(retrieved_ids)} retrieved ids but {len(retrieved_scores)} scores",
                               "retrieved_scores")
        if len(retrieved_ids) > MAX_TURN_IDS or len(picked_ids) > MAX_TURN_IDS:
            raise InvalidEvent(f"at most {MAX_TURN_IDS} retrieved or picked ids per turn", "retrieved_movie_ids")
        check_text(input_text, "input_text")
        return self.store.log_turn({
            "user_id": user_id, "session_id": session_id, "message_index": str(message_index),
            "input_text": input_text, "retrieved_movie_ids": json.dumps([int(m) for m in retrieved_ids]),
            "retrieved_scores": json.dumps([round(float(s), 6) for s in retrieved_scores]),
            "picked_movie_ids": json.dumps([int(m) for m in picked_ids]),
            "created_at": str(created_at_ms or now_ms()),
        })

    # ---- helpers --------------------------------------------------------------------------
    def _check_movie(self, movie_id: int) -> None:
        if movie_id not in self.movies:
            raise InvalidEvent(f"movie {movie_id} is not in the catalog index {self.movies.version}",
                               "movie_id", "UNKNOWN_MOVIE")

    def _embed_many(self, texts: list[str], field: str) -> np.ndarray:
        try:
            return self.embedder.embed_many(texts)
        except EmbeddingRejected as error:
            raise InvalidEvent(str(error), field, "EMBEDDING_REJECTED") from None

    def _embed(self, text: str, field: str) -> np.ndarray:
        if self.embedder is None:
            raise EmbeddingUnavailable("this process has no EMBEDDING_ADDR configured")
        try:
            return self.embedder.embed(text)
        except EmbeddingRejected as error:
            raise InvalidEvent(str(error), field, "EMBEDDING_REJECTED") from None


def onboarding_text(vibes: list[str], free_text: str) -> str:
    """The text embedded at onboarding: the vibes, then the free text."""
    parts = []
    if vibes:
        parts.append("; ".join(vibes))
    if free_text:
        parts.append(free_text)
    return ". ".join(parts)


@dataclass(frozen=True)
class ReviewInput:
    """A review's plain fields (``movierec_profile_contract.review_fields`` of a ReviewEvent, from the bus
    or the ApplyReview RPC), validated field by field."""

    event_id: str
    user_id: str
    movie_id: int
    rating: float
    text: str
    created_at_ms: int

    @classmethod
    def parse(cls, event: dict) -> ReviewInput:
        if not isinstance(event, dict):
            raise InvalidEvent(f"a review event must be an object, not {type(event).__name__}", "event")
        event_id = check_id(str(event.get("event_id") or ""), "event_id")
        user_id = check_id(str(event.get("user_id") or ""), "user_id")
        movie_id = _integer(event.get("movie_id"), "movie_id")
        if movie_id <= 0:
            raise InvalidEvent(f"movie_id must be positive, not {movie_id}", "movie_id")
        rating = _number(event.get("rating"), "rating")
        if not is_valid_rating(rating):
            raise InvalidEvent(f"rating {rating} is outside 0.5–5.0 in half stars", "rating", "RATING_OUT_OF_RANGE")
        text = check_text(str(event.get("text") or ""), "text")
        return cls(event_id, user_id, movie_id, rating, text, event_time(event.get("created_at_ms")))


def event_time(value) -> int:
    """An event's time in epoch milliseconds (now when absent)."""
    if value is None:
        return now_ms()
    created = _integer(value, "created_at_ms")
    if created <= 0:
        raise InvalidEvent(f"created_at_ms must be positive, not {created}", "created_at_ms")
    return created


def _integer(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidEvent(f"{field} must be an integer, not {value!r}", field)
    try:
        number = float(value)
    except ValueError:
        raise InvalidEvent(f"{field} must be an integer, not {value!r}", field) from None
    if not number.is_integer():
        raise InvalidEvent(f"{field} must be an integer, not {value!r}", field)
    return int(number)


def _number(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidEvent(f"{field} must be a number, not {value!r}", field, "MISSING_FIELD" if value is None
                           else "INVALID_EVENT")
    try:
        return float(value)
    except ValueError:
        raise InvalidEvent(f"{field} must be a number, not {value!r}", field) from None
