"""Review text → clauses with a polarity, so a review's words can pull toward or push away from a taste.

"loved the soundtrack but far too slow" must not pull toward slow films: the text is split into
clauses at sentence punctuation, commas/semicolons and contrast words ("but", "though", "except", …);
each clause gets a polarity from VADER (a maintained lexicon- and rule-based sentiment analyser that
handles negation, intensifiers and "but"), plus one rule VADER lacks for reviews: a complaint pattern
("too slow", "far too long", "not enough", "overlong", "dragged") makes a clause negative, because
"too X" in a review is a complaint whatever X is. Clauses with |compound| < ``NEUTRAL_BAND`` carry no
sentiment and are dropped (a neutral description says nothing about liking).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

NEUTRAL_BAND = 0.05          # VADER's own recommended threshold for neutral
COMPLAINT_POLARITY = -0.5    # polarity of a clause that matches a complaint pattern (unless VADER says worse)
MAX_CLAUSES = 8              # a long review: the first clauses carry the point; bounded embedding cost
MIN_CLAUSE_CHARS = 3

_BOUNDARY = re.compile(r"[.!?;,:\n()]+|\s+[-–—]\s+|\b(?:but|though|although|however|except|whereas|yet|while)\b",
                       re.IGNORECASE)
_COMPLAINT = re.compile(r"\b(?:(?:way|far|much|a bit|a little|slightly|just|way)\s+)?too\s+\w+"
                        r"|\bnot\s+enough\b|\boverlong\b|\bdragged\b|\bdrags\b|\blacked\b|\blacking\b",
                        re.IGNORECASE)


@dataclass(frozen=True)
class Clause:
    text: str
    polarity: float  # in [-1, 1]; positive pulls, negative pushes


@lru_cache(maxsize=1)
def _analyser() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def clause_polarity(clause: str) -> float:
    compound = float(_analyser().polarity_scores(clause)["compound"])
    if _COMPLAINT.search(clause):
        return min(compound, COMPLAINT_POLARITY)
    return compound


def split_clauses(text: str) -> list[str]:
    parts = (part.strip(" \t'\"") for part in _BOUNDARY.split(text))
    return [part for part in parts if len(part) >= MIN_CLAUSE_CHARS][:MAX_CLAUSES]


def polar_clauses(text: str) -> list[Clause]:
    """The clauses of ``text`` that carry a sentiment, in order."""
    clauses = (Clause(part, clause_polarity(part)) for part in split_clauses(text))
    return [clause for clause in clauses if abs(clause.polarity) >= NEUTRAL_BAND]
