"""The ranker with SeqEASE: ŷ_topn in the ordering score, hybrid candidates, the fallbacks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import HARRY_POTTER, STAR_WARS, chronological
from ranker_helpers import rank_input

from movierec.common.v1 import common_pb2
from movierec.ranker.v1 import ranker_pb2
from movierec_catalog.filter import Filter
from movierec_core.errors import ServiceError
from ranker_service.explain import liked_neighbours
from ranker_service.pipeline import Ranker
from ranker_service.scoring import NumericScorer
from ranker_service.servicer import parse_rank_request
from ranker_service.verify import K


def seq_ranker(store, params, sequence_model, collab=None, collab_candidates=100, alpha=None, mmr_lambda=1.0):
    scorer = NumericScorer(store, params, collab, alpha=alpha, sequence=sequence_model)
    return Ranker(store, scorer, mmr_lambda, collab_candidates=collab_candidates)


@pytest.fixture(scope="module")
def real_history(fixture_ratings) -> dict[int, float]:
    """A real person's ratings of the fixture movies, oldest first (a long one, so SeqEASE has evidence)."""
    sequences = chronological(fixture_ratings)
    user = max(sequences, key=lambda u: (30 <= len(sequences[u]) <= 60, -u))
    rows = fixture_ratings[fixture_ratings.user_id == user].set_index("movie_id").rating
    return {m: float(rows[m]) for m in sequences[user]}


async def test_ordering_uses_seqease(store, neutral_params, sequence_model, real_history):
    unrated = [m for m in store.movie_ids.tolist() if m not in real_history][:30]
    ranker = seq_ranker(store, neutral_params, sequence_model, collab_candidates=0, alpha=0.0)
    output = await ranker.rank(rank_input(store, unrated, ratings=real_history, top_n=8))
    assert output.ranker == "numeric-seq"
    state = sequence_model.fold_in(real_history)
    yhat = dict(zip(unrated, sequence_model.predict_scaled(state, unrated), strict=True))
    picks = [p.movie_id for p in output.picks]
    assert picks == sorted(unrated, key=lambda m: (-yhat[m], unrated.index(m)))[:8]
    assert np.all(np.diff([p.match_score for p in output.picks]) <= 0)


async def test_blend_is_a_cos_plus_one_minus_a_seqease(store, neutral_params, sequence_model, real_history):
    unrated = [m for m in store.movie_ids.tolist() if m not in real_history][:40]
    scorer = NumericScorer(store, neutral_params, None, alpha=0.3, sequence=sequence_model)
    taste = scorer.taste_vector(None, [m for m, r in real_history.items() if r >= 4.0])
    state = scorer.sequence_state(real_history)
    scores = scorer.score(unrated, taste, real_history, np.zeros(len(unrated)), state)
    expected_cos = store.vectors_of(unrated) @ taste
    expected_yhat = sequence_model.predict_scaled(state, unrated)
    # minus the bounded demotion of near neighbours of disliked movies (ranker README: 0.2·clip((c − 0.5)/0.5))
    disliked = [m for m, r in real_history.items() if r <= 2.5 and m in store.row_of]
    nearest = (store.vectors_of(unrated) @ store.vectors_of(disliked).T).max(axis=1) if disliked else 0.0
    penalty = 0.2 * np.clip((nearest - 0.5) / 0.5, 0.0, 1.0)
    assert np.allclose(scores.final, 0.3 * expected_cos + 0.7 * expected_yhat - penalty, atol=1e-6)
    assert scores.ranker == "numeric-seq"


async def test_hybrid_candidates_appear_within_constraints(store, neutral_params, sequence_model, real_history):
    received = [m for m in STAR_WARS if m not in real_history][:2]
    constraints = Filter(exclude_genres=frozenset({"Horror"}), max_year=2005,
                              exclude_movie_ids=frozenset(HARRY_POTTER[:2]))
    ranker = seq_ranker(store, neutral_params, sequence_model, collab_candidates=50)
    output = await ranker.rank(rank_input(store, received, ratings=real_history, top_n=10, constraints=constraints))
    picks = [p.movie_id for p in output.picks]
    assert len(picks) == 10 and len(set(picks) - set(received)) >= 8  # retrieval passed only two
    for pick in output.picks:
        movie = store.get(pick.movie_id)
        assert constraints.violation(movie) is None, (movie.title, constraints.violation(movie))
        assert pick.movie_id not in real_history and pick.movie_id in store.row_of
    # Each pick names the signal that chose it: "people who watched X went on to watch this" (X a liked
    # movie SeqEASE links to the pick) or, for content picks, the closest liked movie by vector.
    liked = [m for m, r in real_history.items() if r >= 4.0]
    nearest = liked_neighbours(store, picks, sorted(liked, key=lambda m: -real_history[m]))
    sequential = 0
    for pick, near in zip(output.picks, nearest, strict=True):
        similar = [c.source_movie_id for c in pick.factors if c.kind == K.FACTOR_KIND_SIMILAR_TO_LIKED]
        watched = [c.source_movie_id for c in pick.factors if c.kind == K.FACTOR_KIND_WATCHED_NEXT]
        assert len(similar) + len(watched) == 1, pick.factors
        if watched:
            sequential += 1
            source = watched[0]
            assert source in liked and pick.explanation.startswith(f"People who watched {store.get(source).title}")
            assert sequence_model.weights[sequence_model.position[source], sequence_model.position[pick.movie_id]] > 0
        else:
            assert similar == [near.closest]
    assert sequential >= 1, "the added candidates were chosen by SeqEASE: some must say so"


async def test_hybrid_candidates_switch_off(store, neutral_params, sequence_model, real_history):
    received = [m for m in STAR_WARS if m not in real_history][:3]
    ranker = seq_ranker(store, neutral_params, sequence_model, collab_candidates=0)
    output = await ranker.rank(rank_input(store, received, ratings=real_history, top_n=5))
    assert {p.movie_id for p in output.picks} <= set(received)


async def test_candidates_only_request_gets_no_additions(store, neutral_params, sequence_model, real_history):
    from dataclasses import replace

    received = [m for m in STAR_WARS if m not in real_history][:3]
    ranker = seq_ranker(store, neutral_params, sequence_model, collab_candidates=50)
    request = replace(rank_input(store, received, ratings=real_history, top_n=3), candidates_only=True)
    output = await ranker.rank(request)
    assert {p.movie_id for p in output.picks} == set(received)


async def test_hybrid_candidates_rescue_a_request_whose_candidates_all_fail(store, neutral_params, sequence_model,
                                                                            real_history):
    rated = list(real_history)[:3]  # every received candidate is already rated
    output = await seq_ranker(store, neutral_params, sequence_model).rank(
        rank_input(store, rated, ratings=real_history, top_n=5))
    assert len(output.picks) == 5 and not {p.movie_id for p in output.picks} & set(real_history)
    with pytest.raises(ServiceError, match="none of the 3 candidates"):
        await seq_ranker(store, neutral_params, sequence_model, collab_candidates=0).rank(
            rank_input(store, rated, ratings=real_history, top_n=5))


async def test_user_without_ratings_falls_back(store, neutral_params, sequence_model, collab_model):
    candidates = list(STAR_WARS) + list(HARRY_POTTER)
    with_als = seq_ranker(store, neutral_params, sequence_model, collab=collab_model)
    output = await with_als.rank(rank_input(store, candidates, top_n=5))
    assert output.ranker == "numeric" and len(output.picks) == 5
    assert {p.movie_id for p in output.picks} <= set(candidates)  # nothing to add without ratings
    content_only = seq_ranker(store, neutral_params, sequence_model)
    output = await content_only.rank(rank_input(store, candidates, top_n=5))
    assert output.ranker == "numeric-content" and {p.movie_id for p in output.picks} <= set(candidates)


async def test_favourites_alone_give_seqease_evidence(store, neutral_params, sequence_model):
    output = await seq_ranker(store, neutral_params, sequence_model).rank(
        rank_input(store, [STAR_WARS[0]], picked=HARRY_POTTER[:3], top_n=5))
    assert output.ranker == "numeric-seq" and len(output.picks) == 5
    assert not {p.movie_id for p in output.picks} & set(HARRY_POTTER[:3])


def test_servicer_orders_ratings_by_rated_at(store, neutral_params, sequence_model):
    ranker = seq_ranker(store, neutral_params, sequence_model)
    stamps = {STAR_WARS[2]: 300, STAR_WARS[0]: 100, STAR_WARS[1]: 200, HARRY_POTTER[0]: 200}

    def request(with_time: bool) -> ranker_pb2.RankRequest:
        ratings = []
        for movie_id, seconds in stamps.items():
            rating = common_pb2.MovieRating(movie_id=movie_id, rating=4.0)
            if with_time:
                rating.rated_at.FromSeconds(seconds)
            ratings.append(rating)
        return ranker_pb2.RankRequest(user=ranker_pb2.UserContext(ratings=ratings),
                                      candidates=[ranker_pb2.Candidate(movie_id=1, retrieval_score=0.5)])

    ordered = list(parse_rank_request(request(True), ranker, 500).history.ratings)
    assert ordered == [STAR_WARS[0], *sorted([STAR_WARS[1], HARRY_POTTER[0]]), STAR_WARS[2]]  # ties by movie id
    assert list(parse_rank_request(request(False), ranker, 500).history.ratings) == list(stamps)


async def test_more_like_a_seed_asks_seqease_about_the_seed_not_the_history(store, neutral_params, sequence_model,
                                                                            real_history):
    """"More like X" (because_movie_id = X): SeqEASE's ŷ and its added candidates come from X alone (what people
    who liked X went on to like), not from a history that has nothing to do with the request."""
    from dataclasses import replace

    seed = next(m for m in STAR_WARS if m not in real_history and m in sequence_model)
    unrated = [m for m in store.movie_ids.tolist() if m not in real_history and m != seed][:40]
    ranker = seq_ranker(store, neutral_params, sequence_model, collab_candidates=20, alpha=0.0)
    plain = rank_input(store, unrated, ratings=real_history, top_n=8)
    seeded = await ranker.rank(replace(plain, because_movie_id=seed))
    state = sequence_model.fold_in([seed])
    pool = sorted({p.movie_id for p in seeded.picks} | set(unrated))
    yhat = dict(zip(pool, sequence_model.predict_scaled(state, pool), strict=True))
    picks = [p.movie_id for p in seeded.picks]
    assert picks == sorted(picks, key=lambda m: -yhat[m]), "ordered by the seed's SeqEASE scores"
    added = set(picks) - set(unrated)
    assert added and added <= set(sequence_model.ranked_unseen(state, 10 * 20)), "added from the seed's neighbours"
    history_order = [p.movie_id for p in (await ranker.rank(plain)).picks]
    assert picks != history_order, "the seed, not the history, decides"
