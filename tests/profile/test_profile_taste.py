"""The taste formulas (pure functions) against hand-computed values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from profile_service.taste import (
    DAY_MS,
    DegenerateVector,
    ema_step,
    fuse_onboarding,
    is_valid_rating,
    recent_accumulate,
    recent_weight_at,
    scoring_vector,
)


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_onboarding_fuses_movie_mean_and_text_with_weight_0_7():
    movies = np.stack([unit(1, 0, 0), unit(0, 1, 0)])
    text = unit(0, 0, 1)
    fused = fuse_onboarding(movies, text, 0.7)
    expected = np.array([0.35, 0.35, 0.3]) / np.linalg.norm([0.35, 0.35, 0.3])
    np.testing.assert_allclose(fused, expected, atol=1e-7)
    assert fused.dtype == np.float32
    # Either part alone when the other is missing.
    np.testing.assert_allclose(fuse_onboarding(movies, None, 0.7), unit(1, 1, 0), atol=1e-7)
    np.testing.assert_allclose(fuse_onboarding(None, text, 0.7), text, atol=1e-7)
    with pytest.raises(ValueError):
        fuse_onboarding(None, None, 0.7)


def test_ema_step_is_normalized_weighted_sum():
    u, m = unit(1, 0), unit(0, 1)
    np.testing.assert_allclose(ema_step(u, m, 0.8), unit(0.8, 0.2), atol=1e-7)
    with pytest.raises(DegenerateVector):
        ema_step(unit(1, 0), unit(-1, 0), 0.5)


def test_recent_interests_decay_0_95_per_day_whatever_the_arrival_order():
    a, b, c = unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1)
    events = [(a, 1.5, 0), (b, 0.8, 2 * DAY_MS), (c, 0.2, 5 * DAY_MS)]
    results = []
    for order in itertools.permutations(events):
        acc, weight, at = None, 0.0, None
        for vector, w, t in order:
            acc, weight, at = recent_accumulate(acc, weight, at, vector, w, t, 0.95)
        results.append((acc, weight, at))
    # Referenced to the latest event (day 5): a decayed 5 days, b 3 days, c none.
    expected = np.array([1.5 * 0.95 ** 5, 0.8 * 0.95 ** 3, 0.2])
    for acc, weight, at in results:
        assert at == 5 * DAY_MS
        np.testing.assert_allclose(acc, expected, rtol=1e-6)
        assert weight == pytest.approx(expected.sum())
    # Read ten days after the last event: the total weight has decayed by 0.95^10.
    assert recent_weight_at(results[0][1], 5 * DAY_MS, 15 * DAY_MS, 0.95) == pytest.approx(expected.sum() * 0.95 ** 10)


def test_scoring_blends_base_0_7_with_recent_0_3_unless_recent_is_too_faint():
    base, recent_acc = unit(1, 0), np.array([0, 3.0], dtype=np.float32)
    np.testing.assert_allclose(scoring_vector(base, recent_acc, 1.0, 0.7, 0.05), unit(0.7, 0.3), atol=1e-7)
    np.testing.assert_allclose(scoring_vector(base, recent_acc, 0.01, 0.7, 0.05), base)
    np.testing.assert_allclose(scoring_vector(base, None, 0.0, 0.7, 0.05), base)


@pytest.mark.parametrize(("rating", "valid"), [(0.5, True), (4.0, True), (5.0, True), (4.5, True),
                                               (0.0, False), (5.5, False), (7.3, False), (4.3, False),
                                               (float("nan"), False), (float("inf"), False)])
def test_ratings_are_half_stars_between_0_5_and_5(rating, valid):
    assert is_valid_rating(rating) is valid
