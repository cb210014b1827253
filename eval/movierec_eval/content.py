"""Content retrieval from a taste vector built exactly as the profile tier builds it.

The profile tier (``profile_service.taste``) keeps, per user, a base vector (onboarding, then an EMA
step ``u = normalize(α·u + (1−α)·m)`` for every review rated ≥ 4) and a recent-interest accumulator
(liked reviews weighted 1.5, decaying 0.95 per day); it scores with
``normalize(0.7·base + 0.3·normalize(recent))``. Replaying a MovieLens history through the same
functions gives the vector the service would hold after those reviews:

* the profile is created by onboarding with the first liked movie of the history (a person must
  onboard before reviewing; one movie is what a quick onboarding gives);
* every later rating ≥ 4 is an ``ApplyReview`` in time order;
* the scoring vector is read at the time of the last history event (when the recommendation is asked for);
* a history with no liked movie leaves the user at the service's cold-start vector (centroid of the
  200 most-rated movies).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from movierec_eval.data import Histories
from profile_service.settings import TasteConstants
from profile_service.taste import (
    ema_step,
    fuse_onboarding,
    recent_accumulate,
    recent_weight_at,
    scoring_vector,
)

MS = 1000


@dataclass(frozen=True)
class ItemVectors:
    """Movie vectors aligned with a universe's item positions (zero rows for movies without a vector)."""

    matrix: np.ndarray  # float32 (items, dim), L2-normalized rows (or zero)
    has_vector: np.ndarray  # bool (items,)

    @classmethod
    def align(cls, item_ids: np.ndarray, movie_ids: np.ndarray, vectors: np.ndarray) -> ItemVectors:
        row_of = {int(m): r for r, m in enumerate(movie_ids)}
        rows = np.array([row_of.get(int(m), -1) for m in item_ids])
        matrix = np.zeros((len(item_ids), vectors.shape[1]), dtype=np.float32)
        known = rows >= 0
        matrix[known] = vectors[rows[known]]
        return cls(matrix, known)


def profile_vector(items: np.ndarray, ratings: np.ndarray, times_s: np.ndarray, vectors: ItemVectors,
                   taste: TasteConstants, cold_start: np.ndarray) -> np.ndarray:
    """The scoring vector after replaying one chronological history through the profile formulas."""
    liked = [i for i, (item, rating) in enumerate(zip(items, ratings, strict=True))
             if rating >= taste.like_threshold and vectors.has_vector[item]]
    if not liked:
        return cold_start
    first = liked[0]
    base = fuse_onboarding(vectors.matrix[[items[first]]], None, taste.onboard_movie_weight)
    acc, acc_weight, acc_time = None, 0.0, None
    for i in liked[1:]:
        movie = vectors.matrix[items[i]]
        base = ema_step(base, movie, taste.review_alpha)
        acc, acc_weight, acc_time = recent_accumulate(acc, acc_weight, acc_time, movie, taste.rate_weight,
                                                      int(times_s[i]) * MS, taste.decay_per_day)
    now_ms = int(times_s[-1]) * MS
    weight = recent_weight_at(acc_weight, acc_time, now_ms, taste.decay_per_day)
    return scoring_vector(base, acc, weight, taste.scoring_base_weight, taste.recent_min_weight)


def taste_matrix(history: Histories, vectors: ItemVectors, taste: TasteConstants,
                 cold_start: np.ndarray) -> np.ndarray:
    """One scoring vector per user (rows aligned with user positions)."""
    return np.stack([profile_vector(items, ratings, times, vectors, taste, cold_start)
                     for items, ratings, times in zip(history.items, history.ratings, history.times, strict=True)]
                    ).astype(np.float32)


def content_scores(tastes: np.ndarray, vectors: ItemVectors) -> np.ndarray:
    """cos(u, m) for every user and item; items without a vector score −1 (they can never be retrieved)."""
    scores = tastes @ vectors.matrix.T
    scores[:, ~vectors.has_vector] = -1.0
    return scores
