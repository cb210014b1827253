"""The words of an answer: the active constraints as chips, and the template reply.

Every chip is one removable constraint with the label the person sees ("no Horror", "at most 94 min",
"rated PG or milder", "not Titanic (1997)", "nothing from Star Wars", "like Hot Fuzz"); the constraint
labels come from ``Filter.describe`` (the one owner of that wording). The template reply says what was
understood (the chips, joined with " · "), what was not ("I couldn't find a movie called …"), "only N
movies match" when fewer than a full set fit, then each pick with the reason the ranker verified.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_service.dialogue.state import DialogueState
from gateway_service.dialogue.understanding import TitleRef
from gateway_service.schemas import Card
from movierec_catalog.filter import Filter

MIN_FULL = 3


@dataclass(frozen=True)
class Chip:
    label: str
    slot: str  # what a removal names (ConstraintRemoval.slot)
    value: str | None = None


def _described(**conditions) -> str:
    return ", ".join(Filter(**conditions).describe())


def _title(t: TitleRef) -> str:
    return f"{t.title} ({t.year})" if t.year else t.title


def chips(state: DialogueState) -> list[Chip]:
    """One chip per removable constraint of the session, in a stable order."""
    c = state.constraints
    out = [Chip(f"like {_title(t)}", "seed_titles", str(t.movie_id)) for t in state.seeds]
    out += [Chip(g, "genres", g) for g in c.include_genres]
    out += [Chip(f"no {g}", "exclude_genres", g) for g in c.exclude_genres]
    if c.min_year is not None or c.max_year is not None:
        out.append(Chip(_described(min_year=c.min_year, max_year=c.max_year), "years"))
    if c.min_runtime_min is not None or c.max_runtime_min is not None:
        out.append(Chip(_described(min_runtime_min=c.min_runtime_min, max_runtime_min=c.max_runtime_min,
                                   lenient_runtime=c.lenient_runtime), "runtime"))
    estimates = c.use_certification_estimates
    if c.max_certification:
        out.append(Chip(_described(max_certification=c.max_certification, use_certification_estimates=estimates),
                        "max_certification"))
    if c.min_certification:
        out.append(Chip(_described(min_certification=c.min_certification, use_certification_estimates=estimates),
                        "min_certification"))
    if c.language:
        out.append(Chip(_described(original_language=c.language), "language"))
    out += [Chip(f"not {_title(t)}", "exclude_titles", str(t.movie_id)) for t in c.exclude_titles]
    out += [Chip(f"nothing from {f.name}", "exclude_franchises", f.name) for f in c.exclude_franchises]
    out += [Chip(f"no {p}", "people", p) for p in c.exclude_people]
    out += [Chip(f"with {p}", "people", p) for p in c.require_people]
    return out


def understood_line(state: DialogueState) -> str:
    """"no horror · under 95 min · rated PG or milder" (empty without constraints)."""
    return " · ".join(chip.label for chip in chips(state))


def unresolved_lines(unresolved: list[str]) -> list[str]:
    return [f"I couldn't find a movie called “{name}”." for name in unresolved]


def reply_header(cards: list[Card], state: DialogueState, *, filled: bool, unresolved: list[str],
                 notes: list[str]) -> list[str]:
    """The deterministic opening lines of a recommending reply (the template's and the LLM's): what was not
    found, notes, then what was understood — "Here are 5 picks (…)" or "Only 2 movies match … (…)"."""
    understood = understood_line(state)
    scope = f" ({understood})" if understood else ""
    lines = [*notes, *unresolved_lines(unresolved)]
    n = len(cards)
    if not cards:
        lines.append(f"No movie I know matches everything you asked for{scope}. Remove a condition (the ✕ on "
                     "its chip), or say “start over”.")
    elif not filled and n < 5:
        lines.append(f"Only {n} movie{'s' if n != 1 else ''} match{'es' if n == 1 else ''} everything you asked "
                     f"for{scope}:")
    else:
        lines.append(f"Here are {n} picks for you{scope}:")
    return lines


def pick_lines(cards: list[Card], state: DialogueState) -> list[str]:
    """One line per pick with the reason the ranker verified."""
    c = state.constraints
    runtime_limited = c.max_runtime_min is not None or c.min_runtime_min is not None
    lines = []
    for i, card in enumerate(cards, start=1):
        year = f" ({card.year})" if card.year else ""
        unknown = " Its runtime is unknown." if runtime_limited and card.runtime_min is None else ""
        lines.append(f"{i}. {card.title}{year} — {card.explanation}{unknown}")
    return lines


def template_reply(cards: list[Card], state: DialogueState, *, filled: bool, unresolved: list[str],
                   notes: list[str]) -> str:
    """The reply of a recommending turn, built from the picks and their verified reasons only."""
    return "\n".join([*reply_header(cards, state, filled=filled, unresolved=unresolved, notes=notes),
                      *pick_lines(cards, state)])


GREETING = ("Hi! Tell me a movie you loved or what you're in the mood for — for example “something like "
            "Hot Fuzz, under 2 hours” or “a funny animated movie for my 6-year-old” — and I'll pick a few.")


def smalltalk_reply(state: DialogueState, unresolved: list[str], notes: list[str]) -> str:
    lines = [*notes, *unresolved_lines(unresolved)]
    if state.last_picks:
        lines.append("Ask me why I picked one (“why the second one?”), for more like one of them, or for "
                     "something else.")
    else:
        lines.append(GREETING)
    return "\n".join(lines)
