"""Hard constraints (``common.v1.Filter``) re-checked on every candidate, with retrieval's semantics.

Unknown is not safe: a maturity limit never admits a movie whose certification is unknown; a
runtime limit admits an unknown runtime only with ``lenient_runtime``; a year limit never admits
an unknown year; a language limit never admits an unknown original language.
"""

from __future__ import annotations

from dataclasses import dataclass

from movierec.common.v1 import common_pb2
from movierec_core.errors import invalid_argument
from ranker_service.movies import CERTIFICATION_ORDER, MovieFacts

_CERT_RANK = {name: rank for rank, name in enumerate(CERTIFICATION_ORDER, start=1)}
_CERT_NAME = {value: name for name, value in (
    ("G", common_pb2.CERTIFICATION_G), ("PG", common_pb2.CERTIFICATION_PG),
    ("PG-13", common_pb2.CERTIFICATION_PG_13), ("R", common_pb2.CERTIFICATION_R),
    ("NC-17", common_pb2.CERTIFICATION_NC_17))}


@dataclass(frozen=True)
class Constraints:
    """A validated Filter in plain Python (built once per request)."""

    exclude_movie_ids: frozenset[int] = frozenset()
    include_genres: frozenset[str] = frozenset()
    exclude_genres: frozenset[str] = frozenset()
    min_year: int | None = None
    max_year: int | None = None
    max_runtime_min: int | None = None
    max_certification: str | None = None
    lenient_runtime: bool = False
    original_language: str | None = None

    def violation(self, movie: MovieFacts) -> str | None:
        """Why ``movie`` fails these constraints, or None when it passes."""
        if movie.movie_id in self.exclude_movie_ids:
            return "excluded"
        genres = set(movie.genres)
        if self.include_genres and not genres & self.include_genres:
            return "include_genres"
        if genres & self.exclude_genres:
            return "exclude_genres"
        if (self.min_year is not None or self.max_year is not None) and movie.year is None:
            return "year_unknown"
        if self.min_year is not None and movie.year < self.min_year:
            return "min_year"
        if self.max_year is not None and movie.year > self.max_year:
            return "max_year"
        if self.max_runtime_min is not None:
            if movie.runtime_min is None:
                if not self.lenient_runtime:
                    return "runtime_unknown"
            elif movie.runtime_min > self.max_runtime_min:
                return "max_runtime_min"
        if self.max_certification is not None:
            if movie.certification not in _CERT_RANK:
                return "certification_unknown"
            if _CERT_RANK[movie.certification] > _CERT_RANK[self.max_certification]:
                return "max_certification"
        if self.original_language is not None and movie.original_language != self.original_language:
            return "original_language"
        return None


def constraints_from_proto(message: common_pb2.Filter, known_genres: frozenset[str],
                           known_languages: frozenset[str] = frozenset(),
                           field: str = "constraints") -> Constraints:
    """Validate a Filter; a contradictory or unknown value is INVALID_ARGUMENT naming the field."""
    violations = []
    unknown = sorted({*message.include_genres, *message.exclude_genres} - known_genres)
    if unknown:
        violations.append((f"{field}.include_genres/exclude_genres",
                           f"unknown genres {unknown}; known: {sorted(known_genres)}"))
    min_year = message.min_year if message.HasField("min_year") else None
    max_year = message.max_year if message.HasField("max_year") else None
    if min_year is not None and max_year is not None and min_year > max_year:
        violations.append((f"{field}.min_year", f"min_year {min_year} is after max_year {max_year}"))
    max_runtime = message.max_runtime_min if message.HasField("max_runtime_min") else None
    if max_runtime is not None and max_runtime <= 0:
        violations.append((f"{field}.max_runtime_min", f"must be positive, got {max_runtime}"))
    certification = None
    if message.max_certification != common_pb2.CERTIFICATION_UNSPECIFIED:
        certification = _CERT_NAME.get(message.max_certification)
        if certification is None:
            violations.append((f"{field}.max_certification",
                               f"unknown certification value {message.max_certification}"))
    language = message.original_language or None
    if language is not None and language not in known_languages:
        violations.append((f"{field}.original_language",
                           f"no catalog movie has original language {language!r}"))
    if violations:
        raise invalid_argument("; ".join(description for _, description in violations),
                               field_violations=violations)
    return Constraints(
        exclude_movie_ids=frozenset(message.exclude_movie_ids),
        include_genres=frozenset(message.include_genres),
        exclude_genres=frozenset(message.exclude_genres),
        min_year=min_year, max_year=max_year, max_runtime_min=max_runtime,
        max_certification=certification, lenient_runtime=message.lenient_runtime,
        original_language=language,
    )
