"""Section 2: rating prediction RMSE/MAE of the ranker's collaborative predictor ŷ.

The split is the training job's own (one 80/20 split everywhere): ``movierec_jobs.train.load_ratings``
(the ratings file in file order) and ``movierec_jobs.train.random_split`` (the first 20 % of a
``default_rng(SPLIT_SEED)`` permutation of the rows are the test part). ``ranker_service.collaborative.fit``
with the training job's default hyper-parameters (``train.Hyperparameters``) on the 80 %; predictions
for the 20 % (``predict_pairs``, clipped to [0.5, 5]); the plain user + item biases model
(``factors=0, implicit=False``) and the global mean as references. The training job's own
evaluation (``<collab artifacts>/train.json``, written by ``make train``), when present, is quoted
beside, so the two RMSEs of the same split can be compared.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


def _errors(predicted: np.ndarray, actual: np.ndarray) -> dict:
    err = predicted - actual
    return {"rmse": round(float(np.sqrt(np.mean(err ** 2))), 4), "mae": round(float(np.mean(np.abs(err))), 4)}


def evaluate(train_report: Path | None = None) -> dict:
    try:
        from movierec_jobs import train as T
        from ranker_service.collaborative import fit
    except ImportError as error:
        return {"status": f"unavailable: {error}"}
    ratings = T.load_ratings(T.default_ratings_path())
    rest, held = T.random_split(len(ratings), T.TEST_FRACTION, T.SPLIT_SEED)
    train, test = ratings.iloc[rest], ratings.iloc[held]
    actual = test.rating.to_numpy()
    out = {"protocol": __doc__.split("\n\n", 1)[1].strip(), "split_seed": T.SPLIT_SEED,
           "test_fraction": T.TEST_FRACTION, "train_ratings": len(train), "test_ratings": len(test), "models": {}}
    out["models"]["global mean"] = _errors(np.full(len(test), train.rating.mean()), actual)
    for name, hyper in (("user + item biases", {"factors": 0, "implicit": False}),
                        ("ŷ (ranker's model)", T.Hyperparameters().as_dict())):
        started = time.perf_counter()
        model = fit(train, **hyper)
        seconds = time.perf_counter() - started
        predicted = model.predict_pairs(test.user_id.to_numpy(), test.movie_id.to_numpy())
        out["models"][name] = {**_errors(predicted, actual), "fit_seconds": round(seconds, 2),
                               "hyperparameters": hyper}
    train_report = train_report or T.default_out_dir() / "train.json"
    if train_report.exists():
        try:
            report = json.loads(train_report.read_text())
            out["training_job"] = {"path": str(train_report), "test": report.get("test"),
                                   "target": report.get("target")}
        except json.JSONDecodeError:
            out["training_job"] = {"path": str(train_report), "status": "unreadable"}
    return out
