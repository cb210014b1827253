"""SearchKeyphrases against a real tier process over a keyphrase artifact built by the real job (`make keyphrases`).

The artifact covers the quality movies plus the first 300 by id (the phrase vectors come from the per-text vector
cache once any build has embedded them). Query phrases reuse the artifact's own phrase vectors, so an expected
answer is computed here by brute force over every movie–phrase entry and compared with the tier's.
"""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
import numpy as np
import pytest
from retrieval_helpers import QUALITY_MOVIES, TOY_STORY, stub

from movierec.common.v1 import common_pb2
from movierec.retrieval.v1 import retrieval_pb2
from movierec_core.errors import describe_rpc_error
from movierec_core.keyphrase_artifact import load_keyphrase_artifact
from movierec_core.paths import REPO_ROOT


@pytest.fixture(scope="session")
def keyphrase_dir(catalog, tmp_path_factory):
    out = tmp_path_factory.mktemp("keyphrases")
    first = catalog.movies.sort_index().index[:300].tolist()
    ids = ",".join(str(m) for m in sorted(set(first) | set(QUALITY_MOVIES)))
    done = subprocess.run([sys.executable, "-m", "movierec_jobs.keyphrases", "--out", str(out), "--movie-ids",
                           ids, "--catalog", str(catalog.path), "--no-progress", "--no-cache", "--torch-threads", "1"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("built kp-"), done.stdout
    return out / "current"


@pytest.fixture(params=["auto", "faiss"])
async def tier(request, make_random_index, shared_tier, keyphrase_dir):
    """The tier with each search path: auto (exhaustive at this size) and the FAISS two-stage search (with few
    candidates, so the widening rounds run too)."""
    index = make_random_index("flat", seed=7)
    addr = await shared_tier(f"keyphrases-{request.param}", index.root / "current",
                             RETRIEVAL_KEYPHRASE_DIR=str(keyphrase_dir), RETRIEVAL_KEYPHRASE_SEARCH=request.param,
                             RETRIEVAL_KEYPHRASE_CANDIDATES="8")
    async with grpc.aio.insecure_channel(addr) as channel:
        yield stub(channel)


def query(artifact, texts, k=10, **filter_fields) -> retrieval_pb2.SearchKeyphrasesRequest:
    rows = [artifact.phrases.index(t) for t in texts]
    return retrieval_pb2.SearchKeyphrasesRequest(
        phrases=[retrieval_pb2.QueryKeyphrase(text=t, vector=artifact.phrase_vectors[r].tolist())
                 for t, r in zip(texts, rows, strict=True)],
        k=k, filter=common_pb2.Filter(**filter_fields))


def brute_force(artifact, texts) -> dict[int, float]:
    queries = artifact.phrase_vectors[[artifact.phrases.index(t) for t in texts]]
    sims = artifact.phrase_vectors[artifact.entry_phrase] @ queries.T
    owner = np.repeat(np.arange(len(artifact.movie_ids)), np.diff(artifact.offsets))
    best = np.full((len(artifact.movie_ids), len(texts)), -np.inf, dtype=np.float32)
    np.maximum.at(best, owner, sims)
    return {int(m): float(s) for m, s in zip(artifact.movie_ids, best.mean(axis=1), strict=True) if np.isfinite(s)}


def test_job_output_is_deduplicated_and_reused(keyphrase_dir, catalog):
    artifact = load_keyphrase_artifact(keyphrase_dir)
    assert len(set(artifact.phrases)) == len(artifact.phrases) < len(artifact.entry_phrase)
    per_movie = np.diff(artifact.offsets)
    assert per_movie.max() <= 15
    toy = artifact.phrases_of(int(np.flatnonzero(artifact.movie_ids == TOY_STORY)[0]))
    assert "toy" in toy and "friendship" in toy  # TMDB keywords of Toy Story
    # Movies with an overview or keywords get at least 8 phrases.
    rich = [i for i, m in enumerate(artifact.movie_ids) if (catalog.get(int(m)).overview or "").count(" ") > 40]
    assert rich and min(per_movie[rich]) >= 8
    again = subprocess.run([sys.executable, "-m", "movierec_jobs.keyphrases", "--out",
                            str(keyphrase_dir.parent), "--movie-ids", ",".join(map(str, artifact.movie_ids.tolist())),
                            "--catalog", str(catalog.path), "--no-progress", "--no-cache"],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert again.returncode == 0 and again.stdout.startswith("reused "), again.stdout + again.stderr


async def test_max_sim_matches_brute_force_and_names_the_matches(tier, keyphrase_dir):
    artifact = load_keyphrase_artifact(keyphrase_dir)
    texts = ["toy", "friendship", "family friendly"]
    response = await tier.SearchKeyphrases(query(artifact, texts, k=20))
    expected = brute_force(artifact, texts)
    want = sorted(expected.values(), reverse=True)[:20]
    assert np.allclose([h.score for h in response.hits], want, atol=1e-5)
    assert response.hits[0].movie_id in {m for m, s in expected.items() if s >= want[0] - 1e-5}
    assert response.keyphrase_version == artifact.version and response.movie_count == len(artifact.movie_ids)
    toy = next(h for h in response.hits if h.movie_id == TOY_STORY)
    assert [m.query_phrase for m in toy.matches] == texts
    assert {m.phrase for m in toy.matches} >= {"toy", "friendship"}
    assert all(m.score == pytest.approx(1.0, abs=1e-4) for m in toy.matches[:2])
    assert {m.source for m in toy.matches} <= {"keyword", "tag", "overview", "setting", "mood", "audience"}


async def test_the_filter_applies_as_in_search(tier, keyphrase_dir, catalog):
    artifact = load_keyphrase_artifact(keyphrase_dir)
    response = await tier.SearchKeyphrases(query(artifact, ["toy", "friendship"], k=30, exclude_genres=["Animation"]))
    assert response.hits and all("Animation" not in catalog.get(h.movie_id).genres for h in response.hits)
    only = [int(m) for m in artifact.movie_ids[:5]]
    response = await tier.SearchKeyphrases(query(artifact, ["toy"], k=10, only_movie_ids=only,
                                                 exclude_movie_ids=[only[0]]))
    assert {h.movie_id for h in response.hits} == set(only[1:])


async def test_bad_requests_name_the_field(tier, keyphrase_dir):
    artifact = load_keyphrase_artifact(keyphrase_dir)
    good = query(artifact, ["toy"])
    cases = [
        (retrieval_pb2.SearchKeyphrasesRequest(k=10), "phrases"),
        (retrieval_pb2.SearchKeyphrasesRequest(phrases=[retrieval_pb2.QueryKeyphrase(text="toy", vector=[1.0] * 7)],
                                               k=10), "phrases[0].vector"),
        (retrieval_pb2.SearchKeyphrasesRequest(phrases=good.phrases, k=0), "k"),
        (retrieval_pb2.SearchKeyphrasesRequest(phrases=good.phrases, k=10,
                                               filter=common_pb2.Filter(include_genres=["Sci-fy"])),
         "filter.include_genres[0]"),
    ]
    for request, field in cases:
        with pytest.raises(grpc.RpcError) as raised:
            await tier.SearchKeyphrases(request)
        description = describe_rpc_error(raised.value)
        assert description.code == grpc.StatusCode.INVALID_ARGUMENT, description
        assert field in [f for f, _ in description.field_violations], description.field_violations


async def test_without_an_artifact_the_rpc_says_so_and_search_still_serves(make_random_index, serve_index, tmp_path):
    index = make_random_index("flat", seed=7)
    addr, _ = await serve_index(index.root / "current", RETRIEVAL_KEYPHRASE_DIR=str(tmp_path / "absent"))
    async with grpc.aio.insecure_channel(addr) as channel:
        retrieval = stub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            await retrieval.SearchKeyphrases(retrieval_pb2.SearchKeyphrasesRequest(
                phrases=[retrieval_pb2.QueryKeyphrase(text="cozy", vector=index.vectors[0].tolist())], k=5))
        description = describe_rpc_error(raised.value)
        assert description.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "make keyphrases" in description.message and "absent" in description.message
        found = await retrieval.Search(retrieval_pb2.SearchRequest(vector=index.vectors[0].tolist(), k=3))
        assert len(found.hits) == 3
