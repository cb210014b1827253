"""SeqEASE: the sequence-aware collaborative signal ŷ_topn the ranker orders by ("what goes next").

**Fit** (offline, ``python -m movierec_jobs.train``): EASE (Steck 2019) with ridge ``λ`` on *windows*
of ``window`` consecutive ratings of every person, a new window every ``stride`` ratings — so the
item-item weights encode "rated close together" rather than "rated by the same person, years
apart". Items rated by fewer than ``min_support`` people carry almost no co-occurrence evidence and
are left out (they score 0); that also keeps the dense matrix to the ~6k supported items (~150 MB)::

    G = XᵀX + λI,  P = G⁻¹,  B = −P / diag(P),  diag(B) = 0

**Fold-in** (per request, :meth:`SequenceModel.fold_in`): the person's ratings in chronological
order (oldest first), the i-th most recent weighted ``decay``^i (i counts every rating, also of
movies the model does not know), times ``B``. Given the ratings' values (a mapping movie → stars),
a dislike (≤ ``DISLIKED_RATING`` = 2.5 stars) is not a positive interaction: its input weight is
multiplied by ``DISLIKE_INPUT_WEIGHT`` (−0.5: it counts as a step back in the sequence and subtracts
what usually follows it; measured by ``bench/seqease_dislike.py``, see the ranker README). Plain id
lists (training, calibration) weigh every interaction alike.
Ratings older than ``decay``^i < 1e-9 are dropped (below float32 resolution of the sum), which keeps
the cost bounded for people with thousands of ratings.

**Scale**: divided by the person's highest score over the movies they have not rated, clipped to
[0, 1] (all 0 when that maximum is ≤ 0) — the ``ŷ ∈ [0, 1]`` that ``final = a·cos + (1−a)·ŷ`` expects.

This is the only implementation: the evaluation harness (``eval/movierec_eval/sequence.py``) fits
and scores through this module, so the numbers in ``reports/eval.md`` are this code's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from movierec_core.hashing import sha256_file

ARTIFACT_FORMAT = "movierec-seqease"
ARTIFACT_FORMAT_VERSION = 1
CODE_VERSION = "seqease-window-ease-2"
ARRAYS_FILE = "seq_ease.npz"
MANIFEST_FILE = "manifest.json"
# Input weights below this (relative to the latest rating's 1.0) are dropped at fold-in.
MIN_INPUT_WEIGHT = 1e-9
# A rating at or below this is a dislike; its fold-in input weight is multiplied by DISLIKE_INPUT_WEIGHT.
DISLIKED_RATING = 2.5
DISLIKE_INPUT_WEIGHT = -0.5


@dataclass(frozen=True)
class SeqEaseParams:
    window: int = 10
    stride: int = 5
    lam: float = 100.0
    decay: float = 0.7
    min_support: int = 2

    def __post_init__(self) -> None:
        if self.window < 1 or self.stride < 1 or self.min_support < 1:
            raise ValueError(f"window, stride and min_support must be ≥ 1: {self}")
        if not self.lam > 0 or not 0 < self.decay <= 1:
            raise ValueError(f"lam must be > 0 and decay within (0, 1]: {self}")

    def describe(self) -> dict:
        return asdict(self)

    @classmethod
    def fitted_in(cls, directory: str | os.PathLike) -> SeqEaseParams:
        """The parameters the artifact in ``directory`` was fitted with (the defaults when there is none)."""
        manifest = Path(directory) / MANIFEST_FILE
        return cls(**json.loads(manifest.read_text())["params"]) if manifest.is_file() else cls()


@dataclass(frozen=True)
class SequenceState:
    """One person folded in: ŷ over the model's items, and which of them they have already rated."""

    scaled: np.ndarray  # float32, aligned with SequenceModel.movie_ids
    seen: np.ndarray  # bool, aligned with SequenceModel.movie_ids

    @property
    def has_evidence(self) -> bool:
        """False when none of the person's movies says anything about the others (no ratings, or only
        movies the model does not know): ŷ is 0 everywhere and the ranker falls back."""
        return bool(self.scaled.max(initial=0.0) > 0.0)


# ---- fitting ---------------------------------------------------------------------------------------

def window_matrix(sequences: Sequence[np.ndarray], n_items: int, window: int, stride: int) -> sp.csr_matrix:
    """One row per window of ``window`` consecutive items of a sequence (windows start every ``stride``)."""
    rows, cols, row = [], [], 0
    for items in sequences:
        for start in range(0, max(1, len(items) - window + stride), stride):
            chunk = np.asarray(items[start:start + window], dtype=np.int64)
            rows.append(np.full(len(chunk), row))
            cols.append(chunk)
            row += 1
    data = np.ones(sum(len(c) for c in cols), dtype=np.float32)
    return sp.csr_matrix((data, (np.concatenate(rows), np.concatenate(cols))), shape=(row, n_items))


def spd_inverse(gram: np.ndarray, lam: float) -> np.ndarray:
    """(G + λI)⁻¹ of a symmetric positive semi-definite float32 matrix via LAPACK potrf + potri (in place)."""
    gram[np.diag_indices_from(gram)] += lam
    potrf, potri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potri"), (gram,))
    factor, info = potrf(gram, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky factorization failed (info={info}); raise λ")
    inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"inverse from Cholesky failed (info={info})")
    return np.triu(inverse) + np.triu(inverse, 1).T


def ease_weights(x: sp.csr_matrix, lam: float) -> np.ndarray:
    """EASE's item-item matrix B (float32, zero diagonal) for the interaction matrix ``x``."""
    gram = (x.T @ x).toarray().astype(np.float32)
    p = spd_inverse(gram, lam)
    b = p / (-np.diag(p))
    np.fill_diagonal(b, 0.0)
    return np.ascontiguousarray(b, dtype=np.float32)


def position_weights(count: int, decay: float) -> np.ndarray:
    """decay^(steps before the latest) for ``count`` chronological interactions (the latest gets 1)."""
    return (decay ** np.arange(count - 1, -1, -1, dtype=np.float64)).astype(np.float32)


# ---- the model -------------------------------------------------------------------------------------

@dataclass
class SequenceModel:
    """Fitted SeqEASE weights over ``movie_ids`` (the supported items, ascending)."""

    movie_ids: np.ndarray
    weights: np.ndarray
    params: SeqEaseParams
    manifest: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.movie_ids = np.asarray(self.movie_ids, dtype=np.int64)
        self.position = {int(m): i for i, m in enumerate(self.movie_ids)}

    @classmethod
    def fit(cls, sequences: Iterable[Sequence[int]], params: SeqEaseParams) -> SequenceModel:
        """Fit on each person's movie ids in chronological order (oldest first)."""
        sequences = [np.asarray(s, dtype=np.int64) for s in sequences]
        universe, inverse = np.unique(np.concatenate(sequences), return_inverse=True)
        bounds = np.cumsum([0, *(len(s) for s in sequences)])
        coded = [inverse[bounds[i]:bounds[i + 1]] for i in range(len(sequences))]
        x = window_matrix(coded, len(universe), params.window, params.stride)
        # Support counts ratings (not windows: with stride < window one rating sits in two windows).
        support = np.flatnonzero(np.bincount(inverse, minlength=len(universe)) >= params.min_support)
        weights = ease_weights(x[:, support].astype(np.float64).tocsr(), params.lam)
        return cls(universe[support], weights, params)

    def with_decay(self, decay: float) -> SequenceModel:
        """The same fitted weights with another input recency (tuning the decay needs no refit)."""
        return SequenceModel(self.movie_ids, self.weights, replace(self.params, decay=decay), self.manifest)

    @property
    def n_items(self) -> int:
        return len(self.movie_ids)

    def __contains__(self, movie_id: int) -> bool:
        return int(movie_id) in self.position

    def score_matrix(self, inputs: sp.csr_matrix) -> np.ndarray:
        """Raw scores for a batch of input rows already weighted and aligned with ``movie_ids``."""
        return np.asarray(inputs @ self.weights, dtype=np.float32)

    def fold_in(self, history: Iterable[int] | Mapping[int, float], *,
                dislike_weight: float = DISLIKE_INPUT_WEIGHT) -> SequenceState:
        """ŷ for a person from their rated movies, oldest first: a list of ids (every one an interaction)
        or a ratings mapping in that order (dislikes weighted by ``dislike_weight``)."""
        ordered = [int(m) for m in history]
        seen = np.zeros(self.n_items, dtype=bool)
        known = [self.position[m] for m in ordered if m in self.position]
        seen[known] = True
        input_weights = position_weights(len(ordered), self.params.decay)
        if isinstance(history, Mapping):
            disliked = np.fromiter((float(history[m]) <= DISLIKED_RATING for m in history), dtype=bool,
                                   count=len(ordered))
            input_weights = np.where(disliked, input_weights * np.float32(dislike_weight), input_weights)
        kept = np.abs(input_weights) >= MIN_INPUT_WEIGHT
        rows, weights = [], []
        for movie_id, weight in zip(np.asarray(ordered)[kept], input_weights[kept], strict=True):
            row = self.position.get(int(movie_id))
            if row is not None:
                rows.append(row)
                weights.append(weight)
        if not rows:
            return SequenceState(np.zeros(self.n_items, dtype=np.float32), seen)
        raw = np.asarray(weights, dtype=np.float32) @ self.weights[rows]
        return SequenceState(scale_to_unit(raw[None, :], seen[None, :])[0], seen)

    def predict_scaled(self, state: SequenceState, movie_ids: Iterable[int]) -> np.ndarray:
        """ŷ for ``movie_ids`` (0 for movies the model does not know)."""
        rows = [self.position.get(int(m), -1) for m in movie_ids]
        padded = np.append(state.scaled, np.float32(0.0))  # row -1 → the appended 0
        return padded[rows].astype(np.float64)

    def ranked_unseen(self, state: SequenceState, limit: int) -> list[int]:
        """Up to ``limit`` movie ids the person has not rated with ŷ > 0, best first (ties by movie id)."""
        if limit <= 0 or not state.has_evidence:
            return []
        score = np.where(state.seen, 0.0, state.scaled)
        positive = np.flatnonzero(score > 0)
        if len(positive) > limit:
            positive = positive[np.argpartition(-score[positive], limit - 1)[:limit]]
        order = np.lexsort((self.movie_ids[positive], -score[positive]))
        return [int(m) for m in self.movie_ids[positive[order]]]

    # ---- persistence ---------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike, manifest: Mapping | None = None) -> Path:
        """``seq_ease.npz`` + ``manifest.json`` (format, parameters, the npz sha256, plus ``manifest``)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{ARRAYS_FILE}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, movie_ids=self.movie_ids, weights=self.weights)
        digest = sha256_file(tmp)
        os.replace(tmp, d / ARRAYS_FILE)
        body = {**dict(manifest or self.manifest), "format": ARTIFACT_FORMAT,
                "format_version": ARTIFACT_FORMAT_VERSION, "code_version": CODE_VERSION,
                "params": self.params.describe(), "n_items": self.n_items,
                "files": {ARRAYS_FILE: {"sha256": digest}}}
        (d / MANIFEST_FILE).write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        return d

    @classmethod
    def load(cls, directory: str | os.PathLike) -> SequenceModel:
        """A model written by :meth:`save` (a ``current`` symlink works); ``ValueError`` when corrupt."""
        d = Path(directory)
        if not (d / MANIFEST_FILE).is_file():
            raise FileNotFoundError(f"no {MANIFEST_FILE} in {d}")
        manifest = json.loads((d / MANIFEST_FILE).read_text())
        if manifest.get("format") != ARTIFACT_FORMAT or manifest.get("format_version") != ARTIFACT_FORMAT_VERSION:
            raise ValueError(f"{d} is not a {ARTIFACT_FORMAT} v{ARTIFACT_FORMAT_VERSION} artifact")
        expected = manifest.get("files", {}).get(ARRAYS_FILE, {}).get("sha256")
        if expected and sha256_file(d / ARRAYS_FILE) != expected:
            raise ValueError(f"{d / ARRAYS_FILE} does not match the sha256 in its manifest (corrupt or partial)")
        with np.load(d / ARRAYS_FILE, allow_pickle=False) as z:
            movie_ids, weights = z["movie_ids"], np.ascontiguousarray(z["weights"], dtype=np.float32)
        if weights.shape != (len(movie_ids), len(movie_ids)):
            raise ValueError(f"{d / ARRAYS_FILE}: weights {weights.shape} do not match {len(movie_ids)} items")
        return cls(movie_ids, weights, SeqEaseParams(**manifest["params"]), manifest)


def scale_to_unit(raw: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Each row divided by its maximum over unseen items, clipped to [0, 1] (all zeros when that max ≤ 0)."""
    top = np.max(np.where(seen, -np.inf, raw), axis=1, keepdims=True)
    safe = np.where(top > 0, top, np.inf)
    return np.clip(raw / safe, 0.0, 1.0).astype(np.float32)


