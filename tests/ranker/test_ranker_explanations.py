"""Grounded explanations and the factor verifier: every factor is true in the catalog or the history."""

from __future__ import annotations

import re

import pytest
from conftest import FIXTURE_MOVIE_IDS
from ranker_helpers import make_ranker, rank_input

from movierec.ranker.v1 import ranker_pb2
from ranker_service.explain import genre_phrase
from ranker_service.history import UserHistory
from ranker_service.verify import Claim, unsupported_reason, verify_claims

K = ranker_pb2.FactorKind
HEAT, INSIDER, COLLATERAL, GODFATHER, TOY_STORY = 6, 3006, 8798, 858, 1


def test_verifier_drops_planted_false_factors(store):
    history = UserHistory(ratings={HEAT: 5.0, GODFATHER: 2.0}, query="a tense crime story from the 90s, nothing scary")
    insider = store.get(INSIDER)
    true_claims = [
        Claim(K.FACTOR_KIND_SIMILAR_TO_LIKED, "Heat", HEAT),
        Claim(K.FACTOR_KIND_DIRECTOR, "Michael Mann", HEAT),
        Claim(K.FACTOR_KIND_CAST, "Al Pacino", HEAT),
        Claim(K.FACTOR_KIND_DECADE, "1990s", HEAT),
        Claim(K.FACTOR_KIND_QUERY_TERM, "90s"),
    ]
    planted = [
        Claim(K.FACTOR_KIND_DIRECTOR, "Steven Spielberg"),                # not the director
        Claim(K.FACTOR_KIND_CAST, "Robert De Niro", HEAT),                # in Heat, not in The Insider
        Claim(K.FACTOR_KIND_SIMILAR_TO_LIKED, "The Godfather", GODFATHER),  # rated 2 stars: not liked
        Claim(K.FACTOR_KIND_SIMILAR_TO_LIKED, "Collateral", COLLATERAL),  # never rated
        Claim(K.FACTOR_KIND_QUERY_TERM, "heist"),                         # not a word of the request
        Claim(K.FACTOR_KIND_QUERY_TERM, "scary"),                         # negated in the request
        Claim(K.FACTOR_KIND_DECADE, "1980s"),                             # it is from 1999
        Claim(K.FACTOR_KIND_RUNTIME, "90 min"),                           # it runs 157 minutes
        Claim(K.FACTOR_KIND_CERTIFICATION, "PG"),                         # rated R
        Claim(K.FACTOR_KIND_GENRE, "Comedy"),
        Claim(K.FACTOR_KIND_UNSPECIFIED, "anything"),
        Claim(K.FACTOR_KIND_RUNTIME, f"{insider.runtime_min} min", HEAT),  # runtime cannot cite a source
    ]
    for claim in true_claims:
        assert unsupported_reason(claim, insider, history, store) is None, claim
    for claim in planted:
        assert unsupported_reason(claim, insider, history, store) is not None, claim
    kept = verify_claims(true_claims + planted, insider, history, store, origin="test")
    assert kept == true_claims


async def test_every_returned_factor_verifies_for_many_users(store, scoring_params, collab_model, catalog):
    """Faithfulness over real ml-latest-small users: zero unsupported factors in what Rank returns."""
    from movierec_catalog import load_ratings

    ratings = load_ratings()
    ratings = ratings[ratings.movie_id.isin(FIXTURE_MOVIE_IDS)]
    users = ratings.user_id.value_counts().index[:25]
    ranker = make_ranker(store, scoring_params, collab_model)
    checked = 0
    for user_id in users:
        history = dict(zip(ratings[ratings.user_id == user_id].movie_id, ratings[ratings.user_id == user_id].rating,
                           strict=True))
        request = rank_input(store, FIXTURE_MOVIE_IDS, ratings=history, query="a smart thriller from the 90s")
        output = await ranker.rank(request)
        for pick in output.picks:
            movie = store.get(pick.movie_id)
            assert pick.movie_id not in history
            for claim in pick.factors:
                assert unsupported_reason(claim, movie, request.history, store) is None, (user_id, claim)
                checked += 1
            assert set(pick.because_movie_ids) <= {m for m, r in history.items() if r >= 4.0}
    assert checked > 100


async def test_explanation_for_a_heat_fan_reads_naturally_and_is_true(store, scoring_params):
    ranker = make_ranker(store, scoring_params, collab=None, mmr_lambda=1.0)
    request = rank_input(store, [INSIDER, COLLATERAL, TOY_STORY], ratings={HEAT: 5.0},
                         query="something from the 90s", top_n=3)
    output = await ranker.rank(request)
    by_id = {p.movie_id: p for p in output.picks}
    insider = by_id[INSIDER]
    print(insider.explanation)
    # The request's words chose the pick (it matches them), so they lead; the liked movie follows.
    assert insider.explanation.startswith("Like your request for 'something from the 90s', it came out in 1999. ")
    assert "Because you loved Heat: " in insider.explanation
    assert "directed by Michael Mann" in insider.explanation
    assert "Al Pacino" in insider.explanation
    assert 2 <= len(re.findall(r"[.!?](?:\s|$)", insider.explanation)) <= 3
    assert HEAT in insider.because_movie_ids
    collateral = by_id[COLLATERAL]
    assert "2004" not in collateral.explanation and "request" not in collateral.explanation, \
        "Collateral (2004) must not be said to match 'from the 90s'"


async def test_text_names_only_people_that_are_verified_factors(store, scoring_params, collab_model):
    ranker = make_ranker(store, scoring_params, collab_model)
    request = rank_input(store, FIXTURE_MOVIE_IDS, ratings={HEAT: 5.0, 593: 4.5, 1: 4.0}, top_n=10)
    output = await ranker.rank(request)
    for pick in output.picks:
        movie = store.get(pick.movie_id)
        cited = {c.value for c in pick.factors if c.kind in (K.FACTOR_KIND_DIRECTOR, K.FACTOR_KIND_CAST)}
        for person in (movie.director, *movie.cast):
            if person and person in pick.explanation:
                assert person in cited, (person, pick.explanation)


async def test_liked_wording_matches_the_rating(store, scoring_params):
    ranker = make_ranker(store, scoring_params, collab=None)
    output = await ranker.rank(rank_input(store, [INSIDER], ratings={HEAT: 4.0}, top_n=1))
    assert output.picks[0].explanation.startswith("Because you liked Heat")
    output = await ranker.rank(rank_input(store, [INSIDER], picked=[HEAT], top_n=1))
    assert output.picks[0].explanation.startswith("Because you liked Heat")


async def test_new_user_without_history_gets_facts_not_a_because(store, scoring_params):
    ranker = make_ranker(store, scoring_params, collab=None)
    output = await ranker.rank(rank_input(store, [HEAT], top_n=1))
    text = output.picks[0].explanation
    assert not text.startswith("Because")
    assert text.startswith("A crime thriller from the 1990s, directed by Michael Mann, starring Al Pacino")


@pytest.mark.parametrize(("genres", "phrase"), [
    (["Action", "Crime", "Thriller"], "crime thriller"),
    (["Comedy", "Romance"], "romantic comedy"),
    (["Crime", "Drama"], "crime drama"),
    (["Adventure", "Animation", "Children", "Comedy", "Fantasy"], "animated comedy"),
    (["Horror"], "horror film"),
])
def test_genre_phrases(genres, phrase):
    assert genre_phrase(genres) == phrase
