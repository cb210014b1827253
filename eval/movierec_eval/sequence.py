"""The sequence-aware collaborative signal proposed for the ranker's ŷ in top-N recommendation.

**Window EASE with a recency-weighted input** ("SeqEASE" in the reports):

1. fit: EASE (λ) on windows of ``window`` consecutive ratings of every training user, a new window
   every ``stride`` ratings (items with fewer than ``min_support`` training interactions left out);
2. score: the person's ratings in chronological order, the i-th most recent weighted ``decay``^i,
   times the EASE weights;
3. scale: divided by the person's highest score over the movies they have not rated, clipped to
   [0, 1] — the ``ŷ ∈ [0, 1]`` that ``final = a·cos + (1−a)·ŷ`` expects.

:class:`SeqEaseCollab` exposes it through the ranker's ``CollaborativePredictor`` protocol
(``fold_in(ratings)`` / ``predict_scaled(state, movie_ids)``), taking the ratings dict in
chronological order (oldest first) — the order the gateway sends ``UserContext.ratings`` in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from movierec_eval.baselines import SequenceSpec, SupportedEase, window_matrix
from movierec_eval.data import Histories, Universe


@dataclass(frozen=True)
class SeqEaseParams:
    window: int = 10
    stride: int = 5
    lam: float = 100.0
    decay: float = 0.7
    min_support: int = 2

    def describe(self) -> dict:
        return asdict(self)


class SeqEase:
    def __init__(self, train: Histories, params: SeqEaseParams):
        self.params = params
        self.universe = train.universe
        self.model = SupportedEase(window_matrix(train, params.window, params.stride), params.lam,
                                   params.min_support)

    def with_decay(self, decay: float) -> SeqEase:
        """The same fitted weights with another input recency (tuning the decay needs no refit)."""
        clone = object.__new__(SeqEase)
        clone.params, clone.universe, clone.model = SeqEaseParams(**{**asdict(self.params), "decay": decay}), \
            self.universe, self.model
        return clone

    def raw_scores(self, history: Histories) -> np.ndarray:
        return self.model.score(SequenceSpec("position", self.params.decay).inputs(history))

    def scaled_scores(self, history: Histories) -> np.ndarray:
        return scale_to_unit(self.raw_scores(history), history.matrix().toarray() > 0)


def scale_to_unit(raw: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Each row divided by its maximum over unseen items, clipped to [0, 1] (all zeros when that max ≤ 0)."""
    top = np.max(np.where(seen, -np.inf, raw), axis=1, keepdims=True)
    safe = np.where(top > 0, top, np.inf)
    return np.clip(raw / safe, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class FoldedUser:
    scaled: np.ndarray  # ŷ per universe item


class SeqEaseCollab:
    """:class:`SeqEase` behind the ranker's ``CollaborativePredictor`` protocol (movie ids in, ŷ out)."""

    def __init__(self, model: SeqEase):
        self.model = model
        self.universe: Universe = model.universe

    def fold_in(self, ratings: dict[int, float]) -> FoldedUser:
        positions = [self.universe.item_pos[m] for m in ratings if m in self.universe.item_pos]
        weights = self.model.params.decay ** np.arange(len(positions) - 1, -1, -1, dtype=np.float64)
        row = sp.csr_matrix((weights.astype(np.float32), (np.zeros(len(positions), dtype=np.int64), positions)),
                            shape=(1, self.universe.n_items))
        seen = np.zeros((1, self.universe.n_items), dtype=bool)
        seen[0, positions] = True
        return FoldedUser(scale_to_unit(self.model.model.score(row), seen)[0])

    def predict_scaled(self, state: FoldedUser, movie_ids) -> np.ndarray:
        pos = self.universe.item_pos
        return np.array([state.scaled[pos[m]] if m in pos else 0.0 for m in movie_ids], dtype=np.float64)
