"""Evaluate and train the collaborative rating predictor: ``python -m movierec_jobs.train`` (``make train``).

Steps:

1. **Evaluation** on a random 80/20 split of the ratings (``numpy.random.default_rng(42)``
   permutation of the rows in file order; the first 20% are the test set). Hyperparameters are
   chosen on a validation set carved from the 80% only (10% of it, ``default_rng(43)``), never on
   the test 20%. Measured on the test set: global mean, user + item biases (regularization tuned
   on validation), biased MF (our ALS without the implicit prior) and ours — RMSE and MAE.
2. **Fold-in** (how app users are scored): 50 users (``default_rng(42)``) are removed from the
   training 80% entirely; the model is fitted without them; each is folded in from their
   training-part ratings and scored on their test-part ratings. Also: the same with only the
   first n (seeded shuffle) of their ratings, and the fold-in latency.
3. **Final model**: fitted on ALL ratings, saved to ``<out>/<key>/`` and pointed to by
   ``<out>/current`` (symlink swapped atomically). ``key`` = sha256 of the ratings file bytes +
   hyperparameters + code version; when ``<out>/<key>`` (or the shared cache
   ``$MOVIEREC_CACHE_DIR/collab/<key>``) already exists nothing is recomputed: ``current`` is
   repointed and the stored evaluation is written to the report again.

4. **SeqEASE** (the ranker's top-N signal, ``sequence_train.py``): λ and the input decay chosen
   on a leave-last-out validation item, then fitted on ALL ratings → ``<seqease-out>/<key>/`` +
   ``current`` (default ``artifacts/seqease``), cached in ``$MOVIEREC_CACHE_DIR/seqease`` the same way.

Every number in the report carries the protocol that produced it. The report goes to
``<out>/train.json`` (beside the artifacts, e.g. ``artifacts/collab/train.json``), so building
artifacts never rewrites a committed file; ``make eval`` quotes it in ``reports/eval.json``. The
80/20 split (:func:`random_split`, ``TEST_FRACTION``/``SPLIT_SEED``) is the one the evaluation's
rating section uses too.
"""

from __future__ import annotations

import os

# One BLAS thread unless told otherwise: the fit's matrices are small and threaded OpenBLAS is far
# slower on a busy machine. Only effective before numpy loads; fit() also caps it via threadpoolctl.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from movierec_core.hashing import sha256_file  # noqa: E402
from movierec_core.paths import REPO_ROOT  # noqa: E402
from movierec_jobs import sequence_train  # noqa: E402
from ranker_service.collaborative import (  # noqa: E402
    CODE_VERSION,
    CollaborativeModel,
    Hyperparameters,
    fit,
    validate_ratings_frame,
)

log = logging.getLogger("movierec.ranker.train")

# Bump when the evaluation protocol changes (the stored evaluation is part of the artifact).
EVAL_VERSION = "train-eval-2"

SPLIT_SEED = 42
TEST_FRACTION = 0.2
VALIDATION_SEED = 43
VALIDATION_FRACTION = 0.1
FOLD_IN_USERS = 50
FOLD_IN_SEED = 42
FOLD_IN_COUNTS = (0, 1, 3, 5, 10, 20, 50, 100)
KAPPA_SEED = 44
KAPPA_USERS = 100
KAPPA_GRID = (0.0, 2.0, 5.0, 10.0, 20.0, 40.0)
KAPPA_COUNTS = (1, 3, 5, 10, 20, 50, None)  # None = all of the user's ratings
LATENCY_RATINGS = 50
LATENCY_REPEATS = 20
LATENCY_CANDIDATES = 100

TARGET_RMSE = 0.84
ANCHORS = {
    "reference user+item biases": 0.8635,
    "reference biased MF": 0.8477,
    "IJRASET ALS": 0.8723,
}
BIAS_REG_GRID = ((1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (5.0, 5.0), (10.0, 10.0), (2.0, 5.0), (5.0, 2.0),
                 (5.0, 10.0), (10.0, 5.0), (15.0, 5.0))
# --tune: the defaults and one-at-a-time moves around them (coordinate search on validation). A move
# must beat the defaults by more than TUNE_MIN_GAIN validation RMSE (noise level here) to be adopted.
TUNE_MIN_GAIN = 0.0005
TUNE_MOVES: tuple[dict[str, Any], ...] = (
    {},
    {"factors": 30}, {"factors": 100},
    {"reg": 1.5}, {"reg": 3.0},
    {"reg_exponent": 0.3}, {"reg_exponent": 0.5},
    {"reg_implicit": 2.0}, {"reg_implicit": 8.0}, {"implicit": False},
    {"reg_bias_user": 2.0, "reg_bias_item": 2.0}, {"reg_bias_user": 10.0}, {"reg_bias_item": 10.0},
    {"iterations": 30},
)


# ---------------------------------------------------------------------------------------------
# paths and data


def default_ratings_path() -> Path:
    data = Path(os.environ.get("MOVIEREC_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    return data / "ml-latest-small" / "ratings.csv"


def default_out_dir() -> Path:
    return Path(os.environ.get("MOVIEREC_ARTIFACTS_DIR", REPO_ROOT / "artifacts")) / "collab"


def cache_root() -> Path:
    return Path(os.environ.get("MOVIEREC_CACHE_DIR", Path.home() / ".cache" / "movierec")) / "collab"


def default_seqease_dir() -> Path:
    return Path(os.environ.get("MOVIEREC_ARTIFACTS_DIR", REPO_ROOT / "artifacts")) / "seqease"


def load_ratings(path: Path) -> pd.DataFrame:
    """CSV or Parquet; MovieLens column names (userId, movieId) are accepted. Validated, file order kept."""
    if not path.is_file():
        raise FileNotFoundError(f"ratings file not found: {path} (set MOVIEREC_DATA_DIR or pass --ratings)")
    df = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    df = df.rename(columns={"userId": "user_id", "movieId": "movie_id"})
    return validate_ratings_frame(df)




def artifact_key(ratings_sha256: str, hp: Hyperparameters) -> str:
    h = hashlib.sha256()
    h.update(ratings_sha256.encode())
    h.update(json.dumps(hp.as_dict(), sort_keys=True).encode())
    h.update(f"{CODE_VERSION}|{EVAL_VERSION}".encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# evaluation


def random_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held) row positions: the first ``round(fraction·n)`` of a seeded permutation are held."""
    perm = np.random.default_rng(seed).permutation(n)
    held = round(fraction * n)
    return np.sort(perm[held:]), np.sort(perm[:held])


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    e = np.asarray(p, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return {"rmse": round(float(np.sqrt(np.mean(e**2))), 5), "mae": round(float(np.mean(np.abs(e))), 5)}


def timed_fit(df: pd.DataFrame, hp: Hyperparameters, **override: Any) -> tuple[CollaborativeModel, float]:
    started = time.perf_counter()
    model = fit(df, **{**hp.as_dict(), **override})
    return model, round(time.perf_counter() - started, 3)


def bias_only(hp: Hyperparameters, reg_user: float, reg_item: float) -> dict[str, Any]:
    return {"factors": 0, "implicit": False, "reg_bias_user": reg_user, "reg_bias_item": reg_item,
            "iterations": 10, "seed": hp.seed, "blend_kappa": 0.0}


class FoldInSet:
    """Users held out of a training part: fold each in from (a prefix of) their training-part ratings
    and score on their test-part ratings."""

    def __init__(self, train: pd.DataFrame, test: pd.DataFrame, n_users: int, seed: int) -> None:
        eligible = np.intersect1d(train.user_id.unique(), test.user_id.unique())
        self.users = np.sort(np.random.default_rng(seed).choice(eligible, size=min(n_users, len(eligible)),
                                                                replace=False))
        held = train.user_id.isin(self.users)
        self.rest = train[~held]
        self.fold_part = train[held]
        self.score_part = test[test.user_id.isin(self.users)]
        # each user's fold-in ratings in a seeded random order: "the first n" is a random n of them
        self.fold_lists: dict[int, tuple[list[int], list[float]]] = {}
        for u, g in self.fold_part.groupby("user_id"):
            order = np.random.default_rng([seed, int(u)]).permutation(len(g))
            self.fold_lists[u] = (g.movie_id.to_numpy()[order].tolist(), g.rating.to_numpy(float)[order].tolist())
        self.score_arrays = {u: (g.movie_id.to_numpy(), g.rating.to_numpy(float))
                             for u, g in self.score_part.groupby("user_id")}

    def ratings(self, user: int, n: int | None) -> dict[int, float]:
        movies, values = self.fold_lists[user]
        return dict(zip(movies[:n], values[:n], strict=True))

    def predict(self, model: CollaborativeModel, n: int | None) -> tuple[np.ndarray, np.ndarray]:
        ys, ps = [], []
        for u in self.users:
            state = model.fold_in(self.ratings(u, n))
            movies, values = self.score_arrays[u]
            ys.append(values)
            ps.append(model.predict(state, movies))
        return np.concatenate(ys), np.concatenate(ps)

    def rmse(self, model: CollaborativeModel, n: int | None) -> float:
        return scores(*self.predict(model, n))["rmse"]


def choose_fold_in(sub: pd.DataFrame, val: pd.DataFrame, hp: Hyperparameters) -> dict[str, Any]:
    """The blend κ and the implicit prior's intercept, chosen for people folded in from few ratings —
    on the train part only (users held out of the validation fit part, scored on validation)."""
    users = FoldInSet(sub, val, KAPPA_USERS, KAPPA_SEED)
    grid = []
    fit_seconds = {}
    for intercept in (True, False):
        model, fit_seconds[str(intercept)] = timed_fit(users.rest, hp, implicit_intercept=intercept)
        for kappa in KAPPA_GRID:
            m = model.with_blend_kappa(kappa)
            curve = {("all" if n is None else str(n)): users.rmse(m, n) for n in KAPPA_COUNTS}
            grid.append({"implicit_intercept": intercept, "blend_kappa": kappa,
                         "mean_rmse": round(float(np.mean(list(curve.values()))), 5),
                         "rmse_by_ratings_folded_in": curve})
    best = min(grid, key=lambda g: g["mean_rmse"])
    return {"protocol": f"{len(users.users)} users drawn with default_rng({KAPPA_SEED}) from the validation fit part "
                        f"are removed from it; the model is fitted on the rest ({len(users.rest)} ratings; seconds "
                        f"by intercept: {fit_seconds}); each user is folded in from a random n of their fit-part "
                        f"ratings (n in {[('all' if n is None else n) for n in KAPPA_COUNTS]}) and scored on their "
                        "validation ratings; the (implicit_intercept, blend_kappa) minimizing the mean RMSE over "
                        "those n wins",
            "grid": grid, "chosen": {"implicit_intercept": best["implicit_intercept"],
                                     "blend_kappa": best["blend_kappa"]}}


def evaluate(df: pd.DataFrame, hp: Hyperparameters, tune: bool) -> tuple[dict[str, Any], Hyperparameters]:
    """The evaluation part of the report, and the hyperparameters to use (tuned when ``tune``)."""
    started = time.perf_counter()
    train_pos, test_pos = random_split(len(df), TEST_FRACTION, SPLIT_SEED)
    train, test = df.iloc[train_pos], df.iloc[test_pos]
    fit_pos, val_pos = random_split(len(train), VALIDATION_FRACTION, VALIDATION_SEED)
    sub, val = train.iloc[fit_pos], train.iloc[val_pos]
    y_val, y_test = val.rating.to_numpy(float), test.rating.to_numpy(float)
    split_protocol = (f"ratings shuffled with numpy.random.default_rng({SPLIT_SEED}).permutation over the file's rows; "
                      f"first {TEST_FRACTION:.0%} = test ({len(test)}), rest = train ({len(train)})")
    val_protocol = (f"validation = {VALIDATION_FRACTION:.0%} of the train part (default_rng({VALIDATION_SEED}) "
                    f"permutation; {len(val)} ratings), models fitted on the other {len(sub)}; the test part is "
                    "never used for any choice")

    # -- validation: bias regularization (always), MF hyperparameters (with --tune) ---------------
    log.info("validation: biases grid")
    bias_grid = []
    for reg_u, reg_i in BIAS_REG_GRID:
        model, secs = timed_fit(sub, hp, **bias_only(hp, reg_u, reg_i))
        pred = model.predict_pairs(val.user_id.to_numpy(), val.movie_id.to_numpy())
        bias_grid.append({"reg_bias_user": reg_u, "reg_bias_item": reg_i, **scores(y_val, pred)})
    best_bias = min(bias_grid, key=lambda g: g["rmse"])

    def validate(h: Hyperparameters) -> dict[str, Any]:
        model, secs = timed_fit(sub, h)
        pred = model.predict_pairs(val.user_id.to_numpy(), val.movie_id.to_numpy())
        return {**scores(y_val, pred), "fit_seconds": secs}

    selection: dict[str, Any]
    if tune:
        hp = replace(hp, base_reg_bias_user=best_bias["reg_bias_user"], base_reg_bias_item=best_bias["reg_bias_item"])
        grid = []
        for move in TUNE_MOVES:
            h = replace(hp, **move)
            log.info("validation: %s", move or "defaults")
            grid.append({"change": move, **validate(h), "hyperparameters": h.as_dict()})
        best = min(grid, key=lambda g: g["rmse"])
        if best["rmse"] > grid[0]["rmse"] - TUNE_MIN_GAIN:  # within noise of the defaults: keep them
            best = grid[0]
        hp = Hyperparameters(**best["hyperparameters"])
        log.info("validation: blend κ and prior intercept on folded-in users")
        fold_choice = choose_fold_in(sub, val, hp)
        before = hp
        hp = replace(hp, **fold_choice["chosen"])
        selection = {"method": "--tune: (1) the defaults and one-at-a-time changes around them, fitted on the "
                               "validation fit part and scored on validation; the lowest validation RMSE wins if it "
                               f"beats the defaults by more than {TUNE_MIN_GAIN} (else the defaults stay); (2) the "
                               "blend κ and the implicit prior's intercept on users folded in from few ratings "
                               "(fold_in_choice below)",
                     "chosen_change": best["change"],
                     "grid": [{k: v for k, v in g.items() if k != "hyperparameters"} for g in grid],
                     "fold_in_choice": fold_choice}
        chosen_val = validate(hp) if hp != before else {k: best[k] for k in ("rmse", "mae", "fit_seconds")}
    else:
        log.info("validation: chosen hyperparameters")
        chosen_val = validate(hp)
        selection = {"method": "given hyperparameters (collaborative.Hyperparameters defaults unless overridden); "
                               "the defaults were selected by `python -m movierec_jobs.train --tune` on this same "
                               "validation split"}

    # -- test --------------------------------------------------------------------------------------
    models = []

    def add(name: str, description: str, pred: np.ndarray, secs: float | None, **extra: Any) -> None:
        models.append({"name": name, "description": description, **scores(y_test, pred), "fit_seconds": secs,
                       **extra})

    add("global mean", "mean train rating for every test rating", np.full(len(test), train.rating.mean()), 0.0)
    log.info("test: biases")
    bias_model, secs = timed_fit(train, hp, **bias_only(hp, best_bias["reg_bias_user"], best_bias["reg_bias_item"]))
    add("user+item biases", f"μ + b_u + b_i by alternating ridge, λ_bu={best_bias['reg_bias_user']}, "
        f"λ_bi={best_bias['reg_bias_item']} (chosen on validation)",
        bias_model.predict_pairs(test.user_id.to_numpy(), test.movie_id.to_numpy()), secs,
        anchor=ANCHORS["reference user+item biases"])
    log.info("test: biased MF (no implicit prior)")
    mf_model, secs = timed_fit(train, hp, implicit=False, blend_kappa=0.0)
    add("biased MF (ALS)", "our ALS with the same hyperparameters but without the implicit prior and without the "
        "blend with the biases model (ablation)",
        mf_model.predict_pairs(test.user_id.to_numpy(), test.movie_id.to_numpy()), secs,
        anchor=ANCHORS["reference biased MF"])
    log.info("test: ours")
    ours, secs = timed_fit(train, hp)
    ours_pred = ours.predict_pairs(test.user_id.to_numpy(), test.movie_id.to_numpy())
    add("ours: MF + implicit prior, blended with biases", "the shipped model (ALS), fitted on the train part",
        ours_pred, secs,
        train_rmse=ours.metrics.get("train_rmse"))
    ours_test = models[-1]

    # -- fold-in -----------------------------------------------------------------------------------
    fold_in = evaluate_fold_in(train, test, hp, best_bias, ours)

    report = {
        "protocol": {"split": split_protocol, "validation": val_protocol,
                     "metrics": "RMSE and MAE over individual ratings on the 0.5–5 scale; predictions clipped to "
                                "[0.5, 5]; a test movie absent from the training part gets the item-free "
                                "prediction μ + (the user's bias)"},
        "hyperparameter_selection": selection,
        "validation": {"protocol": val_protocol + "; with --tune the base model's λ⁰ is set to the best biases "
                                                  "regularization below", "bias_regularization_grid": bias_grid,
                       "chosen_bias_regularization": {k: best_bias[k] for k in ("reg_bias_user", "reg_bias_item")},
                       "chosen_hyperparameters": hp.as_dict(), "chosen": chosen_val},
        "test": {"protocol": split_protocol + "; every model fitted on the train part only", "n_train": len(train),
                 "n_test": len(test), "models": models},
        "fold_in": fold_in,
        "target": {"protocol": "docs/architecture.md §6: rating prediction RMSE on a random 80/20 split of "
                               "ml-latest-small",
                   "rmse_max": TARGET_RMSE, "ours_rmse": ours_test["rmse"],
                   "met": bool(ours_test["rmse"] <= TARGET_RMSE), "anchors": ANCHORS},
        "evaluation_seconds": round(time.perf_counter() - started, 2),
    }
    return report, hp


def evaluate_fold_in(train: pd.DataFrame, test: pd.DataFrame, hp: Hyperparameters, best_bias: dict[str, Any],
                     warm: CollaborativeModel) -> dict[str, Any]:
    users = FoldInSet(train, test, FOLD_IN_USERS, FOLD_IN_SEED)
    protocol = (f"{len(users.users)} users drawn with numpy.random.default_rng({FOLD_IN_SEED}).choice among users "
                "with train and test ratings; all their ratings removed from the train part; models fitted on the "
                f"remaining {len(users.rest)} ratings; each user folded in from their train-part ratings "
                f"({len(users.fold_part)} in all) and scored on their {len(users.score_part)} test-part ratings")
    log.info("fold-in: fitting without %d users", len(users.users))
    model, secs = timed_fit(users.rest, hp)
    mf_only = model.with_blend_kappa(0.0)
    bias_model, bias_secs = timed_fit(users.rest, hp, **bias_only(hp, best_bias["reg_bias_user"],
                                                                  best_bias["reg_bias_item"]))
    y, p_ours = users.predict(model, None)
    _, p_mf = users.predict(mf_only, None)
    _, p_bias = users.predict(bias_model, None)
    h_test = users.score_part
    warm_pred = warm.predict_pairs(h_test.user_id.to_numpy(), h_test.movie_id.to_numpy())
    results = [
        {"name": "global mean", "description": "mean rating of the fitting ratings",
         **scores(y, np.full(len(y), users.rest.rating.mean()))},
        {"name": "user+item biases, folded in", "description": "b_u by the ridge fold-in on item biases",
         **scores(y, p_bias), "fit_seconds": bias_secs},
        {"name": "ours MF part only (κ=0), folded in", "description": "ablation: no blend with the biases model",
         **scores(y, p_mf)},
        {"name": "ours, folded in", "description": "the shipped model's fold_in() on the train-part ratings",
         **scores(y, p_ours), "fit_seconds": secs},
        {"name": "ours, same users inside training (warm)",
         "description": "for comparison: the test-split model (these users were in its training data)",
         **scores(h_test.rating.to_numpy(float), warm_pred)},
    ]
    curve = [{"ratings_folded_in": n, "ours": users.rmse(model, n), "ours_mf_only": users.rmse(mf_only, n),
              "biases": users.rmse(bias_model, n)} for n in FOLD_IN_COUNTS]
    per_user = users.fold_part.groupby("user_id").size()

    # latency: fold_in of LATENCY_RATINGS ratings, and predict over LATENCY_CANDIDATES movies
    fold_ms, pred_ms = [], []
    candidates = np.random.default_rng(FOLD_IN_SEED).choice(model.movie_ids, LATENCY_CANDIDATES, replace=False)
    for u in users.users:
        ratings = users.ratings(u, LATENCY_RATINGS)
        for _ in range(LATENCY_REPEATS):
            t0 = time.perf_counter()
            state = model.fold_in(ratings)
            t1 = time.perf_counter()
            model.predict_scaled(state, candidates)
            t2 = time.perf_counter()
            fold_ms.append((t1 - t0) * 1e3)
            pred_ms.append((t2 - t1) * 1e3)
    return {
        "protocol": protocol,
        "n_users": len(users.users), "n_fold_in_ratings": len(users.fold_part), "n_test_ratings": len(h_test),
        "fold_in_ratings_per_user": {"min": int(per_user.min()), "median": float(per_user.median()),
                                     "max": int(per_user.max())},
        "results": results,
        "by_number_of_ratings": {
            "protocol": "the same users folded in from only a random n of their train-part ratings (seeded per "
                        "user; users with fewer use all), scored on all their test-part ratings; RMSE. Note: a few "
                        "heavy raters hold most test ratings, so the all-ratings figure above is dominated by them; "
                        "this curve is closer to app users, who arrive with a handful of ratings",
            "points": curve},
        "latency_ms": {
            "protocol": f"wall time in this process, {LATENCY_REPEATS} repeats × {len(users.users)} users: fold_in() "
                        f"of min({LATENCY_RATINGS}, available) ratings, and predict_scaled() over "
                        f"{LATENCY_CANDIDATES} movies",
            "fold_in_p50": round(float(np.percentile(fold_ms, 50)), 4),
            "fold_in_p99": round(float(np.percentile(fold_ms, 99)), 4),
            "predict_p50": round(float(np.percentile(pred_ms, 50)), 4),
            "predict_p99": round(float(np.percentile(pred_ms, 99)), 4)},
    }


# ---------------------------------------------------------------------------------------------
# artifacts


def point_current(out: Path, key: str) -> None:
    """``<out>/current`` → ``<key>`` (relative symlink), swapped atomically with a rename."""
    tmp = out / f".current.{os.getpid()}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(key, tmp)
    os.replace(tmp, out / "current")


def valid_artifact(path: Path) -> bool:
    try:
        CollaborativeModel.load(path)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring invalid artifact %s: %s", path, exc)
        return False
    return (path / "evaluation.json").is_file()


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def print_table(report: dict[str, Any], out: Path | None = None) -> None:
    rows = [(m["name"], m["rmse"], m["mae"], m.get("fit_seconds")) for m in report["test"]["models"]]
    fold = {r["name"]: r for r in report["fold_in"]["results"]}
    width = max(len(r[0]) for r in rows) + 2
    print(f"\n{'test (random 80/20)':<{width}} {'RMSE':>7} {'MAE':>7} {'fit s':>7}")
    for name, rmse, mae, secs in rows:
        print(f"{name:<{width}} {rmse:>7.4f} {mae:>7.4f} {'' if secs is None else f'{secs:7.2f}':>7}")
    f = fold["ours, folded in"]
    w = fold["ours, same users inside training (warm)"]
    lat = report["fold_in"]["latency_ms"]
    print(f"fold-in ({report['fold_in']['n_users']} new users): RMSE {f['rmse']:.4f} "
          f"(same users warm {w['rmse']:.4f}); fold_in p50 {lat['fold_in_p50']:.3f} ms")
    points = report["fold_in"]["by_number_of_ratings"]["points"]
    print("fold-in RMSE by ratings given:  " + "  ".join(f"{p['ratings_folded_in']:>6}" for p in points))
    for key, label in (("ours", "ours"), ("ours_mf_only", "MF part only (κ=0)"), ("biases", "biases")):
        print(f"  {label:<29}" + "  ".join(f"{p[key]:6.4f}" for p in points))
    t = report["target"]
    print(f"target RMSE ≤ {t['rmse_max']}: {'met' if t['met'] else 'NOT met'} ({t['ours_rmse']:.4f})")
    fm = report.get("final_model", {})
    if fm:
        where = out or fm.get("artifact")
        print(f"final model: {fm.get('n_ratings')} ratings, fit {fm.get('fit_seconds')} s → {where}")


# ---------------------------------------------------------------------------------------------
# main


def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.strip(), value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=Path, default=None,
                        help="ratings CSV or Parquet (default: $MOVIEREC_DATA_DIR/ml-latest-small/ratings.csv, "
                             "else <repo>/../shared/data/ml-latest-small/ratings.csv)")
    parser.add_argument("--out", type=Path, default=None,
                        help="artifact root (default: $MOVIEREC_ARTIFACTS_DIR/collab or <repo>/artifacts/collab)")
    parser.add_argument("--report", type=Path, default=None,
                        help="where the training report goes (default: <out>/train.json, beside the artifacts; "
                             "the committed reports/ are written only by `make eval` / `make bench`)")
    parser.add_argument("--tune", action="store_true", help="choose hyperparameters on the validation split first")
    parser.add_argument("--set", dest="overrides", type=parse_override, action="append", default=[],
                        metavar="NAME=VALUE", help="override a hyperparameter (repeatable), e.g. --set factors=30")
    parser.add_argument("--seqease-out", type=Path, default=None,
                        help="SeqEASE artifact root (default: $MOVIEREC_ARTIFACTS_DIR/seqease, else artifacts/seqease)")
    parser.add_argument("--force", action="store_true", help="recompute even when the artifact exists")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write $MOVIEREC_CACHE_DIR/collab")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    ratings_path = (args.ratings or default_ratings_path()).resolve()
    out = (args.out or default_out_dir()).resolve()
    args.report = args.report or out / "train.json"
    try:
        hp = Hyperparameters.from_kwargs(**{**Hyperparameters().as_dict(), **dict(args.overrides)})
        ratings_sha = sha256_file(ratings_path) if ratings_path.is_file() else None
        df = load_ratings(ratings_path)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    assert ratings_sha is not None
    out.mkdir(parents=True, exist_ok=True)

    def installed(key: str) -> Path | None:
        """``<out>/<key>`` when it holds a valid artifact (copied from the shared cache if needed)."""
        target = out / key[:16]
        if args.force:
            return None
        if not args.no_cache and not (target / "manifest.json").exists():
            cached = cache_root() / key[:16]
            if (cached / "manifest.json").exists() and valid_artifact(cached):
                log.info("installing cached artifact %s", cached)
                sequence_train.install_dir(cached, target)
        return target if (target / "manifest.json").exists() and valid_artifact(target) else None

    def finish(target: Path, report: dict[str, Any]) -> int:
        point_current(out, target.name)
        seq_cache = None if args.no_cache else cache_root().parent / "seqease"
        try:
            seq_dir = sequence_train.build(df, ratings_sha, (args.seqease_out or default_seqease_dir()).resolve(),
                                           seq_cache, args.force)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        seq_manifest = json.loads((seq_dir / "manifest.json").read_text())
        report = {**report, "seqease": {key: seq_manifest.get(key) for key in (
            "method", "protocol", "chosen", "validation_grid", "n_items", "fit_seconds", "key")}
            | {"artifact": str(seq_dir)}}
        write_json(args.report, report)
        print_table(report, target)
        return 0

    if not args.tune and (target := installed(artifact_key(ratings_sha, hp))):
        log.info("artifact %s exists: reused (current → %s); report rewritten from its evaluation.json",
                 target.name, target.name)
        return finish(target, json.loads((target / "evaluation.json").read_text()))
    started = time.perf_counter()
    try:
        evaluation, hp = evaluate(df, hp, args.tune)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    key = artifact_key(ratings_sha, hp)

    def build_report(final_model: dict[str, Any]) -> dict[str, Any]:
        return {
            "title": "movierec collaborative rating predictor ŷ(u, m): evaluation and training",
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "code_version": CODE_VERSION, "eval_version": EVAL_VERSION,
            "method": "biased matrix factorization whose user factors are shrunk towards an implicit-feedback prior "
                      "(which movies the user rated), fitted by ALS with weighted-λ and separate bias "
                      "regularization, blended with a user+item biases model by w = n/(n+κ) (n = the person's "
                      "ratings); new users are folded in by the exact ridge user step "
                      "(ranker_service/collaborative.py)",
            "data": {"path": str(ratings_path), "sha256": ratings_sha, "n_ratings": len(df),
                     "n_users": int(df.user_id.nunique()), "n_movies": int(df.movie_id.nunique())},
            "hyperparameters": hp.as_dict(),
            **evaluation,
            "final_model": final_model,
            "total_seconds": round(time.perf_counter() - started, 2),
        }

    if target := installed(key):  # --tune landed on an existing artifact: keep the model, store this evaluation
        report = build_report(json.loads((target / "evaluation.json").read_text())["final_model"])
        write_json(target / "evaluation.json", report)
        log.info("artifact %s exists: model reused, its evaluation.json replaced by this run's", target.name)
        return finish(target, report)

    log.info("final model: fitting on all %d ratings", len(df))
    final, secs = timed_fit(df, hp)
    report = build_report({"protocol": "fitted on ALL ratings with the chosen hyperparameters; this is the artifact "
                                       "the ranker loads", "artifact": str(out / key[:16]), "key": key,
                           "n_ratings": final.n_ratings, "fit_seconds": secs,
                           "train_rmse": final.metrics.get("train_rmse")})
    ours = report["test"]["models"][-1]
    fold = next(r for r in report["fold_in"]["results"] if r["name"] == "ours, folded in")
    final.metrics.update({
        "test_rmse": ours["rmse"], "test_mae": ours["mae"],
        "test_protocol": "model with these hyperparameters fitted on a random 80% (seed 42), scored on the other 20%",
        "fold_in_rmse": fold["rmse"], "fold_in_mae": fold["mae"], "fold_in_protocol": report["fold_in"]["protocol"],
        "baselines_test_rmse": {m["name"]: m["rmse"] for m in report["test"]["models"][:-1]},
        "evaluation": "evaluation.json",
    })
    final.metrics["ratings_file_sha256"] = ratings_sha
    tmp_dir = out / f".{key[:16]}.{os.getpid()}.tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    final.save(tmp_dir)
    write_json(tmp_dir / "evaluation.json", report)
    target = out / key[:16]
    if target.exists():  # --force, or an invalid leftover
        shutil.rmtree(target)
    os.rename(tmp_dir, target)
    if not args.no_cache:
        try:
            cached = cache_root() / key[:16]
            if not cached.exists():
                cached.parent.mkdir(parents=True, exist_ok=True)
                sequence_train.install_dir(target, cached)
        except OSError as exc:
            log.warning("could not write the shared cache: %s", exc)
    return finish(target, report)


if __name__ == "__main__":
    sys.exit(main())
