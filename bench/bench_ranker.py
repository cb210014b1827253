"""Rank latency, 20 candidates → 5 picks, without the LLM: in-process and through a real RPC process.

    .venv/bin/python bench/bench_ranker.py [--requests 300] [--llm-url URL --llm-model NAME]

Requests are built from real ml-latest-small users: their ratings, a taste vector (mean of
their liked movies' vectors) and the 20 unseen movies closest to it (what retrieval would pass
on), with a rotating request text. The in-process figure covers request parsing, scoring, MMR,
explanations with verification, and building the response message; the RPC figure adds the
loopback gRPC round trip to `python -m ranker_service`. With ``--llm-url`` (or
``RANKER_LLM_BASE_URL``) a few calls also go through the configured LLM. Writes
``reports/bench-ranker.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
import numpy as np

from movierec.common.v1 import common_pb2
from movierec.ranker.v1 import ranker_pb2, ranker_pb2_grpc
from movierec_core.client import check_health
from movierec_core.devstack import spawn, wait_port_file
from movierec_core.paths import REPO_ROOT
from ranker_service.app import build_ranker
from ranker_service.servicer import parse_rank_request, to_response
from ranker_service.settings import RankerSettings

QUERIES = ("", "something from the 90s", "a tense heist thriller", "funny and light, nothing scary",
           "space adventure with great visuals", "")
TARGET_P50_MS = 10.0


def build_requests(ranker, count: int, seed: int) -> list[ranker_pb2.RankRequest]:
    from movierec_catalog import load_ratings

    store = ranker.store
    ratings = load_ratings()
    ratings = ratings[ratings.movie_id.isin(store.row_of)]
    rng = np.random.default_rng(seed)
    users = rng.choice(ratings.user_id.unique(), size=count, replace=True)
    by_user = dict(tuple(ratings.groupby("user_id")))
    requests = []
    for i, user_id in enumerate(users):
        rows = by_user[user_id]
        liked = rows[rows.rating >= 4.0].movie_id.tolist() or rows.movie_id.tolist()
        taste = store.vectors_of(liked).mean(axis=0)
        taste /= np.linalg.norm(taste)
        cos = store.vectors @ taste
        seen = {store.row_of[m] for m in rows.movie_id}
        top = [int(r) for r in np.argsort(-cos)[:20 + len(seen)] if int(r) not in seen][:20]
        ids = [int(m) for m in store.movie_ids[top]]
        user = ranker_pb2.UserContext(
            user_id=str(user_id), vector=taste.tolist(),
            ratings=[common_pb2.MovieRating(movie_id=int(m), rating=float(r))
                     for m, r in zip(rows.movie_id, rows.rating, strict=True)])
        requests.append(ranker_pb2.RankRequest(
            user=user, query=QUERIES[i % len(QUERIES)], top_n=5,
            candidates=[ranker_pb2.Candidate(movie_id=m, retrieval_score=float(cos[store.row_of[m]])) for m in ids]))
    return requests


def summary(samples_s: list[float]) -> dict:
    ms = np.asarray(samples_s) * 1e3
    return {"n": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(ms.mean()), 3), "max_ms": round(float(ms.max()), 3)}


async def in_process(ranker, requests, max_candidates: int) -> dict:
    for request in requests[:20]:  # warm-up
        to_response(await ranker.rank(parse_rank_request(request, ranker, max_candidates)))
    samples = []
    for request in requests:
        started = time.perf_counter()
        to_response(await ranker.rank(parse_rank_request(request, ranker, max_candidates)))
        samples.append(time.perf_counter() - started)
    return summary(samples)


async def over_rpc(requests, env: dict[str, str], timeout_s: float = 5.0) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "ranker.port.json"
        full_env = {**os.environ, **env, "RANKER_PORT": "0", "MOVIEREC_PORT_FILE": str(port_file),
                    "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        proc = spawn("ranker-bench", [sys.executable, "-m", "ranker_service"], full_env, Path(tmp) / "logs")
        try:
            address = f"127.0.0.1:{wait_port_file(port_file, proc, 120)['port']}"
            while await check_health(address, "movierec.ranker.v1.RankerService") != "SERVING":
                if not proc.alive():
                    raise RuntimeError(f"ranker exited:\n{proc.log_tail()}")
                await asyncio.sleep(0.2)
            async with grpc.aio.insecure_channel(address) as channel:
                stub = ranker_pb2_grpc.RankerServiceStub(channel)
                for request in requests[:20]:
                    await stub.Rank(request, timeout=timeout_s)
                samples, degraded, rankers = [], 0, set()
                for request in requests:
                    started = time.perf_counter()
                    response = await stub.Rank(request, timeout=timeout_s)
                    samples.append(time.perf_counter() - started)
                    degraded += response.degraded
                    rankers.add(response.ranker)
            return summary(samples) | {"degraded": degraded, "rankers": sorted(rankers)}
        finally:
            proc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--llm-url", default=os.environ.get("RANKER_LLM_BASE_URL"))
    parser.add_argument("--llm-model", default=os.environ.get("RANKER_LLM_MODEL", "local"))
    parser.add_argument("--llm-requests", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "bench-ranker.json")
    args = parser.parse_args()
    os.environ.pop("RANKER_LLM_BASE_URL", None)  # the numeric figures are measured without the LLM
    settings = RankerSettings.from_env()
    ranker = build_ranker(settings)
    requests = build_requests(ranker, args.requests, args.seed)
    report = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_avg_1m": round(os.getloadavg()[0], 2)},
        "workload": {"candidates": 20, "top_n": 5, "requests": len(requests),
                     "users": "random ml-latest-small users; candidates = 20 unseen movies nearest their taste"},
        "ranker": ranker.scorer.name, "alpha": ranker.scorer.alpha, "mmr_lambda": ranker.mmr_lambda,
        "index_version": ranker.store.index_version, "collab_dir": str(settings.collab_dir),
        "target": {"p50_ms": TARGET_P50_MS},
    }
    report["in_process"] = asyncio.run(in_process(ranker, requests, settings.max_candidates))
    print("in-process:", report["in_process"])
    report["rpc"] = asyncio.run(over_rpc(requests, {}))
    print("rpc:       ", report["rpc"])
    if args.llm_url:
        env = {"RANKER_LLM_BASE_URL": args.llm_url, "RANKER_LLM_MODEL": args.llm_model,
               "RANKER_LLM_TIMEOUT_S": "120", "RANKER_LLM_MAX_CANDIDATES": "8"}
        report["rpc_llm"] = asyncio.run(over_rpc(requests[:args.llm_requests], env, timeout_s=150))
        report["rpc_llm"]["model"] = args.llm_model
        print("rpc + llm: ", report["rpc_llm"])
    else:
        report["rpc_llm"] = {"skipped": "no LLM configured (--llm-url or RANKER_LLM_BASE_URL)"}
    report["meets_target"] = {"in_process_p50": report["in_process"]["p50_ms"] <= TARGET_P50_MS,
                              "rpc_p50": report["rpc"]["p50_ms"] <= TARGET_P50_MS}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
