"""The chat reply written by the LLM from the picks and their verified facts only (use ``reply``).

The gateway (services/gateway/gateway_service/dialogue/llm_reply.py) sends the person's message, what it
understood, and for each pick its title, year and the facts it may cite: the reasons the ranker verified
and the catalog facts (genres, runtime, rating, director, cast). The model writes plain prose (streamed,
no JSON). The gateway checks every title and person the text names against those facts and the person's
own history before showing it, sentence by sentence; one unverified name and the template reply is used.
"""

from __future__ import annotations

import json

VERSION = "chat-reply-v1"

SYSTEM = """You are movierec, a friendly movie recommender. Write a short reply (2 to 4 sentences) that
presents the PICKS to the person, in order, saying in a few words why each fits them.
Rules:
- Mention ONLY titles from PICKS and people or facts listed under a pick's FACTS. Never name any other movie,
  actor, director or person, and never invent facts (no awards, plots or years that are not listed).
- Do not repeat the list of conditions; it is already shown. Do not use markdown, lists or headings.
- Plain text only."""


def build_messages(message: str, understood: str, picks: list[dict], history: list[str]) -> list[dict]:
    """``picks`` = [{"title": "Heat (1995)", "facts": ["directed by Michael Mann", "Crime", ...]}];
    ``history`` = titles the person rated highly or picked (they may be named as "because you liked …")."""
    payload = {"MESSAGE": message, "UNDERSTOOD": understood, "PICKS": picks, "LIKED_BY_PERSON": history}
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": json.dumps(payload, ensure_ascii=False, separators=(",", ":"))}]
