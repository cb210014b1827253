"""The taste normalizer: a person's free text ("umm something like heat but newer, no gore pls")
rewritten as a short standard taste description before it is embedded. The validator keeps the
original text unless the rewrite is short, non-empty, and keeps every negated word.
"""

from __future__ import annotations

import re

VERSION = "taste-v1"
MAX_CHARS = 200
MAX_INPUT_CHARS = 2000

SYSTEM = """Rewrite the person's free-text movie wish as a short standard taste description
(at most 20 words: genres, moods, themes, era, pace). Keep every movie title they named; add no new titles;
keep negations ("no horror"). Answer JSON only."""

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["taste"],
          "properties": {"taste": {"type": "string", "minLength": 3, "maxLength": MAX_CHARS}}}

_NEGATED = re.compile(r"\b(?:no|not|without|nothing|never|hate|avoid)\s+(?:too\s+|very\s+|any\s+)?([a-z]+)", re.I)


def build_messages(text: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text[:MAX_INPUT_CHARS]}]


def taste_of(data: dict, original: str) -> tuple[str | None, str]:
    """``(description, "")`` when usable, else ``(None, why)``: the caller keeps the original text."""
    taste = " ".join(data["taste"].split())
    if not taste:
        return None, "empty description"
    lowered = taste.lower()
    words = re.findall(r"[a-z]+", lowered)
    repeated = sorted({w for w in words if len(w) > 3 and words.count(w) > 3})
    if repeated:  # recorded from the 0.5B model: "romance, romance, romance, …" until the token limit
        return None, f"the rewrite repeats {repeated}"
    lost = [word for word in _NEGATED.findall(original.lower()) if word not in lowered]
    if lost:
        return None, f"the rewrite lost the negated word(s) {lost}"
    return taste, ""
