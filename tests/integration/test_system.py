"""The whole system as `make up` starts it: every tier SERVING, with reflection and metrics; clean stop."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from movierec_core.client import check_health
from movierec_core.devstack import GRPC_TIERS, Stack

SERVICES = {
    "embedding": "movierec.embedding.v1.EmbeddingService",
    "retrieval": "movierec.retrieval.v1.RetrievalService",
    "profile": "movierec.profile.v1.ProfileService",
    "ranker": "movierec.ranker.v1.RankerService",
}


@pytest.fixture(scope="module")
def stack(system_env, tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("system"), system_env)
    try:
        running.start()
        yield running
    finally:
        running.stop()


async def _reflected_services(target: str) -> list[str]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        responses = stub.ServerReflectionInfo(iter([request]))
        return [s.name async for r in responses for s in r.list_services_response.service]


def test_every_tier_is_serving_with_reflection_and_metrics(stack):
    for tier in GRPC_TIERS:
        target = str(stack.endpoints[tier])
        assert asyncio.run(check_health(target, SERVICES[tier])) == "SERVING", tier
        assert SERVICES[tier] in asyncio.run(_reflected_services(target)), tier
        metrics = urllib.request.urlopen(stack.endpoints["metrics"][tier], timeout=5).read().decode()
        assert "grpc_server_handled_total" in metrics, tier
        assert f'movierec_serving{{tier="{tier}"}} 1.0' in metrics, tier


def test_gateway_health_and_metrics(stack):
    base = str(stack.endpoints["gateway"])
    health = httpx.get(f"{base}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json()["tiers"] == {tier: "SERVING" for tier in ("embedding", "retrieval", "profile", "ranker")}
    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert 'route="/healthz"' in metrics and "http_request_duration_seconds_bucket" in metrics


def test_stop_leaves_no_process(system_env, tmp_path):
    running = Stack(tmp_path, system_env)
    running.start()
    pids = [proc.pid for proc in running.procs.values()]
    running.stop()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
        except FileNotFoundError:
            continue
        assert state == "Z", f"pid {pid} still running"
