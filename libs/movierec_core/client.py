"""gRPC client helper: every call carries a deadline; only UNAVAILABLE is retried.

Retries use gRPC's own retry policy (service config): at most 3 attempts with exponential
backoff, for UNAVAILABLE only, so a non-idempotent failure is never replayed blindly.
Deadlines propagate: inside a request with a deadline, a call's timeout is the smaller of its
default and the caller's remaining time minus a margin (:mod:`movierec_core.deadlines`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

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


def open_channel(target: str, max_attempts: int = MAX_ATTEMPTS) -> grpc.aio.Channel:
    """An aio channel with retry + round_robin (use ``dns:///host:port`` behind a headless Service)."""
    return grpc.aio.insecure_channel(target, options=[
        ("grpc.enable_retries", 1),
        ("grpc.service_config", service_config(max_attempts)),
    ])


class DeadlineStub:
    """Wraps a generated stub so that every call has a timeout and forwards the request id.

    ``DeadlineStub(RetrievalServiceStub(channel), default_timeout_s=0.5).Search(request)``
    """

    def __init__(self, stub: Any, default_timeout_s: float):
        self._stub = stub
        self._default_timeout_s = default_timeout_s

    def __getattr__(self, name: str):
        method = getattr(self._stub, name)

        def call(request, *, timeout: float | None = None, metadata=None, **kwargs):
            effective = downstream_timeout(timeout or self._default_timeout_s)
            request_id = request_id_var.get() or uuid.uuid4().hex
            outgoing = [*(metadata or ()), ("x-request-id", request_id)]
            return method(request, timeout=effective, metadata=outgoing, **kwargs)

        return call


async def check_health(target: str, service: str = "", timeout_s: float = 1.0) -> str:
    """The health status name of ``service`` at ``target`` (e.g. "SERVING"), or "UNREACHABLE"."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError:
            return "UNREACHABLE"
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
