"""Theme names: the LLM names a cluster of movies ("Heist Narratives with Moral Ambiguity") from the facts
the offline namer found true of its members, and the validator keeps the name only when every content
word of it is one of those facts (the offline name stays otherwise; jobs/movierec_jobs/themes.py).
"""

from __future__ import annotations

import re

VERSION = "theme-v1"
MAX_CHARS = 60

SYSTEM = """You name a group of movies for a streaming-service row, in 2 to 6 words, Title Case.
Use only the facts given (genres, decades, keywords that hold for many of the movies); do not name a
movie, an actor or a director. Answer JSON only."""

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["name"],
          "properties": {"name": {"type": "string", "minLength": 3, "maxLength": MAX_CHARS}}}

# Words a row name may use without a fact behind them: grammar and "what kind of thing" nouns.
FILLER = frozenset({
    "a", "an", "and", "the", "of", "with", "in", "on", "for", "from", "to", "about", "at", "by", "or",
    "movies", "movie", "films", "film", "stories", "story", "tales", "tale", "cinema", "classics", "classic",
    "picks", "collection", "favourites", "favorites", "narratives", "features",
})


def build_messages(facts: list[str], titles: list[str]) -> list[dict]:
    """``facts``: the theme's terms with their share ("Crime (62% of the movies)"); ``titles``: a few members."""
    user = ("Facts true of many of these movies:\n" + "\n".join(f"- {fact}" for fact in facts)
            + "\nSome of the movies: " + "; ".join(titles))
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def _stem(word: str) -> str:
    for suffix, replacement in (("ies", "y"), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + replacement
    return word


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("sci-fi", "scifi").replace("film-noir", "filmnoir"))


def unsupported_words(name: str, supported_terms: list[str]) -> list[str]:
    """The content words of ``name`` that no supported term contains (compared by a crude stem)."""
    supported = {_stem(word) for term in supported_terms for word in _words(term)}
    return [word for word in _words(name) if word not in FILLER and _stem(word) not in supported]


def name_of(data: dict, supported_terms: list[str]) -> tuple[str | None, str]:
    """``(name, "")`` when every content word is a supported fact, else ``(None, why)``."""
    name = " ".join(data["name"].split()).strip(" .\"'")
    content = [word for word in _words(name) if word not in FILLER]
    if not content:
        return None, "the name says nothing"
    unsupported = unsupported_words(name, supported_terms)
    if unsupported:
        return None, f"not a fact of the theme: {unsupported}"
    return name, ""
