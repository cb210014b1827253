"""Splits of ml-latest-small used by every offline measurement, and the user × item matrices built from them.

Leave-last-out (the protocol of SASRec, LlamaRec and docs/architecture.md §6): each user's ratings are ordered by
``(timestamp, movie_id)`` — the movie id breaks ties, because about 15% of users rated their last two
movies within the same second. The last rating is the **test** item, the one before it the
**validation** item, the rest the training history. Every rating counts as an interaction
(implicit feedback, whatever the star value), as in LlamaRec's preprocessing.

Two item universes:

* ``full``: every movie with at least one rating (9,723 movies after the catalog merged 144606 into 6003);
* ``5core``: ratings filtered iteratively until every item has ≥ 5 ratings and every user ≥ 5
  (610 users, 3,650 items: LlamaRec's variant of this data set).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

SORT_KEYS = ["user_id", "timestamp", "movie_id"]
TIE_RULE = "ratings ordered by (timestamp, movieId): the movie id breaks ties in time"


def k_core(ratings: pd.DataFrame, k: int) -> pd.DataFrame:
    """Drop items and users with fewer than ``k`` ratings until none is left (iterative k-core)."""
    while True:
        items = ratings.movie_id.map(ratings.movie_id.value_counts()) >= k
        users = ratings.user_id.map(ratings.user_id.value_counts()) >= k
        keep = items & users
        if keep.all():
            return ratings.reset_index(drop=True)
        ratings = ratings[keep]


@dataclass(frozen=True)
class Universe:
    """The users and items of one variant, with dense positions (rows and columns of matrices)."""

    name: str
    user_ids: np.ndarray
    item_ids: np.ndarray

    @cached_property
    def user_pos(self) -> dict[int, int]:
        return {int(u): i for i, u in enumerate(self.user_ids)}

    @cached_property
    def item_pos(self) -> dict[int, int]:
        return {int(m): j for j, m in enumerate(self.item_ids)}

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


@dataclass
class Histories:
    """Per-user chronological histories as item positions (plus ratings and timestamps), row = user position."""

    items: list[np.ndarray]
    ratings: list[np.ndarray]
    times: list[np.ndarray]
    universe: Universe

    def matrix(self, weights: list[np.ndarray] | None = None) -> sp.csr_matrix:
        """Users × items, 1 per interaction (or the given per-interaction weights)."""
        rows = np.concatenate([np.full(len(h), u) for u, h in enumerate(self.items)])
        cols = np.concatenate(self.items)
        data = np.concatenate(weights) if weights is not None else np.ones(len(cols), dtype=np.float32)
        shape = (self.universe.n_users, self.universe.n_items)
        return sp.csr_matrix((data.astype(np.float32), (rows, cols)), shape=shape)

    def movie_ids(self, user: int) -> np.ndarray:
        return self.universe.item_ids[self.items[user]]


@dataclass
class LeaveLastOut:
    """One variant's split: training histories, and validation/test targets (item positions per user).

    ``phase="validation"``: history = training part, target = second-last item.
    ``phase="test"``: history = training part + validation item, target = last item (the usual
    protocol: hyper-parameters are chosen on validation, then the model sees everything but the test item).
    """

    universe: Universe
    train: Histories
    with_validation: Histories
    validation_items: np.ndarray
    test_items: np.ndarray
    stats: dict = field(default_factory=dict)
    test_tied: np.ndarray | None = None  # per user: the test and validation ratings share a timestamp

    def history(self, phase: str) -> Histories:
        return self.train if phase == "validation" else self.with_validation

    def targets(self, phase: str) -> np.ndarray:
        return self.validation_items if phase == "validation" else self.test_items


RANDOM_TIE_RULE = "ratings ordered by timestamp, ties in time in a random order (seed {seed})"


def leave_last_out(ratings: pd.DataFrame, name: str, tie_seed: int | None = None) -> LeaveLastOut:
    """Split ``ratings`` (user_id, movie_id, rating, timestamp) by the tie rule above, or — with
    ``tie_seed`` — with ratings of the same second in a seeded random order (protocol sensitivity)."""
    if tie_seed is None:
        ordered = ratings.sort_values(SORT_KEYS, kind="mergesort").reset_index(drop=True)
    else:
        shuffled = ratings.assign(_tie=np.random.default_rng(tie_seed).permutation(len(ratings)))
        ordered = shuffled.sort_values(["user_id", "timestamp", "_tie"]).drop(columns="_tie").reset_index(drop=True)
    counts = ordered.groupby("user_id").size()
    if (counts < 3).any():
        raise ValueError(f"{int((counts < 3).sum())} users have fewer than 3 ratings; leave-last-out needs 3")
    universe = Universe(name, np.sort(ordered.user_id.unique()), np.sort(ordered.movie_id.unique()))
    item_col = np.searchsorted(universe.item_ids, ordered.movie_id.to_numpy())
    bounds = np.concatenate([[0], np.cumsum(counts.loc[universe.user_ids].to_numpy())])
    rating = ordered.rating.to_numpy(dtype=np.float32)
    stamp = ordered.timestamp.to_numpy(dtype=np.int64)

    def histories(cut_from_end: int) -> Histories:
        spans = [slice(bounds[u], bounds[u + 1] - cut_from_end) for u in range(universe.n_users)]
        return Histories([item_col[s] for s in spans], [rating[s] for s in spans], [stamp[s] for s in spans],
                         universe)

    last = bounds[1:] - 1
    tied = stamp[last] == stamp[last - 1]
    stats = {"users": universe.n_users, "items": universe.n_items, "ratings": len(ordered),
             "validation_test_same_timestamp": round(float(np.mean(tied)), 4),
             "tie_rule": TIE_RULE if tie_seed is None else RANDOM_TIE_RULE.format(seed=tie_seed)}
    return LeaveLastOut(universe, histories(2), histories(1), item_col[last - 1], item_col[last], stats, tied)


def random_split(ratings: pd.DataFrame, test_fraction: float = 0.2, seed: int = 42) -> tuple[pd.DataFrame,
                                                                                             pd.DataFrame]:
    """A random ``1 − test_fraction`` / ``test_fraction`` split of the ratings (rating prediction)."""
    rng = np.random.default_rng(seed)
    is_test = rng.random(len(ratings)) < test_fraction
    return ratings[~is_test].reset_index(drop=True), ratings[is_test].reset_index(drop=True)
