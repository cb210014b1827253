"""`python -m gateway_service` starts the REST gateway (uvicorn)."""

from __future__ import annotations

from movierec_core.threads import one_blas_thread

# ruff: noqa: E402  (the imports below must follow it)
one_blas_thread()  # before numpy loads its BLAS

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

import uvicorn

from gateway_service.app import create_app
from gateway_service.settings import GatewaySettings
from movierec_core.config import ConfigError
from movierec_core.logs import log_fields, setup_logging
from movierec_core.metrics import start_metrics_server

log = logging.getLogger("movierec.gateway")


def uvicorn_config(settings: GatewaySettings) -> uvicorn.Config:
    """uvicorn's settings. X-Forwarded-For/-Proto are honoured only from GATEWAY_FORWARDED_ALLOW_IPS:
    uvicorn would otherwise trust them from 127.0.0.1 by default, and a local client could then pick the
    address the auth rate limiter keys on."""
    trusted = settings.forwarded_allow_ips
    return uvicorn.Config(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                          access_log=False, lifespan="on", proxy_headers=trusted is not None,
                          forwarded_allow_ips=trusted or "")


async def main() -> None:
    settings = GatewaySettings.from_env()
    server = uvicorn.Server(uvicorn_config(settings))
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn has no started event
        await asyncio.sleep(0.05)
    if server.started:
        port = server.servers[0].sockets[0].getsockname()[1]
        # Started only once the app is up, so a scrape never sees a gateway that is still loading.
        metrics_port = (start_metrics_server(settings.metrics_port, settings.host)
                        if settings.metrics_port is not None else None)
        log.info("listening", extra=log_fields(host=settings.host, port=port, metrics_port=metrics_port,
                                               pid=os.getpid()))
        if settings.port_file:
            tmp = Path(settings.port_file).with_suffix(".tmp")
            tmp.write_text(json.dumps({"tier": "gateway", "port": port, "host": settings.host,
                                       "metrics_port": metrics_port, "pid": os.getpid()}))
            tmp.replace(settings.port_file)
    await serving


if __name__ == "__main__":
    setup_logging("gateway")
    try:
        asyncio.run(main())
    except ConfigError as error:
        print(f"gateway: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
