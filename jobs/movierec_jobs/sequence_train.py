"""Choose SeqEASE's λ and input decay on validation, then fit the served model on ALL ratings.

Called by ``python -m movierec_jobs.train`` (``make train``) after the rating predictor; writes
``<artifacts>/seqease/<key>/`` (``seq_ease.npz`` + ``manifest.json`` with the validation grid) and
points ``<artifacts>/seqease/current`` at it. ``key`` = sha256 of the ratings file bytes + the grid +
the code version; an existing ``<key>`` (or ``$MOVIEREC_CACHE_DIR/seqease/<key>``) is reused as is.

**Validation protocol** (the evaluation harness's, ``reports/eval.md`` section 1, full catalog):
every person's ratings ordered by (timestamp, movieId); the last one is the test item (never
looked at), the second-last the validation item, the rest the training history. The model is
fitted on the training histories; each person's validation item is ranked among every movie of the
ratings file they have not rated (ties broken by movie id); HR@10 and NDCG@10. Window 10 / stride 5
/ min support 2 are the eval's (windows of 5, 20 or 50 were worse there); λ and decay are chosen
here by NDCG@10.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ranker_service.sequence_model import CODE_VERSION, SeqEaseParams, SequenceModel, position_weights, scale_to_unit

log = logging.getLogger("movierec.ranker.train.seqease")

LAMBDA_GRID = (100.0, 300.0)
DECAY_GRID = (0.6, 0.7, 0.8)
BASE_PARAMS = SeqEaseParams(window=10, stride=5, min_support=2)
TOP_K = 10


def chronological(ratings: pd.DataFrame) -> list[np.ndarray]:
    """Each person's movie ids ordered by (timestamp, movieId) — the eval's tie rule."""
    ordered = ratings.sort_values(["user_id", "timestamp", "movie_id"], kind="mergesort")
    return [group.to_numpy(dtype=np.int64) for _, group in ordered.groupby("user_id", sort=True).movie_id]


def validation_metrics(model: SequenceModel, histories: list[np.ndarray], targets: np.ndarray,
                       universe: np.ndarray) -> dict:
    """HR@10 / NDCG@10 of each validation target among the person's unrated movies of ``universe``."""
    columns = np.searchsorted(universe, model.movie_ids)
    rows = np.concatenate([np.full(len(h), u) for u, h in enumerate(histories)])
    position = {int(m): i for i, m in enumerate(model.movie_ids)}
    data = np.concatenate([position_weights(len(h), model.params.decay) for h in histories])
    item_rows = np.array([position.get(int(m), -1) for h in histories for m in h])
    known = item_rows >= 0
    inputs = sp.csr_matrix((data[known], (rows[known], item_rows[known])), shape=(len(histories), model.n_items))
    raw = np.zeros((len(histories), len(universe)), dtype=np.float32)
    raw[:, columns] = model.score_matrix(inputs)
    seen = np.zeros_like(raw, dtype=bool)
    for u, history in enumerate(histories):
        seen[u, np.searchsorted(universe, history)] = True
    scores = np.where(seen, -np.inf, scale_to_unit(raw, seen))
    target_cols = np.searchsorted(universe, targets)
    target_scores = scores[np.arange(len(targets)), target_cols][:, None]
    ahead = (scores > target_scores) | ((scores == target_scores) & (np.arange(len(universe)) < target_cols[:, None]))
    ranks = ahead.sum(axis=1)
    hits = ranks < TOP_K
    return {"hr@10": round(float(hits.mean()), 5),
            "ndcg@10": round(float(np.where(hits, 1.0 / np.log2(ranks + 2), 0.0).mean()), 5)}


def choose_params(ratings: pd.DataFrame) -> tuple[SeqEaseParams, list[dict]]:
    sequences = chronological(ratings)
    usable = [s for s in sequences if len(s) >= 3]
    train = [s[:-2] for s in usable]
    targets = np.array([s[-2] for s in usable])
    universe = np.unique(ratings.movie_id.to_numpy(dtype=np.int64))
    grid = []
    for lam in LAMBDA_GRID:
        started = time.perf_counter()
        fitted = SequenceModel.fit(train, replace(BASE_PARAMS, lam=lam))
        fit_s = round(time.perf_counter() - started, 1)
        for decay in DECAY_GRID:
            scores = validation_metrics(fitted.with_decay(decay), train, targets, universe)
            grid.append({"lam": lam, "decay": decay, **scores, "fit_s": fit_s})
            log.info("SeqEASE validation λ=%g decay=%g: HR@10 %.4f NDCG@10 %.4f", lam, decay, scores["hr@10"],
                     scores["ndcg@10"])
    best = max(grid, key=lambda g: (g["ndcg@10"], g["hr@10"]))
    return replace(BASE_PARAMS, lam=best["lam"], decay=best["decay"]), grid


def artifact_key(ratings_sha256: str) -> str:
    grid = {"lam": LAMBDA_GRID, "decay": DECAY_GRID, "base": BASE_PARAMS.describe()}
    return hashlib.sha256(f"{ratings_sha256}|{json.dumps(grid, sort_keys=True)}|{CODE_VERSION}".encode()).hexdigest()


def build(ratings: pd.DataFrame, ratings_sha256: str, out: Path, cache: Path | None, force: bool = False) -> Path:
    """The SeqEASE artifact for these ratings under ``out`` (reused when it exists), ``out/current`` → it."""
    if "timestamp" not in ratings.columns:
        raise ValueError("SeqEASE needs a timestamp column to order each person's ratings")
    key = artifact_key(ratings_sha256)[:16]
    target = out / key
    out.mkdir(parents=True, exist_ok=True)
    if not force and not _valid(target) and cache is not None and _valid(cache / key):
        log.info("installing cached SeqEASE artifact %s", cache / key)
        install_dir(cache / key, target)
    if force or not _valid(target):
        started = time.perf_counter()
        params, grid = choose_params(ratings)
        log.info("SeqEASE: chosen %s; fitting on all %d ratings", params.describe(), len(ratings))
        fit_started = time.perf_counter()
        model = SequenceModel.fit(chronological(ratings), params)
        manifest = {
            "method": __doc__.split("\n\n")[0], "protocol": __doc__.split("\n\n", 2)[2].strip(),
            "data": {"sha256": ratings_sha256, "n_ratings": len(ratings),
                     "n_users": int(ratings.user_id.nunique()), "n_movies": int(ratings.movie_id.nunique())},
            "validation_grid": grid, "chosen": params.describe(),
            "final_fit": "ALL ratings", "fit_seconds": round(time.perf_counter() - fit_started, 1),
            "total_seconds": round(time.perf_counter() - started, 1), "key": key,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        tmp = out / f".{key}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save(tmp, manifest)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp, target)
        if cache is not None and not (cache / key).exists():
            try:
                cache.mkdir(parents=True, exist_ok=True)
                install_dir(target, cache / key)
            except OSError as exc:
                log.warning("could not write the shared cache: %s", exc)
    link = out / f".current.{os.getpid()}.tmp"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(key, link)
    os.replace(link, out / "current")
    log.info("SeqEASE artifact %s (current)", target)
    return target


def _valid(path: Path) -> bool:
    try:
        SequenceModel.load(path)
    except (OSError, ValueError, KeyError) as exc:
        if path.exists():
            log.warning("ignoring invalid SeqEASE artifact %s: %s", path, exc)
        return False
    return True


def install_dir(src: Path, dst: Path) -> None:
    """Copies ``src`` to ``dst`` through a temporary sibling and a rename (readers never see half a dir)."""
    tmp = dst.parent / f".{dst.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    try:
        os.rename(tmp, dst)
    except OSError:  # someone else installed it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
        if not dst.exists():
            raise
