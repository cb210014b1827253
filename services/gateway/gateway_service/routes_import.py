"""`POST /api/import`: a Letterboxd or IMDb ratings export → review events on the usual path.

The body is the CSV file itself (``Content-Type: text/csv``; the edge's body limit applies). Matched
rows become review events with ids derived from (user, source, movie, rating, date), so importing the
same file twice changes nothing (the worker is idempotent by event id); unmatched rows come back
with the reason. A user without a taste profile (importing at onboarding) is onboarded first from
the movies they rated ≥ 4 (or every matched movie when none is), then the ratings are applied.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from gateway_service.deps import CurrentUser, Services, ServicesDep, call
from gateway_service.errors import ApiError, bad_request, unavailable
from gateway_service.events import PublishError
from gateway_service.guards import write_budget
from gateway_service.imports import CatalogLinker, ImportFormatError, Linked, event_id, parse_export
from gateway_service.schemas import ErrorBody, ImportResponse, UnmatchedRow
from movierec.profile.v1 import profile_pb2
from movierec_core.logs import log_fields

log = logging.getLogger("movierec.gateway.import")

router = APIRouter(prefix="/api", tags=["import"], dependencies=[write_budget("import")])

LIKED = 4.0
MAX_SEEDS = 200  # ProfileService.Onboard's limit
PUBLISH_BATCH = 250  # events per ledger transaction


@router.post("/import", response_model=ImportResponse,
             responses={code: {"model": ErrorBody} for code in (400, 401, 413, 422, 429, 503)},
             openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}},
                                            "required": True}})
async def import_ratings(request: Request, user: CurrentUser, services: ServicesDep) -> ImportResponse:
    """Import a Letterboxd `ratings.csv` or an IMDb ratings export; every matched rating is queued."""
    try:
        source, rows = parse_export((await request.body()).decode("utf-8"))
    except UnicodeDecodeError:
        raise bad_request("the file is not UTF-8 text; upload the CSV the site exported") from None
    except ImportFormatError as error:
        raise bad_request(str(error)) from None
    linker: CatalogLinker = services.extras["import_linker"]  # built at start-up (app.py), ~1.5 s
    results = [linker.link(row) for row in rows]
    matched = _latest_per_movie([r for r in results if isinstance(r, Linked)])
    unmatched = [r for r in results if not isinstance(r, Linked)]
    if not matched:
        raise ApiError(422, "NOTHING_MATCHED", f"none of the {len(rows)} rows matched a catalog movie",
                       [("file", f"line {u.row.line}: {u.reason}") for u in unmatched[:20]])
    onboarded = await _onboard_if_new(services, user.user_id, matched)
    await _publish(services, user.user_id, source, matched)
    return ImportResponse(
        source=source, rows=len(rows), matched=len(matched), queued=len(matched), onboarded=onboarded,
        unmatched=[UnmatchedRow(line=u.row.line, title=u.row.title, year=u.row.year, reason=u.reason)
                   for u in unmatched],
        summary=f"{len(matched)} matched, {len(unmatched)} not matched")


def _latest_per_movie(linked: list[Linked]) -> list[Linked]:
    """One rating per movie: the latest by date (then by line), as re-rating replaces the earlier one."""
    latest: dict[int, Linked] = {}
    for item in linked:
        seen = latest.get(item.movie_id)
        if seen is None or ((item.row.rated_at_ms or 0), item.row.line) >= ((seen.row.rated_at_ms or 0), seen.row.line):
            latest[item.movie_id] = item
    return list(latest.values())


async def _onboard_if_new(services: Services, user_id: str, matched: list[Linked]) -> bool:
    try:
        await call("profile", services.profile.GetProfile, profile_pb2.GetProfileRequest(user_id=user_id))
        return False
    except ApiError as error:
        if error.status != 404:
            raise
    liked = [m.movie_id for m in sorted(matched, key=lambda m: -m.row.rating) if m.row.rating >= LIKED]
    seeds = (liked or [m.movie_id for m in matched])[:MAX_SEEDS]
    await call("profile", services.profile.Onboard, profile_pb2.OnboardRequest(
        user_id=user_id, movie_ids=seeds, event_id=f"import-onboard-{user_id}"))
    return True


async def _publish(services: Services, user_id: str, source: str, matched: list[Linked]) -> None:
    reviews = [{"user_id": user_id, "movie_id": item.movie_id, "rating": item.row.rating,
                "created_at_ms": item.row.rated_at_ms,
                "event_id": event_id(user_id, source, item.movie_id, item.row.rating, item.row.rated_at_ms)}
               for item in matched]
    try:
        for start in range(0, len(reviews), PUBLISH_BATCH):
            await services.publisher.publish_reviews(reviews[start:start + PUBLISH_BATCH])
    except PublishError as error:
        log.error("import not fully queued", extra=log_fields(error=str(error)))
        raise unavailable("the review queue is unavailable; import the file again (rows already queued are "
                          "not applied twice)") from None
