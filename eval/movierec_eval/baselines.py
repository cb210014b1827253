"""Top-N models on the same split: popularity, ItemKNN, implicit ALS, EASE, and the sequence-aware EASE variants.

Every model is **fitted once on the training histories** (all but each user's last two ratings) and
then scores any input matrix (users × items): the validation phase feeds the training histories, the
test phase feeds the training histories plus the validation item (folded in at scoring time, as
SASRec/LlamaRec do and as the ranker does with a person's newest rating). Everything is numpy/scipy,
vectorized, and deterministic (ALS starts from a seeded draw).

The sequence-aware variants:

* **recency-weighted input** — the input row weights the i-th most recent interaction by γ^i, so
  the model scores "what goes with what this person just watched";
* **window EASE** — EASE fitted on windows of L consecutive ratings of each user (stride L/2)
  instead of whole user histories, so its item-item weights encode "rated close together" rather
  than "rated by the same person, years apart".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from movierec_eval.data import Histories
from ranker_service.sequence_model import spd_inverse  # one implementation, shared with the service

DAY_S = 86_400.0


def recency_weights(history: Histories, kind: str, decay: float) -> list[np.ndarray]:
    """Per-interaction weights favouring the end of each history.

    ``position``: w = decay^(steps before the most recent interaction);
    ``time``: w = 0.5^(days before the most recent interaction / decay) (``decay`` is a half-life in days);
    ``none``: w = 1.
    """
    out = []
    for items, times in zip(history.items, history.times, strict=True):
        if kind == "position":
            steps = np.arange(len(items) - 1, -1, -1, dtype=np.float64)
            out.append((decay ** steps).astype(np.float32))
        elif kind == "time":
            days = (times[-1] - times) / DAY_S if len(times) else np.zeros(0)
            out.append((0.5 ** (days / decay)).astype(np.float32))
        elif kind == "none":
            out.append(np.ones(len(items), dtype=np.float32))
        else:
            raise ValueError(f"unknown recency kind {kind!r}")
    return out


class Popularity:
    """Every user gets the training interaction count of each item."""

    def __init__(self, train: sp.csr_matrix):
        self.counts = np.asarray(train.sum(axis=0)).ravel().astype(np.float32)

    def score(self, inputs: sp.csr_matrix) -> np.ndarray:
        return np.tile(self.counts, (inputs.shape[0], 1))


class ItemKNN:
    """Item-based kNN: cosine similarity of the binary item columns, top-``neighbours`` per item.

    The similarity is computed once (in column blocks) keeping the ``max_neighbours`` best per item;
    :meth:`pruned` derives any smaller neighbourhood without recomputing it.
    """

    def __init__(self, train: sp.csr_matrix, max_neighbours: int, block: int = 1024):
        x = train.tocsc().astype(np.float32)
        norms = np.sqrt(np.asarray(x.power(2).sum(axis=0)).ravel()) + 1e-9
        xt = x.T.tocsr()
        n = x.shape[1]
        keep = min(max_neighbours, n - 1)
        self.top_rows = np.zeros((keep, n), dtype=np.int64)  # neighbour rows per item column, best first
        self.top_sims = np.zeros((keep, n), dtype=np.float32)
        for start in range(0, n, block):
            stop = min(start + block, n)
            sim = (xt @ x[:, start:stop]).toarray() / np.outer(norms, norms[start:stop])
            sim[np.arange(start, stop), np.arange(stop - start)] = -np.inf  # no self-similarity
            part = np.argpartition(-sim, keep - 1, axis=0)[:keep]
            values = np.take_along_axis(sim, part, axis=0)
            order = np.argsort(-values, axis=0, kind="stable")
            self.top_rows[:, start:stop] = np.take_along_axis(part, order, axis=0)
            self.top_sims[:, start:stop] = np.maximum(np.take_along_axis(values, order, axis=0), 0.0)
        self.similarity = self._matrix(keep)

    def _matrix(self, neighbours: int) -> sp.csr_matrix:
        n = self.top_rows.shape[1]
        cols = np.broadcast_to(np.arange(n), (neighbours, n))
        return sp.csr_matrix((self.top_sims[:neighbours].ravel(), (self.top_rows[:neighbours].ravel(),
                                                                   cols.ravel())), shape=(n, n))

    def pruned(self, neighbours: int) -> ItemKNN:
        clone = object.__new__(ItemKNN)
        clone.top_rows, clone.top_sims = self.top_rows, self.top_sims
        clone.similarity = self._matrix(min(neighbours, self.top_rows.shape[0]))
        return clone

    def score(self, inputs: sp.csr_matrix) -> np.ndarray:
        return np.asarray((inputs @ self.similarity).todense(), dtype=np.float32)


class ImplicitALS:
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008), confidence c = 1 + α·x, exact batched solves.

    Scoring solves the user factors of the input rows against the fitted item factors (fold-in).
    """

    def __init__(self, train: sp.csr_matrix, factors: int, reg: float, alpha: float, iterations: int, seed: int):
        self.reg, self.alpha = reg, alpha
        rng = np.random.default_rng(seed)
        items = rng.normal(0, 0.01, (train.shape[1], factors))
        item_major = train.T.tocsr()
        for _ in range(iterations):
            users = self._solve(train, items)
            items = self._solve(item_major, users)
        self.items = items

    def _solve(self, x: sp.csr_matrix, fixed: np.ndarray) -> np.ndarray:
        """Every row at once: (FᵀF + Fᵀ(Cᵤ−I)F + λI) xᵤ = FᵀCᵤpᵤ."""
        k = fixed.shape[1]
        outer = np.einsum("ik,il->ikl", fixed, fixed).reshape(len(fixed), k * k)
        conf = x.astype(np.float64)
        conf.data = self.alpha * conf.data
        lhs = (conf @ outer).reshape(x.shape[0], k, k) + fixed.T @ fixed + self.reg * np.eye(k)
        conf.data += 1.0
        rhs = conf @ fixed
        return np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]

    def score(self, inputs: sp.csr_matrix) -> np.ndarray:
        users = self._solve(sp.csr_matrix(inputs > 0, dtype=np.float64), self.items)
        return (users @ self.items.T).astype(np.float32)


class Ease:
    """EASE (Steck 2019): B = I − P·diag(1/diag P), P = (XᵀX + λI)⁻¹; scores = input · B.

    With fewer training rows than items (user-level EASE: 610 users) P comes from the Woodbury
    identity, P = (I − Xᵀ(λI + XXᵀ)⁻¹X)/λ, so only a rows × rows matrix is inverted and B is never
    formed; otherwise the Gram matrix is inverted by Cholesky in float32.
    """

    def __init__(self, train: sp.csr_matrix, lam: float):
        self.lam = lam
        x = train.astype(np.float64).tocsr()
        self.low_rank = x.shape[0] < x.shape[1]
        if self.low_rank:
            self.x = x
            inner = (x @ x.T).toarray()
            inner[np.diag_indices_from(inner)] += lam
            self.m_x = scipy.linalg.solve(inner, x.toarray(), assume_a="pos")  # (λI + XXᵀ)⁻¹X
            self.p_diag = (1.0 - np.einsum("ij,ij->j", x.toarray(), self.m_x)) / lam
        else:
            p = spd_inverse((x.T @ x).toarray().astype(np.float32), lam)
            b = p / (-np.diag(p))
            np.fill_diagonal(b, 0.0)
            self.b = np.ascontiguousarray(b, dtype=np.float32)  # sparse @ dense copies a Fortran array

    def score(self, inputs: sp.csr_matrix) -> np.ndarray:
        if not self.low_rank:
            return np.asarray(inputs @ self.b, dtype=np.float32)
        dense = inputs.astype(np.float64).toarray()
        times_p = (dense - (inputs @ self.x.T) @ self.m_x) / self.lam  # input · P
        scores = dense - times_p / self.p_diag[None, :]
        return scores.astype(np.float32)


class SupportedEase:
    """EASE over the items with at least ``min_support`` training interactions (the rest score 0).

    Items seen once carry almost no co-occurrence evidence; leaving them out of the Gram matrix makes
    the dense inversion of the full variant (9.7k → about 6k items) four times cheaper.
    """

    def __init__(self, train: sp.csr_matrix, lam: float, min_support: int = 2):
        counts = np.asarray((train > 0).sum(axis=0)).ravel()
        self.support = np.flatnonzero(counts >= min_support)
        self.n_items = train.shape[1]
        self.model = Ease(train[:, self.support], lam)

    def score(self, inputs: sp.csr_matrix) -> np.ndarray:
        out = np.zeros((inputs.shape[0], self.n_items), dtype=np.float32)
        out[:, self.support] = self.model.score(inputs.tocsc()[:, self.support].tocsr())
        return out


def window_matrix(history: Histories, length: int, stride: int) -> sp.csr_matrix:
    """One row per window of ``length`` consecutive ratings of a user (windows start every ``stride``)."""
    rows, cols, row = [], [], 0
    for items in history.items:
        starts = range(0, max(1, len(items) - length + stride), stride)
        for start in starts:
            window = items[start:start + length]
            rows.append(np.full(len(window), row))
            cols.append(window)
            row += 1
    data = np.ones(sum(len(c) for c in cols), dtype=np.float32)
    return sp.csr_matrix((data, (np.concatenate(rows), np.concatenate(cols))),
                         shape=(row, history.universe.n_items))


@dataclass(frozen=True)
class SequenceSpec:
    """How a sequence-aware model turns a history into its input row."""

    recency: str = "none"  # none | position | time
    decay: float = 1.0

    def inputs(self, history: Histories) -> sp.csr_matrix:
        return history.matrix(recency_weights(history, self.recency, self.decay))
