"""The audience prior and the attribution of each pick, on the real fixture catalog and vectors."""

from __future__ import annotations

import pytest
from conftest import FIXTURE_MOVIE_IDS
from ranker_helpers import make_ranker, rank_input

from movierec_catalog.filter import Filter
from ranker_service.audience import ADULT, FAMILY, NO_PRIOR, STRONG_PENALTY, audience_of
from ranker_service.history import UserHistory
from ranker_service.verify import Claim, K, unsupported_reason

# Liked movies of the personas (MovieLens ids, all in the fixture).
PIXAR = (1, 4886, 6377, 8961, 78499)  # Toy Story, Monsters Inc., Finding Nemo, The Incredibles, Toy Story 3
DARK_ADULT = (2959, 593, 6874, 48516)  # Fight Club, Silence of the Lambs, Kill Bill 1, The Departed
HORROR = (1982, 1997, 8957, 168250)  # Halloween, The Exorcist, Saw, Get Out
MIXED = (1, 296)  # Toy Story and Pulp Fiction: no band
HEAT, TOY_STORY = 6, 1


def _mature(movie) -> bool:
    """Checked from the catalog's own fields, independently of the prior's code."""
    return movie.certification in ("R", "NC-17") or "Horror" in movie.genres


def _childish(movie) -> bool:
    return movie.certification == "G" or "Children" in movie.genres


def _liked(store, ids):
    return [store.get(m) for m in ids]


def test_bands_follow_the_liked_movies(store):
    assert audience_of(_liked(store, PIXAR)).band == FAMILY and audience_of(_liked(store, PIXAR)).unanimous
    assert audience_of(_liked(store, DARK_ADULT)).band == ADULT
    assert audience_of(_liked(store, HORROR)).band == ADULT and audience_of(_liked(store, HORROR)).unanimous
    assert audience_of(_liked(store, MIXED)) == NO_PRIOR
    assert audience_of(_liked(store, (TOY_STORY,))) == NO_PRIOR  # one movie is too little evidence
    # A request capped at PG is a family band whatever the picks.
    assert audience_of(_liked(store, DARK_ADULT), max_certification="PG").band == FAMILY


def test_a_single_dissenting_pick_makes_the_prior_soft(store):
    audience = audience_of(_liked(store, (*PIXAR[:3], 2011)))  # three Pixar films and Back to the Future II (PG)
    assert audience.band == FAMILY and not audience.unanimous
    assert audience.penalty(store.get(168250)) == STRONG_PENALTY  # Get Out (R, Horror): demoted, not excluded


@pytest.mark.parametrize("liked, forbidden", [(PIXAR, _mature), (DARK_ADULT, _childish), (HORROR, _childish)])
async def test_no_out_of_band_pick_and_the_note_says_why(store, scoring_params, monkeypatch, liked, forbidden):
    import ranker_service.pipeline as pipeline

    ranker = make_ranker(store, scoring_params, collab=None)
    candidates = [m for m in FIXTURE_MOVIE_IDS if m not in liked]
    request = rank_input(store, candidates, ratings=dict.fromkeys(liked, 5.0), top_n=10)
    output = await ranker.rank(request)
    assert len(output.picks) == 10
    for pick in output.picks:
        movie = store.get(pick.movie_id)
        assert not forbidden(movie), (movie.title, movie.certification, movie.genres)
    # The note appears exactly when the prior changed something: compare with the ranking without it.
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "audience_of", lambda *_args, **_kw: NO_PRIOR)
        unprior = await ranker.rank(request)
    changed = any(forbidden(store.get(p.movie_id)) for p in unprior.picks)
    notes = [p for p in output.picks if any(c.kind == K.FACTOR_KIND_AUDIENCE for c in p.factors)]
    assert bool(notes) == changed
    if changed:
        assert len(notes) == len(output.picks) and all("as your picks are." in p.explanation for p in notes)
    if liked == PIXAR:
        assert changed, "the fixture's nearest neighbours of Pixar films include mature ones: the prior must act"


async def test_unbanded_person_sees_both_worlds_and_no_note(store, scoring_params):
    ranker = make_ranker(store, scoring_params, collab=None, mmr_lambda=0.5)
    candidates = [m for m in FIXTURE_MOVIE_IDS if m not in MIXED]
    output = await ranker.rank(rank_input(store, candidates, ratings=dict.fromkeys(MIXED, 5.0), top_n=20))
    movies = [store.get(p.movie_id) for p in output.picks]
    assert any(_mature(m) for m in movies) and any(_childish(m) for m in movies)
    assert not any(c.kind == K.FACTOR_KIND_AUDIENCE for p in output.picks for c in p.factors)


async def test_soft_prior_demotes_but_still_fills_the_list(store, scoring_params):
    ranker = make_ranker(store, scoring_params, collab=None)
    liked = (*PIXAR[:3], 2011)
    candidates = [3114, 4306, 168250]  # Toy Story 2, Shrek, Get Out
    output = await ranker.rank(rank_input(store, candidates, ratings=dict.fromkeys(liked, 5.0), top_n=3))
    assert [p.movie_id for p in output.picks][-1] == 168250


async def test_unanimous_prior_excludes_even_when_that_empties_the_group(store, scoring_params):
    from movierec_core.errors import ServiceError

    ranker = make_ranker(store, scoring_params, collab=None)
    with pytest.raises(ServiceError) as error:
        await ranker.rank(rank_input(store, [1982, 168250], ratings=dict.fromkeys(PIXAR, 5.0), top_n=2))
    assert error.value.reason == "NO_ELIGIBLE_CANDIDATES" and "audience band" in error.value.message


def test_verifier_rejects_an_audience_claim_the_movie_breaks(store):
    history = UserHistory(ratings=dict.fromkeys(PIXAR, 5.0))
    get_out, toy_story_2 = store.get(168250), store.get(3114)
    assert unsupported_reason(Claim(K.FACTOR_KIND_AUDIENCE, FAMILY), get_out, history, store) is not None
    assert unsupported_reason(Claim(K.FACTOR_KIND_AUDIENCE, FAMILY), toy_story_2, history, store) is None
    assert unsupported_reason(Claim(K.FACTOR_KIND_AUDIENCE, ADULT), toy_story_2, history, store) is not None
    assert unsupported_reason(Claim(K.FACTOR_KIND_AUDIENCE, FAMILY, TOY_STORY), toy_story_2, history,
                              store) is not None  # an audience factor cites no source movie


async def test_seed_movie_explains_every_pick_of_its_group(store, scoring_params):
    from dataclasses import replace

    ranker = make_ranker(store, scoring_params, collab=None)
    ratings = {HEAT: 5.0, 1: 4.5, 2571: 4.5}  # Heat, Toy Story, The Matrix
    candidates = [3006, 8798, 47044, 4210, 69640, 1221, 858]  # Mann films and crime sagas
    request = replace(rank_input(store, candidates, ratings=ratings, top_n=5), because_movie_id=HEAT)
    output = await ranker.rank(request)
    assert len(output.picks) == 5
    for pick in output.picks:
        similar = [c for c in pick.factors if c.kind == K.FACTOR_KIND_SIMILAR_TO_LIKED]
        assert [c.source_movie_id for c in similar] == [HEAT], pick.explanation
        assert pick.explanation.startswith("Because you loved Heat"), pick.explanation
        assert pick.because_movie_ids[0] == HEAT


async def test_seed_that_is_not_liked_is_not_claimed(store, scoring_params):
    from dataclasses import replace

    ranker = make_ranker(store, scoring_params, collab=None)
    request = replace(rank_input(store, [3006, 8798], ratings={HEAT: 2.0, 2571: 5.0}, top_n=2), because_movie_id=HEAT)
    output = await ranker.rank(request)
    assert all(HEAT not in p.because_movie_ids for p in output.picks)


async def test_batch_ranks_each_group_as_a_single_call_would(store, scoring_params):
    from dataclasses import replace

    ranker = make_ranker(store, scoring_params, collab=None)
    ratings = {HEAT: 5.0, 593: 4.5}
    first = rank_input(store, [3006, 8798, 47044, 4210], ratings=ratings, top_n=3)
    second = replace(rank_input(store, [2571, 6365, 6934], ratings=ratings, top_n=2,
                                constraints=Filter(max_year=2002)), history=first.history)
    empty = replace(rank_input(store, [HEAT], ratings=ratings, top_n=1), history=first.history)  # only seen movies
    batch = await ranker.rank_batch([first, second, empty])
    singles = [await ranker.rank(first), await ranker.rank(second)]
    for got, want in zip(batch[:2], singles, strict=True):
        assert [(p.movie_id, p.explanation) for p in got.picks] == [(p.movie_id, p.explanation) for p in want.picks]
    assert getattr(batch[2], "reason", None) == "NO_ELIGIBLE_CANDIDATES"


async def test_distinct_batch_never_repicks_and_fills_each_group_from_what_is_left(store, scoring_params):
    """``distinct``: a later group skips what an earlier one picked and still returns top_n picks, the
    next best of its own candidates (what a single call excluding those movies would return)."""
    from dataclasses import replace

    ranker = make_ranker(store, scoring_params, collab=None)
    ratings = {HEAT: 5.0, 593: 4.5}
    shared = [3006, 8798, 47044, 4210, 2571, 6365, 6934]
    first = rank_input(store, shared, ratings=ratings, top_n=3)
    second = replace(rank_input(store, shared, ratings=ratings, top_n=3), history=first.history)
    plain = await ranker.rank_batch([first, second])
    assert [p.movie_id for p in plain[0].picks] == [p.movie_id for p in plain[1].picks]  # the overlap to remove
    distinct = await ranker.rank_batch([first, second], distinct=True)
    taken = [p.movie_id for p in distinct[0].picks]
    assert taken == [p.movie_id for p in plain[0].picks]  # the first group is untouched
    later = [p.movie_id for p in distinct[1].picks]
    assert len(later) == 3 and not set(later) & set(taken)
    alone = await ranker.rank(replace(second, constraints=second.constraints.excluding(taken)))
    assert later == [p.movie_id for p in alone.picks]
