"""Retrieval: in-process search vs the Search RPC, and HNSW/IVF recall → ``reports/bench-retrieval.json``.

    .venv/bin/python bench/bench_retrieval.py [--index artifacts/index/current] [--requests 3000]
                                              [--load-seconds 5] [--quick]

Uses the real catalog vectors (``make index``), never synthetic ones:

1. **In-process**: raw FAISS ``IndexFlatIP.search`` (the docs/architecture.md §6 anchor), numpy exact scoring,
   and the tier's own search path (``LoadedIndex.search``), one query at a time, k=20.
2. **Search RPC, one caller**: a real ``python -m retrieval_service`` process on loopback; p50/p99
   of sequential calls after a warm-up, with a raw stub and with the typed client.
3. **QPS at 1/8/32 concurrent callers** (closed loop, one client process) and their latencies.
4. **SearchBatch**: queries/s with 32 queries per call.
5. **Filtered Search latency** for typical and heavy filters.
6. **HNSW / IVF recall@10** against exact search on the same vectors, through the tier's search
   path (with and without a filter), for several efSearch / nprobe values, with build time and latency.

Queries are taste-like: the normalised mean of 1–3 random catalog movie vectors. The machine is
shared by several people: the load average is recorded before and after.
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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import faiss  # noqa: E402
import grpc  # noqa: E402
import numpy as np  # noqa: E402

from movierec.common.v1 import common_pb2  # noqa: E402
from movierec.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc  # noqa: E402
from movierec_core.client import check_health  # noqa: E402
from movierec_core.devstack import spawn, wait_port_file  # noqa: E402
from movierec_core.index_artifact import current_index_dir  # noqa: E402
from movierec_core.paths import REPO_ROOT  # noqa: E402
from retrieval_service.client import RetrievalClient  # noqa: E402
from retrieval_service.filters import parse_filter  # noqa: E402
from retrieval_service.index import LoadedIndex, build_faiss_index, load_index  # noqa: E402
from retrieval_service.settings import RetrievalSettings  # noqa: E402

K = 20
FILTERS = {
    "one genre (Comedy, ~40%)": common_pb2.Filter(include_genres=["Comedy"]),
    "exclude 200 seen movies": None,  # filled with real ids at run time
    "family: max G/PG, no Horror": common_pb2.Filter(max_certification=common_pb2.CERTIFICATION_PG,
                                                     exclude_genres=["Horror"]),
    "heavy: 90s, <=100 min, PG-13, Drama": common_pb2.Filter(min_year=1990, max_year=1999, max_runtime_min=100,
                                                             max_certification=common_pb2.CERTIFICATION_PG_13,
                                                             include_genres=["Drama"]),
    "lenient runtime <=90 min, Sci-Fi": common_pb2.Filter(max_runtime_min=90, lenient_runtime=True,
                                                          include_genres=["Sci-Fi"]),
}


def percentiles(samples_s: list[float]) -> dict:
    ms = np.asarray(samples_s) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p90_ms": round(float(np.percentile(ms, 90)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3), "mean_ms": round(float(ms.mean()), 3),
            "n": len(samples_s)}


def taste_queries(vectors: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((count, vectors.shape[1]), dtype=np.float32)
    for i in range(count):
        picks = rng.choice(len(vectors), size=rng.integers(1, 4), replace=False)
        mean = vectors[picks].mean(axis=0)
        out[i] = mean / np.linalg.norm(mean)
    return out


def time_calls(fn, queries: np.ndarray, warmup: int = 200) -> dict:
    for q in queries[:warmup]:
        fn(q)
    samples = []
    for q in queries:
        started = time.perf_counter()
        fn(q)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


# ---- 1. in-process --------------------------------------------------------------------------

def in_process(loaded: LoadedIndex, queries: np.ndarray) -> dict:
    flat = faiss.IndexFlatIP(loaded.dim)
    flat.add(loaded.vectors)
    vectors = loaded.vectors
    return {
        "faiss_IndexFlatIP_search": time_calls(lambda q: flat.search(q.reshape(1, -1), K), queries),
        "numpy_matvec_argpartition": time_calls(
            lambda q: np.argpartition(-(vectors @ q), K)[:K], queries),
        "tier_LoadedIndex_search": time_calls(lambda q: loaded.search(q, K, None), queries),
    }


# ---- 2-5. the RPC ---------------------------------------------------------------------------

def start_tier(index_dir: Path, logs: Path) -> tuple[str, object]:
    port_file = logs / "retrieval.port.json"
    env = {**os.environ, "RETRIEVAL_PORT": "0", "RETRIEVAL_INDEX_DIR": str(index_dir),
           "MOVIEREC_PORT_FILE": str(port_file), "LOG_LEVEL": "WARNING", "RETRIEVAL_WATCH_INTERVAL_S": "0"}
    proc = spawn("bench-retrieval", [sys.executable, "-m", "retrieval_service"], env, logs)
    info = wait_port_file(port_file, proc, 120)
    return f"127.0.0.1:{info['port']}", proc


async def wait_serving(addr: str) -> None:
    for _ in range(1200):
        if await check_health(addr, "movierec.retrieval.v1.RetrievalService") == "SERVING":
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"retrieval tier at {addr} never became SERVING")


async def sequential(call, requests: list, warmup: int = 300) -> dict:
    for request in requests[:warmup]:
        await call(request)
    samples = []
    for request in requests:
        started = time.perf_counter()
        await call(request)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


async def closed_loop(call, requests: list, callers: int, seconds: float) -> dict:
    samples: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def caller(offset: int) -> None:
        nonlocal errors
        i = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await call(requests[i % len(requests)])
            except grpc.RpcError:
                errors += 1
            samples.append(time.perf_counter() - started)
            i += callers

    began = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    elapsed = time.perf_counter() - began
    return {"callers": callers, "qps": round(len(samples) / elapsed, 1), "errors": errors, **percentiles(samples)}


async def rpc_benchmarks(addr: str, queries: np.ndarray, loaded: LoadedIndex, requests_n: int,
                         load_seconds: float) -> dict:
    vectors = [q.tolist() for q in queries]
    requests = [retrieval_pb2.SearchRequest(vector=v, k=K) for v in vectors[:requests_n]]
    out: dict = {}
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)

        async def search(request):
            return await stub.Search(request, timeout=5)

        out["search_one_caller_raw_stub"] = await sequential(search, requests)
        async with RetrievalClient(addr, timeout_s=5) as client:
            out["search_one_caller_typed_client"] = await sequential(
                lambda q: client.search(q, K), list(queries[: min(requests_n, 2000)]))
        out["search_concurrency"] = [await closed_loop(search, requests, callers, load_seconds)
                                     for callers in (1, 8, 32)]

        batch = 32
        batches = [retrieval_pb2.SearchBatchRequest(queries=[
            retrieval_pb2.SearchQuery(vector=v, k=K) for v in vectors[i:i + batch]])
            for i in range(0, len(vectors) - batch, batch)]

        async def search_batch(request):
            return await stub.SearchBatch(request, timeout=10)

        for callers in (1, 4):
            result = await closed_loop(search_batch, batches, callers, load_seconds)
            result["queries_per_call"] = batch
            result["queries_per_s"] = round(result["qps"] * batch, 1)
            out[f"search_batch_{callers}_callers"] = result

        seen = loaded.movie_ids[np.random.default_rng(3).choice(loaded.count, 200, replace=False)].tolist()
        filtered = {}
        for name, f in FILTERS.items():
            f = f or common_pb2.Filter(exclude_movie_ids=seen)
            admitted = loaded.allowed(parse_filter(f, loaded.attributes))
            filtered_requests = [retrieval_pb2.SearchRequest(vector=v, k=K, filter=f)
                                 for v in vectors[: min(requests_n, 2000)]]
            filtered[name] = {"admitted_movies": admitted.count if admitted else loaded.count,
                              **await sequential(search, filtered_requests, warmup=100)}
        out["filtered_search_one_caller"] = filtered
    return out


# ---- 6. approximate kinds: recall@10 vs exact --------------------------------------------------

def recall_at_10(loaded: LoadedIndex, exact: LoadedIndex, queries: np.ndarray, allowed_for) -> float:
    hits = 0
    for q in queries:
        approx = set(loaded.search(q, 10, allowed_for(loaded)).rows.tolist())
        truth = set(exact.search(q, 10, allowed_for(exact)).rows.tolist())
        hits += len(approx & truth)
    return hits / (10 * len(queries))


def approximate_kinds(exact: LoadedIndex, queries: np.ndarray, quick: bool) -> dict:
    comedy = common_pb2.Filter(include_genres=["Comedy"])

    def no_filter(_index):
        return None

    def comedy_filter(index):
        return index.allowed(parse_filter(comedy, index.attributes))

    out = {}
    sweeps = {"hnsw": ("ef_search", "hnsw_ef_search", [16, 32, 64, 128] if not quick else [64]),
              "ivf": ("nprobe", "ivf_nprobe", [1, 4, 16, 32] if not quick else [16])}
    for kind, (param, setting, values) in sweeps.items():
        started = time.perf_counter()
        index = build_faiss_index(exact.vectors, kind)
        build_s = time.perf_counter() - started
        rows = []
        for value in values:
            settings = replace(exact.settings, **{setting: value})
            loaded = LoadedIndex(exact.artifact, index, exact.attributes, exact.catalog_version, settings)
            rows.append({param: value,
                         "recall_at_10": round(recall_at_10(loaded, exact, queries, no_filter), 4),
                         "recall_at_10_comedy_filter": round(recall_at_10(loaded, exact, queries, comedy_filter), 4),
                         "latency": time_calls(lambda q, ld=loaded: ld.search(q, K, None), queries, warmup=50)})
        params = ({"m": 32, "ef_construction": 200} if kind == "hnsw"
                  else {"nlist": faiss.extract_index_ivf(index).nlist})
        out[kind] = {"build_s": round(build_s, 2), "params": params, "sweep": rows}
    return out


# ---- main -----------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=current_index_dir())
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--load-seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="fewer requests and sweep points")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "bench-retrieval.json")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.load_seconds = 600, 2.0
    faiss.omp_set_num_threads(1)

    load_before = os.getloadavg()
    settings = RetrievalSettings.from_env()
    loaded = load_index(args.index, settings)
    print(f"index {loaded.version}: {loaded.count} × {loaded.dim} ({loaded.kind}), catalog {loaded.catalog_version}")
    queries = taste_queries(loaded.vectors, max(args.requests, 2000))
    report: dict = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "index_version": loaded.version, "count": loaded.count, "dim": loaded.dim, "k": K,
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "faiss": faiss.__version__, "load_avg_before": [round(x, 2) for x in load_before]}}

    report["in_process"] = in_process(loaded, queries[: args.requests])
    print("in-process:", json.dumps(report["in_process"]))
    with tempfile.TemporaryDirectory() as logs:
        addr, proc = start_tier(args.index, Path(logs))
        try:
            asyncio.run(wait_serving(addr))
            report["rpc"] = asyncio.run(rpc_benchmarks(addr, queries, loaded, args.requests, args.load_seconds))
        finally:
            proc.stop()
    print("rpc:", json.dumps(report["rpc"], indent=1))
    report["approximate"] = approximate_kinds(loaded, queries[:300 if not args.quick else 100], args.quick)
    print("approximate:", json.dumps(report["approximate"], indent=1))
    report["machine"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    rpc = report["rpc"]["search_one_caller_raw_stub"]
    report["target"] = {"p50_ms": 1.5, "p99_ms": 5.0, "p50_met": rpc["p50_ms"] <= 1.5, "p99_met": rpc["p99_ms"] <= 5.0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Search RPC one caller: p50 {rpc['p50_ms']} ms, p99 {rpc['p99_ms']} ms "
          f"(target p50 ≤ 1.5, p99 ≤ 5) → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
