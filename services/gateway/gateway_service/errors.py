"""One error shape for every failure, and the mapping from gRPC status codes to HTTP.

Body: ``{"error": {"status", "code", "message", "fields": [{"field", "message"}], "requestId"}}``.
Stack traces are logged (with the request id), never sent. Neither are a failed dependency's own
words: gRPC's debug strings name internal addresses ("ipv4:10.1.2.3:50051: Connection refused"), so a
503/504 says which tier is unavailable and the detail goes to the log under the request id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import grpc
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from movierec_core.errors import ServiceError, describe_rpc_error
from movierec_core.logs import log_fields, request_id_var

log = logging.getLogger("movierec.gateway.errors")

# gRPC status → (HTTP status, error code). Anything not listed is a 502-class dependency failure
# reported as 503 UNAVAILABLE (the client can retry) except INTERNAL/UNKNOWN bugs → 500.
GRPC_TO_HTTP: dict[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "INVALID_ARGUMENT"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "INVALID_ARGUMENT"),
    grpc.StatusCode.FAILED_PRECONDITION: (400, "FAILED_PRECONDITION"),
    grpc.StatusCode.NOT_FOUND: (404, "NOT_FOUND"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "ALREADY_EXISTS"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "FORBIDDEN"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "UNAUTHENTICATED"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (503, "UNAVAILABLE"),
    grpc.StatusCode.UNAVAILABLE: (503, "UNAVAILABLE"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "DEADLINE_EXCEEDED"),
    grpc.StatusCode.CANCELLED: (503, "UNAVAILABLE"),
    grpc.StatusCode.UNIMPLEMENTED: (503, "UNAVAILABLE"),
}


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict:
        return {"error": {"status": self.status, "code": self.code, "message": self.message,
                          "fields": [{"field": f, "message": m} for f, m in self.fields],
                          "requestId": request_id_var.get()}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers or None)


def bad_request(message: str, fields: list[tuple[str, str]] | None = None) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message, list(fields or []))


def not_found(message: str, code: str = "NOT_FOUND") -> ApiError:
    return ApiError(404, code, message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "FORBIDDEN", message)


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", message, headers={"WWW-Authenticate": "Bearer"})


def unavailable(message: str) -> ApiError:
    return ApiError(503, "UNAVAILABLE", message)


def dependency_message(tier: str, status: int) -> str:
    """What a client is told when ``tier`` failed: which tier, and whether to retry — nothing internal."""
    if status == 504:
        return f"the {tier} service did not answer in time; try again shortly"
    if status == 500:
        return f"the {tier} service failed (logged with the request id)"
    return f"the {tier} service is unavailable; try again shortly"


def from_rpc_error(error: grpc.RpcError, tier: str) -> ApiError:
    """Map a failed gRPC call to the HTTP error a client sees, keeping the tier's field violations.

    A client error (400/404/…) carries the tier's message: the tiers write those for callers. A
    dependency failure (5xx) carries only :func:`dependency_message`; the status details are logged.
    """
    described = describe_rpc_error(error)
    status, code = GRPC_TO_HTTP.get(described.code, (500, "INTERNAL"))
    if status < 500:
        return ApiError(status, code, described.message, list(described.field_violations))
    log.warning("dependency failed", extra=log_fields(tier=tier, grpc_code=described.code.name,
                                                     detail=described.message, http_status=status))
    return ApiError(status, code, dependency_message(tier, status))


def from_service_error(error: ServiceError, tier: str | None = None) -> ApiError:
    """Errors raised locally by the shared runtime (e.g. the request's deadline passed before a call)."""
    status, code = GRPC_TO_HTTP.get(error.code, (500, "INTERNAL"))
    if status < 500:
        return ApiError(status, code, error.message, list(error.field_violations))
    log.warning("dependency call not made", extra=log_fields(tier=tier, grpc_code=error.code.name,
                                                            detail=error.message, http_status=status))
    if status == 504:
        before = f" before the {tier} service was called" if tier else ""
        return ApiError(status, code, f"the request ran out of time{before}; try again shortly")
    return ApiError(status, code, dependency_message(tier or "backend", status))


def _location(loc: tuple) -> str:
    """("body", "numResults") → "numResults"; ("query", "limit") → "limit"."""
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_error(error: RequestValidationError) -> ApiError:
    fields = [(_location(tuple(item.get("loc", ()))), item.get("msg", "invalid")) for item in error.errors()]
    summary = "; ".join(f"{f}: {m}" for f, m in fields[:5])
    return ApiError(422, "VALIDATION_ERROR", f"invalid request: {summary}", fields)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return error.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        return validation_error(error).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == "There was an error parsing the body":
            # Starlette's answer to a body that is not even text; same class of problem as invalid JSON (422).
            return ApiError(422, "VALIDATION_ERROR", "invalid request: the body is not valid JSON",
                            [("body", "not valid JSON (or not UTF-8)")]).response()
        codes = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
                 405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 429: "RATE_LIMITED", 503: "UNAVAILABLE",
                 504: "DEADLINE_EXCEEDED"}
        message = error.detail if isinstance(error.detail, str) else "request failed"
        return ApiError(error.status_code, codes.get(error.status_code, "HTTP_ERROR"), message,
                        headers=dict(error.headers or {})).response()

    @app.exception_handler(grpc.RpcError)
    async def _rpc(_request: Request, error: grpc.RpcError) -> JSONResponse:
        return from_rpc_error(error, "backend").response()

    @app.exception_handler(ServiceError)
    async def _service(_request: Request, error: ServiceError) -> JSONResponse:
        return from_service_error(error).response()

    @app.exception_handler(redis.exceptions.RedisError)
    async def _redis(request: Request, error: redis.exceptions.RedisError) -> JSONResponse:
        log.error("redis error", extra=log_fields(path=request.url.path, error=repr(error)))
        return unavailable("the session store (Redis) is unavailable; try again shortly").response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", extra=log_fields(path=request.url.path))
        return ApiError(500, "INTERNAL", "internal error (logged with the request id)").response()
