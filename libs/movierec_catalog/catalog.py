"""Read-only access to a built catalog (the artifact of ``python -m movierec_catalog.build``)."""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from .estimates import read_estimates
from .paths import default_catalog_dir
from .schema import ESTIMATE_COLUMNS, LIST_COLUMNS, MOVIE_COLUMNS, MOVIES_SCHEMA
from .text import fold, peel_trailing_group

# MovieLens "genres" that say nothing about the content (a format, a missing value): never a theme term,
# a radar axis or a genre affinity.
NON_CONTENT_GENRES = frozenset({"IMAX", "(no genres listed)"})
_LEADING_ARTICLES = ("the ", "a ", "an ", "le ", "la ", "les ", "l ", "el ", "il ", "der ", "die ", "das ")
_YEAR_RE = re.compile(r"^(?P<rest>.+?)\s+\(?(?P<year>(18|19|20)\d{2})\)?$")


class CatalogNotFoundError(FileNotFoundError):
    """No built catalog at the expected place."""


@dataclass(frozen=True)
class Movie:
    """One catalog row. Lists are tuples; missing values are None (lists: empty tuples)."""

    movie_id: int
    canonical_key: str
    tmdb_id: int | None
    imdb_id: str | None
    title: str
    year: int | None
    genres: tuple[str, ...]
    overview: str | None
    keywords: tuple[str, ...]
    tags: tuple[str, ...]
    director: str | None
    cast: tuple[str, ...]
    runtime_min: int | None
    certification: str | None
    certification_source: str | None
    vote_average: float | None
    vote_count: int | None
    popularity: float | None
    imdb_rating: float | None
    ml_rating_mean: float | None
    ml_rating_count: int
    poster_url: str | None
    original_language: str | None
    embedding_text: str
    # Estimated maturity (the maturity classifier's artifact, joined at load when present); never
    # an official rating. ``certification_estimate_max``/``_min``: with the held-out confidence
    # threshold, the true certification is at most / at least this (what opt-in filters use).
    certification_estimate: str | None = None
    certification_confidence: float | None = None
    certification_estimate_max: str | None = None
    certification_estimate_min: str | None = None

    @classmethod
    def from_record(cls, rec: dict) -> Movie:
        values = {k: tuple(rec[k] or ()) if k in LIST_COLUMNS else rec[k] for k in MOVIE_COLUMNS}
        values.update({k: rec.get(k) for k in ESTIMATE_COLUMNS})
        return cls(**values)


assert tuple(f.name for f in fields(Movie)) == MOVIE_COLUMNS + ESTIMATE_COLUMNS, "Movie fields must follow the schema"


def resolve_catalog_dir(path: str | Path | None = None) -> Path:
    """The directory holding manifest.json: ``path`` itself or ``path/current``.

    ``path=None`` means $MOVIEREC_CATALOG_DIR, else <repo>/artifacts/catalog/current.
    """
    base = Path(path) if path is not None else default_catalog_dir()
    for candidate in (base, base / "current"):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise CatalogNotFoundError(
        f"no catalog found at {base} (no manifest.json); build it with `make catalog` "
        "(or `PYTHONPATH=libs python -m movierec_catalog.build`)"
    )


def _search_keys(title: str) -> list[str]:
    """Folded title variants: full title, main title, alternate titles, each also without a
    leading article (so "matrix" is a prefix match of "The Matrix")."""
    parts, rest = [], title
    while (peeled := peel_trailing_group(rest)) is not None:
        rest, alt = peeled
        parts.append(alt)
    keys = []
    for k in (fold(title), fold(rest), *(fold(p) for p in parts)):
        keys.append(k)
        keys.extend(k[len(a) :] for a in _LEADING_ARTICLES if k.startswith(a))
    return [k for k in dict.fromkeys(keys) if k]


class Catalog:
    """The movie table with lookups. Build with :func:`load_catalog`."""

    def __init__(self, records: list[dict], manifest: dict, path: Path | None = None):
        self.manifest = manifest
        self.path = path
        self._by_id = {r["movie_id"]: Movie.from_record(r) for r in records}
        self._movies = self._frame(records)
        self._index_titles()

    def _index_titles(self) -> None:
        """One newline-joined blob of all folded title keys, so a substring scan runs in C."""
        self._search = [(m, _search_keys(m.title)) for m in self._by_id.values()]
        starts, chunks, pos = [], [], 0
        for _, keys in self._search:
            chunk = "\n".join(keys) + "\n"
            starts.append(pos)
            chunks.append(chunk)
            pos += len(chunk)
        self._blob, self._starts = "".join(chunks), starts

    def _candidates(self, q: str) -> set[int]:
        """Indexes into self._search of movies with q inside any of their title keys."""
        return {bisect.bisect_right(self._starts, m.start()) - 1 for m in re.finditer(re.escape(q), self._blob)}

    @staticmethod
    def _frame(records: list[dict]) -> pd.DataFrame:
        df = pd.DataFrame.from_records(records, columns=list(MOVIE_COLUMNS + ESTIMATE_COLUMNS))
        ints = [f.name for f in MOVIES_SCHEMA if str(f.type) == "int64"]
        df = df.astype(
            {c: "Int64" for c in ints}
            | {
                "vote_average": "float64",
                "popularity": "float64",
                "imdb_rating": "float64",
                "ml_rating_mean": "float64",
            }
        )
        return df.set_index("movie_id", drop=False).rename_axis(index=None)

    @property
    def movies(self) -> pd.DataFrame:
        """DataFrame indexed by movie_id (the column is kept too); list columns hold lists."""
        return self._movies

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, movie_id: object) -> bool:
        return movie_id in self._by_id

    def get(self, movie_id: int) -> Movie | None:
        """The movie with this MovieLens id, or None (dropped duplicates are not in the catalog;
        see manifest["duplicates_dropped"])."""
        return self._by_id.get(int(movie_id))

    def search_titles(self, query: str, limit: int = 10) -> list[Movie]:
        """Case/accent/punctuation-insensitive title search for onboarding.

        Ranks exact title matches first, then prefix matches, then substring matches; ties by
        number of MovieLens ratings (most first), then title. Alternate titles count too
        ("la vita e bella" finds Life Is Beautiful). A trailing year ("matrix 1999") restricts
        results to that year when any such result exists.
        """
        q = fold(query or "")
        if not q or limit <= 0:
            return []
        m = _YEAR_RE.match(q)
        if m:
            hits = self._rank(m.group("rest"), int(m.group("year")))
            if hits:
                return hits[:limit]
        return self._rank(q, None)[:limit]

    def _rank(self, q: str, year: int | None) -> list[Movie]:
        scored = []
        for i in self._candidates(q):
            movie, keys = self._search[i]
            if year is not None and movie.year != year:
                continue
            tier = min((0 if k == q else 1 if k.startswith(q) else 2 if q in k else 3) for k in keys)
            if tier < 3:
                scored.append((tier, -movie.ml_rating_count, movie.title, movie.movie_id, movie))
        scored.sort(key=lambda t: t[:4])
        return [t[-1] for t in scored]


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load the catalog at ``path`` (a version dir, or an out dir containing ``current``).

    ``path=None``: $MOVIEREC_CATALOG_DIR, else <repo>/artifacts/catalog/current. Raises
    CatalogNotFoundError telling the user to run ``make catalog`` when nothing is there.
    """
    cdir = resolve_catalog_dir(path)
    manifest = json.loads((cdir / "manifest.json").read_text())
    table = pq.read_table(cdir / "movies.parquet")
    missing = set(MOVIE_COLUMNS) - set(table.column_names)
    if missing:
        raise ValueError(f"{cdir}/movies.parquet lacks column(s) {sorted(missing)}; rebuild the catalog")
    records = table.select(list(MOVIE_COLUMNS)).to_pylist()
    _join_estimates(records, read_estimates(manifest["version"]))
    return Catalog(records, manifest, cdir)


def _join_estimates(records: list[dict], estimates: dict[int, dict] | None) -> None:
    """Add the maturity estimates (estimates.py) to movies without an official certification;
    without an artifact for this catalog the four fields stay None."""
    for rec in records:
        found = (estimates or {}).get(rec["movie_id"]) if rec["certification"] is None else None
        rec.update({k: (found or {}).get(k) for k in ESTIMATE_COLUMNS})


def load_ratings(path: str | Path | None = None) -> pd.DataFrame:
    """Ratings of the catalog at ``path`` (same resolution as load_catalog): user_id, movie_id,
    rating (float, 0.5-5.0), timestamp (int, unix seconds). Ratings of dropped duplicate movies
    point at the kept movie id."""
    return pd.read_parquet(resolve_catalog_dir(path) / "ratings.parquet")
