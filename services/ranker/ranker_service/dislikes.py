"""Dislikes in ranking: a 1★ is not a positive interaction, and movies close to it are demoted.

* SeqEASE fold-in (``sequence_model.py``): a dislike's input weight is multiplied by
  ``DISLIKE_INPUT_WEIGHT`` (defined there with the measurement).
* Content neighbours: every candidate loses a bounded penalty that grows with its cosine to the
  nearest disliked movie (:func:`dislike_penalty`), applied to ``final`` by ``scoring.py``.
* The collaborative rating predictor regresses on the rating values, so a 1★ already lowers the
  predictions of movies like it (``collaborative.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ranker_service.sequence_model import DISLIKED_RATING

__all__ = ["DISLIKED_RATING", "DISLIKE_NEIGHBOUR_COS", "DISLIKE_PENALTY", "dislike_penalty", "disliked_ids"]

# Near neighbours of a disliked movie lose up to DISLIKE_PENALTY of their final score: the penalty
# grows linearly from 0 at cosine DISLIKE_NEIGHBOUR_COS (above the 99th percentile of random catalog
# pairs, 0.515; a movie's 10th nearest neighbour sits at ~0.53) to DISLIKE_PENALTY at cosine 1.
DISLIKE_PENALTY = 0.2
DISLIKE_NEIGHBOUR_COS = 0.5


def disliked_ids(ratings: Mapping[int, float]) -> list[int]:
    """Movies rated at or below the dislike threshold (2.5 stars)."""
    return [movie_id for movie_id, rating in ratings.items() if rating <= DISLIKED_RATING]


def dislike_penalty(candidate_vectors: np.ndarray, disliked_vectors: np.ndarray) -> np.ndarray:
    """Per candidate: DISLIKE_PENALTY·clip((max cos to a disliked movie − τ) / (1 − τ), 0, 1)."""
    if len(disliked_vectors) == 0 or len(candidate_vectors) == 0:
        return np.zeros(len(candidate_vectors))
    nearest = (np.asarray(candidate_vectors, dtype=np.float64) @ np.asarray(disliked_vectors, dtype=np.float64).T
               ).max(axis=1)
    closeness = np.clip((nearest - DISLIKE_NEIGHBOUR_COS) / (1.0 - DISLIKE_NEIGHBOUR_COS), 0.0, 1.0)
    return DISLIKE_PENALTY * closeness
