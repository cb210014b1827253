"""Chat: POST /api/chat (one turn), POST /api/chat/stream (the same turn as server-sent events),
GET/DELETE /api/chat/{sessionId}. The turn itself is dialogue/turn.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from gateway_service.deps import CurrentUser, Services, ServicesDep, ensure_owner
from gateway_service.dialogue.turn import chat_turn, delete_state, load_state, session_view, turn_events
from gateway_service.errors import ApiError
from gateway_service.schemas import ChatRequest, ChatResponse, ChatSessionView, ErrorBody

router = APIRouter(prefix="/api/chat", tags=["chat"])

SessionIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 422, 503, 504)}
DIAGNOSTICS_HEADER = "x-movierec-diagnostics"


def wants_diagnostics(services: Services, request: Request) -> bool:
    """Diagnostics only when the gateway allows them (GATEWAY_DIAGNOSTICS) and the caller asks (header = 1)."""
    return services.settings.diagnostics and request.headers.get(DIAGNOSTICS_HEADER, "").strip() == "1"


def _body(response: ChatResponse) -> dict:
    body = response.model_dump(mode="json", by_alias=True)
    if body.get("diagnostics") is None:
        body.pop("diagnostics", None)  # present only when asked for and allowed
    return body


@router.post("", response_model=ChatResponse, response_model_exclude_none=False, responses=_ERRORS)
async def chat(body: ChatRequest, request: Request, user: CurrentUser, services: ServicesDep) -> JSONResponse:
    """One chat turn: the message understood and folded into the session's constraints, then 3–5 picks with
    reasons, an answer about a pick ("why the second one?"), or a question back ("hi")."""
    ensure_owner(user, body.user_id)
    return JSONResponse(_body(await chat_turn(services, body, diagnostics=wants_diagnostics(services, request))))


def _sse(event: str, payload) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload, default=str)}\n\n".encode()


async def _stream(events: AsyncIterator[tuple]) -> AsyncIterator[bytes]:
    try:
        async for kind, payload in events:
            if kind == "result":
                yield _sse("result", _body(payload))
            elif kind == "reply":
                yield _sse("reply", {"text": payload})
            else:
                yield _sse(kind, payload)
    except ApiError as error:
        yield _sse("error", error.body())


@router.post("/stream", responses={200: {"content": {"text/event-stream": {}}}, **_ERRORS})
async def chat_stream(body: ChatRequest, request: Request, user: CurrentUser, services: ServicesDep):
    """The same turn as server-sent events: ``picks`` (understanding, constraints, chips, picks) first, then
    ``reply`` events with the reply's text as it is written, then ``result`` (the POST /api/chat body)."""
    ensure_owner(user, body.user_id)
    events = turn_events(services, body, diagnostics=wants_diagnostics(services, request))
    first = await anext(events)  # errors before the first event (bad session, tier down) are plain HTTP errors

    async def replay() -> AsyncIterator[tuple]:
        yield first
        async for item in events:
            yield item

    return StreamingResponse(_stream(replay()), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/{sessionId}", response_model=ChatSessionView, responses=_ERRORS)
async def get_session(sessionId: SessionIdPath, user: CurrentUser, services: ServicesDep) -> ChatSessionView:
    """The session's history (the last GATEWAY_CHAT_HISTORY_MAX messages), its active constraints and chips."""
    return session_view(await load_state(services, sessionId, user.user_id))


@router.delete("/{sessionId}", status_code=204, response_class=Response, responses=_ERRORS)
async def end_session(sessionId: SessionIdPath, user: CurrentUser, services: ServicesDep) -> Response:
    await delete_state(services, await load_state(services, sessionId, user.user_id))
    return Response(status_code=204)
