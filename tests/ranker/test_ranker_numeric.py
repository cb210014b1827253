"""Numeric ranking on a small real fixture: real catalog, real vectors, the real collaborative model."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FIXTURE_MOVIE_IDS
from ranker_helpers import make_ranker, rank_input

from movierec_catalog.filter import Filter
from movierec_core.errors import ServiceError
from ranker_service.scoring import Calibration, ScoringParams

PIXAR_FAN = {1: 5.0, 3114: 4.5, 6377: 5.0, 68954: 4.5}  # Toy Story 1/2, Finding Nemo, Up
MANN_FAN = {6: 5.0, 3006: 4.5, 8798: 4.0}  # Heat, The Insider, Collateral


def candidates_without(rated) -> list[int]:
    return [m for m in FIXTURE_MOVIE_IDS if m not in rated]


async def test_animation_fan_gets_animation(store, scoring_params, collab_model):
    ranker = make_ranker(store, scoring_params, collab_model, mmr_lambda=1.0)
    output = await ranker.rank(rank_input(store, FIXTURE_MOVIE_IDS, ratings=PIXAR_FAN, top_n=5))
    animated = [p.movie_id for p in output.picks if "Animation" in store.get(p.movie_id).genres]
    fixture_share = np.mean(["Animation" in store.get(m).genres for m in FIXTURE_MOVIE_IDS])
    assert output.ranker == "numeric" and not output.degraded
    assert len(output.picks) == 5
    assert len(animated) >= 3, f"expected mostly animation (fixture share {fixture_share:.0%}), got " \
                               f"{[store.get(p.movie_id).title for p in output.picks]}"


async def test_never_returns_rated_or_picked_movies(store, scoring_params, collab_model):
    ranker = make_ranker(store, scoring_params, collab_model)
    output = await ranker.rank(rank_input(store, FIXTURE_MOVIE_IDS, ratings=MANN_FAN, picked=[1, 260],
                                          top_n=50))
    returned = {p.movie_id for p in output.picks}
    assert returned.isdisjoint({*MANN_FAN, 1, 260})
    assert len(returned) == 50


async def test_match_scores_are_calibrated_probabilities_in_order(store, scoring_params, collab_model):
    ranker = make_ranker(store, scoring_params, collab_model, mmr_lambda=1.0)
    output = await ranker.rank(rank_input(store, FIXTURE_MOVIE_IDS, ratings=MANN_FAN, top_n=20))
    scores = [p.match_score for p in output.picks]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True), "with λ=1 the order is the score order"
    assert scores[0] > scores[-1], "the calibration must separate candidates"


async def test_content_only_without_collaborative_model(store, scoring_params):
    ranker = make_ranker(store, scoring_params, collab=None)
    output = await ranker.rank(rank_input(store, candidates_without(MANN_FAN), ratings=MANN_FAN, top_n=5))
    assert output.ranker == "numeric-content" and not output.degraded
    crime = [p for p in output.picks if "Crime" in store.get(p.movie_id).genres]
    assert len(crime) >= 3, [store.get(p.movie_id).label for p in output.picks]


async def test_blend_uses_the_collaborative_prediction(store, scoring_params, collab_model):
    """Same taste vector, different ratings: the blended order moves with the collaborative part."""
    content = make_ranker(store, scoring_params, collab=None, mmr_lambda=1.0)
    blended = make_ranker(store, scoring_params, collab_model, mmr_lambda=1.0)
    request = rank_input(store, candidates_without(MANN_FAN), ratings=MANN_FAN, top_n=20)
    a = [p.movie_id for p in (await content.rank(request)).picks]
    b = [p.movie_id for p in (await blended.rank(request)).picks]
    assert a != b


@pytest.mark.parametrize(("constraints", "check"), [
    (Filter(max_certification="PG-13"),
     lambda m: m.certification in ("G", "PG", "PG-13")),
    (Filter(max_runtime_min=100), lambda m: m.runtime_min is not None and m.runtime_min <= 100),
    (Filter(max_runtime_min=100, lenient_runtime=True), lambda m: m.runtime_min is None or m.runtime_min <= 100),
    (Filter(exclude_genres=frozenset({"Crime"})), lambda m: "Crime" not in m.genres),
    (Filter(include_genres=frozenset({"Comedy"})), lambda m: "Comedy" in m.genres),
    (Filter(min_year=1990, max_year=1999), lambda m: m.year is not None and 1990 <= m.year <= 1999),
    (Filter(exclude_movie_ids=frozenset({16, 47, 50})), lambda m: m.movie_id not in (16, 47, 50)),
    (Filter(original_language="ja"), lambda m: m.original_language == "ja"),
])
async def test_constraints_are_rechecked(store, scoring_params, collab_model, constraints, check):
    ranker = make_ranker(store, scoring_params, collab_model)
    output = await ranker.rank(rank_input(store, FIXTURE_MOVIE_IDS, ratings=MANN_FAN, top_n=50,
                                          constraints=constraints))
    assert output.picks
    bad = [store.get(p.movie_id).label for p in output.picks if not check(store.get(p.movie_id))]
    assert not bad


async def test_unknown_certification_never_passes_a_maturity_limit(store, scoring_params):
    unknown = [m for m in FIXTURE_MOVIE_IDS if store.get(m).certification is None]
    assert unknown, "the fixture must hold movies without a certification"
    ranker = make_ranker(store, scoring_params)
    with pytest.raises(ServiceError) as error:
        await ranker.rank(rank_input(store, unknown, top_n=5, constraints=Filter(max_certification="NC-17")))
    assert "certification_unknown" in error.value.message


async def test_lenient_runtime_says_the_runtime_is_unknown(store, scoring_params):
    unknown = [m for m in FIXTURE_MOVIE_IDS if store.get(m).runtime_min is None]
    assert unknown, "the fixture must hold movies without a runtime"
    ranker = make_ranker(store, scoring_params)
    output = await ranker.rank(rank_input(store, unknown, ratings=MANN_FAN, top_n=3,
                                          constraints=Filter(max_runtime_min=90, lenient_runtime=True)))
    assert output.picks
    assert all("runtime is unknown" in p.explanation for p in output.picks)


def test_calibration_recovers_a_known_logistic_curve():
    rng = np.random.default_rng(0)
    final = rng.uniform(0, 1, 20_000)
    liked = rng.uniform(size=final.size) < 1 / (1 + np.exp(-(6 * final - 3)))
    fitted = Calibration.fit(final, liked)
    assert fitted.slope == pytest.approx(6, rel=0.1)
    assert fitted.intercept == pytest.approx(-3, rel=0.1)
    assert np.all(np.diff(fitted.apply(np.linspace(0, 1, 11))) > 0)


def test_checked_in_calibration_reads_as_a_probability(scoring_params):
    """The shipped mapping rises with the score and spans a usable part of [0, 1]."""
    for calibration in scoring_params.calibrations.values():
        low, high = calibration.apply(np.array([0.0, 1.0]))
        assert calibration.slope > 0 and 0 < low < high < 1
    assert 0.0 <= scoring_params.alpha <= 1.0


def test_the_popularity_prior_lifts_widely_watched_movies_for_a_person_the_ranker_knows_little_about(
        store, neutral_params):
    from ranker_service.scoring import NumericScorer

    ids = [m for m in map(int, store.movie_ids)]
    counts = {m: store.get(m).rating_count or 0 for m in ids}
    popular, niche = max(ids, key=counts.get), min(ids, key=counts.get)
    assert counts[popular] > 10 * max(counts[niche], 1)
    pop = store.popularity([popular, niche, -1])
    assert pop[0] == 1.0 and 0.0 <= pop[1] < pop[0] and pop[2] == 0.0
    taste = store.vectors_of([niche])[0]  # the taste sits on the niche movie: content alone prefers it
    plain = NumericScorer(store, neutral_params).score([popular, niche], taste, {}, np.zeros(2))
    cold = NumericScorer(store, neutral_params, popularity_prior=0.9).score([popular, niche], taste, {}, np.zeros(2))
    assert plain.ordering[1] > plain.ordering[0]
    lift = cold.ordering - plain.ordering
    assert np.allclose(lift, 0.9 * pop[:2]) and np.allclose(cold.match, plain.match)
    # the weight is β / (1 + n): a person with 9 rated movies gets a tenth of it
    ratings = {m: 4.0 for m in ids[:9]}
    known = NumericScorer(store, neutral_params, popularity_prior=0.9).score([popular, niche], taste, ratings,
                                                                              np.zeros(2))
    known_plain = NumericScorer(store, neutral_params).score([popular, niche], taste, ratings, np.zeros(2))
    assert np.allclose(known.ordering - known_plain.ordering, 0.09 * pop[:2])


def test_the_popularity_prior_is_bounded():
    from ranker_service.scoring import NumericScorer

    with pytest.raises(ValueError, match="popularity_prior"):
        NumericScorer(None, ScoringParams(alpha=0.5, calibrations={}), popularity_prior=1.5)


def test_the_quality_prior_orders_by_shrunk_ratings_without_moving_the_calibrated_match(store, neutral_params):
    from ranker_service.scoring import NumericScorer

    ids = [int(m) for m in store.movie_ids]
    quality = store.quality(ids)
    assert np.all((quality > 0) & (quality < 1))
    facts = [store.get(m) for m in ids]
    # shrinkage: a movie with few votes sits closer to the catalog mean than its raw average
    mean = store.quality([-1])[0]
    few = min((f for f in facts if f.vote_count and f.vote_average), key=lambda f: f.vote_count)
    assert abs(store.quality([few.movie_id])[0] - mean) < abs(few.vote_average / 10 - mean)
    taste = store.vectors_of(ids[:1])[0]
    plain = NumericScorer(store, neutral_params).score(ids, taste, {}, np.zeros(len(ids)))
    prior = NumericScorer(store, neutral_params, quality_prior=0.5).score(ids, taste, {}, np.zeros(len(ids)))
    assert np.allclose(prior.final, plain.final) and np.allclose(prior.match, plain.match)
    assert np.allclose(prior.ordering - plain.ordering, 0.5 * quality)
