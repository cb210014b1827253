"""Maturity estimates: ``python -m movierec_catalog.maturity`` (``make maturity``, part of ``make train``).

Only about 27% of catalog movies have an official MPAA certification, almost all released before
2001. This job trains a calibrated classifier on those movies and writes, for every movie WITHOUT
one, the most likely certification, its calibrated probability, and two bounds that the opt-in
Filter uses (see ``filter.py``): ``certification_estimate_max`` (the smallest c with
P(cert ≤ c) ≥ τ) and ``certification_estimate_min`` (the largest f with P(cert ≥ f) ≥ τ).

Protocol (every number in ``reports/maturity.{json,md}`` comes from it):

1. Features for all catalog movies, without labels: genres, TMDB keywords and MovieLens tags
   (binary, kept when at least 5 / 3 movies have them), year (scaled, decade one-hot) and the
   movie vector of the built index artifact (``artifacts/index/current``; without one, TF-IDF of
   the overview instead, and the report says so).
2. Model: multinomial logistic regression, calibrated with ``CalibratedClassifierCV`` (sigmoid,
   3 folds). Its C is chosen by inner 3-fold log loss on the training part only.
3. Evaluation: 5-fold stratified cross-validation (seed 42) gives out-of-fold probabilities for
   every labelled movie: accuracy (overall and by decade), log loss, confusion matrix, the
   under-estimation rate (predicts a milder certification than the truth), calibration tables.
4. τ: the smallest value of a grid such that, among movies admitted under each cap (G, PG,
   PG-13, R) and each floor (PG, PG-13, R, NC-17), at most 1% break it. The reported held-out
   rates are honest: the τ applied to fold k is chosen on the other folds' predictions only.
   The τ written to the artifact is chosen on all out-of-fold predictions.
5. Final model on all labelled movies; estimates for the unlabelled ones.

The artifact (``estimates.py``) is keyed by a hash of the catalog, the index, the code version
and the settings; an existing key is reused (``current`` repointed, report rewritten from the
stored manifest), also from the cache ``$MOVIEREC_CACHE_DIR/maturity``.
"""

from __future__ import annotations

import os

# One BLAS thread: the matrices are small and the machine is shared (only effective before numpy loads).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from itertools import pairwise  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.stats import beta  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from movierec_core.hashing import sha256_file  # noqa: E402

from .assemble import MPAA  # noqa: E402
from .build import point_current  # noqa: E402
from .catalog import load_catalog  # noqa: E402
from .estimates import ESTIMATES_FILE, ESTIMATES_SCHEMA, MANIFEST_FILE, default_maturity_root  # noqa: E402

log = logging.getLogger("movierec_catalog.maturity")

MATURITY_VERSION = "2"
SEED = 42
OUTER_FOLDS = 5
INNER_FOLDS = 3
CALIBRATION_FOLDS = 3
C_GRID = (0.1, 0.3, 1.0)
TARGET_BREAK_RATE = 0.01  # what the held-out break rate of every cap and floor must stay under
# τ is chosen where the break rate on the selection data is at most this: half the target, as the
# choice itself is noisy (the rate at the chosen τ on folds NOT used for choosing it is reported).
SELECTION_BREAK_RATE = 0.005
TAU_GRID = (*(round(float(t), 3) for t in np.arange(0.5, 0.999, 0.005)), 0.999)
KEYWORD_MIN_MOVIES, TAG_MIN_MOVIES = 5, 3
CAPS = MPAA[:-1]  # a cap of NC-17 admits everything
FLOORS = MPAA[1:]  # a floor of G admits everything
PLOT_FILE = "maturity_calibration.png"


# --- features ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Features:
    matrix: sp.csr_matrix  # one row per catalog movie, in catalog order
    movie_ids: np.ndarray
    blocks: dict[str, int]  # block name -> number of columns
    text_source: str  # "index <version> (<model>)" or "tf-idf of the overview (no index artifact)"
    index_version: str | None


def _label_sets(values: pd.Series, min_movies: int) -> sp.csr_matrix:
    vectorizer = CountVectorizer(analyzer=lambda labels: list(labels), min_df=min_movies, binary=True)
    try:
        return vectorizer.fit_transform(values.map(lambda v: [str(x).lower() for x in (v or [])])).tocsr()
    except ValueError:  # no label kept at all (tiny catalogs)
        return sp.csr_matrix((len(values), 0))


def _year_block(years: pd.Series) -> sp.csr_matrix:
    year = pd.to_numeric(years, errors="coerce")
    known = year.notna().to_numpy()
    filled = year.fillna(year.median() if known.any() else 1990).to_numpy(dtype=float)
    decades = np.clip((filled // 10 * 10).astype(int), 1910, 2010)
    one_hot = (decades[:, None] == np.arange(1910, 2020, 10)[None, :]).astype(float)
    scaled = ((filled - 1990.0) / 20.0)[:, None]
    before_pg13 = (filled < 1984)[:, None].astype(float)  # the MPAA introduced PG-13 in July 1984
    return sp.csr_matrix(np.hstack([scaled, one_hot, before_pg13, (~known)[:, None].astype(float)]))


def _text_block(movies: pd.DataFrame, index_dir: Path | None) -> tuple[sp.csr_matrix, str, str | None]:
    """The movie vectors of the index artifact, aligned by movie id; TF-IDF of the overview without one."""
    if index_dir is not None:
        from movierec_core.index_artifact import ArtifactError, load_index_artifact

        try:
            art = load_index_artifact(index_dir)
        except ArtifactError as exc:
            log.warning("no usable index artifact (%s); using TF-IDF of the overview instead", exc)
        else:
            rows = art.row_of()
            vectors = np.zeros((len(movies), art.dim + 1), dtype=np.float32)
            for i, mid in enumerate(movies["movie_id"].to_numpy()):
                row = rows.get(int(mid))
                if row is None:
                    vectors[i, -1] = 1.0  # no vector for this movie
                else:
                    vectors[i, :-1] = art.vectors[row]
            source = f"index {art.version} ({art.manifest.get('model')})"
            return sp.csr_matrix(vectors), source, art.version
    tfidf = TfidfVectorizer(min_df=3, max_features=5000, stop_words="english", sublinear_tf=True)
    matrix = tfidf.fit_transform(movies["overview"].fillna("").astype(str)).tocsr()
    return matrix, "tf-idf of the overview (no index artifact)", None


def build_features(movies: pd.DataFrame, index_dir: Path | None) -> Features:
    text, source, index_version = _text_block(movies, index_dir)
    blocks = {
        "genres": _label_sets(movies["genres"], 1),
        "keywords": _label_sets(movies["keywords"], KEYWORD_MIN_MOVIES),
        "tags": _label_sets(movies["tags"], TAG_MIN_MOVIES),
        "year": _year_block(movies["year"]),
        "text": text,
    }
    matrix = sp.hstack(list(blocks.values()), format="csr", dtype=np.float64)
    sizes = {name: int(block.shape[1]) for name, block in blocks.items()}
    return Features(matrix, movies["movie_id"].to_numpy(dtype=np.int64), sizes, source, index_version)


# --- model ----------------------------------------------------------------------------------------


def _logistic(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=3000)


def choose_c(x: sp.csr_matrix, y: np.ndarray, folds: int = INNER_FOLDS) -> float:
    """The C of C_GRID with the lowest inner cross-validated log loss (training rows only)."""
    splitter = StratifiedKFold(folds, shuffle=True, random_state=SEED)
    losses = {}
    for c in C_GRID:
        probs = np.zeros((len(y), len(MPAA)))
        for train, test in splitter.split(x, y):
            model = _logistic(c).fit(x[train], y[train])
            probs[np.ix_(test, model.classes_)] = model.predict_proba(x[test])
        losses[c] = log_loss(y, np.clip(probs, 1e-9, 1), labels=range(len(MPAA)))
    return min(losses, key=losses.get)


def fit_model(x: sp.csr_matrix, y: np.ndarray) -> tuple[CalibratedClassifierCV, float]:
    c = choose_c(x, y)
    model = CalibratedClassifierCV(_logistic(c), method="sigmoid", cv=CALIBRATION_FOLDS).fit(x, y)
    return model, c


def predict(model: CalibratedClassifierCV, x: sp.csr_matrix) -> np.ndarray:
    """Probabilities over all of MPAA (a class absent from training gets 0)."""
    out = np.zeros((x.shape[0], len(MPAA)))
    out[:, model.classes_] = model.predict_proba(x)
    return out


# --- bounds and τ ---------------------------------------------------------------------------------


def bounds(probs: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """(max index, min index): smallest c with P(≤c) ≥ τ, largest f with P(≥f) ≥ τ."""
    at_most = np.cumsum(probs, axis=1)
    at_most[:, -1] = 1.0
    at_least = np.cumsum(probs[:, ::-1], axis=1)[:, ::-1]
    at_least[:, 0] = 1.0
    upper = np.argmax(at_most >= tau - 1e-12, axis=1)
    lower = len(MPAA) - 1 - np.argmax((at_least >= tau - 1e-12)[:, ::-1], axis=1)
    return upper, lower


def break_counts(probs: np.ndarray, y: np.ndarray, tau: float) -> dict[str, tuple[int, int]]:
    """Limit ("max PG", "min R") -> (movies admitted by the estimate, of which break the limit)."""
    upper, lower = bounds(probs, tau)
    out = {}
    for c in CAPS:
        rank = MPAA.index(c)
        admitted = upper <= rank
        out[f"max {c}"] = (int(admitted.sum()), int((admitted & (y > rank)).sum()))
    for f in FLOORS:
        rank = MPAA.index(f)
        admitted = lower >= rank
        out[f"min {f}"] = (int(admitted.sum()), int((admitted & (y < rank)).sum()))
    return out


def choose_tau(probs: np.ndarray, y: np.ndarray, target: float = SELECTION_BREAK_RATE) -> float:
    """The smallest τ of TAU_GRID at which every cap and floor breaks for at most ``target`` of
    the movies it admits (the largest τ of the grid if none does)."""
    for tau in TAU_GRID:
        counts = break_counts(probs, y, tau)
        if all(broken <= target * admitted for admitted, broken in counts.values()):
            return tau
    return TAU_GRID[-1]


def upper_95(broken: int, admitted: int) -> float | None:
    """One-sided 95% Clopper–Pearson upper bound of a break rate."""
    if admitted == 0:
        return None
    return 1.0 if broken == admitted else float(beta.ppf(0.95, broken + 1, admitted - broken))


# --- evaluation -----------------------------------------------------------------------------------


def cross_validate(x: sp.csr_matrix, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Out-of-fold probabilities, the fold of each row, and per-fold settings."""
    probs, fold_of = np.zeros((len(y), len(MPAA))), np.zeros(len(y), dtype=int)
    folds = []
    for k, (train, test) in enumerate(StratifiedKFold(OUTER_FOLDS, shuffle=True, random_state=SEED).split(x, y)):
        started = time.perf_counter()
        model, c = fit_model(x[train], y[train])
        probs[test] = predict(model, x[test])
        fold_of[test] = k
        folds.append({"fold": k, "train": len(train), "test": len(test), "C": c,
                      "seconds": round(time.perf_counter() - started, 1)})
        log.info("fold %d: C=%s, accuracy %.3f (%.1f s)", k, c,
                 accuracy_score(y[test], probs[test].argmax(1)), time.perf_counter() - started)
    return probs, fold_of, folds


def held_out_breaks(probs: np.ndarray, y: np.ndarray, fold_of: np.ndarray, rows: np.ndarray | None = None) -> dict:
    """Break rates with τ chosen without the fold it is applied to, pooled over folds."""
    rows = np.ones(len(y), dtype=bool) if rows is None else rows
    pooled: dict[str, list[int]] = {}
    taus = []
    for k in range(OUTER_FOLDS):
        tau = choose_tau(probs[fold_of != k], y[fold_of != k])
        taus.append(tau)
        test = (fold_of == k) & rows
        for limit, (admitted, broken) in break_counts(probs[test], y[test], tau).items():
            acc = pooled.setdefault(limit, [0, 0])
            acc[0] += admitted
            acc[1] += broken
    return {
        "fold_taus": taus,
        "limits": {
            limit: {"admitted": a, "broken": b, "rate": round(b / a, 4) if a else None,
                    "upper_95": None if a == 0 else round(upper_95(b, a), 4)}
            for limit, (a, b) in pooled.items()
        },
    }


def calibration_table(probs: np.ndarray, y: np.ndarray, bins: int = 8) -> list[dict]:
    """Top-label reliability: per confidence bin, mean confidence vs share correct."""
    confidence, correct = probs.max(1), probs.argmax(1) == y
    edges = np.linspace(0.2, 1.0, bins + 1)
    rows = []
    for lo, hi in pairwise(edges):
        inside = (confidence >= lo) & ((confidence < hi) | (hi == 1.0))
        if inside.any():
            rows.append({"bin": f"{lo:.1f}–{hi:.1f}", "movies": int(inside.sum()),
                         "mean_confidence": round(float(confidence[inside].mean()), 3),
                         "accuracy": round(float(correct[inside].mean()), 3)})
    return rows


def cumulative_calibration(probs: np.ndarray, y: np.ndarray, bins: int = 5) -> dict[str, list[dict]]:
    """For each cap c: predicted P(cert ≤ c) in bins vs the observed share with cert ≤ c."""
    out = {}
    at_most = np.cumsum(probs, axis=1)
    edges = np.linspace(0, 1, bins + 1)
    for c in CAPS:
        rank = MPAA.index(c)
        p, hit = at_most[:, rank], y <= rank
        rows = []
        for lo, hi in pairwise(edges):
            inside = (p >= lo) & ((p < hi) | (hi == 1.0))
            if inside.any():
                rows.append({"bin": f"{lo:.1f}–{hi:.1f}", "movies": int(inside.sum()),
                             "predicted": round(float(p[inside].mean()), 3),
                             "observed": round(float(hit[inside].mean()), 3)})
        out[c] = rows
    return out


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    confidence, correct = probs.max(1), probs.argmax(1) == y
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    return float(sum(abs(confidence[which == b].mean() - correct[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


def by_decade(probs: np.ndarray, y: np.ndarray, years: np.ndarray) -> list[dict]:
    decade = np.where(np.isnan(years), -1, years // 10 * 10).astype(int)
    pred = probs.argmax(1)
    rows = []
    for d in sorted(set(decade)):
        inside = decade == d
        rows.append({"decade": "unknown" if d < 0 else f"{d}s", "movies": int(inside.sum()),
                     "accuracy": round(float((pred[inside] == y[inside]).mean()), 3),
                     "under_estimated": round(float((pred[inside] < y[inside]).mean()), 3)})
    return rows


def evaluate(probs: np.ndarray, y: np.ndarray, fold_of: np.ndarray, years: np.ndarray) -> dict:
    pred = probs.argmax(1)
    majority = np.bincount(y, minlength=len(MPAA)).argmax()
    severe_truth = y >= MPAA.index("R")
    recent = ~np.isnan(years) & (years >= 2000)
    return {
        "labelled_movies": len(y),
        "label_counts": {c: int((y == i).sum()) for i, c in enumerate(MPAA)},
        "accuracy": round(accuracy_score(y, pred), 4),
        "within_one_level": round(float((np.abs(pred - y) <= 1).mean()), 4),
        "majority_baseline_accuracy": round(float((y == majority).mean()), 4),
        "majority_class": MPAA[majority],
        "log_loss": round(log_loss(y, np.clip(probs, 1e-12, 1), labels=range(len(MPAA))), 4),
        "expected_calibration_error": round(expected_calibration_error(probs, y), 4),
        "under_estimation_rate": round(float((pred < y).mean()), 4),
        "over_estimation_rate": round(float((pred > y).mean()), 4),
        "says_pg_or_milder_when_r_or_stricter": round(float((pred[severe_truth] <= MPAA.index("PG")).mean()), 4),
        "says_pg13_or_milder_when_r_or_stricter": round(float((pred[severe_truth] <= MPAA.index("PG-13")).mean()), 4),
        "confusion_matrix": {"rows_truth_cols_predicted": list(MPAA),
                             "counts": confusion_matrix(y, pred, labels=range(len(MPAA))).tolist()},
        "by_decade": by_decade(probs, y, years),
        "calibration_top_label": calibration_table(probs, y),
        "calibration_cumulative": cumulative_calibration(probs, y),
        "held_out_breaks": held_out_breaks(probs, y, fold_of),
        "held_out_breaks_2000_and_later": held_out_breaks(probs, y, fold_of, recent),
    }


def plot_calibration(metrics: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    top = metrics["calibration_top_label"]
    left.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    left.plot([r["mean_confidence"] for r in top], [r["accuracy"] for r in top], "o-", label="most likely label")
    left.set(xlabel="predicted probability", ylabel="observed share correct", title="Top-label reliability (CV)")
    right.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    for cap, rows in metrics["calibration_cumulative"].items():
        right.plot([r["predicted"] for r in rows], [r["observed"] for r in rows], "o-", label=f"P(≤ {cap})")
    right.set(xlabel="predicted P(cert ≤ cap)", ylabel="observed share", title="Cap probabilities (CV)")
    for ax in (left, right):
        ax.set(xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- artifact -------------------------------------------------------------------------------------


def artifact_key(catalog_manifest: dict, index_version: str | None) -> str:
    settings = {"version": MATURITY_VERSION, "seed": SEED, "outer": OUTER_FOLDS, "inner": INNER_FOLDS,
                "calibration": CALIBRATION_FOLDS, "c_grid": C_GRID, "target": TARGET_BREAK_RATE,
                "selection": SELECTION_BREAK_RATE,
                "tau_grid": [TAU_GRID[0], TAU_GRID[-1], len(TAU_GRID)],
                "min_movies": [KEYWORD_MIN_MOVIES, TAG_MIN_MOVIES]}
    movies_sha = catalog_manifest.get("outputs", {}).get("movies.parquet", {}).get("sha256", "")
    text = json.dumps([catalog_manifest["version"], movies_sha, index_version, settings], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def estimate_rows(movie_ids: np.ndarray, probs: np.ndarray, tau: float) -> list[dict]:
    upper, lower = bounds(probs, tau)
    best = probs.argmax(1)
    return [
        {"movie_id": int(mid), "certification_estimate": MPAA[b], "certification_confidence": round(float(p[b]), 4),
         "certification_estimate_max": MPAA[u], "certification_estimate_min": MPAA[lo],
         **{f"p_{c}": round(float(p[i]), 4) for i, c in enumerate(MPAA)}}
        for mid, p, b, u, lo in zip(movie_ids, probs, best, upper, lower, strict=True)
    ]


def write_artifact(root: Path, key: str, rows: list[dict], manifest: dict, plot: Path) -> Path:
    schema = ESTIMATES_SCHEMA
    for c in MPAA:
        schema = schema.append(pa.field(f"p_{c}", pa.float64(), nullable=False))
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
    try:
        tmp.chmod(0o755)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp / ESTIMATES_FILE)
        shutil.copy2(plot, tmp / PLOT_FILE)
        manifest["files"] = {name: sha256_file(tmp / name) for name in (ESTIMATES_FILE, PLOT_FILE)}
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        final = root / key
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _valid(vdir: Path) -> dict | None:
    try:
        manifest = json.loads((vdir / MANIFEST_FILE).read_text())
        ok = all(sha256_file(vdir / n) == h for n, h in manifest["files"].items())
        return manifest if ok else None
    except (OSError, ValueError, KeyError):
        return None


def _copy_dir(src: Path, root: Path, key: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
    try:
        for f in src.iterdir():
            shutil.copy2(f, tmp / f.name)
        if (root / key).exists():
            shutil.rmtree(root / key)
        os.rename(tmp, root / key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --- job ------------------------------------------------------------------------------------------


def train(catalog, index_dir: Path | None) -> tuple[dict, list[dict], Path]:
    """Cross-validate, choose τ, fit on all labelled movies; (manifest, estimate rows, plot path)."""
    started = time.perf_counter()
    movies = catalog.movies.reset_index(drop=True)
    feats = build_features(movies, index_dir)
    labelled = movies["certification"].notna().to_numpy()
    x_lab = feats.matrix[labelled]
    y = movies.loc[labelled, "certification"].map(MPAA.index).to_numpy(dtype=int)
    years = pd.to_numeric(movies.loc[labelled, "year"], errors="coerce").to_numpy(dtype=float)
    log.info("features: %s; %d labelled of %d movies", feats.blocks, len(y), len(movies))
    probs, fold_of, folds = cross_validate(x_lab, y)
    metrics = evaluate(probs, y, fold_of, years)
    tau = choose_tau(probs, y)
    model, c = fit_model(x_lab, y)
    unlabelled_probs = predict(model, feats.matrix[~labelled])
    rows = estimate_rows(feats.movie_ids[~labelled], unlabelled_probs, tau)
    metrics["final"] = {"tau": tau, "C": c, "out_of_fold_breaks_at_tau": {
        k: {"admitted": a, "broken": b} for k, (a, b) in break_counts(probs, y, tau).items()}}
    metrics["folds"] = folds
    metrics["estimates"] = coverage(movies, rows)
    plot = Path(tempfile.mkdtemp()) / PLOT_FILE
    plot_calibration(metrics, plot)
    manifest = {
        "catalog_version": catalog.version, "index_version": feats.index_version, "tau": tau,
        "target_break_rate": TARGET_BREAK_RATE, "selection_break_rate": SELECTION_BREAK_RATE,
        "text_features": feats.text_source, "feature_blocks": feats.blocks,
        "model": f"LogisticRegression(C={c}) + CalibratedClassifierCV(sigmoid, cv={CALIBRATION_FOLDS})",
        "maturity_version": MATURITY_VERSION, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_seconds": round(time.perf_counter() - started, 1), "metrics": metrics,
    }
    return manifest, rows, plot


def coverage(movies: pd.DataFrame, rows: list[dict]) -> dict:
    """How many catalog movies carry an official certification or an estimate, and what the bounds admit."""
    n = len(movies)
    official = int(movies["certification"].notna().sum())
    est = pd.DataFrame(rows)
    out = {"movies": n, "official": official, "estimated": len(rows),
           "official_or_estimated_percent": round(100 * (official + len(rows)) / max(n, 1), 1)}
    if not est.empty:
        rank = est["certification_estimate_max"].map(MPAA.index)
        out["estimate_counts"] = est["certification_estimate"].value_counts().reindex(MPAA, fill_value=0).to_dict()
        out["unofficial_admitted_by_cap"] = {f"max {c}": int((rank <= MPAA.index(c)).sum()) for c in CAPS}
        low = est["certification_estimate_min"].map(MPAA.index)
        out["unofficial_admitted_by_floor"] = {f"min {f}": int((low >= MPAA.index(f)).sum()) for f in FLOORS}
    return out


def run(catalog_dir: Path | None, index_dir: Path | None, root: Path, cache_root: Path | None,
        reports_dir: Path) -> tuple[str, Path, dict]:
    """Reuse or build the artifact for the current catalog + index; write the reports. (status, dir, manifest)"""
    catalog = load_catalog(catalog_dir)
    index_version = _index_version(index_dir)
    key = artifact_key(catalog.manifest, index_version)
    status = "reused"
    if _valid(root / key) is None:
        if cache_root is not None and _valid(cache_root / key) is not None:
            _copy_dir(cache_root / key, root, key)
            status = "cached"
        else:
            manifest, rows, plot = train(catalog, index_dir)
            manifest["key"] = key
            write_artifact(root, key, rows, manifest, plot)
            status = "built"
            if cache_root is not None:
                try:
                    _copy_dir(root / key, cache_root, key)
                except OSError as exc:
                    log.warning("could not copy maturity estimates to the cache %s: %s", cache_root, exc)
    point_current(root, key)
    manifest = json.loads((root / key / MANIFEST_FILE).read_text())
    # Artifact builds (`make train`, `make test`) keep their report beside the artifact, so they never
    # dirty the tree; `make report-maturity` (--reports reports) refreshes the committed copy.
    write_reports(manifest, root / key, reports_dir or root / key)
    return status, root / key, manifest


def _index_version(index_dir: Path | None) -> str | None:
    if index_dir is None or not (index_dir / "manifest.json").is_file():
        return None
    try:
        return json.loads((index_dir / "manifest.json").read_text()).get("version")
    except (OSError, ValueError):
        return None


# --- reports --------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def render_markdown(manifest: dict) -> str:
    m = manifest["metrics"]
    lines = [
        "# Maturity estimates",
        "",
        "Generated by `make maturity` (`python -m movierec_catalog.maturity`); protocol in "
        "`libs/movierec_catalog/README.md`. Catalog `{}`, text features: {}.".format(
            manifest["catalog_version"], manifest["text_features"]),
        "",
        f"Model: {manifest['model']}. Labelled movies: {m['labelled_movies']} "
        f"({', '.join(f'{k} {v}' for k, v in m['label_counts'].items())}).",
        "",
        "## Cross-validated quality (5 folds, out-of-fold predictions)",
        "",
        "| metric | value |",
        "|---|---|",
        f"| accuracy | {_pct(m['accuracy'])} "
        f"(majority class {m['majority_class']}: {_pct(m['majority_baseline_accuracy'])}) |",
        f"| within one level | {_pct(m['within_one_level'])} |",
        f"| log loss | {m['log_loss']} |",
        f"| expected calibration error (top label) | {m['expected_calibration_error']} |",
        f"| under-estimates (predicts milder than the truth) | {_pct(m['under_estimation_rate'])} |",
        f"| over-estimates | {_pct(m['over_estimation_rate'])} |",
        f"| says PG or milder when the truth is R/NC-17 | {_pct(m['says_pg_or_milder_when_r_or_stricter'])} |",
        f"| says PG-13 or milder when the truth is R/NC-17 | {_pct(m['says_pg13_or_milder_when_r_or_stricter'])} |",
        "",
        "Confusion matrix (rows: truth, columns: predicted most likely label):",
        "",
        "| | " + " | ".join(MPAA) + " |",
        "|---|" + "---|" * len(MPAA),
    ]
    for label, counts in zip(MPAA, m["confusion_matrix"]["counts"], strict=True):
        lines.append(f"| **{label}** | " + " | ".join(str(c) for c in counts) + " |")
    lines += ["", "### By decade", "", "| decade | labelled | accuracy | under-estimated |", "|---|---|---|---|"]
    lines += [f"| {r['decade']} | {r['movies']} | {_pct(r['accuracy'])} | {_pct(r['under_estimated'])} |"
              for r in m["by_decade"]]
    lines += ["", "### Calibration (top label)", "", "![calibration](maturity_calibration.png)", "",
              "| predicted probability | movies | mean predicted | observed correct |", "|---|---|---|---|"]
    lines += [f"| {r['bin']} | {r['movies']} | {r['mean_confidence']} | {r['accuracy']} |"
              for r in m["calibration_top_label"]]
    lines += ["", "Cap probabilities P(cert ≤ cap), predicted vs observed:", "",
              "| cap | bin | movies | predicted | observed |", "|---|---|---|---|---|"]
    for cap, rows in m["calibration_cumulative"].items():
        lines += [f"| {cap} | {r['bin']} | {r['movies']} | {r['predicted']} | {r['observed']} |" for r in rows]
    lines += _limit_section(manifest)
    est = m["estimates"]
    lines += [
        "", "## Estimates written", "",
        f"{est['estimated']} movies without an official certification got an estimate; "
        f"{est['official']} have an official one: **{est['official_or_estimated_percent']}%** of the "
        f"{est['movies']} catalog movies carry one or the other.", "",
        "Most likely label: " + ", ".join(f"{k} {v}" for k, v in est.get("estimate_counts", {}).items()) + ".", "",
        "Movies without an official certification that an opt-in limit admits at τ: "
        + ", ".join(f"{k} {v}" for k, v in {**est.get("unofficial_admitted_by_cap", {}),
                                            **est.get("unofficial_admitted_by_floor", {})}.items()) + ".",
        "", "Caveat: the labelled movies are mostly from before 2001 while most estimated ones are newer; the "
        "by-decade table and the 2000-and-later break rates show how much less is known about them.",
    ]
    return "\n".join(lines) + "\n"


def _limit_section(manifest: dict) -> list[str]:
    m = manifest["metrics"]
    tau = manifest["tau"]
    lines = ["", "## The confidence threshold τ", "",
             f"τ = **{tau}**: the smallest value at which, for every cap and floor, at most "
             f"{_pct(manifest['selection_break_rate'])} of the movies it admits by estimate break it on the "
             "out-of-fold predictions (half the 1% target, as choosing τ is itself noisy). The held-out rates "
             f"below, which must stay ≤ {_pct(manifest['target_break_rate'])}, use for each fold the τ chosen on "
             "the other folds only "
             f"({', '.join(str(t) for t in m['held_out_breaks']['fold_taus'])}); upper = one-sided 95% "
             "Clopper–Pearson bound.", "",
             "| limit | admitted (held out) | broken | rate | upper 95% | 2000+: admitted | broken |",
             "|---|---|---|---|---|---|---|"]
    recent = m["held_out_breaks_2000_and_later"]["limits"]
    for limit, r in m["held_out_breaks"]["limits"].items():
        lines.append(f"| {limit} | {r['admitted']} | {r['broken']} | {_pct(r['rate'])} | {_pct(r['upper_95'])} | "
                     f"{recent[limit]['admitted']} | {recent[limit]['broken']} |")
    return lines


def write_reports(manifest: dict, vdir: Path, reports_dir: Path) -> None:
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "maturity.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    (reports_dir / "maturity.md").write_text(render_markdown(manifest))
    if (reports_dir / PLOT_FILE).resolve() != (vdir / PLOT_FILE).resolve():
        shutil.copy2(vdir / PLOT_FILE, reports_dir / PLOT_FILE)


def summary(status: str, vdir: Path, manifest: dict) -> str:
    m = manifest["metrics"]
    breaks = m["held_out_breaks"]["limits"]
    worst = max((r["rate"] or 0) for r in breaks.values())
    return "\n".join([
        f"maturity {manifest['key']}: {status} ({vdir})",
        f"  text features: {manifest['text_features']}",
        f"  CV accuracy {_pct(m['accuracy'])} (majority {_pct(m['majority_baseline_accuracy'])}), "
        f"log loss {m['log_loss']}, under-estimates {_pct(m['under_estimation_rate'])}, "
        f"PG-or-milder when R+ {_pct(m['says_pg_or_milder_when_r_or_stricter'])}",
        f"  tau {manifest['tau']}; worst held-out break rate over caps/floors {_pct(worst)}",
        f"  estimates: {m['estimates']['estimated']} movies; official or estimated "
        f"{m['estimates']['official_or_estimated_percent']}% of {m['estimates']['movies']}",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m movierec_catalog.maturity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--catalog", type=Path, default=None, help="catalog dir (default: artifacts/catalog/current)")
    p.add_argument("--index", type=Path, default=None, help="index artifact dir (default: artifacts/index/current)")
    p.add_argument("--no-index", action="store_true", help="use TF-IDF of the overview instead of the movie vectors")
    p.add_argument("--out", type=Path, default=None, help="artifact root (default: artifacts/maturity)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="cache root (default: $MOVIEREC_CACHE_DIR/maturity or ~/.cache/movierec/maturity)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--reports", type=Path, default=None,
                   help="where maturity.{json,md} go (default: beside the artifact; `make report-maturity`: reports/)")
    args = p.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    from movierec_core.index_artifact import current_index_dir
    from movierec_core.paths import cache_dir

    index_dir = None if args.no_index else (args.index or current_index_dir())
    cache_root = None if args.no_cache else (args.cache_dir or cache_dir() / "maturity")
    try:
        status, vdir, manifest = run(args.catalog, index_dir, args.out or default_maturity_root(), cache_root,
                                     args.reports)
    except (OSError, ValueError) as exc:
        print(f"error: maturity estimates failed: {exc}", file=sys.stderr)
        return 1
    print(summary(status, vdir, manifest), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
