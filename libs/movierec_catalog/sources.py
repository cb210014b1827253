"""Readers for the raw inputs. Each returns plain Python records; malformed rows are counted in
an :class:`Issues` object and logged to stderr, never fatal."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .text import clean_text, is_missing, parse_ml_title

log = logging.getLogger("movierec_catalog")

_MAX_LOGGED_PER_KIND = 10


@dataclass
class Issues:
    """Counts malformed rows by kind ("tmdb.genres_json", ...); logs the first few of each kind."""

    counts: Counter = field(default_factory=Counter)

    def add(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= _MAX_LOGGED_PER_KIND:
            log.warning("malformed %s: %s", kind, detail[:200])
        elif self.counts[kind] == _MAX_LOGGED_PER_KIND + 1:
            log.warning("malformed %s: further rows of this kind are counted, not logged", kind)


def read_text(path: Path, issues: Issues, kind: str) -> str:
    """Decode a file as UTF-8 (BOM tolerated); fall back to cp1252/latin-1 line by line."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    lines = []
    for i, line in enumerate(raw.split(b"\n"), start=1):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            issues.add(f"{kind}.encoding", f"{path.name} line {i} is not UTF-8; decoded as cp1252")
            lines.append(line.decode("cp1252", errors="replace"))
    return "\n".join(lines)


def _csv_rows(path: Path, issues: Issues, kind: str, required: tuple[str, ...]):
    """Yield (line_no, dict) for well-formed CSV rows; rows with a wrong field count are skipped."""
    reader = csv.DictReader(io.StringIO(read_text(path, issues, kind), newline=""))
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    for row in reader:
        if None in row or None in row.values():
            issues.add(f"{kind}.row", f"{path.name} line {reader.line_num}: wrong number of fields")
            continue
        yield reader.line_num, row


def _int(value: str) -> int | None:
    value = value.strip()
    return int(value) if re.fullmatch(r"-?\d+", value) else None


def _float(value: str) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if out != out else out  # NaN -> None


# --- MovieLens -----------------------------------------------------------------------------


def read_ml_movies(path: Path, issues: Issues) -> dict[int, dict]:
    """movieId -> {title, year, main_title, alt_titles, genres}."""
    out: dict[int, dict] = {}
    for line, row in _csv_rows(path, issues, "movies", ("movieId", "title", "genres")):
        mid = _int(row["movieId"])
        if mid is None or mid in out:
            issues.add("movies.id", f"line {line}: bad or duplicate movieId {row['movieId']!r}")
            continue
        title, year, main, alts = parse_ml_title(row["title"])
        if not title:
            issues.add("movies.title", f"line {line}: empty title")
            continue
        genres = [g.strip() for g in row["genres"].split("|") if g.strip() and g.strip() != "(no genres listed)"]
        out[mid] = {"title": title, "year": year, "main_title": main, "alt_titles": alts, "genres": genres}
    return out


def read_ml_links(path: Path, issues: Issues) -> dict[int, dict]:
    """movieId -> {imdb_id ("tt0114709" or None), tmdb_id (int or None)}."""
    out: dict[int, dict] = {}
    for line, row in _csv_rows(path, issues, "links", ("movieId", "imdbId", "tmdbId")):
        mid = _int(row["movieId"])
        if mid is None:
            issues.add("links.id", f"line {line}: bad movieId {row['movieId']!r}")
            continue
        imdb, tmdb = row["imdbId"].strip(), row["tmdbId"].strip()
        tmdb_id = _int(tmdb) if tmdb else None
        if tmdb and tmdb_id is None:
            issues.add("links.tmdbId", f"line {line}: bad tmdbId {tmdb!r}")
        if imdb and not imdb.isdigit():
            issues.add("links.imdbId", f"line {line}: bad imdbId {imdb!r}")
            imdb = ""
        out[mid] = {"imdb_id": f"tt{imdb.zfill(7)}" if imdb else None, "tmdb_id": tmdb_id}
    return out


def read_ml_tags(path: Path, issues: Issues, max_tags: int = 15) -> dict[int, list[str]]:
    """movieId -> tags lowercased and deduplicated, most frequent first (ties alphabetical)."""
    counts: dict[int, Counter] = defaultdict(Counter)
    for line, row in _csv_rows(path, issues, "tags", ("movieId", "tag")):
        mid, tag = _int(row["movieId"]), clean_text(row["tag"])
        if mid is None:
            issues.add("tags.id", f"line {line}: bad movieId {row['movieId']!r}")
            continue
        if tag:
            counts[mid][tag.lower()] += 1
    return {
        mid: [t for t, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))][:max_tags] for mid, c in counts.items()
    }


def read_ml_ratings(path: Path, issues: Issues) -> pd.DataFrame:
    """user_id, movie_id, rating (float), timestamp (int); unparsable or out-of-range rows dropped."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"userId", "movieId", "rating", "timestamp"} - set(raw.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    df = pd.DataFrame(
        {
            "user_id": pd.to_numeric(raw["userId"], errors="coerce"),
            "movie_id": pd.to_numeric(raw["movieId"], errors="coerce"),
            "rating": pd.to_numeric(raw["rating"], errors="coerce"),
            "timestamp": pd.to_numeric(raw["timestamp"], errors="coerce"),
        }
    )
    bad = df.isna().any(axis=1) | ~df["rating"].between(0.5, 5.0)
    for idx in df.index[bad][:_MAX_LOGGED_PER_KIND]:
        issues.add("ratings.row", f"line {idx + 2}: {raw.loc[idx].to_dict()}")
    if bad.sum() > _MAX_LOGGED_PER_KIND:
        issues.counts["ratings.row"] += int(bad.sum()) - _MAX_LOGGED_PER_KIND
    df = df[~bad]
    return df.astype({"user_id": "int64", "movie_id": "int64", "rating": "float64", "timestamp": "int64"}).reset_index(
        drop=True
    )


# --- TMDB 5000 -----------------------------------------------------------------------------


def _json_names(value: str, issues: Issues, kind: str, where: str) -> list[str]:
    if is_missing(value):
        return []
    try:
        items = json.loads(value)
        names = [clean_text(item["name"]) for item in items]
    except (ValueError, TypeError, KeyError) as exc:
        issues.add(kind, f"{where}: {type(exc).__name__}: {value[:80]!r}")
        return []
    return [n for n in names if n]


def read_tmdb(path: Path, issues: Issues) -> dict[int, dict]:
    """tmdb id -> cleaned TMDB fields (genres, keywords, overview, runtime, votes, ...)."""
    cols = (
        "id",
        "genres",
        "keywords",
        "overview",
        "runtime",
        "release_date",
        "vote_average",
        "vote_count",
        "popularity",
        "original_language",
        "title",
        "original_title",
    )
    out: dict[int, dict] = {}
    for line, row in _csv_rows(path, issues, "tmdb", cols):
        where = f"line {line} (id {row['id']})"
        tid = _int(row["id"])
        if tid is None or tid in out:
            issues.add("tmdb.id", f"{where}: bad or duplicate id")
            continue
        out[tid] = _tmdb_record(row, issues, where)
    return out


def _tmdb_record(row: dict, issues: Issues, where: str) -> dict:
    runtime = _float(row["runtime"]) if not is_missing(row["runtime"]) else None
    if not is_missing(row["runtime"]) and runtime is None:
        issues.add("tmdb.runtime", f"{where}: runtime {row['runtime']!r}")
    date = row["release_date"].strip()
    year = int(date[:4]) if re.match(r"^\d{4}-\d{2}-\d{2}$", date) else None
    if date and year is None:
        issues.add("tmdb.release_date", f"{where}: release_date {date!r}")
    vote_count = _int(row["vote_count"]) if row["vote_count"].strip() else None
    return {
        "genres": _json_names(row["genres"], issues, "tmdb.genres_json", where),
        "keywords": _json_names(row["keywords"], issues, "tmdb.keywords_json", where),
        "overview": clean_text(row["overview"]),
        # 0 means "unknown" in TMDB, not a zero-minute film.
        "runtime_min": round(runtime) if runtime and runtime > 0 else None,
        "year": year,
        # An average over zero votes is not a rating.
        "vote_average": _float(row["vote_average"]) if vote_count else None,
        "vote_count": vote_count,
        "popularity": _float(row["popularity"]),
        "original_language": clean_text(row["original_language"]),
        "titles": [t for t in (clean_text(row["title"]), clean_text(row["original_title"])) if t],
    }


# --- OMDb-derived extra info (MeLU movies_extrainfos.dat) ------------------------------------

EXTRAINFO_FIELDS = (
    "movie_id",
    "title",
    "year",
    "rated",
    "released",
    "genres",
    "director",
    "writers",
    "actors",
    "plot",
    "poster",
)


def read_extrainfos(path: Path, issues: Issues) -> dict[int, dict]:
    """movieId -> {title, year, rated, genres[], director, actors[], plot, poster}; "N/A" -> None.

    Lines are "::"-separated with CRLF ends; a line with the wrong number of fields or a
    non-numeric id is counted as malformed and skipped.
    """
    out: dict[int, dict] = {}
    text = read_text(path, issues, "extrainfos")
    for line_no, line in enumerate(re.split(r"\r?\n", text), start=1):
        if not line.strip():
            continue
        parts = line.split("::")
        mid = _int(parts[0]) if parts else None
        if len(parts) != len(EXTRAINFO_FIELDS) or mid is None or mid in out:
            issues.add("extrainfos.line", f"line {line_no}: {len(parts)} fields: {line[:80]!r}")
            continue
        rec = dict(zip(EXTRAINFO_FIELDS, parts, strict=True))
        actors = clean_text(rec["actors"])
        out[mid] = {
            "title": clean_text(rec["title"]),
            "year": _int(rec["year"]),
            "rated": clean_text(rec["rated"]),
            "released": clean_text(rec["released"]),
            "genres": [g for g in (clean_text(x) for x in rec["genres"].split(",")) if g],
            "director": clean_text(rec["director"]),
            "actors": [a for a in (clean_text(x) for x in (actors or "").split(",")) if a],
            "plot": clean_text(rec["plot"]),
            "poster": clean_text(rec["poster"]),
        }
    return out


# --- IMDb top 1000 --------------------------------------------------------------------------


def read_imdb_top(path: Path, issues: Issues) -> list[dict]:
    """Rows of the IMDb top 1000 with a parsable year (the only way to match them)."""
    cols = (
        "Series_Title",
        "Released_Year",
        "Certificate",
        "Runtime",
        "IMDB_Rating",
        "Overview",
        "Director",
        "Star1",
        "Star2",
        "Star3",
        "Star4",
        "Poster_Link",
    )
    out = []
    for line, row in _csv_rows(path, issues, "imdb", cols):
        where = f"line {line} ({row['Series_Title']!r})"
        year = _int(row["Released_Year"])
        if year is None:
            issues.add("imdb.year", f"{where}: Released_Year {row['Released_Year']!r}")
            continue
        runtime = re.fullmatch(r"\s*(\d+)\s*min\s*", row["Runtime"])
        if not runtime and not is_missing(row["Runtime"]):
            issues.add("imdb.runtime", f"{where}: Runtime {row['Runtime']!r}")
        rating = _float(row["IMDB_Rating"])
        if rating is None and not is_missing(row["IMDB_Rating"]):
            issues.add("imdb.rating", f"{where}: IMDB_Rating {row['IMDB_Rating']!r}")
        out.append(
            {
                "title": clean_text(row["Series_Title"]) or "",
                "year": year,
                "certificate": clean_text(row["Certificate"]),
                "runtime_min": int(runtime.group(1)) if runtime and int(runtime.group(1)) > 0 else None,
                "imdb_rating": rating,
                "overview": clean_text(row["Overview"]),
                "director": clean_text(row["Director"]),
                "stars": [s for s in (clean_text(row[f"Star{i}"]) for i in range(1, 5)) if s],
                "poster": clean_text(row["Poster_Link"]),
            }
        )
    return out
