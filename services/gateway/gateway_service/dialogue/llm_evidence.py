"""Evidence for the hard constraints an LLM reading adds: a constraint counts only if the message has a cue for it.

Measured on the real 0.5B model (tests/llm/test_chat_llm.py): to "something like Toy Story for a family
night, nothing scary" it answered include Action, exclude Thriller and Sci-Fi, years 1990–1999 — words
from its prompt's examples, not from the person. Merged "never looser than the rules", every such
invention narrows the picks, often to nothing. So a constraint the LLM adds needs a cue of its kind in the
message: a genre word (the chat lexicon's, the genre's own name, or a fear word for Horror/Thriller), a
year or era word for years, a duration or length word for runtime, an audience word for certifications,
a language word for a language. The cue vocabulary is deliberately wider than the rules' readings: the LLM
is there for the phrasings the rules miss ("nothing that'll give them nightmares" has no rule, but
"nightmare" is a Horror cue). The constraints the rules read stay untouched.
"""

from __future__ import annotations

import re

from gateway_service.dialogue.lexicon import FEAR_GENRES, FEAR_WORDS, GENRE_WORDS, LANGUAGES
from gateway_service.dialogue.understanding import HardConstraints
from movierec_catalog.text import fold

# Stems of each genre's own name and common words for it beyond the rules' lexicon.
_GENRE_STEMS = {
    "Action": ("action", "fight", "explosi", "shoot", "martial", "kung fu", "car chase"),
    "Adventure": ("adventur", "quest", "treasure", "expedition"),
    "Animation": ("animat", "cartoon", "anime", "pixar", "ghibli", "disney"),
    "Children": ("kid", "child", "famil", "little one", "toddler"),
    "Comedy": ("comed", "comic", "funny", "laugh", "hilari", "humor", "humour", "silly"),
    "Crime": ("crime", "criminal", "gangster", "mob", "mafia", "heist", "cop", "detective", "police"),
    "Documentary": ("documentar", "doc", "docs", "real story", "true story"),
    "Drama": ("drama",),
    "Fantasy": ("fantas", "magic", "dragon", "wizard", "fairy"),
    "Film-Noir": ("noir",),
    "Horror": ("horror", "scar", "spook", "creep", "gore", "gory", "blood", "zombie", "slasher", "frighten",
               "terrif", "nightmare"),
    "Musical": ("musical", "sing", "song", "dance"),
    "Mystery": ("myster", "whodun", "detective", "puzzle"),
    "Romance": ("roman", "love", "rom-com", "romcom", "date night"),
    "Sci-Fi": ("sci-fi", "scifi", "science fiction", "space", "alien", "robot", "future", "time travel"),
    "Thriller": ("thrill", "suspens", "tense", "edge of", "scar", "spook", "creep"),
    "War": ("war", "battle", "soldier", "military"),
    "Western": ("western", "cowboy", "wild west"),
}
_YEAR_CUE = re.compile(r"\b(?:1[89]\d\d|20\d\d|'?\d0s|\d{4}s|twenties|thirties|forties|fifties|sixties|seventies|"
                       r"eighties|nineties|decade|century|(?<!year-)(?<!years )old|older|oldie|classic|vintage|"
                       r"black and white|recent|new|newer|newest|latest|modern|current|this year|last year)\b")
_RUNTIME_CUE = re.compile(r"\b(?:\d+\s*(?:h|hr|hrs|hours?|m|mins?|minutes?)|hours?|minutes?|mins?|long|longer|"
                          r"short|shorter|quick|length|runtime|run time|epic|drag|dragged|bedtime)\b")
_AUDIENCE_CUE = re.compile(r"\b(?:\d{1,2}|kids?|child|children|famil\w*|teens?|teenagers?|tweens?|adults?|grown|"
                           r"grown-ups?|rated|pg|pg-13|g|r|nc-17|toddlers?|little|sons?|daughters?|nephews?|nieces?|"
                           r"grandkids?|mature|clean|wholesome|innocent|age|ages|year-old|years old)\b")
# A floor ("rated PG-13 or above") is rarer and costlier than a cap: only adult words set one.
_FLOOR_CUE = re.compile(r"\b(?:adults?|grown|grown-ups?|mature|not for kids|no kids|not a kids|teens?|teenagers?|"
                        r"rated|r-rated|pg-13|nc-17|explicit|x-rated)\b")
_LANGUAGE_CUE = re.compile(r"\b(?:" + "|".join(map(re.escape, LANGUAGES)) +
                           r"|subtitles?|subtitled|subs|dubbed|foreign|language|in english)\b")


def _has_genre_cue(genre: str, text: str) -> bool:
    if any(re.search(rf"\b{re.escape(stem)}", text) for stem in _GENRE_STEMS.get(genre, (fold(genre),))):
        return True
    if genre in FEAR_GENRES and any(re.search(rf"\b{re.escape(word)}", text) for word in FEAR_WORDS):
        return True
    return any(genre in genres and re.search(rf"\b{re.escape(word)}\b", text) for word, genres in GENRE_WORDS.items())


def keep_evidenced(c: HardConstraints, message: str) -> list[str]:
    """Drop, in place, the constraints of an LLM reading that have no cue in ``message``; returns what was
    dropped (for the diagnostics and the eval)."""
    text = fold(message)
    dropped = [f"genre {g}" for g in [*c.include_genres, *c.exclude_genres] if not _has_genre_cue(g, text)]
    c.include_genres = [g for g in c.include_genres if _has_genre_cue(g, text)]
    c.exclude_genres = [g for g in c.exclude_genres if _has_genre_cue(g, text)]
    checks = ((("min_year", "max_year"), _YEAR_CUE), (("min_runtime_min", "max_runtime_min"), _RUNTIME_CUE),
              (("max_certification",), _AUDIENCE_CUE), (("min_certification",), _FLOOR_CUE),
              (("language",), _LANGUAGE_CUE))
    for names, cue in checks:
        if cue.search(text):
            continue
        for name in names:
            if getattr(c, name) is not None:
                dropped.append(name)
                setattr(c, name, None)
    return dropped
