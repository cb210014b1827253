"""Sign-up flood against a real gateway: how many pass, how long they take, what the argon2 pool costs.

    .venv/bin/python bench/bench_signup.py [--signups 50] [--runs 3]

Starts redis-server and one gateway process (``python -m gateway_service``) with its production
settings (no dev mode: argon2id GATEWAY_ARGON2_MEMORY_KIB × GATEWAY_ARGON2_TIME_COST on a pool of
GATEWAY_HASH_CONCURRENCY threads, GATEWAY_AUTH_IP_RATE_LIMIT per auth window) and X-Forwarded-For trusted
from loopback (GATEWAY_FORWARDED_ALLOW_IPS=127.0.0.1, as behind the ingress). Sign-ups need only Redis,
so the gRPC tiers are not started. Each run sends ``--signups`` concurrent sign-ups with distinct
usernames twice, on a fresh Redis database:

* ``one_ip``: every request from the same client address (the flood the per-address budget stops);
* ``many_ips``: each request from its own address (what passes the budget, so every one is hashed).

While a scenario runs, /livez is probed every 50 ms (the event loop must stay responsive while
hashes run on the pool), and the gateway's RSS (VmRSS from /proc, sampled every 20 ms) and CPU time are
recorded. Writes ``reports/bench-signup.json`` (every run, and the median with min/max) with ``uptime``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

from movierec_core.devstack import free_port, spawn, start_redis, wait_port_file
from movierec_core.paths import REPO_ROOT

PASSWORD = "correct horse battery staple"
REPORT = REPO_ROOT / "reports" / "bench-signup.json"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(ms: list[float]) -> dict:
    if not ms:
        return {"n": 0}
    values = np.asarray(ms)
    return {"n": len(ms), "p50_ms": round(float(np.percentile(values, 50)), 1),
            "p95_ms": round(float(np.percentile(values, 95)), 1), "max_ms": round(float(values.max()), 1)}


async def sample_rss(pid: int, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        out.append(rss_mib(pid))
        await asyncio.sleep(0.02)


async def probe_health(http: httpx.AsyncClient, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        (await http.get("/livez")).raise_for_status()
        out.append((time.perf_counter() - started) * 1e3)
        await asyncio.sleep(0.05)


async def flood(url: str, pid: int, signups: int, distinct_ips: bool) -> dict:
    async def one(http: httpx.AsyncClient, i: int) -> tuple[int, float]:
        address = f"10.{i // 250}.{i % 250}.7" if distinct_ips else "10.9.9.9"
        started = time.perf_counter()
        response = await http.post("/api/auth/signup", headers={"X-Forwarded-For": address},
                                   json={"username": f"flood_{secrets.token_hex(5)}", "password": PASSWORD})
        return response.status_code, (time.perf_counter() - started) * 1e3

    stop, rss, health = asyncio.Event(), [rss_mib(pid)], []
    async with httpx.AsyncClient(base_url=url, timeout=120,
                                 limits=httpx.Limits(max_connections=signups + 4)) as http:
        rss_before, cpu_before, started = rss[0], cpu_s(pid), time.perf_counter()
        watchers = [asyncio.create_task(sample_rss(pid, stop, rss)),
                    asyncio.create_task(probe_health(http, stop, health))]
        results = await asyncio.gather(*(one(http, i) for i in range(signups)))
        wall_s = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*watchers)
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"statuses": statuses, "created": statuses.get("201", 0),
            "created_latency": percentiles([ms for status, ms in results if status == 201]),
            "refused_latency": percentiles([ms for status, ms in results if status == 429]),
            "wall_s": round(wall_s, 2), "gateway_cpu_s": round(cpu_s(pid) - cpu_before, 2),
            "rss_before_mib": round(rss_before, 1), "rss_peak_mib": round(max(rss), 1),
            "rss_growth_mib": round(max(rss) - rss_before, 1), "livez_during": percentiles(health)}


def start_gateway(root: Path, redis_url: str) -> tuple:
    port_file = root / "gateway.port.json"
    dead = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "REDIS_URL": redis_url, "GATEWAY_PORT": "0", "MOVIEREC_PORT_FILE": str(port_file),
           "GATEWAY_JWT_SECRET": secrets.token_urlsafe(48), "GATEWAY_FORWARDED_ALLOW_IPS": "127.0.0.1",
           "EMBEDDING_ADDR": dead, "RETRIEVAL_ADDR": dead, "PROFILE_ADDR": dead, "RANKER_ADDR": dead,
           "PYTHONUNBUFFERED": "1"}
    env.pop("GATEWAY_DEV_MODE", None)
    proc = spawn("gateway", [sys.executable, "-m", "gateway_service"], env, root / "logs")
    info = wait_port_file(port_file, proc, 180)
    return proc, f"http://127.0.0.1:{info['port']}"


def median_of(runs: list[dict], scenario: str, path: tuple[str, ...]) -> dict:
    values = []
    for run in runs:
        value = run[scenario]
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            values.append(value)
    return {"median": statistics.median(values), "min": min(values), "max": max(values)} if values else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--signups", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-signup-") as tmp:
        root = Path(tmp)
        redis, redis_port = start_redis(root / "redis", root / "logs", appendfsync="everysec")
        gateway = None
        try:
            runs = []
            for run in range(args.runs):
                redis_url = f"redis://127.0.0.1:{redis_port}/{run}"  # a fresh database: fresh budgets
                gateway, url = start_gateway(root / f"run{run}", redis_url)
                runs.append({"one_ip": asyncio.run(flood(url, gateway.pid, args.signups, distinct_ips=False)),
                             "many_ips": asyncio.run(flood(url, gateway.pid, args.signups, distinct_ips=True))})
                gateway.stop()
                gateway = None
                print(json.dumps({"run": run, **runs[-1]}))
        finally:
            if gateway is not None:
                gateway.stop()
            redis.stop()
    keys = {"created": ("created",), "created_p95_ms": ("created_latency", "p95_ms"),
            "refused_p95_ms": ("refused_latency", "p95_ms"), "rss_peak_mib": ("rss_peak_mib",),
            "rss_growth_mib": ("rss_growth_mib",), "gateway_cpu_s": ("gateway_cpu_s",),
            "livez_p95_ms": ("livez_during", "p95_ms")}
    report = {
        "bench": "signup-flood", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "cpus": os.cpu_count(), "signups": args.signups, "runs": runs,
        "settings": "production defaults (gateway_service/settings.py): argon2 19 MiB × 2, 2 hash threads, "
                    "30 auth requests per address per window",
        "summary": {scenario: {name: median_of(runs, scenario, path) for name, path in keys.items()}
                    for scenario in ("one_ip", "many_ips")},
    }
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))
    print(f"wrote {REPORT.relative_to(REPO_ROOT)} ({report['uptime']})")


if __name__ == "__main__":
    main()
