"""The ranker's listwise rerank: the survivors of the hard constraints (checked in code, never by the
model) go in with their numeric order; the model answers the best ``n`` ids, best first, each with at
most one reason ``{kind, value, source_movie_id}`` that the ranker's verifier then checks.

Small local models cannot be trusted to stay inside the candidate list or the format, so the schema
makes ``movie_id`` an ``enum`` of the candidates and fixes the list length; a grammar-enforcing server
(llama.cpp) cannot answer anything else. Duplicates cannot be excluded by a schema: the validator
keeps the first occurrence and the caller completes the list from the numeric order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

VERSION = "rerank-v2"

# Reason kinds the ranker's verifier knows (its ranker.v1.FactorKind names, lower case).
REASON_KINDS = ("genre", "keyword", "tag", "director", "cast", "decade", "runtime", "certification",
                "query_term", "similar_to_liked")

SYSTEM = """You re-rank movie candidates for one person. The candidates already satisfy every hard rule.
Pick the {n} candidates this person will most enjoy, best first, different movies only.
Use the person's liked and disliked movies and the request; the numeric score is a strong hint.
For each pick give one reason that is literally true from the metadata:
kind is one of genre, keyword, tag, director, cast, decade (like "1990s"), runtime (like "98 min"),
certification (like "PG-13"), query_term (a word of the request), similar_to_liked (value = exact title of a LIKED movie);
source_movie_id is the id of a LIKED movie sharing that value, else 0.
Answer JSON only."""


@dataclass(frozen=True)
class RerankPick:
    movie_id: int
    kind: str
    value: str
    source_movie_id: int


def build_messages(user: dict, request: str, recent_turns: list[dict], candidates: list[dict], n: int) -> list[dict]:
    """``user`` = {"liked": [...], "disliked": [...]}; ``candidates`` = metadata dicts with ``movie_id``."""
    payload = {"USER": user, "RECENT_TURNS": recent_turns[-6:], "REQUEST": request, "CANDIDATES": candidates}
    return [{"role": "system", "content": SYSTEM.replace("{n}", str(n))},
            {"role": "user", "content": json.dumps(payload, ensure_ascii=False, separators=(",", ":"))}]


def schema(candidate_ids: list[int], n: int) -> dict:
    n = min(n, len(candidate_ids))
    pick = {"type": "object", "additionalProperties": False,
            "required": ["movie_id", "kind", "value", "source_movie_id"],
            "properties": {"movie_id": {"type": "integer", "enum": list(candidate_ids)},
                           "kind": {"type": "string", "enum": list(REASON_KINDS)},
                           "value": {"type": "string", "maxLength": 60},
                           "source_movie_id": {"type": "integer"}}}
    return {"type": "object", "additionalProperties": False, "required": ["picks"],
            "properties": {"picks": {"type": "array", "minItems": n, "maxItems": n, "items": pick}}}


def picks_of(data: dict) -> tuple[list[RerankPick], int]:
    """The picks of a schema-valid answer in the model's order, first occurrence kept; and how many
    duplicates were dropped."""
    picks: list[RerankPick] = []
    seen: set[int] = set()
    for item in data["picks"]:
        movie_id = int(item["movie_id"])
        if movie_id in seen:
            continue
        seen.add(movie_id)
        picks.append(RerankPick(movie_id, item["kind"], item["value"].strip(), int(item["source_movie_id"])))
    return picks, len(data["picks"]) - len(picks)


def answer(picks: list[RerankPick]) -> dict:
    """The JSON answer for ``picks`` (fine-tune targets are written with this, in the served shape)."""
    return {"picks": [{"movie_id": p.movie_id, "kind": p.kind, "value": p.value,
                       "source_movie_id": p.source_movie_id} for p in picks]}
