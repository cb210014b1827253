"""Chat: POST /api/chat (one turn), POST /api/chat/stream (the same turn as server-sent events),
GET/DELETE /api/chat/{sessionId}. The turn itself is dialogue/turn.py.

``Idempotency-Key`` (1–128 visible characters, on both POST routes) makes a retried turn safe: the
turn's profile steps (the EMA step, chat-first onboarding) get event ids derived from (user, key), which
the profile tier applies once, and the finished answer is stored for CHAT_IDEMPOTENCY_TTL_S, so a retry
gets the first answer again (``Idempotent-Replayed: true``) and the session is not advanced twice. A retry
while the first is still running is 409 ``IDEMPOTENCY_KEY_IN_USE`` (Retry-After); the same key with a
different turn is 409 ``IDEMPOTENCY_KEY_REUSED``. A turn that failed stores nothing, so its retry runs
again (and its taste step, already applied under the same event id, is not applied twice).
Without a key every request is a new turn: a client that retries one without a key may move the
taste twice and gets a second answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from gateway_service.deps import CurrentUser, Services, ServicesDep, ensure_owner
from gateway_service.dialogue.turn import (
    TURN_EVENT_SEED,
    chat_turn,
    delete_state,
    load_state,
    session_view,
    turn_events,
)
from gateway_service.errors import ApiError
from gateway_service.schemas import ChatRequest, ChatResponse, ChatSessionView, ErrorBody

router = APIRouter(prefix="/api/chat", tags=["chat"])

SessionIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
# 409: an Idempotency-Key reused for a different turn, or while the first is still running; 429: the write budget
_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 422, 429, 503, 504)}
DIAGNOSTICS_HEADER = "x-movierec-diagnostics"

CHAT_IDEMPOTENCY_KEY = "movierec:gw:idem:chat:{user_id}:{key}"
# A client retries a turn within seconds; an hour covers a flaky mobile link while keeping Redis small
# (one stored answer is ~5–20 KB: at the write budget's worst case that is the user's turns of one hour).
CHAT_IDEMPOTENCY_TTL_S = 3600
# The marker of a turn in flight outlives the longest turn (request timeout), then a retry may run again.
CHAT_IN_FLIGHT_TTL_S = 120
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128,
                                              pattern=r"^[\x21-\x7e]+$")]
_RELEASE_IF_OURS = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class ChatReplay:
    """The stored answer of an ``Idempotency-Key``'d turn (see the module docstring).

    Redis holds ``{"fingerprint", "response"}`` per (user, key); ``response`` is null while the turn runs.
    """

    def __init__(self, services: Services, user_id: str, key: str, body):
        self.redis = services.redis
        self.stored_key = CHAT_IDEMPOTENCY_KEY.format(user_id=user_id, key=_digest(key))
        self.seed = f"{user_id}\n{key}"
        self.fingerprint = _digest(body.model_dump_json(by_alias=True))
        self._marker = json.dumps({"fingerprint": self.fingerprint, "response": None})

    async def claim(self) -> dict | None:
        """None when this request runs the turn, the stored answer when it already ran; 409 otherwise."""
        if await self.redis.set(self.stored_key, self._marker, nx=True, ex=CHAT_IN_FLIGHT_TTL_S):
            return None
        raw = await self.redis.get(self.stored_key)
        if raw is None:  # the first attempt just failed and released the key: run again
            return await self.claim()
        stored = json.loads(raw)
        if stored["fingerprint"] != self.fingerprint:
            raise ApiError(409, "IDEMPOTENCY_KEY_REUSED",
                           "this Idempotency-Key was used for a different chat turn; send a new key")
        if stored["response"] is None:
            raise ApiError(409, "IDEMPOTENCY_KEY_IN_USE",
                           "a turn with this Idempotency-Key is still running; retry in a moment",
                           headers={"Retry-After": "1"})
        return stored["response"]

    async def store(self, response: dict) -> None:
        await self.redis.set(self.stored_key, json.dumps({"fingerprint": self.fingerprint, "response": response}),
                             ex=CHAT_IDEMPOTENCY_TTL_S)

    async def release(self) -> None:
        """After a failed turn: forget the in-flight marker (only ours), so a retry runs the turn."""
        await self.redis.eval(_RELEASE_IF_OURS, 1, self.stored_key, self._marker)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def wants_diagnostics(services: Services, request: Request) -> bool:
    """Diagnostics only when the gateway allows them (GATEWAY_DIAGNOSTICS) and the caller asks (header = 1)."""
    return services.settings.diagnostics and request.headers.get(DIAGNOSTICS_HEADER, "").strip() == "1"


def _body(response: ChatResponse) -> dict:
    body = response.model_dump(mode="json", by_alias=True)
    if body.get("diagnostics") is None:
        body.pop("diagnostics", None)  # present only when asked for and allowed
    return body


@router.post("", response_model=ChatResponse, response_model_exclude_none=False, responses=_ERRORS)
async def chat(body: ChatRequest, request: Request, user: CurrentUser, services: ServicesDep,
               idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """One chat turn: the message understood and folded into the session's constraints, then 3–5 picks with
    reasons, an answer about a pick ("why the second one?"), or a question back ("hi")."""
    ensure_owner(user, body.user_id)
    diagnostics = wants_diagnostics(services, request)
    if idempotency_key is None:
        return JSONResponse(_body(await chat_turn(services, body, diagnostics=diagnostics)))
    replay = ChatReplay(services, user.user_id, idempotency_key, body)
    if (stored := await replay.claim()) is not None:
        return JSONResponse(stored, headers={"Idempotent-Replayed": "true"})
    token = TURN_EVENT_SEED.set(replay.seed)
    try:
        answer = _body(await chat_turn(services, body, diagnostics=diagnostics))
    except BaseException:
        await replay.release()
        raise
    finally:
        TURN_EVENT_SEED.reset(token)
    await replay.store(answer)
    return JSONResponse(answer)


def _sse(event: str, payload) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload, default=str)}\n\n".encode()


async def _stream(events: AsyncIterator[tuple], replay: ChatReplay | None = None) -> AsyncIterator[bytes]:
    stored = False
    try:
        async for kind, payload in events:
            if kind == "result":
                body = _body(payload)
                if replay is not None:
                    await replay.store(body)
                    stored = True
                yield _sse("result", body)
            elif kind == "reply":
                yield _sse("reply", {"text": payload})
            else:
                yield _sse(kind, payload)
    except ApiError as error:
        yield _sse("error", error.body())
    finally:
        if replay is not None and not stored:
            await replay.release()


async def _stream_stored(stored: dict) -> AsyncIterator[bytes]:
    """A stored answer as the stream's events: the picks, the whole reply at once, the result."""
    picks = {name: stored.get(name) for name in ("sessionId", "act", "understanding", "understoodBy", "constraints",
                                                 "chips", "recommendations")}
    yield _sse("picks", picks)
    yield _sse("reply", {"text": stored.get("reply", "")})
    yield _sse("result", stored)


@router.post("/stream", responses={200: {"content": {"text/event-stream": {}}}, **_ERRORS})
async def chat_stream(body: ChatRequest, request: Request, user: CurrentUser, services: ServicesDep,
                      idempotency_key: IdempotencyKey = None):
    """The same turn as server-sent events: ``picks`` (understanding, constraints, chips, picks) first, then
    ``reply`` events with the reply's text as it is written, then ``result`` (the POST /api/chat body)."""
    ensure_owner(user, body.user_id)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    replay = None
    if idempotency_key is not None:
        replay = ChatReplay(services, user.user_id, idempotency_key, body)
        if (stored := await replay.claim()) is not None:
            return StreamingResponse(_stream_stored(stored), media_type="text/event-stream",
                                     headers={**headers, "Idempotent-Replayed": "true"})
    token = TURN_EVENT_SEED.set(replay.seed) if replay is not None else None
    events = turn_events(services, body, diagnostics=wants_diagnostics(services, request))
    try:
        first = await anext(events)  # errors before the first event (bad session, tier down) are plain HTTP errors
    except BaseException:
        if replay is not None:
            await replay.release()
        raise
    finally:
        if token is not None:
            TURN_EVENT_SEED.reset(token)

    async def replay_first() -> AsyncIterator[tuple]:
        yield first
        async for item in events:
            yield item

    return StreamingResponse(_stream(replay_first(), replay), media_type="text/event-stream", headers=headers)


@router.get("/{sessionId}", response_model=ChatSessionView, responses=_ERRORS)
async def get_session(sessionId: SessionIdPath, user: CurrentUser, services: ServicesDep) -> ChatSessionView:
    """The session's history (the last GATEWAY_CHAT_HISTORY_MAX messages), its active constraints and chips."""
    return session_view(await load_state(services, sessionId, user.user_id))


@router.delete("/{sessionId}", status_code=204, response_class=Response, responses=_ERRORS)
async def end_session(sessionId: SessionIdPath, user: CurrentUser, services: ServicesDep) -> Response:
    await delete_state(services, await load_state(services, sessionId, user.user_id))
    return Response(status_code=204)
