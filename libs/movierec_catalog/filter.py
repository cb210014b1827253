"""The one hard Filter: what a movie must satisfy to be returned, shared by every tier.

``movierec.common.v1.Filter`` travels between tiers; this module owns its meaning:

* :meth:`Filter.from_proto` validates a message (every offending field named, as gRPC field
  violations) and canonicalizes it (genre spelling of the catalog, lower-case language);
* :meth:`Filter.violations` checks one movie by its catalog facts (the ranker on every candidate,
  the gateway on every pick before it is shown);
* :meth:`Filter.mask` evaluates the same conditions as numpy masks over :class:`FilterColumns`
  (retrieval, over every index row).

Missing metadata is never safe (see docs/architecture.md, "Filter semantics"):

* a maturity cap or floor never admits a movie whose certification is unknown, unless the caller
  opted into estimates (``use_certification_estimates``) and the maturity model's bound for that
  movie satisfies the limit (``certification_estimate_max`` for a cap, ``_min`` for a floor: the
  bounds hold with the held-out confidence the maturity job chose);
* a runtime limit admits an unknown runtime only with ``lenient_runtime``;
* a year bound never admits an unknown year; a language limit never admits an unknown language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd

from movierec.common.v1 import common_pb2
from movierec_core.errors import invalid_argument

# Least to most restrictive audience; the ranks equal the proto enum values.
CERTIFICATIONS = ("G", "PG", "PG-13", "R", "NC-17")
CERT_RANK = {name: rank for rank, name in enumerate(CERTIFICATIONS, start=1)}
UNKNOWN = -1


class FilterableMovie(Protocol):
    """The facts a Filter reads (``movierec_catalog.Movie`` and the ranker's facts both have them)."""

    movie_id: int
    genres: tuple[str, ...]
    year: int | None
    runtime_min: int | None
    certification: str | None
    original_language: str | None


def _frozen_ids(values: Iterable[int] | None) -> frozenset[int]:
    return frozenset(int(v) for v in values or ())


def _genre_tuple(values: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(sorted({str(v) for v in values or ()}))


@dataclass(frozen=True)
class Filter:
    """Hard constraints; every field optional, the default admits every movie."""

    exclude_movie_ids: frozenset[int] = frozenset()
    # An allow-list (e.g. "something with Tom Hanks" resolved to his movies); empty = every movie.
    only_movie_ids: frozenset[int] = frozenset()
    include_genres: tuple[str, ...] = ()  # at least one of them
    exclude_genres: tuple[str, ...] = ()  # none of them
    min_year: int | None = None
    max_year: int | None = None
    min_runtime_min: int | None = None
    max_runtime_min: int | None = None
    lenient_runtime: bool = False
    min_certification: str | None = None  # a floor ("for adults")
    max_certification: str | None = None  # a cap ("my kids are 6 and 9")
    use_certification_estimates: bool = False
    original_language: str | None = None  # ISO 639-1, lower case

    def __post_init__(self) -> None:
        # Accept any iterable / spelling from callers; store one canonical, hashable form.
        object.__setattr__(self, "exclude_movie_ids", _frozen_ids(self.exclude_movie_ids))
        object.__setattr__(self, "only_movie_ids", _frozen_ids(self.only_movie_ids))
        object.__setattr__(self, "include_genres", _genre_tuple(self.include_genres))
        object.__setattr__(self, "exclude_genres", _genre_tuple(self.exclude_genres))
        object.__setattr__(self, "original_language", (self.original_language or "").strip().lower() or None)
        for name in ("min_certification", "max_certification"):
            value = getattr(self, name) or None
            if value is not None and value not in CERT_RANK:
                raise ValueError(f"{name}={value!r} is not one of {', '.join(CERTIFICATIONS)}")
            object.__setattr__(self, name, value)
        if not self.has_runtime_limit:
            object.__setattr__(self, "lenient_runtime", False)  # means nothing without a limit

    # ---- properties ---------------------------------------------------------------------------

    @property
    def has_runtime_limit(self) -> bool:
        return self.min_runtime_min is not None or self.max_runtime_min is not None

    @property
    def admits_unknown_runtime(self) -> bool:
        return self.has_runtime_limit and self.lenient_runtime

    @property
    def attribute_part(self) -> Filter:
        """This filter without its id lists: the hashable key of a cached attribute mask."""
        return replace(self, exclude_movie_ids=frozenset(), only_movie_ids=frozenset())

    @property
    def is_empty(self) -> bool:
        return self == EMPTY

    def excluding(self, movie_ids: Iterable[int]) -> Filter:
        return replace(self, exclude_movie_ids=self.exclude_movie_ids | _frozen_ids(movie_ids))

    # ---- proto ------------------------------------------------------------------------------

    def to_proto(self) -> common_pb2.Filter:
        message = common_pb2.Filter(
            exclude_movie_ids=sorted(self.exclude_movie_ids),
            only_movie_ids=sorted(self.only_movie_ids),
            include_genres=list(self.include_genres),
            exclude_genres=list(self.exclude_genres),
            max_certification=CERT_RANK.get(self.max_certification or "", 0),
            min_certification=CERT_RANK.get(self.min_certification or "", 0),
            use_certification_estimates=self.use_certification_estimates,
            lenient_runtime=self.lenient_runtime,
            original_language=self.original_language or "",
        )
        for name in ("min_year", "max_year", "min_runtime_min", "max_runtime_min"):
            value = getattr(self, name)
            if value is not None:
                setattr(message, name, value)
        return message

    @classmethod
    def from_proto(cls, message: common_pb2.Filter, *, known_genres: Iterable[str] | None = None,
                   known_languages: Iterable[str] | None = None, field: str = "filter") -> Filter:
        """Validate and canonicalize; INVALID_ARGUMENT names every offending field
        (e.g. ``filter.include_genres[1]``). Genres and languages are matched case-insensitively
        against the catalog's vocabulary when it is given."""
        violations: list[tuple[str, str]] = []
        genres = _Vocabulary(known_genres, "genre")
        languages = _Vocabulary(known_languages, "original language")
        include = genres.canonical(message.include_genres, f"{field}.include_genres", violations)
        exclude = genres.canonical(message.exclude_genres, f"{field}.exclude_genres", violations)
        language = None
        if message.original_language:
            found = languages.canonical([message.original_language], f"{field}.original_language", violations,
                                        indexed=False)
            language = found[0] if found else None
        bounds = {name: getattr(message, name) if message.HasField(name) else None
                  for name in ("min_year", "max_year", "min_runtime_min", "max_runtime_min")}
        _check_order(bounds["min_year"], bounds["max_year"], f"{field}.min_year", "min_year", "max_year", violations)
        for name in ("min_runtime_min", "max_runtime_min"):
            if bounds[name] is not None and bounds[name] <= 0:
                violations.append((f"{field}.{name}", f"{name} must be positive, got {bounds[name]}"))
        _check_order(bounds["min_runtime_min"], bounds["max_runtime_min"], f"{field}.min_runtime_min",
                     "min_runtime_min", "max_runtime_min", violations)
        caps = {name: _certification(getattr(message, name), f"{field}.{name}", violations)
                for name in ("min_certification", "max_certification")}
        if caps["min_certification"] and caps["max_certification"] and \
                CERT_RANK[caps["min_certification"]] > CERT_RANK[caps["max_certification"]]:
            violations.append((f"{field}.min_certification", f"min_certification {caps['min_certification']} is "
                               f"above max_certification {caps['max_certification']}"))
        if violations:
            raise invalid_argument("; ".join(description for _, description in violations),
                                   field_violations=violations)
        return cls(exclude_movie_ids=message.exclude_movie_ids, only_movie_ids=message.only_movie_ids,
                   include_genres=include, exclude_genres=exclude, lenient_runtime=message.lenient_runtime,
                   use_certification_estimates=message.use_certification_estimates,
                   original_language=language, **bounds, **caps)

    # ---- one movie ----------------------------------------------------------------------------

    def violations(self, movie: FilterableMovie) -> list[str]:
        """The conditions ``movie`` breaks, as stable codes (empty when it passes)."""
        return [code for code, _ in self._failures(movie)]

    def violation(self, movie: FilterableMovie) -> str | None:
        """The first condition ``movie`` breaks, or None."""
        return next((code for code, _ in self._failures(movie)), None)

    def admits(self, movie: FilterableMovie) -> bool:
        return self.violation(movie) is None

    def explain_violations(self, movie: FilterableMovie) -> list[str]:
        """The broken conditions in words, for logs and tests ("certification R above PG-13")."""
        return [detail for _, detail in self._failures(movie)]

    def _failures(self, movie: FilterableMovie):
        if movie.movie_id in self.exclude_movie_ids:
            yield "excluded", "excluded"
        if self.only_movie_ids and movie.movie_id not in self.only_movie_ids:
            yield "not_allowed", "not in the allowed movies"
        genres = set(movie.genres)
        if self.include_genres and not genres & set(self.include_genres):
            yield "include_genres", f"none of {list(self.include_genres)}"
        if genres & set(self.exclude_genres):
            yield "exclude_genres", f"has excluded genre {sorted(genres & set(self.exclude_genres))}"
        yield from _bounded("year", movie.year, self.min_year, self.max_year, unknown_passes=False)
        yield from _bounded("runtime", movie.runtime_min, self.min_runtime_min, self.max_runtime_min,
                            unknown_passes=self.lenient_runtime)
        yield from self._certification_failures(movie)
        if self.original_language and (movie.original_language or "").lower() != self.original_language:
            yield "original_language", f"language {movie.original_language} != {self.original_language}"

    def _certification_failures(self, movie: FilterableMovie):
        if not (self.max_certification or self.min_certification):
            return
        official = CERT_RANK.get(movie.certification or "")
        upper = lower = official
        if official is None and self.use_certification_estimates:
            upper = CERT_RANK.get(getattr(movie, "certification_estimate_max", None) or "")
            lower = CERT_RANK.get(getattr(movie, "certification_estimate_min", None) or "")
        if self.max_certification:
            if upper is None:
                yield "certification_unknown", f"certification unknown (limit {self.max_certification})"
            elif upper > CERT_RANK[self.max_certification]:
                yield "max_certification", f"certification {_name(upper)} above {self.max_certification}"
        if self.min_certification:
            if lower is None:
                if not (self.max_certification and upper is None):  # one line per unknown is enough
                    yield "certification_unknown", f"certification unknown (floor {self.min_certification})"
            elif lower < CERT_RANK[self.min_certification]:
                yield "min_certification", f"certification {_name(lower)} below {self.min_certification}"

    # ---- every movie at once (retrieval) ------------------------------------------------------

    def mask(self, columns: FilterColumns) -> np.ndarray:
        """Rows of ``columns`` passing every attribute condition (the id lists are applied by
        the caller, which keeps this mask cacheable per :attr:`attribute_part`)."""
        mask = np.ones(columns.count, dtype=bool)
        if self.include_genres:
            mask &= columns.genre_rows[columns.genre_positions(self.include_genres)].any(axis=0)
        if self.exclude_genres:
            mask &= ~columns.genre_rows[columns.genre_positions(self.exclude_genres)].any(axis=0)
        mask &= _within(columns.year, self.min_year, self.max_year, unknown_passes=False)
        mask &= _within(columns.runtime_min, self.min_runtime_min, self.max_runtime_min,
                        unknown_passes=self.lenient_runtime)
        if self.max_certification or self.min_certification:
            official = columns.certification
            upper, lower = official, official
            if self.use_certification_estimates:
                upper = np.where(official > 0, official, columns.estimate_max)
                lower = np.where(official > 0, official, columns.estimate_min)
            if self.max_certification:
                mask &= (upper > 0) & (upper <= CERT_RANK[self.max_certification])
            if self.min_certification:
                mask &= (lower > 0) & (lower >= CERT_RANK[self.min_certification])
        if self.original_language:
            position = columns.language_index(self.original_language)
            if position is None:
                mask[:] = False  # no row has that language
            else:
                mask &= columns.language == position
        return mask

    # ---- words ------------------------------------------------------------------------------

    def describe(self, titles: Mapping[int, str] | None = None,
                 language_names: Mapping[str, str] | None = None) -> list[str]:
        """One human line per condition, e.g. ["no Horror", "at most 95 min", "rated PG or milder"]."""
        lines = []
        if self.include_genres:
            lines.append(" or ".join(self.include_genres))
        if self.exclude_genres:
            lines.append("no " + ", no ".join(self.exclude_genres))
        if self.min_year is not None and self.max_year is not None:
            lines.append(f"from {self.min_year}" if self.min_year == self.max_year
                         else f"{self.min_year}–{self.max_year}")
        elif self.min_year is not None:
            lines.append(f"{self.min_year} or later")
        elif self.max_year is not None:
            lines.append(f"{self.max_year} or earlier")
        if self.max_runtime_min is not None:
            lines.append(f"at most {self.max_runtime_min} min")
        if self.min_runtime_min is not None:
            lines.append(f"at least {self.min_runtime_min} min")
        if self.lenient_runtime:
            lines.append("unknown runtimes allowed")
        if self.max_certification:
            lines.append("rated G" if self.max_certification == "G" else f"rated {self.max_certification} or milder")
        if self.min_certification:
            lines.append(f"rated {self.min_certification} or above")
        if self.use_certification_estimates:
            lines.append("estimated ratings allowed")
        if self.original_language:
            name = (language_names or {}).get(self.original_language)
            lines.append(f"in {name}" if name else f"original language {self.original_language}")
        if titles:
            named = [titles[i] for i in sorted(self.exclude_movie_ids) if i in titles]
            if named:
                lines.append("not " + ", ".join(named))
        return lines


EMPTY = Filter()
FILTER_FIELDS = tuple(f.name for f in fields(Filter))


def _name(rank: int) -> str:
    return CERTIFICATIONS[rank - 1]


def _bounded(name: str, value: int | None, low: int | None, high: int | None, *, unknown_passes: bool):
    if low is None and high is None:
        return
    if value is None:
        if not unknown_passes:
            yield f"{name}_unknown", f"{name} unknown"
        return
    if low is not None and value < low:
        yield f"min_{name}", f"{name} {value} < {low}"
    if high is not None and value > high:
        yield f"max_{name}", f"{name} {value} > {high}"


def _within(values: np.ndarray, low: int | None, high: int | None, *, unknown_passes: bool) -> np.ndarray:
    if low is None and high is None:
        return np.ones(len(values), dtype=bool)
    known = values != UNKNOWN
    inside = known.copy()
    if low is not None:
        inside &= values >= low
    if high is not None:
        inside &= values <= high
    return inside | ~known if unknown_passes else inside


def _check_order(low, high, field_name: str, low_name: str, high_name: str, violations: list) -> None:
    if low is not None and high is not None and low > high:
        violations.append((field_name, f"{low_name} {low} is after {high_name} {high}"))


def _certification(value: int, field_name: str, violations: list) -> str | None:
    if value == common_pb2.CERTIFICATION_UNSPECIFIED:
        return None
    if value not in common_pb2.Certification.values():
        violations.append((field_name, f"unknown certification value {value}"))
        return None
    return _name(value)


class _Vocabulary:
    """Case-insensitive canonical spelling of genres / languages (no check when unknown)."""

    def __init__(self, known: Iterable[str] | None, what: str):
        self._what = what
        self._known = sorted(known) if known is not None else None
        self._by_lower = {name.lower(): name for name in self._known or ()}

    def canonical(self, names: Iterable[str], field_name: str, violations: list, indexed: bool = True) -> list[str]:
        out = []
        for i, name in enumerate(names):
            if self._known is None:
                out.append(name.strip())
                continue
            found = self._by_lower.get(name.strip().lower())
            if found is None:
                where = f"{field_name}[{i}]" if indexed else field_name
                known = ", ".join(self._known)
                violations.append((where, f"unknown {self._what} {name!r}; known {self._what}s: {known}"))
            else:
                out.append(found)
        return out


# ---- columns for vectorised filtering ----------------------------------------------------------

@dataclass(frozen=True)
class FilterColumns:
    """The filterable facts of N rows (row i = movie ``movie_ids[i]``) as flat arrays."""

    genre_names: tuple[str, ...]  # the catalog's genre vocabulary, canonical spelling
    genre_rows: np.ndarray  # bool (len(genre_names), N)
    year: np.ndarray  # int32 (N,), UNKNOWN when missing
    runtime_min: np.ndarray  # int32 (N,), UNKNOWN when missing
    certification: np.ndarray  # int8 (N,), 0 when unknown, else CERT_RANK
    estimate_max: np.ndarray  # int8 (N,), 0 when no estimate
    estimate_min: np.ndarray  # int8 (N,), 0 when no estimate
    language_names: tuple[str, ...]  # the catalog's original-language codes, lower case
    language: np.ndarray  # int16 (N,), position in language_names, UNKNOWN when missing
    sorted_ids: np.ndarray  # int64, movie ids sorted, for vectorised id → row lookup
    sorted_rows: np.ndarray  # int64, row of sorted_ids[j]
    missing_from_catalog: int = 0  # rows without a catalog entry (all their facts unknown)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.year)

    def genre_positions(self, names: Iterable[str]) -> list[int]:
        lowered = {n.lower() for n in names}
        return [i for i, name in enumerate(self.genre_names) if name.lower() in lowered]

    def language_index(self, code: str) -> int | None:
        lowered = code.lower()
        return next((i for i, name in enumerate(self.language_names) if name == lowered), None)

    def lookup(self, movie_ids: np.ndarray) -> np.ndarray:
        """Row of each movie id, -1 where the id is not a row (vectorised: no per-id dict, which
        would cost ~100 bytes per movie at a million movies)."""
        movie_ids = np.asarray(movie_ids, dtype=np.int64)
        if len(movie_ids) == 0 or len(self.sorted_ids) == 0:
            return np.full(len(movie_ids), -1, dtype=np.int64)
        positions = np.minimum(np.searchsorted(self.sorted_ids, movie_ids), len(self.sorted_ids) - 1)
        found = self.sorted_ids[positions] == movie_ids
        return np.where(found, self.sorted_rows[positions], -1)

    def rows_of(self, movie_ids: Iterable[int]) -> np.ndarray:
        """Rows of the given movie ids; ids that are not rows are dropped."""
        rows = self.lookup(np.fromiter(movie_ids, dtype=np.int64) if not isinstance(movie_ids, np.ndarray)
                           else movie_ids)
        return rows[rows >= 0]

    @classmethod
    def build(cls, movies: pd.DataFrame, movie_ids: np.ndarray) -> FilterColumns:
        """Align the catalog's facts with ``movie_ids`` (once per index version)."""
        aligned = movies.reindex(pd.Index(np.asarray(movie_ids).tolist()))
        known = aligned["title"].notna().to_numpy()
        vocabulary = sorted({g for genres in movies["genres"] if genres is not None for g in genres})
        position = {name: i for i, name in enumerate(vocabulary)}
        genre_rows = np.zeros((len(vocabulary), len(movie_ids)), dtype=bool)
        for row, genres in enumerate(aligned["genres"]):
            if isinstance(genres, list | tuple | np.ndarray):
                for genre in genres:
                    genre_rows[position[genre], row] = True
        languages = tuple(sorted({str(code).lower() for code in movies["original_language"].dropna() if code}))
        language_position = {code: i for i, code in enumerate(languages)}
        language = (aligned["original_language"].str.lower().map(language_position)
                    .fillna(UNKNOWN).to_numpy(dtype=np.int16))
        order = np.argsort(movie_ids, kind="stable")
        return cls(
            genre_names=tuple(vocabulary), genre_rows=genre_rows,
            year=_int_column(aligned["year"]), runtime_min=_int_column(aligned["runtime_min"]),
            certification=_rank_column(aligned, "certification"),
            estimate_max=_rank_column(aligned, "certification_estimate_max"),
            estimate_min=_rank_column(aligned, "certification_estimate_min"),
            language_names=languages, language=language,
            sorted_ids=np.asarray(movie_ids, dtype=np.int64)[order], sorted_rows=order.astype(np.int64),
            missing_from_catalog=int((~known).sum()),
        )


def _int_column(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").fillna(UNKNOWN).to_numpy(dtype=np.int32)


def _rank_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.zeros(len(frame), dtype=np.int8)
    return frame[name].map(CERT_RANK).fillna(0).to_numpy(dtype=np.int8)
