"""SeqEASE (ranker_service.sequence_model): fit, fold-in and artifact, on real ml-latest-small ratings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import chronological

from ranker_service.sequence_model import SeqEaseParams, SequenceModel


def reference_weights(sequences: list[list[int]], params: SeqEaseParams) -> tuple[np.ndarray, np.ndarray]:
    """EASE on windows written out plainly (float64, np.linalg.inv): (supported movie ids, B)."""
    counts: dict[int, int] = {}
    for sequence in sequences:
        for movie_id in sequence:
            counts[movie_id] = counts.get(movie_id, 0) + 1
    support = np.array(sorted(m for m, c in counts.items() if c >= params.min_support))
    column = {int(m): j for j, m in enumerate(support)}
    windows = []
    for sequence in sequences:
        for start in range(0, max(1, len(sequence) - params.window + params.stride), params.stride):
            row = np.zeros(len(support))
            for movie_id in sequence[start:start + params.window]:
                if movie_id in column:
                    row[column[movie_id]] = 1.0
            windows.append(row)
    x = np.array(windows)
    p = np.linalg.inv(x.T @ x + params.lam * np.eye(len(support)))
    b = p / (-np.diag(p))
    np.fill_diagonal(b, 0.0)
    return support, b


def reference_scaled(history: list[int], support: np.ndarray, b: np.ndarray, decay: float) -> np.ndarray:
    """The eval's computation: input row = decay^(steps before latest) per rating, × B, ÷ max over unrated."""
    column = {int(m): j for j, m in enumerate(support)}
    row = np.zeros(len(support))
    for steps, movie_id in enumerate(reversed(history)):
        if movie_id in column:
            row[column[movie_id]] = decay ** steps
    raw = row @ b
    seen = np.isin(support, history)
    top = raw[~seen].max()
    return np.clip(raw / top, 0.0, 1.0) if top > 0 else np.zeros_like(raw)


@pytest.fixture(scope="module")
def sequences(fixture_ratings) -> dict[int, list[int]]:
    return chronological(fixture_ratings)


def test_fit_matches_plain_ease_on_windows(sequence_model, sequences):
    support, b = reference_weights(list(sequences.values()), sequence_model.params)
    assert sequence_model.movie_ids.tolist() == support.tolist()
    assert sequence_model.n_items > 100
    assert np.allclose(sequence_model.weights, b, atol=2e-4), np.abs(sequence_model.weights - b).max()


def test_fold_in_matches_the_eval_computation(sequence_model, sequences):
    support, b = reference_weights(list(sequences.values()), sequence_model.params)
    checked = 0
    for user, history in list(sequences.items())[:40]:
        state = sequence_model.fold_in(history)
        expected = reference_scaled(history, support, b, sequence_model.params.decay)
        assert np.allclose(state.scaled, expected, atol=1e-4), user
        assert np.allclose(sequence_model.predict_scaled(state, support.tolist()), expected, atol=1e-4)
        checked += state.has_evidence
    assert checked >= 35


def test_fold_in_depends_on_the_order_of_the_ratings(sequence_model, sequences):
    history = next(h for h in sequences.values() if len(h) >= 20)
    forward, backward = sequence_model.fold_in(history), sequence_model.fold_in(history[::-1])
    assert not np.allclose(forward.scaled, backward.scaled)
    # a ratings dict oldest first is the same input as the list of its movie ids
    as_dict = sequence_model.fold_in({m: 3.0 for m in history})
    assert np.array_equal(as_dict.scaled, forward.scaled)


def test_ranked_unseen_is_best_first_and_never_rated(sequence_model, sequences):
    history = next(h for h in sequences.values() if len(h) >= 10)
    state = sequence_model.fold_in(history)
    ranked = sequence_model.ranked_unseen(state, 25)
    assert len(ranked) == 25 and not set(ranked) & set(history)
    yhat = sequence_model.predict_scaled(state, ranked)
    assert np.all(np.diff(yhat) <= 0) and yhat[0] == 1.0 and np.all(yhat > 0)
    unranked = [m for m in sequence_model.movie_ids.tolist() if m not in set(ranked) | set(history)]
    assert sequence_model.predict_scaled(state, unranked).max() <= yhat[-1]


def test_no_evidence_without_known_ratings(sequence_model):
    assert not sequence_model.fold_in([]).has_evidence
    unknown = sequence_model.fold_in([10**9, 10**9 + 1])
    assert not unknown.has_evidence and sequence_model.ranked_unseen(unknown, 10) == []
    assert sequence_model.predict_scaled(unknown, [10**9]).tolist() == [0.0]


def test_artifact_round_trip_and_corruption(sequence_model, sequences, tmp_path):
    directory = sequence_model.save(tmp_path / "seq", {"chosen": sequence_model.params.describe()})
    loaded = SequenceModel.load(directory)
    history = next(iter(sequences.values()))
    assert loaded.params == sequence_model.params
    assert np.array_equal(loaded.fold_in(history).scaled, sequence_model.fold_in(history).scaled)
    assert json.loads((directory / "manifest.json").read_text())["format"] == "movierec-seqease"
    with open(directory / "seq_ease.npz", "r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00corrupt\x00")
    with pytest.raises(ValueError, match="sha256"):
        SequenceModel.load(directory)
