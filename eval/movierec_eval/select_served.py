"""Choose the ranker's served defaults (a, MMR λ, hybrid candidate count, quality prior γ) on VALIDATION,
through the ranker's own request path (``movierec_eval.served``).

    PYTHONPATH=eval .venv/bin/python -m movierec_eval.select_served [--write] [--variants full,5core]
        [--alphas 0.3,0.4,...] [--lambdas 0.7,0.85,1] [--collab 100,200] [--qualities 0,0.1,0.2] [--every 1]

Every configuration of the grid (the rest — retrieval k, candidates_only, SeqEASE — stays as served)
ranks each user's **validation** item (the test item is never looked at) on every variant.
**Selection rule:** score = mean over the variants of validation NDCG@10; among the configurations
within ``TOLERANCE`` (2 %, relative) of the best score, the lowest MMR λ (the most diverse lists) wins,
then the higher score. ``--write`` stores the choice in ``ranker_service/served_defaults.json`` (what
``RankerSettings`` reads; select_popularity's β is kept) and refits nothing else: run
``make calibrate-ranker`` afterwards so the match-score calibration is fitted for the chosen ``a``. The
grid and the choice go to ``reports/served-selection.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from movierec_core.paths import REPO_ROOT

TOLERANCE = 0.02
log = logging.getLogger("movierec.eval.select")


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m movierec_eval.select_served", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="full,5core")
    parser.add_argument("--alphas", type=floats, default=floats("0.3,0.4,0.5,0.6,0.7"))
    parser.add_argument("--lambdas", type=floats, default=floats("0.7,0.85,1.0"))
    parser.add_argument("--collab", type=lambda t: [int(v) for v in t.split(",")], default=[100, 200])
    parser.add_argument("--qualities", type=floats, default=floats("0,0.1,0.2"), help="γ of the quality prior")
    parser.add_argument("--every", type=int, default=1, help="use every n-th user (development subsets)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write", action="store_true", help="update ranker_service/served_defaults.json")
    parser.add_argument("--report", type=Path, default=REPO_ROOT / "reports" / "served-selection.json")
    return parser.parse_args(argv)


def choose(grid: list[dict]) -> dict:
    """The selection rule of the module docstring."""
    best = max(row["score"] for row in grid)
    close = [row for row in grid if row["score"] >= (1 - TOLERANCE) * best]
    return min(close, key=lambda row: (row["config"]["mmr_lambda"], -row["score"]))


def evaluate(runners: dict, live, args: argparse.Namespace, config: dict) -> dict:
    """One grid row: the configuration's validation figures per variant and its score."""
    from movierec_eval import served

    row = {"config": config}
    for variant, runner in runners.items():
        users = np.arange(0, runner.ctx.split.universe.n_users, args.every)
        run = runner.run(live.but(**config), "validation", users)
        row[variant] = {**served.summarize_run(run, args.seed), **runner.list_quality(run, "validation")}
    row["score"] = round(float(np.mean([row[v]["ndcg@10"]["mean"] for v in runners])), 5)
    log.info("%s score %.4f", row["config"], row["score"])
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    from movierec_eval import served, topn
    from movierec_eval.__main__ import Resources
    from ranker_service.settings import SERVED_DEFAULTS_FILE

    res = Resources(args.seed)
    live = served.live_config()
    store, params = served.served_parts()
    runners = {}
    for variant in args.variants.split(","):
        ctx, tastes = topn.variant_context(res.ratings, variant, res.index, res.taste, res.cold_start, args.seed)
        runners[variant] = served.ServedRunner(ctx, store, params, served.fit_sequence(ctx.split, live), tastes)
    grid = []
    for alpha in args.alphas:
        for mmr_lambda in args.lambdas:
            for collab in args.collab:
                for quality in args.qualities:
                    grid.append(evaluate(runners, live, args, {"alpha": alpha, "mmr_lambda": mmr_lambda,
                                                               "collab_candidates": collab, "quality_prior": quality}))
    chosen = choose(grid)
    command = " ".join(argv if argv is not None else sys.argv[1:])
    report = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), "method": __doc__.strip(),
              "command": f"python -m movierec_eval.select_served {command}".strip(),
              "live_before": live.describe(), "users_every": args.every, "tolerance": TOLERANCE,
              "chosen": chosen, "grid": grid}
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(chosen, indent=1))
    if args.write:
        evidence = args.report.relative_to(REPO_ROOT) if args.report.is_relative_to(REPO_ROOT) else args.report
        kept = json.loads(SERVED_DEFAULTS_FILE.read_text()) if SERVED_DEFAULTS_FILE.exists() else {}
        kept = {k: v for k, v in kept.items() if k.startswith("popularity_prior")}  # select_popularity's choice
        SERVED_DEFAULTS_FILE.write_text(json.dumps({
            **kept, **chosen["config"], "selected_by": "python -m movierec_eval.select_served --write (validation, "
                                              f"rule in its docstring); evidence {evidence}",
            "selected_at": report["created_at"], "validation_score": chosen["score"]}, indent=2) + "\n")
        log.info("wrote %s; run `make calibrate-ranker` to refit the calibration for a = %s",
                 SERVED_DEFAULTS_FILE, chosen["config"]["alpha"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
