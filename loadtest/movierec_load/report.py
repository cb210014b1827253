"""The report: ``load.json`` (every figure), ``load.md`` (tables, capacity, plots) and ``load_*.png``.

Capacity is stated per scenario against a p99 objective: the highest throughput any run reached
with p99 within the objective and at most 0.1 % errors — a figure measured on this machine, with
the load generator and every other tier sharing its cores — next to the tier's CPU cost per
request, from which the CPU-bound ceiling of a pod with one dedicated core follows.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from movierec_load.gateway_journey import ROUTES
from movierec_load.grpc_scenarios import BY_NAME
from movierec_load.plan import MAX_ERROR_RATE, RECOMMENDATIONS_P95_TARGET_MS, REST_SLO_P99_MS

PLOT_FILES = ("load_latency.png", "load_qps.png", "load_gateway.png")
RETRIEVAL_TARGET_MS = {"p50": 1.5, "p99": 5.0}  # docs/architecture.md §6: retrieval RPC over a 9.7k × 384 flat index


# ---- capacity -----------------------------------------------------------------------------------------

def _meets(summary: dict, slo_p99_ms: float) -> bool:
    p99 = summary["latency_ms"]["p99"]
    return bool(summary["ok"]) and summary["error_rate"] <= MAX_ERROR_RATE and p99 is not None and p99 <= slo_p99_ms


def _where(run: dict) -> str:
    return f"closed c={run['concurrency']}" if run["mode"] == "closed" else f"open {run['target_rps']:g} rps"


def grpc_capacity(runs: list[dict]) -> list[dict]:
    rows = []
    for name in dict.fromkeys(run["scenario"] for run in runs):
        scenario = BY_NAME[name]
        mine = [run for run in runs if run["scenario"] == name]
        meeting = [run for run in mine if _meets(run, scenario.slo_p99_ms)]
        best = max(meeting, key=lambda run: run["qps"], default=None)
        busy = [run["tier_cpu_ms_per_request"] for run in mine
                if "tier_cpu_ms_per_request" in run and run["mode"] == "closed" and run["concurrency"] > 1]
        cpu_ms = statistics.median(busy) if busy else None
        open_run = next((run for run in mine if run["mode"] == "open"), None)
        rows.append({
            "scenario": name, "tier": scenario.tier, "rpc": scenario.rpc, "workload": scenario.what,
            "slo_p99_ms": scenario.slo_p99_ms,
            "qps_at_slo": best["qps"] if best else 0.0,
            "measured_at": _where(best) if best else None,
            "p99_ms_there": best["latency_ms"]["p99"] if best else None,
            "max_qps_measured": max((run["qps"] for run in mine), default=0.0),
            "tier_cpu_ms_per_request": round(cpu_ms, 3) if cpu_ms else None,
            "cpu_bound_qps_per_core": round(1e3 / cpu_ms) if cpu_ms else None,
            "open_rate_rps": open_run["target_rps"] if open_run else None,
            "open_rate_meets_slo": _meets(open_run, scenario.slo_p99_ms) if open_run else None,
            "best_p99_ms": min((run["latency_ms"]["p99"] for run in mine if run["latency_ms"]["p99"] is not None),
                               default=None),
        })
    return rows


def design_checks(report: dict) -> list[dict]:
    """The docs/architecture.md §6 latency targets this load test can check (one caller at a time, warm)."""
    checks = []
    single = next((run for run in report["grpc"]["runs"]
                   if run["scenario"] == "retrieval.search" and run["mode"] == "closed" and run["concurrency"] == 1),
                  None)
    if single:
        for q, target in (("p50", RETRIEVAL_TARGET_MS["p50"]), ("p99", RETRIEVAL_TARGET_MS["p99"])):
            measured = single["latency_ms"][q]
            checks.append({"what": f"retrieval Search RPC {q}, 1 caller", "target_ms": target, "measured_ms": measured,
                           "met": measured is not None and measured <= target})
    levels = report["gateway"]["levels"]
    one_user = next((level for level in levels if level["concurrency"] == 1), None)
    if one_user:
        measured = one_user["routes"]["recommendations"]["latency_ms"]["p95"]
        checks.append({"what": "recommendations REST call p95, 1 user, no LLM", "target_ms":
                       RECOMMENDATIONS_P95_TARGET_MS, "measured_ms": measured,
                       "met": measured is not None and measured <= RECOMMENDATIONS_P95_TARGET_MS})
    return checks


def gateway_capacity(levels: list[dict]) -> dict:
    def all_routes_meet(level: dict) -> bool:
        return (level["journeys"]["error_rate"] <= MAX_ERROR_RATE and level["journeys"]["ok"] > 0
                and all(_meets(level["routes"][route], REST_SLO_P99_MS[route]) for route in ROUTES))

    meeting = [level for level in levels if all_routes_meet(level)]
    best = max(meeting, key=lambda level: level["journeys"]["qps"], default=None)
    single = next((level for level in levels if level["concurrency"] == 1), None)
    rec_p95 = single["routes"]["recommendations"]["latency_ms"]["p95"] if single else None
    cpu = [level["system_cpu_ms_per_journey"] for level in levels if "system_cpu_ms_per_journey" in level]
    return {
        "slo_p99_ms": REST_SLO_P99_MS,
        "journeys_per_s_at_slo": best["journeys"]["qps"] if best else 0.0,
        "measured_at": f"c={best['concurrency']}" if best else None,
        "max_journeys_per_s": max((level["journeys"]["qps"] for level in levels), default=0.0),
        "system_cpu_ms_per_journey": statistics.median(cpu) if cpu else None,
        "recommendations_p95_ms_c1": rec_p95,
    }


# ---- plots --------------------------------------------------------------------------------------------

def _axes_style(ax, xs: list[int]) -> None:
    """Log axes labelled with plain numbers: the concurrency levels on x, no minor labels."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xticks(xs, [str(x) for x in xs])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def write_plots(report: dict, out_dir: Path) -> list[str]:
    """PNG plots (matplotlib, Agg); returns the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    closed = [run for run in report["grpc"]["runs"] if run["mode"] == "closed"]
    names = list(dict.fromkeys(run["scenario"] for run in closed))
    if names:
        cols = 3
        rows = (len(names) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
        for ax, name in zip(axes.flat, names, strict=False):
            runs = [run for run in closed if run["scenario"] == name]
            levels = [run["concurrency"] for run in runs]
            for q, style in (("p50", "o-"), ("p95", "s--"), ("p99", "^-")):
                ax.plot(levels, [run["latency_ms"][q] for run in runs], style, label=q)
            ax.axhline(BY_NAME[name].slo_p99_ms, color="red", linestyle=":", label="SLO p99")
            ax.set(title=name, xscale="log", yscale="log", xlabel="concurrency", ylabel="latency (ms)")
            _axes_style(ax, levels)
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        fig.suptitle("gRPC latency vs concurrency (closed loop)")
        fig.tight_layout()
        fig.savefig(out_dir / "load_latency.png", dpi=110)
        plt.close(fig)
        written.append("load_latency.png")

        fig, ax = plt.subplots(figsize=(8, 5))
        for name in names:
            runs = [run for run in closed if run["scenario"] == name]
            ax.plot([run["concurrency"] for run in runs], [run["qps"] for run in runs], "o-", label=name)
        ax.set(title="gRPC throughput vs concurrency (closed loop)", xscale="log", yscale="log",
               xlabel="concurrency", ylabel="successful requests / s")
        _axes_style(ax, sorted({run["concurrency"] for run in closed}))
        fig.tight_layout()
        fig.savefig(out_dir / "load_qps.png", dpi=110)
        plt.close(fig)
        written.append("load_qps.png")

    levels = report["gateway"]["levels"]
    if levels:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
        xs = [level["concurrency"] for level in levels]
        for ax, q in zip(axes[:2], ("p50", "p99"), strict=True):
            for route in ROUTES:
                ax.plot(xs, [level["routes"][route]["latency_ms"][q] for level in levels], "o-", label=route)
            ax.set(title=f"gateway: {q} per route", yscale="log", xscale="log", xlabel="concurrent users",
                   ylabel=f"{q} latency (ms)")
        axes[2].plot(xs, [level["journeys"]["qps"] for level in levels], "k^-", label="completed journeys / s")
        axes[2].set(title="gateway: completed journeys / s", xscale="log",
                    xlabel="concurrent users", ylabel="journeys / s")
        for ax in axes:
            _axes_style(ax, xs)
        fig.tight_layout()
        fig.savefig(out_dir / "load_gateway.png", dpi=110)
        plt.close(fig)
        written.append("load_gateway.png")
    return written


# ---- markdown -----------------------------------------------------------------------------------------

def _ms(value) -> str:
    return "–" if value is None else f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _num(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _errors(summary: dict) -> str:
    return ", ".join(f"{code} {count}" for code, count in summary["errors"].items()) or "0"


def _capacity_section(report: dict) -> list[str]:
    cap = report["capacity"]
    lines = ["## Capacity per pod", "",
             "What an operator sizes with. **QPS at SLO** is the highest throughput a run reached with p99 within "
             f"the objective and ≤ {MAX_ERROR_RATE:.1%} errors, measured on this machine with one process per tier "
             "(one intra-op thread), the load generator and every other tier sharing its cores: a conservative "
             "per-pod figure. **CPU ms/request** is the tier process's own CPU time per request (from /proc, "
             "median of the closed-loop runs with concurrency > 1); **ceiling** = 1000 / that = requests/s one "
             "fully used core could serve (a tier process is one Python event loop, so ~1 core is its limit).",
             "", "| tier · RPC | workload | SLO p99 | QPS at SLO (per pod) | measured at | p99 there | "
             "CPU ms/request | ceiling QPS/core | open-loop rate meets SLO |",
             "|---|---|---:|---:|---|---:|---:|---:|---|"]
    for row in cap["grpc"]:
        p99_there = _ms(row["p99_ms_there"]) if row["measured_at"] else f"best {_ms(row['best_p99_ms'])}"
        open_ok = ("–" if row["open_rate_rps"] is None else
                   f"{'yes' if row['open_rate_meets_slo'] else 'no'} ({row['open_rate_rps']:g} rps)")
        lines.append(f"| {row['tier']} · {row['rpc']} (`{row['scenario']}`) | {row['workload']} | "
                     f"{row['slo_p99_ms']:g} ms | **{_num(row['qps_at_slo'])}** | {row['measured_at'] or 'not met'} | "
                     f"{p99_there} | "
                     f"{_ms(row['tier_cpu_ms_per_request'])} | {_num(row['cpu_bound_qps_per_core'], 0)} | {open_ok} |")
    gateway = cap.get("gateway")
    if gateway:
        lines += ["", "**Gateway (whole journeys: sign-up → onboard → recommendations → review → chat)**: "
                  f"{_num(gateway['journeys_per_s_at_slo'], 2)} journeys/s with every route within its p99 "
                  f"objective ({', '.join(f'{r} {v:g} ms' for r, v in gateway['slo_p99_ms'].items())}), "
                  f"measured at {gateway['measured_at'] or '— (not met at any level)'}; at most "
                  f"{_num(gateway['max_journeys_per_s'], 2)} journeys/s at any level. "
                  f"Whole-system CPU per journey: {_num(gateway['system_cpu_ms_per_journey'], 0)} ms."]
    if cap["design"]:
        lines += ["", "Against docs/architecture.md §6 (one caller, warm):", "", "| target | bound | measured | met |",
                  "|---|---:|---:|---|"]
        lines += [f"| {c['what']} | ≤ {c['target_ms']:g} ms | {_ms(c['measured_ms'])} ms | "
                  f"{'yes' if c['met'] else 'no'} |" for c in cap["design"]]
    lines += ["", "How to use these: size `requests.cpu` of a tier from its CPU ms/request × the QPS one pod "
              "should carry; set the HPA's CPU target (e.g. 60–70 %) so that a pod scales out before it reaches "
              "its QPS at SLO; pods needed ≈ peak QPS / (QPS at SLO × 0.7). The profile tier's ApplyMessage also "
              "spends embedding-tier CPU (see `path_cpu_ms_per_request` in load.json).", ""]
    return lines


def _grpc_tables(report: dict) -> list[str]:
    lines = ["## gRPC tiers", "",
             "Closed loop: N callers back to back. Open loop: a fixed arrival rate; latency counted from each "
             "request's scheduled send time (no coordinated omission), `CLIENT_BACKLOG` = due but not sent "
             "before the run ended. Latency percentiles are over successful calls; errors are listed by gRPC "
             "status code. `client cores` = CPU the load generator itself used.", ""]
    runs = report["grpc"]["runs"]
    for name in dict.fromkeys(run["scenario"] for run in runs):
        scenario = BY_NAME[name]
        backends = sorted({b for run in runs if run["scenario"] == name for b in run.get("backends", [])})
        answered_by = f" Answered by: {', '.join(f'`{b}`' for b in backends)}." if backends else ""
        lines += [f"### {scenario.tier} · {scenario.rpc} — `{name}`", "",
                  f"{scenario.what}; SLO p99 ≤ {scenario.slo_p99_ms:g} ms.{answered_by}", "",
                  "| run | requests | QPS | p50 ms | p95 ms | p99 ms | max ms | errors | tier CPU ms/req | "
                  "tier cores | client cores | load avg |",
                  "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|"]
        for run in (r for r in runs if r["scenario"] == name):
            lat = run["latency_ms"]
            extra = f" (send lag p99 {_ms(run['send_lag_ms']['p99'])} ms)" if "send_lag_ms" in run else ""
            degraded = f", degraded {run['degraded']}" if run.get("degraded") else ""
            lines.append(
                f"| {_where(run)}{extra} | {run['requests']:,} | {_num(run['qps'])} | {_ms(lat['p50'])} | "
                f"{_ms(lat['p95'])} | {_ms(lat['p99'])} | {_ms(lat['max'])} | {_errors(run)}{degraded} | "
                f"{_ms(run.get('tier_cpu_ms_per_request'))} | {_num(run.get('tier_cpu_cores'), 2)} | "
                f"{run['client_cpu_cores']:.2f} | {run['load_avg_1m'][0]:.1f}→{run['load_avg_1m'][1]:.1f} |")
        lines.append("")
    return lines


def _gateway_tables(report: dict) -> list[str]:
    levels = report["gateway"]["levels"]
    if not levels:
        return []
    lines = ["## Gateway end to end (REST)", "",
             "Each virtual user repeats the journey sign-up → onboard (3 liked movies of a real MovieLens user, "
             "a vibe, a free-text wish) → recommendations (5) → review a recommended movie → one chat turn, with "
             "a new account each time. A failed step ends its journey. Errors are HTTP statuses (or TIMEOUT).", ""]
    for level in levels:
        j = level["journeys"]
        lines += [f"### {level['concurrency']} concurrent user(s)", "",
                  f"{j['ok']:,} journeys in {level['elapsed_s']:.1f} s = **{j['qps']:.2f} journeys/s**, journey p50 "
                  f"{_ms(j['latency_ms']['p50'])} ms / p99 {_ms(j['latency_ms']['p99'])} ms, failed journeys: "
                  f"{_errors(j)}; system CPU per journey {_num(level.get('system_cpu_ms_per_journey'), 0)} ms; "
                  f"load avg {level['load_avg_1m'][0]:.1f}→{level['load_avg_1m'][1]:.1f}.", "",
                  "| route | requests | per s | p50 ms | p95 ms | p99 ms | max ms | errors | degraded | SLO p99 |",
                  "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
        for route in ROUTES:
            s = level["routes"][route]
            lat = s["latency_ms"]
            lines.append(f"| {route} | {s['requests']:,} | {_num(s['qps'], 2)} | {_ms(lat['p50'])} | "
                         f"{_ms(lat['p95'])} | {_ms(lat['p99'])} | {_ms(lat['max'])} | {_errors(s)} | "
                         f"{s['degraded']} | {REST_SLO_P99_MS[route]:g} ms |")
        lines.append("")
    return lines


def render_markdown(report: dict) -> str:
    meta, m = report["meta"], report["meta"]["machine"]
    plan = meta["plan"]
    lines = [
        "# movierec load test", "",
        f"Generated by `{meta['command']}` (`make load`) on {meta['started_at']}; wall time "
        f"{meta['wall_s']:.0f} s. Every figure here is in `reports/load.json`.", "",
        "## Setup", "",
        f"* **Machine**: {m['cpus']} vCPU ({m['cpu_model'] or 'unknown model'}), {m['memory_gb']} GB RAM, "
        f"{m['platform']}, Python {m['python']}, grpcio {m['grpcio']}. The cores are **shared**: the system under "
        "test (Redis, four gRPC tiers, a Celery worker, the gateway), the load generator and other people's jobs "
        f"all ran on them. Load average at start {meta['load_avg_start']}, at end {meta['load_avg_end']}; each run "
        "records its own.",
        f"* **Target**: {meta['targets']['origin']}. Index `{meta['index']['version']}` "
        f"({meta['index']['count']:,} movies × 384, flat inner product).",
        f"* **Plan**: closed loop at concurrency {', '.join(map(str, plan['concurrency']))} and one open-loop run "
        f"per gRPC scenario, each {plan['duration_s']:g} s after a {plan['warmup_s']:g} s warm-up; gateway journeys "
        f"at {', '.join(map(str, plan['rest_concurrency']))} concurrent users; deadline {plan['rpc_timeout_s']:g} s "
        f"per RPC, {plan['http_timeout_s']:g} s per HTTP call; hard limit {plan['max_total_s']:g} s for the whole "
        "plan. Only loopback targets are accepted.",
        "* **Load generator**: one Python process, grpc.aio (one HTTP/2 channel per tier, no retries) and httpx.",
        "",
    ]
    for note in meta.get("notes", []):
        lines.append(f"> Note: {note}")
    lines += _capacity_section(report)
    plots = report.get("plots", [])
    if plots:
        lines += ["## Plots", ""] + [f"![{name}]({name})" for name in plots] + [""]
    lines += _grpc_tables(report) + _gateway_tables(report)
    return "\n".join(lines).rstrip() + "\n"


def write_reports(report: dict, out_dir: Path, plots: bool = True) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    report["capacity"] = {"grpc": grpc_capacity(report["grpc"]["runs"]),
                          "gateway": gateway_capacity(report["gateway"]["levels"]) if report["gateway"]["levels"]
                          else None,
                          "design": design_checks(report)}
    report["plots"] = write_plots(report, out_dir) if plots else []
    json_path, md_path = out_dir / "load.json", out_dir / "load.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(render_markdown(report))
    return [json_path, md_path, *(out_dir / name for name in report["plots"])]
