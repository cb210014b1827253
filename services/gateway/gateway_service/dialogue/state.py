"""The dialogue state of one chat session, and how one message's Understanding changes it.

A session is one JSON value in Redis (``movierec:gw:chat:<sessionId>``, expiring after
GATEWAY_CHAT_SESSION_TTL_S without use). It holds the **active constraints** (the same slots as
:class:`~gateway_service.dialogue.understanding.HardConstraints`), the **seed titles** the query is
steered toward, the **last answer's picks** with the factors the ranker verified for each (follow-up
questions are answered from them), the movies passed over in this session ("something else",
"I've seen those"), and the last GATEWAY_CHAT_HISTORY_MAX messages.

Folding rules (:func:`fold`), the contract of services/gateway/README.md "Chat":

* constraints persist until changed; a new value of a slot replaces the old one (the year range is one
  slot: "after 2010" after "the 90s" drops the upper bound), and a new bound that contradicts the other
  one of its pair (a floor above the cap) drops the older one;
* exclusions (genres, titles, franchises, people) accumulate; asking for a genre removes it from the
  exclusions and excluding it removes it from the asked-for genres;
* removals drop the named slot (or one value of it); ``reset`` (and removal of "all") clears the
  constraints, the seeds and the passed-over movies — and the message's own constraints then apply;
* the seed titles of every turn and the people named as liked accumulate as the session's **likes**
  (the last LIKED_MAX of each; an excluded title, franchise member or person stops being liked; reset
  and removing a seed drop them): the chat's retrieval and ranking use them (dialogue/plan.py);
* pick references ("the second one") are resolved against the last answer's picks;
* ``more_like_pick`` makes those picks the seeds; ``something_else`` passes over the last picks;
  ``mark_seen`` passes over them and reports them to be recorded as watched;
* a follow-up question or small talk changes nothing.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway_service.dialogue.understanding import (
    CERTIFICATIONS,
    Act,
    FranchiseRef,
    HardConstraints,
    Removal,
    TitleRef,
    Understanding,
)
from movierec_catalog.filter import Filter

SESSION_KEY = "movierec:gw:chat:{session_id}"
LIKED_MAX = 10  # liked titles (and people) a session remembers
CERT_RANK = {name: rank for rank, name in enumerate(CERTIFICATIONS)}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PickFactor(_Model):
    """One reason the ranker (or the degraded path) gave for a pick, as shown on its card."""

    kind: str
    value: str
    source_movie_id: int | None = None
    source_title: str | None = None


class ShownPick(_Model):
    """A pick of the last answer: what the follow-up questions are answered from."""

    movie_id: int
    title: str
    year: int | None = None
    explanation: str = ""
    match_score: float = 0.0
    factors: list[PickFactor] = Field(default_factory=list)


class TurnRecord(_Model):
    role: str  # "user" | "assistant"
    text: str
    movie_ids: list[int] = Field(default_factory=list)
    at: str


class DialogueState(_Model):
    session_id: str
    user_id: str
    constraints: HardConstraints = Field(default_factory=HardConstraints)
    seeds: list[TitleRef] = Field(default_factory=list)
    # Everything the person said they like in this session, oldest first (the seeds of every turn and the
    # people they named): a chat-first user's taste is built from these, so the chat's retrieval keeps
    # using titles mentioned turns ago after the seeds have moved on (dialogue/plan.py).
    liked_titles: list[TitleRef] = Field(default_factory=list)
    liked_people: list[str] = Field(default_factory=list)
    # The taste words of the last request (residual text and vibes): a turn re-run without a message
    # (a constraint chip removed) queries with them again.
    query_text: str = ""
    last_picks: list[ShownPick] = Field(default_factory=list)
    passed_movie_ids: list[int] = Field(default_factory=list)
    turns: list[TurnRecord] = Field(default_factory=list)
    message_index: int = 0

    @classmethod
    def new(cls, user_id: str) -> DialogueState:
        return cls(session_id=f"c_{secrets.token_hex(8)}", user_id=user_id)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, raw: bytes | str) -> DialogueState | None:
        """The stored state, or None when the value is not a dialogue state (e.g. an older format)."""
        try:
            return cls.model_validate(json.loads(raw))
        except (ValueError, ValidationError):
            return None

    def add_turns(self, message: str, reply: str, movie_ids: list[int], keep: int) -> None:
        now = datetime.now(UTC).isoformat()
        self.turns += [TurnRecord(role="user", text=message, at=now),
                       TurnRecord(role="assistant", text=reply, movie_ids=movie_ids, at=now)]
        self.turns = self.turns[-keep:]
        self.message_index += 1


# ---- folding an Understanding into the state ---------------------------------------------------------

@dataclass
class Folded:
    """What folding one message did, beyond the new state: the picks it points at, the picks to record as
    watched, and notes for the reply (e.g. a pick number that does not exist)."""

    referenced: list[ShownPick] = field(default_factory=list)
    newly_seen: list[ShownPick] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def resolve_pick_refs(state: DialogueState, understanding: Understanding) -> tuple[list[ShownPick], list[str]]:
    """The last answer's picks the message points at: by position ("the second one") or by a linked title
    that is one of them ("why Heat?"). Positions that do not exist become notes."""
    picks, notes = [], []
    for ref in understanding.pick_refs:
        if 1 <= ref <= len(state.last_picks):
            picks.append(state.last_picks[ref - 1])
        elif state.last_picks:
            notes.append(f"My last answer had {len(state.last_picks)} pick{'s' if len(state.last_picks) != 1 else ''}, "
                         f"so there is no number {ref}.")
        else:
            notes.append("I haven't shown you any picks yet in this conversation.")
    by_id = {p.movie_id: p for p in state.last_picks}
    for title in _linked_titles(understanding):
        if title.movie_id in by_id and by_id[title.movie_id] not in picks:
            picks.append(by_id[title.movie_id])
    return picks, notes


def _linked_titles(u: Understanding) -> list[TitleRef]:
    return [*u.seeds.titles, *u.constraints.exclude_titles, *(r.reference for r in u.relative)]


def fold(state: DialogueState, u: Understanding) -> Folded:
    """Apply ``u`` to ``state`` in place (see the module docstring for the rules)."""
    referenced, notes = resolve_pick_refs(state, u)
    out = Folded(referenced=referenced, notes=notes)
    if u.act in (Act.FOLLOW_UP, Act.SMALLTALK, Act.SAVE):
        return out
    last_ids = [p.movie_id for p in state.last_picks]
    if u.act == Act.RESET or any(r.slot == "all" for r in u.removals):
        state.constraints, state.seeds, state.passed_movie_ids, state.query_text = HardConstraints(), [], [], ""
        state.liked_titles, state.liked_people = [], []
    for removal in u.removals:
        remove(state, removal)
    out.notes.extend(settle_contradictions(u.constraints))
    state.constraints = merge_constraints(state.constraints, u.constraints)
    if u.seeds.titles:
        state.seeds = _unique_titles(u.seeds.titles)
    _remember_likes(state, u)
    if u.act == Act.MORE_LIKE_PICK:
        chosen = referenced or state.last_picks
        state.seeds = [TitleRef(movie_id=p.movie_id, title=p.title, year=p.year) for p in chosen]
    elif u.act == Act.SOMETHING_ELSE:
        _pass_over(state, last_ids)
    elif u.act == Act.MARK_SEEN:
        out.newly_seen = referenced or list(state.last_picks)
        _pass_over(state, [p.movie_id for p in out.newly_seen])
    return out


def _remember_likes(state: DialogueState, u: Understanding) -> None:
    """The session's liked titles and people (most recent last, at most LIKED_MAX of each); a title or
    person the person now excludes is no longer liked."""
    c = state.constraints
    excluded = {t.movie_id for t in c.exclude_titles} | {m for f in c.exclude_franchises for m in f.movie_ids}
    titles = [t for t in state.liked_titles if t.movie_id not in {s.movie_id for s in u.seeds.titles}]
    state.liked_titles = [t for t in [*titles, *_unique_titles(u.seeds.titles)]
                          if t.movie_id not in excluded][-LIKED_MAX:]
    dropped = {p.lower() for p in c.exclude_people}
    people = [p for p in state.liked_people if p.lower() not in {q.lower() for q in u.seeds.people}]
    state.liked_people = [p for p in [*people, *dict.fromkeys(u.seeds.people)] if p.lower() not in dropped][-LIKED_MAX:]


def _pass_over(state: DialogueState, movie_ids: list[int]) -> None:
    state.passed_movie_ids = list(dict.fromkeys([*state.passed_movie_ids, *movie_ids]))


def _unique_titles(titles: list[TitleRef]) -> list[TitleRef]:
    return list({t.movie_id: t for t in titles}.values())


def _add(target: list[str], values: list[str]) -> list[str]:
    return list(dict.fromkeys([*target, *values]))


def settle_contradictions(c: HardConstraints) -> list[str]:
    """One message's bounds that no movie can meet together ("a grown-up film my 10-year-old can watch",
    "after 2010 but before 2005") are settled here, in place, with a note for the reply, so the search
    never gets an impossible Filter. A certification cap beats a floor (the cap protects a child); two
    contradicting runtime or year bounds are both dropped, since either may be the slip."""
    notes = []
    if c.min_certification and c.max_certification and \
            CERT_RANK[c.min_certification] > CERT_RANK[c.max_certification]:
        floor = Filter(min_certification=c.min_certification).describe()[0]
        cap = Filter(max_certification=c.max_certification).describe()[0]
        notes.append(f"“{floor}” and “{cap}” cannot both hold, so I kept “{cap}”.")
        c.min_certification = None
    for low, high, what in (("min_runtime_min", "max_runtime_min", "the running time"),
                            ("min_year", "max_year", "the years")):
        lo, hi = getattr(c, low), getattr(c, high)
        if lo is not None and hi is not None and lo > hi:
            said = " and ".join(f"“{d}”" for d in Filter(**{low: lo}).describe() + Filter(**{high: hi}).describe())
            notes.append(f"{said} cannot both hold, so I left {what} open: say which one you meant.")
            setattr(c, low, None)
            setattr(c, high, None)
    return notes


def merge_constraints(active: HardConstraints, new: HardConstraints) -> HardConstraints:
    """The active constraints after a message stating ``new`` (replace per slot, exclusions accumulate)."""
    out = active.model_copy(deep=True)
    if new.include_genres:
        out.include_genres = list(dict.fromkeys(new.include_genres))
        out.exclude_genres = [g for g in out.exclude_genres if g not in new.include_genres]
    if new.exclude_genres:
        out.exclude_genres = _add(out.exclude_genres, new.exclude_genres)
        out.include_genres = [g for g in out.include_genres if g not in new.exclude_genres]
    _merge_bounds(out, new, "min_certification", "max_certification", key=CERT_RANK.get)
    _merge_bounds(out, new, "min_runtime_min", "max_runtime_min", key=lambda v: v)
    if new.min_year is not None or new.max_year is not None:
        out.min_year, out.max_year = new.min_year, new.max_year
    out.use_certification_estimates = out.use_certification_estimates or new.use_certification_estimates
    out.lenient_runtime = out.lenient_runtime or new.lenient_runtime
    if new.language:
        out.language = new.language
    out.exclude_titles = _unique_titles([*out.exclude_titles, *new.exclude_titles])
    out.exclude_franchises = list({f.name: f for f in [*out.exclude_franchises, *new.exclude_franchises]}.values())
    out.exclude_people = _add(out.exclude_people, new.exclude_people)
    if new.require_people:
        out.require_people = list(dict.fromkeys(new.require_people))
    out.require_people = [p for p in out.require_people if p not in out.exclude_people]
    return out


def _merge_bounds(out: HardConstraints, new: HardConstraints, low: str, high: str, key) -> None:
    """A newly stated bound replaces the old one; an old bound on the other side that it contradicts goes."""
    new_low, new_high = getattr(new, low), getattr(new, high)
    if new_low is not None:
        setattr(out, low, new_low)
        if new_high is None and getattr(out, high) is not None and key(getattr(out, high)) < key(new_low):
            setattr(out, high, None)
    if new_high is not None:
        setattr(out, high, new_high)
        if new_low is None and getattr(out, low) is not None and key(getattr(out, low)) > key(new_high):
            setattr(out, low, None)


# ---- removals -------------------------------------------------------------------------------------------

_SLOT_FIELDS = {
    "genres": ("include_genres",),
    "certification": ("min_certification", "max_certification", "use_certification_estimates"),
    "min_certification": ("min_certification",),
    "max_certification": ("max_certification",),
    "runtime": ("min_runtime_min", "max_runtime_min", "lenient_runtime"),
    "years": ("min_year", "max_year"),
    "min_year": ("min_year",),
    "max_year": ("max_year",),
    "language": ("language",),
    "people": ("exclude_people", "require_people"),
}


def remove(state: DialogueState, removal: Removal) -> None:
    """Drop one stated constraint (or one value of a list slot) from the state."""
    c, value = state.constraints, removal.value
    if removal.slot == "all":
        state.constraints, state.seeds, state.liked_titles, state.liked_people = HardConstraints(), [], [], []
    elif removal.slot in ("genres", "exclude_genres") and value:
        target = "include_genres" if removal.slot == "genres" else "exclude_genres"
        setattr(c, target, [g for g in getattr(c, target) if g.lower() != value.lower()])
    elif removal.slot == "exclude_genres":
        c.exclude_genres = []
    elif removal.slot == "exclude_titles":
        c.exclude_titles = [t for t in c.exclude_titles if value is not None and not _names(t, value)]
    elif removal.slot == "exclude_franchises":
        c.exclude_franchises = [f for f in c.exclude_franchises
                                if value is not None and f.name.lower() != value.lower()]
    elif removal.slot == "people" and value:
        c.exclude_people = [p for p in c.exclude_people if p.lower() != value.lower()]
        c.require_people = [p for p in c.require_people if p.lower() != value.lower()]
        state.liked_people = [p for p in state.liked_people if p.lower() != value.lower()]
    else:
        defaults = HardConstraints()
        for name in _SLOT_FIELDS[removal.slot]:
            setattr(c, name, getattr(defaults, name))


def remove_seed(state: DialogueState, value: str | None) -> None:
    """Drop one seed title (by movie id or title), or all of them."""
    state.seeds = [t for t in state.seeds if value is not None and not _names(t, value)]
    state.liked_titles = [t for t in state.liked_titles if value is not None and not _names(t, value)]


def _names(title: TitleRef, value: str) -> bool:
    return value == str(title.movie_id) or value.lower() == title.title.lower()


__all__ = ["SESSION_KEY", "DialogueState", "Folded", "FranchiseRef", "PickFactor", "ShownPick", "TurnRecord",
           "fold", "merge_constraints", "remove", "remove_seed", "resolve_pick_refs"]
