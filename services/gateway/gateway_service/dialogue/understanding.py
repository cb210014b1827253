"""What one chat message means: the typed result of understanding (rules, and the LLM when configured).

This module is the contract between the parts of the dialogue package:

* ``understand`` (rules, :mod:`gateway_service.dialogue.rules`; LLM, :mod:`gateway_service.dialogue.llm`)
  turns a message plus the dialogue so far into an :class:`Understanding`;
* ``state`` folds it into the session's :class:`DialogueState` (constraints persist until changed);
* ``plan``/``reply`` run retrieval + rank under the state, or answer a follow-up, and write the reply.

Everything is a pydantic model so the same class validates the LLM's JSON answer and gives the
JSON schema sent to it (``Understanding.model_json_schema()``), and so the REST layer can echo it.

Certification names are the MPAA ladder ``G < PG < PG-13 < R < NC-17`` (``CERTIFICATIONS``). Genres
are the catalog's MovieLens genre names ("Sci-Fi", "Children", ...). Titles are always catalog movie
ids after linking; a phrase that could not be linked goes to ``unresolved_titles`` and is told back
to the person, never guessed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CERTIFICATIONS = ("G", "PG", "PG-13", "R", "NC-17")
Certification = Literal["G", "PG", "PG-13", "R", "NC-17"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class TitleRef(_Model):
    """A catalog movie the message named (after entity linking)."""

    movie_id: int
    title: str
    year: int | None = None
    # The words of the message that were linked to it, and the linker's confidence in [0, 1].
    mention: str = ""
    confidence: float = 1.0


class FranchiseRef(_Model):
    """A whole franchise (every member is excluded), from the offline franchise index."""

    name: str
    movie_ids: list[int]


class RelativeConstraint(_Model):
    """A constraint stated against another movie's facts ("like Titanic but shorter")."""

    kind: Literal["shorter", "longer", "older", "newer", "less_scary", "lighter"]
    reference: TitleRef


class HardConstraints(_Model):
    """What every returned movie must satisfy. ``None``/empty = not stated in this message."""

    include_genres: list[str] = Field(default_factory=list)  # any of them
    exclude_genres: list[str] = Field(default_factory=list)
    min_certification: Certification | None = None  # a floor: "for adults"
    max_certification: Certification | None = None  # a cap: "my kids are 6 and 9"
    use_certification_estimates: bool = False  # the person opted into estimated ratings
    min_runtime_min: int | None = None
    max_runtime_min: int | None = None
    lenient_runtime: bool = False  # unknown runtimes are fine
    min_year: int | None = None
    max_year: int | None = None
    language: str | None = None  # ISO 639-1
    exclude_titles: list[TitleRef] = Field(default_factory=list)
    exclude_franchises: list[FranchiseRef] = Field(default_factory=list)
    exclude_people: list[str] = Field(default_factory=list)  # only people the catalog knows
    require_people: list[str] = Field(default_factory=list)


class Seeds(_Model):
    """Positive signals: what the person wants more of."""

    titles: list[TitleRef] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    vibes: list[str] = Field(default_factory=list)


class Act(StrEnum):
    """What the message does in the dialogue."""

    RECOMMEND = "recommend"  # asks for picks (the default)
    REFINE = "refine"  # changes the current request ("something shorter", "older films are fine")
    REMOVE_CONSTRAINT = "remove_constraint"  # drops a stated constraint
    RESET = "reset"  # start over
    FOLLOW_UP = "follow_up"  # a question about a shown pick: "why the second one?"
    MORE_LIKE_PICK = "more_like_pick"  # "more like the second one"
    SOMETHING_ELSE = "something_else"  # "something else", "show me others"
    MARK_SEEN = "mark_seen"  # "I've seen those", "seen the first one"
    SMALLTALK = "smalltalk"  # "hi", "thanks" with no request
    SAVE = "save"  # "save the second one", "add it to my watchlist": onto the watchlist, nothing else changes


class Removal(_Model):
    """A constraint the person takes back ("actually, older films are fine" → max/min year removed)."""

    slot: Literal["genres", "exclude_genres", "certification", "min_certification", "max_certification",
                  "runtime", "years", "min_year", "max_year", "language", "exclude_titles",
                  "exclude_franchises", "people", "all"]
    value: str | None = None  # e.g. the genre whose exclusion is dropped


class Understanding(_Model):
    """The meaning of one message."""

    act: Act = Act.RECOMMEND
    constraints: HardConstraints = Field(default_factory=HardConstraints)
    relative: list[RelativeConstraint] = Field(default_factory=list)
    seeds: Seeds = Field(default_factory=Seeds)
    removals: list[Removal] = Field(default_factory=list)
    # Picks of the previous answer the message points at, 1-based ("the second one" → [2]).
    pick_refs: list[int] = Field(default_factory=list)
    # The words left once constraints, titles and dialogue words are taken out: what may move the taste.
    residual_text: str = ""
    # Negated tone words and phrases ("nothing sad or brutal" → "sad, brutal"): never taste positives;
    # a caller may use them to push the query away or to tell the person what was heard.
    avoid_text: str = ""
    unresolved_titles: list[str] = Field(default_factory=list)
    # Human-readable lines of what was understood, e.g. "no horror", "rated PG or milder".
    descriptions: list[str] = Field(default_factory=list)
