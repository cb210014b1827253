"""Unit checks of the harness's own arithmetic: split tie rule, ranks and ties, EASE's two solvers, SeqEASE."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "eval"))

from movierec_eval import baselines, metrics
from movierec_eval.data import k_core, leave_last_out
from movierec_eval.sequence import SeqEase, SeqEaseCollab, SeqEaseParams, scale_to_unit


def frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])


def test_leave_last_out_breaks_timestamp_ties_by_movie_id():
    ratings = frame([(1, 30, 4.0, 100), (1, 20, 3.0, 100), (1, 10, 5.0, 50), (1, 40, 2.0, 10),
                     (2, 10, 4.0, 5), (2, 20, 4.0, 6), (2, 30, 4.0, 7)])
    split = leave_last_out(ratings, "t")
    ids = split.universe.item_ids
    assert ids[split.test_items[0]] == 30 and ids[split.validation_items[0]] == 20  # same second: id order
    assert list(split.train.movie_ids(0)) == [40, 10]
    assert list(split.with_validation.movie_ids(0)) == [40, 10, 20]
    assert ids[split.test_items[1]] == 30 and ids[split.validation_items[1]] == 20
    assert split.stats["validation_test_same_timestamp"] == 0.5


def test_k_core_is_iterative():
    rows = [(u, m, 4.0, t) for t, (u, m) in enumerate([(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 3)])]
    kept = k_core(frame(rows), 2)
    assert set(kept.movie_id) == {1, 2} and set(kept.user_id) == {1, 2}  # user 3 falls with movie 3


def test_ranks_exclude_seen_items_and_never_win_ties():
    scores = np.array([[0.9, 0.5, 0.5, 0.1]])
    seen = np.array([[True, False, False, False]])
    assert metrics.target_ranks(scores, seen, np.array([1]), np.array([0, 1, 2, 3]))[0] == 0
    assert metrics.target_ranks(scores, seen, np.array([2]), np.array([0, 1, 2, 3]))[0] == 1  # tie lost
    summary = metrics.per_user(np.array([0, 9, 10]))
    assert summary["hr@10"].tolist() == [1, 1, 0]
    assert np.allclose(summary["ndcg@10"], [1.0, 1 / np.log2(11), 0.0])


def test_paired_comparison_detects_a_real_difference():
    better, worse = np.zeros(400, dtype=np.int64), np.full(400, 50)
    worse[:40] = 0
    result = metrics.paired(better, worse, seed=0, metric="hr@10")
    assert result["mean_diff"] == 0.9 and result["p_value"] < 0.001 and result["ci95"][0] > 0.8


def test_ease_woodbury_equals_the_dense_inverse():
    rng = np.random.default_rng(0)
    x = sp.csr_matrix((rng.random((30, 50)) < 0.2).astype(np.float32))
    low_rank = baselines.Ease(x, 5.0)
    assert low_rank.low_rank
    gram = (x.T @ x).toarray().astype(np.float64) + 5.0 * np.eye(50)
    p = np.linalg.inv(gram)
    b = p / (-np.diag(p))
    np.fill_diagonal(b, 0.0)
    inputs = sp.csr_matrix(rng.random((4, 50)) * (rng.random((4, 50)) < 0.3))
    assert np.allclose(low_rank.score(inputs), inputs @ b, atol=1e-4)
    tall = baselines.Ease(sp.vstack([x, x, x]).tocsr(), 15.0)  # more rows than items: the dense path
    assert not tall.low_rank
    assert np.allclose(tall.score(inputs), inputs @ b, atol=1e-3)


def test_seq_ease_collab_matches_the_batch_scores():
    ratings = frame([(u, m, 4.0, u * 100 + t) for u in range(1, 9) for t, m in enumerate(range(u, u + 12))])
    split = leave_last_out(ratings, "t")
    model = SeqEase(split.train, SeqEaseParams(window=4, stride=2, lam=1.0, decay=0.7))
    history = split.history("test")
    batch = scale_to_unit(model.raw_scores(history), history.matrix().toarray() > 0)
    collab = SeqEaseCollab(model)
    ids = split.universe.item_ids
    for user in range(split.universe.n_users):
        state = collab.fold_in({int(m): 4.0 for m in history.movie_ids(user)})  # oldest first
        assert np.allclose(collab.predict_scaled(state, [int(m) for m in ids]), batch[user], atol=1e-5)
    assert batch.max() <= 1.0 and batch.min() >= 0.0
