"""How SeqEASE's fold-in should weigh a dislike: HR@10 / NDCG@10 for several dislike input weights.

    python bench/seqease_dislike.py [--weights 1,0,-0.25,-0.5,-1]

ml-latest-small, 5-core (users and movies with ≥ 5 ratings, iterated), leave-last-out by
(timestamp, movieId); SeqEASE fitted on the training histories with the served parameters (the
ranker's artifact manifest when present, else the defaults); each user's training ratings folded
in through ``SequenceModel.fold_in`` (the ranker's own code) with ``dislike_weight`` = each value;
full ranking over the movies the user has not rated. Reported for every test item and for the
liked ones (≥ 4 stars: what a recommendation should find). Writes reports/seqease-dislike.json.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from movierec_core.paths import REPO_ROOT
from ranker_service.sequence_model import SeqEaseParams, SequenceModel

RATINGS = Path("/work/shared/data/ml-latest-small/ratings.csv")
REPORT = REPO_ROOT / "reports" / "seqease-dislike.json"
TOP = 10


def five_core(ratings: pd.DataFrame) -> pd.DataFrame:
    while True:
        users = ratings.user_id.map(ratings.user_id.value_counts()) >= 5
        items = ratings.movie_id.map(ratings.movie_id.value_counts()) >= 5
        if (users & items).all():
            return ratings
        ratings = ratings[users & items]


def served_params() -> SeqEaseParams:
    manifest = REPO_ROOT / "artifacts" / "seqease" / "current" / "manifest.json"
    if manifest.exists():
        return SeqEaseParams(**json.loads(manifest.read_text())["params"])
    return SeqEaseParams()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratings", type=Path, default=RATINGS)
    parser.add_argument("--weights", default="1,0,-0.25,-0.5,-1")
    args = parser.parse_args()
    raw = pd.read_csv(args.ratings).rename(columns={"userId": "user_id", "movieId": "movie_id"})
    ratings = five_core(raw).sort_values(["user_id", "timestamp", "movie_id"])
    last = ratings.groupby("user_id").tail(1)
    train = ratings.drop(last.index)
    histories = {u: (g.movie_id.to_numpy(), g.rating.to_numpy()) for u, g in train.groupby("user_id")}
    params = served_params()
    started = time.perf_counter()
    model = SequenceModel.fit([ids for ids, _ in histories.values()], params)
    fit_s = time.perf_counter() - started
    rows = {}
    for weight in (float(w) for w in args.weights.split(",")):
        hits, gains, liked_hits, liked_n = [], [], [], 0
        for user, test in zip(last.user_id, zip(last.movie_id, last.rating, strict=True), strict=True):
            ids, stars = histories[user]
            state = model.fold_in(dict(zip(ids.tolist(), stars.tolist(), strict=True)), dislike_weight=weight)
            ranked = model.ranked_unseen(state, TOP)
            rank = ranked.index(test[0]) if test[0] in ranked else None
            hits.append(rank is not None)
            gains.append(0.0 if rank is None else 1.0 / math.log2(rank + 2))
            if test[1] >= 4.0:
                liked_n += 1
                liked_hits.append(rank is not None)
        rows[str(weight)] = {"hr@10": round(float(np.mean(hits)), 4), "ndcg@10": round(float(np.mean(gains)), 4),
                             "hr@10_liked_test": round(float(np.mean(liked_hits)), 4), "liked_test_users": liked_n}
        print(weight, rows[str(weight)], flush=True)
    report = {"users": int(last.user_id.nunique()), "items": int(ratings.movie_id.nunique()),
              "params": params.describe(), "fit_s": round(fit_s, 1), "by_dislike_weight": rows,
              "users_with_a_dislike": int((train.rating <= 2.5).groupby(train.user_id).any().sum())}
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
