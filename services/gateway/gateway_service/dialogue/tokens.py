"""Tokens of a chat message, with character offsets so that regex spans and token spans meet.

A token is a word (inner hyphens and apostrophes kept: "sci-fi", "isn't", "4-year-old"), a number, or
one punctuation character. ``low`` is the lowercased form with typographic apostrophes made plain;
``key`` is the accent-free folded form used for catalog look-ups (see movierec_catalog.text.fold).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from movierec_catalog.text import fold

_TOKEN_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*'?|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int
    low: str
    key: str  # folded; "" for punctuation

    @property
    def is_word(self) -> bool:
        return bool(self.key)

    @property
    def capitalized(self) -> bool:
        return self.text[:1].isupper() or self.text[:1].isdigit()


def normalize(message: str) -> str:
    """The message with typographic quotes/dashes made plain (same length, so offsets still hold)."""
    return message.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"}))


def tokenize(message: str) -> list[Token]:
    text = normalize(message)
    out = []
    for m in _TOKEN_RE.finditer(text):
        word = m.group(0)
        out.append(Token(word, m.start(), m.end(), word.lower(), fold(word)))
    return out


def sentence_initial(tokens: list[Token], i: int) -> bool:
    """True when token i starts the message or follows a sentence end / opening quote or bracket."""
    j = i - 1
    while j >= 0 and tokens[j].text in {'"', "'", "(", "*"}:
        j -= 1
    return j < 0 or tokens[j].text in {".", "!", "?", ":", ";", "\n"}
