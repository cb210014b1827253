"""Onboarding: liked movies + vibes + free text → a taste profile, with the pipeline's real stages.

The "Personalizing" view shows these stages: *validate* (catalog look-up of the picks), *profile*
(ProfileService.Onboard: embeds the vibes and text, averages the picks' vectors, stores the profile),
*retrieve* and *rank* (the first "Top picks", which also warms every tier for the home page). They
are measured, not simulated; with ``Accept: text/event-stream`` each is sent as it completes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from gateway_service import taste_text
from gateway_service.deps import CurrentUser, Services, ServicesDep, call, ensure_owner
from gateway_service.errors import ApiError, bad_request
from gateway_service.recommend import UserView, rank, search, watched_ids
from gateway_service.schemas import ErrorBody, GenerateRequest, GenerateResponse, Stage
from gateway_service.vibes import vibe_texts
from movierec.profile.v1 import profile_pb2
from movierec_catalog.filter import Filter

router = APIRouter(prefix="/api", tags=["onboarding"])

STAGE_LABELS = {
    "validate": "Checking your picks",
    "normalize": "Rewriting your description in taste terms",
    "profile": "Blending your picks and vibes into a taste vector",
    "retrieve": "Searching the catalog for candidates",
    "rank": "Ranking and explaining your first picks",
}
FIRST_PICKS = 5


def _validate(services: Services, body: GenerateRequest) -> tuple[list[int], list[int]]:
    """(known movie ids, unknown movie ids); 400 when nothing usable was sent."""
    known = [m for m in dict.fromkeys(body.movies) if m in services.catalog]
    unknown = [m for m in dict.fromkeys(body.movies) if m not in services.catalog]
    if not known and not body.vibes and not body.free_text.strip():
        fields = [("movies", f"unknown movie ids {unknown}")] if unknown else []
        raise bad_request("pick at least one known movie, a vibe or some free text",
                          fields or [("movies", "pick 3–5 movies"), ("vibes", "or choose vibes"),
                                     ("freeText", "or describe what you like")])
    return known, unknown


class _Clock:
    def __init__(self) -> None:
        self._last = time.perf_counter()

    def stage(self, name: str) -> Stage:
        now = time.perf_counter()
        stage = Stage(name=name, label=STAGE_LABELS[name], ms=round((now - self._last) * 1000, 2))
        self._last = now
        return stage


async def onboarding_pipeline(services: Services, body: GenerateRequest) -> AsyncIterator[Stage | GenerateResponse]:
    """Yields each Stage as it completes, then the GenerateResponse."""
    clock = _Clock()
    known, unknown = _validate(services, body)
    stages = [clock.stage("validate")]
    yield stages[-1]
    taste = None
    if body.free_text.strip():  # rewritten by the LLM when GATEWAY_TASTE_NORMALIZER is on (taste_text.py)
        taste = await taste_text.normalized(services, body.free_text.strip())
        if taste_text.enabled(services):
            stages.append(clock.stage("normalize"))
            yield stages[-1]
    free_text = taste.text if taste is not None else body.free_text.strip()
    request = profile_pb2.OnboardRequest(user_id=body.user_id, movie_ids=known, vibes=vibe_texts(body.vibes),
                                         free_text=free_text, event_id=uuid.uuid4().hex)
    response = await call("profile", services.profile.Onboard, request)
    stages.append(clock.stage("profile"))
    yield stages[-1]
    user = UserView(body.user_id, response.profile, await watched_ids(services, body.user_id))
    hard = Filter(exclude_movie_ids=user.seen)
    candidates = await search(services, user.taste, services.settings.candidates, hard)
    stages.append(clock.stage("retrieve"))
    yield stages[-1]
    await rank(services, user, candidates.hits, top_n=FIRST_PICKS, hard=hard)
    stages.append(clock.stage("rank"))
    yield stages[-1]
    yield GenerateResponse(
        user_id=body.user_id, embedding=list(response.profile.vector), timestamp=datetime.now(UTC),
        profile_version=response.profile.version,
        unknown_movies=sorted(set(unknown) | set(response.unknown_movie_ids)), stages=stages,
        **taste_text.response_fields(taste))


def _sse(event: str, payload: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload, default=str)}\n\n".encode()


async def _stream(pipeline: AsyncIterator[Stage | GenerateResponse]) -> AsyncIterator[bytes]:
    try:
        async for item in pipeline:
            kind = "stage" if isinstance(item, Stage) else "result"
            yield _sse(kind, item.model_dump(mode="json", by_alias=True))
    except ApiError as error:
        yield _sse("error", error.body())


@router.post("/embeddings/generate", response_model=GenerateResponse,
             responses={200: {"content": {"text/event-stream": {}}},
                        **{code: {"model": ErrorBody} for code in (400, 401, 403, 422, 503, 504)}})
async def generate(body: GenerateRequest, request: Request, user: CurrentUser,
                   services: ServicesDep):
    """Create (or replace) the caller's taste profile from picked movies, vibes and free text."""
    ensure_owner(user, body.user_id)
    _validate(services, body)  # fail before a stream starts, with a plain 400
    pipeline = onboarding_pipeline(services, body)
    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(_stream(pipeline), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    result = None
    async for item in pipeline:
        result = item
    return result
