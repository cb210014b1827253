"""The taste fold against a real Redis: dislikes push away, re-rating is exact, review text respects
its sentiment, chat steps still compose, and replay reproduces all of it.

The expected vectors are computed here in numpy from the formulas in the profile README, not with the
service's own functions.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from profile_helpers import DEFAULT_TASTE, expected_vectors, log_entries, store_for, wait_until

from movierec_jobs.replay import run as replay
from profile_service.domain import Profiles
from profile_service.embedder import Embedder, EmbeddingUnavailable
from profile_service.settings import ProfileSettings

LIKED = [356, 318, 296]
DISLIKED = 2571      # The Matrix: onboarded with drama/crime favourites, then rated 1★
OTHER = [593, 260, 480, 1196]


def unit(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x / np.linalg.norm(x)


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(unit(a) @ unit(b))


@pytest.fixture
def profiles(redis_url, movies) -> Profiles:
    return Profiles(store_for(redis_url), movies, DEFAULT_TASTE, embedder=None)


@pytest.fixture
def text_profiles(redis_url, movies, embedding_addr) -> Profiles:
    """Profiles whose reviews and messages are embedded by the real embedding tier (once its model loaded)."""
    embedder = Embedder(embedding_addr, 10.0, movies.dim)

    def ready() -> bool:
        try:
            embedder.embed("ready?")
        except EmbeddingUnavailable:
            return False
        return True

    wait_until(ready, 180, "the embedding tier to load its model", interval_s=0.5)
    return Profiles(store_for(redis_url), movies, DEFAULT_TASTE, embedder)


class Reviews:
    """Review events with increasing event times (so the latest rating is the last one sent)."""

    def __init__(self, profiles: Profiles):
        self.profiles = profiles
        self.count = 0

    def rate(self, user: str, movie: int, rating: float, text: str = "", at: int | None = None) -> None:
        self.count += 1
        at = self.count if at is None else at
        assert self.profiles.apply_review({"event_id": f"{user}-{self.count}", "user_id": user, "movie_id": movie,
                                           "rating": rating, "text": text,
                                           "created_at_ms": 1_700_000_000_000 + at * 1000}).applied


def test_a_1_star_pushes_the_vector_away_by_the_bounded_formula(profiles, movies):
    profiles.onboard("dee", LIKED, [], "")
    before = profiles.store.load("dee").vector
    m = movies.vector(DISLIKED)
    reviews = Reviews(profiles)
    reviews.rate("dee", DISLIKED, 1.0)
    after = profiles.store.load("dee").vector

    beta = DEFAULT_TASTE.dislike_beta
    expected = unit(before.astype(np.float64) - beta * m.astype(np.float64))
    np.testing.assert_allclose(after, expected, atol=1e-7)
    assert cos(after, m) < cos(before, m) - 0.05
    # Bounded: the push turns u by at most arcsin(β) and never flips it.
    assert math.acos(min(1.0, cos(after, before))) <= math.asin(beta) + 1e-6
    assert cos(after, before) > 0.9

    # 3★ sits between the thresholds: stored, no move.
    reviews.rate("dee", OTHER[0], 3.0)
    np.testing.assert_array_equal(profiles.store.load("dee").vector, after)


def test_re_rating_replaces_the_earlier_effect_exactly(profiles, movies):
    for user in ("once", "twice", "solo", "solo2"):
        profiles.onboard(user, LIKED, [], "")
    reviews = Reviews(profiles)
    # "rate 5, then rate 2" equals "rate 2" alone — with other ratings before and after the first one.
    history = [(OTHER[0], 4.5, 1), (DISLIKED, 5.0, 2), (OTHER[1], 4.0, 3), (OTHER[2], 1.5, 4), (DISLIKED, 2.0, 5)]
    for movie, rating, at in history:
        reviews.rate("twice", movie, rating, at=at)
    for movie, rating, at in history[:1] + history[2:]:  # the same history without the superseded 5★
        reviews.rate("once", movie, rating, at=at)
    twice, once = profiles.store.load("twice"), profiles.store.load("once")
    assert np.abs(twice.vector.astype(np.float64) - once.vector).max() <= 1e-6
    # The superseded 5★ also left the recent interests: the scoring vectors agree too.
    assert twice.recent_weight == pytest.approx(once.recent_weight, abs=1e-9)
    np.testing.assert_allclose(twice.recent, once.recent, atol=1e-6)
    np.testing.assert_allclose(profiles.view(twice).scoring_vector, profiles.view(once).scoring_vector, atol=1e-6)
    assert twice.ratings[DISLIKED]["rating"] == 2.0 and twice.counters["review_count"] == 5

    # One movie only: 5 then 2 == 2.
    reviews.rate("solo", DISLIKED, 5.0)
    reviews.rate("solo", DISLIKED, 2.0)
    reviews.rate("solo2", DISLIKED, 2.0)
    assert np.abs(profiles.store.load("solo").vector.astype(np.float64)
                  - profiles.store.load("solo2").vector).max() <= 1e-6

    # Rating the same value twice (a new event, same stars and text) changes nothing.
    reviews.rate("once", OTHER[3], 5.0, at=10)
    settled = profiles.store.load("once")
    reviews.rate("once", OTHER[3], 5.0, at=11)
    again = profiles.store.load("once")
    np.testing.assert_array_equal(again.vector, settled.vector)
    np.testing.assert_array_equal(again.recent, settled.recent)
    assert again.version == settled.version + 1  # still logged and counted

    # A late review older than the stored one changes neither the rating nor the vector.
    profiles.apply_review({"event_id": "late", "user_id": "once", "movie_id": OTHER[3], "rating": 1.0,
                           "created_at_ms": 1_600_000_000_000})
    late = profiles.store.load("once")
    np.testing.assert_array_equal(late.vector, again.vector)
    assert late.ratings[OTHER[3]]["rating"] == 5.0


def test_concurrent_re_ratings_of_one_user_serialize_to_the_logged_order(profiles, movies):
    profiles.onboard("zed", LIKED, [], "")
    ids = list(movies.rows)[:12]
    ratings = [1.0, 2.0, 4.0, 5.0, 3.0, 4.5]

    def worker(n: int) -> None:
        rng = np.random.default_rng(n)
        for i in range(40):
            profiles.apply_review({"event_id": f"z{n}-{i}", "user_id": "zed", "movie_id": int(rng.choice(ids)),
                                   "rating": float(rng.choice(ratings))})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = profiles.store.load("zed")
    assert state.version == 1 + 160 and state.counters["review_count"] == 160
    expected = expected_vectors(log_entries(profiles.store), movies)["zed"]
    assert np.abs(state.vector.astype(np.float64) - expected).max() <= 1e-6


def test_review_text_pulls_toward_praise_and_pushes_away_from_complaints(text_profiles, movies):
    profiles = text_profiles
    profiles.onboard("tia", LIKED, [], "")
    before = profiles.store.load("tia").vector
    text = "loved the soundtrack but far too slow"
    Reviews(profiles).rate("tia", OTHER[0], 3.0, text)  # a neutral rating: only the words move u
    after = profiles.store.load("tia").vector
    praise, complaint, whole = profiles.embedder.embed_many(["loved the soundtrack", "far too slow", text])

    assert cos(after, complaint) < cos(before, complaint)
    assert cos(after, praise) > cos(before, praise)
    # Embedding the whole review as one pull would have moved u toward "slow".
    naive = unit(0.9 * before.astype(np.float64) + 0.1 * whole)
    assert cos(naive, complaint) > cos(before, complaint)
    # The formula: pull toward the praise with α = 0.9, then push from the complaint with β = 0.1.
    pulled = unit(0.9 * before.astype(np.float64) + 0.1 * praise.astype(np.float64))
    np.testing.assert_allclose(after, unit(pulled - 0.1 * complaint.astype(np.float64)), atol=1e-6)
    # Text is weaker than the rating itself: a 5★ moves u further than the review's words did.
    assert np.linalg.norm(after - before) < np.linalg.norm(unit(0.8 * before + 0.2 * movies.vector(OTHER[0]))
                                                           - before)


def test_chat_steps_compose_with_re_ratings_and_replay_reproduces_everything(
        text_profiles, movies, profile_env, monkeypatch):
    profiles = text_profiles
    reviews = Reviews(profiles)
    profiles.onboard("chat", LIKED, ["dark"], "crime films")
    reviews.rate("chat", OTHER[0], 5.0, "great cast, but too long")
    assert profiles.apply_message("chat", "something with space battles", "m1").applied
    reviews.rate("chat", OTHER[1], 1.0)
    assert profiles.apply_message("chat", "no more horror please", "m2").applied
    reviews.rate("chat", OTHER[0], 2.0, "boring on a second watch")  # re-rated: its step moves to the end
    profiles.onboard("other", [OTHER[2]], [], "")
    reviews.rate("other", OTHER[3], 4.0)
    reviews.rate("other", OTHER[3], 1.0)

    entries = log_entries(profiles.store)
    for user, expected in expected_vectors(entries, movies).items():
        assert np.abs(profiles.store.load(user).vector.astype(np.float64) - expected).max() <= 1e-6, user

    for key, value in profile_env.items():
        monkeypatch.setenv(key, value)
    report = replay(ProfileSettings.from_env(require_embedding=False), target_url=None,
                    target_prefix="movierec:replay:", parquet=None, tolerance=1e-6, keep=False)
    assert report.ok(1e-6) and report.users_compared == 2 and report.max_abs_diff == 0.0, report
    assert report.max_abs_diff_recent == 0.0
