"""The typed client and the CLI against the tier serving real vectors of the packaged model."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import grpc
import numpy as np
import pytest
from retrieval_helpers import MATRIX, MATRIX_RELOADED, MATRIX_REVOLUTIONS, TOY_STORY, TOY_STORY_2, TOY_STORY_3

from movierec_core.paths import REPO_ROOT
from retrieval_service.client import (
    RetrievalClient,
    RetrievalError,
    SearchFilter,
    SearchQuery,
    certification_value,
)


@pytest.fixture
async def real_addr(real_index_dir, shared_tier) -> str:
    return await shared_tier("real", real_index_dir)


async def test_client_round_trip_with_real_vectors(real_addr, catalog):
    async with RetrievalClient(real_addr, timeout_s=5) as client:
        info = await client.index_info()
        assert info.dim == 384 and info.index_kind == "flat" and info.catalog_version == catalog.version
        assert "all-MiniLM-L6-v2" in info.model

        similar = await client.more_like_this(TOY_STORY, k=5)
        assert TOY_STORY not in similar.movie_ids
        assert {TOY_STORY_2, TOY_STORY_3} <= set(similar.movie_ids)
        sequels = await client.more_like_this(MATRIX, k=5)
        assert {MATRIX_RELOADED, MATRIX_REVOLUTIONS} <= set(sequels.movie_ids)

        vectors = await client.movie_vectors([MATRIX, 987654321, TOY_STORY])
        assert list(vectors.vectors) == [MATRIX, TOY_STORY] and vectors.unknown_movie_ids == [987654321]
        matrix, toy_story = vectors.vectors[MATRIX], vectors.vectors[TOY_STORY]
        assert matrix.shape == (384,) and abs(np.linalg.norm(matrix) - 1) < 1e-4
        itself = await client.search(matrix, k=3)
        assert itself.hits[0].movie_id == MATRIX and itself.hits[0].score == pytest.approx(1.0, abs=1e-4)

        family = SearchFilter(max_certification="G", exclude_movie_ids=(TOY_STORY,))
        kids = await client.search(toy_story, k=10, filter=family)
        assert len(kids.hits) == 10 and TOY_STORY not in kids.movie_ids
        assert all(catalog.get(m).certification == "G" for m in kids.movie_ids)

        short = SearchFilter(max_runtime_min=95, lenient_runtime=True, include_genres=("Sci-Fi",))
        batch = await client.search_batch([SearchQuery(matrix, k=5), SearchQuery(matrix, k=30, filter=short)])
        assert batch[0].movie_ids == (await client.search(matrix, k=5)).movie_ids
        assert len(batch[1].hits) == 30
        for hit in batch[1].hits:
            movie = catalog.get(hit.movie_id)
            assert "Sci-Fi" in movie.genres
            assert hit.runtime_unknown == (movie.runtime_min is None)
            assert movie.runtime_min is None or movie.runtime_min <= 95

        with pytest.raises(RetrievalError) as raised:
            await client.search(matrix[:10], k=5, filter=SearchFilter(min_year=2000, max_year=1990))
        assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert {f for f, _ in raised.value.field_violations} == {"vector", "filter.min_year"}
        with pytest.raises(RetrievalError) as raised:
            await client.more_like_this(987654321)
        assert raised.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(ValueError, match="unknown certification"):
        certification_value("PG13x")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "retrieval_service.cli", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


async def test_cli_search_by_movie_and_vector_file(real_addr, catalog_dir, catalog, tmp_path):
    result = await asyncio.to_thread(run_cli, "--addr", real_addr, "search", "--movie-id", str(MATRIX), "--k", "5",
                                     "--catalog-dir", str(catalog_dir))
    assert result.returncode == 0, result.stderr
    assert "Matrix Reloaded" in result.stdout and "Matrix Revolutions" in result.stdout

    vector_file = tmp_path / "toy.npy"
    async with RetrievalClient(real_addr) as client:
        np.save(vector_file, (await client.movie_vectors([TOY_STORY])).vectors[TOY_STORY])
    result = await asyncio.to_thread(run_cli, "--addr", real_addr, "search", "--vector-file", str(vector_file),
                                     "--k", "8", "--max-cert", "G", "--min-year", "1990", "--exclude-genre",
                                     "Musical", "--exclude", str(TOY_STORY_2), "--json", "--catalog-dir",
                                     str(catalog_dir))
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)["hits"]
    assert hits[0]["title"] == "Toy Story" and len(hits) == 8
    assert TOY_STORY_2 not in [hit["movie_id"] for hit in hits]
    for hit in hits:
        assert hit["certification"] == "G" and hit["year"] >= 1990 and "Musical" not in hit["genres"]

    result = await asyncio.to_thread(run_cli, "--addr", real_addr, "search", "--movie-id", "1", "--k", "0",
                                     "--genre", "Sci-fy")
    assert result.returncode == 1
    assert "INVALID_ARGUMENT" in result.stderr and "filter.include_genres[0]" in result.stderr
    assert "k: k must be positive" in result.stderr


async def test_cli_text_search_through_the_embedding_tier(real_addr, catalog_dir, start_tier):
    embedding_addr, _ = start_tier("embedding", {"HF_HUB_OFFLINE": "1", "EMBEDDING_TORCH_THREADS": "1"})
    from movierec_core.client import check_health

    for _ in range(600):
        if await check_health(embedding_addr) == "SERVING":
            break
        await asyncio.sleep(0.1)
    result = await asyncio.to_thread(
        run_cli, "--addr", real_addr, "search", "--text", "toys that come to life when their owner leaves the room",
        "--embedding-addr", embedding_addr, "--k", "10", "--genre", "Animation", "--catalog-dir", str(catalog_dir))
    assert result.returncode == 0, result.stderr
    assert "Toy Story" in result.stdout
