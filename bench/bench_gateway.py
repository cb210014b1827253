"""REST latency through the whole system on the full catalog index: recommendations, chat turns, movie search.

    .venv/bin/python bench/bench_gateway.py [--requests 300] [--chat-turns 60] [--collab DIR]

Starts every process of movierec (``movierec_core.devstack.Stack``: Redis, embedding, retrieval,
ranker, profile + its Celery worker, gateway) in a temporary directory over the full catalog
index (``artifacts/index/current``, catalog ``artifacts/catalog/current``), the taste map built
for that index by ``python -m movierec_jobs.taste_map``, and the collaborative model when one
exists (``artifacts/collab/current`` unless ``--collab``). No LLM: the ranker runs its numeric
scorer. A few users sign up, onboard with real picks and rate a few movies (applied by the worker),
so every carousel is live. After a warm-up, requests are sent one at a time (the latency a single
user sees) and again from a few concurrent clients:

* ``POST /api/recommendations`` (3 carousels, no ``context``, so no embedding call),
* ``POST /api/chat`` (constraint parsing, EMA step, embedding, retrieval, rank, session + turn log),
* ``GET /api/movies?query=`` (catalog title search): queries never sent before, and a rotation of 10
  common queries (answered from the gateway's search cache after the first time).

The gateway runs with ``GATEWAY_SERVER_TIMING=true``: each answer's ``Server-Timing`` header gives
the wall time of each stage inside the gateway (profile read, retrieval, rank, …), summarised per
stage. Target (docs/architecture.md §6): recommendations p95 ≤ 50 ms warm without LLM. Writes
``reports/bench-gateway.json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

from movierec_core.devstack import Stack
from movierec_core.paths import REPO_ROOT

TARGET_RECS_P95_MS = 50.0
PASSWORD = "correct horse battery"
# Onboarding picks of the bench users (MovieLens ids) and the ratings each then posts.
USERS = (
    {"movies": [858, 1213, 296], "vibes": ["dark"], "text": "gritty crime sagas", "reviews": {1221: 5.0, 2194: 4.5}},
    {"movies": [1, 2355, 4886], "vibes": ["family"], "text": "animated adventures", "reviews": {6377: 4.5}},
    {"movies": [260, 1196, 1210], "vibes": ["epic"], "text": "space opera", "reviews": {2571: 5.0, 1240: 4.0}},
    {"movies": [2959, 4226, 7361], "vibes": ["mind-bending"], "text": "twisty psychological stories",
     "reviews": {48780: 4.5, 1089: 2.0}},
)
CHAT_MESSAGES = (
    "something funny and light",
    "from the 90s please",
    "nothing too scary",
    "more like The Matrix",
    "a slow-burn mystery with a great twist",
    "under 2 hours",
)
SEARCH_QUERIES = ("matrix", "godfather", "star wars", "toy story", "the", "love", "amelie", "pulp fiction 1994",
                  "lord of the rings", "alien")


# ---- figures -----------------------------------------------------------------------------------

def summary(samples_ms: list[float]) -> dict:
    ms = np.asarray(samples_ms, dtype=float)
    if ms.size == 0:
        return {"n": 0}
    return {"n": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "mean_ms": round(float(ms.mean()), 2), "max_ms": round(float(ms.max()), 2)}


def parse_server_timing(header: str) -> dict[str, float]:
    """``profile;dur=1.20, retrieve;dur=0.80`` → {"profile": 1.2, "retrieve": 0.8}."""
    stages = {}
    for part in filter(None, (p.strip() for p in header.split(","))):
        name, _, params = part.partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur":
                stages[name.strip()] = float(value)
    return stages


class Recorder:
    """Client-side latency of each request plus the gateway's own stage timings."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.stages: dict[str, list[float]] = {}
        self.statuses: dict[int, int] = {}
        self.degraded = 0
        self.cards: list[int] = []  # cards shown per answer: a fast answer with nothing in it is no answer
        self.rankers: set[str] = set()

    def record(self, response: httpx.Response, elapsed_s: float) -> None:
        self.latencies_ms.append(elapsed_s * 1e3)
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        for name, ms in parse_server_timing(response.headers.get("server-timing", "")).items():
            self.stages.setdefault(name, []).append(ms)
        if response.status_code != 200:
            return
        body = response.json()
        self.degraded += bool(body.get("degraded"))
        if "carousels" in body:
            self.cards.append(sum(len(c["recommendations"]) for c in body["carousels"]))
            self.rankers.add(body["ranker"])
        elif isinstance(body.get("recommendations"), list):
            self.cards.append(len(body["recommendations"]))

    def report(self) -> dict:
        cards = {"cards_per_answer": {"min": min(self.cards), "mean": round(float(np.mean(self.cards)), 2),
                                      "max": max(self.cards)}} if self.cards else {}
        rankers = {"rankers": sorted(self.rankers)} if self.rankers else {}
        return {**summary(self.latencies_ms), "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "degraded": self.degraded, **cards, **rankers,
                "stages_ms": {name: summary(values) for name, values in sorted(self.stages.items())}}


# ---- the system ---------------------------------------------------------------------------------

def build_taste_map(index_dir: Path, catalog_dir: Path, out: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "movierec_jobs.taste_map", "--index", str(index_dir),
                           "--catalog", str(catalog_dir), "--out", str(out)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"taste map job failed:\n{done.stderr[-3000:]}")


def system_env(root: Path, index_dir: Path, catalog_dir: Path, collab_dir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANKER_LLM_")}  # measured without the LLM
    env |= {
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "MOVIEREC_ARTIFACTS_DIR": str(root / "artifacts"),
        "MOVIEREC_CATALOG_DIR": str(catalog_dir),
        "MOVIEREC_INDEX_DIR": str(index_dir),
        "MOVIEREC_INDEX_ROOT": str(index_dir.parent),
        "RETRIEVAL_INDEX_DIR": str(index_dir),
        "RETRIEVAL_CATALOG_DIR": str(catalog_dir),
        "PROFILE_INDEX_DIR": str(index_dir),
        "PROFILE_CATALOG_DIR": str(catalog_dir),
        "RANKER_INDEX_DIR": str(index_dir),
        "RANKER_CATALOG_DIR": str(catalog_dir),
        "GATEWAY_TASTE_MAP_DIR": str(root / "taste_map"),
        "GATEWAY_JWT_SECRET": secrets.token_hex(32),
        "GATEWAY_SERVER_TIMING": "true",
        "GATEWAY_AUTH_RATE_LIMIT": "1000",
        "GATEWAY_AUTH_IP_RATE_LIMIT": "1000000",  # every benchmark user signs up from 127.0.0.1
        "GATEWAY_WRITE_RATE_LIMIT": "1000000",
        "LOG_LEVEL": "WARNING",  # an access-log line per request would cost the gateway measurably
    }
    # Without a model the ranker scores by content only; point it at a directory that does not exist.
    env["RANKER_COLLAB_DIR"] = str(collab_dir) if collab_dir else str(root / "no-collab-model")
    return env


def prepare_user(client: httpx.Client, spec: dict) -> dict[str, str]:
    username = f"bench_{secrets.token_hex(5)}"
    signed = client.post("/api/auth/signup", json={"username": username, "password": PASSWORD})
    signed.raise_for_status()
    user_id, token = signed.json()["userId"], signed.json()["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    client.post("/api/embeddings/generate", headers=headers, json={
        "userId": user_id, "movies": spec["movies"], "vibes": spec["vibes"], "freeText": spec["text"]}
    ).raise_for_status()
    version = client.get(f"/api/users/{user_id}/profile", headers=headers).json()["version"]
    for movie_id, rating in spec["reviews"].items():
        # An Idempotency-Key, as a client that may retry sends it (the event id is then derived from it).
        client.post("/api/reviews", headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
                    json={"userId": user_id, "movieId": movie_id, "rating": rating}).raise_for_status()
    wanted = version + len(spec["reviews"])
    deadline = time.monotonic() + 60
    while client.get(f"/api/users/{user_id}/profile", headers=headers).json()["version"] < wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker did not apply {username}'s reviews within 60 s")
        time.sleep(0.1)
    return {"user_id": user_id, "headers": headers}


# ---- workloads ----------------------------------------------------------------------------------

def recommendation_call(client: httpx.Client, user: dict) -> httpx.Response:
    return client.post("/api/recommendations", headers=user["headers"],
                       json={"userId": user["user_id"], "numResults": 5})


def search_call(client: httpx.Client, query: str) -> httpx.Response:
    return client.get("/api/movies", params={"query": query, "limit": 10})


def cold_search_queries(catalog_dir: Path, count: int, seed: int = 7) -> list[str]:
    """Distinct prefixes (3–8 characters) of random catalog titles, as typed in the search box: each is sent
    once, so none is answered from the gateway's search cache."""
    from movierec_catalog import load_catalog
    from movierec_catalog.text import fold

    titles = sorted(load_catalog(catalog_dir).movies["title"].astype(str))
    rng = np.random.default_rng(seed)
    queries, seen = [], set()
    for index in rng.permutation(len(titles)):
        query = titles[index][: int(rng.integers(3, 9))].strip()
        if len(fold(query)) >= 3 and fold(query) not in seen and fold(query) not in map(fold, SEARCH_QUERIES):
            seen.add(fold(query))
            queries.append(query)
        if len(queries) == count:
            break
    return queries


class ChatDriver:
    """Rotates through CHAT_MESSAGES in one session per user; a new session after each full round."""

    def __init__(self, users: list[dict]):
        self.users = users
        self.sessions: dict[str, str | None] = {u["user_id"]: None for u in users}
        self.turn = 0

    def call(self, client: httpx.Client) -> httpx.Response:
        user = self.users[self.turn % len(self.users)]
        round_turn = (self.turn // len(self.users)) % len(CHAT_MESSAGES)
        if round_turn == 0:
            self.sessions[user["user_id"]] = None
        self.turn += 1
        response = client.post("/api/chat", headers=user["headers"], json={
            "userId": user["user_id"], "sessionId": self.sessions[user["user_id"]],
            "message": CHAT_MESSAGES[round_turn]})
        if response.status_code == 200:
            self.sessions[user["user_id"]] = response.json()["sessionId"]
        return response


def timed(recorder: Recorder, call) -> None:
    started = time.perf_counter()
    response = call()
    recorder.record(response, time.perf_counter() - started)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuMeter:
    """CPU milliseconds each process of the system spent per request over a run: unlike latency, this
    does not depend on what else the shared cores are doing, so it shows where the work is."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.before = {name: cpu_seconds(pid) for name, pid in pids.items()}

    def per_request_ms(self, requests: int) -> dict[str, float]:
        spent = {name: (cpu_seconds(pid) - self.before[name]) * 1e3 / max(requests, 1)
                 for name, pid in self.pids.items()}
        return {name: round(ms, 2) for name, ms in spent.items()} | {"total": round(sum(spent.values()), 2)}


def sequential(count: int, warmup: int, call, pids: dict[str, int] | None = None) -> dict:
    for i in range(warmup):
        call(i)
    recorder = Recorder()
    meter = CpuMeter(pids or {})
    for i in range(count):
        timed(recorder, lambda i=i: call(i))
    report = recorder.report()
    if pids:
        report["cpu_ms_per_request"] = meter.per_request_ms(count)
    return report


def concurrent_run(base_url: str, users: list[dict], clients: int, per_client: int) -> dict:
    """``clients`` threads, each with its own connection, posting recommendations back to back."""
    recorder = Recorder()

    def worker(index: int) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            user = users[index % len(users)]
            for _ in range(per_client):
                timed(recorder, lambda: recommendation_call(client, user))

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - started
    return {"clients": clients, **recorder.report(),
            "throughput_rps": round(len(recorder.latencies_ms) / wall, 1)}


# ---- main ---------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="recommendation and search requests")
    parser.add_argument("--chat-turns", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients of the throughput run")
    parser.add_argument("--index", type=Path, default=REPO_ROOT / "artifacts" / "index" / "current")
    parser.add_argument("--catalog", type=Path, default=REPO_ROOT / "artifacts" / "catalog" / "current")
    parser.add_argument("--collab", type=Path, default=REPO_ROOT / "artifacts" / "collab" / "current")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "bench-gateway.json")
    args = parser.parse_args()
    index_dir, catalog_dir = args.index.resolve(), args.catalog.resolve()
    for what, path in (("index", index_dir), ("catalog", catalog_dir)):
        if not (path / "manifest.json").exists():
            print(f"no {what} at {path}: run `make artifacts` first", file=sys.stderr)
            return 2
    collab_dir = args.collab.resolve() if (args.collab / "manifest.json").exists() else None
    index_manifest = json.loads((index_dir / "manifest.json").read_text())

    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        build_taste_map(index_dir, catalog_dir, root / "taste_map")
        taste_map_s = time.perf_counter() - started
        stack = Stack(root / "stack", system_env(root, index_dir, catalog_dir, collab_dir))
        load_before = os.getloadavg()[0]
        try:
            base_url = str(stack.start()["gateway"])
            print(f"system up at {base_url} (index {index_manifest['version']}, {index_manifest['count']} movies, "
                  f"collaborative model: {collab_dir or 'absent'})")
            pids = {name: proc.pid for name, proc in stack.procs.items() if name != "worker"}
            report = run_workloads(base_url, args, pids)
        finally:
            stack.stop()
        load_after = os.getloadavg()[0]

    recs = report["recommendations"]["sequential"]
    report = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_avg_1m_before": round(load_before, 2), "load_avg_1m_after": round(load_after, 2),
                    "note": "2 cores shared with other work; every process of the system runs on them"},
        "system": {"index_version": index_manifest["version"], "index_movies": index_manifest["count"],
                   "index_kind": index_manifest.get("index_kind"), "catalog_dir": str(catalog_dir),
                   "collab_dir": str(collab_dir) if collab_dir else None, "llm": None,
                   "taste_map_build_s": round(taste_map_s, 2), "users": len(USERS)},
        "target": {"recommendations_p95_ms": TARGET_RECS_P95_MS},
        **report,
        "meets_target": {"recommendations_p95": recs.get("p95_ms", float("inf")) <= TARGET_RECS_P95_MS},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def run_workloads(base_url: str, args, pids: dict[str, int]) -> dict:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        users = [prepare_user(client, spec) for spec in USERS]
        report: dict = {"recommendations": {}, "chat": {}, "movie_search": {}}
        report["recommendations"]["sequential"] = sequential(
            args.requests, args.warmup, lambda i: recommendation_call(client, users[i % len(users)]), pids)
        print("recommendations:", _brief(report["recommendations"]["sequential"]))
        report["recommendations"]["concurrent"] = concurrent_run(
            base_url, users, args.clients, max(1, args.requests // args.clients))
        print(f"recommendations x{args.clients}:", _brief(report["recommendations"]["concurrent"]),
              f"{report['recommendations']['concurrent']['throughput_rps']} req/s")
        chat = ChatDriver(users)
        report["chat"]["sequential"] = sequential(args.chat_turns, min(args.warmup, len(CHAT_MESSAGES)),
                                                  lambda _i: chat.call(client), pids)
        report["chat"]["messages"] = list(CHAT_MESSAGES)
        print("chat turn:", _brief(report["chat"]["sequential"]))
        cold = cold_search_queries(args.catalog, args.requests)
        report["movie_search"]["cold"] = sequential(len(cold), 0, lambda i: search_call(client, cold[i]))
        report["movie_search"]["cold"]["queries"] = "distinct 3-8 character prefixes of random catalog titles"
        print("movie search, each query new:", _brief(report["movie_search"]["cold"]))
        report["movie_search"]["repeated"] = sequential(
            args.requests, args.warmup, lambda i: search_call(client, SEARCH_QUERIES[i % len(SEARCH_QUERIES)]))
        report["movie_search"]["repeated"]["queries"] = list(SEARCH_QUERIES)
        print("movie search, repeated queries:", _brief(report["movie_search"]["repeated"]))
    return report


def _brief(figures: dict) -> str:
    stages = ", ".join(f"{name} p50 {s['p50_ms']}" for name, s in figures.get("stages_ms", {}).items())
    line = (f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms "
            f"(statuses {figures['statuses']}, degraded {figures['degraded']})")
    if "cards_per_answer" in figures:
        line += f"; cards/answer {figures['cards_per_answer']} {figures.get('rankers', '')}"
    if "cpu_ms_per_request" in figures:
        line += f"; CPU ms/request {figures['cpu_ms_per_request']}"
    return f"{line}; stages: {stages}" if stages else line


if __name__ == "__main__":
    sys.exit(main())
