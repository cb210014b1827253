"""Resolving a phrase from a chat message to a catalog movie (exact title match only)."""

from __future__ import annotations

from functools import lru_cache

from gateway_service.constraints import TitleMatch, TitleResolver
from movierec_catalog import Catalog
from movierec_catalog.text import fold, peel_trailing_group

_ARTICLES = ("the ", "a ", "an ", "le ", "la ", "les ", "l ", "el ", "il ", "der ", "die ", "das ")


def exact_keys(title: str) -> set[str]:
    """Folded forms of a title that count as an exact mention: the full title, the main title, each
    alternate title in parentheses, each also without a leading article."""
    parts, rest = [], title
    while (peeled := peel_trailing_group(rest)) is not None:
        rest, alt = peeled
        parts.append(alt)
    keys = set()
    for key in (fold(title), fold(rest), *(fold(p) for p in parts)):
        keys.add(key)
        keys.update(key[len(a):] for a in _ARTICLES if key.startswith(a))
    return {k for k in keys if k}


def catalog_resolver(catalog: Catalog) -> TitleResolver:
    """Most-rated movie whose title is exactly the phrase (case, accents, punctuation, leading article
    ignored); None when there is none. Cached: chat parsing asks for the same phrases repeatedly."""

    @lru_cache(maxsize=4096)
    def resolve(phrase: str) -> TitleMatch | None:
        query = fold(phrase)
        if len(query) < 2:
            return None
        for movie in catalog.search_titles(phrase, 20):
            if query in exact_keys(movie.title):
                return TitleMatch(movie.movie_id, movie.title)
        return None

    return resolve
