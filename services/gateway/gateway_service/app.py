"""The FastAPI application: the REST API (routers per area), health, metrics and the static web UI."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path

import prometheus_client
import redis.exceptions
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from gateway_service import (
    routes_auth,
    routes_chat,
    routes_import,
    routes_movies,
    routes_onboarding,
    routes_recommendations,
    routes_reviews,
    routes_search,
    routes_themes,
    routes_users,
    routes_watchlist,
)
from gateway_service.deps import build_services
from gateway_service.dialogue.understand import UnderstandingResources
from gateway_service.errors import install_error_handlers
from gateway_service.guards import EdgeMiddleware, LocalRateLimiter, write_budget
from gateway_service.imports import CatalogLinker
from gateway_service.middleware import RequestContextMiddleware
from gateway_service.schemas import ProbeResponse
from gateway_service.settings import GatewaySettings
from gateway_service.taste_map import TasteMapStore, taste_map_root
from gateway_service.themes import load_themes
from gateway_service.titles import TitleSearch
from movierec_catalog import load_catalog
from movierec_core.client import check_health
from movierec_core.logs import log_fields

log = logging.getLogger("movierec.gateway")

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        catalog = await asyncio.to_thread(load_catalog, settings.catalog_dir)
        services = build_services(settings, catalog)
        services.extras["taste_maps"] = TasteMapStore(taste_map_root(settings.taste_map_root))
        services.extras["title_search"] = TitleSearch(catalog)
        services.extras["themes"] = await asyncio.to_thread(load_themes)
        # The chat's title linker and franchise index (~1 s): built before the first message, not during it.
        services.extras["understanding"] = await asyncio.to_thread(UnderstandingResources.from_catalog, catalog)
        services.extras["import_linker"] = await asyncio.to_thread(CatalogLinker, catalog)
        app.state.services = services
        log.info("catalog loaded", extra=log_fields(movies=len(catalog), version=catalog.version))
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(title="movierec", version="0.1.0", lifespan=lifespan,
                  description="Explainable, conversational movie recommendations. Errors share one body: "
                              "`{\"error\": {status, code, message, fields[], requestId}}`.")
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, request_timeout_s=settings.request_timeout_s,
                       server_timing=settings.server_timing)
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes)  # outermost: runs first
    app.state.search_limiter = LocalRateLimiter(settings.search_rate_limit, window_s=60)

    for module in (routes_auth, routes_movies, routes_onboarding, routes_recommendations, routes_reviews,
                   routes_import, routes_themes, routes_search):
        app.include_router(module.router)
    # Writes are budgeted per user (429 + Retry-After); reads on these routers are free.
    app.include_router(routes_chat.router, dependencies=[write_budget("chat")])
    app.include_router(routes_users.router, dependencies=[write_budget("interaction")])
    app.include_router(routes_watchlist.router, dependencies=[write_budget("interaction")])
    _ops_routes(app, settings)
    if STATIC_DIR.is_dir():
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="ui")
    return app


READY_REDIS_TIMEOUT_S = 1.0


def _ops_routes(app: FastAPI, settings: GatewaySettings) -> None:
    @app.get("/livez", tags=["ops"], response_model=ProbeResponse)
    async def livez() -> ProbeResponse:
        """Liveness: the process answers HTTP. Checks no dependency, so an outage elsewhere never gets
        a healthy gateway restarted."""
        return ProbeResponse(status="alive")

    @app.get("/readyz", tags=["ops"], response_model=ProbeResponse, responses={503: {"model": ProbeResponse}})
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: this gateway can serve — its catalog is loaded.

        Neither Redis nor the gRPC tiers are checked: every replica shares them, so an outage there would
        pull every replica out of rotation at once, while the gateway still has useful answers (the UI,
        catalog search, health, degraded recommendations; a 503 in words on the routes that need
        Redis). The body reports Redis's state; ``/healthz`` reports the tiers.
        """
        problem, note = await _not_ready_because(request.app)
        body = ProbeResponse(status="not_ready" if problem else "ready", reason=problem or note)
        return JSONResponse(body.model_dump(by_alias=True), status_code=503 if problem else 200)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        """SERVING status of every gRPC tier; 503 when any is not serving (a report, not a probe)."""
        tiers = {"embedding": settings.embedding_addr, "retrieval": settings.retrieval_addr,
                 "profile": settings.profile_addr, "ranker": settings.ranker_addr}
        statuses = await asyncio.gather(*(check_health(addr) for addr in tiers.values()))
        report = dict(zip(tiers, statuses, strict=True))
        healthy = all(status == "SERVING" for status in statuses)
        return JSONResponse({"status": "ok" if healthy else "degraded", "tiers": report},
                            status_code=200 if healthy else 503)

    if settings.metrics_port is None:  # else served on its own port by __main__ (see GATEWAY_METRICS_PORT)
        @app.get("/metrics", tags=["ops"], include_in_schema=False)
        async def metrics() -> Response:
            return Response(prometheus_client.generate_latest(), media_type=prometheus_client.CONTENT_TYPE_LATEST)


async def _not_ready_because(app: FastAPI) -> tuple[str | None, str | None]:
    """(why this gateway cannot serve yet or None, a note on a degraded dependency or None)."""
    services = getattr(app.state, "services", None)
    if services is None:
        return "starting: the catalog is not loaded yet", None
    try:
        await asyncio.wait_for(services.redis.ping(), READY_REDIS_TIMEOUT_S)
    except (redis.exceptions.RedisError, OSError, TimeoutError) as error:
        log.warning("redis unreachable; serving what does not need it", extra=log_fields(error=repr(error)))
        return None, "degraded: Redis (accounts, sessions, reviews) is unreachable; those routes answer 503"
    return None, None
