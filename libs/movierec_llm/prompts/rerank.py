"""The ranker's listwise rerank: the survivors of the hard constraints (checked in code, never by the
model) go in with their numeric order; the model answers the best ``n`` ids, best first, each with at
most one reason ``{id, kind, value}`` that the ranker's verifier then checks (short keys: on 2 CPU cores
every answer token costs ~50 ms). A ``similar_to_liked`` reason names the liked movie's title; the
ranker resolves it to that movie (the verifier checks it is one the person liked).

Small local models cannot be trusted to stay inside the candidate list or the format, so the schema
makes ``movie_id`` an ``enum`` of the candidates and fixes the list length; a grammar-enforcing server
(llama.cpp) cannot answer anything else. Duplicates cannot be excluded by a schema: the validator
keeps the first occurrence and the caller completes the list from the numeric order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

VERSION = "rerank-v3"

# Longest reason value besides a quoted liked title (keywords, co-directors, cast names).
VALUE_MAX_CHARS = 120
# Reason kinds the ranker's verifier knows (its ranker.v1.FactorKind names, lower case).
REASON_KINDS = ("genre", "keyword", "director", "cast", "decade", "query_term", "similar_to_liked")

SYSTEM = """You re-rank movie candidates for one person. The candidates already satisfy every hard rule.
Pick the {n} candidates this person will most enjoy, best first, different movies only.
Use the person's liked and disliked movies and the request; the numeric score is a strong hint.
For each pick give one reason that is literally true from its metadata: kind is genre, keyword, director,
cast, decade (value like "1990s"), query_term (a word of the request) or similar_to_liked (value = exact title
of a LIKED movie). Answer JSON only."""


@dataclass(frozen=True)
class RerankPick:
    movie_id: int
    kind: str
    value: str


def build_messages(user: dict, request: str, recent_turns: list[dict], candidates: list[dict], n: int) -> list[dict]:
    """``user`` = {"liked": [...], "disliked": [...]}; ``candidates`` = metadata dicts with ``movie_id``."""
    payload = {"USER": user, "RECENT_TURNS": recent_turns[-6:], "REQUEST": request, "CANDIDATES": candidates}
    return [{"role": "system", "content": SYSTEM.replace("{n}", str(n))},
            {"role": "user", "content": json.dumps(payload, ensure_ascii=False, separators=(",", ":"))}]


def schema(candidate_ids: list[int], n: int, liked_titles: Sequence[str] = ()) -> dict:
    """``liked_titles`` = the USER liked list of the prompt: a similar_to_liked value quotes one exactly,
    so the value may be as long as the longest of them (MovieLens titles with alternates reach 150+ chars)."""
    n = min(n, len(candidate_ids))
    value_max = max([VALUE_MAX_CHARS, *map(len, liked_titles)])
    pick = {"type": "object", "additionalProperties": False, "required": ["id", "kind", "value"],
            "properties": {"id": {"type": "integer", "enum": list(candidate_ids)},
                           "kind": {"type": "string", "enum": list(REASON_KINDS)},
                           "value": {"type": "string", "maxLength": value_max}}}
    return {"type": "object", "additionalProperties": False, "required": ["picks"],
            "properties": {"picks": {"type": "array", "minItems": n, "maxItems": n, "items": pick}}}


def picks_of(data: dict) -> tuple[list[RerankPick], int]:
    """The picks of a schema-valid answer in the model's order, first occurrence kept; and how many
    duplicates were dropped."""
    picks: list[RerankPick] = []
    seen: set[int] = set()
    for item in data["picks"]:
        movie_id = int(item["id"])
        if movie_id in seen:
            continue
        seen.add(movie_id)
        picks.append(RerankPick(movie_id, item["kind"], item["value"].strip()))
    return picks, len(data["picks"]) - len(picks)


def answer(picks: list[RerankPick]) -> dict:
    """The JSON answer for ``picks`` (fine-tune targets are written with this, in the served shape)."""
    return {"picks": [{"id": p.movie_id, "kind": p.kind, "value": p.value} for p in picks]}
