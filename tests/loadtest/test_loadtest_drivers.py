"""The drivers' semantics: bounded runs, latency from the schedule in the open loop, errors by status code."""

from __future__ import annotations

import asyncio
import socket

from movierec.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from movierec_load.drivers import CLIENT_BACKLOG, closed_loop, open_loop, timed
from movierec_load.grpc_scenarios import open_channel, rpc_call
from movierec_load.stats import OK, OpStats, summarize


async def test_closed_loop_stops_at_its_request_cap_and_counts_every_call():
    stats = OpStats()

    async def call(i: int) -> str:
        await asyncio.sleep(0)
        return OK

    timing = await closed_loop(timed(call, stats), concurrency=4, duration_s=30, max_iterations=50, grace_s=1)
    assert stats.requests == 50 and stats.codes == {OK: 50}
    assert timing.elapsed_s < 5 and not timing.hard_stopped


async def test_closed_loop_is_stopped_hard_when_calls_hang():
    async def hang(i: int) -> str:
        await asyncio.sleep(3600)
        return OK

    timing = await closed_loop(timed(hang, OpStats()), concurrency=2, duration_s=0.1, max_iterations=10, grace_s=0.2)
    assert timing.hard_stopped and timing.elapsed_s < 2


async def test_open_loop_measures_from_the_intended_send_time():
    """A server that takes 50 ms per call, one call at a time, offered 100 rps: the queue that builds up
    must show in the latency (coordinated omission would report ~50 ms) and unsent calls are errors."""
    stats = OpStats()

    async def slow(i: int) -> str:
        await asyncio.sleep(0.05)
        return OK

    await open_loop(slow, stats, rate_rps=100, duration_s=0.5, max_requests=1000, max_in_flight=1, grace_s=1)
    summary = summarize(stats, 0.5)
    assert summary["latency_ms"]["max"] > 200  # the last sent call waited behind the others
    assert summary["errors"].get(CLIENT_BACKLOG, 0) > 20  # 50 were due, ~10 could be sent
    assert summary["ok"] + summary["errors"][CLIENT_BACKLOG] == 50


async def test_open_loop_keeps_its_rate_when_the_server_keeps_up():
    stats = OpStats()

    async def quick(i: int) -> str:
        return OK

    timing = await open_loop(quick, stats, rate_rps=200, duration_s=0.5, max_requests=1000, max_in_flight=16,
                             grace_s=1)
    assert stats.codes == {OK: 100}
    assert 0.45 < timing.elapsed_s < 1.0


async def test_grpc_errors_are_counted_by_status_code():
    with socket.socket() as sock:  # a free port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    stats = OpStats()
    async with open_channel(dead) as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        call = rpc_call(stub.Search, lambda i: retrieval_pb2.SearchRequest(vector=[1.0], k=1), lambda r: True, 0.5)
        await closed_loop(timed(call, stats), concurrency=2, duration_s=0.3, max_iterations=20, grace_s=1)
    summary = summarize(stats, 0.3)
    assert summary["ok"] == 0 and summary["requests"] > 0
    assert set(summary["errors"]) == {"UNAVAILABLE"} and summary["error_rate"] == 1.0
