"""Per-operation latency samples and status codes, and their summary (QPS, percentiles, errors)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

OK = "OK"


@dataclass
class OpStats:
    """What one operation (an RPC, or a REST route) did during one run.

    Latency percentiles are over successful requests; failures are counted by status code
    (gRPC code name, HTTP status, or a client-side reason such as TIMEOUT), so an overloaded
    server cannot look fast by failing quickly: the error rate is always reported next to them.
    """

    latencies_s: list[float] = field(default_factory=list)
    codes: Counter = field(default_factory=Counter)
    degraded: int = 0
    send_lags_s: list[float] = field(default_factory=list)

    def record(self, latency_s: float, code: str) -> None:
        self.codes[code] += 1
        if code == OK:
            self.latencies_s.append(latency_s)

    @property
    def requests(self) -> int:
        return sum(self.codes.values())


def latency_summary(samples_s: list[float]) -> dict[str, float | None]:
    if not samples_s:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    ms = np.asarray(samples_s, dtype=np.float64) * 1e3
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3),
            "mean": round(float(ms.mean()), 3), "max": round(float(ms.max()), 3)}


def summarize(stats: OpStats, elapsed_s: float) -> dict:
    """The figures of one operation over one run: requests, QPS of successes, latency, errors."""
    ok = stats.codes.get(OK, 0)
    errors = {code: count for code, count in sorted(stats.codes.items()) if code != OK}
    requests = stats.requests
    summary = {
        "requests": requests,
        "ok": ok,
        "errors": errors,
        "error_rate": round(sum(errors.values()) / requests, 5) if requests else 0.0,
        "qps": round(ok / elapsed_s, 2) if elapsed_s > 0 else 0.0,
        "latency_ms": latency_summary(stats.latencies_s),
        "degraded": stats.degraded,
    }
    if stats.send_lags_s:
        lag = latency_summary(stats.send_lags_s)
        summary["send_lag_ms"] = {"p50": lag["p50"], "p99": lag["p99"], "max": lag["max"]}
    return summary
