"""Numeric scoring: ``final = a·cos(u, m) + (1−a)·ŷ(u, m)``, then a calibrated match score.

* ``cos``: the user's taste vector against the movie vector (both L2-normalized).
* ``ŷ`` — the first of these that has something to say about the person:

  1. **SeqEASE** (``sequence_model.py``, ranker name ``numeric-seq``): "what goes next" from the
     person's ratings in chronological order (the 0.7^(steps before the latest) recency input), scaled
     to [0, 1] by the person's best unrated movie. Used whenever at least one of their rated or picked
     movies is known to the model;
  2. **the rating predictor** (``collaborative.py``, ``numeric``): the predicted rating scaled to
     [0, 1] — for a person without ratings that is the global mean plus the movie's bias;
  3. none (``numeric-content``): ``final = cos``.

* **Priors** (``Scores.prior``; they order the picks but are not part of ``final``, so the match score
  stays the calibrated estimate it was fitted as):

  - *popularity, for people the ranker knows little about*: ``β · 1/(1 + n) · pop(m)``, ``n`` = the
    person's rated + picked movies, ``pop`` = log(1 + MovieLens ratings) scaled to [0, 1]. A person who
    only chatted (n = 0) gets all of β, one with a single liked title half, a person with 20 ratings
    1/21: the less the collaborative signal knows, the more "widely watched" stands in for it. β
    (``RANKER_POPULARITY_PRIOR``) is chosen on INSPIRED dev through the chat
    (``python -m movierec_eval.select_popularity``) and reported on test;
  - *quality*: ``γ · q(m)``, ``q`` = the TMDB vote average shrunk toward the catalog mean by its vote
    count (a Bayesian average; the IMDb rating where TMDB has no votes), scaled to [0, 1]. γ
    (``RANKER_QUALITY_PRIOR``) is chosen on validation with a, λ and the candidate count
    (``python -m movierec_eval.select_served``).
* ``match_score = sigmoid(slope·final + intercept)``, one Platt mapping per ranker name, fitted on
  held-out ml-latest-small ratings: it estimates the chance that the person rates the movie 4 stars or
  more if they watch it. ``python -m movierec_jobs.calibrate`` chooses ``a`` and fits the mappings
  and writes them, with the evidence, to ``calibration.json`` beside this file and to
  ``reports/ranker-alpha.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ranker_service.dislikes import dislike_penalty, disliked_ids
from ranker_service.movies import MovieStore
from ranker_service.sequence_model import SequenceModel, SequenceState, position_weights

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
LIKED_RATING = 4.0
# A movie the person picked as a favourite without rating it counts as this rating for fold-in.
PICKED_RATING = 4.0


class CollaborativePredictor(Protocol):
    def fold_in(self, ratings: dict[int, float]): ...

    def predict_scaled(self, user_state, movie_ids) -> np.ndarray: ...


@dataclass(frozen=True)
class Calibration:
    """``P(rating ≥ 4 | final) ≈ sigmoid(slope·final + intercept)``."""

    slope: float
    intercept: float

    def apply(self, final: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.slope * np.asarray(final, dtype=np.float64) + self.intercept)))

    @classmethod
    def fit(cls, final: np.ndarray, liked: np.ndarray, l2: float = 1e-4, steps: int = 50) -> Calibration:
        """Logistic regression of ``liked`` on ``final`` by Newton's method (two parameters)."""
        x = np.column_stack([np.asarray(final, dtype=np.float64), np.ones(len(final))])
        y = np.asarray(liked, dtype=np.float64)
        w = np.zeros(2)
        for _ in range(steps):
            p = 1.0 / (1.0 + np.exp(-x @ w))
            gradient = x.T @ (p - y) + l2 * w
            hessian = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(2)
            step = np.linalg.solve(hessian, gradient)
            w -= step
            if np.abs(step).max() < 1e-10:
                break
        if w[0] < 0:  # a falling mapping would invert the ranking; the data says there is no signal
            w = np.array([0.0, float(np.log(y.mean() / (1 - y.mean())))])
        return cls(float(w[0]), float(w[1]))


@dataclass(frozen=True)
class ScoringParams:
    """The blend weight ``a`` and one calibration per ranker name ("numeric-seq", "numeric", "numeric-content")."""

    alpha: float
    calibrations: dict[str, Calibration]
    fitted_on: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> ScoringParams:
        data = json.loads(Path(path).read_text())
        return cls(alpha=float(data["alpha"]),
                   calibrations={name: Calibration(**value) for name, value in data["calibrations"].items()},
                   fitted_on=data.get("fitted_on", {}))

    def save(self, path: Path = CALIBRATION_FILE) -> None:
        data = {"alpha": self.alpha,
                "calibrations": {name: {"slope": c.slope, "intercept": c.intercept}
                                 for name, c in self.calibrations.items()},
                "fitted_on": self.fitted_on}
        Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True)
class Scores:
    """Per-candidate scores, aligned with ``movie_ids``."""

    movie_ids: list[int]
    cos: np.ndarray
    yhat: np.ndarray | None
    final: np.ndarray
    match: np.ndarray
    ranker: str = "numeric-content"
    prior: np.ndarray | None = None  # order-only priors (popularity, quality); None = zeros

    @property
    def ordering(self) -> np.ndarray:
        """What the picks are ordered by before the audience prior and MMR: ``final`` + the priors."""
        return self.final if self.prior is None else self.final + self.prior


class NumericScorer:
    """Blends content similarity with the collaborative signal and calibrates the result."""

    def __init__(self, store: MovieStore, params: ScoringParams, collab: CollaborativePredictor | None = None,
                 alpha: float | None = None, sequence: SequenceModel | None = None, popularity_prior: float = 0.0,
                 quality_prior: float = 0.0):
        for name, value in (("popularity_prior", popularity_prior), ("quality_prior", quality_prior)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.store = store
        self.popularity_prior = popularity_prior
        self.quality_prior = quality_prior
        self.collab = collab
        self.sequence = sequence
        self.alpha = params.alpha if alpha is None else alpha
        self.fallback_name = "numeric" if collab is not None else "numeric-content"
        self.name = "numeric-seq" if sequence is not None else self.fallback_name
        needed = {self.name, self.fallback_name}
        missing = sorted(needed - set(params.calibrations))
        if missing:
            raise ValueError(f"calibration.json has no calibration for {missing}; "
                             "run `python -m movierec_jobs.calibrate --write`")
        self.calibrations = {name: params.calibrations[name] for name in needed}

    @property
    def calibration(self) -> Calibration:
        return self.calibrations[self.name]

    def taste_vector(self, vector: np.ndarray | None, liked_ids: list[int]) -> np.ndarray | None:
        """The profile's vector; else the mean of the liked movies' vectors; else None."""
        if vector is not None and vector.size:
            return vector / np.linalg.norm(vector)
        liked = [movie_id for movie_id in liked_ids if movie_id in self.store.row_of]
        if not liked:
            return None
        mean = self.store.vectors_of(liked).mean(axis=0)
        norm = np.linalg.norm(mean)
        return mean / norm if norm > 0 else None

    def sequence_state(self, ordered_ids) -> SequenceState | None:
        """SeqEASE folded in from the person's movies, oldest first; None when it has nothing to say."""
        if self.sequence is None:
            return None
        state = self.sequence.fold_in(ordered_ids)
        return state if state.has_evidence else None

    def follows(self, source_id: int, movie_id: int) -> bool:
        """Does SeqEASE say that people who watched ``source_id`` go on to watch ``movie_id`` (a positive
        item-item weight)? The verifier checks "people who watched X went on to watch this" with it."""
        model = self.sequence
        if model is None or source_id not in model or movie_id not in model:
            return False
        return bool(model.weights[model.position[int(source_id)], model.position[int(movie_id)]] > 0.0)

    def watched_next_source(self, ordered_ids: list[int], movie_id: int,
                            is_liked: Callable[[int], bool]) -> int | None:
        """The liked movie that contributes most to SeqEASE's score of ``movie_id``: its recency weight
        (as in the fold-in) times its item-item weight to the movie; None when no liked movie adds to it."""
        model = self.sequence
        if model is None or movie_id not in model:
            return None
        target = model.position[int(movie_id)]
        best, best_contribution = None, 0.0
        for source, weight in zip(ordered_ids, position_weights(len(ordered_ids), model.params.decay), strict=True):
            row = model.position.get(int(source))
            if row is None or not is_liked(source):
                continue
            contribution = float(weight) * float(model.weights[row, target])
            if contribution > best_contribution:
                best, best_contribution = int(source), contribution
        return best

    def popularity_weight(self, known_movies: int) -> float:
        """β · 1/(1 + n): the popularity prior's weight for a person with ``n`` rated or picked movies."""
        return self.popularity_prior / (1.0 + known_movies)

    def score(self, movie_ids: list[int], taste: np.ndarray | None, fold_in_ratings: dict[int, float],
              retrieval_scores: np.ndarray, sequence_state: SequenceState | None = None) -> Scores:
        """Score candidates. Without any taste signal the retrieval score (a cosine too) stands in for cos.

        ``sequence_state`` (from :meth:`sequence_state`) selects SeqEASE as ŷ; without it the rating
        predictor (folded in from ``fold_in_ratings``) is ŷ, and without that ``final = cos``.
        """
        vectors = self.store.vectors_of(movie_ids)
        cos = vectors @ taste if taste is not None else np.clip(retrieval_scores, -1.0, 1.0)
        cos = cos.astype(np.float64)
        yhat = None
        final = cos
        name = "numeric-content"
        if sequence_state is not None:
            yhat = self.sequence.predict_scaled(sequence_state, movie_ids)
            name = "numeric-seq"
        elif self.collab is not None:
            state = self.collab.fold_in(fold_in_ratings)
            yhat = np.asarray(self.collab.predict_scaled(state, movie_ids), dtype=np.float64)
            name = "numeric"
        if yhat is not None:
            final = self.alpha * cos + (1.0 - self.alpha) * yhat
        disliked = [m for m in disliked_ids(fold_in_ratings) if m in self.store.row_of]
        if disliked:  # near neighbours of a disliked movie are demoted (bounded: dislikes.py)
            final = final - dislike_penalty(vectors, self.store.vectors_of(disliked))
        match = np.clip(self.calibrations[name].apply(final), 0.0, 1.0)
        return Scores(list(movie_ids), cos, yhat, final, match, name, self.prior(movie_ids, len(fold_in_ratings)))

    def prior(self, movie_ids: list[int], known_movies: int) -> np.ndarray:
        """The order-only priors of the module docstring (zeros when both weights are 0)."""
        prior = np.zeros(len(movie_ids))
        popularity = self.popularity_weight(known_movies)
        if popularity > 0:
            prior += popularity * self.store.popularity(movie_ids)
        if self.quality_prior > 0:
            prior += self.quality_prior * self.store.quality(movie_ids)
        return prior
