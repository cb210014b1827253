"""Hard filters over catalog attributes, evaluated as numpy masks over the index rows.

The catalog's attributes are turned once per index version into flat arrays aligned with the
index rows (one bool row per genre, years, runtimes, certification ranks, languages), so a
request's filter becomes a handful of vectorised comparisons and never touches the catalog
DataFrame.

Missing metadata (DESIGN §3): a movie whose certification is unknown never passes a maturity
limit; a movie whose runtime is unknown passes a runtime limit only with ``lenient_runtime``;
a movie whose year is unknown never passes a year bound (a caller asking for "the 90s" must not
get a movie we cannot place in time); a movie whose original language is unknown never passes a
language limit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from movierec.common.v1 import common_pb2
from movierec_core.errors import invalid_argument

# Least to most restrictive audience; the numbers equal the proto enum values.
CERTIFICATION_RANK = {"G": 1, "PG": 2, "PG-13": 3, "R": 4, "NC-17": 5}
UNKNOWN = -1
MASK_CACHE_SIZE = 256


@dataclass(frozen=True)
class CatalogAttributes:
    """Filterable attributes of the index rows (row i = movie ``movie_ids[i]``)."""

    genre_names: tuple[str, ...]  # the catalog's genre vocabulary, in canonical spelling
    genre_rows: np.ndarray  # bool (len(genre_names), N): genre_rows[g, i] = movie i has genre g
    year: np.ndarray  # int32 (N,), UNKNOWN when missing
    runtime_min: np.ndarray  # int32 (N,), UNKNOWN when missing
    certification: np.ndarray  # int8 (N,), 0 when unknown, else CERTIFICATION_RANK
    language_names: tuple[str, ...]  # the catalog's original-language codes (ISO 639-1)
    language: np.ndarray  # int16 (N,), position in language_names, UNKNOWN when missing
    sorted_ids: np.ndarray  # int64, the movie ids sorted, for vectorised id → row lookup
    sorted_rows: np.ndarray  # int64, row of sorted_ids[j]
    missing_from_catalog: int  # index rows without a catalog entry (all their metadata unknown)

    @property
    def count(self) -> int:
        return len(self.year)

    def genre_index(self, name: str) -> int | None:
        return _position(self.genre_names, name)

    def language_index(self, code: str) -> int | None:
        return _position(self.language_names, code)

    def lookup(self, movie_ids: np.ndarray) -> np.ndarray:
        """Row of each movie id, -1 where the id is not in the index (vectorised: no per-id dict,
        which would cost ~100 bytes per movie at a million movies)."""
        movie_ids = np.asarray(movie_ids, dtype=np.int64)
        if len(movie_ids) == 0 or len(self.sorted_ids) == 0:
            return np.full(len(movie_ids), -1, dtype=np.int64)
        positions = np.minimum(np.searchsorted(self.sorted_ids, movie_ids), len(self.sorted_ids) - 1)
        found = self.sorted_ids[positions] == movie_ids
        return np.where(found, self.sorted_rows[positions], -1)

    def rows_of(self, movie_ids: np.ndarray) -> np.ndarray:
        """Rows of the given movie ids; ids not in the index are dropped."""
        rows = self.lookup(movie_ids)
        return rows[rows >= 0]


def _position(names: tuple[str, ...], name: str) -> int | None:
    lowered = name.strip().lower()
    for position, known in enumerate(names):
        if known.lower() == lowered:
            return position
    return None


def build_attributes(movies: pd.DataFrame, movie_ids: np.ndarray) -> CatalogAttributes:
    """Align the catalog's attributes with the index rows (once per index version)."""
    aligned = movies.reindex(pd.Index(movie_ids.tolist()))
    known = aligned["title"].notna().to_numpy()
    genre_lists = [list(g) if isinstance(g, list | tuple | np.ndarray) else [] for g in aligned["genres"]]
    vocabulary = sorted({g for genres in movies["genres"] if genres is not None for g in genres})
    position = {name: i for i, name in enumerate(vocabulary)}
    genre_rows = np.zeros((len(vocabulary), len(movie_ids)), dtype=bool)
    for row, genres in enumerate(genre_lists):
        for genre in genres:
            genre_rows[position[genre], row] = True
    certification = aligned["certification"].map(CERTIFICATION_RANK).fillna(0).to_numpy(dtype=np.int8)
    languages = tuple(sorted({str(code) for code in movies["original_language"].dropna() if code}))
    language_position = {code: i for i, code in enumerate(languages)}
    language = aligned["original_language"].map(language_position).fillna(UNKNOWN).to_numpy(dtype=np.int16)
    order = np.argsort(movie_ids, kind="stable")
    return CatalogAttributes(
        genre_names=tuple(vocabulary),
        genre_rows=genre_rows,
        year=_int_column(aligned["year"]),
        runtime_min=_int_column(aligned["runtime_min"]),
        certification=certification,
        language_names=languages,
        language=language,
        sorted_ids=np.asarray(movie_ids, dtype=np.int64)[order],
        sorted_rows=order.astype(np.int64),
        missing_from_catalog=int((~known).sum()),
    )


def _int_column(column: pd.Series) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce")
    return values.fillna(UNKNOWN).to_numpy(dtype=np.int32)


@dataclass(frozen=True)
class FilterSpec:
    """A validated filter without its exclusion list (hashable: it keys the mask cache)."""

    include_genres: tuple[int, ...] = ()
    exclude_genres: tuple[int, ...] = ()
    min_year: int | None = None
    max_year: int | None = None
    max_runtime_min: int | None = None
    max_certification: int = 0
    lenient_runtime: bool = False
    original_language: int | None = None

    @property
    def is_empty(self) -> bool:
        return self == EMPTY_SPEC

    @property
    def admits_unknown_runtime(self) -> bool:
        return self.max_runtime_min is not None and self.lenient_runtime


EMPTY_SPEC = FilterSpec()


def parse_filter(message: common_pb2.Filter, attributes: CatalogAttributes,
                 field: str = "filter") -> tuple[FilterSpec, np.ndarray]:
    """Validate a proto Filter; returns the spec and the excluded movie ids.

    Raises INVALID_ARGUMENT naming every offending field (e.g. ``filter.include_genres[1]``).
    Excluded ids that are not in the index are accepted: excluding them changes nothing.
    """
    excluded = np.asarray(message.exclude_movie_ids, dtype=np.int64)
    violations: list[tuple[str, str]] = []
    include = _genre_positions(message.include_genres, attributes, f"{field}.include_genres", violations)
    exclude = _genre_positions(message.exclude_genres, attributes, f"{field}.exclude_genres", violations)
    min_year = message.min_year if message.HasField("min_year") else None
    max_year = message.max_year if message.HasField("max_year") else None
    if min_year is not None and max_year is not None and min_year > max_year:
        violations.append((f"{field}.min_year", f"min_year {min_year} is after max_year {max_year}"))
    max_runtime = message.max_runtime_min if message.HasField("max_runtime_min") else None
    if max_runtime is not None and max_runtime <= 0:
        violations.append((f"{field}.max_runtime_min", f"max_runtime_min must be positive, got {max_runtime}"))
    certification = int(message.max_certification)
    if certification not in common_pb2.Certification.values():
        violations.append((f"{field}.max_certification", f"unknown certification value {certification}"))
    language = _language_position(message.original_language, attributes, f"{field}.original_language",
                                  violations)
    if violations:
        raise invalid_argument("; ".join(description for _, description in violations),
                               field_violations=violations)
    # lenient_runtime only means something with a runtime limit; dropping it alone keeps the spec
    # empty, so the no-filter fast path applies.
    lenient = bool(message.lenient_runtime) and max_runtime is not None
    spec = FilterSpec(include, exclude, min_year, max_year, max_runtime, certification, lenient, language)
    return spec, excluded


def _genre_positions(names, attributes: CatalogAttributes, field: str,
                     violations: list[tuple[str, str]]) -> tuple[int, ...]:
    positions = set()
    for i, name in enumerate(names):
        position = attributes.genre_index(name)
        if position is None:
            violations.append((f"{field}[{i}]", f"unknown genre {name!r}; known genres: "
                               f"{', '.join(attributes.genre_names)}"))
        else:
            positions.add(position)
    return tuple(sorted(positions))


def _language_position(code: str, attributes: CatalogAttributes, field: str,
                       violations: list[tuple[str, str]]) -> int | None:
    if not code:
        return None
    position = attributes.language_index(code)
    if position is None:
        violations.append((field, f"no catalog movie has original language {code!r}; known codes: "
                                  f"{', '.join(attributes.language_names)}"))
    return position


def attribute_mask(spec: FilterSpec, attributes: CatalogAttributes) -> np.ndarray:
    """The rows passing every attribute condition of ``spec`` (exclusions not applied)."""
    mask = np.ones(attributes.count, dtype=bool)
    if spec.include_genres:
        mask &= attributes.genre_rows[list(spec.include_genres)].any(axis=0)
    if spec.exclude_genres:
        mask &= ~attributes.genre_rows[list(spec.exclude_genres)].any(axis=0)
    year = attributes.year
    if spec.min_year is not None:
        mask &= (year != UNKNOWN) & (year >= spec.min_year)
    if spec.max_year is not None:
        mask &= (year != UNKNOWN) & (year <= spec.max_year)
    if spec.max_runtime_min is not None:
        runtime = attributes.runtime_min
        within = (runtime != UNKNOWN) & (runtime <= spec.max_runtime_min)
        mask &= (within | (runtime == UNKNOWN)) if spec.lenient_runtime else within
    if spec.max_certification:
        certification = attributes.certification
        mask &= (certification > 0) & (certification <= spec.max_certification)
    if spec.original_language is not None:
        mask &= attributes.language == spec.original_language
    return mask


class MaskCache:
    """Attribute masks of recently seen filters (callers repeat the same constraints)."""

    def __init__(self, attributes: CatalogAttributes, size: int = MASK_CACHE_SIZE):
        self._attributes = attributes
        self._size = size
        self._masks: OrderedDict[FilterSpec, tuple[np.ndarray, int]] = OrderedDict()

    def get(self, spec: FilterSpec) -> tuple[np.ndarray, int]:
        """(read-only mask, number of rows it admits)."""
        cached = self._masks.get(spec)
        if cached is not None:
            self._masks.move_to_end(spec)
            return cached
        mask = attribute_mask(spec, self._attributes)
        mask.setflags(write=False)
        entry = (mask, int(np.count_nonzero(mask)))
        self._masks[spec] = entry
        if len(self._masks) > self._size:
            self._masks.popitem(last=False)
        return entry
