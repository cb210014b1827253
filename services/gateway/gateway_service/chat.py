"""Chat turns: parse constraints, take the EMA step, retrieve + rank under the constraints, reply.

A session lives in Redis (``movierec:gw:chat:<sessionId>``, JSON, expires after
GATEWAY_CHAT_SESSION_TTL_S without use) and holds its owner, the active constraints, the last
recommendations' runtimes (for "something shorter") and the last GATEWAY_CHAT_HISTORY_MAX messages.

The query of a turn is the taste vector blended 50/50 with the embedded message (when the message
says something about taste beyond its constraints), then 25/75 with the seed movie's vector for
"more like X" (the seed dominates); the ranker scores against that query vector. The taste vector
itself moves only by the profile tier's EMA step (α = 0.8).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from gateway_service.constraints import Constraints, describe, has_content, merge, parse_message
from gateway_service.deps import Services, call
from gateway_service.errors import ApiError, forbidden, not_found
from gateway_service.recommend import NOT_ONBOARDED, UserView, blend, embed_query, rank, search, watched_ids
from gateway_service.schemas import (
    Card,
    ChatRequest,
    ChatResponse,
    ChatSessionView,
    ChatTurnView,
    ConstraintsView,
    MovieRef,
    ParsedView,
)
from gateway_service.timing import stage
from movierec.common.v1 import common_pb2
from movierec.events.v1 import events_pb2
from movierec.profile.v1 import profile_pb2
from movierec.retrieval.v1 import retrieval_pb2
from movierec_catalog.filter import Filter
from movierec_core.logs import log_fields

log = logging.getLogger("movierec.gateway.chat")

SESSION_KEY = "movierec:gw:chat:{session_id}"
TURN_STREAM = "movierec:turns"
PICKS = 5
MIN_PICKS = 3
MESSAGE_WEIGHT = 0.5
SEED_WEIGHT = 0.75
RANK_CONTEXT_TURNS = 6


@dataclass
class Session:
    session_id: str
    user_id: str
    constraints: Constraints = field(default_factory=Constraints)
    turns: list[dict] = field(default_factory=list)
    last_runtimes: list[int] = field(default_factory=list)
    message_index: int = 0

    def to_json(self) -> str:
        return json.dumps({"session_id": self.session_id, "user_id": self.user_id,
                           "constraints": self.constraints.to_dict(), "turns": self.turns,
                           "last_runtimes": self.last_runtimes, "message_index": self.message_index})

    @classmethod
    def from_json(cls, raw: bytes | str) -> Session:
        data = json.loads(raw)
        return cls(data["session_id"], data["user_id"], Constraints.from_dict(data["constraints"]), data["turns"],
                   data["last_runtimes"], data.get("message_index", len(data["turns"]) // 2))

    def recent_turns(self) -> list[common_pb2.ConversationTurn]:
        roles = {"user": common_pb2.ConversationTurn.ROLE_USER, "assistant": common_pb2.ConversationTurn.ROLE_ASSISTANT}
        return [common_pb2.ConversationTurn(role=roles[t["role"]], text=t["text"])
                for t in self.turns[-RANK_CONTEXT_TURNS:]]


async def load_session(services: Services, session_id: str, user_id: str) -> Session:
    raw = await services.redis.get(SESSION_KEY.format(session_id=session_id))
    if raw is None:
        raise not_found(f"no chat session {session_id!r} (unknown or expired); omit sessionId to start a new one")
    session = Session.from_json(raw)
    if session.user_id != user_id:
        raise forbidden("this chat session belongs to another user")
    return session


async def save_session(services: Services, session: Session) -> None:
    session.turns = session.turns[-services.settings.chat_history_max:]
    await services.redis.set(SESSION_KEY.format(session_id=session.session_id), session.to_json(),
                             ex=services.settings.chat_session_ttl_s)


async def delete_session(services: Services, session: Session) -> None:
    await services.redis.delete(SESSION_KEY.format(session_id=session.session_id))


def constraints_view(c: Constraints) -> ConstraintsView:
    return ConstraintsView(
        max_runtime_min=c.max_runtime_min, lenient_runtime=c.lenient_runtime, max_certification=c.max_certification,
        include_genres=c.include_genres, exclude_genres=c.exclude_genres, min_year=c.min_year, max_year=c.max_year,
        language=c.language, exclude_movies=[MovieRef(movie_id=m.movie_id, title=m.title) for m in c.exclude_movies],
        more_like=MovieRef(movie_id=c.more_like.movie_id, title=c.more_like.title) if c.more_like else None,
        descriptions=describe(c))


def session_view(session: Session) -> ChatSessionView:
    return ChatSessionView(session_id=session.session_id, user_id=session.user_id,
                           constraints=constraints_view(session.constraints),
                           turns=[ChatTurnView(role=t["role"], text=t["text"], movie_ids=t.get("movie_ids", []),
                                               at=t["at"]) for t in session.turns])


def hard_filter(c: Constraints, seen: set[int]) -> Filter:
    excluded = seen | {m.movie_id for m in c.exclude_movies}
    if c.more_like is not None:
        excluded.add(c.more_like.movie_id)
    return Filter(exclude_movie_ids=excluded, include_genres=c.include_genres,
                  exclude_genres=c.exclude_genres, min_year=c.min_year, max_year=c.max_year,
                  max_runtime_min=c.max_runtime_min, max_certification=c.max_certification,
                  lenient_runtime=c.lenient_runtime, original_language=c.language)


# ---- the turn ----------------------------------------------------------------------------

async def _profile_after_message(services: Services, user_id: str, taste_text: str | None) -> tuple[object, bool]:
    """(profile, taste moved?) — the EMA step when the message has taste content, else just a read."""
    try:
        if taste_text:
            request = profile_pb2.ApplyMessageRequest(user_id=user_id, text=taste_text, event_id=uuid.uuid4().hex)
            response = await call("profile", services.profile.ApplyMessage, request)
            return response.profile, bool(response.applied)
        response = await call("profile", services.profile.GetProfile, profile_pb2.GetProfileRequest(user_id=user_id))
        return response.profile, False
    except ApiError as error:
        if error.status == 404:
            raise not_found(NOT_ONBOARDED.format(user_id=user_id), code="NOT_ONBOARDED") from None
        raise


async def _seed_vector(services: Services, movie_id: int) -> np.ndarray | None:
    response = await call("retrieval", services.retrieval.GetMovieVectors,
                          retrieval_pb2.GetMovieVectorsRequest(movie_ids=[movie_id]))
    return np.asarray(response.vectors[0].values, dtype=np.float32) if response.vectors else None


async def _optional(coro):
    return await coro if coro is not None else None


async def chat_turn(services: Services, body: ChatRequest) -> ChatResponse:
    with stage("session"):
        if body.session_id:
            session = await load_session(services, body.session_id, body.user_id)
        else:
            session = Session(f"c_{secrets.token_hex(8)}", body.user_id)
    with stage("parse"):
        parsed = parse_message(body.message, resolve_title=services.extras["resolve_title"],
                               last_runtimes=session.last_runtimes, latest_year=services.extras["latest_year"])
        active = merge(session.constraints, parsed)
    taste_text = parsed.residual if has_content(parsed.residual) else None
    with stage("profile"):  # the EMA step, the message's embedding and the seed's vector, concurrently
        (profile, moved), message_vector, seed, watched = await asyncio.gather(
            _profile_after_message(services, body.user_id, taste_text),
            _optional(embed_query(services, taste_text) if taste_text else None),
            _optional(_seed_vector(services, active.more_like.movie_id) if active.more_like else None),
            watched_ids(services, body.user_id))
    user = UserView(body.user_id, profile, watched)
    query = user.taste
    if message_vector is not None:
        query = blend(query, message_vector, MESSAGE_WEIGHT)
    if seed is not None:
        query = blend(query, seed, SEED_WEIGHT)
    hard = hard_filter(active, user.seen)
    with stage("retrieve"):
        candidates = await search(services, query, services.settings.candidates, hard)
    with stage("rank"):
        ranked = await rank(services, user, candidates.hits, top_n=PICKS, hard=hard, query=body.message,
                            turns=session.recent_turns(), vector=query)
    cards = ranked.cards()
    reply = compose_reply(cards, active, parsed.unresolved)
    with stage("record"):
        await _record(services, session, body.message, reply, cards, active, candidates)
    return ChatResponse(
        session_id=session.session_id, reply=reply, recommendations=cards,
        constraints=constraints_view(active),
        parsed=ParsedView(descriptions=parsed.descriptions, unresolved=parsed.unresolved),
        taste_updated=moved, profile_version=profile.version, degraded=ranked.degraded,
        degraded_reason=ranked.degraded_reason)


async def _record(services: Services, session: Session, message: str, reply: str, cards: list[Card],
                  active: Constraints, candidates) -> None:
    now = datetime.now(UTC).isoformat()
    session.turns += [{"role": "user", "text": message, "movie_ids": [], "at": now},
                      {"role": "assistant", "text": reply, "movie_ids": [c.movie_id for c in cards], "at": now}]
    session.constraints = Constraints.from_dict({**active.to_dict(), "more_like": None})
    known = [c.runtime_min for c in cards if c.runtime_min]
    session.last_runtimes = known or session.last_runtimes
    session.message_index += 1
    # Independent writes (Redis session, the profile tier's turn log): concurrently.
    await asyncio.gather(save_session(services, session), log_turn(services, session, message, candidates.hits, cards))


async def log_turn(services: Services, session: Session, message: str, hits, cards: list[Card]) -> None:
    """ProfileService.LogTurn; if the profile tier cannot take it, the gateway appends to the stream itself."""
    created = Timestamp()
    created.GetCurrentTime()
    turn = events_pb2.RecommendationTurn(
        user_id=session.user_id, session_id=session.session_id, message_index=session.message_index,
        input_text=message, retrieved_movie_ids=[h.movie_id for h in hits],
        retrieved_scores=[h.score for h in hits], picked_movie_ids=[c.movie_id for c in cards], created_at=created)
    try:
        await call("profile", services.profile.LogTurn, profile_pb2.LogTurnRequest(turn=turn))
    except ApiError as error:
        log.warning("LogTurn failed; appending the turn to the stream directly",
                    extra=log_fields(status=error.status, error=error.message))
        await services.redis.xadd(TURN_STREAM, {"turn": turn.SerializeToString(), "source": "gateway"},
                                  maxlen=1_000_000, approximate=True)


# ---- the reply ---------------------------------------------------------------------------

def compose_reply(cards: list[Card], active: Constraints, unresolved: list[str]) -> str:
    """The chat answer: what was understood, then each pick with its reason (3–5 when that many fit)."""
    conditions = describe(Constraints.from_dict({**active.to_dict(), "exclude_movies": []}))
    scope = f" ({'; '.join(conditions)})" if conditions else ""
    lines = []
    if not cards:
        lines.append(f"I couldn't find any movie that fits everything you asked for{scope}. "
                     "Try relaxing one of the conditions, or say \"reset\" to clear them.")
    else:
        if len(cards) < MIN_PICKS:
            lines.append(f"Only {len(cards)} movie{'s' if len(cards) > 1 else ''} fit{'s' if len(cards) == 1 else ''} "
                         f"everything you asked for{scope}:")
        else:
            lines.append(f"Here are {len(cards)} picks for you{scope}:")
        for i, card in enumerate(cards, start=1):
            year = f" ({card.year})" if card.year else ""
            unknown = " Its runtime is unknown." if active.max_runtime_min and card.runtime_min is None else ""
            lines.append(f"{i}. {card.title}{year} — {card.explanation}{unknown}")
    lines.extend(f"Note: {note}." for note in unresolved)
    return "\n".join(lines)
