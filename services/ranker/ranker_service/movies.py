"""The ranker's read-only view of the catalog and the movie vectors, built once at start-up.

Per-request work must stay in the low milliseconds, so catalog rows become small immutable
:class:`MovieFacts` records (no pandas on the request path) and vectors a row-aligned matrix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ranker_service.text import token_set

CERTIFICATION_ORDER = ("G", "PG", "PG-13", "R", "NC-17")


@dataclass(frozen=True)
class MovieFacts:
    """What the catalog knows about one movie; ``None``/empty means unknown, never a guess."""

    movie_id: int
    title: str
    year: int | None = None
    genres: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    director: str | None = None
    cast: tuple[str, ...] = ()
    runtime_min: int | None = None
    certification: str | None = None
    overview: str | None = None
    vote_average: float | None = None
    original_language: str | None = None
    # Maturity-model bounds (never an official rating): read by the Filter only when a request
    # opts into estimates.
    certification_estimate_max: str | None = None
    certification_estimate_min: str | None = None
    # The model's most likely certification and its probability (the audience prior reads them).
    certification_estimate: str | None = None
    certification_confidence: float | None = None
    # MovieLens ratings of the movie: how widely watched it is (the cold-start popularity prior reads it).
    rating_count: int | None = None
    vote_count: int | None = None  # TMDB votes behind vote_average
    imdb_rating: float | None = None

    @property
    def decade(self) -> int | None:
        return None if self.year is None else self.year // 10 * 10

    @property
    def label(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title

    @cached_property
    def lowered(self) -> dict[str, frozenset[str]]:
        """Lower-cased genres/keywords/tags/cast for case-insensitive membership checks."""
        return {name: frozenset(value.lower() for value in getattr(self, name))
                for name in ("genres", "keywords", "tags", "cast")}

    @cached_property
    def tokens(self) -> dict[str, frozenset[str]]:
        """Normalized word sets of each text field a request word may match (see ranker_service.text)."""
        return {
            "title": token_set(self.title),
            "genres": token_set(" ".join(self.genres)),
            "keywords": token_set(" ".join(self.keywords)),
            "tags": token_set(" ".join(self.tags)),
            "overview": token_set(self.overview or ""),
        }


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def _number(value, kind=int):
    if value is None or value is pd.NA:
        return None
    try:
        if isinstance(value, float) and math.isnan(value):
            return None
        return kind(value)
    except (TypeError, ValueError):
        return None


def _strings(value) -> tuple[str, ...]:
    if value is None or value is pd.NA or isinstance(value, float):
        return ()
    return tuple(str(item).strip() for item in value if item is not None and str(item).strip())


def facts_from_frame(movies: pd.DataFrame) -> dict[int, MovieFacts]:
    """Catalog ``movies`` frame (indexed by movie_id) → facts keyed by movie id."""
    frame = movies.reset_index() if "movie_id" not in movies.columns else movies
    facts = {}
    for row in frame.to_dict("records"):
        movie_id = int(row["movie_id"])
        facts[movie_id] = MovieFacts(
            movie_id=movie_id,
            title=_text(row.get("title")) or f"movie {movie_id}",
            year=_number(row.get("year")),
            genres=tuple(g for g in _strings(row.get("genres")) if g != "(no genres listed)"),
            keywords=_strings(row.get("keywords")),
            tags=_strings(row.get("tags")),
            director=_text(row.get("director")),
            cast=_strings(row.get("cast")),
            runtime_min=_number(row.get("runtime_min")),
            certification=_text(row.get("certification")),
            overview=_text(row.get("overview")),
            vote_average=_number(row.get("vote_average"), float),
            original_language=_text(row.get("original_language")),
            certification_estimate_max=_text(row.get("certification_estimate_max")),
            certification_estimate_min=_text(row.get("certification_estimate_min")),
            certification_estimate=_text(row.get("certification_estimate")),
            certification_confidence=_number(row.get("certification_confidence"), float),
            rating_count=_number(row.get("ml_rating_count")),
            vote_count=_number(row.get("vote_count")),
            imdb_rating=_number(row.get("imdb_rating"), float),
        )
    return facts


def _group(pairs: Iterable[tuple[str, int]]) -> dict[str, tuple[int, ...]]:
    grouped: dict[str, list[int]] = {}
    for key, movie_id in pairs:
        grouped.setdefault(key, []).append(movie_id)
    return {key: tuple(ids) for key, ids in grouped.items()}


QUALITY_SHRINK_VOTES = 100  # votes that weigh as much as the catalog mean (about the catalog's median count)


def _bayesian_quality(facts: dict[int, MovieFacts]) -> dict[int, float]:
    """``(v·R + m·C) / (v + m) / 10`` per movie: the TMDB vote average R over v votes, shrunk toward the
    catalog mean C with m = QUALITY_SHRINK_VOTES; a movie without TMDB votes gets its IMDb rating shrunk
    as if it had m votes, else C. Key -1 holds C (for ids the store does not know)."""
    rated = [(m.vote_average, m.vote_count) for m in facts.values() if m.vote_average and m.vote_count]
    mean = float(np.average([r for r, _ in rated], weights=[v for _, v in rated])) if rated else 5.0
    m = QUALITY_SHRINK_VOTES
    out = {-1: mean / 10}
    for movie in facts.values():
        if movie.vote_average and movie.vote_count:
            score = (movie.vote_count * movie.vote_average + m * mean) / (movie.vote_count + m)
        elif movie.imdb_rating:
            score = (movie.imdb_rating + mean) / 2
        else:
            score = mean
        out[movie.movie_id] = score / 10
    return out


class MovieStore:
    """Catalog facts + L2-normalized vectors, addressable by movie id."""

    def __init__(self, facts: dict[int, MovieFacts], movie_ids: np.ndarray, vectors: np.ndarray,
                 catalog_version: str = "", index_version: str = ""):
        self.facts = facts
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = int(self.vectors.shape[1])
        self.movie_ids = np.asarray(movie_ids, dtype=np.int64)
        self.row_of = {int(movie_id): row for row, movie_id in enumerate(self.movie_ids)}
        self.catalog_version = catalog_version
        self.index_version = index_version
        self.genres = frozenset(g for movie in facts.values() for g in movie.genres)
        self.languages = frozenset(m.original_language for m in facts.values() if m.original_language)
        # Who made what, so "directed by X, who also made <a movie you liked>" is a lookup, not a scan.
        self.by_director: dict[str, tuple[int, ...]] = _group(
            (movie.director, movie.movie_id) for movie in facts.values() if movie.director)
        self.by_actor: dict[str, tuple[int, ...]] = _group(
            (actor, movie.movie_id) for movie in facts.values() for actor in movie.cast)
        self._zero = np.zeros(self.dim, dtype=np.float32)
        self._log_max_count = np.log1p(max((m.rating_count or 0 for m in facts.values()), default=0))
        self._quality = _bayesian_quality(facts)

    def __contains__(self, movie_id: int) -> bool:
        return movie_id in self.facts

    def get(self, movie_id: int) -> MovieFacts | None:
        return self.facts.get(movie_id)

    def vectors_of(self, movie_ids: Iterable[int]) -> np.ndarray:
        """Rows for ``movie_ids``; a movie without a vector gets zeros (similarity 0 to everything)."""
        rows = [self.row_of.get(int(movie_id)) for movie_id in movie_ids]
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        if all(row is not None for row in rows):
            return self.vectors[rows]
        return np.stack([self.vectors[row] if row is not None else self._zero for row in rows])

    def popularity(self, movie_ids: Iterable[int]) -> np.ndarray:
        """``log(1 + ratings) / log(1 + most ratings)`` in [0, 1]: 0 for a movie nobody rated or an unknown id."""
        counts = np.array([(self.facts[m].rating_count or 0) if m in self.facts else 0 for m in map(int, movie_ids)],
                          dtype=np.float64)
        return np.log1p(counts) / self._log_max_count if self._log_max_count > 0 else np.zeros(len(counts))

    def quality(self, movie_ids: Iterable[int]) -> np.ndarray:
        """The vote-count-shrunk rating in [0, 1] (``_bayesian_quality``); the catalog mean for an unknown id."""
        return np.array([self._quality.get(int(m), self._quality[-1]) for m in movie_ids], dtype=np.float64)

    def coverage(self) -> float:
        """Share of catalog movies that have a vector."""
        return sum(movie_id in self.row_of for movie_id in self.facts) / max(1, len(self.facts))
