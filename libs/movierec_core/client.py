"""gRPC client helper: every call carries a deadline; only UNAVAILABLE is retried.

Retries use gRPC's own retry policy (service config): at most 3 attempts with exponential
backoff, for UNAVAILABLE only, so a non-idempotent failure is never replayed blindly.
Deadlines propagate: inside a request with a deadline, a call's timeout is the smaller of its
default and the caller's remaining time minus a margin (:mod:`movierec_core.deadlines`).
"""

from __future__ import annotations

import collections
import json
import uuid

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from movierec_core.config import internal_token_from_env
from movierec_core.deadlines import downstream_timeout
from movierec_core.logs import request_id_var

MAX_ATTEMPTS = 3


def service_config(max_attempts: int = MAX_ATTEMPTS) -> str:
    return json.dumps({
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [{
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": max_attempts,
                "initialBackoff": "0.05s",
                "maxBackoff": "0.5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }],
    })


DEFAULT_TIMEOUT_S = 1.0


class DeadlineInterceptor(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    """Every call gets a timeout and the request id, and the stubs keep their generated types.

    The timeout is the call's own (``stub.Search(request, timeout=0.2)``) or the channel's default,
    capped by the time the current request has left (:func:`downstream_timeout`).
    """

    def __init__(self, default_timeout_s: float, token: str | None = None):
        self.default_timeout_s = default_timeout_s
        self._authorization = f"Bearer {token}" if token else None

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        request_id = request_id_var.get() or uuid.uuid4().hex
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        if "x-request-id" not in metadata:
            metadata.add("x-request-id", request_id)
        if self._authorization and "authorization" not in metadata:
            metadata.add("authorization", self._authorization)
        return grpc.aio.ClientCallDetails(
            method=details.method, timeout=downstream_timeout(details.timeout or self.default_timeout_s),
            metadata=metadata, credentials=details.credentials, wait_for_ready=details.wait_for_ready)

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(self._details(client_call_details), request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(self._details(client_call_details), request)


def open_channel(target: str, default_timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_attempts: int = MAX_ATTEMPTS) -> grpc.aio.Channel:
    """An aio channel with retry + round_robin and a deadline on every call (use
    ``dns:///host:port`` behind a headless Service). Stubs over it are the plain generated ones:
    ``RetrievalServiceStub(open_channel(addr, default_timeout_s=0.5)).Search(request)``."""
    return grpc.aio.insecure_channel(target, options=[
        ("grpc.enable_retries", 1),
        ("grpc.service_config", service_config(max_attempts)),
    ], interceptors=[DeadlineInterceptor(default_timeout_s, internal_token_from_env())])


class _SyncCallDetails(
        collections.namedtuple("_SyncCallDetails", ("method", "timeout", "metadata", "credentials",
                                                    "wait_for_ready", "compression")),
        grpc.ClientCallDetails):
    pass


class SyncDeadlineInterceptor(grpc.UnaryUnaryClientInterceptor):
    """The blocking-API twin of :class:`DeadlineInterceptor` (for the Celery worker's calls)."""

    def __init__(self, default_timeout_s: float, token: str | None = None):
        self.default_timeout_s = default_timeout_s
        self._authorization = f"Bearer {token}" if token else None

    def intercept_unary_unary(self, continuation, client_call_details, request):
        metadata = list(client_call_details.metadata or ())
        if not any(key == "x-request-id" for key, _ in metadata):
            metadata.append(("x-request-id", request_id_var.get() or uuid.uuid4().hex))
        if self._authorization and not any(key == "authorization" for key, _ in metadata):
            metadata.append(("authorization", self._authorization))
        details = _SyncCallDetails(
            client_call_details.method,
            downstream_timeout(client_call_details.timeout or self.default_timeout_s), metadata,
            client_call_details.credentials, getattr(client_call_details, "wait_for_ready", None),
            getattr(client_call_details, "compression", None))
        return continuation(details, request)


def open_sync_channel(target: str, default_timeout_s: float = DEFAULT_TIMEOUT_S,
                      max_attempts: int = MAX_ATTEMPTS) -> grpc.Channel:
    """A blocking channel with the same retry policy and a deadline on every call."""
    channel = grpc.insecure_channel(target, options=[
        ("grpc.enable_retries", 1), ("grpc.service_config", service_config(max_attempts))])
    return grpc.intercept_channel(channel, SyncDeadlineInterceptor(default_timeout_s, internal_token_from_env()))


async def check_health(target: str, service: str = "", timeout_s: float = 1.0) -> str:
    """The health status name of ``service`` at ``target`` (e.g. "SERVING"), or "UNREACHABLE"."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError:
            return "UNREACHABLE"
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
