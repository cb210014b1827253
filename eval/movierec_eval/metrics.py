"""Ranking metrics for one held-out item per user, bootstrap intervals over users, paired comparisons.

With a single target item per user, HR@K = Recall@K = [rank < K] and NDCG@K = 1/log2(rank + 2) when
rank < K (rank 0 = first place). Ties in score are broken by one fixed random order of the items
(seeded), never in the target's favour.
"""

from __future__ import annotations

import numpy as np

CUTOFFS = (10, 20, 50, 100, 200)
BOOTSTRAP_SAMPLES = 2000


def target_ranks(scores: np.ndarray, seen: np.ndarray, targets: np.ndarray, tie_order: np.ndarray) -> np.ndarray:
    """0-based rank of each user's target among the items it has not seen.

    ``scores``: (users, items); ``seen``: bool (users, items), True for history items (excluded);
    ``targets``: item position per user; ``tie_order``: a permutation rank per item (lower wins ties).
    """
    users = np.arange(len(targets))
    target_score = scores[users, targets][:, None]
    candidates = ~seen
    above = (scores > target_score) | ((scores == target_score) & (tie_order[None, :] < tie_order[targets][:, None]))
    above &= candidates
    # A target item the user has already seen cannot happen in leave-last-out of distinct items, but a
    # user who re-rated a movie would make it so; that target then counts as found nowhere.
    ranks = above.sum(axis=1)
    ranks[seen[users, targets]] = np.iinfo(np.int64).max // 2
    return ranks


def ranks_from_lists(ranked_items: list[np.ndarray], targets: np.ndarray) -> np.ndarray:
    """Rank of each target inside an explicit ranked list (missing → a large number)."""
    missing = np.iinfo(np.int64).max // 2
    out = np.full(len(targets), missing, dtype=np.int64)
    for user, (items, target) in enumerate(zip(ranked_items, targets, strict=True)):
        where = np.flatnonzero(np.asarray(items) == target)
        if where.size:
            out[user] = where[0]
    return out


def per_user(ranks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-user metric values (arrays aligned with users)."""
    values = {"hr@10": (ranks < 10).astype(np.float64),
              "ndcg@10": np.where(ranks < 10, 1.0 / np.log2(np.minimum(ranks, 10) + 2.0), 0.0)}
    for k in CUTOFFS:
        values[f"recall@{k}"] = (ranks < k).astype(np.float64)
    return values


def summarize(ranks: np.ndarray, seed: int = 0, metrics: tuple[str, ...] | None = None) -> dict:
    """Mean and bootstrap 95% interval over users of each metric."""
    values = per_user(ranks)
    samples = bootstrap_indices(len(ranks), seed)
    out = {}
    for name, v in values.items():
        if metrics is not None and name not in metrics:
            continue
        means = v[samples].mean(axis=1)
        out[name] = {"mean": round(float(v.mean()), 4),
                     "ci95": [round(float(np.percentile(means, 2.5)), 4),
                              round(float(np.percentile(means, 97.5)), 4)]}
    return out


def bootstrap_indices(n: int, seed: int, samples: int = BOOTSTRAP_SAMPLES) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def paired(a: np.ndarray, b: np.ndarray, seed: int = 0, metric: str = "ndcg@10") -> dict:
    """System ``a`` minus system ``b`` on the same users: mean difference, bootstrap 95% interval and a
    two-sided paired sign-flip randomization p-value."""
    diff = per_user(a)[metric] - per_user(b)[metric]
    samples = bootstrap_indices(len(diff), seed)
    means = diff[samples].mean(axis=1)
    rng = np.random.default_rng(seed + 1)
    flips = rng.choice((-1.0, 1.0), size=(BOOTSTRAP_SAMPLES * 5, len(diff)))
    null = np.abs((flips * diff).mean(axis=1))
    p_value = float((np.sum(null >= abs(diff.mean()) - 1e-12) + 1) / (len(null) + 1))
    return {"metric": metric, "mean_diff": round(float(diff.mean()), 4),
            "ci95": [round(float(np.percentile(means, 2.5)), 4), round(float(np.percentile(means, 97.5)), 4)],
            "p_value": round(p_value, 4), "wins": int((diff > 0).sum()), "losses": int((diff < 0).sum())}
