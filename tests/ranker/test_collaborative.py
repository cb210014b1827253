"""The collaborative rating predictor ŷ on real ml-latest-small ratings (small, fast fits)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
try:
    from ranker_service.collaborative import CollaborativeModel, UserState, fit, load
except ImportError:  # running without the project's .pth (e.g. a bare checkout)
    sys.path.insert(0, str(REPO / "services" / "ranker"))
    from ranker_service.collaborative import CollaborativeModel, UserState, fit, load

DATA_DIR = Path(os.environ.get("MOVIEREC_DATA_DIR", REPO.parent / "shared" / "data"))
RATINGS_CSV = DATA_DIR / "ml-latest-small" / "ratings.csv"
FAST = {"factors": 16, "iterations": 8}

# Real MovieLens ids (movies.csv): well-rated Animation|Children films …
ANIMATED_KIDS_LOVED = (
    1,      # Toy Story (1995)
    588,    # Aladdin (1992)
    364,    # Lion King, The (1994)
    4306,   # Shrek (2001)
    595,    # Beauty and the Beast (1991)
    6377,   # Finding Nemo (2003)
    4886,   # Monsters, Inc. (2001)
    8961,   # Incredibles, The (2004)
    68954,  # Up (2009)
    60069,  # WALL·E (2008)
    50872,  # Ratatouille (2007)
    5218,   # Ice Age (2002)
)
ANIMATED_KIDS_TARGET = 3114  # Toy Story 2 (1999), mean rating 3.86
# … and horror films with about the same average rating, so item biases alone cannot separate them.
HORROR = (
    6502,  # 28 Days Later (2002), mean 3.97
    1997,  # Exorcist, The (1973), mean 3.80
)


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    if not RATINGS_CSV.is_file():
        pytest.skip(f"ml-latest-small not found at {RATINGS_CSV} (set MOVIEREC_DATA_DIR)")
    return pd.read_csv(RATINGS_CSV).rename(columns={"userId": "user_id", "movieId": "movie_id"})


@pytest.fixture(scope="module")
def split(ratings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random 90/10 split of all real ratings."""
    perm = np.random.default_rng(0).permutation(len(ratings))
    held = len(ratings) // 10
    return ratings.iloc[np.sort(perm[held:])], ratings.iloc[np.sort(perm[:held])]


@pytest.fixture(scope="module")
def model(split) -> CollaborativeModel:
    train, _ = split
    return fit(train, **FAST)


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def test_beats_global_mean_and_biases_on_held_out_ratings(split, model):
    train, test = split
    y = test.rating.to_numpy()
    ours = rmse(y, model.predict_pairs(test.user_id.to_numpy(), test.movie_id.to_numpy()))
    global_mean = rmse(y, np.full(len(y), train.rating.mean()))
    biases = fit(train, factors=0, implicit=False, blend_kappa=0.0, iterations=10)
    biases_rmse = rmse(y, biases.predict_pairs(test.user_id.to_numpy(), test.movie_id.to_numpy()))
    assert ours < global_mean - 0.15, (ours, global_mean)
    assert ours < biases_rmse, (ours, biases_rmse)


def test_new_user_scored_by_fold_in_beats_global_mean(split, ratings):
    """Users absent from training entirely, folded in from their own ratings (how app users are scored)."""
    train, test = split
    users = np.random.default_rng(1).choice(test.user_id.unique(), size=30, replace=False)
    model = fit(train[~train.user_id.isin(users)], **FAST)
    ys, ps = [], []
    for u in users:
        own = train[train.user_id == u]
        state = model.fold_in(dict(zip(own.movie_id.tolist(), own.rating.tolist(), strict=True)))
        held = test[test.user_id == u]
        ys.append(held.rating.to_numpy())
        ps.append(model.predict(state, held.movie_id.to_numpy()))
    y, p = np.concatenate(ys), np.concatenate(ps)
    assert rmse(y, p) < rmse(y, np.full(len(y), train.rating.mean())) - 0.1


def test_fold_in_of_an_animated_kids_fan(model):
    fan = model.fold_in(dict.fromkeys(ANIMATED_KIDS_LOVED, 5.0))
    cold = model.fold_in({})
    movies = [ANIMATED_KIDS_TARGET, *HORROR]
    fan_pred = model.predict(fan, movies)
    cold_pred = model.predict(cold, movies)
    assert fan_pred[0] > fan_pred[1:].max(), dict(zip(movies, fan_pred.round(3), strict=True))
    # the preference comes from the person's taste, not from the movies' average ratings
    assert fan_pred[0] - fan_pred[1:].mean() > cold_pred[0] - cold_pred[1:].mean() + 0.1
    assert fan.n_known == len(ANIMATED_KIDS_LOVED) and fan.n_unknown == 0


def test_predictions_stay_in_range(model):
    movies = np.concatenate([model.movie_ids, [-1, 10**9]])  # every known movie + two unknown ids
    states = [
        model.fold_in({}),
        model.fold_in(dict.fromkeys(ANIMATED_KIDS_LOVED, 5.0)),
        model.fold_in(dict.fromkeys(model.movie_ids[:200].tolist(), 0.5)),  # a harsh critic
        model.fold_in(dict.fromkeys(model.movie_ids[-200:].tolist(), 5.0)),  # an enthusiast of obscure films
        model.fold_in({10**9: 5.0, 10**9 + 1: 4.5}),  # only movies the model does not know
    ]
    for state in states:
        scaled = model.predict_scaled(state, movies)
        raw = model.predict(state, movies)
        assert np.all(np.isfinite(scaled)) and scaled.min() >= 0.0 and scaled.max() <= 1.0
        assert raw.min() >= 0.5 and raw.max() <= 5.0
        np.testing.assert_allclose(scaled, (raw - 0.5) / 4.5)
    assert model.predict_scaled(states[0], []).shape == (0,)
    assert model.predict_scaled(states[0], [1, 1]).shape == (2,)  # lists and repeats are fine


def test_cold_user_gets_global_mean_plus_item_bias(model):
    cold = model.fold_in({})
    assert cold.is_cold
    movies = model.movie_ids[:50]
    expected = np.clip(model.global_mean + model.base_item_bias[:50], 0.5, 5.0)
    np.testing.assert_allclose(model.predict(cold, movies), expected)
    assert model.predict(cold, [10**9])[0] == pytest.approx(model.global_mean)  # unknown movie: global mean


def test_unknown_movie_gets_the_item_free_prediction(model):
    state = model.fold_in({1: 5.0, 260: 4.5, 10**9: 4.0})
    assert (state.n_known, state.n_unknown) == (2, 1)
    w = model.mf_weight(state.n_ratings)
    expected = model.global_mean + w * state.bias + (1 - w) * state.base_bias
    assert model.predict(state, [10**9 + 7])[0] == pytest.approx(expected)


def test_fold_in_reproduces_a_training_user(split, model):
    train, _ = split
    user = int(train.user_id.iloc[0])
    own = train[train.user_id == user]
    folded = model.fold_in(dict(zip(own.movie_id.tolist(), own.rating.tolist(), strict=True)))
    trained = model.training_user_state(user)
    assert folded.bias == pytest.approx(trained.bias, abs=1e-9)
    assert folded.base_bias == pytest.approx(trained.base_bias, abs=1e-9)
    np.testing.assert_allclose(folded.factors, trained.factors, atol=1e-9)
    with pytest.raises(KeyError):
        model.training_user_state(10**9)


def test_save_load_round_trip(tmp_path, model):
    model.metrics["note"] = "round trip"
    model.save(tmp_path / "m")
    loaded = load(tmp_path / "m")
    states = [({}, "cold"), (dict.fromkeys(ANIMATED_KIDS_LOVED, 5.0), "fan"), ({1: 1.0, 2: 3.5, 10**9: 4.0}, "mixed")]
    movies = np.concatenate([model.movie_ids, [10**9]])
    for ratings, _ in states:
        assert np.array_equal(model.predict(model.fold_in(ratings), movies), loaded.predict(loaded.fold_in(ratings),
                                                                                            movies))
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["hyperparameters"] == model.hyperparameters.as_dict()
    assert manifest["data"]["sha256"] == model.data_sha256 and len(model.data_sha256) == 64
    assert manifest["metrics"]["note"] == "round trip" and "train_rmse" in manifest["metrics"]
    assert manifest["created_at"] and manifest["files"]["model.npz"]["sha256"]


def test_load_rejects_a_corrupt_artifact(tmp_path, model):
    model.save(tmp_path / "m")
    data = bytearray((tmp_path / "m" / "model.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "m" / "model.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        CollaborativeModel.load(tmp_path / "m")


def test_fit_is_deterministic(ratings):
    small = ratings[ratings.user_id <= 120]
    a, b = fit(small, factors=8, iterations=4), fit(small, factors=8, iterations=4)
    for name in ("item_bias", "item_factors", "implicit_factors", "user_factors", "base_item_bias"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.data_sha256 == b.data_sha256 == fit(small.iloc[::-1], factors=8, iterations=4).data_sha256


@pytest.mark.parametrize("bad", [5.5, 0.0, -1.0, float("nan")])
def test_fit_rejects_ratings_outside_the_scale(ratings, bad):
    df = ratings.head(500).copy()
    df.loc[df.index[3], "rating"] = bad
    with pytest.raises(ValueError, match=r"rating|missing values"):
        fit(df, **FAST)


def test_fit_rejects_bad_frames(ratings):
    with pytest.raises(ValueError, match="empty"):
        fit(ratings.iloc[0:0])
    with pytest.raises(ValueError, match="missing column"):
        fit(ratings.drop(columns=["rating"]))
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        fit(ratings.head(100), factorz=3)
    with pytest.raises(ValueError, match="factors"):
        fit(ratings.head(100), factors=-1)


@pytest.mark.parametrize("ratings_in", [{1: 6.0}, {1: 0.0}, {1: 0.49}, {1: math.nan}, {1: "good"}, {"x": 3.0},
                                        {1.5: 3.0}])
def test_fold_in_rejects_bad_ratings(model, ratings_in):
    with pytest.raises(ValueError, match=r"rating|movie id"):
        model.fold_in(ratings_in)


def test_fold_in_accepts_edge_ratings(model):
    state = model.fold_in({1: 0.5, 2: 5.0, "3": 4})
    assert isinstance(state, UserState) and state.n_known == 3


def test_train_command_writes_artifact_and_reuses_it(tmp_path, ratings):
    """`python -m movierec_jobs.train` on a Parquet subset: report, <out>/<key>/, current, then reuse."""
    subset = ratings[ratings.user_id <= 150]
    path = tmp_path / "ratings.parquet"
    subset.to_parquet(path)
    out, report = tmp_path / "collab", tmp_path / "train.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "services" / "ranker"),
                                                        os.environ.get("PYTHONPATH", "")]),
           "MOVIEREC_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "movierec_jobs.train", "--ratings", str(path), "--out", str(out),
               "--report", str(report), "--set", "factors=4", "--set", "iterations=3"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    current = out / "current"
    assert current.is_symlink() and (current / "manifest.json").is_file()
    data = json.loads(report.read_text())
    assert data["data"]["n_ratings"] == len(subset)
    assert data["hyperparameters"]["factors"] == 4
    assert {m["name"] for m in data["test"]["models"]} >= {"global mean", "user+item biases"}
    assert all("protocol" in data[section] for section in ("test", "fold_in", "validation", "final_model"))
    model = CollaborativeModel.load(current)
    assert model.n_ratings == len(subset) and model.metrics["test_rmse"] == data["test"]["models"][-1]["rmse"]
    stamp = (current / "model.npz").stat().st_mtime_ns

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "reused" in second.stderr + second.stdout
    assert (current / "model.npz").stat().st_mtime_ns == stamp
    assert json.loads(report.read_text()) == data
    (tmp_path / "bad.csv").write_text("userId,movieId,rating,timestamp\n1,1,7.0,0\n")
    bad = subprocess.run([*command[:4], str(tmp_path / "bad.csv"), *command[5:]], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "between 0.5 and 5.0" in bad.stderr
