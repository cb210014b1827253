"""The search core in-process: top-k order, batch = single, configured kinds, missing metadata."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from prometheus_client import REGISTRY
from retrieval_helpers import unit_vectors

from movierec.common.v1 import common_pb2
from retrieval_service.filters import parse_filter
from retrieval_service.index import load_index, top_k
from retrieval_service.settings import RetrievalSettings


@pytest.fixture(scope="module")
def settings(catalog_dir) -> RetrievalSettings:
    return replace(RetrievalSettings.from_env(), catalog_dir=catalog_dir)


def test_top_k_is_sorted_and_stable():
    scores = np.array([0.1, 0.9, 0.5, 0.9, -1.0, 0.5], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [1, 3, 2]
    assert top_k(scores, 10).tolist() == [1, 3, 2, 5, 0, 4]


def test_configured_kind_is_built_from_the_verified_vectors(make_random_index, settings):
    """RETRIEVAL_INDEX_KIND=ivf over a flat artifact (hnsw takes the same path, but ~30 s to build here)."""
    kind = "ivf"
    index = make_random_index("flat", seed=7)
    loaded = load_index(index.root / "current", replace(settings, index_kind=kind))
    assert loaded.kind == kind and loaded.index.ntotal == loaded.count
    queries = unit_vectors(20, seed=4)
    comedy = loaded.allowed(parse_filter(common_pb2.Filter(include_genres=["Comedy"]), loaded.attributes))
    alloweds = [None, comedy] * 10
    batch = loaded.search_many(queries, [10] * 20, alloweds)
    for query, allowed, hits in zip(queries, alloweds, batch, strict=True):
        single = loaded.search(query, 10, allowed)
        assert len(hits.rows) == 10
        np.testing.assert_allclose(hits.scores, single.scores, atol=1e-5)
        np.testing.assert_allclose(hits.scores, index.vectors[hits.rows] @ query, atol=1e-5)


def test_missing_metadata_rules(make_random_index, settings, catalog):
    loaded = load_index(make_random_index("flat", seed=7).root / "current", settings)
    movies = catalog.movies.loc[loaded.movie_ids]

    def admitted(**fields) -> set[int]:
        allowed = loaded.allowed(parse_filter(common_pb2.Filter(**fields), loaded.attributes))
        return set(loaded.movie_ids[allowed.mask].tolist())

    unknown_cert = set(movies.index[movies["certification"].isna()])
    assert admitted(max_certification=common_pb2.CERTIFICATION_NC_17).isdisjoint(unknown_cert)
    unknown_runtime = set(movies.index[movies["runtime_min"].isna()])
    assert admitted(max_runtime_min=1000).isdisjoint(unknown_runtime)
    assert unknown_runtime <= admitted(max_runtime_min=1000, lenient_runtime=True)
    unknown_year = set(movies.index[movies["year"].isna()])
    assert unknown_year and admitted(min_year=1800).isdisjoint(unknown_year)
    assert admitted(include_genres=["sci-fi"]) == set(movies.index[movies["genres"].map(lambda g: "Sci-Fi" in g)])


def test_selective_filter_through_hnsw_widens_or_falls_back(make_random_index, settings, catalog):
    """Forced through FAISS (no exact shortcut), a filter admitting <1% of the rows still yields k."""
    index = make_random_index("hnsw", kind="hnsw", seed=7)
    loaded = load_index(index.root / "current", replace(settings, exact_fraction=0.0, exact_max_rows=0,
                                                        hnsw_ef_search=16))
    noir = loaded.allowed(parse_filter(common_pb2.Filter(include_genres=["Film-Noir"]), loaded.attributes))
    assert 50 <= noir.count < 0.01 * loaded.count

    def rescued() -> float:
        return sum(REGISTRY.get_sample_value("movierec_retrieval_search_path_total", {"path": path}) or 0
                   for path in ("faiss_widened", "exact_fallback"))

    before = rescued()
    for query in unit_vectors(10, seed=8):
        hits = loaded.search(query, 50, noir)
        assert len(hits.rows) == 50 and noir.mask[hits.rows].all()
        np.testing.assert_allclose(hits.scores, index.vectors[hits.rows] @ query, atol=1e-5)
        assert np.all(np.diff(hits.scores) <= 0)
    assert rescued() > before



def test_flat_batch_of_mixed_filters_equals_single_searches(make_random_index, settings):
    """Unfiltered, wide-masked (enough of them to be scored in one shared matrix product) and gathered
    queries mixed in one batch: each answers exactly as its single search would, counted under its path."""
    index = make_random_index("flat", seed=7)
    loaded = load_index(index.root / "current", settings)
    queries = unit_vectors(24, seed=5)
    seen = loaded.allowed(parse_filter(common_pb2.Filter(exclude_movie_ids=loaded.movie_ids[:25].tolist()),
                                       loaded.attributes))
    comedy = loaded.allowed(parse_filter(common_pb2.Filter(include_genres=["Comedy"]), loaded.attributes))
    few = loaded.allowed(parse_filter(common_pb2.Filter(only_movie_ids=loaded.movie_ids[::40].tolist()),
                                      loaded.attributes))
    assert seen.count > loaded.count / 8 and few.count <= loaded.count / 8
    alloweds, ks = [None, seen, comedy, few, seen, None] * 4, [10, 20, 15, 5, 30, 7] * 4  # ≥ GEMM_MIN_QUERIES wide
    before = REGISTRY.get_sample_value("movierec_retrieval_search_path_total", {"path": "exact_masked"}) or 0
    batch = loaded.search_many(queries, ks, alloweds)
    after = REGISTRY.get_sample_value("movierec_retrieval_search_path_total", {"path": "exact_masked"}) or 0
    wide_masked = sum(1 for a in alloweds if a is not None and a.count > loaded.count / 8)
    assert after - before == wide_masked
    for query, k, allowed, hits in zip(queries, ks, alloweds, batch, strict=True):
        single = loaded.search(query, k, allowed)
        assert hits.rows.tolist() == single.rows.tolist()
        np.testing.assert_allclose(hits.scores, single.scores, atol=1e-5)
        if allowed is not None:
            assert allowed.mask[hits.rows].all()
