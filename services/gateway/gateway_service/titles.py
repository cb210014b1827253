"""Title look-ups in the catalog: the onboarding search (cached), and an exact-title resolver (a phrase →
the most-rated movie with exactly that title) kept for the offline constraint suite. The chat links titles
with dialogue/linking.py."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from movierec_catalog import Catalog, Movie
from movierec_catalog.text import fold, peel_trailing_group


@dataclass(frozen=True)
class TitleMatch:
    movie_id: int
    title: str


TitleResolver = Callable[[str], TitleMatch | None]

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


class TitleSearch:
    """``Catalog.search_titles`` for the onboarding search box, with an LRU cache of answers.

    The catalog does not change while the gateway runs, and a search box sends the same short prefixes
    again and again ("a", "al", "ali", …), which are the slowest to rank: a one-letter query matches most
    of the catalog (about 150 ms of CPU here, 50 ms for "the"). A miss runs in a worker thread so that
    the event loop keeps serving other requests meanwhile; a hit costs a dictionary look-up.
    """

    def __init__(self, catalog: Catalog, max_entries: int = 4096):
        self._catalog = catalog
        self._max_entries = max_entries
        self._answers: OrderedDict[tuple[str, int], tuple[Movie, ...]] = OrderedDict()

    async def search(self, query: str, limit: int) -> list[Movie]:
        key = (fold(query), limit)  # search_titles itself starts from fold(query): same key, same answer
        found = self._answers.get(key)
        if found is None:
            found = tuple(await asyncio.to_thread(self._catalog.search_titles, query, limit))
            self._answers[key] = found
            if len(self._answers) > self._max_entries:
                self._answers.popitem(last=False)
        else:
            self._answers.move_to_end(key)
        return list(found)
