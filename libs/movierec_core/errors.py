"""Domain errors and the one place that maps them to gRPC status codes with rich details.

Handlers raise these; the server interceptor turns them into a ``google.rpc.Status`` carrying
``BadRequest`` (field violations), ``ErrorInfo`` (reason + domain) and ``RetryInfo`` details.
Clients read them back with :func:`describe_rpc_error`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass
class ServiceError(Exception):
    message: str
    reason: str = "ERROR"
    field_violations: list[tuple[str, str]] = field(default_factory=list)
    retry_after_s: float | None = None
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __str__(self) -> str:
        return self.message


def _error(code: grpc.StatusCode, default_reason: str):
    def make(message: str, *, reason: str = default_reason,
             field_violations: list[tuple[str, str]] | None = None,
             retry_after_s: float | None = None) -> ServiceError:
        return ServiceError(message, reason, list(field_violations or []), retry_after_s, code)
    return make


invalid_argument = _error(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
not_found = _error(grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
failed_precondition = _error(grpc.StatusCode.FAILED_PRECONDITION, "FAILED_PRECONDITION")
unavailable = _error(grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE")
deadline_exceeded = _error(grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED")
resource_exhausted = _error(grpc.StatusCode.RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED")


# The status travels in trailing metadata, which gRPC caps (8 KiB soft, 16 KiB hard by default): a request with
# 40 unknown genres made ~22 KB, the caller got RESOURCE_EXHAUSTED ("received metadata size exceeds hard
# limit") instead of INVALID_ARGUMENT, and the gateway answered 503 (found by the fuzz test).
MAX_MESSAGE_CHARS = 600
MAX_VIOLATIONS = 10
MAX_DESCRIPTION_CHARS = 200


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bounded_violations(violations: list[tuple[str, str]]) -> list[tuple[str, str]]:
    kept = [(_clip(f, 120), _clip(d, MAX_DESCRIPTION_CHARS)) for f, d in violations[:MAX_VIOLATIONS]]
    if len(violations) > MAX_VIOLATIONS:
        kept.append(("", f"… and {len(violations) - MAX_VIOLATIONS} more"))
    return kept


def to_grpc_status(error: ServiceError, domain: str) -> grpc.Status:
    """Build a gRPC status with google.rpc details from a domain error, bounded to fit the metadata limit."""
    details = []
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=domain)
    details.append(info)
    if error.field_violations:
        details.append(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
            for f, d in _bounded_violations(list(error.field_violations))
        ]))
    if error.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(error.retry_after_s * 1000))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    status = status_pb2.Status(code=getattr(code_pb2, error.code.name), message=_clip(error.message, MAX_MESSAGE_CHARS))
    for detail in details:
        status.details.add().Pack(detail)
    return rpc_status.to_status(status)


@dataclass
class RpcErrorDescription:
    code: grpc.StatusCode
    message: str
    reason: str | None = None
    field_violations: list[tuple[str, str]] = field(default_factory=list)


def describe_rpc_error(error: grpc.RpcError) -> RpcErrorDescription:
    """Code, message and details of a failed call, for clients (e.g. the gateway's HTTP mapping)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    description = RpcErrorDescription(code=code, message=details or code.name)
    status = _status_from_trailers(error)
    if status is None:
        return description
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            description.reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            description.field_violations = [(v.field, v.description) for v in bad.field_violations]
    return description


def _status_from_trailers(error: grpc.RpcError) -> status_pb2.Status | None:
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status()
            status.ParseFromString(value)
            return status
    return None
