"""Regression guard: a fast subset of ``make eval`` with thresholds, so quality cannot silently drop.

Runs on the real catalog and index artifacts (``make catalog index``), the real ranker code and the
packaged embedding model; about 30–60 s on two busy cores. Skipped, with the reason, only when the
artifacts have not been built.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "eval"))  # until `eval` is in the Makefile's SOURCE_DIRS (.pth)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SAMPLE_USERS = 150
SAMPLE_SEED = 0
BLEND_A = 0.5
MIN_HR_MARGIN_OVER_POPULARITY = 0.05
MIN_NDCG = 0.05


@pytest.fixture(scope="module")
def artifacts():
    from movierec_catalog import CatalogNotFoundError, load_catalog, load_ratings
    from movierec_core.index_artifact import ArtifactError, load_index_artifact

    try:
        catalog = load_catalog()
        index = load_index_artifact()
    except (CatalogNotFoundError, ArtifactError) as error:
        pytest.skip(f"needs the built artifacts (make catalog index): {error}")
    from profile_service.settings import TasteConstants
    from profile_service.vectors import MovieVectors, cold_start_vector, popular_movie_ids

    movies = MovieVectors.from_artifact(index)
    cold = cold_start_vector(movies, popular_movie_ids(catalog.path, movies, 200))
    return catalog, load_ratings(), index, cold, TasteConstants()


@pytest.fixture(scope="module")
def topn_run(artifacts):
    """5-core split, the fixed 150-user sample, popularity and the hybrid pipeline (fixed a, no tuning)."""
    from movierec_eval import baselines, metrics, topn
    from movierec_eval.content import ItemVectors, content_scores, taste_matrix
    from movierec_eval.sequence import SeqEase, SeqEaseParams, scale_to_unit

    _catalog, ratings, index, cold, taste = artifacts
    split = topn.variant_split(ratings, "5core")
    vectors = ItemVectors.align(split.universe.item_ids, index.movie_ids, index.vectors)
    ctx = topn.Context(split, vectors, seed=7)
    users = np.sort(np.random.default_rng(SAMPLE_SEED).choice(split.universe.n_users, SAMPLE_USERS, replace=False))
    tastes = taste_matrix(split.history("test"), vectors, taste, cold)
    model = SeqEase(split.train, SeqEaseParams())
    yhat = scale_to_unit(model.raw_scores(split.history("test")), ctx.seen["test"])
    cos = content_scores(tastes, vectors)
    mask = topn.candidate_mask(ctx, "test", cos, yhat)
    pipeline = np.where(mask, BLEND_A * cos + (1 - BLEND_A) * yhat, -np.inf)
    popular = baselines.Popularity(ctx.train_matrix).score(ctx.inputs("test"))
    ranks = {name: ctx.ranks("test", scores)[users] for name, scores in (("pipeline", pipeline),
                                                                        ("popularity", popular))}
    return ctx, users, tastes, mask, model, {k: metrics.summarize(v, 0) for k, v in ranks.items()}


def test_pipeline_beats_popularity_by_a_margin(topn_run):
    *_, summary = topn_run
    pipeline, popular = summary["pipeline"], summary["popularity"]
    assert pipeline["hr@10"]["mean"] >= popular["hr@10"]["mean"] + MIN_HR_MARGIN_OVER_POPULARITY, summary
    assert pipeline["ndcg@10"]["mean"] >= MIN_NDCG, summary


def test_real_ranker_reproduces_the_pipeline_and_grounds_every_factor(topn_run, artifacts):
    from movierec_eval import faithfulness, topn
    from movierec_eval.sequence import SeqEaseCollab
    from ranker_service.app import load_store
    from ranker_service.scoring import ScoringParams
    from ranker_service.settings import RankerSettings

    ctx, users, tastes, mask, model, _ = topn_run
    catalog = artifacts[0]
    store = load_store(RankerSettings.from_env())
    lists, outputs = topn.run_real_ranker(ctx, store, SeqEaseCollab(model), BLEND_A, tastes, mask, 1.0,
                                          ScoringParams.load(), users=users)
    assert all(len(picks) == 10 for picks in lists)
    samples = [s for (output, history), u in zip(outputs, users, strict=True)
               for s in faithfulness.samples_from_outputs(f"user{u}", output, history.ratings)]
    result = faithfulness.evaluate(samples, catalog, store, faithfulness.proposed_claim_counts(samples, store))
    assert result["factors"] >= 3 * len(samples)
    assert result["failures"] == [] and result["explanation_text_failures"] == [], result
    assert result["grounded_share"] == 1.0
    injected = faithfulness.injected_false_claims(samples, catalog, store, seed=0, limit=300)
    assert injected["injected"] >= 1500
    assert injected["survived_verifier"] == 0, injected["survivors"]


def test_constraint_suite_has_no_violation(artifacts):
    from movierec_eval import constraint_suite
    from movierec_eval.__main__ import Resources, run_constraints

    resources = Resources(seed=7)
    report = run_constraints(resources, {})
    assert report["requests"] == len(constraint_suite.REQUESTS) >= 40
    assert report["picks"] >= 3 * report["requests"]
    bad = [(row["message"], [p for p in row["picks"] if p["violations"]]) for row in report["detail"]
           if row["violations"]]
    assert report["violations"] == 0, bad


def test_independent_checker_rejects_what_is_not_true(artifacts):
    """The faithfulness judge must be able to fail: false values, unliked sources, words not asked for."""
    from movierec_eval.faithfulness import Sample, independent_reason

    catalog = artifacts[0]
    matrix, heat = 2571, 6  # The Matrix (Action, Sci-Fi, Thriller); Heat (Action, Crime, Thriller)
    sample = Sample("u", matrix, "", [], [], {heat: 4.5, 1: 2.0}, frozenset(), "a mind-bending movie")
    assert independent_reason("FACTOR_KIND_GENRE", "Sci-Fi", 0, sample, catalog) is None
    assert independent_reason("FACTOR_KIND_GENRE", "Action", heat, sample, catalog) is None
    assert independent_reason("FACTOR_KIND_GENRE", "Comedy", 0, sample, catalog)
    assert independent_reason("FACTOR_KIND_GENRE", "Sci-Fi", heat, sample, catalog)  # not true of Heat
    assert independent_reason("FACTOR_KIND_GENRE", "Action", 1, sample, catalog)  # rated 2.0: not liked
    assert independent_reason("FACTOR_KIND_DECADE", "1990s", 0, sample, catalog) is None
    assert independent_reason("FACTOR_KIND_DECADE", "1980s", 0, sample, catalog)
    assert independent_reason("FACTOR_KIND_QUERY_TERM", "comedy", 0, sample, catalog)  # not in the request
    assert independent_reason("FACTOR_KIND_SIMILAR_TO_LIKED", "Heat", heat, sample, catalog) is None
    assert independent_reason("FACTOR_KIND_SIMILAR_TO_LIKED", "Heat", 1, sample, catalog)
