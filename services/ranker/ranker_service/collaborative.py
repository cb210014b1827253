"""The collaborative rating predictor ŷ(u, m) used by the ranker.

Model
-----
Two parts fitted on the same ratings, blended per person by how much we know about them.

**MF** — a biased matrix factorization with an *implicit-feedback prior* on the user factors,
fitted by alternating least squares (numpy/scipy only)::

    r̂_mf(u, i) = μ + b_u + b_i + q_i · z_u,        z_u = m_u + w_u,
    m_u        = |N(u)|^-½ · Σ_{j ∈ N(u)} y_j      (N(u): the movies u rated — *which*, not how)

minimizing ``Σ (r − r̂)² + λ·n_u^α‖w_u‖² + λ·n_i^α‖q_i‖² + λ_bu·b_u² + λ_bi·b_i²`` (weighted-λ
regularization with exponent α, separate bias regularization). The user factor is shrunk towards
``m_u`` — what people who rated the same movies look like — instead of towards zero. ``Y`` is
refitted between ALS sweeps as the ridge regression (``λ_y``) of the user factors on the
normalized "rated" indicator, an empirical-Bayes form of SVD++ that keeps every step closed-form.

**Base** — user + item biases alone, ``r̂_0(u, i) = μ + b⁰_u + b⁰_i`` (ridge, own regularization).
Its item bias is the best population estimate of a movie, which is what a person we know little
about should get: the MF's item bias is a residual after the factors and is worse for cold users.

**Blend** — ``ŷ = w·r̂_mf + (1 − w)·r̂_0`` with ``w = n / (n + κ)``, n = the person's number of
ratings. κ is chosen on held-out users of the training part (``train.py``); with κ≈10 a person
with 3 ratings leans on the base and a training user with 200 ratings is pure MF.

App users are not in the training data, so :meth:`CollaborativeModel.fold_in` solves the exact
ALS user step for them at request time — a (k+1)×(k+1) ridge solve for ``(w_u, b_u)`` given the
fixed item factors, item biases and ``Y``, plus the closed-form base bias ``b⁰_u`` — about 0.1 ms
for 50 ratings. A training user's stored state is the same solve (the fit ends with a user step),
so a folded-in person is scored exactly like a training user with the same ratings.

* A person with **no ratings** gets ``μ + b⁰_i`` (global mean + item bias).
* A movie the model has **never seen** (unknown id) gets the item-free prediction: global mean
  plus the person's own (blended) bias, no item bias and no factor term. Ratings of unknown
  movies still inform the person's biases when folding in.
* Predictions are clipped to [0.5, 5]; :meth:`CollaborativeModel.predict_scaled` maps them to
  [0, 1] as ``(ŷ − 0.5) / 4.5``.

Fitting is deterministic for a fixed ``seed``. ``fit(..., factors=0, implicit=False,
blend_kappa=0)`` is the plain user + item biases model (the reference baseline).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from movierec_core.hashing import sha256_file

try:  # optional: caps BLAS threads while fitting (see _single_threaded_blas)
    from threadpoolctl import threadpool_limits as _threadpool_limits
except ImportError:  # pragma: no cover - the fit still works, only slower on a busy machine
    _threadpool_limits = None

# Bump when the model or its fitting changes in a way that should not reuse old artifacts.
CODE_VERSION = "collab-als-implicit-prior-blend-1"
ARTIFACT_FORMAT = "movierec-collab"
ARTIFACT_FORMAT_VERSION = 1
ARRAYS_FILE = "model.npz"
MANIFEST_FILE = "manifest.json"

RATING_MIN = 0.5
RATING_MAX = 5.0
REQUIRED_COLUMNS = ("user_id", "movie_id", "rating")


@dataclass(frozen=True)
class Hyperparameters:
    """Defaults chosen on a validation split carved from the training 80% (see ``train.py --tune``)."""

    factors: int = 50              # k, latent dimensions (0 → the plain biases model)
    reg: float = 2.0               # λ for the factors; scaled per row by n^reg_exponent
    reg_exponent: float = 0.4      # α of the weighted-λ regularization (0 → plain L2, 1 → ALS-WR)
    reg_bias_user: float = 5.0     # λ_bu
    reg_bias_item: float = 5.0     # λ_bi
    implicit: bool = True          # the "which movies were rated" prior on the user factors
    reg_implicit: float = 4.0      # λ_y of the ridge regression that fits Y
    implicit_intercept: bool = True  # the prior also has a population mean c: m_u = c + |N(u)|^-½ Σ y_j
    implicit_start: int = 3        # ALS sweeps before Y is first fitted
    iterations: int = 20           # ALS sweeps (each: users, items, then Y)
    init_scale: float = 0.1        # std of the random initial factors
    seed: int = 42
    base_reg_bias_user: float = 5.0  # λ⁰_bu of the base (biases-only) model
    base_reg_bias_item: float = 2.0  # λ⁰_bi
    blend_kappa: float = 10.0      # w = n/(n+κ) on the MF; 0 → MF only

    def __post_init__(self) -> None:
        # canonical Python types (so that 2 and 2.0 hash the same, numpy scalars serialize)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = {"int": int, "float": float, "bool": bool}.get(str(f.type))
            if kind is float and isinstance(value, int | float | np.number) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
            elif kind is int and isinstance(value, np.integer):
                object.__setattr__(self, f.name, int(value))
            elif kind is bool and isinstance(value, np.bool_):
                object.__setattr__(self, f.name, bool(value))
        problems = []
        if not isinstance(self.factors, int | np.integer) or self.factors < 0:
            problems.append(f"factors must be an integer ≥ 0, got {self.factors!r}")
        if not isinstance(self.iterations, int | np.integer) or self.iterations < 1:
            problems.append(f"iterations must be an integer ≥ 1, got {self.iterations!r}")
        if not isinstance(self.implicit_start, int | np.integer) or self.implicit_start < 0:
            problems.append(f"implicit_start must be an integer ≥ 0, got {self.implicit_start!r}")
        for name in ("reg", "reg_bias_user", "reg_bias_item", "reg_implicit", "init_scale", "base_reg_bias_user",
                     "base_reg_bias_item"):
            value = getattr(self, name)
            if not isinstance(value, int | float | np.number) or not math.isfinite(value) or value <= 0:
                problems.append(f"{name} must be a finite number > 0, got {value!r}")
        if not isinstance(self.reg_exponent, int | float | np.number) or not 0 <= self.reg_exponent <= 1:
            problems.append(f"reg_exponent must be within [0, 1], got {self.reg_exponent!r}")
        if (not isinstance(self.blend_kappa, int | float | np.number) or not math.isfinite(self.blend_kappa)
                or self.blend_kappa < 0):
            problems.append(f"blend_kappa must be a finite number ≥ 0, got {self.blend_kappa!r}")
        if problems:
            raise ValueError("invalid hyperparameters: " + "; ".join(problems))

    @classmethod
    def from_kwargs(cls, **hyper: Any) -> Hyperparameters:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(hyper) - names)
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {unknown}; valid: {sorted(names)}")
        return cls(**hyper)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key, value in out.items():  # JSON-friendly plain Python scalars
            if isinstance(value, np.generic):
                out[key] = value.item()
        return out


@dataclass(frozen=True)
class UserState:
    """A person as the model sees them (see the module doc for the symbols)."""

    bias: float                     # b_u of the MF
    factors: np.ndarray = field(repr=False)  # z_u of the MF (implicit prior included)
    base_bias: float = 0.0          # b⁰_u of the base model
    n_known: int = 0                # ratings of movies the model knows (these shape the factors)
    n_unknown: int = 0              # ratings of movies it does not know (these only inform the biases)

    @property
    def n_ratings(self) -> int:
        return self.n_known + self.n_unknown

    @property
    def is_cold(self) -> bool:
        return self.n_ratings == 0


# ---------------------------------------------------------------------------------------------
# input validation


def validate_ratings_frame(ratings_df: pd.DataFrame) -> pd.DataFrame:
    """Checks a ratings table and returns ``user_id, movie_id, rating`` (+ ``timestamp`` if present).

    Raises ``ValueError`` with a clear message for: not a DataFrame, empty, missing columns,
    missing values, non-integer ids, ratings outside [0.5, 5]. When a (user, movie) pair repeats,
    the latest rating (by ``timestamp`` if present, else the last row) is kept; row order is kept.
    """
    if not isinstance(ratings_df, pd.DataFrame):
        raise ValueError(f"ratings_df must be a pandas DataFrame, got {type(ratings_df).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in ratings_df.columns]
    if missing:
        raise ValueError(f"ratings_df is missing column(s) {missing}; it needs {list(REQUIRED_COLUMNS)} "
                         f"(+ optional timestamp), got {list(ratings_df.columns)}")
    if len(ratings_df) == 0:
        raise ValueError("ratings_df is empty: at least one rating is needed to fit the model")
    columns = [*REQUIRED_COLUMNS, *(["timestamp"] if "timestamp" in ratings_df.columns else [])]
    df = ratings_df[columns]
    nulls = df[list(REQUIRED_COLUMNS)].isna().sum()
    if nulls.any():
        raise ValueError(f"ratings_df has missing values: {nulls[nulls > 0].to_dict()}")
    out = {}
    for col in ("user_id", "movie_id"):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
        bad_ids = ~np.isfinite(values) | (np.mod(values, 1) != 0)
        if bad_ids.any():
            raise ValueError(f"ratings_df.{col} must hold integer ids; found {df[col].iloc[int(np.argmax(bad_ids))]!r}")
        out[col] = values.astype(np.int64)
    rating = pd.to_numeric(df["rating"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(rating) | (rating < RATING_MIN) | (rating > RATING_MAX)
    if bad.any():
        raise ValueError(f"ratings must be between {RATING_MIN} and {RATING_MAX}; {int(bad.sum())} row(s) are not "
                         f"(first: {df['rating'].iloc[int(np.argmax(bad))]!r})")
    out["rating"] = rating
    clean = pd.DataFrame(out)
    if "timestamp" in df.columns:
        clean["timestamp"] = pd.to_numeric(df["timestamp"], errors="coerce").to_numpy()
        clean = clean.sort_values("timestamp", kind="stable")
    clean = clean.drop_duplicates(["user_id", "movie_id"], keep="last").sort_index()  # input order kept
    return clean.reset_index(drop=True)


def _check_rating(movie_id: Any, rating: Any) -> tuple[int, float]:
    try:
        mid = int(movie_id)
    except (TypeError, ValueError):
        raise ValueError(f"movie id {movie_id!r} is not an integer") from None
    if mid != movie_id and not (isinstance(movie_id, str) and movie_id.strip().lstrip("-").isdigit()):
        raise ValueError(f"movie id {movie_id!r} is not an integer")
    try:
        value = float(rating)
    except (TypeError, ValueError):
        raise ValueError(f"rating for movie {mid} is {rating!r}, not a number") from None
    if not math.isfinite(value) or not RATING_MIN <= value <= RATING_MAX:
        raise ValueError(f"rating for movie {mid} is {rating!r}; ratings must be between {RATING_MIN} and {RATING_MAX}")
    return mid, value


def data_fingerprint(ratings: pd.DataFrame) -> str:
    """sha256 of the (user, movie, rating) triples in canonical order — independent of row order."""
    order = np.lexsort((ratings["movie_id"].to_numpy(), ratings["user_id"].to_numpy()))
    h = hashlib.sha256()
    for col, dtype in (("user_id", np.int64), ("movie_id", np.int64), ("rating", np.float64)):
        h.update(np.ascontiguousarray(ratings[col].to_numpy(dtype=dtype)[order]).tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# ALS core


_VECTORIZE_MAX_ELEMENTS = 4_000_000  # ≈32 MB of float64 outer products


def _ridge_rows(indptr: np.ndarray, cols: np.ndarray, target: np.ndarray, other: np.ndarray,
                lam_f: np.ndarray, lam_b: float) -> tuple[np.ndarray, np.ndarray]:
    """For every row r: ``argmin_w ‖y_r − [F_r, 1]·w‖² + lam_f[r]·‖w[:k]‖² + lam_b·w[k]²``.

    ``cols[indptr[r]:indptr[r+1]]`` index the rows of ``other`` (F) the row's ratings touch and
    ``target`` holds the matching targets. Rows with at most k+1 ratings are solved in the dual
    (an n×n system, batched by n) — most movies have only a few ratings — the rest in the primal.
    Rows without ratings get zeros.
    """
    n_rows, k = len(indptr) - 1, other.shape[1]
    size = k + 1
    fa = np.hstack([other, np.ones((other.shape[0], 1))])
    counts = np.diff(indptr)
    out = np.zeros((n_rows, size))

    small = np.flatnonzero((counts > 0) & (counts <= size))
    if len(small):
        small = small[np.argsort(counts[small], kind="stable")]
        sizes = counts[small]
        for group in np.split(np.arange(len(small)), np.flatnonzero(np.diff(sizes)) + 1):
            rows = small[group]
            c = int(sizes[group[0]])
            pos = indptr[rows][:, None] + np.arange(c)
            x = fa[cols[pos]]                                      # (m, c, k+1)
            inv = np.empty((len(rows), size))
            inv[:, :k] = 1.0 / lam_f[rows, None]
            inv[:, k] = 1.0 / lam_b
            xl = x * inv[:, None, :]
            gram = xl @ x.transpose(0, 2, 1)                       # (m, c, c)
            gram[:, np.arange(c), np.arange(c)] += 1.0
            alpha = np.linalg.solve(gram, target[pos][..., None])  # (m, c, 1)
            out[rows] = (xl.transpose(0, 2, 1) @ alpha)[..., 0]

    big = np.flatnonzero(counts > size)
    if len(big):
        lens = counts[big]
        if size * size * int(lens.sum()) <= _VECTORIZE_MAX_ELEMENTS:  # small k: all outer products at once
            seg = np.concatenate([[0], np.cumsum(lens)[:-1]])
            pos = np.repeat(indptr[big] - seg, lens) + np.arange(int(lens.sum()))
            x = fa[cols[pos]]
            a = np.add.reduceat(x[:, :, None] * x[:, None, :], seg, axis=0)
            b = np.add.reduceat(x * target[pos][:, None], seg, axis=0)
        else:  # one BLAS Gram per row
            a = np.empty((len(big), size, size))
            b = np.empty((len(big), size))
            for j, r in enumerate(big):
                s, e = indptr[r], indptr[r + 1]
                x = fa[cols[s:e]]
                a[j] = x.T @ x
                b[j] = x.T @ target[s:e]
        diag = np.arange(k)
        a[:, diag, diag] += lam_f[big, None]
        a[:, k, k] += lam_b
        out[big] = np.linalg.solve(a, b[..., None])[..., 0]
    return out[:, :k], out[:, k]


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """One BLAS thread during the fit: its matrices are small (k+1 ≤ ~100), and multi-threaded
    OpenBLAS on them is 10-60× *slower* on a busy 2-core machine (thread hand-offs dominate).
    Uses threadpoolctl when installed; otherwise set OPENBLAS_NUM_THREADS=1 in the environment."""
    if _threadpool_limits is None:
        return contextlib.nullcontext()
    return _threadpool_limits(limits=1, user_api="blas")


def _fit_implicit(norm: sp.csr_matrix, gram: np.ndarray | None, p: np.ndarray, lam: float,
                  intercept: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(Y, c) = argmin ‖P − 1cᵀ − N·Y‖² + λ‖Y‖²`` (c unpenalized when ``intercept``, else 0), via the
    smaller of the dual (users²) and primal (items²) forms."""
    k = p.shape[1]
    target = p - p.mean(axis=0) if intercept else p
    if gram is not None:  # dual: Y = Nᵀ (H N Nᵀ H + λI)⁻¹ H P, H the centering matrix
        g = gram
        if intercept:
            g = gram - gram.mean(axis=0, keepdims=True) - gram.mean(axis=1, keepdims=True) + gram.mean()
        y = np.asarray(norm.T @ np.linalg.solve(g + lam * np.eye(g.shape[0]), target))
    else:  # primal: (Nᵀ H N + λI) Y = Nᵀ H P
        ntn = (norm.T @ norm).toarray()
        if intercept:
            col_mean = np.asarray(norm.mean(axis=0)).ravel()
            ntn -= norm.shape[0] * np.outer(col_mean, col_mean)
        ntn[np.diag_indices_from(ntn)] += lam
        y = np.linalg.solve(ntn, np.asarray(norm.T @ target))
    c = (p - norm @ y).mean(axis=0) if intercept else np.zeros(k)
    return y, c


def _fit_biases(u: np.ndarray, i: np.ndarray, r: np.ndarray, n_users: int, n_items: int, mu: float,
                reg_user: float, reg_item: float, iterations: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The base model: alternating closed-form ridge updates of item and user biases around μ."""
    cnt_u = np.bincount(u, minlength=n_users)
    cnt_i = np.bincount(i, minlength=n_items)
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)
    for _ in range(iterations):
        bi = np.bincount(i, r - mu - bu[u], minlength=n_items) / (cnt_i + reg_item)
        bu = np.bincount(u, r - mu - bi[i], minlength=n_users) / (cnt_u + reg_user)
    return bu, bi


@dataclass
class _Fitted:
    mu: float
    user_bias: np.ndarray
    user_factors: np.ndarray
    item_bias: np.ndarray
    item_factors: np.ndarray
    implicit_factors: np.ndarray
    user_prior_mean: np.ndarray
    base_user_bias: np.ndarray
    base_item_bias: np.ndarray


def _als(u: np.ndarray, i: np.ndarray, r: np.ndarray, n_users: int, n_items: int, hp: Hyperparameters) -> _Fitted:
    k = int(hp.factors)
    rng = np.random.default_rng(hp.seed)
    mu = float(r.mean())
    by_user = np.lexsort((i, u))
    by_item = np.lexsort((u, i))
    cnt_u = np.bincount(u, minlength=n_users)
    cnt_i = np.bincount(i, minlength=n_items)
    ptr_u = np.concatenate([[0], np.cumsum(cnt_u)])
    ptr_i = np.concatenate([[0], np.cumsum(cnt_i)])
    cols_u, cols_i = i[by_user], u[by_item]
    lam_u = hp.reg * np.maximum(cnt_u, 1).astype(np.float64) ** hp.reg_exponent
    lam_i = hp.reg * np.maximum(cnt_i, 1).astype(np.float64) ** hp.reg_exponent

    p = rng.normal(0.0, hp.init_scale, (n_users, k))
    q = rng.normal(0.0, hp.init_scale, (n_items, k))
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)
    y = np.zeros((n_items, k))
    c = np.zeros(k)
    m = np.zeros((n_users, k))
    use_implicit = hp.implicit and k > 0
    if use_implicit:
        norm = sp.csr_matrix((1.0 / np.sqrt(cnt_u[u]), (u, i)), shape=(n_users, n_items))
        gram = (norm @ norm.T).toarray() if n_users <= n_items else None

    def user_step() -> tuple[np.ndarray, np.ndarray]:
        res = r - mu - bi[i]
        if use_implicit:
            res = res - np.einsum("ij,ij->i", m[u], q[i])
        w, b = _ridge_rows(ptr_u, cols_u, res[by_user], q, lam_u, hp.reg_bias_user)
        return m + w, b

    for it in range(hp.iterations):
        p, bu = user_step()
        q, bi = _ridge_rows(ptr_i, cols_i, (r - mu - bu[u])[by_item], p, lam_i, hp.reg_bias_item)
        if use_implicit and it >= hp.implicit_start:
            y, c = _fit_implicit(norm, gram, p, hp.reg_implicit, hp.implicit_intercept)
            m = np.asarray(norm @ y) + c
    p, bu = user_step()  # end on a user step: stored users == fold-in of their ratings
    base_u, base_i = _fit_biases(u, i, r, n_users, n_items, mu, hp.base_reg_bias_user, hp.base_reg_bias_item)
    return _Fitted(mu, bu, p, bi, q, y, c, base_u, base_i)


# ---------------------------------------------------------------------------------------------
# the model


class CollaborativeModel:
    """A fitted ŷ model: fold in a person's ratings, predict ratings for movie ids. See module doc."""

    def __init__(self, *, movie_ids: np.ndarray, global_mean: float, item_bias: np.ndarray,
                 item_factors: np.ndarray, implicit_factors: np.ndarray, user_prior_mean: np.ndarray,
                 base_item_bias: np.ndarray,
                 user_ids: np.ndarray, user_bias: np.ndarray, user_factors: np.ndarray,
                 base_user_bias: np.ndarray, user_n_ratings: np.ndarray, hyperparameters: Mapping[str, Any],
                 data_sha256: str = "", n_ratings: int = 0, metrics: Mapping[str, Any] | None = None,
                 created_at: str | None = None, fit_seconds: float | None = None) -> None:
        self.movie_ids = np.asarray(movie_ids, dtype=np.int64)
        if self.movie_ids.ndim != 1 or np.any(np.diff(self.movie_ids) <= 0):
            raise ValueError("movie_ids must be a strictly increasing 1-d array")
        self.global_mean = float(global_mean)
        self.item_bias = np.asarray(item_bias, dtype=np.float64)
        self.item_factors = np.asarray(item_factors, dtype=np.float64)
        self.implicit_factors = np.asarray(implicit_factors, dtype=np.float64)
        self.user_prior_mean = np.asarray(user_prior_mean, dtype=np.float64)
        self.base_item_bias = np.asarray(base_item_bias, dtype=np.float64)
        self.user_ids = np.asarray(user_ids, dtype=np.int64)
        self.user_bias = np.asarray(user_bias, dtype=np.float64)
        self.user_factors = np.asarray(user_factors, dtype=np.float64)
        self.base_user_bias = np.asarray(base_user_bias, dtype=np.float64)
        self.user_n_ratings = np.asarray(user_n_ratings, dtype=np.int64)
        self.hyperparameters = Hyperparameters.from_kwargs(**dict(hyperparameters))
        self.data_sha256 = data_sha256
        self.n_ratings = int(n_ratings)
        self.metrics: dict[str, Any] = dict(metrics or {})
        self.created_at = created_at or datetime.now(UTC).isoformat(timespec="seconds")
        self.fit_seconds = fit_seconds
        k = self.hyperparameters.factors
        n, nu = len(self.movie_ids), len(self.user_ids)
        if (self.item_bias.shape != (n,) or self.base_item_bias.shape != (n,) or self.item_factors.shape != (n, k)
                or self.implicit_factors.shape != (n, k)):
            raise ValueError("item arrays do not match movie_ids / factors")
        if self.user_prior_mean.shape != (k,):
            raise ValueError("user_prior_mean does not match factors")
        if (self.user_bias.shape != (nu,) or self.base_user_bias.shape != (nu,) or self.user_n_ratings.shape != (nu,)
                or self.user_factors.shape != (nu, k)):
            raise ValueError("user arrays do not match user_ids / factors")
        if np.any(np.diff(self.user_ids) <= 0):
            raise ValueError("user_ids must be strictly increasing")
        self._use_implicit = self.hyperparameters.implicit and k > 0
        self._diag = np.arange(k)

    # -- shape -------------------------------------------------------------------------------
    @property
    def n_factors(self) -> int:
        return self.hyperparameters.factors

    @property
    def n_movies(self) -> int:
        return len(self.movie_ids)

    def __repr__(self) -> str:
        return (f"CollaborativeModel(factors={self.n_factors}, movies={self.n_movies}, users={len(self.user_ids)}, "
                f"ratings={self.n_ratings}, data={self.data_sha256[:12]})")

    def mf_weight(self, n_ratings: int | np.ndarray) -> float | np.ndarray:
        """``w = n/(n+κ)``: the MF's share of a prediction for a person with ``n_ratings`` ratings."""
        kappa = self.hyperparameters.blend_kappa
        n = np.asarray(n_ratings, dtype=np.float64)
        w = np.ones_like(n) if kappa == 0 else n / (n + kappa)
        return float(w) if w.ndim == 0 else w

    def with_blend_kappa(self, kappa: float) -> CollaborativeModel:
        """The same fitted parameters with another κ (no refit; used to choose κ on validation users)."""
        return self._replace_hyperparameters(blend_kappa=kappa)

    def _replace_hyperparameters(self, **changes: Any) -> CollaborativeModel:
        arrays = {name: getattr(self, name) for name in self._ARRAYS}
        return CollaborativeModel(
            **arrays, global_mean=self.global_mean, hyperparameters={**self.hyperparameters.as_dict(), **changes},
            data_sha256=self.data_sha256, n_ratings=self.n_ratings, metrics=self.metrics,
            created_at=self.created_at, fit_seconds=self.fit_seconds)

    def _lookup(self, movie_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.movie_ids) == 0:
            return np.zeros(len(movie_ids), np.int64), np.zeros(len(movie_ids), bool)
        pos = np.minimum(np.searchsorted(self.movie_ids, movie_ids), len(self.movie_ids) - 1)
        return pos, self.movie_ids[pos] == movie_ids

    @staticmethod
    def _as_ids(movie_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        arr = np.atleast_1d(np.asarray(movie_ids))
        if arr.ndim != 1:
            raise ValueError(f"movie_ids must be one-dimensional, got shape {arr.shape}")
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64)
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or np.any(np.mod(arr, 1) != 0):
                raise ValueError("movie_ids must be integers")
        elif arr.dtype.kind not in "iu":
            try:
                return np.array([int(x) for x in arr.tolist()], dtype=np.int64)
            except (TypeError, ValueError):
                raise ValueError("movie_ids must be integers") from None
        return arr.astype(np.int64)

    # -- fold-in -----------------------------------------------------------------------------
    def fold_in(self, ratings: Mapping[int, float]) -> UserState:
        """A new person's state from their ratings ``{movie_id: rating (0.5–5)}``.

        Solves the ALS user step exactly: ridge regression for ``(w_u, b_u)`` on the known movies'
        factors and biases with the model's regularization (λ·n^α for w, λ_bu for b), the user
        factor being ``z_u = m_u + w_u`` with ``m_u`` the implicit prior of the movies rated; and
        the base bias ``b⁰_u = Σ(r − μ − b⁰_i) / (n + λ⁰_bu)``. Ratings of unknown movies inform the
        biases only (with no item bias). No ratings → the cold state (predictions ``μ + b⁰_i``).
        Raises ``ValueError`` for a rating outside [0.5, 5] or a non-integer movie id.
        """
        if not isinstance(ratings, Mapping):
            raise ValueError(f"ratings must be a mapping movie_id → rating, got {type(ratings).__name__}")
        k = self.n_factors
        if not ratings:
            return UserState(bias=0.0, factors=self.user_prior_mean.copy())
        pairs = [_check_rating(m, r) for m, r in ratings.items()]
        ids = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
        vals = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
        pos, known = self._lookup(ids)
        idx = pos[known]
        n_known = int(known.sum())
        hp = self.hyperparameters
        q = self.item_factors[idx]
        prior = self.user_prior_mean.copy()
        if self._use_implicit and n_known:
            prior += self.implicit_factors[idx].sum(axis=0) / math.sqrt(n_known)
        offset_unknown = (vals[~known] - self.global_mean).sum()
        target_known = vals[known] - self.global_mean - self.item_bias[idx] - q @ prior
        # normal equations of [Q_known 1; 0 1]·w = target
        a = np.empty((k + 1, k + 1))
        a[:k, :k] = q.T @ q
        a[:k, k] = a[k, :k] = q.sum(axis=0)
        a[k, k] = len(vals)
        a[self._diag, self._diag] += hp.reg * max(n_known, 1) ** hp.reg_exponent
        a[k, k] += hp.reg_bias_user
        b = np.empty(k + 1)
        b[:k] = q.T @ target_known
        b[k] = target_known.sum() + offset_unknown
        w = np.linalg.solve(a, b)
        base = ((vals[known] - self.global_mean - self.base_item_bias[idx]).sum() + offset_unknown) / (
            len(vals) + hp.base_reg_bias_user)
        return UserState(bias=float(w[k]), factors=prior + w[:k], base_bias=float(base), n_known=n_known,
                         n_unknown=len(vals) - n_known)

    def training_user_state(self, user_id: int) -> UserState:
        """The state of a user that was in the training data (``KeyError`` if not)."""
        pos = int(np.searchsorted(self.user_ids, user_id))
        if pos >= len(self.user_ids) or self.user_ids[pos] != user_id:
            raise KeyError(f"user {user_id} was not in the training data; use fold_in(ratings)")
        return UserState(bias=float(self.user_bias[pos]), factors=self.user_factors[pos].copy(),
                         base_bias=float(self.base_user_bias[pos]), n_known=int(self.user_n_ratings[pos]))

    # -- prediction --------------------------------------------------------------------------
    def predict(self, user_state: UserState, movie_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        """Predicted ratings in [0.5, 5] for ``movie_ids`` (any order, repeats allowed).

        Known movies: ``w·(μ + b_u + b_i + q_i·z_u) + (1 − w)·(μ + b⁰_u + b⁰_i)``. Unknown movie
        ids: the item-free global-mean prediction ``μ + w·b_u + (1 − w)·b⁰_u`` (no item bias, no
        factor term). A cold state (no ratings) has w = 0 and b⁰_u = 0: ``μ + b⁰_i``.
        """
        ids = self._as_ids(movie_ids)
        z = np.asarray(user_state.factors, dtype=np.float64)
        if z.shape != (self.n_factors,):
            raise ValueError(f"user_state has {z.shape} factors, the model has {self.n_factors}")
        w = self.mf_weight(user_state.n_ratings)
        out = np.full(len(ids), self.global_mean + w * float(user_state.bias) + (1 - w) * float(user_state.base_bias))
        if len(ids):
            pos, known = self._lookup(ids)
            idx = pos[known]
            item = self.base_item_bias[idx] if w == 0 else (
                w * (self.item_bias[idx] + self.item_factors[idx] @ z) + (1 - w) * self.base_item_bias[idx])
            out[known] += item
        return np.clip(out, RATING_MIN, RATING_MAX)

    def predict_scaled(self, user_state: UserState, movie_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        """:meth:`predict` mapped to [0, 1]: ``(ŷ − 0.5) / 4.5``."""
        return (self.predict(user_state, movie_ids) - RATING_MIN) / (RATING_MAX - RATING_MIN)

    def predict_pairs(self, user_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
        """Vectorized predictions for (training user, movie) pairs; users not in training get the cold state."""
        user_ids = np.asarray(user_ids, dtype=np.int64)
        ids = self._as_ids(movie_ids)
        if user_ids.shape != ids.shape:
            raise ValueError("user_ids and movie_ids must have the same length")
        upos = np.minimum(np.searchsorted(self.user_ids, user_ids), max(len(self.user_ids) - 1, 0))
        uknown = self.user_ids[upos] == user_ids
        w = np.where(uknown, self.mf_weight(self.user_n_ratings[upos]), 0.0)
        pos, known = self._lookup(ids)
        mf = np.where(uknown, self.user_bias[upos], 0.0)
        base = np.where(uknown, self.base_user_bias[upos], 0.0)
        mf[known] += self.item_bias[pos[known]]
        base[known] += self.base_item_bias[pos[known]]
        both = known & uknown
        mf[both] += np.einsum("ij,ij->i", self.item_factors[pos[both]], self.user_factors[upos[both]])
        return np.clip(self.global_mean + w * mf + (1 - w) * base, RATING_MIN, RATING_MAX)

    # -- persistence -------------------------------------------------------------------------
    _ARRAYS = ("movie_ids", "item_bias", "item_factors", "implicit_factors", "user_prior_mean", "base_item_bias",
               "user_ids", "user_bias", "user_factors", "base_user_bias", "user_n_ratings")

    def manifest(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT,
            "format_version": ARTIFACT_FORMAT_VERSION,
            "code_version": CODE_VERSION,
            "method": "biased MF with an implicit-feedback prior on the user factors (ALS, weighted-λ), blended "
                      "with a user+item biases model by n/(n+κ); fold-in = exact ridge user step",
            "hyperparameters": self.hyperparameters.as_dict(),
            "data": {"sha256": self.data_sha256, "n_ratings": self.n_ratings, "n_users": len(self.user_ids),
                     "n_movies": self.n_movies},
            "global_mean": self.global_mean,
            "metrics": self.metrics,
            "created_at": self.created_at,
            "fit_seconds": self.fit_seconds,
        }

    def save(self, directory: str | os.PathLike) -> Path:
        """Writes ``model.npz`` + ``manifest.json`` (with the npz sha256) into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        tmp_npz = d / f".{ARRAYS_FILE}.{os.getpid()}.tmp"
        with open(tmp_npz, "wb") as fh:
            np.savez(fh, global_mean=np.array(self.global_mean), **{name: getattr(self, name) for name in self._ARRAYS})
        digest = sha256_file(tmp_npz)
        os.replace(tmp_npz, d / ARRAYS_FILE)
        manifest = {**self.manifest(), "files": {ARRAYS_FILE: {"sha256": digest}}}
        tmp_manifest = d / f".{MANIFEST_FILE}.{os.getpid()}.tmp"
        tmp_manifest.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp_manifest, d / MANIFEST_FILE)
        return d

    @classmethod
    def load(cls, directory: str | os.PathLike) -> CollaborativeModel:
        """Loads a model written by :meth:`save` (a ``current`` symlink works). ``ValueError`` if corrupt."""
        d = Path(directory)
        manifest_path = d / MANIFEST_FILE
        if not manifest_path.is_file():
            raise FileNotFoundError(f"no {MANIFEST_FILE} in {d}")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != ARTIFACT_FORMAT or manifest.get("format_version") != ARTIFACT_FORMAT_VERSION:
            raise ValueError(f"{d} is not a {ARTIFACT_FORMAT} v{ARTIFACT_FORMAT_VERSION} artifact "
                             f"(format={manifest.get('format')!r}, version={manifest.get('format_version')!r})")
        expected = manifest.get("files", {}).get(ARRAYS_FILE, {}).get("sha256")
        if expected and sha256_file(d / ARRAYS_FILE) != expected:
            raise ValueError(f"{d / ARRAYS_FILE} does not match the sha256 in its manifest (corrupt or partial)")
        with np.load(d / ARRAYS_FILE, allow_pickle=False) as z:
            missing = [name for name in (*cls._ARRAYS, "global_mean") if name not in z.files]
            if missing:
                raise ValueError(f"{d / ARRAYS_FILE} lacks arrays {missing}")
            arrays = {name: z[name] for name in cls._ARRAYS}
            global_mean = float(z["global_mean"])
        data = manifest.get("data", {})
        return cls(**arrays, global_mean=global_mean, hyperparameters=manifest["hyperparameters"],
                   data_sha256=data.get("sha256", ""), n_ratings=data.get("n_ratings", 0),
                   metrics=manifest.get("metrics"), created_at=manifest.get("created_at"),
                   fit_seconds=manifest.get("fit_seconds"))




# ---------------------------------------------------------------------------------------------
# public API


def fit(ratings_df: pd.DataFrame, **hyper: Any) -> CollaborativeModel:
    """Fits the model on ``ratings_df`` (columns ``user_id, movie_id, rating[, timestamp]``).

    ``hyper`` overrides :class:`Hyperparameters` defaults. Raises ``ValueError`` on bad input
    (empty frame, missing columns/values, ratings outside [0.5, 5], unknown hyperparameters).
    """
    hp = Hyperparameters.from_kwargs(**hyper)
    df = validate_ratings_frame(ratings_df)
    started = time.perf_counter()
    user_ids, u = np.unique(df["user_id"].to_numpy(), return_inverse=True)
    movie_ids, i = np.unique(df["movie_id"].to_numpy(), return_inverse=True)
    r = df["rating"].to_numpy(dtype=np.float64)
    with _single_threaded_blas():
        fitted = _als(u.astype(np.int64), i.astype(np.int64), r, len(user_ids), len(movie_ids), hp)
    seconds = time.perf_counter() - started
    model = CollaborativeModel(
        movie_ids=movie_ids, global_mean=fitted.mu, item_bias=fitted.item_bias, item_factors=fitted.item_factors,
        implicit_factors=fitted.implicit_factors, user_prior_mean=fitted.user_prior_mean,
        base_item_bias=fitted.base_item_bias, user_ids=user_ids,
        user_bias=fitted.user_bias, user_factors=fitted.user_factors, base_user_bias=fitted.base_user_bias,
        user_n_ratings=np.bincount(u, minlength=len(user_ids)), hyperparameters=hp.as_dict(),
        data_sha256=data_fingerprint(df), n_ratings=len(df), fit_seconds=round(seconds, 3))
    err = model.predict_pairs(df["user_id"].to_numpy(), df["movie_id"].to_numpy()) - r
    model.metrics["train_rmse"] = round(float(np.sqrt(np.mean(err**2))), 5)
    return model


def load(directory: str | os.PathLike) -> CollaborativeModel:
    """Same as :meth:`CollaborativeModel.load`."""
    return CollaborativeModel.load(directory)


__all__ = ["CODE_VERSION", "CollaborativeModel", "Hyperparameters", "UserState", "data_fingerprint", "fit",
           "load", "validate_ratings_frame"]
