"""Dislikes and re-ratings through the real path: gateway publish → Redis broker → Celery worker → Lua,
ranked by the real retrieval tier, then replayed from the interaction log."""

from __future__ import annotations

import asyncio

import numpy as np
from profile_helpers import DEFAULT_TASTE, log_entries, store_for, wait_until

from movierec_jobs.replay import run as replay
from profile_service.domain import Profiles
from profile_service.settings import ProfileSettings
from retrieval_service.client import RetrievalClient

LIKED = [356, 318, 296, 593]   # Forrest Gump, Shawshank, Pulp Fiction, Silence of the Lambs
DISLIKED = 260                 # Star Wars IV, rated 1★
NEIGHBOURS = 10
T0 = 1_700_000_000_000


async def full_ranking(address: str, vector: np.ndarray, k: int) -> list[int]:
    async with RetrievalClient(address, timeout_s=10) as client:
        return (await client.search(vector, k=k)).movie_ids


def test_a_1_star_on_the_bus_pushes_away_demotes_neighbours_and_re_rating_is_exact(
        redis_url, movies, profile_env, worker_factory, start_tier, index_dir, catalog_dir, monkeypatch, publishers):
    publisher = publishers(redis_url)
    profiles = Profiles(store_for(redis_url), movies, DEFAULT_TASTE, embedder=None)
    store = profiles.store
    for user in ("hater", "flipper", "steady"):
        profiles.onboard(user, LIKED, [], "")
    before = store.load("hater").vector
    retrieval, _ = start_tier("retrieval", {"RETRIEVAL_INDEX_DIR": str(index_dir),
                                            "RETRIEVAL_CATALOG_DIR": str(catalog_dir)})
    worker_factory(profile_env)

    def publish(user: str, rating: float, at: int, event_id: str) -> None:
        asyncio.run(publisher.publish_review(user_id=user, movie_id=DISLIKED, rating=rating, event_id=event_id,
                                             created_at_ms=T0 + at))

    publish("hater", 1.0, 2, "h1")
    publish("flipper", 5.0, 1, "f1")  # 5★ first, then changed to 1★
    wait_until(lambda: store.load("flipper").version == 2, 30, "the 5★ to be applied")
    publish("flipper", 1.0, 2, "f2")
    publish("steady", 1.0, 2, "s1")
    publish("steady", 1.0, 3, "s2")   # the same rating again
    wait_until(lambda: all(store.load(u).version == v for u, v in (("hater", 2), ("flipper", 3), ("steady", 3))),
               60, "every review to be applied")

    hater = store.load("hater").vector
    m = movies.vector(DISLIKED).astype(np.float64)
    assert float(hater @ m) < float(before @ m) - 0.05, "the 1★ did not move the vector away from the movie"
    # re-rating equals rating once; rating the same value twice changes nothing
    assert np.abs(store.load("flipper").vector.astype(np.float64) - hater).max() <= 1e-6
    assert np.abs(store.load("steady").vector.astype(np.float64) - hater).max() <= 1e-6

    # The disliked movie's nearest neighbours drop in the retrieval tier's ranking of the whole index.
    k = len(movies.rows)
    ranked_before = asyncio.run(full_ranking(retrieval, before, k))
    ranked_after = asyncio.run(full_ranking(retrieval, hater, k))
    sims = movies.vectors.astype(np.float64) @ m
    order = [mid for mid, _ in sorted(zip(movies.rows, sims[list(movies.rows.values())], strict=True),
                                      key=lambda item: -item[1]) if mid != DISLIKED][:NEIGHBOURS]
    rank_before = {mid: i for i, mid in enumerate(ranked_before)}
    rank_after = {mid: i for i, mid in enumerate(ranked_after)}
    dropped = [mid for mid in order if rank_after[mid] > rank_before[mid]]
    assert rank_after[DISLIKED] > rank_before[DISLIKED]
    assert len(dropped) >= NEIGHBOURS - 1, {mid: (rank_before[mid], rank_after[mid]) for mid in order}
    assert np.mean([rank_after[mid] for mid in order]) > np.mean([rank_before[mid] for mid in order]) + 5

    # A replay of the log reproduces every profile exactly.
    assert len(log_entries(store)) == 3 + 5
    for key, value in profile_env.items():
        monkeypatch.setenv(key, value)
    report = replay(ProfileSettings.from_env(require_embedding=False), target_url=None,
                    target_prefix="movierec:replay:", parquet=None, tolerance=1e-6, keep=False)
    assert report.ok(1e-6) and report.users_compared == 3 and report.max_abs_diff == 0.0, report
