"""Per-request plumbing as one ASGI middleware: request id, deadline, stage timings, HTTP metrics, access log."""

from __future__ import annotations

import logging
import re
import time
import uuid

import prometheus_client

from gateway_service import timing
from movierec_core.deadlines import deadline_var, set_deadline
from movierec_core.logs import log_fields, request_id_var

log = logging.getLogger("movierec.gateway.http")

HTTP_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_REQUESTS = prometheus_client.Counter(
    "http_requests_total", "HTTP requests answered by the gateway.", ("method", "route", "status"))
HTTP_LATENCY = prometheus_client.Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request.", ("method", "route"), buckets=HTTP_BUCKETS)

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
# Probes and scrapes come every few seconds: counted in the metrics, kept out of the access log.
QUIET_ROUTES = frozenset({"/metrics", "/healthz", "/livez", "/readyz"})


def _route_template(scope: dict) -> str:
    """The matched path template (bounded label cardinality); unmatched paths share one label."""
    route = scope.get("route")
    return getattr(route, "path", None) or "<unmatched>"


class RequestContextMiddleware:
    """Sets the request id (from ``X-Request-Id`` when valid) and the request's deadline for every
    downstream gRPC call, then records count and latency by route template and status.

    With ``server_timing``, the response carries the request's stage timings (:mod:`timing`) as a
    ``Server-Timing`` header; they are in the access log line either way.
    """

    def __init__(self, app, request_timeout_s: float, server_timing: bool = False):
        self.app = app
        self.request_timeout_s = request_timeout_s
        self.server_timing = server_timing

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        id_token = request_id_var.set(request_id)
        deadline_token = deadline_var.set(None)
        set_deadline(self.request_timeout_s)
        timing_token = timing.begin_request()
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                if self.server_timing:
                    header = timing.server_timing(timing.current(), (time.perf_counter() - started) * 1e3)
                    headers.append((b"server-timing", header.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            HTTP_REQUESTS.labels(scope["method"], route, str(status["code"])).inc()
            HTTP_LATENCY.labels(scope["method"], route).observe(elapsed)
            if route not in QUIET_ROUTES and log.isEnabledFor(logging.INFO):
                stages = {name: round(ms, 2) for name, ms in timing.current().items()}
                log.info("request", extra=log_fields(method=scope["method"], route=route, status=status["code"],
                                                     ms=round(elapsed * 1000, 2), stages=stages))
            timing.end_request(timing_token)
            deadline_var.reset(deadline_token)
            request_id_var.reset(id_token)
