"""The taste formulas as pure functions (numpy, float64 math on float32 vectors).

The stored state is float32; arithmetic happens in float64 and the result is rounded to float32
once, which is exactly what the Lua scripts in :mod:`profile_service.store` do, so these functions
are the reference the tests compare Redis against.
"""

from __future__ import annotations

import math

import numpy as np

DAY_MS = 86_400_000
VECTOR_DTYPE = np.dtype("<f4")


class DegenerateVector(ValueError):
    """A vector with zero (or non-finite) norm cannot be normalized."""


def pack(vector: np.ndarray) -> bytes:
    """Little-endian float32 bytes, the storage format of every vector in Redis and in the log."""
    return np.ascontiguousarray(vector, dtype=VECTOR_DTYPE).tobytes()


def unpack(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=VECTOR_DTYPE).copy()


def normalize(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    if not math.isfinite(norm) or norm == 0.0:
        raise DegenerateVector("cannot normalize a zero or non-finite vector")
    return v / norm


def fuse_onboarding(movie_vectors: np.ndarray | None, text_vector: np.ndarray | None,
                    movie_weight: float) -> np.ndarray:
    """u = normalize(w·mean(movie vectors) + (1−w)·text vector); either part alone when the other is missing."""
    has_movies = movie_vectors is not None and len(movie_vectors) > 0
    has_text = text_vector is not None
    if not has_movies and not has_text:
        raise ValueError("onboarding needs liked movies or text")
    if has_movies and has_text:
        mean = np.asarray(movie_vectors, dtype=np.float64).mean(axis=0)
        fused = movie_weight * mean + (1.0 - movie_weight) * np.asarray(text_vector, dtype=np.float64)
    elif has_movies:
        fused = np.asarray(movie_vectors, dtype=np.float64).mean(axis=0)
    else:
        fused = np.asarray(text_vector, dtype=np.float64)
    return normalize(fused).astype(VECTOR_DTYPE)


def ema_step(current: np.ndarray, target: np.ndarray, alpha: float) -> np.ndarray:
    """u' = normalize(α·u + (1−α)·t), the chat and review update."""
    u = np.asarray(current, dtype=VECTOR_DTYPE).astype(np.float64)
    t = np.asarray(target, dtype=VECTOR_DTYPE).astype(np.float64)
    return normalize(alpha * u + (1.0 - alpha) * t).astype(VECTOR_DTYPE)


# One step of the taste fold is a short list of operations, applied in order in float64 and rounded
# to float32 once at the end of the step (the Lua fast path in :mod:`profile_service.store` does the
# same): ``pull c`` is ``u = normalize(c·u + (1−c)·v)`` (the EMA), ``push β`` is
# ``u = normalize(u − β·v)`` with 0 ≤ β < 1, so ``|u − β·v| ≥ 1 − β > 0``: a push can never zero or
# flip u, and it turns u by at most arcsin(β) (11.5° for β = 0.2).
PULL, PUSH = "pull", "push"


def _step(u: np.ndarray, ops: list[tuple[str, float, np.ndarray]]) -> np.ndarray:
    """The ops on a float64 copy of u (the hot loop of a refold: no per-op conversions of u)."""
    for op, coef, vector in ops:
        v = np.asarray(vector, dtype=VECTOR_DTYPE).astype(np.float64)
        if op == PULL:
            u = coef * u + (1.0 - coef) * v
        elif op == PUSH:
            if not 0.0 <= coef < 1.0:
                raise ValueError(f"push coefficient {coef} must be in [0, 1)")
            u = u - coef * v
        else:
            raise ValueError(f"unknown fold operation {op!r}")
        norm = math.sqrt(float(u @ u))
        if not math.isfinite(norm) or norm == 0.0:
            raise DegenerateVector("cannot normalize a zero or non-finite vector")
        u = u / norm
    return u


def apply_ops(current: np.ndarray, ops: list[tuple[str, float, np.ndarray]]) -> np.ndarray:
    """One fold step: the ops ``(pull|push, coefficient, vector)`` in order; float32 result."""
    return _step(np.asarray(current, dtype=VECTOR_DTYPE).astype(np.float64), ops).astype(VECTOR_DTYPE)


def fold(base: np.ndarray, steps: list[list[tuple[str, float, np.ndarray]]]) -> np.ndarray:
    """The taste vector: the base (onboarding) with every step applied in order (float32 after each)."""
    u = np.asarray(base, dtype=VECTOR_DTYPE)
    for ops in steps:
        if ops:
            u = _step(u.astype(np.float64), ops).astype(VECTOR_DTYPE)
    return u


def decay_factor(decay_per_day: float, elapsed_ms: float) -> float:
    return decay_per_day ** (elapsed_ms / DAY_MS)


def recent_accumulate(acc: np.ndarray | None, acc_weight: float, acc_time_ms: int | None,
                      target: np.ndarray, weight: float, event_time_ms: int,
                      decay_per_day: float) -> tuple[np.ndarray, float, int]:
    """Add one interaction to the recent-interest accumulator.

    The accumulator holds Σ wᵢ·decay^((T−tᵢ)/day)·mᵢ (and Σ wᵢ·decay^((T−tᵢ)/day)) referenced to
    T = the latest event time seen. An older event is decayed to T instead of decaying the
    accumulator, so the result does not depend on the order events arrive in.
    """
    t = np.asarray(target, dtype=VECTOR_DTYPE).astype(np.float64)
    if acc is None or acc_time_ms is None:
        return (weight * t).astype(VECTOR_DTYPE), weight, event_time_ms
    a = np.asarray(acc, dtype=VECTOR_DTYPE).astype(np.float64)
    if event_time_ms >= acc_time_ms:
        factor = decay_factor(decay_per_day, event_time_ms - acc_time_ms)
        return (a * factor + weight * t).astype(VECTOR_DTYPE), acc_weight * factor + weight, event_time_ms
    late = weight * decay_factor(decay_per_day, acc_time_ms - event_time_ms)
    return (a + late * t).astype(VECTOR_DTYPE), acc_weight + late, acc_time_ms


def recent_weight_at(acc_weight: float, acc_time_ms: int | None, now_ms: int, decay_per_day: float) -> float:
    """The accumulator's total weight decayed to ``now_ms`` (events in the future count undecayed)."""
    if acc_time_ms is None or acc_weight <= 0.0:
        return 0.0
    return acc_weight * decay_factor(decay_per_day, max(0, now_ms - acc_time_ms))


def scoring_vector(base: np.ndarray, recent_acc: np.ndarray | None, recent_weight: float,
                   base_weight: float, min_weight: float) -> np.ndarray:
    """normalize(w·base + (1−w)·normalize(recent)), or the base alone when recent interests are too faint."""
    if recent_acc is None or recent_weight < min_weight or recent_weight <= 0.0:
        return np.asarray(base, dtype=VECTOR_DTYPE)
    try:
        recent = normalize(recent_acc)
    except DegenerateVector:
        return np.asarray(base, dtype=VECTOR_DTYPE)
    blended = base_weight * np.asarray(base, dtype=np.float64) + (1.0 - base_weight) * recent
    return normalize(blended).astype(VECTOR_DTYPE)


def is_valid_rating(rating: float) -> bool:
    """0.5 to 5.0 in half stars."""
    return math.isfinite(rating) and 0.5 <= rating <= 5.0 and float(rating * 2).is_integer()
