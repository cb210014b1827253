"""The watchlist's store on a real Redis: order, idempotency, the limit under concurrent adds, validation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from profile_service.domain import InvalidEvent
from profile_service.watchlist import UnknownMovie, WatchlistFull, Watchlists


@pytest.fixture
def watchlists(redis_url, movies):
    client = redis.Redis.from_url(redis_url)
    return Watchlists(client, lambda user: f"test:watchlist:{user}", movies, limit=5)


def test_newest_first_and_adding_twice_keeps_the_first_date(watchlists, movies):
    a, b = sorted(movies.rows)[:2]
    assert watchlists.add("ann", a) is True
    first = watchlists.entries("ann")[0].added_at_ms
    assert watchlists.add("ann", b) is True and watchlists.add("ann", a) is False
    assert [e.movie_id for e in watchlists.entries("ann")] == [b, a]
    assert next(e for e in watchlists.entries("ann") if e.movie_id == a).added_at_ms == first
    assert watchlists.remove("ann", a) is True and watchlists.remove("ann", a) is False
    assert watchlists.movie_ids("ann") == [b] and watchlists.movie_ids("bob") == []


def test_the_limit_holds_under_concurrent_adds(watchlists, movies):
    ids = sorted(movies.rows)[:20]

    def add(movie_id):
        try:
            return watchlists.add("cat", movie_id)
        except WatchlistFull:
            return "full"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(add, ids))
    assert results.count(True) == 5 and results.count("full") == 15
    assert len(watchlists.movie_ids("cat")) == 5


def test_unknown_movies_and_bad_ids_are_refused_and_store_nothing(watchlists):
    with pytest.raises(UnknownMovie):
        watchlists.add("dan", 999_999_999)
    with pytest.raises(InvalidEvent):
        watchlists.add("dan", 0)
    with pytest.raises(InvalidEvent):
        watchlists.add("has space", 1)
    assert watchlists.movie_ids("dan") == []
