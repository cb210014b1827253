"""Maximal Marginal Relevance: pick relevant movies that are not variations of the ones already picked.

``next = argmax_i  λ·relevance(i) − (1−λ)·max_{j picked} cos(m_i, m_j)``

λ = 1 is pure relevance order; lower λ trades relevance for spread (default 0.7, ``RANKER_MMR_LAMBDA``).
"""

from __future__ import annotations

import numpy as np


def mmr_order(relevance: np.ndarray, vectors: np.ndarray, k: int, lam: float) -> list[int]:
    """Positions of the ``k`` picks in order; ``vectors`` are L2-normalized rows aligned with ``relevance``."""
    count = len(relevance)
    k = min(k, count)
    if k == 0:
        return []
    relevance = np.asarray(relevance, dtype=np.float64)
    if lam >= 1.0:
        return [int(i) for i in np.argsort(-relevance, kind="stable")[:k]]
    similarity = np.asarray(vectors, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64).T
    max_similarity = np.full(count, -np.inf)
    available = np.ones(count, dtype=bool)
    picked: list[int] = []
    for _ in range(k):
        redundancy = np.where(np.isfinite(max_similarity), max_similarity, 0.0)
        objective = lam * relevance - (1.0 - lam) * redundancy
        objective[~available] = -np.inf
        best = int(np.argmax(objective))
        picked.append(best)
        available[best] = False
        max_similarity = np.maximum(max_similarity, similarity[best])
    return picked


def mean_pairwise_similarity(vectors: np.ndarray) -> float:
    """Average cosine between distinct picks (lower = more diverse); 0 for fewer than two."""
    count = len(vectors)
    if count < 2:
        return 0.0
    similarity = vectors @ vectors.T
    return float((similarity.sum() - np.trace(similarity)) / (count * (count - 1)))
