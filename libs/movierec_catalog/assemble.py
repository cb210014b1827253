"""Join the parsed sources into one normalized movie table (a list of records)."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

import pandas as pd

from .people import RULES, Credits, RoleSplit, fold, split_imdb_credits, split_names
from .text import title_key

log = logging.getLogger("movierec_catalog")

# TMDB genre -> MovieLens genre. Only unambiguous equivalents; TMDB "Family" (only 63% of
# TMDB-Family films are MovieLens "Children"), "Music" (not "Musical"), "History", "Foreign" and
# "TV Movie" have no clear MovieLens counterpart and are not mapped.
TMDB_GENRE_MAP = {
    g: g
    for g in (
        "Action",
        "Adventure",
        "Animation",
        "Comedy",
        "Crime",
        "Documentary",
        "Drama",
        "Fantasy",
        "Horror",
        "Mystery",
        "Romance",
        "Thriller",
        "War",
        "Western",
    )
}
TMDB_GENRE_MAP["Science Fiction"] = "Sci-Fi"

# OMDb genre names that differ from MovieLens ones (used only to sanity-check OMDb rows).
OMDB_GENRE_ALIASES = {"Family": "Children", "Music": "Musical"}

MPAA = ("G", "PG", "PG-13", "R", "NC-17")
# Raw certificate (upper-cased) -> MPAA rating. Anything not listed is unknown (null):
# UNRATED / NOT RATED / N/A, Production Code "Approved"/"Passed", the historic "GP"/"X",
# TV ratings (TV-PG, TV-14, TV-MA) and the Indian CBFC "U", "UA", "U/A", "A" of the IMDb file.
CERTIFICATION_MAP = {c: c for c in MPAA}

MAX_CAST = 5
MAX_EMBED_CHARS = 1500


@dataclass
class Sources:
    """Parsed inputs; optional ones are empty when their file is absent."""

    movies: dict[int, dict]
    links: dict[int, dict]
    ratings: pd.DataFrame
    tags: dict[int, list[str]] = field(default_factory=dict)
    tmdb: dict[int, dict] = field(default_factory=dict)
    extrainfos: dict[int, dict] = field(default_factory=dict)
    imdb: list[dict] = field(default_factory=list)


def map_certification(raw: str | None) -> str | None:
    return CERTIFICATION_MAP.get(raw.strip().upper()) if raw else None


def _alias_index(src: Sources) -> dict[tuple[str, int], set[int]]:
    """(title key, year) -> movie ids, over every known title and year of each movie."""
    index: dict[tuple[str, int], set[int]] = defaultdict(set)
    for mid, m in src.movies.items():
        tm = src.tmdb.get((src.links.get(mid) or {}).get("tmdb_id"), {})
        om = src.extrainfos.get(mid, {})
        titles = [m["title"], m["main_title"], *m["alt_titles"], *tm.get("titles", []), om.get("title")]
        years = {y for y in (m["year"], tm.get("year"), om.get("year")) if y}
        for t in filter(None, titles):
            for y in years:
                index[(title_key(t), y)].add(mid)
    return index


def match_imdb(src: Sources) -> tuple[dict[int, dict], dict]:
    """Match IMDb top-1000 rows to MovieLens ids by normalized title + year.

    A movie's aliases are its MovieLens title (full, main and alternate titles) plus its TMDB
    title/original title and OMDb title; its years are the MovieLens, TMDB and OMDb years. Rows
    without an exact-year match get a second pass at year ±1 (release dates differ by country),
    accepted only when it finds exactly one movie not matched already. A row matching several
    movies, or a movie matched by several rows, is left unmatched (counted as ambiguous).
    """
    index = _alias_index(src)
    by_movie: dict[int, list[dict]] = defaultdict(list)
    stats = {"rows": len(src.imdb), "matched": 0, "matched_year_off_by_one": 0, "unmatched": 0, "ambiguous": 0}
    pending = []
    for row in src.imdb:
        cands = index.get((title_key(row["title"]), row["year"]), set())
        if len(cands) == 1:
            by_movie[next(iter(cands))].append(row)
        elif cands:
            stats["ambiguous"] += 1
        else:
            pending.append(row)
    for row in pending:
        key = title_key(row["title"])
        cands = index.get((key, row["year"] - 1), set()) | index.get((key, row["year"] + 1), set())
        cands -= by_movie.keys()
        if len(cands) == 1:
            by_movie[next(iter(cands))].append(row)
            stats["matched_year_off_by_one"] += 1
        else:
            stats["ambiguous" if cands else "unmatched"] += 1
    out = {mid: rows[0] for mid, rows in by_movie.items() if len(rows) == 1}
    stats["ambiguous"] += sum(len(r) for r in by_movie.values() if len(r) > 1)
    stats["matched"] = len(out)
    return out, stats


def _same_person_list(a: str, b: str) -> bool:
    """True when two comma-separated name lists share a name (accent/case-insensitive)."""
    return bool({fold(x) for x in a.split(",")} & {fold(x) for x in b.split(",")})


def reject_wrong_omdb(src: Sources, imdb: dict[int, dict]) -> dict[int, str]:
    """Find OMDb rows that describe a different film than the MovieLens id they are keyed by.

    The MeLU file was fetched by title, and a few rows are another film of the same title
    (e.g. Blood Simple 1984 -> a Korean short). A row is rejected when:
    - its director disagrees with the IMDb top-1000 row matched to the same movie;
    - its genre is "Adult" (MovieLens has no adult films);
    - it is a stub without plot, poster and release date (every such row in this file is a
      wrong hit, e.g. "Dear Diary" -> a David Frankel short);
    - its title matches none of the movie's titles AND its genres share none with MovieLens'.
    Returns movie_id -> reason; rejected rows are not used at all.
    """
    out: dict[int, str] = {}
    for mid, om in src.extrainfos.items():
        m = src.movies.get(mid)
        if m is None:
            continue
        im_dir = imdb.get(mid, {}).get("director")
        tm = src.tmdb.get((src.links.get(mid) or {}).get("tmdb_id"), {})
        keys = {title_key(t) for t in (m["title"], m["main_title"], *m["alt_titles"], *tm.get("titles", []))}
        mapped = {OMDB_GENRE_ALIASES.get(g, g) for g in om["genres"]}
        if om.get("director") and im_dir and not _same_person_list(om["director"], im_dir):
            out[mid] = f"director {om['director']!r} != IMDb top-1000 {im_dir!r}"
        elif "Adult" in om["genres"]:
            out[mid] = "genre Adult"
        elif not (om.get("plot") or om.get("poster") or om.get("released")):
            out[mid] = "stub record without plot, poster or release date"
        elif om.get("title") and title_key(om["title"]) not in keys and m["genres"] and not mapped & set(m["genres"]):
            out[mid] = f"title {om['title']!r} and genres {om['genres']} match neither"
    for mid, reason in sorted(out.items()):
        log.warning("ignoring OMDb row for movie %d (%s): %s", mid, src.movies[mid]["title"], reason)
    return out


def rating_stats(ratings: pd.DataFrame) -> dict[int, tuple[float, int]]:
    agg = ratings.groupby("movie_id")["rating"].agg(["mean", "count"])
    return {int(mid): (float(r["mean"]), int(r["count"])) for mid, r in agg.iterrows()}


def choose_canonical(src: Sources, counts: dict[int, int]) -> tuple[dict[int, int], list[dict]]:
    """Resolve movies sharing a canonical key: keep the one with most ratings (then lowest id).

    Returns (dropped movie_id -> kept movie_id, report entries).
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for mid in src.movies:
        groups[canonical_key(mid, src.links.get(mid, {}).get("tmdb_id"))].append(mid)
    remap, report = {}, []
    for key, mids in groups.items():
        if len(mids) < 2:
            continue
        kept = min(mids, key=lambda m: (-counts.get(m, 0), m))
        for mid in mids:
            if mid != kept:
                remap[mid] = kept
                report.append(
                    {
                        "movie_id": mid,
                        "kept_movie_id": kept,
                        "canonical_key": key,
                        "title": src.movies[mid]["title"],
                        "ratings": counts.get(mid, 0),
                        "kept_ratings": counts.get(kept, 0),
                    }
                )
    return remap, report


def canonical_key(movie_id: int, tmdb_id: int | None) -> str:
    return f"tmdb:{tmdb_id}" if tmdb_id is not None else f"movielens:{movie_id}"


def remap_ratings(ratings: pd.DataFrame, remap: dict[int, int]) -> tuple[pd.DataFrame, int]:
    """Point ratings of dropped duplicates at the kept movie; when a user rated both, keep the
    latest rating. Returns (ratings, number of collapsed duplicate user/movie pairs)."""
    if not remap:
        return ratings, 0
    out = ratings.assign(movie_id=ratings["movie_id"].replace(remap))
    out = out.sort_values(["user_id", "movie_id", "timestamp"])
    deduped = out.drop_duplicates(["user_id", "movie_id"], keep="last")
    return deduped.sort_index().reset_index(drop=True), len(out) - len(deduped)


def merge_genres(ml_genres: list[str], tmdb_genres: list[str]) -> list[str]:
    out = list(ml_genres)
    for g in tmdb_genres:
        mapped = TMDB_GENRE_MAP.get(g)
        if mapped and mapped not in out:
            out.append(mapped)
    return out


def _first(*values):
    return next((v for v in values if v is not None), None)


def _people(om: dict, im: dict, roles: RoleSplit | None) -> tuple[str | None, list[str]]:
    """(director, cast): OMDb when it has them, else the IMDb row split by role (people.py)."""
    im_directors = roles.directors if roles else split_names(im.get("director"))
    directors = split_names(om.get("director")) or im_directors
    cast = om.get("actors") or (roles.cast if roles else im.get("stars")) or []
    return (", ".join(directors) or None), cast[:MAX_CAST]


def build_record(
    mid: int, src: Sources, imdb: dict[int, dict], stats: dict, roles: dict[int, RoleSplit] | None = None
) -> dict:
    """One catalog row: MovieLens base, then TMDB > OMDb > IMDb for each field (see README)."""
    m, link = src.movies[mid], src.links.get(mid, {})
    tmdb_id = link.get("tmdb_id")
    tm, om, im = src.tmdb.get(tmdb_id, {}), src.extrainfos.get(mid, {}), imdb.get(mid, {})
    director, cast = _people(om, im, (roles or {}).get(mid))
    om_cert, im_cert = map_certification(om.get("rated")), map_certification(im.get("certificate"))
    mean, count = stats.get(mid, (None, 0))
    rec = {
        "movie_id": mid,
        "canonical_key": canonical_key(mid, tmdb_id),
        "tmdb_id": tmdb_id,
        "imdb_id": link.get("imdb_id"),
        "title": m["title"],
        "year": _first(m["year"], tm.get("year"), om.get("year")),
        "genres": merge_genres(m["genres"], tm.get("genres", [])),
        "overview": _first(tm.get("overview"), om.get("plot"), im.get("overview")),
        "keywords": list(tm.get("keywords", [])),
        "tags": list(src.tags.get(mid, [])),
        "director": director,
        "cast": cast,
        "runtime_min": _first(tm.get("runtime_min"), im.get("runtime_min")),
        "certification": om_cert or im_cert,
        "certification_source": "omdb" if om_cert else ("imdb_top_1000" if im_cert else None),
        "vote_average": tm.get("vote_average"),
        "vote_count": tm.get("vote_count"),
        "popularity": tm.get("popularity"),
        "imdb_rating": im.get("imdb_rating"),
        "ml_rating_mean": mean,
        "ml_rating_count": count,
        "poster_url": _first(om.get("poster"), im.get("poster")),
        "original_language": tm.get("original_language"),
    }
    rec["embedding_text"] = embedding_text(rec)
    return rec


def _sentence(label: str, value: str) -> str:
    value = value.strip()
    return f"{label}: {value}" + ("" if value.endswith((".", "!", "?", "…")) else ".")


def _truncate_words(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)].rsplit(" ", 1)[0].rstrip(",;:- ")
    return f"{cut}…" if cut else ""


def embedding_text(rec: dict, max_chars: int = MAX_EMBED_CHARS) -> str:
    """Template text: "Title: X (1999). Genres: …. Plot: …. Director: …. Keywords: …. Tags: …. Cast: …."

    Missing parts are omitted. The most informative parts come first because the embedding
    model truncates at 256 tokens; the plot is shortened (at a word boundary) so that the whole
    text fits in ``max_chars``.
    """
    title = f"{rec['title']} ({rec['year']})" if rec.get("year") else rec["title"]
    head = [_sentence("Title", title)]
    if rec["genres"]:
        head.append(_sentence("Genres", ", ".join(rec["genres"])))
    tail = []
    if rec.get("director"):
        tail.append(_sentence("Director", rec["director"]))
    for label, key, n in (("Keywords", "keywords", 12), ("Tags", "tags", 10), ("Cast", "cast", 5)):
        if rec.get(key):
            tail.append(_sentence(label, ", ".join(rec[key][:n])))
    parts = head
    if rec.get("overview"):
        budget = max_chars - len(" ".join(head + tail)) - len(" Plot: .")
        plot = _truncate_words(rec["overview"], max(budget, 200))
        if plot:
            parts = [*head, _sentence("Plot", plot)]
    text = " ".join(parts + tail)
    return text if len(text) <= max_chars else _truncate_words(text, max_chars)


def build_table(src: Sources) -> tuple[list[dict], pd.DataFrame, dict]:
    """Return (movie records, ratings, report) after joining, de-duplicating and remapping."""
    raw_counts = src.ratings["movie_id"].value_counts().to_dict()
    remap, dropped = choose_canonical(src, raw_counts)
    known = src.ratings["movie_id"].isin(src.movies.keys())
    ratings, collapsed = remap_ratings(src.ratings[known].reset_index(drop=True), remap)
    imdb, imdb_stats = match_imdb(src)
    rejected = reject_wrong_omdb(src, imdb)
    src = replace(src, extrainfos={k: v for k, v in src.extrainfos.items() if k not in rejected})
    stats = rating_stats(ratings)
    credits = Credits.collect(src.extrainfos, src.imdb)
    roles = {mid: split_imdb_credits(row, src.extrainfos.get(mid), credits, mid) for mid, row in imdb.items()}
    records = [build_record(mid, src, imdb, stats, roles) for mid in sorted(src.movies) if mid not in remap]
    kept = [mid for mid in src.movies if mid not in remap]
    report = {
        "joins": {
            "tmdb": sum(src.links.get(m, {}).get("tmdb_id") in src.tmdb for m in kept),
            "omdb_extrainfos": sum(m in src.extrainfos for m in kept),
            "imdb_top_1000": sum(m in imdb for m in kept),
            "movielens_tags": sum(m in src.tags for m in kept),
        },
        "duplicates_dropped": dropped,
        "ratings_unknown_movie_dropped": int((~known).sum()),
        "ratings_remapped_to_kept_duplicate": int(src.ratings["movie_id"].isin(remap.keys()).sum()),
        "ratings_collapsed_same_user_movie": collapsed,
        "imdb_top_1000_match": imdb_stats,
        "omdb_rows_rejected": [{"movie_id": k, "reason": v} for k, v in sorted(rejected.items())],
        "certification_conflicts": _certification_conflicts(records, src, imdb),
        "people_checks": people_checks(records, src, imdb, roles),
    }
    return records, ratings, report


def people_checks(records: list[dict], src: Sources, imdb: dict[int, dict], roles: dict[int, RoleSplit]) -> dict:
    """What the role cross-check changed in the catalog, and what is left to look at.

    ``cast_removed`` counts IMDb Star entries taken out of a catalog cast (by rule);
    ``directors_added`` the names added to a catalog director list; ``director_in_cast`` the
    movies whose cast still names one of their directors without OMDb listing them as an actor
    or the IMDb row listing them again as a Star (an acting director) — 0 after the repair.
    """
    by_id = {r["movie_id"]: r for r in records}
    removed: dict[str, int] = dict.fromkeys(RULES, 0)
    examples, added = [], 0
    for mid, split in sorted(roles.items()):
        rec = by_id.get(mid)
        if rec is None or src.extrainfos.get(mid, {}).get("actors"):
            continue  # dropped duplicate, or the cast came from OMDb (roles kept apart there)
        for name, rule in split.removed.items():
            removed[rule] += 1
            examples.append({"movie_id": mid, "title": rec["title"], "name": name, "rule": rule})
        added += sum(fold(n) in {fold(d) for d in split_names(rec["director"])} for n in split.removed)
    return {
        "cast_removed": sum(removed.values()),
        "cast_removed_by_rule": removed,
        "directors_added": added,
        "director_in_cast": _director_in_cast(records, src, imdb),
        "cast_removed_examples": examples,
    }


def _director_in_cast(records: list[dict], src: Sources, imdb: dict[int, dict]) -> int:
    count = 0
    for rec in records:
        mid = rec["movie_id"]
        directors = {fold(d) for d in split_names(rec["director"])}
        overlap = {fold(c) for c in rec["cast"]} & directors
        credited_as_cast = {fold(a) for a in src.extrainfos.get(mid, {}).get("actors", [])}
        # An IMDb name listed twice (Director + Star, or two Stars) is a director who also acts.
        row = imdb.get(mid, {})
        listed = Counter(fold(n) for n in [row.get("director") or "", *row.get("stars", [])])
        credited_as_cast |= {name for name, n in listed.items() if n > 1}
        count += bool(overlap - credited_as_cast)
    return count


def _certification_conflicts(records: list[dict], src: Sources, imdb: dict[int, dict]) -> dict:
    """How often OMDb and IMDb both give an MPAA rating, and how often they disagree."""
    both = disagree = 0
    for rec in records:
        om = map_certification(src.extrainfos.get(rec["movie_id"], {}).get("rated"))
        im = map_certification(imdb.get(rec["movie_id"], {}).get("certificate"))
        if om and im:
            both += 1
            disagree += om != im
    return {"both_known": both, "disagree": disagree}
