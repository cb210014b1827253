"""Where a recommending chat turn's candidates come from (services/gateway/README.md "Chat retrieval plan").

Nearest-neighbour search alone answers a conversation with its closest *texts*: a chat-first user who says
"I like action, crime and drama" gets obscure movies whose plot summary happens to be nearest to those
words, while a person recommending to them names movies people know. So one SearchBatch call, every query
with the turn's query vector and the turn's Filter, gathers three sources:

* **nearest** — the ``k`` nearest movies (what the conversation means);
* **well-known** — the WELL_KNOWN_CANDIDATES nearest among well-known movies (:func:`well_known_ids`): the same meaning,
  from movies a person is likely to have heard of and to accept;
* **people** — the nearest among the movies (director or cast) of the people the person said they like
  in this session ("a Kubrick movie", "big Tom Hanks fan").

The ranker re-scores the union (and may add SeqEASE's collaborative neighbours of the session's liked
titles, dialogue/plan.py), so a source only decides what *may* be shown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from movierec_catalog import Catalog
from movierec_catalog.filter import Filter

WELL_KNOWN_PER_ORDER = 1000  # movies taken from each popularity order (their union is ~1,500 movies)
PEOPLE_CANDIDATES = 10
WELL_KNOWN_CANDIDATES = 100  # the ranker's priors choose among them; nearest-k alone is too narrow


def well_known_ids(catalog: Catalog, per_order: int = WELL_KNOWN_PER_ORDER) -> frozenset[int]:
    """The union of the top ``per_order`` movies by MovieLens rating count, by TMDB vote count, and by
    MovieLens rating count per year since release (the ratings snapshot ends with the catalog's latest
    year, so a film of the last years has had little time to be rated: without the third order the
    pool would miss the recent films a person is most likely to be recommended)."""
    movies = catalog.movies
    ml_count = movies["ml_rating_count"].fillna(0).astype(float)
    tmdb_votes = movies["vote_count"].fillna(0).astype(float)
    latest = float(movies["year"].max())
    years_out = (latest + 1 - movies["year"].fillna(latest - 50)).clip(lower=1.0)
    per_year = ml_count / years_out
    chosen: set[int] = set()
    for order in (ml_count, tmdb_votes, per_year):
        chosen.update(int(i) for i in _top(movies["movie_id"], order, per_order))
    return frozenset(chosen)


def _top(ids: pd.Series, score: pd.Series, n: int) -> Iterable[int]:
    known = score > 0
    return ids[known].to_numpy()[np.argsort(-score[known].to_numpy(), kind="stable")[:n]]


def within(hard: Filter, ids: frozenset[int]) -> Filter | None:
    """``hard`` restricted to ``ids`` (intersected with its own allow-list), or None when nothing is left."""
    allowed = ids & hard.only_movie_ids if hard.only_movie_ids else ids
    allowed = allowed - hard.exclude_movie_ids
    return dataclasses.replace(hard, only_movie_ids=allowed) if allowed else None


def candidate_queries(hard: Filter, query: np.ndarray, k: int, well_known: frozenset[int],
                      people_movies: frozenset[int]) -> list[tuple[np.ndarray, int, Filter]]:
    """The (vector, k, Filter) searches of one turn: nearest first, then well-known, then people."""
    queries = [(query, k, hard)]
    for ids, size in ((well_known, WELL_KNOWN_CANDIDATES), (people_movies, PEOPLE_CANDIDATES)):
        if ids and (restricted := within(hard, ids)) is not None:
            queries.append((query, size, restricted))
    return queries


def merge_hits(results: Sequence[Sequence]) -> list:
    """The hits of every source, first occurrence kept, in source order."""
    seen: set[int] = set()
    merged = []
    for hits in results:
        for hit in hits:
            if hit.movie_id not in seen:
                seen.add(hit.movie_id)
                merged.append(hit)
    return merged
