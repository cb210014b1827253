"""GET /api/themes and GET /api/themes/{themeId}: the catalog's named clusters (gateway_service.themes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway_service.auth import AuthUser
from gateway_service.deps import ServicesDep, current_user
from gateway_service.errors import not_found, unavailable
from gateway_service.movies import summary
from gateway_service.recommend import load_user, rank, search
from gateway_service.schemas import ErrorBody, ThemeDetail, ThemesResponse, ThemeSummary, ThemeTerm
from gateway_service.themes import Theme, ThemeIndex
from movierec_catalog.filter import Filter

router = APIRouter(prefix="/api/themes", tags=["themes"])

SAMPLE = 6
RANK_CANDIDATES = 100
_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 422, 503, 504)}
_optional_bearer = HTTPBearer(auto_error=False, description="Optional: rank the members for this user")


async def optional_user(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)],
                        services: ServicesDep) -> AuthUser | None:
    """The token's user when a token is sent (401 when it is invalid: a bad token is never anonymous)."""
    if credentials is None:
        return None
    return await current_user(credentials, services)


def _index(services) -> ThemeIndex:
    index = services.extras.get("themes")
    if index is None:
        raise unavailable("themes have not been built for this deployment: run `make themes`")
    return index


def _summary(services, theme: Theme) -> dict:
    return {"theme_id": theme.theme_id, "name": theme.name, "size": theme.size,
            "name_terms": [ThemeTerm.model_validate(t) for t in theme.name_terms],
            "distinctive_terms": [ThemeTerm.model_validate(t) for t in theme.distinctive_terms],
            "sample": [summary(m) for mid in theme.movie_ids[:SAMPLE] if (m := services.catalog.get(mid))]}


@router.get("", response_model=ThemesResponse, responses=_ERRORS)
async def list_themes(services: ServicesDep) -> ThemesResponse:
    """Every theme with its name, the evidence for the name (share of members each term is true of) and
    its most central members."""
    index = _index(services)
    return ThemesResponse(k=index.k, silhouette=index.silhouette,
                          themes=[ThemeSummary(**_summary(services, t)) for t in index.themes])


# The token is optional (it only ranks the members for that person): say so in the OpenAPI document,
# where a bare dependency on the bearer would read as required.
@router.get("/{themeId}", response_model=ThemeDetail, responses=_ERRORS,
            openapi_extra={"security": [{}, {"HTTPBearer": []}]})
async def theme_detail(themeId: Annotated[int, Path(ge=0)], services: ServicesDep,
                       user: Annotated[AuthUser | None, Depends(optional_user)],
                       offset: Annotated[int, Query(ge=0)] = 0,
                       limit: Annotated[int, Query(ge=1, le=100)] = 24) -> ThemeDetail:
    """One theme's members, most central first; with a bearer token, the user's unseen members ranked for
    them first (the ranker's picks, explained), then the rest."""
    index = _index(services)
    theme = index.get(themeId)
    if theme is None:
        raise not_found(f"no theme {themeId}: there are {len(index.themes)} (ids 0–{len(index.themes) - 1})")
    order, cards = list(theme.movie_ids), []
    if user is not None:
        viewer = await load_user(services, user.user_id, allow_cold_start=True)
        unseen = frozenset(theme.movie_ids) - viewer.seen
        if unseen:
            hard = Filter(only_movie_ids=unseen)
            found = await search(services, viewer.taste, min(RANK_CANDIDATES, len(unseen)), hard)
            ranked = await rank(services, viewer, found.hits, top_n=min(limit, len(found.hits)), hard=hard)
            cards = ranked.cards()
            first = {c.movie_id: None for c in cards}
            order = [*first, *(m for m in theme.movie_ids if m not in first)]
    page = [summary(m) for mid in order[offset:offset + limit] if (m := services.catalog.get(mid))]
    return ThemeDetail(**_summary(services, theme), ranked_for_user=user is not None, recommendations=cards,
                       members=page, total=theme.size, offset=offset)
