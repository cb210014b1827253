"""`python -m gateway_service` starts the REST gateway (uvicorn)."""

from __future__ import annotations

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

log = logging.getLogger("movierec.gateway")


async def main() -> None:
    settings = GatewaySettings.from_env()
    config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                            log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn has no started event
        await asyncio.sleep(0.05)
    if server.started:
        port = server.servers[0].sockets[0].getsockname()[1]
        log.info("listening", extra=log_fields(host=settings.host, port=port, pid=os.getpid()))
        if settings.port_file:
            tmp = Path(settings.port_file).with_suffix(".tmp")
            tmp.write_text(json.dumps({"tier": "gateway", "port": port, "host": settings.host,
                                       "pid": os.getpid()}))
            tmp.replace(settings.port_file)
    await serving


if __name__ == "__main__":
    setup_logging("gateway")
    try:
        asyncio.run(main())
    except ConfigError as error:
        print(f"gateway: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
