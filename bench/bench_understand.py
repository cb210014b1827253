"""Chat understanding (rules): per-message latency over real INSPIRED seeker utterances →
``reports/bench-understand.json``.

    .venv/bin/python bench/bench_understand.py [--messages 1000] [--inspired ../shared/data/inspired/dev.tsv]

Loads the catalog, builds the title/people linker and the franchise index (start-up cost, reported),
then reads the first N SEEKER utterances of the INSPIRED file one at a time (the previous three movies
of the catalog stand in as "shown picks") and reports wall-clock p50/p95/p99/max and CPU-time p50/p95
per message. Also counts how
many utterances linked a title, set a hard constraint, or were read as each dialogue act. The machine
is shared: the load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
for sub in ("libs", "services/gateway", "gen"):
    sys.path.insert(0, str(REPO_ROOT / sub))

from gateway_service.dialogue.understand import (  # noqa: E402
    DialogueContext,
    UnderstandingResources,
    understand,
)
from gateway_service.dialogue.understanding import HardConstraints  # noqa: E402
from movierec_catalog import load_catalog  # noqa: E402


def seeker_utterances(path: Path, limit: int) -> list[str]:
    csv.field_size_limit(10_000_000)
    out = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["speaker"] == "SEEKER" and row["text"].strip():
                out.append(row["text"].strip())
                if len(out) >= limit:
                    break
    return out


def _franchise_artifact_fresh(catalog) -> bool:
    from gateway_service.dialogue.franchises import artifact_key, default_path

    file = default_path() / "franchises.json"
    return file.is_file() and json.loads(file.read_text()).get("key") == artifact_key(catalog)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--inspired", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "inspired" / "dev.tsv")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "bench-understand.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    catalog = load_catalog()
    franchise_cached = _franchise_artifact_fresh(catalog)
    started, cpu_started = time.perf_counter(), time.process_time()
    resources = UnderstandingResources.from_catalog(catalog)
    startup_s, startup_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    picks = [catalog.get(i) for i in list(catalog.movies.index)[:3]]
    messages = seeker_utterances(args.inspired, args.messages)
    ctx = DialogueContext(resources=resources, picks=picks)
    understand("warm up: nothing scary under 2 hours like Jaws", ctx)
    latencies, cpu, acts, linked, constrained = [], [], Counter(), 0, 0
    for message in messages:
        t0, c0 = time.perf_counter(), time.process_time()
        u = understand(message, ctx)
        latencies.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        acts[u.act.value] += 1
        linked += bool(u.seeds.titles or u.constraints.exclude_titles)
        constrained += u.constraints != HardConstraints()
    report = {
        "what": "rule-based understand() per message, in process, one at a time",
        "command": f"python bench/bench_understand.py --messages {args.messages}",
        "source": str(args.inspired.name), "messages": len(messages),
        "latency_ms": {"p50": round(percentile(latencies, 0.5), 3), "p95": round(percentile(latencies, 0.95), 3),
                       "p99": round(percentile(latencies, 0.99), 3), "max": round(max(latencies), 3),
                       "mean": round(statistics.fmean(latencies), 3)},
        # CPU time of this process per message: what the code costs, less disturbed by other load.
        "cpu_ms": {"p50": round(percentile(cpu, 0.5), 3), "p95": round(percentile(cpu, 0.95), 3),
                   "mean": round(statistics.fmean(cpu), 3)},
        "startup_s": {"linker_and_franchises": round(startup_s, 3), "cpu": round(startup_cpu_s, 3),
                      "franchise_index": "loaded from artifacts/franchises" if franchise_cached else "built in memory"},
        "franchises": len(resources.franchises),
        "share_with_a_linked_title": round(linked / len(messages), 3),
        "share_with_a_hard_constraint": round(constrained / len(messages), 3),
        "acts": dict(acts.most_common()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in os.getloadavg()]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
