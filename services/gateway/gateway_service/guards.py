"""Abuse guards at the edge: per-user write budgets, a per-address search budget, security headers
and a request body limit.

Budgets answer 429 with ``Retry-After``. Writes (reviews, chat turns, watched marks) are counted in
Redis per user, so every gateway replica shares one budget; the unauthenticated title search is
counted in process per client address, so it keeps working (and stays bounded) when Redis is down.
The client address is the socket peer, or the forwarded one only from the trusted proxies of
``GATEWAY_FORWARDED_ALLOW_IPS`` (uvicorn's proxy-headers handling rewrites ``request.client``).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from fastapi import Depends, Request

from gateway_service.deps import CurrentUser, ServicesDep
from gateway_service.errors import ApiError

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# The static UI loads only its own scripts and styles; posters come from the sources' https image hosts.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: https:; "
                           "script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                           "base-uri 'self'; form-action 'self'")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def rate_limited(action: str, retry_after: int) -> ApiError:
    return ApiError(429, "RATE_LIMITED", f"too many {action} requests; try again in {retry_after} s",
                    headers={"Retry-After": str(retry_after)})


def write_budget(action: str):
    """A dependency charging one write of ``action`` to the token's user (reads are free)."""

    async def charge(request: Request, user: CurrentUser, services: ServicesDep) -> None:
        if request.method not in WRITE_METHODS:
            return
        settings = services.settings
        await services.limiter.hit_subject(action, f"user:{user.user_id}", limit=settings.write_rate_limit,
                                           window_s=settings.write_rate_window_s)

    return Depends(charge)


class LocalRateLimiter:
    """Fixed windows counted in this process, for budgets that must not depend on Redis.

    Remembers at most ``max_subjects`` addresses (the least recently seen are forgotten), so a
    flood of spoofed sources cannot grow it without bound.
    """

    def __init__(self, limit: int, window_s: int, max_subjects: int = 50_000):
        self.limit = limit
        self.window_s = window_s
        self._max_subjects = max_subjects
        self._counts: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def hit(self, action: str, subject: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        window = int(now // self.window_s)
        seen_window, count = self._counts.pop(subject, (window, 0))
        count = count + 1 if seen_window == window else 1
        self._counts[subject] = (window, count)
        if len(self._counts) > self._max_subjects:
            self._counts.popitem(last=False)
        if count > self.limit:
            raise rate_limited(action, max(1, math.ceil((window + 1) * self.window_s - now)))


class EdgeMiddleware:
    """Security headers on every response, and a body size limit: a larger declared
    ``Content-Length`` is refused before the body is read (413), and a chunked body is cut off
    as soon as it passes the limit."""

    def __init__(self, app, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in SECURITY_HEADERS if k not in present)]
            await send(message)

        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(send_with_headers)
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            await self._too_large(send_with_headers)

    async def _too_large(self, send) -> None:
        body = ApiError(413, "BODY_TOO_LARGE",
                        f"the request body is larger than {self.max_body_bytes} bytes").response()
        await body(scope={"type": "http"}, receive=None, send=send)


class _BodyTooLarge(Exception):
    pass
