"""The watchlist: movies a user saved to watch later, kept in the profile tier's Redis state.

``P watchlist:<user>`` is a sorted set (movie id → when it was saved, ms), so the list reads newest
first and a movie is on it at most once. Adding is one Lua script (size check + ZADD NX), so two
concurrent adds can never pass the cap together. The watchlist is independent of the taste vector:
saving a movie says "later", not "I like this", so it never moves the taste (the gateway keeps
watchlisted movies out of recommendations instead).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from profile_service.domain import InvalidEvent, check_id
from profile_service.vectors import MovieVectors

MAX_WATCHLIST = 1000

# KEYS: watchlist; ARGV: movie id, now ms, cap → 1 added, 0 already there, -1 full
ADD_LUA = r"""
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"""


class UnknownMovie(Exception):
    def __init__(self, movie_id: int):
        super().__init__(f"no movie with id {movie_id} in the catalog")
        self.movie_id = movie_id


class WatchlistFull(Exception):
    def __init__(self, limit: int):
        super().__init__(f"the watchlist already holds {limit} movies (the most it keeps); remove one first")


@dataclass(frozen=True)
class Entry:
    movie_id: int
    added_at_ms: int


class Watchlists:
    def __init__(self, client: redis.Redis, key_of, movies: MovieVectors, limit: int = MAX_WATCHLIST):
        self.client = client
        self.key_of = key_of  # user id → the Redis key (ProfileStore.watchlist_key)
        self.movies = movies
        self.limit = limit
        self._add = client.register_script(ADD_LUA)

    def entries(self, user_id: str) -> list[Entry]:
        check_id(user_id, "user_id")
        raw = self.client.zrevrange(self.key_of(user_id), 0, -1, withscores=True)
        return [Entry(int(member), int(score)) for member, score in raw]

    def movie_ids(self, user_id: str) -> list[int]:
        return [e.movie_id for e in self.entries(user_id)]

    def add(self, user_id: str, movie_id: int) -> bool:
        check_id(user_id, "user_id")
        self._check_movie(movie_id)
        status = int(self._add(keys=[self.key_of(user_id)], args=[movie_id, int(time.time() * 1000), self.limit]))
        if status < 0:
            raise WatchlistFull(self.limit)
        return status == 1

    def remove(self, user_id: str, movie_id: int) -> bool:
        check_id(user_id, "user_id")
        if movie_id <= 0:
            raise InvalidEvent("movie_id must be a positive catalog id", "movie_id")
        return bool(self.client.zrem(self.key_of(user_id), movie_id))

    def _check_movie(self, movie_id: int) -> None:
        if movie_id <= 0:
            raise InvalidEvent("movie_id must be a positive catalog id", "movie_id")
        if movie_id not in self.movies:
            raise UnknownMovie(movie_id)
