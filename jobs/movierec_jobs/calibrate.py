"""Choose the blend weight ``a`` and fit the match-score calibration on held-out ml-latest-small data.

    python -m movierec_jobs.calibrate [--write]

**Alpha (leave-last-out).** Items with at least 5 ratings that have a vector. Each user's ratings
are ordered by (timestamp, movieId); the last one is the test item (never looked at here), the
one before it the validation item, the rest the training history. SeqEASE (the served model's
window/stride/λ/decay, from ``artifacts/seqease/current`` when present) is fitted on the training
histories only. Per user: taste vector = EMA (0.8 old / 0.2 new, as the profile tier does) over the
liked (≥ 4 stars) training movies in time order (mean of all training movies when none is liked);
candidates = the ranker's hybrid set: the top 100 unseen items by cosine (the retrieval stage) ∪
SeqEASE's top 100 unseen items; each ``a`` in the grid reranks them by ``a·cos + (1−a)·ŷ`` with
ŷ = SeqEASE. ``a`` maximizes NDCG@10 of the validation item (HR@10 reported too, with a bootstrap
interval over users and the paired difference against ``a = 1``, content only).

**Calibration (per-user temporal 80/20).** The last 20 % of each user's ratings are held out, the
models are refitted on the first 80 %, and ``P(rating ≥ 4)`` of each held-out movie is fitted by
logistic regression on the ordering score: ``final`` with ŷ = SeqEASE ("numeric-seq", the path of
every person with ratings), ``final`` with ŷ = the rating predictor ("numeric", the fallback for
people without ratings), and ``cos`` alone ("numeric-content"). So the match score is the chance
that the person rates the movie 4 stars or more if they watch it. Brier score, log loss, expected
calibration error and a reliability table are reported.

The served ``a`` is the evaluation's choice (``ranker_service/served_defaults.json``, written by
``python -m movierec_eval.select_served --write`` on validation through the ranker's request path);
the calibration is fitted for it. The alpha grid above stays in the report as a diagnostic (and is
the ``a`` used when no served default exists).

Writes ``reports/ranker-alpha.json``; ``--write`` also updates ``ranker_service/calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from movierec_core.index_artifact import load_index_artifact
from movierec_core.paths import REPO_ROOT
from ranker_service.scoring import CALIBRATION_FILE, LIKED_RATING, Calibration, ScoringParams
from ranker_service.sequence_model import CODE_VERSION as SEQUENCE_CODE_VERSION
from ranker_service.sequence_model import SeqEaseParams, SequenceModel
from ranker_service.settings import ServedDefaults

log = logging.getLogger("movierec.ranker.calibrate")

ALPHAS = tuple(round(a, 2) for a in np.linspace(0, 1, 21))
EMA_KEEP = 0.8
MIN_ITEM_RATINGS = 5
TOP_K = 10
REPORT = REPO_ROOT / "reports" / "ranker-alpha.json"
SERVED_SEQUENCE = REPO_ROOT / "artifacts" / "seqease" / "current"
COLLAB_CANDIDATES = 100


@dataclass
class Vectors:
    ids: np.ndarray
    matrix: np.ndarray
    row_of: dict[int, int]


def ema_taste(history: pd.DataFrame, vectors: Vectors) -> np.ndarray:
    """EMA of liked movies in time order; the mean of all rated movies when none is liked."""
    rows = [vectors.row_of[m] for m in history.movie_id]
    liked = [r for r, rating in zip(rows, history.rating, strict=True) if rating >= LIKED_RATING]
    if not liked:
        mean = vectors.matrix[rows].mean(axis=0)
        return mean / np.linalg.norm(mean)
    taste = vectors.matrix[liked[0]].astype(np.float64)
    for row in liked[1:]:
        taste = EMA_KEEP * taste + (1 - EMA_KEEP) * vectors.matrix[row]
        taste /= np.linalg.norm(taste)
    return taste


def leave_last_out(ratings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, one validation row per user); ties in time broken by movieId; last row dropped."""
    ordered = ratings.sort_values(["user_id", "timestamp", "movie_id"])
    position_from_end = ordered.groupby("user_id").cumcount(ascending=False)
    return ordered[position_from_end >= 2], ordered[position_from_end == 1]


def temporal_split(ratings: pd.DataFrame, held_out: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    ordered = ratings.sort_values(["user_id", "timestamp", "movie_id"])
    position = ordered.groupby("user_id").cumcount()
    size = ordered.groupby("user_id").movie_id.transform("size")
    cut = np.ceil(size * (1 - held_out)).astype(int)
    return ordered[position < cut], ordered[position >= cut]


def fold_in_scores(model, history: pd.DataFrame, movie_ids: list[int]) -> np.ndarray:
    state = model.fold_in(dict(zip(history.movie_id.astype(int), history.rating.astype(float), strict=True)))
    return np.asarray(model.predict_scaled(state, movie_ids), dtype=np.float64)


def fit_sequence(ratings: pd.DataFrame, params: SeqEaseParams) -> SequenceModel:
    ordered = ratings.sort_values(["user_id", "timestamp", "movie_id"], kind="mergesort")
    return SequenceModel.fit([g.to_numpy() for _, g in ordered.groupby("user_id").movie_id], params)


def sequence_scores(model: SequenceModel, history: pd.DataFrame, movie_ids) -> tuple[np.ndarray, object]:
    """ŷ for ``movie_ids`` from the history in time order (``history`` is already chronological)."""
    state = model.fold_in(history.movie_id.astype(int).tolist())
    return model.predict_scaled(state, movie_ids), state


def select_alpha(ratings: pd.DataFrame, vectors: Vectors, params: SeqEaseParams, candidates: int,
                 seed: int) -> dict:
    train, validation = leave_last_out(ratings)
    started = time.perf_counter()
    model = fit_sequence(train, params)
    fit_s = time.perf_counter() - started
    item_rows = np.array(sorted({vectors.row_of[m] for m in ratings.movie_id.unique()}))
    item_ids = vectors.ids[item_rows]
    gains = np.zeros((len(validation), len(ALPHAS)))
    hits = np.zeros_like(gains)
    recalled = 0
    by_user = dict(tuple(train.groupby("user_id")))
    for u, (user_id, target) in enumerate(zip(validation.user_id, validation.movie_id, strict=True)):
        history = by_user[user_id]
        taste = ema_taste(history, vectors)
        cos = vectors.matrix[item_rows] @ taste
        unseen = ~np.isin(item_ids, history.movie_id.to_numpy())
        cos[~unseen] = -np.inf
        yhat, state = sequence_scores(model, history, item_ids.tolist())
        collab = set(model.ranked_unseen(state, candidates))
        pool = np.union1d(np.argpartition(-cos, candidates)[:candidates],
                          np.flatnonzero(np.isin(item_ids, list(collab)) & unseen))
        pool_ids = item_ids[pool]
        if target not in set(pool_ids.tolist()):
            continue
        recalled += 1
        is_target = pool_ids == target
        for a, alpha in enumerate(ALPHAS):
            final = alpha * cos[pool] + (1 - alpha) * yhat[pool]
            rank = int((final > final[is_target][0]).sum())
            if rank < TOP_K:
                gains[u, a] = 1.0 / np.log2(rank + 2)
                hits[u, a] = 1.0
    best = int(np.argmax(gains.mean(axis=0)))
    content_only = ALPHAS.index(1.0)
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(validation), size=(1000, len(validation)))
    diff = gains[:, best] - gains[:, content_only]
    return {
        "alpha": float(ALPHAS[best]),
        "yhat": "SeqEASE " + json.dumps(params.describe()),
        "users": len(validation),
        "items": len(item_rows),
        "candidates": f"content top-{candidates} ∪ SeqEASE top-{candidates} (the ranker's hybrid candidates)",
        "recall_at_candidates": round(recalled / len(validation), 4),
        "sequence_fit_s": round(fit_s, 2),
        "grid": [{"alpha": float(alpha), "ndcg@10": round(float(gains[:, a].mean()), 5),
                  "hr@10": round(float(hits[:, a].mean()), 5)} for a, alpha in enumerate(ALPHAS)],
        "best_ndcg@10_ci95": _interval(gains[:, best], samples),
        "best_hr@10_ci95": _interval(hits[:, best], samples),
        "paired_ndcg@10_gain_vs_content_only": {"mean": round(float(diff.mean()), 5),
                                                 "ci95": _interval(diff, samples)},
    }


def _interval(values: np.ndarray, samples: np.ndarray) -> list[float]:
    means = values[samples].mean(axis=1)
    return [round(float(np.percentile(means, 2.5)), 5), round(float(np.percentile(means, 97.5)), 5)]


def fit_calibration(ratings: pd.DataFrame, vectors: Vectors, fit, params: SeqEaseParams,
                    alpha: float) -> tuple[dict, dict]:
    history_rows, held_out = temporal_split(ratings)
    model = fit(history_rows)
    sequence = fit_sequence(history_rows, params)
    by_user = dict(tuple(history_rows.groupby("user_id")))
    cos_all, yhat_all, seq_all, liked_all = [], [], [], []
    for user_id, future in held_out.groupby("user_id"):
        history = by_user[user_id]
        taste = ema_taste(history, vectors)
        movie_ids = future.movie_id.astype(int).tolist()
        cos_all.append(vectors.matrix[[vectors.row_of[m] for m in movie_ids]] @ taste)
        yhat_all.append(fold_in_scores(model, history, movie_ids))
        seq_all.append(sequence_scores(sequence, history, movie_ids)[0])
        liked_all.append(future.rating.to_numpy() >= LIKED_RATING)
    cos, yhat, liked = np.concatenate(cos_all), np.concatenate(yhat_all), np.concatenate(liked_all)
    seq = np.concatenate(seq_all)
    calibrations, evidence = {}, {"pairs": len(liked), "base_rate": round(float(liked.mean()), 4)}
    for name, score in (("numeric-seq", alpha * cos + (1 - alpha) * seq), ("numeric", alpha * cos + (1 - alpha) * yhat),
                        ("numeric-content", cos)):
        calibration = Calibration.fit(score, liked)
        calibrations[name] = calibration
        evidence[name] = calibration_quality(calibration.apply(score), liked) | {
            "slope": round(calibration.slope, 4), "intercept": round(calibration.intercept, 4)}
    return calibrations, evidence


def calibration_quality(probability: np.ndarray, liked: np.ndarray, bins: int = 10) -> dict:
    clipped = np.clip(probability, 1e-6, 1 - 1e-6)
    edges = np.quantile(probability, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, probability, side="right") - 1, 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            predicted, observed = float(probability[mask].mean()), float(liked[mask].mean())
            ece += mask.mean() * abs(predicted - observed)
            table.append({"predicted": round(predicted, 3), "observed": round(observed, 3), "n": int(mask.sum())})
    order = np.argsort(probability)
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    positives = liked.sum()
    auc = (ranks[liked].sum() - positives * (positives + 1) / 2) / (positives * (len(liked) - positives))
    return {"brier": round(float(np.mean((probability - liked) ** 2)), 5),
            "log_loss": round(float(-np.mean(liked * np.log(clipped) + (~liked) * np.log(1 - clipped))), 5),
            "ece": round(float(ece), 5), "auc": round(float(auc), 4),
            "match_score_range": [round(float(probability.min()), 3), round(float(probability.max()), 3)],
            "reliability": table}


def load_inputs(index_dir: Path | None, catalog_dir: Path | None) -> tuple[pd.DataFrame, Vectors, str]:
    from movierec_catalog import load_ratings

    index = load_index_artifact(index_dir)
    vectors = Vectors(index.movie_ids, index.vectors, index.row_of())
    ratings = load_ratings(catalog_dir)[["user_id", "movie_id", "rating", "timestamp"]]
    ratings = ratings[ratings.movie_id.isin(vectors.row_of)]
    counts = ratings.movie_id.value_counts()
    ratings = ratings[ratings.movie_id.isin(counts[counts >= MIN_ITEM_RATINGS].index)]
    ratings = ratings[ratings.groupby("user_id").movie_id.transform("size") >= 3]
    return ratings.reset_index(drop=True), vectors, index.version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=None, help="index artifact dir (default: current)")
    parser.add_argument("--catalog", type=Path, default=None, help="catalog dir (default: current)")
    parser.add_argument("--candidates", type=int, default=COLLAB_CANDIDATES)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument("--write", action="store_true", help=f"update {CALIBRATION_FILE.name}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from ranker_service.collaborative import CODE_VERSION, fit

    ratings, vectors, index_version = load_inputs(args.index, args.catalog)
    log.info("ratings: %d from %d users on %d items", len(ratings), ratings.user_id.nunique(),
             ratings.movie_id.nunique())
    params = SeqEaseParams.fitted_in(SERVED_SEQUENCE)  # the served SeqEASE's window/stride/λ/decay
    alpha = select_alpha(ratings, vectors, params, args.candidates, args.seed)
    log.info("content+SeqEASE alpha grid best: %.2f (NDCG@10 %s)", alpha["alpha"],
             next(g["ndcg@10"] for g in alpha["grid"] if g["alpha"] == alpha["alpha"]))
    # The served a is chosen by the evaluation through the ranker's request path (served_defaults.json);
    # the calibration is fitted for that a, so the match score describes what is served.
    served_alpha = ServedDefaults.load().alpha
    alpha["served_alpha"] = alpha["alpha"] if served_alpha is None else float(served_alpha)
    calibrations, evidence = fit_calibration(ratings, vectors, fit, params, alpha["served_alpha"])
    fitted_on = {"index_version": index_version, "collab_code_version": CODE_VERSION,
                 "sequence_code_version": SEQUENCE_CODE_VERSION, "sequence_params": params.describe(),
                 "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                 "evidence": str(args.report.relative_to(REPO_ROOT) if args.report.is_relative_to(REPO_ROOT)
                                 else args.report)}
    report = {"method": __doc__, "alpha_selection": alpha, "calibration": evidence, "fitted_on": fitted_on}
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"alpha": alpha["alpha"], "grid": alpha["grid"],
                      "calibration": {k: {m: v for m, v in e.items() if m != "reliability"}
                                      if isinstance(e, dict) else e for k, e in evidence.items()}}, indent=1))
    if args.write:
        ScoringParams(alpha["served_alpha"], calibrations, fitted_on).save()
        log.info("wrote %s", CALIBRATION_FILE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
