"""Explanation prose written from *verified* factors only: the ranker passes each pick's title and the
factors its verifier accepted; the model writes one sentence per pick. The ranker shows a sentence
only when every fact in it is one of those factors (its prose checker); else the template text.
"""

from __future__ import annotations

import json

VERSION = "explain-v1"

SYSTEM = """Write one short, friendly sentence per movie explaining why it is recommended to this person.
Use ONLY the facts listed for that movie; do not mention any other title, person, year, genre or number.
Answer JSON only."""

MAX_CHARS = 220


def build_messages(items: list[dict]) -> list[dict]:
    """``items`` = [{"movie_id", "title", "facts": ["genre: Thriller", "similar to a liked movie: Heat", ...]}]."""
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": json.dumps({"MOVIES": items}, ensure_ascii=False, separators=(",", ":"))}]


def schema(movie_ids: list[int]) -> dict:
    item = {"type": "object", "additionalProperties": False, "required": ["movie_id", "text"],
            "properties": {"movie_id": {"type": "integer", "enum": list(movie_ids)},
                           "text": {"type": "string", "minLength": 10, "maxLength": MAX_CHARS}}}
    return {"type": "object", "additionalProperties": False, "required": ["explanations"],
            "properties": {"explanations": {"type": "array", "minItems": len(movie_ids),
                                            "maxItems": len(movie_ids), "items": item}}}


def texts_of(data: dict) -> dict[int, str]:
    """movie_id → sentence (first one per movie; whitespace normalized)."""
    texts: dict[int, str] = {}
    for item in data["explanations"]:
        texts.setdefault(int(item["movie_id"]), " ".join(item["text"].split()))
    return texts
