"""Choose the ranker's cold-start popularity prior β on INSPIRED dev through the chat, report it on test.

    python -m movierec_eval.select_popularity [--grid 0,0.1,0.2,0.3] [--limit N] [--write]

For each β of the grid the whole system is started as ``make up`` starts it with
``RANKER_POPULARITY_PRIOR=β`` and INSPIRED **dev** goes through ``POST /api/chat`` exactly as in
``make eval-dialogue`` (``dialogue_eval.inspired_recall``: every seeker utterance in order, a hit
when the movie the recommender names next is in the chat's top 10). **Rule:** the smallest β whose dev
hits are within ``NOISE_HITS`` (1) of the best β's — one target of ~130 is noise, and a smaller β departs
less from what the person said; then **test** is run
once with β = 0 and once with the winner, both reported. Test
never takes part in the choice. ``--write`` stores the winner in the ranker's ``served_defaults.json``.

Writes ``reports/popularity-prior.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from movierec_eval.dialogue_eval import ChatClient, inspired_recall, machine_load, start_system
from movierec_eval.raw_facts import default_root, load

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVED_DEFAULTS = REPO_ROOT / "services" / "ranker" / "ranker_service" / "served_defaults.json"


def run(beta: float, split: str, limit: int | None, facts) -> dict:
    """INSPIRED ``split`` through the chat of a fresh system whose ranker has ``β``."""
    stack, base_url = start_system({"RANKER_POPULARITY_PRIOR": str(beta)})
    client = ChatClient(base_url, 30.0)
    started = time.perf_counter()
    try:
        result = inspired_recall(client, facts, split, limit)
    finally:
        client.close()
        stack.stop()
    result["beta"] = beta
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps({k: result[k] for k in ("split", "beta", "recall@10", "hits", "targets", "failed_turns")}),
          file=sys.stderr)
    return result


NOISE_HITS = 1


def choose(dev: list[dict]) -> float:
    """The rule of the module docstring."""
    best = max(r["hits"] for r in dev)
    return min(r["beta"] for r in dev if r["hits"] >= best - NOISE_HITS)


def markdown(report: dict) -> str:
    lines = ["# Cold-start popularity prior β, chosen on INSPIRED dev through the chat", "",
             f"`{report['command']}` · {report['machine']} · {report['seconds']} s", "",
             "Protocol: eval/movierec_eval/select_popularity.py (the chat path of `make eval-dialogue`; "
             "β is the weight of `log(1 + MovieLens ratings)` for a person with no rated or picked movies, "
             "halved with one, and so on: services/ranker/ranker_service/scoring.py).", "",
             "| split | β | Recall@10 | hits / targets | shown cards alone | failed turns |",
             "|---|---|---|---|---|---|"]
    for row in [*report["dev"], *report["test"]]:
        lines.append(f"| {row['split']} | {row['beta']} | {row['recall@10']} | {row['hits']} / {row['targets']} | "
                     f"{row['recall@shown']} | {row['failed_turns']} |")
    lines += ["", f"Chosen on dev by the rule (the smallest β within {NOISE_HITS} hit of the best): "
              f"**β = {report['chosen']}**"
              + (" (written to served_defaults.json)." if report["written"] else " (not written).")]
    return "\n".join(lines) + "\n"


def write_served(beta: float, path: Path = SERVED_DEFAULTS) -> None:
    data = json.loads(path.read_text())
    data["popularity_prior"] = beta
    data["popularity_prior_selected_by"] = ("python -m movierec_eval.select_popularity --write "
                                            "(INSPIRED dev through the chat); evidence reports/popularity-prior.json")
    path.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="0,0.1,0.2,0.3", help="comma-separated β values in [0, 1]")
    parser.add_argument("--limit", type=int, default=None, help="first N dialogues of each split")
    parser.add_argument("--write", action="store_true", help="store the chosen β in served_defaults.json")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "popularity-prior")
    args = parser.parse_args(argv)
    try:
        grid = sorted({float(v) for v in args.grid.split(",") if v.strip()})
    except ValueError:
        parser.error(f"--grid must be numbers, got {args.grid!r}")
    if not grid or any(not 0 <= b <= 1 for b in grid):
        parser.error("--grid needs at least one β, each in [0, 1]")
    started = time.perf_counter()
    facts = load(default_root())
    dev = [run(beta, "dev", args.limit, facts) for beta in grid]
    chosen = choose(dev)
    test = [run(beta, "test", args.limit, facts) for beta in sorted({0.0, chosen})]
    report = {"command": "python -m movierec_eval.select_popularity " + " ".join(argv or sys.argv[1:]),
              "machine": f"{os.cpu_count()} CPUs, {machine_load()}", "seconds": round(time.perf_counter() - started),
              "grid": grid, "dev": dev, "test": test, "chosen": chosen, "written": args.write}
    if args.write:
        write_served(chosen)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    (args.out.parent / f"{args.out.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out.parent / f"{args.out.name}.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
