"""Dislikes in the ranker: a 1★ is not a positive SeqEASE input, and its near neighbours are demoted."""

from __future__ import annotations

import numpy as np
from ranker_helpers import rank_input

from ranker_service.dislikes import DISLIKE_NEIGHBOUR_COS, DISLIKE_PENALTY, dislike_penalty
from ranker_service.pipeline import Ranker
from ranker_service.scoring import NumericScorer
from ranker_service.sequence_model import SeqEaseParams, SequenceModel


def test_a_disliked_movie_does_not_recommend_what_usually_follows_it():
    # 1 → 2 in every sequence, 3 → 4 in every sequence.
    sequences = [[1, 2, 5], [1, 2, 6], [1, 2, 5], [3, 4, 6], [3, 4, 5], [3, 4, 6]] * 5
    model = SequenceModel.fit(sequences, SeqEaseParams(window=3, stride=1, lam=1.0, min_support=2))
    liked = model.predict_scaled(model.fold_in({3: 4.0, 1: 5.0}), [2, 4])
    disliked = model.predict_scaled(model.fold_in({3: 4.0, 1: 1.0}), [2, 4])
    assert liked[0] > 0.5                # after a liked 1, 2 is what comes next
    assert disliked[0] < liked[0] * 0.2  # after a disliked 1, 2 is no longer recommended …
    assert disliked[1] > disliked[0]     # … what follows the liked 3 is
    # A plain id list (training, calibration) still counts every interaction alike.
    np.testing.assert_allclose(model.fold_in([3, 1]).scaled, model.fold_in({3: 4.0, 1: 5.0}).scaled)


def test_the_neighbour_penalty_is_bounded_and_grows_with_closeness():
    disliked = np.array([[1.0, 0.0]])
    angles = np.linspace(0, np.pi / 2, 50)
    candidates = np.column_stack([np.cos(angles), np.sin(angles)])
    penalty = dislike_penalty(candidates, disliked)
    assert penalty[0] == DISLIKE_PENALTY and np.all(penalty <= DISLIKE_PENALTY) and np.all(penalty >= 0)
    assert np.all(np.diff(penalty) <= 0)
    assert np.all(penalty[candidates[:, 0] <= DISLIKE_NEIGHBOUR_COS] == 0)
    assert np.all(dislike_penalty(candidates, np.zeros((0, 2))) == 0)


async def test_near_neighbours_of_a_disliked_movie_drop_in_the_ranking(store, neutral_params):
    ids = store.movie_ids.tolist()
    vectors = store.vectors_of(ids).astype(np.float64)
    gram = vectors @ vectors.T
    np.fill_diagonal(gram, -1.0)
    row = int(np.argmax(np.sort(gram, axis=1)[:, -3]))  # the movie with the closest three neighbours
    disliked, liked = ids[row], ids[int(np.argmin(gram[row]))]
    near = gram[row]
    neighbours = [ids[i] for i in np.argsort(-near) if ids[i] not in (liked, disliked)][:5]
    candidates = [m for m in ids if m not in (liked, disliked)][:60]
    candidates = list(dict.fromkeys([*neighbours, *candidates]))
    ranker = Ranker(store, NumericScorer(store, neutral_params), 1.0, collab_candidates=0)

    async def ranks(rating: float) -> dict[int, int]:
        output = await ranker.rank(rank_input(store, candidates, ratings={liked: 5.0, disliked: rating},
                                              top_n=len(candidates)))
        return {rec.movie_id: i for i, rec in enumerate(output.picks)}

    neutral, after = await ranks(3.0), await ranks(1.0)
    close = [m for m in neighbours if near[ids.index(m)] > DISLIKE_NEIGHBOUR_COS + 0.05]
    assert close, "the fixture has no movie close to the disliked one"
    assert all(after[m] >= neutral[m] for m in close)
    assert sum(after[m] for m in close) > sum(neutral[m] for m in close)
