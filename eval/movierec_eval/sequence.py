"""The sequence-aware collaborative signal the ranker uses as ŷ for top-N ("SeqEASE" in the reports).

The model is the ranker's own (``ranker_service.sequence_model``: window EASE fitted on windows of
``window`` consecutive ratings, a new window every ``stride``; items rated fewer than ``min_support``
times left out; scored from the person's chronological ratings weighted ``decay``^(steps before the
latest); scaled by the best unrated movie and clipped to [0, 1]). This module only adapts it to the
harness's matrices: item positions of a :class:`~movierec_eval.data.Universe` instead of movie ids,
and every user of a split scored at once.
"""

from __future__ import annotations

import numpy as np

from movierec_eval.data import Histories
from ranker_service.sequence_model import SeqEaseParams, SequenceModel, position_weights, scale_to_unit

__all__ = ["SeqEase", "SeqEaseCollab", "SeqEaseParams", "scale_to_unit"]


class SeqEase:
    """:class:`SequenceModel` fitted on a split's training histories, scoring whole universes."""

    def __init__(self, train: Histories, params: SeqEaseParams, model: SequenceModel | None = None):
        self.params = params
        self.universe = train.universe
        self.model = model or SequenceModel.fit([train.movie_ids(u) for u in range(len(train.items))], params)
        self.columns = np.searchsorted(self.universe.item_ids, self.model.movie_ids)

    def with_decay(self, decay: float) -> SeqEase:
        """The same fitted weights with another input recency (tuning the decay needs no refit)."""
        clone = object.__new__(SeqEase)
        clone.model = self.model.with_decay(decay)
        clone.params, clone.universe, clone.columns = clone.model.params, self.universe, self.columns
        return clone

    def raw_scores(self, history: Histories) -> np.ndarray:
        """Users × universe items; the model's unsupported items score 0."""
        weights = [position_weights(len(items), self.params.decay) for items in history.items]
        inputs = history.matrix(weights).tocsc()[:, self.columns].tocsr()
        out = np.zeros((self.universe.n_users, self.universe.n_items), dtype=np.float32)
        out[:, self.columns] = self.model.score_matrix(inputs)
        return out

    def scaled_scores(self, history: Histories) -> np.ndarray:
        return scale_to_unit(self.raw_scores(history), history.matrix().toarray() > 0)


def SeqEaseCollab(model: SeqEase) -> SequenceModel:  # the old adapter's name, kept for callers
    """The ranker's :class:`SequenceModel` behind a fitted :class:`SeqEase`: it already speaks the ranker's
    protocol (``fold_in(ratings oldest first)`` / ``predict_scaled(state, movie_ids)``)."""
    return model.model
