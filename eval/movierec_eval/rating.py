"""Section 2: rating prediction RMSE/MAE of the ranker's collaborative predictor ŷ.

The 100,835 ratings split at random 80/20 (numpy ``default_rng(42)``, each rating
independently in the test part with probability 0.2); ``ranker_service.collaborative.fit`` with its
default hyper-parameters on the 80%; predictions for the 20% (``predict_pairs``, clipped to
[0.5, 5]); the plain user + item biases model (``factors=0, implicit=False``) and the global mean as
references. ``reports/train.json`` (the training job's own evaluation), when present, is quoted beside.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from movierec_eval.data import random_split


def _errors(predicted: np.ndarray, actual: np.ndarray) -> dict:
    err = predicted - actual
    return {"rmse": round(float(np.sqrt(np.mean(err ** 2))), 4), "mae": round(float(np.mean(np.abs(err))), 4)}


def evaluate(ratings: pd.DataFrame, seed: int, train_report: Path) -> dict:
    try:
        from ranker_service.collaborative import fit
    except ImportError as error:
        return {"status": f"unavailable: {error}"}
    train, test = random_split(ratings[["user_id", "movie_id", "rating"]], 0.2, seed)
    actual = test.rating.to_numpy()
    out = {"protocol": __doc__.split("\n\n", 1)[1].strip(), "train_ratings": len(train), "test_ratings": len(test),
           "models": {}}
    out["models"]["global mean"] = _errors(np.full(len(test), train.rating.mean()), actual)
    for name, hyper in (("user + item biases", {"factors": 0, "implicit": False}), ("ŷ (ranker's model)", {})):
        started = time.perf_counter()
        model = fit(train, **hyper)
        seconds = time.perf_counter() - started
        predicted = model.predict_pairs(test.user_id.to_numpy(), test.movie_id.to_numpy())
        out["models"][name] = {**_errors(predicted, actual), "fit_seconds": round(seconds, 2),
                               "hyperparameters": {k: v for k, v in model.manifest().get("hyperparameters", {}).items()}
                               if hasattr(model, "manifest") else {}}
    if train_report.exists():
        try:
            out["reports_train_json"] = json.loads(train_report.read_text())
        except json.JSONDecodeError:
            out["reports_train_json"] = "unreadable"
    return out
