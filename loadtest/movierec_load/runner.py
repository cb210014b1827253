"""Runs a plan against its targets: every gRPC scenario at each concurrency level and at its fixed
rate, then the gateway journey at each of its concurrency levels. Returns plain dicts for the report."""

from __future__ import annotations

import asyncio

from movierec.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from movierec_core.client import check_health
from movierec_load.cpu import Meter
from movierec_load.drivers import RunTiming, closed_loop, open_loop, timed
from movierec_load.gateway_journey import JOURNEY, ROUTES, Journey, fetch_vibes, new_client
from movierec_load.grpc_scenarios import BY_NAME, Prepared, onboard_profiles, open_channel, prepare
from movierec_load.plan import Plan
from movierec_load.stats import OpStats, summarize
from movierec_load.system import Targets
from movierec_load.workload import Workload

# The processes whose CPU a scenario's requests cost, the serving tier first.
COST_PROCESSES = {"embedding": ("embedding",), "retrieval": ("retrieval",), "ranker": ("ranker",),
                  "profile.get_profile": ("profile", "redis"),
                  "profile.apply_message": ("profile", "embedding", "redis")}
WARMUP_CONCURRENCY = 4
SETUP_TIMEOUT_S = 10.0


def cost_processes(scenario: str) -> tuple[str, ...]:
    return COST_PROCESSES.get(scenario) or COST_PROCESSES[BY_NAME[scenario].tier]


def log(line: str) -> None:
    print(f"[load] {line}", flush=True)


def _fmt(summary: dict) -> str:
    lat = summary["latency_ms"]
    errors = ", ".join(f"{code}={count}" for code, count in summary["errors"].items()) or "none"
    p = "/".join("-" if lat[q] is None else f"{lat[q]:.1f}" for q in ("p50", "p95", "p99"))
    return f"{summary['qps']:8.1f} qps  p50/p95/p99 {p} ms  errors: {errors}"


async def require_serving(targets: Targets, tiers: set[str]) -> None:
    for tier in sorted(tiers):
        status = await check_health(targets.grpc[tier], timeout_s=3.0)
        if status != "SERVING":
            raise RuntimeError(f"the {tier} tier at {targets.grpc[tier]} is {status}, not SERVING")


async def index_mismatch(address: str, workload: Workload) -> str | None:
    async with open_channel(address) as channel:
        info = await retrieval_pb2_grpc.RetrievalServiceStub(channel).GetIndexInfo(
            retrieval_pb2.GetIndexInfoRequest(), timeout=SETUP_TIMEOUT_S)
    if info.index_version != workload.index_version:
        return (f"retrieval serves index {info.index_version} but the query vectors come from "
                f"{workload.index_version} (pass --index-dir)")
    return None


def _record(prepared: Prepared, mode: str, level: int | None, rate: float | None, timing: RunTiming,
            stats: OpStats, meter: dict, degraded: int) -> dict:
    scenario = prepared.scenario
    stats.degraded = degraded
    summary = summarize(stats, timing.elapsed_s)
    cost = cost_processes(scenario.name)
    tier_cpu = meter["cpu_s"].get(scenario.tier)
    record = {"scenario": scenario.name, "tier": scenario.tier, "rpc": scenario.rpc, "mode": mode,
              "concurrency": level, "target_rps": rate, "elapsed_s": round(timing.elapsed_s, 3),
              "hard_stopped": timing.hard_stopped, **summary, **meter}
    if prepared.observed.backends:
        record["backends"] = sorted(prepared.observed.backends)
    if tier_cpu is not None and summary["requests"]:
        record["tier_cpu_ms_per_request"] = round(1e3 * tier_cpu / summary["requests"], 3)
        record["tier_cpu_cores"] = round(tier_cpu / meter["wall_s"], 3)
        if all(name in meter["cpu_s"] for name in cost):
            record["path_cpu_ms_per_request"] = round(
                1e3 * sum(meter["cpu_s"][name] for name in cost) / summary["requests"], 3)
    return record


async def _grpc_runs(prepared: Prepared, plan: Plan, groups: dict[str, int]) -> list[dict]:
    name = prepared.scenario.name
    if plan.warmup_s:
        await closed_loop(timed(prepared.call, OpStats()), concurrency=WARMUP_CONCURRENCY,
                          duration_s=plan.warmup_s, max_iterations=plan.max_requests_per_run, grace_s=plan.grace_s())
    records = []
    for level in plan.concurrency:
        stats, meter, before = OpStats(), Meter(groups), prepared.observed.degraded
        timing = await closed_loop(timed(prepared.call, stats), concurrency=level, duration_s=plan.duration_s,
                                   max_iterations=plan.max_requests_per_run, grace_s=plan.grace_s())
        records.append(_record(prepared, "closed", level, None, timing, stats, meter.finish(),
                               prepared.observed.degraded - before))
        log(f"{name:26s} closed c={level:<3d} {_fmt(records[-1])}")
    rate = plan.rate(name)
    stats, meter, before = OpStats(), Meter(groups), prepared.observed.degraded
    timing = await open_loop(prepared.call, stats, rate_rps=rate, duration_s=plan.duration_s,
                             max_requests=plan.max_requests_per_run, max_in_flight=plan.max_in_flight,
                             grace_s=plan.grace_s())
    records.append(_record(prepared, "open", None, rate, timing, stats, meter.finish(),
                           prepared.observed.degraded - before))
    log(f"{name:26s} open {rate:5.0f} rps {_fmt(records[-1])}")
    return records


async def run_grpc(plan: Plan, targets: Targets, workload: Workload, run_id: str) -> tuple[list[dict], list[str]]:
    """Every selected gRPC scenario; returns (run records, notes)."""
    names = plan.grpc_scenarios
    tiers = {BY_NAME[name].tier for name in names}
    await require_serving(targets, tiers)
    notes = []
    if "retrieval" in tiers:
        mismatch = await index_mismatch(targets.grpc["retrieval"], workload)
        if mismatch:
            notes.append(mismatch)
            log(f"WARNING: {mismatch}")
    channels = {tier: open_channel(targets.grpc[tier]) for tier in tiers}
    records: list[dict] = []
    try:
        profile_users = None
        if any(BY_NAME[name].tier == "profile" for name in names):
            profile_users = await onboard_profiles(channels["profile"], workload, run_id, SETUP_TIMEOUT_S)
        for name in names:
            scenario = BY_NAME[name]
            prepared = prepare(scenario, channels[scenario.tier], workload, plan.rpc_timeout_s, profile_users)
            records += await _grpc_runs(prepared, plan, targets.process_groups)
    finally:
        for channel in channels.values():
            await channel.close()
    return records, notes


async def run_gateway(plan: Plan, targets: Targets, workload: Workload, run_id: str) -> list[dict]:
    """The REST journey at each concurrency level; one record per level."""
    assert targets.gateway is not None
    async with new_client(targets.gateway, plan.http_timeout_s, max(plan.rest_concurrency)) as client:
        health = await client.get("/healthz")
        if health.status_code != 200:
            raise RuntimeError(f"the gateway at {targets.gateway} is not healthy: {health.status_code} {health.text}")
        journey = Journey(client, workload, await fetch_vibes(client), run_id)
        if plan.warmup_s:
            await closed_loop(journey, concurrency=1, duration_s=plan.warmup_s, max_iterations=1000,
                              grace_s=plan.grace_s(rest=True))
        records = []
        for level in plan.rest_concurrency:
            journey.reset()
            meter = Meter(targets.process_groups)
            timing = await closed_loop(journey, concurrency=level, duration_s=plan.duration_s,
                                       max_iterations=plan.max_requests_per_run, grace_s=plan.grace_s(rest=True))
            measured = meter.finish()
            record = {"scenario": "gateway.journey", "concurrency": level, "elapsed_s": round(timing.elapsed_s, 3),
                      "hard_stopped": timing.hard_stopped,
                      "journeys": summarize(journey.stats[JOURNEY], timing.elapsed_s),
                      "routes": {route: summarize(journey.stats[route], timing.elapsed_s) for route in ROUTES},
                      **measured}
            done = record["journeys"]["requests"]
            if measured["cpu_s"] and done:
                record["system_cpu_ms_per_journey"] = round(1e3 * sum(measured["cpu_s"].values()) / done, 1)
            records.append(record)
            log(f"gateway.journey c={level:<3d} journeys {_fmt(record['journeys'])}")
            for route in ROUTES:
                log(f"    {route:16s} {_fmt(record['routes'][route])}")
    return records


async def run_plan(plan: Plan, targets: Targets, workload: Workload, run_id: str) -> dict:
    """The whole plan under one hard time limit (``plan.max_total_s``)."""
    result: dict = {"grpc": [], "gateway": [], "notes": []}
    try:
        async with asyncio.timeout(plan.max_total_s):
            if plan.grpc_scenarios:
                result["grpc"], result["notes"] = await run_grpc(plan, targets, workload, run_id)
            if plan.gateway:
                result["gateway"] = await run_gateway(plan, targets, workload, run_id)
    except TimeoutError:
        raise RuntimeError(f"the plan ran past its hard limit of {plan.max_total_s:.0f} s and was stopped "
                           "(no report written)") from None
    return result
