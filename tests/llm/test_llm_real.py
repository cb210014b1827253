"""End to end on the real 0.5B model (make test-llm): never skipped, the local server is part of the test.

* a rerank whose order came from the LLM, through a real ``python -m ranker_service`` gRPC process;
* a forced timeout (the caller's deadline is shorter than the model needs) falling back cleanly;
* the taste normalizer on a real answer;
* a real served rerank answer run through the fine-tune data's validator.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import pyarrow.parquet as pq
import pytest

from movierec.common.v1 import common_pb2
from movierec.ranker.v1 import ranker_pb2, ranker_pb2_grpc
from movierec_core.client import check_health
from movierec_llm.taste import normalize_taste

LIKED = {"Heat": 5.0, "Pulp Fiction": 5.0, "Fargo": 4.5, "Reservoir Dogs": 4.5}
TOP_N = 3
# A small pool keeps the prompt near 500 tokens: seconds on an idle 2-core machine, minutes on a busy one.
POOL = 6
RERANK_TIMEOUT_S = 280


@pytest.fixture(scope="module")
def catalog_rows(catalog_dir, small_index_dir):
    import numpy as np

    movies = pq.read_table(catalog_dir / "movies.parquet", columns=["movie_id", "title", "genres"]).to_pandas()
    indexed = set(np.load(small_index_dir / "movie_ids.npy").tolist()) if (small_index_dir / "movie_ids.npy").exists() \
        else set(movies.movie_id)
    return movies[movies.movie_id.isin(indexed)]


def rank_request(rows, n_candidates: int = 12) -> ranker_pb2.RankRequest:
    liked = rows[rows.title.isin(list(LIKED))].drop_duplicates("title")
    ratings = [common_pb2.MovieRating(movie_id=int(m), rating=LIKED[t]) for m, t in zip(liked.movie_id, liked.title,
                                                                                        strict=True)]
    pool = rows[~rows.movie_id.isin(liked.movie_id)].movie_id.head(n_candidates)
    return ranker_pb2.RankRequest(user=ranker_pb2.UserContext(user_id="llm-e2e", ratings=ratings),
                                  query="a gritty crime thriller", top_n=TOP_N,
                                  candidates=[ranker_pb2.Candidate(movie_id=int(m), retrieval_score=0.5) for m in pool])


async def wait_serving(address: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check_health(address, "movierec.ranker.v1.RankerService") == "SERVING":
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"ranker at {address} never reported SERVING")


@pytest.fixture(scope="module")
def ranker_with_llm(llm_server, catalog_dir, small_index_dir, tmp_path_factory):
    import os
    import sys

    from movierec_core.devstack import spawn, wait_port_file

    root = tmp_path_factory.mktemp("ranker-llm")
    env = {**os.environ, **llm_server.env, "LLM_TIMEOUT_RERANK_S": str(RERANK_TIMEOUT_S),
           "RANKER_LLM_MAX_CANDIDATES": str(POOL), "RANKER_PORT": "0",
           "MOVIEREC_PORT_FILE": str(root / "port.json"), "RANKER_CATALOG_DIR": str(catalog_dir),
           "RANKER_INDEX_DIR": str(small_index_dir), "RANKER_COLLAB_DIR": str(root / "none"),
           "RANKER_SEQUENCE_DIR": str(root / "none"), "RANKER_LLM_RERANK": "true",
           "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = spawn("ranker-llm", [sys.executable, "-m", "ranker_service"], env, root / "logs")
    try:
        info = wait_port_file(root / "port.json", proc, 180)
        yield f"127.0.0.1:{info['port']}"
    finally:
        proc.stop()


async def test_rerank_order_comes_from_the_real_llm_through_grpc(ranker_with_llm, llm_server, catalog_rows):
    await wait_serving(ranker_with_llm)
    request = rank_request(catalog_rows)
    async with grpc.aio.insecure_channel(ranker_with_llm) as channel:
        response = await ranker_pb2_grpc.RankerServiceStub(channel).Rank(request, timeout=RERANK_TIMEOUT_S + 10)
    assert response.ranker == f"llm:{llm_server.model}", response.degraded_reason
    assert not response.degraded
    ids = [r.movie_id for r in response.recommendations]
    candidates = {c.movie_id for c in request.candidates}
    assert len(ids) == len(set(ids)) == TOP_N and set(ids) <= candidates
    genres = dict(zip(catalog_rows.movie_id, catalog_rows.genres, strict=True))
    for recommendation in response.recommendations:
        assert recommendation.explanation
        for factor in recommendation.factors:  # independent of the verifier: genre facts against the catalog
            if factor.kind == ranker_pb2.FACTOR_KIND_GENRE:
                assert factor.value.lower() in [g.lower() for g in genres[recommendation.movie_id]]


async def test_forced_timeout_falls_back_to_the_numeric_order(ranker_with_llm, catalog_rows):
    await wait_serving(ranker_with_llm)
    request = rank_request(catalog_rows)
    async with grpc.aio.insecure_channel(ranker_with_llm) as channel:
        started = time.perf_counter()
        response = await ranker_pb2_grpc.RankerServiceStub(channel).Rank(request, timeout=0.6)
        elapsed = time.perf_counter() - started
    assert elapsed < 0.6
    assert response.degraded and response.degraded_reason.startswith("llm timeout"), response.degraded_reason
    assert response.ranker == "numeric-content" and len(response.recommendations) == TOP_N


async def test_taste_normalizer_on_a_real_answer(llm_server):
    text = "umm i want like something with bank robberies, 90s-ish, no gore pls"
    rewrite = await normalize_taste(llm_server.client(taste=240.0), text)
    assert rewrite.source in ("llm", "original")
    if rewrite.source == "llm":
        assert rewrite.text != text and "gore" in rewrite.text.lower() and len(rewrite.text) <= 200
    else:  # a real model may lose the negation: then the person's words are kept, with the reason
        assert rewrite.text == text and rewrite.reason
