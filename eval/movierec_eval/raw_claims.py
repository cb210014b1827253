"""What any raw data file states about each MovieLens movie, for the explanation-faithfulness checker.

``raw_facts`` (the chat checker's reader) resolves one value per fact for constraints; this module
keeps every statement of every source (cast, director, keywords, tags, plots too), because an
explanation claim is supported when *some* raw file says so. Title matching uses
``raw_facts.normalise_title``; nothing is shared with ``movierec_catalog`` or the ranker: its own
parsing (``csv``/``json`` from the standard library), its own joins and its own (small)
normalisation, so a bug in the catalog build or in the ranker's facts shows up as a disagreement
instead of being repeated. Sources (``data_dir``, see the data README): MovieLens ``movies.csv``
(title, year in the title, genres), ``links.csv`` (TMDB ids), ``tags.csv``; TMDB 5000 (genres,
keywords, runtime, release year, overview) joined by tmdbId; the OMDb file ``movies_extrainfos.dat``
(year, MPAA rating, genres, director, actors, plot) joined by movieId only when its year is within
one of the MovieLens year; IMDb top 1000 (year, certificate, runtime, genre, director, stars,
overview) joined by normalised title + year.

A fact is **stated** when at least one source states it (union over sources): the checker asks
"does any raw file say so?", not "which source did the catalog prefer?". Values are compared
case-insensitively; genre names go through ``GENRE_ALIASES`` (TMDB's and OMDb's names for
MovieLens's genres); certifications must be stated literally (a rating the catalog derived, e.g.
from an Indian CBFC code, is *not* stated by a raw source and is reported as such).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from movierec_eval.raw_facts import normalise_title

GENRE_ALIASES = {"science fiction": "sci-fi", "family": "children", "music": "musical", "biography": "biography",
                 "film-noir": "film-noir", "film noir": "film-noir", "tv movie": "tv movie"}
_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")
# MovieLens appends alternate titles in parentheses: "Harry Potter and the Sorcerer's Stone (a.k.a. Harry
# Potter and the Philosopher's Stone)". Each is a title of the movie of its own (IMDb names it by one of them).
_ALTERNATE_TITLE = re.compile(r"\s*\((?:a\.k\.a\.\s*)?([^()]+)\)")


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().split())


def _genre(text: str) -> str:
    value = _norm(text)
    return GENRE_ALIASES.get(value, value)


def title_key(title: str) -> str:
    """A trailing ", The" / ", A" moved to the front (MovieLens style), then ``raw_facts.normalise_title``."""
    title = _YEAR_IN_TITLE.sub("", title).strip()
    match = re.fullmatch(r"(.*), (The|A|An)", title)
    if match:
        title = f"{match.group(2)} {match.group(1)}"
    return normalise_title(title)


def _ml_titles(title: str) -> set[str]:
    """A MovieLens title as written, without its parenthesised alternates, and each alternate."""
    main = _ALTERNATE_TITLE.sub("", title).strip()
    return {t for t in {title, main, *(a.strip() for a in _ALTERNATE_TITLE.findall(title))} if t}


def _int(text: str | None) -> int | None:
    match = re.search(r"\d+", text or "")
    return int(match.group()) if match else None


@dataclass
class RawMovie:
    movie_id: int
    titles: set[str] = field(default_factory=set)
    years: set[int] = field(default_factory=set)
    genres: set[str] = field(default_factory=set)
    keywords: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    directors: set[str] = field(default_factory=set)
    cast: set[str] = field(default_factory=set)
    runtimes: set[int] = field(default_factory=set)
    certifications: set[str] = field(default_factory=set)
    texts: list[str] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)

    @property
    def decades(self) -> set[int]:
        return {y // 10 * 10 for y in self.years}

    def shared_facts(self, other: RawMovie) -> dict[str, list[str]]:
        """Facts both movies have (genres, keywords, directors, cast)."""
        return {kind: sorted(getattr(self, kind) & getattr(other, kind))
                for kind in ("genres", "keywords", "directors", "cast") if getattr(self, kind) & getattr(other, kind)}


class RawClaims:
    """``RawClaims.load(data_dir)[movie_id]`` → :class:`RawMovie` (None for an unknown id)."""

    def __init__(self, movies: dict[int, RawMovie], data_dir: Path | None = None):
        self.movies = movies
        self.data_dir = data_dir
        self._rated_at: dict[int, dict[int, int]] | None = None

    def get(self, movie_id: int) -> RawMovie | None:
        return self.movies.get(int(movie_id))

    def followers(self, first: int, then: int) -> int:
        """How many users of the raw ``ratings.csv`` rated ``then`` at or after the moment they rated ``first``."""
        if self._rated_at is None:
            self._rated_at = {}
            with open(self.data_dir / "ml-latest-small" / "ratings.csv", newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    self._rated_at.setdefault(int(row["movieId"]), {})[int(row["userId"])] = int(row["timestamp"])
        a, b = self._rated_at.get(int(first), {}), self._rated_at.get(int(then), {})
        return sum(1 for user, t in a.items() if user in b and b[user] >= t)

    @classmethod
    def load(cls, data_dir: Path) -> RawClaims:
        movies: dict[int, RawMovie] = {}
        ml = data_dir / "ml-latest-small"
        with open(ml / "movies.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                movie = movies.setdefault(int(row["movieId"]), RawMovie(int(row["movieId"])))
                movie.titles |= _ml_titles(_YEAR_IN_TITLE.sub("", row["title"]).strip())
                year = _YEAR_IN_TITLE.search(row["title"])
                if year:
                    movie.years.add(int(year.group(1)))
                movie.genres |= {_genre(g) for g in row["genres"].split("|") if g != "(no genres listed)"}
                movie.sources.add("movielens")
        with open(ml / "tags.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if int(row["movieId"]) in movies:
                    movies[int(row["movieId"])].tags.add(_norm(row["tag"]))
        tmdb_to_ml = {}
        with open(ml / "links.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["tmdbId"]:
                    tmdb_to_ml[int(row["tmdbId"])] = int(row["movieId"])
        cls._tmdb(data_dir / "tmdb_5000_movies.csv", tmdb_to_ml, movies)
        cls._omdb(data_dir / "movies_extrainfos.dat", movies)
        cls._imdb(data_dir / "imdb_top_1000.csv", movies)
        return cls(movies, data_dir)

    @staticmethod
    def _tmdb(path: Path, tmdb_to_ml: dict[int, int], movies: dict[int, RawMovie]) -> None:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                movie = movies.get(tmdb_to_ml.get(int(row["id"]), -1))
                if movie is None:
                    continue
                movie.genres |= {_genre(g["name"]) for g in json.loads(row["genres"] or "[]")}
                movie.keywords |= {_norm(k["name"]) for k in json.loads(row["keywords"] or "[]")}
                if _int(row["runtime"]):
                    movie.runtimes.add(int(float(row["runtime"])))
                if row["release_date"][:4].isdigit():
                    movie.years.add(int(row["release_date"][:4]))
                movie.titles.add(row["title"])
                movie.texts += [row["overview"], row["tagline"]]
                movie.sources.add("tmdb")

    @staticmethod
    def _omdb(path: Path, movies: dict[int, RawMovie]) -> None:
        with open(path, encoding="utf-8", newline="") as f:
            for line in f:
                parts = line.rstrip("\r\n").split("::")
                if len(parts) < 10 or not parts[0].isdigit():
                    continue
                movie = movies.get(int(parts[0]))
                year = _int(parts[2])
                if movie is None or year is None or not any(abs(year - y) <= 1 for y in movie.years):
                    continue  # a MeLU row whose movieId is another movie in this MovieLens edition
                movie.years.add(year)
                if parts[3] and parts[3] not in ("N/A", "UNRATED", "NOT RATED"):
                    movie.certifications.add(parts[3].strip())
                movie.genres |= {_genre(g) for g in parts[5].split(",") if g.strip() and g.strip() != "N/A"}
                movie.directors |= {_norm(d) for d in parts[6].split(",") if d.strip() and d.strip() != "N/A"}
                movie.cast |= {_norm(a) for a in parts[8].split(",") if a.strip() and a.strip() != "N/A"}
                movie.texts.append(parts[9])
                movie.sources.add("omdb")

    @staticmethod
    def _imdb(path: Path, movies: dict[int, RawMovie]) -> None:
        by_title: dict[str, list[RawMovie]] = {}
        for movie in movies.values():
            for key in {title_key(t) for t in movie.titles}:
                by_title.setdefault(key, []).append(movie)
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                year = _int(row["Released_Year"])
                # the same title within a year (release dates differ by country): exactly one such movie
                found = [m for m in by_title.get(title_key(row["Series_Title"]), [])
                         if year and any(abs(year - y) <= 1 for y in m.years)]
                if len(found) != 1:
                    continue
                movie = found[0]
                if row["Certificate"].strip():
                    movie.certifications.add(row["Certificate"].strip())
                if _int(row["Runtime"]):
                    movie.runtimes.add(_int(row["Runtime"]))
                movie.genres |= {_genre(g) for g in row["Genre"].split(",") if g.strip()}
                movie.directors.add(_norm(row["Director"]))
                movie.cast |= {_norm(row[f"Star{i}"]) for i in range(1, 5) if row[f"Star{i}"].strip()}
                movie.texts.append(row["Overview"])
                movie.sources.add("imdb")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", text.lower())


def stated_reason(kind: str, value: str, movie: RawMovie | None) -> str | None:
    """Why no raw source states that ``movie`` has this ``kind``/``value`` (None: some source does)."""
    if movie is None:
        return "movie not in the raw MovieLens files"
    lowered = _norm(value)
    checks = {
        "FACTOR_KIND_GENRE": lambda: _genre(value) in movie.genres,
        "FACTOR_KIND_KEYWORD": lambda: lowered in movie.keywords,
        "FACTOR_KIND_TAG": lambda: lowered in movie.tags,
        # a co-directed film's claim names every director: each must be stated
        "FACTOR_KIND_DIRECTOR": lambda: all(_norm(d) in movie.directors for d in value.split(",")),
        "FACTOR_KIND_CAST": lambda: lowered in movie.cast,
        "FACTOR_KIND_DECADE": lambda: bool(m := re.fullmatch(r"(\d{4})s", value.strip())) and int(m.group(1))
        in movie.decades,
        "FACTOR_KIND_RUNTIME": lambda: _int(value) in movie.runtimes and bool(re.fullmatch(r"\d+ min", value.strip())),
        "FACTOR_KIND_CERTIFICATION": lambda: value.strip() in movie.certifications,
    }
    check = checks.get(kind)
    if check is None:
        return f"{kind} is not a movie fact the raw checker knows"
    if check():
        return None
    return f"no raw source ({', '.join(sorted(movie.sources))}) states {kind.removeprefix('FACTOR_KIND_').lower()} " \
           f"{value!r}"


def mentions(term: str, movie: RawMovie) -> bool:
    """A request word occurs in the movie's raw title, genres, keywords, tags or plot texts."""
    wanted = term.lower().strip()
    pool = " ".join([*movie.titles, *movie.genres, *movie.keywords, *movie.tags, *movie.texts])
    words = set(_words(pool))
    return wanted in words or wanted.rstrip("s") in {w.rstrip("s") for w in words}
