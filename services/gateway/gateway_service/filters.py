"""Hard constraints as the proto Filter, and the same semantics checked against catalog facts.

The retrieval tier enforces the Filter; the gateway re-checks every pick with :func:`admits` before
showing it, so a constraint the user stated is never violated even if a tier misbehaves
(defence in depth, and the chat tests' oracle). Missing metadata follows DESIGN §3: an unknown
certification never passes a maturity limit, an unknown runtime passes a runtime limit only when
lenient, an unknown year never passes a year bound, an unknown language never passes a language limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from movierec.common.v1 import common_pb2
from movierec_catalog import Movie

CERTIFICATIONS = ("G", "PG", "PG-13", "R", "NC-17")
CERT_RANK = {name: rank for rank, name in enumerate(CERTIFICATIONS, start=1)}


@dataclass
class HardFilter:
    """What a movie must satisfy (the gateway-side twin of ``movierec.common.v1.Filter``)."""

    exclude_movie_ids: set[int] = field(default_factory=set)
    include_genres: list[str] = field(default_factory=list)
    exclude_genres: list[str] = field(default_factory=list)
    min_year: int | None = None
    max_year: int | None = None
    max_runtime_min: int | None = None
    max_certification: str | None = None
    lenient_runtime: bool = False
    language: str | None = None

    def excluding(self, movie_ids: Iterable[int]) -> HardFilter:
        return HardFilter(**{**self.__dict__, "exclude_movie_ids": self.exclude_movie_ids | set(movie_ids)})

    def to_proto(self) -> common_pb2.Filter:
        message = common_pb2.Filter(
            exclude_movie_ids=sorted(self.exclude_movie_ids),
            include_genres=self.include_genres,
            exclude_genres=self.exclude_genres,
            max_certification=CERT_RANK.get(self.max_certification or "", 0),
            lenient_runtime=self.lenient_runtime,
            original_language=self.language or "",
        )
        for name in ("min_year", "max_year", "max_runtime_min"):
            value = getattr(self, name)
            if value is not None:
                setattr(message, name, value)
        return message


def admits(movie: Movie, hard: HardFilter) -> bool:
    """True when ``movie`` satisfies every condition of ``hard`` by the catalog's facts."""
    return not violations(movie, hard)


def violations(movie: Movie, hard: HardFilter) -> list[str]:
    """Which conditions ``movie`` breaks (empty when it passes); used in logs and tests."""
    out = []
    genres = set(movie.genres)
    if movie.movie_id in hard.exclude_movie_ids:
        out.append("excluded")
    if hard.include_genres and not genres & set(hard.include_genres):
        out.append(f"none of {hard.include_genres}")
    if genres & set(hard.exclude_genres):
        out.append(f"has excluded genre {sorted(genres & set(hard.exclude_genres))}")
    if hard.min_year is not None and (movie.year is None or movie.year < hard.min_year):
        out.append(f"year {movie.year} < {hard.min_year}")
    if hard.max_year is not None and (movie.year is None or movie.year > hard.max_year):
        out.append(f"year {movie.year} > {hard.max_year}")
    if hard.max_runtime_min is not None:
        if movie.runtime_min is None and not hard.lenient_runtime:
            out.append("runtime unknown")
        elif movie.runtime_min is not None and movie.runtime_min > hard.max_runtime_min:
            out.append(f"runtime {movie.runtime_min} > {hard.max_runtime_min}")
    if hard.max_certification:
        rank = CERT_RANK.get(movie.certification or "")
        if rank is None or rank > CERT_RANK[hard.max_certification]:
            out.append(f"certification {movie.certification} above {hard.max_certification}")
    if hard.language and (movie.original_language or "").lower() != hard.language.lower():
        out.append(f"language {movie.original_language} != {hard.language}")
    return out
