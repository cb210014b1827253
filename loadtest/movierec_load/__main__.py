"""``make load``: gRPC + REST load tests of movierec → reports/load.{json,md} and reports/load_*.png.

    PYTHONPATH=loadtest .venv/bin/python -m movierec_load                      # start a system of its own
    PYTHONPATH=loadtest .venv/bin/python -m movierec_load --endpoints .run/endpoints.json   # hit `make up`
    … --scenarios retrieval.search,gateway.journey --duration 5 --concurrency 1,8 --rate retrieval.search=500

It only ever targets this machine (localhost, 127.0.0.0/8, ::1) and stops by itself: each run is
bounded by its duration and a request cap, the whole plan by --max-total-s (checked up front
against the plan's worst case, and enforced while running).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from movierec_core.paths import REPO_ROOT
from movierec_load.cpu import machine
from movierec_load.plan import ALL_SCENARIOS, Plan
from movierec_load.safety import PlanLimitError, UnsafeTargetError
from movierec_load.system import DEFAULT_SUBSET, Targets, check_local, from_endpoints_file, own_system
from movierec_load.workload import build_workload

EXIT_REFUSED = 2
COMMAND = "PYTHONPATH=loadtest .venv/bin/python -m movierec_load"


def _levels(value: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None
    if not levels:
        raise argparse.ArgumentTypeError("at least one level is needed")
    return levels


def _rate(value: str) -> tuple[str, float]:
    name, sep, rps = value.partition("=")
    try:
        if not sep:
            raise ValueError(value)
        return name.strip(), float(rps)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SCENARIO=RPS, got {value!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m movierec_load", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_argument_group("target")
    target.add_argument("--endpoints", type=Path,
                        help="endpoints.json of a running `make up` (default: start a system of its own)")
    target.add_argument("--index-dir", type=Path, help="index artifact the query vectors come from "
                        "(with --endpoints; default $MOVIEREC_INDEX_DIR or artifacts/index/current)")
    target.add_argument("--catalog-dir", type=Path, help="catalog whose ratings give the users (with --endpoints)")
    target.add_argument("--subset", type=int, default=DEFAULT_SUBSET,
                        help="movies to index when artifacts/index/current is missing (default %(default)s)")
    target.add_argument("--keep-system-dir", action="store_true", help="keep the own system's logs")
    plan = parser.add_argument_group("plan")
    plan.add_argument("--scenarios", default=",".join(ALL_SCENARIOS),
                      help="comma-separated, from: " + ", ".join(ALL_SCENARIOS))
    plan.add_argument("--duration", type=float, default=10.0, help="seconds per run (default %(default)s)")
    plan.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per scenario (default %(default)s)")
    plan.add_argument("--concurrency", type=_levels, default=(1, 8, 32),
                      help="gRPC closed-loop levels (default 1,8,32)")
    plan.add_argument("--rest-concurrency", type=_levels, default=(1, 4, 16),
                      help="gateway journey levels (default 1,4,16)")
    plan.add_argument("--rate", type=_rate, action="append", default=[], metavar="SCENARIO=RPS",
                      help="open-loop rate of a gRPC scenario (repeatable)")
    plan.add_argument("--rpc-timeout", type=float, default=2.0, help="deadline per RPC, s (default %(default)s)")
    plan.add_argument("--http-timeout", type=float, default=10.0, help="timeout per HTTP call, s (default %(default)s)")
    plan.add_argument("--max-requests-per-run", type=int, default=200_000)
    plan.add_argument("--max-total-s", type=float, default=600.0,
                      help="hard limit for the whole plan, s (default %(default)s)")
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "reports")
    parser.add_argument("--no-plots", action="store_true")
    return parser.parse_args(argv)


def build_plan(args: argparse.Namespace) -> Plan:
    plan = Plan(scenarios=tuple(name.strip() for name in args.scenarios.split(",") if name.strip()),
                duration_s=args.duration, warmup_s=args.warmup, concurrency=args.concurrency,
                rest_concurrency=args.rest_concurrency, rates=dict(args.rate), rpc_timeout_s=args.rpc_timeout,
                http_timeout_s=args.http_timeout, max_requests_per_run=args.max_requests_per_run,
                max_total_s=args.max_total_s)
    plan.validate()
    return plan


def needed_tiers(plan: Plan) -> set[str]:
    from movierec_load.grpc_scenarios import BY_NAME

    return {BY_NAME[name].tier for name in plan.grpc_scenarios}


def plan_summary(plan: Plan) -> dict:
    return {"scenarios": list(plan.scenarios), "duration_s": plan.duration_s, "warmup_s": plan.warmup_s,
            "concurrency": list(plan.concurrency), "rest_concurrency": list(plan.rest_concurrency),
            "rates": {name: plan.rate(name) for name in plan.grpc_scenarios}, "rpc_timeout_s": plan.rpc_timeout_s,
            "http_timeout_s": plan.http_timeout_s, "max_requests_per_run": plan.max_requests_per_run,
            "max_in_flight": plan.max_in_flight, "max_total_s": plan.max_total_s}


def run(plan: Plan, targets: Targets, args: argparse.Namespace, argv: list[str]) -> list[Path]:
    from movierec_load.report import write_reports
    from movierec_load.runner import run_plan

    check_local(targets, needed_tiers(plan), plan.gateway)
    started_at, started = datetime.now(UTC), time.perf_counter()
    load_start = machine()["load_avg_1m_5m_15m"]
    workload = build_workload(targets.index_dir, targets.catalog_dir)
    run_id = uuid.uuid4().hex[:8]
    print(f"[load] {len(plan.grpc_scenarios)} gRPC scenario(s){' + gateway journeys' if plan.gateway else ''}, "
          f"worst case {plan.worst_case_s():.0f} s; index {workload.index_version} ({workload.index_count} movies)",
          flush=True)
    result = asyncio.run(run_plan(plan, targets, workload, run_id))
    meta = {"command": f"{COMMAND} {shlex.join(argv)}".strip(), "started_at": started_at.isoformat(timespec="seconds"),
            "wall_s": round(time.perf_counter() - started, 1), "run_id": run_id, "machine": machine(),
            "load_avg_start": load_start, "load_avg_end": machine()["load_avg_1m_5m_15m"],
            "targets": targets.describe(), "index": {"version": workload.index_version, "count": workload.index_count},
            "plan": plan_summary(plan), "notes": [*targets.notes, *result["notes"]]}
    report = {"meta": meta, "grpc": {"runs": result["grpc"]}, "gateway": {"levels": result["gateway"]}}
    return write_reports(report, args.out_dir, plots=not args.no_plots)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        plan = build_plan(args)
        if args.endpoints:
            targets = from_endpoints_file(args.endpoints, args.index_dir, args.catalog_dir)
            check_local(targets, needed_tiers(plan), plan.gateway)  # before building anything
            written = run(plan, targets, args, argv)
        else:
            with own_system(args.subset, keep=args.keep_system_dir) as targets:
                written = run(plan, targets, args, argv)
    except (UnsafeTargetError, PlanLimitError) as error:
        print(f"movierec_load: refused: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except (KeyError, FileNotFoundError, RuntimeError, TimeoutError) as error:
        print(f"movierec_load: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"[load] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
