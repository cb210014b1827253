"""The gRPC server runtime every tier plugs into.

A tier builds its servicers, hands them to :class:`GrpcRuntime`, starts it (health reports
NOT_SERVING), loads its model or index, then calls :meth:`GrpcRuntime.set_serving`. The
runtime provides: grpc.aio server on a configurable port (0 = any free port), the standard
health service, server reflection, Prometheus metrics, request ids and JSON logs, domain
error mapping, and graceful shutdown on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import json
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from movierec_core import metrics
from movierec_core.config import ConfigError, GrpcServerSettings
from movierec_core.deadlines import deadline_var
from movierec_core.errors import ServiceError, to_grpc_status
from movierec_core.logs import log_fields, request_id_var, setup_logging

log = logging.getLogger("movierec.server")


@dataclass(frozen=True)
class _Rpc:
    service: str
    method: str
    kind: str  # go-grpc-prometheus grpc_type: unary, server_stream, client_stream, bidi_stream
    incoming_request_id: str | None

    @property
    def labels(self) -> tuple[str, str, str]:
        return self.service, self.method, self.kind


# handler attribute → (grpc_type label, handler factory); every kind gets the same treatment.
_HANDLER_KINDS = (
    ("unary_unary", "unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", "server_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", "client_stream", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", "bidi_stream", grpc.stream_stream_rpc_method_handler),
)


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    """Request ids, deadlines, metrics, logs and the domain-error → status mapping, for all four
    handler kinds (unary and streaming requests and responses)."""

    def __init__(self, domain: str):
        self.domain = domain

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        service, _, method = handler_call_details.method.lstrip("/").partition("/")
        request_id = dict(handler_call_details.invocation_metadata or ()).get("x-request-id")
        for attribute, kind, factory in _HANDLER_KINDS:
            behaviour = getattr(handler, attribute)
            if behaviour is None:
                continue
            rpc = _Rpc(service, method, kind, request_id)
            wrap = self._wrap_streaming if handler.response_streaming else self._wrap_unary
            return factory(wrap(behaviour, rpc), request_deserializer=handler.request_deserializer,
                           response_serializer=handler.response_serializer)
        return handler

    def _wrap_unary(self, behaviour, rpc: _Rpc):
        async def wrapper(request, context: grpc.aio.ServicerContext):
            async with self._observed(rpc, context):
                return await behaviour(request, context)

        return wrapper

    def _wrap_streaming(self, behaviour, rpc: _Rpc):
        async def wrapper(request, context: grpc.aio.ServicerContext):
            async with self._observed(rpc, context):
                result = behaviour(request, context)
                if inspect.isasyncgen(result):
                    async for item in result:
                        yield item
                else:  # a coroutine that writes with context.write()
                    await result

        return wrapper

    @contextlib.asynccontextmanager
    async def _observed(self, rpc: _Rpc, context: grpc.aio.ServicerContext):
        request_id = rpc.incoming_request_id or uuid.uuid4().hex
        request_id_var.set(request_id)
        remaining = context.time_remaining()
        deadline_var.set(time.monotonic() + remaining if remaining is not None else None)
        metrics.SERVER_STARTED.labels(*rpc.labels).inc()
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            yield
        except ServiceError as error:
            code = error.code
            log.info("rpc rejected", extra=log_fields(method=rpc.method, code=code.name, error=error.message))
            await context.abort_with_status(to_grpc_status(error, self.domain))
        except NotImplementedError:
            code = grpc.StatusCode.UNIMPLEMENTED
            await context.abort(code, f"{rpc.service}/{rpc.method} is not implemented yet")
        except (asyncio.CancelledError, GeneratorExit):
            code = grpc.StatusCode.CANCELLED
            raise
        except grpc.aio.AbortError:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("rpc failed", extra=log_fields(method=rpc.method))
            await context.abort(code, f"internal error (request id {request_id})")
        finally:
            elapsed = time.perf_counter() - started
            metrics.SERVER_HANDLED.labels(*rpc.labels, code.name).inc()
            metrics.SERVER_LATENCY.labels(*rpc.labels).observe(elapsed)
            log.debug("rpc", extra=log_fields(method=rpc.method, code=code.name, ms=round(elapsed * 1e3, 3)))


# Health checks come from kubelet's native gRPC probe, which cannot send metadata.
UNAUTHENTICATED_SERVICES = ("/grpc.health.v1.Health/",)


class InternalTokenInterceptor(grpc.aio.ServerInterceptor):
    """Only callers presenting the shared internal token (``authorization: Bearer <token>``) reach
    the servicers: another workload in the cluster cannot call ReloadIndex or read profiles. mTLS
    (a service mesh, or grpc.ssl_server_credentials) is the production-grade alternative
    (deploy/README.md)."""

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(UNAUTHENTICATED_SERVICES):
            return handler
        presented = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(presented.encode() if isinstance(presented, str) else presented, self._expected):
            return handler
        return _refusing(handler)


def _refusing(handler):
    """A handler of the same kind as ``handler`` that answers UNAUTHENTICATED."""
    message = "missing or wrong internal token (MOVIEREC_INTERNAL_TOKEN)"

    async def refuse(_request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def refuse_stream(_request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover - abort raises

    for attribute, _kind, factory in _HANDLER_KINDS:
        if getattr(handler, attribute) is not None:
            return factory(refuse_stream if handler.response_streaming else refuse,
                           request_deserializer=handler.request_deserializer,
                           response_serializer=handler.response_serializer)
    return handler


class GrpcRuntime:
    """Owns one tier's grpc.aio server, health, reflection and metrics endpoint."""

    def __init__(self, settings: GrpcServerSettings):
        self.settings = settings
        self.tier = settings.tier
        self.server: grpc.aio.Server | None = None
        self.health = health.aio.HealthServicer()
        self._service_names: list[str] = []
        self._registrations: list[tuple[Callable, object]] = []
        self.port = 0
        self.metrics_port = 0
        self._stopping = asyncio.Event()

    def add_servicer(self, add_to_server: Callable, servicer: object, service_name: str) -> None:
        self._registrations.append((add_to_server, servicer))
        self._service_names.append(service_name)

    async def start(self) -> int:
        options = [("grpc.so_reuseport", 0)]
        if self.settings.max_connection_age_s > 0:
            # Bounded connection age makes clients re-resolve, spreading load over new pods.
            age_ms = int(self.settings.max_connection_age_s * 1000)
            options += [("grpc.max_connection_age_ms", age_ms), ("grpc.max_connection_age_grace_ms", 5000)]
        interceptors = [ObservabilityInterceptor(f"movierec.{self.tier}")]  # outermost: counts refusals too
        if self.settings.internal_token:
            interceptors.append(InternalTokenInterceptor(self.settings.internal_token))
        self.server = grpc.aio.server(interceptors=interceptors,
                                      options=options)
        for add_to_server, servicer in self._registrations:
            add_to_server(servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*self._service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME), self.server)
        address = f"{self.settings.host}:{self.settings.port}"
        try:
            self.port = self.server.add_insecure_port(address)
        except RuntimeError:
            self.port = 0
        if self.port == 0:
            raise ConfigError(f"{self.tier.upper()}_PORT={self.settings.port}: cannot bind {address} (in use?)")
        await self.server.start()
        await self.set_serving(False)
        self.metrics_port = metrics.start_metrics_server(self.settings.metrics_port, self.settings.host)
        self._write_port_file()
        log.info("listening", extra=log_fields(host=self.settings.host, port=self.port,
                                               metrics_port=self.metrics_port, pid=os.getpid()))
        return self.port

    async def set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in ("", *self._service_names):
            await self.health.set(name, status)
        metrics.SERVING.labels(self.tier).set(1 if serving else 0)
        log.info("health", extra=log_fields(status="SERVING" if serving else "NOT_SERVING"))

    def _write_port_file(self) -> None:
        if not self.settings.port_file:
            return
        path = Path(self.settings.port_file)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"tier": self.tier, "port": self.port, "metrics_port": self.metrics_port,
                                   "host": self.settings.host, "pid": os.getpid()}))
        tmp.replace(path)

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait_for_shutdown_signal(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        await self._stopping.wait()

    async def stop(self) -> None:
        """Report NOT_SERVING, let in-flight RPCs finish within the grace period, then stop."""
        log.info("shutting down", extra=log_fields(grace_s=self.settings.grace_s))
        await self.health.enter_graceful_shutdown()
        if self.server is not None:
            await self.server.stop(self.settings.grace_s)
        log.info("stopped")


def run_service(tier: str, main: Callable[[], Awaitable[None]]) -> None:
    """Entry point for ``python -m <tier>_service``: JSON logs, config errors as one line, exit codes."""
    setup_logging(tier)
    try:
        asyncio.run(main())
    except ConfigError as error:
        print(f"{tier}: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


Registration = tuple[Callable[[object, grpc.aio.Server], None], object, str]


async def serve(settings: GrpcServerSettings, registrations: list[Registration],
                load: Callable[[], Awaitable[None]] | None = None) -> None:
    """Start a tier, run ``load`` (model/index), report SERVING, and run until SIGTERM.

    If ``load`` fails the tier keeps running NOT_SERVING with a clear log line, so an
    orchestrator sees an unready pod instead of a crash loop serving wrong results.
    """
    runtime = GrpcRuntime(settings)
    for add_to_server, servicer, service_name in registrations:
        runtime.add_servicer(add_to_server, servicer, service_name)
    await runtime.start()
    loader = asyncio.create_task(_load_then_serve(runtime, load))
    try:
        await runtime.wait_for_shutdown_signal()
    finally:
        loader.cancel()
        await runtime.stop()


async def _load_then_serve(runtime: GrpcRuntime, load: Callable[[], Awaitable[None]] | None) -> None:
    started = time.perf_counter()
    try:
        if load is not None:
            await load()
    except asyncio.CancelledError:
        raise
    except Exception as error:  # stay NOT_SERVING; the message says what to fix
        log.error("not ready: %s", error, extra=log_fields(error_type=type(error).__name__))
        return
    await runtime.set_serving(True)
    log.info("ready", extra=log_fields(load_s=round(time.perf_counter() - started, 3)))
