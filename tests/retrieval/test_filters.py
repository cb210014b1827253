"""Every filter is honoured on the real catalog, and min(k, #qualifying) hits come back.

Property-style: hundreds of random filters (genres, years, runtime with and without lenient
matching, certification, language, exclusions, k up to the limit) against a real tier process.
The expected set of qualifying movies is computed here, independently of the service's code,
from the catalog's own rows, with docs/architecture.md §3's rules for missing metadata.
"""

from __future__ import annotations

import grpc
import numpy as np
import pandas as pd
import pytest
from retrieval_helpers import search_paths, stub, unit_vectors

from movierec.common.v1 import common_pb2
from movierec.retrieval.v1 import retrieval_pb2

CERTIFICATIONS = ["G", "PG", "PG-13", "R", "NC-17"]
LANGUAGES = ["en", "fr", "ja", "it", "de", "es"]
KS = [1, 3, 10, 20, 50, 100, 500, 1000]


def movie_facts(catalog, movie_ids: np.ndarray) -> list[dict]:
    """Plain-Python metadata per index row (None where the catalog knows nothing)."""
    frame = catalog.movies.loc[movie_ids]

    def value(x):
        return None if x is None or (not isinstance(x, list) and pd.isna(x)) else x

    return [{"id": int(m), "genres": set(g), "year": value(y), "runtime": value(r), "cert": value(c),
             "language": value(lang)}
            for m, g, y, r, c, lang in zip(frame.index, frame["genres"], frame["year"], frame["runtime_min"],
                                           frame["certification"], frame["original_language"], strict=True)]


def qualifies(movie: dict, f: dict) -> bool:
    if movie["id"] in f.get("exclude", ()):
        return False
    if f.get("include") and movie["genres"].isdisjoint(f["include"]):
        return False
    if not movie["genres"].isdisjoint(f.get("exclude_genres", ())):
        return False
    for bound, passes in (("min_year", lambda y, b: y >= b), ("max_year", lambda y, b: y <= b)):
        if bound in f and (movie["year"] is None or not passes(movie["year"], f[bound])):
            return False
    if "max_runtime" in f:
        if movie["runtime"] is None:
            if not f.get("lenient"):
                return False
        elif movie["runtime"] > f["max_runtime"]:
            return False
    if "max_cert" in f:
        if movie["cert"] not in CERTIFICATIONS:  # unknown is never safe
            return False
        if CERTIFICATIONS.index(movie["cert"]) > CERTIFICATIONS.index(f["max_cert"]):
            return False
    return not ("language" in f and movie["language"] != f["language"])


def random_filter(rng: np.random.Generator, genres: list[str], all_ids: np.ndarray) -> dict:
    f: dict = {}
    if rng.random() < 0.5:
        f["include"] = list(rng.choice(genres, size=rng.integers(1, 4), replace=False))
    if rng.random() < 0.3:
        f["exclude_genres"] = list(rng.choice(genres, size=rng.integers(1, 3), replace=False))
    if rng.random() < 0.4:
        low = int(rng.integers(1920, 2015))
        if rng.random() < 0.7:
            f["min_year"] = low
        if rng.random() < 0.7:
            f["max_year"] = low + int(rng.integers(0, 30))
    if rng.random() < 0.35:
        f["max_runtime"] = int(rng.integers(60, 200))
        f["lenient"] = bool(rng.random() < 0.5)
    if rng.random() < 0.35:
        f["max_cert"] = str(rng.choice(CERTIFICATIONS))
    if rng.random() < 0.1:
        f["language"] = str(rng.choice(LANGUAGES))
    if rng.random() < 0.4:
        chosen = rng.choice(all_ids, size=rng.integers(1, 300), replace=False).tolist()
        f["exclude"] = set(chosen) | {987654321}  # an id not in the catalog is simply ignored
    return f


def to_proto(f: dict) -> common_pb2.Filter:
    message = common_pb2.Filter(include_genres=f.get("include", []), exclude_genres=f.get("exclude_genres", []),
                                exclude_movie_ids=sorted(f.get("exclude", ())),
                                lenient_runtime=f.get("lenient", False),
                                original_language=f.get("language", ""))
    for key, name in (("min_year", "min_year"), ("max_year", "max_year"), ("max_runtime", "max_runtime_min")):
        if key in f:
            setattr(message, name, f[key])
    if "max_cert" in f:
        message.max_certification = CERTIFICATIONS.index(f["max_cert"]) + 1
    return message


class Reference:
    """The qualifying rows of a filter, vectorised over plain columns taken from the catalog."""

    def __init__(self, facts: list[dict]):
        self.facts = facts
        self.ids = np.array([m["id"] for m in facts])
        self.genres = [m["genres"] for m in facts]
        self.year = np.array([np.nan if m["year"] is None else m["year"] for m in facts])
        self.runtime = np.array([np.nan if m["runtime"] is None else m["runtime"] for m in facts])
        rank = {c: i for i, c in enumerate(CERTIFICATIONS)}
        self.cert = np.array([rank.get(m["cert"], np.nan) for m in facts])  # NaN: unknown
        self.language = np.array([m["language"] or "" for m in facts])

    def qualifying(self, f: dict) -> np.ndarray:
        ok = ~np.isin(self.ids, list(f.get("exclude", ())))
        if f.get("include"):
            ok &= np.array([not g.isdisjoint(f["include"]) for g in self.genres])
        if f.get("exclude_genres"):
            ok &= np.array([g.isdisjoint(f["exclude_genres"]) for g in self.genres])
        with np.errstate(invalid="ignore"):  # NaN comparisons are False: unknown fails a bound
            if "min_year" in f:
                ok &= self.year >= f["min_year"]
            if "max_year" in f:
                ok &= self.year <= f["max_year"]
            if "max_runtime" in f:
                ok &= (self.runtime <= f["max_runtime"]) | (np.isnan(self.runtime) & f.get("lenient", False))
            if "max_cert" in f:
                ok &= self.cert <= CERTIFICATIONS.index(f["max_cert"])
        if "language" in f:
            ok &= self.language == f["language"]
        return np.flatnonzero(ok)


def check_hits(hits, f: dict, k: int, query: np.ndarray, reference: Reference, vectors: np.ndarray,
               row_of: dict[int, int], exact: bool) -> None:
    allowed = reference.qualifying(f)
    ids = [hit.movie_id for hit in hits]
    assert len(ids) == min(k, len(allowed)), f"{len(ids)} hits for k={k}, {len(allowed)} qualify: {f}"
    assert len(set(ids)) == len(ids)
    scores = np.array([hit.score for hit in hits], dtype=np.float32)
    assert np.all(np.diff(scores) <= 1e-6), "hits are not sorted by score"
    for hit in hits:
        movie = reference.facts[row_of[hit.movie_id]]
        assert qualifies(movie, f), f"movie {hit.movie_id} {movie} violates {f}"
        expected_flag = "max_runtime" in f and f.get("lenient", False) and movie["runtime"] is None
        assert hit.runtime_unknown == expected_flag
        assert hit.score == pytest.approx(float(vectors[row_of[hit.movie_id]] @ query), abs=1e-4)
    if exact and len(allowed):
        truth = np.sort(vectors[allowed] @ query)[::-1][:k]
        np.testing.assert_allclose(scores, truth, atol=1e-4)


@pytest.mark.parametrize(("kind", "filters"), [("flat", 200), ("hnsw", 120), ("ivf", 120)])
async def test_random_filters_are_always_honoured(kind, filters, make_random_index, catalog, shared_tier):
    """Approximate kinds take both paths: exact scoring when a filter admits ≤ 5% of the rows,
    otherwise FAISS with an IDSelectorBitmap (widened, with the exact fallback)."""
    index = make_random_index(kind, kind=kind, seed=7)
    addr = await shared_tier(kind, index.root / "current")
    reference = Reference(movie_facts(catalog, index.movie_ids))
    row_of = {int(m): row for row, m in enumerate(index.movie_ids)}
    genres = sorted({g for movie in reference.facts for g in movie["genres"]})
    rng = np.random.default_rng(2024)
    cases = [(random_filter(rng, genres, index.movie_ids), int(rng.choice(KS))) for _ in range(filters)]
    queries = unit_vectors(filters, seed=99)
    async with grpc.aio.insecure_channel(addr) as channel:
        retrieval = stub(channel)
        batch = 40
        for start in range(0, filters, batch):
            request = retrieval_pb2.SearchBatchRequest(queries=[
                retrieval_pb2.SearchQuery(vector=queries[i].tolist(), k=cases[i][1], filter=to_proto(cases[i][0]))
                for i in range(start, min(start + batch, filters))])
            response = await retrieval.SearchBatch(request, timeout=30)
            assert response.index_version == index.version
            for offset, result in enumerate(response.results):
                f, k = cases[start + offset]
                check_hits(result.hits, f, k, queries[start + offset], reference, index.vectors, row_of,
                           exact=kind == "flat")
        for i in range(0, filters, 10):  # the single-query RPC takes the same path
            f, k = cases[i]
            response = await retrieval.Search(retrieval_pb2.SearchRequest(
                vector=queries[i].tolist(), k=k, filter=to_proto(f)), timeout=10)
            check_hits(response.hits, f, k, queries[i], reference, index.vectors, row_of, exact=kind == "flat")
    paths = search_paths(shared_tier.metrics_ports[kind])
    expected = {"exact_gather", "exact_masked"} if kind == "flat" else {"exact_gather", "faiss_selector"}
    assert expected <= {path for path, count in paths.items() if count > 0}, paths


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
async def test_heavy_filters_still_return_k(kind, make_random_index, catalog, shared_tier):
    """Filters removing 90–99.5% of the catalog still give k hits from an approximate index."""
    index = make_random_index(kind, kind=kind, seed=7)
    addr = await shared_tier(kind, index.root / "current")
    reference = Reference(movie_facts(catalog, index.movie_ids))
    row_of = {int(m): row for row, m in enumerate(index.movie_ids)}
    heavy = [({"include": ["Horror"]}, 200),  # ~10% of rows: FAISS with a selector, widened
             ({"include": ["Film-Noir"]}, 50),  # <1%: exact scoring over the allowed rows
             ({"max_cert": "G", "include": ["Animation", "Children"]}, 40),
             ({"min_year": 1990, "max_year": 1999, "max_runtime": 100, "max_cert": "PG-13"}, 100)]
    queries = unit_vectors(len(heavy), seed=5)
    async with grpc.aio.insecure_channel(addr) as channel:
        for (f, k), query in zip(heavy, queries, strict=True):
            qualifying = len(reference.qualifying(f))
            assert qualifying >= k, f"test premise: {f} admits only {qualifying}"
            assert qualifying <= 0.11 * len(reference.facts), f"test premise: {f} is not heavy ({qualifying})"
            response = await stub(channel).Search(retrieval_pb2.SearchRequest(
                vector=query.tolist(), k=k, filter=to_proto(f)), timeout=10)
            check_hits(response.hits, f, k, query, reference, index.vectors, row_of, exact=False)
            assert len(response.hits) == k
    paths = search_paths(shared_tier.metrics_ports[kind])
    assert paths.get("faiss_selector", 0) + paths.get("faiss_widened", 0) > 0, paths  # the Horror case
    assert paths.get("exact_gather", 0) > 0, paths  # the selective ones


async def test_more_like_this_excludes_the_movie_and_honours_the_filter(make_random_index, catalog,
                                                                         shared_tier):
    index = make_random_index("flat", seed=7)
    addr = await shared_tier("flat", index.root / "current")
    reference = Reference(movie_facts(catalog, index.movie_ids))
    row_of = {int(m): row for row, m in enumerate(index.movie_ids)}
    async with grpc.aio.insecure_channel(addr) as channel:
        retrieval = stub(channel)
        for movie_id in (1, 2571, int(index.movie_ids[-1])):
            response = await retrieval.MoreLikeThis(retrieval_pb2.MoreLikeThisRequest(movie_id=movie_id, k=10),
                                                    timeout=5)
            ids = [hit.movie_id for hit in response.hits]
            assert len(ids) == 10 and movie_id not in ids
            f = {"include": ["Comedy"], "max_year": 2000, "exclude": {ids[0]}}
            response = await retrieval.MoreLikeThis(retrieval_pb2.MoreLikeThisRequest(
                movie_id=movie_id, k=25, filter=to_proto(f)), timeout=5)
            query = index.vectors[row_of[movie_id]]
            check_hits(response.hits, {**f, "exclude": {ids[0], movie_id}}, 25, query, reference, index.vectors,
                       row_of, exact=True)
