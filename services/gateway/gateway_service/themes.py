"""Serving the themes artifact (built offline by :mod:`movierec_jobs.themes`, ``make themes``).

The gateway loads ``artifacts/themes/current/themes.json`` at start (``MOVIEREC_THEMES_DIR`` overrides
the directory); without it the theme routes answer 503 in words and the home page simply has no theme
carousel. A user's themes come from their favourites (the Taste Wrapped top movies: best-rated, then
the onboarding picks): the theme holding most of them first, ties broken by the better-rated.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gateway_service.fallback import decade_of
from movierec_catalog import Catalog
from movierec_core.paths import artifacts_dir

log = logging.getLogger("movierec.gateway.themes")

SHARED_FACT_MIN = 0.5  # a fact in a pattern line is true of at least half of the favourites it is about
SHARED_FACTS_SHOWN = 3


@dataclass(frozen=True)
class Theme:
    theme_id: int
    name: str
    movie_ids: tuple[int, ...]  # most central first
    name_terms: tuple[dict, ...]
    distinctive_terms: tuple[dict, ...]

    @property
    def size(self) -> int:
        return len(self.movie_ids)


class ThemeIndex:
    def __init__(self, data: dict):
        self.key = data.get("key", "")
        self.k = int(data["k"])
        self.silhouette = float(data["silhouette"])
        self.index_version = data["inputs"]["index_version"]
        self.themes = [Theme(t["id"], t["name"], tuple(t["movieIds"]), tuple(t["nameTerms"]),
                             tuple(t["distinctiveTerms"])) for t in data["themes"]]
        self.theme_of = {movie_id: theme.theme_id for theme in self.themes for movie_id in theme.movie_ids}

    def get(self, theme_id: int) -> Theme | None:
        return self.themes[theme_id] if 0 <= theme_id < len(self.themes) else None


def default_dir() -> Path:
    return Path(os.environ.get("MOVIEREC_THEMES_DIR", artifacts_dir() / "themes" / "current"))


def load_themes(directory: Path | None = None) -> ThemeIndex | None:
    """The served themes, or None (logged) when the artifact is missing or unreadable."""
    file = (directory or default_dir()) / "themes.json"
    try:
        return ThemeIndex(json.loads(file.read_text()))
    except FileNotFoundError:
        log.warning("no themes artifact; theme routes answer 503 until `make themes` has run",
                    extra={"path": str(file)})
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.error("themes artifact unreadable; theme routes answer 503",
                  extra={"path": str(file), "error": repr(error)})
    return None


@dataclass(frozen=True)
class UserThemeFacts:
    theme: Theme
    movie_ids: tuple[int, ...]  # the favourites in the theme
    favourites: int
    shared_facts: tuple[str, ...]

    @property
    def pattern(self) -> str:
        n, total = len(self.movie_ids), self.favourites
        what = "favourite is" if total == 1 else ("favourites are" if n != 1 else "favourites is")
        line = f"{n} of your {total} {what} in *{self.theme.name}*"
        return f"{line}: {', '.join(self.shared_facts)}" if self.shared_facts else line


def shared_facts(catalog: Catalog, movie_ids: list[int]) -> list[str]:
    """The facts true of at least half (and at least two) of ``movie_ids``: TMDB keywords, MovieLens tags,
    the decade and genres, most common first (ties: descriptors before decades before genres)."""
    movies = [m for mid in movie_ids if (m := catalog.get(mid)) is not None]
    counts: Counter[tuple[int, str]] = Counter()
    for movie in movies:
        facts = {(0, t.lower()) for t in (*movie.keywords, *movie.tags)}
        if (decade := decade_of(movie.year)) is not None:
            facts.add((1, decade))
        facts |= {(2, g) for g in movie.genres if g != "IMAX"}
        counts.update(facts)
    needed = max(2, -(-len(movies) * SHARED_FACT_MIN // 1))
    kept = [(n, rank, text) for (rank, text), n in counts.items() if n >= needed]
    kept.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [text for _, _, text in kept[:SHARED_FACTS_SHOWN]]


def user_themes(index: ThemeIndex, catalog: Catalog, favourites: list[int], limit: int = 3) -> list[UserThemeFacts]:
    """Themes by how many of ``favourites`` (best first) they hold; ties by the best-placed favourite."""
    by_theme: dict[int, list[int]] = {}
    for movie_id in favourites:
        if (theme_id := index.theme_of.get(movie_id)) is not None:
            by_theme.setdefault(theme_id, []).append(movie_id)
    ordered = sorted(by_theme.items(), key=lambda kv: (-len(kv[1]), favourites.index(kv[1][0])))
    return [UserThemeFacts(index.themes[theme_id], tuple(ids), len(favourites),
                           tuple(shared_facts(catalog, ids) if len(ids) >= 2 else ()))
            for theme_id, ids in ordered[:limit]]


FAVOURITE_MIN_RATING = 3.5
FAVOURITES = 5


def favourite_ids(ratings: dict[int, float], liked: list[int], limit: int = FAVOURITES) -> list[int]:
    """A user's favourites, best first: movies rated ≥ 3.5 (higher first), then onboarding picks not rated
    (the Taste Wrapped top movies and the home page's theme carousel use this one rule)."""
    rated = [m for m, r in sorted(ratings.items(), key=lambda kv: (-kv[1], kv[0])) if r >= FAVOURITE_MIN_RATING]
    return (rated + [m for m in liked if m not in ratings])[:limit]
