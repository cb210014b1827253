"""MMR visibly diversifies: a Harry Potter fan does not get five more Harry Potter films."""

from __future__ import annotations

import numpy as np
from conftest import FIXTURE_MOVIE_IDS, HARRY_POTTER, STAR_WARS
from ranker_helpers import make_ranker, mean_similarity, rank_input

from ranker_service.diversity import mean_pairwise_similarity, mmr_order

FAN = {HARRY_POTTER[0]: 5.0, STAR_WARS[0]: 4.5}


async def picks(store, params, lam):
    ranker = make_ranker(store, params, collab=None, mmr_lambda=lam)
    output = await ranker.rank(rank_input(store, FIXTURE_MOVIE_IDS, ratings=FAN, top_n=5))
    return [p.movie_id for p in output.picks]


async def test_mmr_spreads_the_picks_compared_with_pure_relevance(store, scoring_params):
    relevance_only = await picks(store, scoring_params, 1.0)
    diversified = await picks(store, scoring_params, 0.5)
    franchise = set(HARRY_POTTER) | set(STAR_WARS)
    titles = {m: store.get(m).title for m in relevance_only + diversified}
    print("λ=1.0:", [titles[m] for m in relevance_only])
    print("λ=0.5:", [titles[m] for m in diversified])
    assert sum(m in franchise for m in relevance_only) >= 4, "pure relevance should pile up sequels"
    assert sum(m in franchise for m in diversified) < sum(m in franchise for m in relevance_only)
    assert mean_similarity(store, diversified) < mean_similarity(store, relevance_only) - 0.05


def test_mmr_with_lambda_one_is_the_relevance_order():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(30, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    relevance = rng.uniform(size=30)
    assert mmr_order(relevance, vectors, 10, 1.0) == list(np.argsort(-relevance)[:10])


def test_mmr_skips_a_near_duplicate_of_the_first_pick():
    base = np.array([1.0, 0.0, 0.0])
    twin = np.array([0.999, 0.0447, 0.0])
    other = np.array([0.0, 1.0, 0.0])
    vectors = np.stack([base, twin / np.linalg.norm(twin), other])
    order = mmr_order(np.array([0.9, 0.89, 0.6]), vectors, 2, 0.6)
    assert order == [0, 2]
    assert mean_pairwise_similarity(vectors[order]) < mean_pairwise_similarity(vectors[:2])
