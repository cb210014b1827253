"""Small builders shared by the ranker tests."""

from __future__ import annotations

import numpy as np

from movierec_catalog.filter import Filter
from ranker_service.history import UserHistory
from ranker_service.pipeline import Ranker, RankInput
from ranker_service.scoring import NumericScorer, ScoringParams


def make_ranker(store, params: ScoringParams, collab=None, mmr_lambda: float = 0.7, llm=None) -> Ranker:
    return Ranker(store, NumericScorer(store, params, collab), mmr_lambda, llm)


def rank_input(store, candidate_ids, ratings=None, picked=(), query="", top_n=5, constraints=None,
               turns=()) -> RankInput:
    ids = [m for m in candidate_ids]
    return RankInput(history=UserHistory(ratings=dict(ratings or {}), picked=frozenset(picked), query=query),
                     vector=None, candidates=[(m, 0.5) for m in ids], top_n=top_n,
                     constraints=constraints or Filter(), recent_turns=list(turns))


def mean_similarity(store, movie_ids) -> float:
    vectors = store.vectors_of(movie_ids)
    similarity = vectors @ vectors.T
    n = len(movie_ids)
    return float((similarity.sum() - np.trace(similarity)) / (n * (n - 1)))
