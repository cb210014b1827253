"""POST /api/search end to end: a real gateway over a real retrieval tier serving a keyphrase artifact built by the
real job (`make keyphrases`) over the session's small index movies, and the session's other tiers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from gateway_helpers import assert_error, catalog, onboard, signup

from movierec_core.keyphrase_artifact import load_keyphrase_artifact
from movierec_core.paths import REPO_ROOT

GODFATHER = 858


@pytest.fixture(scope="module")
def keyphrase_dir(index_dir: Path, catalog_dir: Path, tmp_path_factory) -> Path:
    ids = np.load(index_dir / "movie_ids.npy").tolist()
    out = tmp_path_factory.mktemp("keyphrases")
    done = subprocess.run([sys.executable, "-m", "movierec_jobs.keyphrases", "--out", str(out), "--movie-ids",
                           ",".join(map(str, ids)), "--catalog", str(catalog_dir), "--no-progress", "--no-cache"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "current"


def _retrieval(start_tier, index_dir: Path, catalog_dir: Path, keyphrases: str) -> str:
    addr, _ = start_tier("retrieval", {"RETRIEVAL_INDEX_DIR": str(index_dir), "RETRIEVAL_CATALOG_DIR": str(catalog_dir),
                                       "RETRIEVAL_KEYPHRASE_DIR": keyphrases, "OPENBLAS_NUM_THREADS": "1"})
    import asyncio

    from movierec_core.client import check_health

    async def wait() -> None:
        for _ in range(600):
            if await check_health(addr) == "SERVING":
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"retrieval at {addr} never became SERVING")

    asyncio.run(wait())
    return addr


def post(url: str, body: dict) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30.0) as http:
        return http.post("/api/search", json=body)


def test_keyphrase_search_returns_matched_keyphrases(stack, start_tier, start_gateway, index_dir, catalog_dir,
                                                    keyphrase_dir, tmp_path):
    served = tmp_path / "served.json"
    served.write_text(json.dumps({"mood": "keyphrase", "other": "keyphrase"}))
    gateway = start_gateway(RETRIEVAL_ADDR=_retrieval(start_tier, index_dir, catalog_dir, str(keyphrase_dir)),
                            GATEWAY_SEARCH_SERVED_FILE=str(served))
    response = post(gateway.url, {"query": "a dark story about the mafia and organized crime", "limit": 10})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["requestType"] == "mood" and body["method"] == "keyphrase"
    assert {"dark", "mafia"} <= set(body["queryKeyphrases"])
    assert body["keyphraseVersion"] == load_keyphrase_artifact(keyphrase_dir).version
    movies = body["movies"]
    assert len(movies) == 10
    assert movies == sorted(movies, key=lambda m: -m["score"])
    assert GODFATHER in [m["movieId"] for m in movies]  # its TMDB keywords: mafia, organized crime
    godfather = next(m for m in movies if m["movieId"] == GODFATHER)
    assert {"mafia", "organized crime"} <= set(godfather["matchedKeyphrases"])
    for movie in movies:
        assert [m["queryPhrase"] for m in movie["matches"]] == body["queryKeyphrases"]
        assert set(movie["matchedKeyphrases"]) <= {m["phrase"] for m in movie["matches"] if m["score"] >= 0.55}

    # The Filter applies as in Search: no Crime movie passes exclude_genres.
    filtered = post(gateway.url, {"query": "mafia and organized crime", "filter": {"excludeGenres": ["Crime"]}})
    assert filtered.status_code == 200, filtered.text
    assert filtered.json()["movies"]
    assert all("Crime" not in catalog().get(m["movieId"]).genres for m in filtered.json()["movies"])
    bad = assert_error(post(gateway.url, {"query": "mafia", "filter": {"includeGenres": ["Sci-fy"]}}), 400,
                       "INVALID_ARGUMENT")
    assert "Sci-fy" in bad["message"]


def test_served_vector_still_shows_matches_and_bad_bodies_are_rejected(stack, start_tier, start_gateway, index_dir,
                                                                       catalog_dir, keyphrase_dir, tmp_path):
    served = tmp_path / "served.json"
    served.write_text(json.dumps({"mood": "vector", "other": "vector"}))
    gateway = start_gateway(RETRIEVAL_ADDR=_retrieval(start_tier, index_dir, catalog_dir, str(keyphrase_dir)),
                            GATEWAY_SEARCH_SERVED_FILE=str(served))
    body = post(gateway.url, {"query": "mafia family crime saga", "limit": 5}).json()
    assert body["method"] == "vector" and len(body["movies"]) == 5
    assert all(len(m["matches"]) == len(body["queryKeyphrases"]) for m in body["movies"])
    assert any(m["matchedKeyphrases"] for m in body["movies"])
    assert_error(post(gateway.url, {"query": "   "}), 422, "VALIDATION_ERROR")
    assert_error(post(gateway.url, {"query": "x", "limit": 0}), 422, "VALIDATION_ERROR")
    assert_error(post(gateway.url, {"query": "x", "filter": {"maxCertification": "PG-14"}}), 422, "VALIDATION_ERROR")
    assert_error(post(gateway.url, {"query": "x", "unknown": 1}), 422, "VALIDATION_ERROR")
    # As many unknown genres as the API allows is a 400 that names them, not a 503 (found by the fuzz test)
    many = [f"not-a-genre-{'x' * 20}-{i}" for i in range(20)]
    flood = assert_error(post(gateway.url, {"query": "x", "filter": {"includeGenres": many, "excludeGenres": many}}),
                         400, "INVALID_ARGUMENT")
    assert "not-a-genre" in flood["message"]
    # JSON can carry what no gRPC string can (found by the fuzz test as a 503 from retrieval)
    with httpx.Client(base_url=gateway.url, timeout=30.0) as http:
        for raw in (rb'{"query": "x", "filter": {"excludeGenres": ["Dra\ud9b8ma"]}}', rb'{"query": "cozy\u0000"}'):
            sent = http.post("/api/search", content=raw, headers={"Content-Type": "application/json"})
            assert_error(sent, 422, "VALIDATION_ERROR")


def test_without_a_keyphrase_artifact_search_says_so(stack, start_tier, start_gateway, index_dir, catalog_dir,
                                                     tmp_path):
    served = tmp_path / "served.json"
    served.write_text(json.dumps({"mood": "keyphrase", "other": "keyphrase"}))
    gateway = start_gateway(RETRIEVAL_ADDR=_retrieval(start_tier, index_dir, catalog_dir, str(tmp_path / "none")),
                            GATEWAY_SEARCH_SERVED_FILE=str(served))
    response = post(gateway.url, {"query": "something funny about a road trip"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "vector" and body["movies"]
    assert "make keyphrases" in body["keyphrasesUnavailable"]
    assert all(m["matchedKeyphrases"] == [] for m in body["movies"])


def _own_keyphrases(keyphrase_dir: Path) -> dict[int, set[str]]:
    """Each movie's keyphrases, read straight from the artifact's files (its documented layout)."""
    phrases = json.loads((keyphrase_dir / "phrases.json").read_text())
    offsets, entries = np.load(keyphrase_dir / "offsets.npy"), np.load(keyphrase_dir / "entry_phrase.npy")
    return {int(m): {phrases[p] for p in entries[offsets[i]:offsets[i + 1]]}
            for i, m in enumerate(np.load(keyphrase_dir / "movie_ids.npy"))}


def test_a_mood_chat_turn_shows_each_picks_matched_keyphrases(stack, start_tier, start_gateway, index_dir,
                                                             catalog_dir, keyphrase_dir):
    """The chat uses keyphrase matching for mood requests: its picks carry their matched keyphrases (the
    movie's own), and a request without a mood word carries none."""
    gateway = start_gateway(RETRIEVAL_ADDR=_retrieval(start_tier, index_dir, catalog_dir, str(keyphrase_dir)))
    own = _own_keyphrases(keyphrase_dir)
    with httpx.Client(base_url=gateway.url, timeout=60.0) as client:
        user = signup(client, "moodchat")
        onboard(client, user)
        mood = client.post("/api/chat", headers=user.headers,
                           json={"userId": user.user_id, "message": "something dark and gritty about the mafia"})
        assert mood.status_code == 200, mood.text
        picks = mood.json()["recommendations"]
        assert picks and any(p["matchedKeyphrases"] for p in picks), picks
        for pick in picks:
            assert set(pick["matchedKeyphrases"]) <= own[pick["movieId"]], pick
        plain = client.post("/api/chat", headers=user.headers,
                            json={"userId": user.user_id, "message": "ok, now from the 1970s"})
        assert plain.status_code == 200, plain.text
        assert all(p["matchedKeyphrases"] == [] for p in plain.json()["recommendations"])

