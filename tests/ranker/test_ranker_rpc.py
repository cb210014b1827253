"""RankerService end to end through a real `python -m ranker_service` process."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import grpc
import pytest
from conftest import FIXTURE_MOVIE_IDS
from ranker_fake_llm import FakeChatServer

from movierec.common.v1 import common_pb2
from movierec.ranker.v1 import ranker_pb2, ranker_pb2_grpc
from movierec_core.client import check_health
from movierec_core.devstack import spawn, wait_port_file
from movierec_core.errors import describe_rpc_error

HEAT, INSIDER = 6, 3006


def rank_request(candidates=FIXTURE_MOVIE_IDS, **fields) -> ranker_pb2.RankRequest:
    user = ranker_pb2.UserContext(user_id="u1", ratings=[common_pb2.MovieRating(movie_id=HEAT, rating=5.0)],
                                  liked_movie_ids=[1])
    return ranker_pb2.RankRequest(user=user, query=fields.pop("query", "crime from the 90s"),
                                  candidates=[ranker_pb2.Candidate(movie_id=m, retrieval_score=0.5)
                                              for m in candidates], **fields)


async def wait_serving(address: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check_health(address, "movierec.ranker.v1.RankerService") == "SERVING":
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"ranker at {address} never reported SERVING")


@pytest.fixture(scope="module")
def ranker_env(fixture_index_dir, collab_dir, sequence_dir) -> dict[str, str]:
    return {"RANKER_INDEX_DIR": str(fixture_index_dir), "RANKER_COLLAB_DIR": str(collab_dir),
            "RANKER_SEQUENCE_DIR": str(sequence_dir)}


@pytest.fixture(scope="module")
def shared_ranker(ranker_env, tmp_path_factory):
    """One real ranker process for the tests that only send requests (start-up loads the catalog)."""
    root = tmp_path_factory.mktemp("ranker-rpc")
    env = {**os.environ, **ranker_env, "RANKER_PORT": "0", "MOVIEREC_PORT_FILE": str(root / "port.json"),
           "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = spawn("ranker-shared", [sys.executable, "-m", "ranker_service"], env, root / "logs")
    try:
        info = wait_port_file(root / "port.json", proc, 120)
        yield f"127.0.0.1:{info['port']}"
    finally:
        proc.stop()


async def test_rank_end_to_end(shared_ranker):
    address = shared_ranker
    await wait_serving(address)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = ranker_pb2_grpc.RankerServiceStub(channel)
        response = await stub.Rank(rank_request(), timeout=5)
        assert response.ranker == "numeric-seq" and not response.degraded
        assert len(response.recommendations) == 5
        ids = [r.movie_id for r in response.recommendations]
        assert HEAT not in ids and 1 not in ids and len(set(ids)) == 5
        for rec in response.recommendations:
            assert 0 <= rec.match_score <= 1 and rec.explanation and rec.factors
        constrained = await stub.Rank(rank_request(top_n=20, constraints=common_pb2.Filter(
            max_certification=common_pb2.CERTIFICATION_PG_13, max_runtime_min=120)), timeout=5)
        assert constrained.recommendations
        assert all(r.movie_id not in {HEAT, 1} for r in constrained.recommendations)


@pytest.mark.parametrize(("request_fields", "code", "message"), [
    ({"candidates": [HEAT, 424242424, 999999]}, grpc.StatusCode.INVALID_ARGUMENT, "424242424"),
    ({"candidates": list(range(1, 502))}, grpc.StatusCode.INVALID_ARGUMENT, "limit of 500"),
    ({"candidates": []}, grpc.StatusCode.INVALID_ARGUMENT, "candidates is empty"),
    ({"candidates": [INSIDER, INSIDER]}, grpc.StatusCode.INVALID_ARGUMENT, "duplicate"),
    ({"top_n": 51}, grpc.StatusCode.INVALID_ARGUMENT, "top_n"),
    ({"constraints": common_pb2.Filter(min_year=2000, max_year=1990)}, grpc.StatusCode.INVALID_ARGUMENT,
     "min_year"),
    ({"constraints": common_pb2.Filter(include_genres=["Space Opera"])}, grpc.StatusCode.INVALID_ARGUMENT,
     "Space Opera"),
    ({"constraints": common_pb2.Filter(original_language="qq")}, grpc.StatusCode.INVALID_ARGUMENT, "'qq'"),
    # the ranker's own SeqEASE candidates would rescue a rated-only list; none of them is from 1800
    ({"candidates": [HEAT], "constraints": common_pb2.Filter(min_year=1800, max_year=1801)},
     grpc.StatusCode.FAILED_PRECONDITION, "already_rated"),
])
async def test_bad_requests_are_rejected_with_clear_errors(shared_ranker, request_fields, code, message):
    address = shared_ranker
    await wait_serving(address)
    candidates = request_fields.pop("candidates", FIXTURE_MOVIE_IDS)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = ranker_pb2_grpc.RankerServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Rank(rank_request(candidates=candidates, **request_fields), timeout=5)
    described = describe_rpc_error(error.value)
    assert described.code == code
    assert message in described.message


async def test_wrong_vector_dimension_is_invalid(shared_ranker):
    address = shared_ranker
    await wait_serving(address)
    request = rank_request()
    request.user.vector.extend([0.1] * 7)
    async with grpc.aio.insecure_channel(address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await ranker_pb2_grpc.RankerServiceStub(channel).Rank(request, timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "user.vector has 7 values" in error.value.details()


async def test_slow_llm_falls_back_within_the_rpc_deadline(start_tier, ranker_env):
    with FakeChatServer() as llm:
        llm.script.delay_s = 5.0
        address, _ = start_tier("ranker", {**ranker_env, "RANKER_LLM_BASE_URL": llm.base_url,
                                           "RANKER_LLM_MODEL": "fake", "RANKER_LLM_TIMEOUT_S": "10"})
        await wait_serving(address)
        async with grpc.aio.insecure_channel(address) as channel:
            stub = ranker_pb2_grpc.RankerServiceStub(channel)
            started = time.perf_counter()
            response = await stub.Rank(rank_request(), timeout=0.8)
            elapsed = time.perf_counter() - started
            assert elapsed < 0.8
            assert response.degraded and response.degraded_reason.startswith("llm timeout")
            assert response.ranker == "numeric-seq" and len(response.recommendations) == 5
            llm.script.delay_s = 0.0
            response = await stub.Rank(rank_request(), timeout=5)
            assert response.ranker == "llm:fake" and not response.degraded
