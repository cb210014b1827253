"""The regression guard's measurement: the served configuration on a fixed 5-core user subset.

    PYTHONPATH=eval .venv/bin/python -m movierec_eval.guard [--write]

Fixed subset: ``SAMPLE_USERS`` users of the 5-core split drawn with ``default_rng(SAMPLE_SEED)``, test
item, the live served configuration through the ranker's request path (``movierec_eval.served``).
``--write`` records the figures in ``tests/eval/served_guard.json``; ``tests/eval/test_quality_guard.py``
(in ``make test``) fails when the subset's HR@10 falls more than ``MAX_RELATIVE_DROP`` below it. Re-run
with ``--write`` after an intended change of the served configuration or models (and commit the file).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from movierec_core.paths import REPO_ROOT

GUARD_FILE = REPO_ROOT / "tests" / "eval" / "served_guard.json"
SAMPLE_USERS = 150
SAMPLE_SEED = 0
MAX_RELATIVE_DROP = 0.10


def measure(ratings, index, taste_constants, cold_start, store, params, config) -> dict:
    """HR@10/NDCG@10 of the served configuration and of popularity on the fixed subset, plus the outputs."""
    from movierec_eval import baselines, metrics, served, topn
    from movierec_eval.content import ItemVectors, taste_matrix
    from movierec_eval.data import k_core, leave_last_out

    split = leave_last_out(k_core(ratings, 5), "5core")
    vectors = ItemVectors.align(split.universe.item_ids, index.movie_ids, index.vectors)
    ctx = topn.Context(split, vectors, seed=7)
    users = np.sort(np.random.default_rng(SAMPLE_SEED).choice(split.universe.n_users, SAMPLE_USERS, replace=False))
    tastes = {"test": taste_matrix(split.history("test"), vectors, taste_constants, cold_start)}
    runner = served.ServedRunner(ctx, store, params, served.fit_sequence(split, config), tastes)
    run = runner.run(config, "test", users)
    popular = ctx.ranks("test", baselines.Popularity(ctx.train_matrix).score(ctx.inputs("test")))[users]
    summary = metrics.summarize(run["ranks"], 0, ("hr@10", "ndcg@10"))
    return {"users": len(users), "config": config.describe(), "hr@10": summary["hr@10"]["mean"],
            "ndcg@10": summary["ndcg@10"]["mean"],
            "popularity_hr@10": metrics.summarize(popular, 0, ("hr@10",))["hr@10"]["mean"],
            "_run": run, "_ctx": ctx}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m movierec_eval.guard", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"record the figures in {GUARD_FILE.name}")
    args = parser.parse_args(argv)
    from movierec_eval import served
    from movierec_eval.__main__ import Resources

    res = Resources(7)
    result = measure(res.ratings, res.index, res.taste, res.cold_start, *served.served_parts(), served.live_config())
    record = {k: v for k, v in result.items() if not k.startswith("_")}
    record |= {"sample_seed": SAMPLE_SEED, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
               "command": "PYTHONPATH=eval .venv/bin/python -m movierec_eval.guard --write"}
    print(json.dumps(record, indent=1))
    if args.write:
        GUARD_FILE.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
