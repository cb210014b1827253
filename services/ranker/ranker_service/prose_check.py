"""Does a sentence the LLM wrote state only true, verified facts about the pick?

The model is told to use only the pick's verified factors. This check finds every checkable fact in
its sentence — names and titles (runs of capitalized words), years, decades, runtimes, certifications,
genre names — and accepts the sentence only when each one is among the verified factors or is a
catalog fact of the pick itself (its title, genres, director, cast, year). Anything it cannot place
(another film's title, an invented actor, a wrong decade) rejects the sentence, and the ranker keeps
its template text. Deliberately strict: a rejected true sentence costs style, an accepted false one
costs trust.
"""

from __future__ import annotations

import re

from ranker_service.movies import MovieFacts, MovieStore
from ranker_service.verify import Claim, K

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)(s?)\b")
_SHORT_DECADE = re.compile(r"(?:\b|')(\d)0s\b")
_RUNTIME = re.compile(r"\b(\d{2,3})[- ]?(?:min|mins|minutes)\b", re.I)
_CERT = re.compile(r"(?<![A-Za-z])(NC-17|PG-13|PG|G|R)(?![A-Za-z0-9-])")
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)([A-Z][\w'’-]*)")
# Capitalized words that are not facts (sentence openers, pronouns, common adjectives).
_PLAIN = frozenset(["i", "you", "your", "you're", "you'll", "you've", "this", "that", "these", "it", "its", "it's", "if", "like", "with", "a", "an", "the", "they", "their", "also", "and", "since", "as", "given", "fans", "fan", "enjoy", "perfect", "another", "here", "there", "what", "who", "why", "when", "for", "from", "in", "on", "of", "to", "by", "at", "because", "loved", "liked", "love", "like", "watch", "check", "try", "don't", "do", "so", "just", "then", "now", "both", "more", "similar", "same", "great", "classic", "movie", "film", "pick", "recommended", "recommend"])  # noqa: E501


def prose_is_supported(text: str, movie: MovieFacts, claims: list[Claim], store: MovieStore) -> bool:
    return not unsupported_facts(text, movie, claims, store)


def unsupported_facts(text: str, movie: MovieFacts, claims: list[Claim], store: MovieStore) -> list[str]:
    """The facts in ``text`` that neither a verified claim nor the pick's own catalog entry supports."""
    allowed = _allowed_phrases(movie, claims, store)
    problems = [f"name {run!r}" for run in _capitalized_runs(text) if not _covered(run, allowed)]
    problems += _number_problems(text, movie, claims)
    certification = movie.certification or ""
    problems += [f"certification {c!r}" for c in _CERT.findall(text)
                 if c != certification and not (c in ("G", "R") and _is_initial(text, c))]
    return problems


def _allowed_phrases(movie: MovieFacts, claims: list[Claim], store: MovieStore) -> list[str]:
    phrases = [movie.title, *(movie.genres), *(movie.cast), movie.director or "", *(movie.keywords), *(movie.tags)]
    for claim in claims:
        phrases.append(claim.value)
        source = store.get(claim.source_movie_id) if claim.source_movie_id else None
        if source is not None:
            phrases.append(source.title)
    return [p.lower() for p in phrases if p]


def _covered(run: str, allowed: list[str]) -> bool:
    lowered = run.lower()
    return any(lowered in phrase or (phrase in lowered and len(phrase) >= 4) for phrase in allowed)


def _capitalized_runs(text: str) -> list[str]:
    starts = {m.start(1) for m in _SENTENCE_START.finditer(text)}
    runs, current = [], []
    for match in _WORD.finditer(text):
        word = match.group(0)
        capitalized = word[0].isupper() and not _CERT.fullmatch(word)
        if capitalized and not (match.start() in starts and word.lower() in _PLAIN and not current):
            current.append(word)
            continue
        if current and word.lower() in ("of", "the", "and", "a") and current:
            current.append(word)  # "Lord of the Rings": keep the run open across small words
            continue
        runs.append(current)
        current = []
    runs.append(current)
    cleaned = []
    for run in runs:
        while run and run[-1].lower() in ("of", "the", "and", "a"):
            run = run[:-1]
        words = [w for w in run if w.lower() not in _PLAIN]
        if words:
            cleaned.append(" ".join(run))
    return cleaned


def _number_problems(text: str, movie: MovieFacts, claims: list[Claim]) -> list[str]:
    decades = {c.value for c in claims if c.kind == K.FACTOR_KIND_DECADE}
    runtimes = {c.value for c in claims if c.kind == K.FACTOR_KIND_RUNTIME}
    problems = []
    for digits, plural in _YEAR.findall(text):
        value = int(digits)
        if plural and f"{value}s" not in decades and value != movie.decade:
            problems.append(f"decade {digits}s")
        elif not plural and value != movie.year:
            problems.append(f"year {digits}")
    for digit in _SHORT_DECADE.findall(text):
        if movie.decade is None or movie.decade % 100 != int(digit) * 10:
            problems.append(f"decade '{digit}0s")
    for minutes in _RUNTIME.findall(text):
        if f"{int(minutes)} min" not in runtimes and int(minutes) != movie.runtime_min:
            problems.append(f"runtime {minutes} min")
    return problems


def _is_initial(text: str, letter: str) -> bool:
    """'R' or 'G' as a name initial ("George R. R. Martin") rather than a rating."""
    return bool(re.search(rf"\b{letter}\.", text))
