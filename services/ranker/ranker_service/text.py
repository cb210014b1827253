"""Tokenizing requests and catalog text so that "words of the request the movie matches" is checkable.

Both sides go through the same :func:`normalize_token`, so the verifier can re-derive every
query-term match from the raw query and the catalog alone.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")

_STOPWORD_TEXT = """
a about above after again against all almost also am an and any are aren't as at be because been before
being below between both but by can could did didn't do does doesn't doing don't down during each either
else enough even ever every few for from further get gets getting give go going got had has have having he
her here hers herself him himself his how i i'd i'll i'm i've if in into is isn't it it's its itself just
kind kinda least less let let's like liked likes lot lots made make makes me more most much must my myself
need needs no nor not now of off often on once one ones only or other others our ours ourselves out over
own part please pretty quite rather really right same see seen she should show so some something somewhat
sort still such than that that's the their theirs them themselves then there these they thing things think
this those though through to too under until up us very want wanted wants was wasn't watch watched watching
way we well were what whatever when where which while who whom why will with without would you you'd
you're your yours yourself maybe anything everything tonight today day night time good great best nice
recommend recommendation recommendations suggest suggestion movie movies film films flick flicks cinema
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Request words that name a MovieLens genre without containing its name. The verifier uses the
# same table, so a match is still checkable: the word is in the request and the genre is in the catalog.
GENRE_WORDS = {
    "action": "Action", "adventure": "Adventure", "adventurous": "Adventure", "animated": "Animation",
    "animation": "Animation", "cartoon": "Animation", "kid": "Children", "children": "Children",
    "child": "Children", "comedy": "Comedy", "comedie": "Comedy", "funny": "Comedy", "crime": "Crime",
    "documentary": "Documentary", "documentarie": "Documentary", "drama": "Drama", "dramatic": "Drama",
    "fantasy": "Fantasy", "noir": "Film-Noir", "horror": "Horror", "scary": "Horror", "musical": "Musical",
    "mystery": "Mystery", "romance": "Romance", "romantic": "Romance", "sci-fi": "Sci-Fi", "scifi": "Sci-Fi",
    "thriller": "Thriller", "war": "War", "western": "Western",
}

_DECADE_WORDS = {
    "twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950, "sixties": 1960,
    "seventies": 1970, "eighties": 1980, "nineties": 1990,
}
_DECADE_NUMBER = re.compile(r"^(?:(19|20)?(\d)0)'?s$")


def normalize_token(word: str) -> str:
    """Lower-case and strip a plural ending, so "heists" matches "heist" (and "comedies" "comedy")."""
    word = word.lower().strip("'-")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def token_set(text: str) -> frozenset[str]:
    """Normalized tokens of catalog text (no stopword removal: the request side already removed them)."""
    return frozenset(normalize_token(word) for word in words(text))


_CLAUSE = re.compile(r"[.,;:!?()]|\bbut\b")
_NEGATIONS = frozenset({"not", "no", "nothing", "without", "never", "avoid", "except", "isn't", "don't",
                        "doesn't", "nor", "none", "less", "skip", "hate", "dislike"})


def request_terms(query: str) -> list[str]:
    """Content words of a request, as written (lower-case), in order and without repeats.

    Words after a negation in the same clause ("nothing too scary", "no horror, but funny") are
    left out: a movie must never be said to match something the person asked to avoid.
    """
    seen: set[str] = set()
    terms = []
    for clause in _CLAUSE.split(query.lower()):
        negated = False
        for word in words(clause):
            if word in _NEGATIONS:
                negated = True
            elif not negated and _is_content_word(word) and word not in seen:
                seen.add(word)
                terms.append(word)
    return terms


def _is_content_word(word: str) -> bool:
    if word in STOPWORDS:
        return False
    if decade_of_term(word) is not None:
        return True
    if word.isdigit():
        return len(word) == 4  # a year; other numbers ("2 hours") carry no matchable meaning
    return len(word) >= 3


def decade_of_term(term: str) -> int | None:
    """The decade a request word names ("90s", "1990s", "nineties", "'90s") or None."""
    term = term.lower().strip("'")
    if term in _DECADE_WORDS:
        return _DECADE_WORDS[term]
    match = _DECADE_NUMBER.match(term)
    if not match:
        return None
    century, digit = match.groups()
    if century:
        return int(century) * 100 + int(digit) * 10
    return (2000 if digit in "012" else 1900) + int(digit) * 10


def genre_of_term(term: str) -> str | None:
    return GENRE_WORDS.get(normalize_token(term)) or GENRE_WORDS.get(term.lower())
