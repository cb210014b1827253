"""The factor verifier: every factor is re-checked against the catalog and the person's own history.

A factor is ``(kind, value, source_movie_id)``. It is supported only when ``value`` is literally
true of the recommended movie in the catalog and, when ``source_movie_id`` is set, also true of
that source movie, which must be one the person liked. Request words must be words of the
request that were not negated. Anything else is dropped (and counted), whoever proposed it —
the grounded explainer or an LLM.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import prometheus_client

from movierec.ranker.v1 import ranker_pb2
from ranker_service.audience import fits as fits_audience
from ranker_service.history import UserHistory
from ranker_service.movies import MovieFacts, MovieStore
from ranker_service.text import decade_of_term, genre_of_term, normalize_token, token_set

# Plain ints: attribute access on protobuf's enum wrapper is slow enough to show on the request path.
K = SimpleNamespace(**dict(ranker_pb2.FactorKind.items()))
KIND_NAMES = {value: name for name, value in ranker_pb2.FactorKind.items()}
_DECADE = re.compile(r"^(\d{3}0)s$")
_RUNTIME = re.compile(r"^(\d{1,4}) min$")
# Kinds that are facts of the recommended movie alone and may not claim a source movie.
_NO_SOURCE = {K.FACTOR_KIND_RUNTIME, K.FACTOR_KIND_CERTIFICATION, K.FACTOR_KIND_QUERY_TERM,
              K.FACTOR_KIND_AUDIENCE}
# "Does the sequential model say people who watched this (source) go on to watch that (movie)?"
Follows = Callable[[int, int], bool]

DROPPED_FACTORS = prometheus_client.Counter(
    "movierec_ranker_unsupported_factors_total",
    "Factors the verifier dropped because the catalog or the user's history does not support them.",
    ("origin", "kind"))


@dataclass(frozen=True)
class Claim:
    """One proposed factor (``kind`` is a ``ranker.v1.FactorKind`` value)."""

    kind: int
    value: str
    source_movie_id: int = 0

    def to_proto(self) -> ranker_pb2.Factor:
        return ranker_pb2.Factor(kind=self.kind, value=self.value, source_movie_id=self.source_movie_id)


@dataclass(frozen=True)
class TermEvidence:
    """Where a request word was found in a movie's catalog entry."""

    field: str  # decade | year | genre | keyword | tag | title | overview
    detail: str


def query_term_evidence(term: str, movie: MovieFacts) -> TermEvidence | None:
    """The catalog fact a request word matches, or None. Shared by the explainer and the verifier."""
    decade = decade_of_term(term)
    if decade is not None:
        return TermEvidence("decade", str(movie.year)) if movie.decade == decade else None
    if term.isdigit():
        return TermEvidence("year", term) if movie.year == int(term) else None
    genre = genre_of_term(term)
    if genre is not None and genre in movie.genres:
        return TermEvidence("genre", genre)
    token = normalize_token(term)
    tokens = movie.tokens
    for name, values in (("keyword", movie.keywords), ("tag", movie.tags)):
        if token in tokens[f"{name}s"]:
            return TermEvidence(name, next(v for v in values if token in _value_tokens(v)))
    if token in tokens["genres"]:
        return TermEvidence("genre", next(g for g in movie.genres if token in _value_tokens(g)))
    if token in tokens["title"]:
        return TermEvidence("title", term)
    if token in tokens["overview"]:
        return TermEvidence("overview", term)
    return None


def _value_tokens(value: str) -> frozenset[str]:
    return token_set(value)


def _value_of(kind: int, movie: MovieFacts, value: str) -> bool:
    """Is ``value`` literally true of ``movie`` for this kind of factor?"""
    lowered = value.lower()
    if kind == K.FACTOR_KIND_GENRE:
        return lowered in movie.lowered["genres"]
    if kind == K.FACTOR_KIND_KEYWORD:
        return lowered in movie.lowered["keywords"]
    if kind == K.FACTOR_KIND_TAG:
        return lowered in movie.lowered["tags"]
    if kind == K.FACTOR_KIND_CAST:
        return lowered in movie.lowered["cast"]
    if kind == K.FACTOR_KIND_DIRECTOR:
        return movie.director is not None and movie.director.lower() == lowered
    if kind == K.FACTOR_KIND_DECADE:
        match = _DECADE.match(value)
        return bool(match) and movie.decade == int(match.group(1))
    if kind == K.FACTOR_KIND_RUNTIME:
        match = _RUNTIME.match(value)
        return bool(match) and movie.runtime_min == int(match.group(1))
    if kind == K.FACTOR_KIND_CERTIFICATION:
        return movie.certification is not None and movie.certification == value
    return False


def unsupported_reason(claim: Claim, movie: MovieFacts, history: UserHistory, store: MovieStore,
                       follows: Follows | None = None) -> str | None:
    """Why ``claim`` is not supported for ``movie``, or None when every part of it checks out."""
    if not claim.value.strip():
        return "empty value"
    if claim.kind not in KIND_NAMES or claim.kind == K.FACTOR_KIND_UNSPECIFIED:
        return f"unknown factor kind {claim.kind}"
    source = None
    if claim.source_movie_id:
        if claim.kind in _NO_SOURCE:
            return "this kind of factor cannot cite a source movie"
        source = store.get(claim.source_movie_id)
        if source is None:
            return f"source movie {claim.source_movie_id} is not in the catalog"
        if not history.is_liked(claim.source_movie_id):
            return f"source movie {claim.source_movie_id} is not one the user liked"
        if claim.source_movie_id == movie.movie_id:
            return "a movie cannot be its own source"
    if claim.kind == K.FACTOR_KIND_SIMILAR_TO_LIKED:
        if source is None:
            return "similar-to-liked needs a source movie"
        return None if claim.value == source.title else f"{claim.value!r} is not the source movie's title"
    if claim.kind == K.FACTOR_KIND_WATCHED_NEXT:
        if source is None:
            return "watched-next needs a source movie"
        if claim.value != source.title:
            return f"{claim.value!r} is not the source movie's title"
        if follows is None or not follows(source.movie_id, movie.movie_id):
            return f"the sequential model does not link {source.movie_id} to {movie.movie_id}"
        return None
    if claim.kind == K.FACTOR_KIND_AUDIENCE:
        return None if fits_audience(claim.value, movie) else f"movie {movie.movie_id} is outside {claim.value!r}"
    if claim.kind == K.FACTOR_KIND_QUERY_TERM:
        if claim.value.lower() not in history.query_terms:
            return f"{claim.value!r} is not a word of the request"
        return None if query_term_evidence(claim.value, movie) else f"{claim.value!r} does not match the movie"
    if not _value_of(claim.kind, movie, claim.value):
        return f"{claim.value!r} is not true of movie {movie.movie_id} in the catalog"
    if source is not None and not _value_of(claim.kind, source, claim.value):
        return f"{claim.value!r} is not true of source movie {source.movie_id} in the catalog"
    return None


def verify_claims(claims: list[Claim], movie: MovieFacts, history: UserHistory, store: MovieStore,
                  origin: str, follows: Follows | None = None) -> list[Claim]:
    """The supported claims, in order and without duplicates; the rest are counted and dropped."""
    kept: list[Claim] = []
    seen: set[tuple[int, str]] = set()
    for claim in claims:
        key = (claim.kind, claim.value.lower())
        if key in seen:
            continue
        if unsupported_reason(claim, movie, history, store, follows) is None:
            seen.add(key)
            kept.append(claim)
        else:
            DROPPED_FACTORS.labels(origin, KIND_NAMES.get(claim.kind, "UNKNOWN")).inc()
    return kept
