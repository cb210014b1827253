"""Facts about movies read straight from the raw data files, for checking the chat's picks.

This reader is deliberately independent of the catalog build (``libs/movierec_catalog``) and of every
service: it parses the shared data files itself, so a bug in the catalog's joins or mappings shows up
as a violation here instead of being checked against itself. Sources (``data_dir()``, see the data
README):

* ``ml-latest-small/movies.csv`` — movieId, "Title (Year)", MovieLens genres;
* ``ml-latest-small/links.csv`` — movieId → tmdbId;
* ``tmdb_5000_movies.csv`` — runtime (0 = unknown), original_language, genres (JSON), joined by tmdbId;
* ``movies_extrainfos.dat`` (OMDb via MeLU, ``::``-separated) — MPAA rating, keyed by movieId; a row
  whose year is more than one year away from the MovieLens year describes another film and is ignored;
* ``imdb_top_1000.csv`` — ``Certificate`` (only the five MPAA values count; India's U/UA/A do not)
  and ``Runtime``, matched by normalised title + year (else year ± 1 when that finds exactly one movie).

Certification: OMDb, else IMDb; anything that is not one of G/PG/PG-13/R/NC-17 is unknown.
Runtime: TMDB when > 0, else IMDb. Genres: MovieLens ∪ TMDB genres with an obvious MovieLens name.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

LADDER = ("G", "PG", "PG-13", "R", "NC-17")
_TMDB_GENRES = {"Action": "Action", "Adventure": "Adventure", "Animation": "Animation", "Comedy": "Comedy",
                "Crime": "Crime", "Documentary": "Documentary", "Drama": "Drama", "Fantasy": "Fantasy",
                "Horror": "Horror", "Mystery": "Mystery", "Romance": "Romance", "Thriller": "Thriller",
                "War": "War", "Western": "Western", "Science Fiction": "Sci-Fi"}
_ML_TITLE = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:[–-]\d{0,4})?\)\s*$")
_ALIAS = re.compile(r"\s*\((?:a\.k\.a\.\s*)?(?P<alias>[^()]*)\)")
_ARTICLES = ("the", "a", "an", "la", "le", "les", "l", "il", "el", "der", "die", "das")


@dataclass
class MovieFacts:
    movie_id: int
    title: str  # MovieLens title without the year, articles moved back ("The Matrix")
    year: int | None
    genres: set[str] = field(default_factory=set)
    runtime_min: int | None = None
    certification: str | None = None
    certification_source: str | None = None
    language: str | None = None
    aliases: set[str] = field(default_factory=set)  # normalised titles this movie is known by


def normalise_title(text: str) -> str:
    """Lowercase, accents stripped, '&' → 'and', punctuation dropped, a leading article dropped."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower().replace("&", " and ")
    text = re.sub(r"[^a-z0-9 ]+", " ", text)
    words = text.split()
    if len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    return " ".join(words)


def _unflip(title: str) -> str:
    """MovieLens writes "Matrix, The" and "Cité des enfants perdus, La": put the article back in front."""
    match = re.match(r"^(.*), (The|A|An|La|Le|Les|L'|Il|El|Der|Die|Das)$", title)
    if not match:
        return title
    article = match.group(2)
    return f"{article}{'' if article.endswith(chr(39)) else ' '}{match.group(1)}"


def _split_ml_title(raw: str) -> tuple[str, int | None, set[str]]:
    match = _ML_TITLE.match(raw.strip())
    title, year = (match.group("title"), int(match.group("year"))) if match else (raw.strip(), None)
    aliases = {_unflip(a.group("alias").strip()) for a in _ALIAS.finditer(title)}
    main = _unflip(_ALIAS.sub("", title).strip())
    return main, year, {normalise_title(t) for t in {main, *aliases} if t}


def certification_of(raw: str | None) -> str | None:
    value = (raw or "").strip().upper()
    return value if value in LADDER else None


def _read_movielens(root: Path) -> dict[int, MovieFacts]:
    movies: dict[int, MovieFacts] = {}
    with open(root / "ml-latest-small" / "movies.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            title, year, aliases = _split_ml_title(row["title"])
            genres = {g for g in row["genres"].split("|") if g and g != "(no genres listed)"}
            movie_id = int(row["movieId"])
            movies[movie_id] = MovieFacts(movie_id, title, year, genres, aliases=aliases)
    return movies


def _read_tmdb(root: Path, movies: dict[int, MovieFacts]) -> None:
    tmdb_to_movie: dict[int, int] = {}
    with open(root / "ml-latest-small" / "links.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["tmdbId"].strip():
                tmdb_to_movie.setdefault(int(row["tmdbId"]), int(row["movieId"]))
    with open(root / "tmdb_5000_movies.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            movie = movies.get(tmdb_to_movie.get(int(row["id"]), -1))
            if movie is None:
                continue
            runtime = float(row["runtime"]) if row["runtime"].strip() else 0.0
            if runtime > 0:
                movie.runtime_min = int(runtime)
            movie.language = row["original_language"].strip() or None
            try:
                names = [g["name"] for g in json.loads(row["genres"] or "[]")]
            except json.JSONDecodeError:
                names = []
            movie.genres |= {_TMDB_GENRES[n] for n in names if n in _TMDB_GENRES}
            movie.aliases |= {normalise_title(row["title"]), normalise_title(row["original_title"])}


def _read_omdb(root: Path, movies: dict[int, MovieFacts]) -> None:
    raw = (root / "movies_extrainfos.dat").read_bytes().decode("utf-8", errors="replace")
    for line in raw.splitlines():
        parts = line.split("::")
        if len(parts) < 5 or not parts[0].strip().isdigit():
            continue
        movie = movies.get(int(parts[0]))
        if movie is None:
            continue
        year = int(parts[2]) if parts[2].strip().isdigit() else None
        if movie.year is not None and year is not None and abs(year - movie.year) > 1:
            continue  # fetched by title: another film of the same name
        certification = certification_of(parts[3])
        if certification:
            movie.certification, movie.certification_source = certification, "omdb"


def _read_imdb(root: Path, movies: dict[int, MovieFacts]) -> None:
    by_key: dict[tuple[str, int], list[MovieFacts]] = {}
    for movie in movies.values():
        if movie.year is not None:
            for alias in movie.aliases:
                by_key.setdefault((alias, movie.year), []).append(movie)
    with open(root / "imdb_top_1000.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["Released_Year"].strip().isdigit()]
    matched: set[int] = set()
    leftovers = []
    for row in rows:  # exact title + year first
        found = by_key.get((normalise_title(row["Series_Title"]), int(row["Released_Year"])), [])
        if len(found) == 1:
            _take_imdb(found[0], row)
            matched.add(found[0].movie_id)
        else:
            leftovers.append(row)
    for row in leftovers:  # release years differ by one between sources (festival vs release): unique only
        title, year = normalise_title(row["Series_Title"]), int(row["Released_Year"])
        found = {m.movie_id: m for y in (year - 1, year + 1) for m in by_key.get((title, y), [])
                 if m.movie_id not in matched}
        if len(found) == 1:
            movie = next(iter(found.values()))
            _take_imdb(movie, row)
            matched.add(movie.movie_id)


def _take_imdb(movie: MovieFacts, row: dict) -> None:
    runtime = re.match(r"^(\d+)\s*min", row["Runtime"].strip())
    if movie.runtime_min is None and runtime:
        movie.runtime_min = int(runtime.group(1))
    certification = certification_of(row["Certificate"])
    if movie.certification is None and certification:
        movie.certification, movie.certification_source = certification, "imdb_top_1000"


@cache
def load(root: Path) -> RawFacts:
    movies = _read_movielens(root)
    _read_tmdb(root, movies)
    _read_omdb(root, movies)
    _read_imdb(root, movies)
    return RawFacts(movies)


class RawFacts:
    """Every MovieLens movie with the facts the raw files give, and a title lookup."""

    def __init__(self, movies: dict[int, MovieFacts]):
        self.movies = movies
        self._by_title: dict[str, list[MovieFacts]] = {}
        for movie in movies.values():
            for alias in movie.aliases:
                self._by_title.setdefault(alias, []).append(movie)

    def get(self, movie_id: int) -> MovieFacts | None:
        return self.movies.get(movie_id)

    def find(self, title: str, year: int | None = None) -> MovieFacts | None:
        """The movie with this (normalised) title, and this year when given; None when absent or ambiguous."""
        found = [m for m in self._by_title.get(normalise_title(title), []) if year is None or m.year == year]
        return found[0] if len(found) == 1 else None

    def latest_year(self) -> int:
        return max(m.year for m in self.movies.values() if m.year is not None)


def default_root() -> Path:
    from movierec_core.paths import data_dir

    return Path(data_dir())
