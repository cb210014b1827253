"""Chat understanding by the LLM (use ``understand``): the message + the dialogue so far → a flat JSON
reading that the gateway merges with its rule-based reading (services/gateway/gateway_service/dialogue/
llm_understand.py; the merge rule is in services/gateway/README.md, "Chat understanding").

The schema is flat and closed (no null, no anyOf) so that llama.cpp's grammar converter and OpenAI's
strict mode both accept it: unset numbers are 0, unset certifications are "". Titles and people come
back as the words the person used; the gateway links them against the catalog again and never trusts
an id from the model.
"""

from __future__ import annotations

import json

VERSION = "understand-v1"
# A complete answer under SCHEMA is 120–250 tokens (16 keys even when empty): a smaller budget truncates it.
MAX_TOKENS = 320

GENRES = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
CERTIFICATIONS = ["", "G", "PG", "PG-13", "R", "NC-17"]
ACTS = ["recommend", "refine", "remove_constraint", "reset", "follow_up", "more_like_pick", "something_else",
        "mark_seen", "smalltalk"]
_TITLES = {"type": "array", "maxItems": 6, "items": {"type": "string", "maxLength": 80}}
_GENRE_LIST = {"type": "array", "maxItems": 8, "items": {"type": "string", "enum": GENRES}}
_INT = {"type": "integer"}

SCHEMA: dict = {
    "type": "object",
    "additionalProperties": False,
    "required": ["act", "include_genres", "exclude_genres", "max_certification", "min_certification",
                 "max_runtime_min", "min_runtime_min", "min_year", "max_year", "language", "exclude_titles",
                 "seed_titles", "exclude_franchises", "pick_refs", "taste_text", "avoid_text"],
    "properties": {
        "act": {"type": "string", "enum": ACTS},
        "include_genres": _GENRE_LIST,
        "exclude_genres": _GENRE_LIST,
        "max_certification": {"type": "string", "enum": CERTIFICATIONS},
        "min_certification": {"type": "string", "enum": CERTIFICATIONS},
        "max_runtime_min": _INT,
        "min_runtime_min": _INT,
        "min_year": _INT,
        "max_year": _INT,
        "language": {"type": "string", "maxLength": 2},
        "exclude_titles": _TITLES,
        "seed_titles": _TITLES,
        "exclude_franchises": _TITLES,
        "pick_refs": {"type": "array", "maxItems": 10, "items": {"type": "integer"}},
        "taste_text": {"type": "string", "maxLength": 200},
        "avoid_text": {"type": "string", "maxLength": 200},
    },
}

SYSTEM = """You read one message of a person asking a movie recommender for films, and return what it means as JSON.
Rules (follow exactly):
- Genres only from the enum. Words map to genres: scary/horror/zombies/gore/blood -> Horror; thriller/suspense ->
  Thriller; funny/comedy -> Comedy; action/fights/explosions -> Action; cartoon/animated -> Animation; kids movie ->
  Children; sci-fi/space -> Sci-Fi. Tone words (sad, dark, brutal, violent, slow) are NOT genres: put negated ones
  in avoid_text, wanted ones in taste_text.
- Negation covers the whole list after it: "no brutal fights or zombies" -> exclude Action and Horror.
  "nothing scary" -> exclude Horror and Thriller. "a comedy that isn't a musical" -> include Comedy, exclude Musical.
- Audience: youngest age <= 7 -> max_certification PG and exclude Horror; 8-12 -> PG; 13-16 -> PG-13; kids/family ->
  PG and exclude Horror; toddlers/little kids -> G and exclude Horror; teens -> PG-13. "for adults", "grown-ups",
  "not a kids movie" -> min_certification PG-13 and exclude Children; "adults only" -> min_certification R.
- Runtime in minutes: "under 95 minutes" -> max 94; "no more than 95"/"nothing over 95" -> max 95; "an hour and a half"
  = 90; "not too long" -> max 120; "short" -> max 99; "over two hours" -> min 121. 0 = not stated.
- Years: "the 90s" -> 1990..1999; "after 2010" -> min 2011; "before 1980" -> max 1979; vague eras ("older films")
  are taste_text. 0 = not stated. language: ISO 639-1 code of a language asked for, else "".
- Titles: movies the person wants to avoid or has seen -> exclude_titles; movies they liked or want similar to ->
  seed_titles; write each title as the person wrote it. Whole franchises to avoid ("no Marvel") -> exclude_franchises.
- act: follow_up for a question about a shown pick ("why the second one?"), more_like_pick, something_else,
  mark_seen ("I've seen those"), reset ("start over"), refine (changes the request), smalltalk, else recommend.
  pick_refs: 1-based positions of shown picks the message points at.
- taste_text: the words about taste that remain (no constraint words, no negated words)."""


def build_messages(message: str, history: list[dict], picks: list[str]) -> list[dict]:
    """``history`` = [{"role": "user"|"assistant", "text": ...}] oldest first (the last few turns);
    ``picks`` = the titles shown last, in order ("Heat (1995)")."""
    payload = {"DIALOGUE_SO_FAR": [f"{h['role']}: {h['text']}" for h in history[-6:]], "SHOWN_PICKS": picks,
               "MESSAGE": message}
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": json.dumps(payload, ensure_ascii=False, separators=(",", ":"))}]
