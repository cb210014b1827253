"""The FastAPI application: health, metrics and (later) the product's REST API."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import prometheus_client
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

from gateway_service.settings import GatewaySettings
from movierec_core.client import check_health


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield

    app = FastAPI(title="movierec", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        """SERVING status of every gRPC tier; 503 when any is not serving."""
        tiers = {"embedding": settings.embedding_addr, "retrieval": settings.retrieval_addr,
                 "profile": settings.profile_addr, "ranker": settings.ranker_addr}
        statuses = await asyncio.gather(*(check_health(addr) for addr in tiers.values()))
        report = dict(zip(tiers, statuses, strict=True))
        healthy = all(status == "SERVING" for status in statuses)
        return JSONResponse({"status": "ok" if healthy else "degraded", "tiers": report},
                            status_code=200 if healthy else 503)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(prometheus_client.generate_latest(), media_type=prometheus_client.CONTENT_TYPE_LATEST)

    return app
