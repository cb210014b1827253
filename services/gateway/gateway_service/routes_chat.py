"""Chat: POST /api/chat (one turn), GET/DELETE /api/chat/{sessionId}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from gateway_service.chat import chat_turn, delete_session, load_session, session_view
from gateway_service.deps import CurrentUser, ServicesDep, ensure_owner
from gateway_service.schemas import ChatRequest, ChatResponse, ChatSessionView, ErrorBody

router = APIRouter(prefix="/api/chat", tags=["chat"])

SessionIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 422, 503, 504)}


@router.post("", response_model=ChatResponse, responses=_ERRORS)
async def chat(body: ChatRequest, user: CurrentUser, services: ServicesDep) -> ChatResponse:
    """One chat turn: constraints parsed and echoed, an EMA step on the taste vector, 3–5 picks with reasons."""
    ensure_owner(user, body.user_id)
    return await chat_turn(services, body)


@router.get("/{sessionId}", response_model=ChatSessionView, responses=_ERRORS)
async def get_session(sessionId: SessionIdPath, user: CurrentUser, services: ServicesDep) -> ChatSessionView:
    """The session's history (the last GATEWAY_CHAT_HISTORY_MAX messages) and its active constraints."""
    return session_view(await load_session(services, sessionId, user.user_id))


@router.delete("/{sessionId}", status_code=204, response_class=Response, responses=_ERRORS)
async def end_session(sessionId: SessionIdPath, user: CurrentUser, services: ServicesDep) -> Response:
    await delete_session(services, await load_session(services, sessionId, user.user_id))
    return Response(status_code=204)
