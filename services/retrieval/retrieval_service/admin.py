"""The retrieval tier's admin endpoint: ``ReloadIndex`` is served here, not on the serving port.

The serving port (``RETRIEVAL_PORT``) answers Search, MoreLikeThis, GetMovieVectors and GetIndexInfo
to any caller holding the internal token (the gateway, the profile tier, internal teams); ReloadIndex
there is PERMISSION_DENIED. Swapping the index is an operator's act, so it needs the admin role:

* its own grpc.aio server on ``RETRIEVAL_ADMIN_HOST:RETRIEVAL_ADMIN_PORT`` (default 127.0.0.1:50062 —
  loopback, so in a pod only ``kubectl port-forward`` reaches it and no NetworkPolicy opens it);
* a caller must present ``authorization: Bearer <RETRIEVAL_ADMIN_TOKEN>``, a secret other than the
  internal token, so a tier holding the internal token still cannot reload;
* without ``RETRIEVAL_ADMIN_TOKEN`` the admin server does not start (the index watcher still swaps in a
  repointed ``current``, which is how deployments roll out an index).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc

from movierec.retrieval.v1 import retrieval_pb2_grpc
from movierec_core.config import MIN_TOKEN_CHARS, ConfigError, env_int, env_optional_str, env_str
from movierec_core.errors import ServiceError
from movierec_core.logs import log_fields
from movierec_core.server import InternalTokenInterceptor, ObservabilityInterceptor
from retrieval_service.servicer import RetrievalServicer

log = logging.getLogger("movierec.retrieval.admin")
DEFAULT_ADMIN_PORT = 50062


@dataclass(frozen=True)
class AdminSettings:
    host: str
    port: int
    token: str | None  # None: no admin endpoint

    @classmethod
    def from_env(cls) -> AdminSettings:
        token = env_optional_str("RETRIEVAL_ADMIN_TOKEN")
        if token is not None and len(token) < MIN_TOKEN_CHARS:
            raise ConfigError(f"RETRIEVAL_ADMIN_TOKEN must be at least {MIN_TOKEN_CHARS} characters "
                              f"(got {len(token)}); generate one with `openssl rand -base64 48`")
        return cls(host=env_str("RETRIEVAL_ADMIN_HOST", "127.0.0.1"),
                   port=env_int("RETRIEVAL_ADMIN_PORT", DEFAULT_ADMIN_PORT, minimum=0, maximum=65535),
                   token=token)


class ServingRetrievalServicer(RetrievalServicer):
    """The serving port's servicer: everything but ReloadIndex."""

    async def ReloadIndex(self, request, context):
        raise ServiceError("ReloadIndex is served only on the admin endpoint (RETRIEVAL_ADMIN_PORT, with "
                           "RETRIEVAL_ADMIN_TOKEN)", reason="ADMIN_ONLY", code=grpc.StatusCode.PERMISSION_DENIED)


class AdminServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    """Only ReloadIndex (of a full, unrestricted servicer over the same holder); the other methods are the
    generated UNIMPLEMENTED ones."""

    def __init__(self, servicer: RetrievalServicer):
        self._servicer = servicer

    async def ReloadIndex(self, request, context):
        return await self._servicer.ReloadIndex(request, context)


async def start_admin_server(settings: AdminSettings, servicer: RetrievalServicer) -> grpc.aio.Server | None:
    """Bind and start the admin server (None when no admin token is configured)."""
    if settings.token is None:
        log.info("admin endpoint off (no RETRIEVAL_ADMIN_TOKEN); ReloadIndex unavailable")
        return None
    server = grpc.aio.server(interceptors=[ObservabilityInterceptor("movierec.retrieval.admin"),
                                           InternalTokenInterceptor(settings.token)])
    retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(AdminServicer(servicer), server)
    address = f"{settings.host}:{settings.port}"
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise ConfigError(f"RETRIEVAL_ADMIN_PORT={settings.port}: cannot bind {address} (in use?)")
    await server.start()
    log.info("admin listening", extra=log_fields(host=settings.host, admin_port=port))
    return server
