"""Reading what people already have: Letterboxd and IMDb rating exports, linked to the catalog.

* Letterboxd ``ratings.csv``: ``Date, Name, Year, Letterboxd URI, Rating`` (0.5–5 in half stars).
* IMDb ratings export: ``Const`` (tt id), ``Your Rating`` (1–10), ``Date Rated``, ``Title``, ``Year``, …;
  a rating r of 10 becomes r / 2 stars (so 7 → 3.5).

A row links to a catalog movie by its IMDb id when the file has one, else by title + year (the
catalog's matching key: case, accents, punctuation, articles; the main title and its alternate
titles, e.g. "Amelie" for "Amelie (Le Fabuleux destin d'Amélie Poulain)"); a year one off is accepted
only when it is the single candidate (release dates differ between countries). Everything else is
reported back with the reason, never guessed.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime

from movierec_catalog import Catalog
from movierec_catalog.text import peel_trailing_group, title_key

MAX_ROWS = 5_000


class ImportFormatError(ValueError):
    """The file is not a Letterboxd or IMDb ratings export."""


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line of the file (the header is line 1)
    title: str
    year: int | None
    rating: float | None  # stars, 0.5–5.0 in halves; None when the row has no usable rating
    imdb_id: str | None
    rated_at_ms: int | None


@dataclass(frozen=True)
class Linked:
    row: Row
    movie_id: int


@dataclass(frozen=True)
class Unmatched:
    row: Row
    reason: str


def parse_export(text: str) -> tuple[str, list[Row]]:
    """(source "letterboxd" | "imdb", rows) of an export file; ImportFormatError when it is neither, or
    when it is not CSV at all (a stray carriage return in a field, say)."""
    try:
        return _parse_export(text)
    except csv.Error as error:
        raise ImportFormatError(f"the file is not a readable CSV ({error}); upload the CSV the site exported") \
            from None


def _parse_export(text: str) -> tuple[str, list[Row]]:
    # newline="" as the csv module asks: a quoted field may hold line breaks
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    columns = {c.strip() for c in reader.fieldnames or ()}
    if {"Name", "Year", "Rating"} <= columns:
        source, read = "letterboxd", _letterboxd_row
    elif {"Const", "Your Rating", "Title"} <= columns:
        source, read = "imdb", _imdb_row
    else:
        raise ImportFormatError("not a ratings export: expected Letterboxd columns (Date, Name, Year, Rating) "
                                f"or IMDb columns (Const, Your Rating, Title, Year); got {sorted(columns)}")
    rows = []
    for line, record in enumerate(reader, start=2):
        if len(rows) >= MAX_ROWS:
            raise ImportFormatError(f"the file has more than {MAX_ROWS} rows; split it")
        rows.append(read(line, {k.strip(): (v or "").strip() for k, v in record.items() if k}))
    return source, rows


def _letterboxd_row(line: int, record: dict) -> Row:
    return Row(line, record.get("Name", ""), _year(record.get("Year")), _stars(record.get("Rating"), scale=1),
               None, _date_ms(record.get("Date")))


def _imdb_row(line: int, record: dict) -> Row:
    const = record.get("Const", "")
    return Row(line, record.get("Title", ""), _year(record.get("Year")), _stars(record.get("Your Rating"), scale=2),
               const if const.startswith("tt") else None, _date_ms(record.get("Date Rated")))


def _year(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 1870 <= int(value) <= 2100 else None


def _stars(value: str | None, *, scale: int) -> float | None:
    try:
        number = float(value) / scale
    except (TypeError, ValueError):
        return None
    stars = round(number * 2) / 2
    return stars if 0.5 <= stars <= 5.0 else None


def _date_ms(value: str | None) -> int | None:
    try:
        return int(datetime.strptime(value or "", "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)
    except ValueError:
        return None


class CatalogLinker:
    """Title + year and IMDb id look-ups over the catalog, built once."""

    def __init__(self, catalog: Catalog):
        self._by_imdb: dict[str, int] = {}
        self._by_key: dict[str, list[tuple[int | None, int]]] = {}
        for movie_id in catalog.movies.index:
            movie = catalog.get(int(movie_id))
            if movie.imdb_id:
                self._by_imdb[movie.imdb_id] = movie.movie_id
            for key in _keys(movie.title):
                self._by_key.setdefault(key, []).append((movie.year, movie.movie_id))

    def link(self, row: Row) -> Linked | Unmatched:
        if row.rating is None:
            return Unmatched(row, "no rating in this row")
        if row.imdb_id and row.imdb_id in self._by_imdb:
            return Linked(row, self._by_imdb[row.imdb_id])
        if not row.title:
            return Unmatched(row, "no title")
        candidates = self._by_key.get(title_key(row.title), [])
        exact = {movie_id for year, movie_id in candidates if row.year is None or year == row.year}
        if len(exact) == 1:
            return Linked(row, exact.pop())
        near = {movie_id for year, movie_id in candidates
                if row.year is not None and year is not None and abs(year - row.year) == 1}
        if not exact and len(near) == 1:
            return Linked(row, near.pop())
        if len(exact) > 1 or len(near) > 1:
            return Unmatched(row, "several catalog movies have this title; add the year")
        return Unmatched(row, "not in the catalog")


def _keys(title: str) -> set[str]:
    keys, rest = {title_key(title)}, title
    while (peeled := peel_trailing_group(rest)) is not None:
        rest, alternate = peeled
        keys |= {title_key(rest), title_key(alternate)}
    return {k for k in keys if k}


def event_id(user_id: str, source: str, movie_id: int, rating: float, rated_at_ms: int | None) -> str:
    """The same row of the same file gives the same event id, so importing twice applies nothing new."""
    material = f"import\n{user_id}\n{source}\n{movie_id}\n{rating}\n{rated_at_ms}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]
