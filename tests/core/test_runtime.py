"""The shared gRPC runtime: health, reflection, metrics, error mapping, retries and deadlines."""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from movierec.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from movierec_core import errors
from movierec_core.client import check_health, open_channel, open_sync_channel
from movierec_core.config import GrpcServerSettings
from movierec_core.deadlines import downstream_timeout, set_deadline
from movierec_core.logs import request_id_var
from movierec_core.server import GrpcRuntime

SERVICE = retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name


class ScriptedRetrieval(retrieval_pb2_grpc.RetrievalServiceServicer):
    """A servicer whose Search behaviour each test scripts, recording what it saw."""

    def __init__(self):
        self.failures: list[Exception] = []
        self.calls = 0
        self.seen_timeouts: list[float | None] = []
        self.seen_request_ids: list[str | None] = []

    async def Search(self, request, context):
        self.calls += 1
        self.seen_timeouts.append(context.time_remaining())
        self.seen_request_ids.append(request_id_var.get())
        if self.failures:
            raise self.failures.pop(0)
        return retrieval_pb2.SearchResponse(index_version="v-test")


@pytest.fixture
async def runtime():
    servicer = ScriptedRetrieval()
    settings = GrpcServerSettings("retrieval", "127.0.0.1", 0, 0, 0.5, 0.0, None)
    rt = GrpcRuntime(settings)
    rt.add_servicer(retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server, servicer, SERVICE)
    await rt.start()
    rt.servicer = servicer
    rt.target = f"127.0.0.1:{rt.port}"
    yield rt
    await rt.stop()


async def test_health_is_not_serving_until_ready(runtime):
    assert await check_health(runtime.target) == "NOT_SERVING"
    assert await check_health(runtime.target, SERVICE) == "NOT_SERVING"
    await runtime.set_serving(True)
    assert await check_health(runtime.target, SERVICE) == "SERVING"
    async with grpc.aio.insecure_channel(runtime.target) as channel:
        with pytest.raises(grpc.RpcError) as info:
            await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=1)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_the_service(runtime):
    async with grpc.aio.insecure_channel(runtime.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = [s.name async for r in responses for s in r.list_services_response.service]
    assert SERVICE in names
    assert "grpc.health.v1.Health" in names


async def test_domain_error_maps_to_status_with_details(runtime):
    runtime.servicer.failures = [errors.invalid_argument(
        "vector has 3 dimensions, expected 384", field_violations=[("vector", "expected 384 dimensions")])]
    async with open_channel(runtime.target, default_timeout_s=1.0) as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            await stub.Search(retrieval_pb2.SearchRequest(k=1))
    described = errors.describe_rpc_error(info.value)
    assert described.code == grpc.StatusCode.INVALID_ARGUMENT
    assert described.message == "vector has 3 dimensions, expected 384"
    assert described.reason == "INVALID_ARGUMENT"
    assert described.field_violations == [("vector", "expected 384 dimensions")]
    assert runtime.servicer.calls == 1  # INVALID_ARGUMENT is never retried


async def test_unexpected_exception_is_internal_without_traceback(runtime):
    runtime.servicer.failures = [ZeroDivisionError("secret internals")]
    async with open_channel(runtime.target) as channel:
        with pytest.raises(grpc.RpcError) as info:
            await retrieval_pb2_grpc.RetrievalServiceStub(channel).Search(retrieval_pb2.SearchRequest(), timeout=1)
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in info.value.details() and "Traceback" not in info.value.details()
    assert "request id" in info.value.details()


async def test_unimplemented_is_reported_honestly(runtime):
    async with open_channel(runtime.target) as channel:
        with pytest.raises(grpc.RpcError) as info:
            await retrieval_pb2_grpc.RetrievalServiceStub(channel).GetIndexInfo(
                retrieval_pb2.GetIndexInfoRequest(), timeout=1)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_client_retries_unavailable_at_most_three_times(runtime):
    runtime.servicer.failures = [errors.unavailable("warming up"), errors.unavailable("warming up")]
    async with open_channel(runtime.target, default_timeout_s=2.0) as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        response = await stub.Search(retrieval_pb2.SearchRequest())
        assert response.index_version == "v-test"
        assert runtime.servicer.calls == 3
        runtime.servicer.calls = 0
        runtime.servicer.failures = [errors.unavailable("down")] * 5
        with pytest.raises(grpc.RpcError) as info:
            await stub.Search(retrieval_pb2.SearchRequest())
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert runtime.servicer.calls == 3


async def test_every_call_carries_a_deadline_and_request_id(runtime):
    async with open_channel(runtime.target, default_timeout_s=0.8) as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        request_id_var.set("req-123")
        await stub.Search(retrieval_pb2.SearchRequest())
        await stub.Search(retrieval_pb2.SearchRequest(), timeout=0.3)  # the call's own timeout wins
        request_id_var.set(None)
    first, second = runtime.servicer.seen_timeouts[-2:]
    assert first is not None and 0.31 < first <= 0.81  # gRPC rounds deadlines: allow 10 ms either way
    assert second is not None and 0 < second <= 0.31
    assert runtime.servicer.seen_request_ids[-2:] == ["req-123", "req-123"]


async def test_blocking_channel_carries_a_deadline_and_request_id(runtime):
    def call():
        request_id_var.set("req-sync")
        stub = retrieval_pb2_grpc.RetrievalServiceStub(open_sync_channel(runtime.target, default_timeout_s=0.7))
        return stub.Search(retrieval_pb2.SearchRequest())

    assert (await asyncio.to_thread(call)).index_version == "v-test"
    remaining = runtime.servicer.seen_timeouts[-1]
    assert remaining is not None and 0 < remaining <= 0.71  # gRPC rounds deadlines
    assert runtime.servicer.seen_request_ids[-1] == "req-sync"


def test_downstream_timeout_respects_the_callers_deadline():
    set_deadline(0.2)
    assert downstream_timeout(1.0) <= 0.2
    set_deadline(-1)
    with pytest.raises(errors.ServiceError) as info:
        downstream_timeout(1.0)
    assert info.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    set_deadline(1e9)


async def test_metrics_count_requests_by_method_and_code(runtime):
    runtime.servicer.failures = [errors.not_found("movie 99999999 is not in the catalog")]
    async with open_channel(runtime.target) as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        with pytest.raises(grpc.RpcError):
            await stub.Search(retrieval_pb2.SearchRequest(), timeout=1)
        await stub.Search(retrieval_pb2.SearchRequest(), timeout=1)
    url = f"http://127.0.0.1:{runtime.metrics_port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=2).read().decode())
    assert f'grpc_server_handled_total{{grpc_code="NOT_FOUND",grpc_method="Search",grpc_service="{SERVICE}"' in body
    assert f'grpc_server_handled_total{{grpc_code="OK",grpc_method="Search",grpc_service="{SERVICE}"' in body
    assert "grpc_server_handling_seconds_bucket" in body


async def test_streaming_rpcs_are_observed_too(runtime):
    # Reflection is a bidirectional stream: the interceptor must count it like any unary call.
    async with open_channel(runtime.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        assert [r async for r in responses]
    url = f"http://127.0.0.1:{runtime.metrics_port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=2).read().decode())
    assert ('grpc_server_handled_total{grpc_code="OK",grpc_method="ServerReflectionInfo",'
            'grpc_service="grpc.reflection.v1alpha.ServerReflection",grpc_type="bidi_stream"}') in body


async def test_an_internal_token_keeps_other_callers_out_but_not_health_probes(monkeypatch):
    token = "t" * 40
    settings = GrpcServerSettings("retrieval", "127.0.0.1", 0, 0, 0.5, 0.0, None, internal_token=token)
    rt = GrpcRuntime(settings)
    rt.add_servicer(retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server, ScriptedRetrieval(), SERVICE)
    await rt.start()
    target = f"127.0.0.1:{rt.port}"
    try:
        async with open_channel(target) as channel:  # no token in this process's environment
            with pytest.raises(grpc.RpcError) as info:
                await retrieval_pb2_grpc.RetrievalServiceStub(channel).Search(retrieval_pb2.SearchRequest())
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        async with grpc.aio.insecure_channel(target) as channel:
            wrong = [("authorization", "Bearer " + "x" * 40)]
            with pytest.raises(grpc.RpcError) as info:
                await retrieval_pb2_grpc.RetrievalServiceStub(channel).Search(
                    retrieval_pb2.SearchRequest(), metadata=wrong, timeout=1)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert await check_health(target) == "NOT_SERVING"  # kubelet's probe sends no metadata
        monkeypatch.setenv("MOVIEREC_INTERNAL_TOKEN", token)
        async with open_channel(target) as channel:  # clients take the token from the environment
            response = await retrieval_pb2_grpc.RetrievalServiceStub(channel).Search(retrieval_pb2.SearchRequest())
        assert response.index_version == "v-test"
        stub = retrieval_pb2_grpc.RetrievalServiceStub(open_sync_channel(target))
        assert (await asyncio.to_thread(stub.Search, retrieval_pb2.SearchRequest())).index_version == "v-test"
    finally:
        await rt.stop()


def test_a_short_internal_token_stops_start_up(monkeypatch):
    from movierec_core.config import ConfigError, internal_token_from_env

    monkeypatch.setenv("MOVIEREC_INTERNAL_TOKEN", "short")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        internal_token_from_env()
