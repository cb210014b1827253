"""Who did what: keep directors out of the cast by cross-checking people across the sources.

The IMDb top-1000 file has one ``Director`` column and four ``Star`` columns filled from a single
credits list, directors first: for a co-directed film the extra directors spill into ``Star1``,
``Star2``, … (Zootopia: Director "Byron Howard", Star1 "Rich Moore", Star2 "Jared Bush"; Captain
America: Civil War: Star1 "Joe Russo"). So a leading run of the Star columns may be directors.
OMDb keeps roles apart (``director`` and ``actors`` fields), which makes it the witness.

A Star entry leaves the cast when one of these holds (rules in order, counted in the build
report; the README lists them). The first two are evidence about this very movie, so the person
is also added to its directors; the others infer the role from the person's other credits, so
the person is only taken out of the cast (an inferred role is never stated as a fact):

``omdb_director`` (added to directors)
    OMDb names the person as a director of this movie and not as one of its actors.
``listed_twice`` (added to directors)
    The person occurs twice in the row's Star columns: the first occurrence is the director
    credit, the second the acting one (What We Do in the Shadows: Taika Waititi).

Only when OMDb has no director list for the movie (it is authoritative when present):

``director_elsewhere``
    The person directed another movie in some source and no source ever lists them as cast
    (no OMDb actors entry, never the acting director of their own film): Zootopia's Rich Moore.
``directing_team``
    The person shares the row director's surname, holds ``Star1`` of at least two of that
    director's films, and no source lists them as cast (Joe Russo with Anthony Russo).
``before_co_director``
    The person precedes, in the leading run, someone taken out by a rule above (directors come
    first, so everyone before a director is one too), and appears in no other credits at all.
``after_co_director``
    The person directly follows a co-director taken out by a rule above, appears in no other
    credits at all, and the next Star is credited as cast elsewhere (so the director run ends
    here): Zootopia's Jared Bush, followed by Ginnifer Goodwin.

The acting director appears again as a Star (Annie Hall: Woody Allen) and stays in the cast.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from .text import fold as _fold_text

# Names repeat across tens of thousands of credits; fold each distinct one once.
fold = lru_cache(maxsize=None)(_fold_text)

_ROLE_NOTE = re.compile(r"\s*\((?:co-)?director\)\s*$", re.IGNORECASE)

ASSERTED_RULES = ("omdb_director", "listed_twice")
RULES = (
    "omdb_director",
    "listed_twice",
    "director_elsewhere",
    "directing_team",
    "before_co_director",
    "after_co_director",
)


def split_names(value: str | None) -> list[str]:
    """"Joel Coen, Ethan Coen" -> names; "Ash Brannon(co-director)" -> "Ash Brannon"."""
    out = []
    for part in (value or "").split(","):
        name = _ROLE_NOTE.sub("", part).strip()
        if name and name not in out:
            out.append(name)
    return out


def _surname(folded_name: str) -> str:
    return folded_name.rsplit(" ", 1)[-1]


@dataclass
class Credits:
    """Every person's credits over all sources, by folded name (for the cross-movie rules)."""

    directed: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # name -> film keys
    acted: set[str] = field(default_factory=set)  # credited as cast by a role-separated source
    appearances: Counter = field(default_factory=Counter)  # name -> Star/actor credits anywhere
    star1_pairs: Counter = field(default_factory=Counter)  # (director, Star1) -> rows

    @classmethod
    def collect(cls, omdb_rows: dict[int, dict], imdb_rows: list[dict]) -> Credits:
        credits = cls()
        for mid, om in omdb_rows.items():
            for name in split_names(om.get("director")):
                credits.directed[fold(name)].add(f"omdb:{mid}")
            for actor in om.get("actors", []):
                credits.acted.add(fold(actor))
                credits.appearances[fold(actor)] += 1
        for row in imdb_rows:
            key = f"imdb:{row['title']}:{row['year']}"
            director = fold(row.get("director") or "")
            stars = [fold(s) for s in row["stars"]]
            if director:
                credits.directed[director].add(key)
                if director in stars:  # the director acts in the film (listed again as a Star)
                    credits.acted.add(director)
            for i, star in enumerate(stars):
                credits.appearances[star] += 1
                if star in stars[i + 1 :]:
                    credits.acted.add(star)
            if director and stars:
                credits.star1_pairs[(director, stars[0])] += 1
        return credits

    def directed_other(self, name: str, own_keys: set[str]) -> bool:
        return bool(self.directed.get(name, set()) - own_keys)


@dataclass(frozen=True)
class RoleSplit:
    """An IMDb credits row split by role. ``removed`` maps each name taken out of the cast to its
    rule; ``directors`` adds only the names whose rule is about this movie (ASSERTED_RULES)."""

    directors: list[str]
    cast: list[str]
    removed: dict[str, str]


def split_imdb_credits(row: dict, omdb: dict | None, credits: Credits, mid: int | None = None) -> RoleSplit:
    """Split one IMDb top-1000 row's Director + Star columns into directors and cast."""
    director = fold(row.get("director") or "")
    stars = list(row["stars"])
    folded = [fold(s) for s in stars]
    om_directors = {fold(n) for n in split_names((omdb or {}).get("director"))}
    om_actors = {fold(a) for a in (omdb or {}).get("actors", [])}
    own_keys = {f"imdb:{row['title']}:{row['year']}"} | ({f"omdb:{mid}"} if mid is not None else set())
    reasons: dict[int, str] = {}
    run_end = len(folded)
    for i, name in enumerate(folded):
        if name == director or name in om_actors:
            run_end = i  # the acting director or a confirmed actor: the director run has ended
            break
        rule = _same_movie_evidence(i, name, folded, om_directors)
        if rule is None and not om_directors:
            rule = _cross_movie_evidence(i, name, director, credits, own_keys)
        if rule:
            reasons[i] = rule
    if not om_directors:
        _close_run(folded[:run_end], reasons, credits)
    named = split_names(row.get("director"))
    added = [stars[i] for i in sorted(reasons) if reasons[i] in ASSERTED_RULES and stars[i] not in named]
    cast = list(dict.fromkeys(s for i, s in enumerate(stars) if i not in reasons))  # a name listed twice stays once
    return RoleSplit(named + added, cast, {stars[i]: reasons[i] for i in sorted(reasons)})


def _same_movie_evidence(i: int, name: str, folded: list[str], om_directors: set[str]) -> str | None:
    if name in om_directors:
        return "omdb_director"
    if name in folded[i + 1 :]:
        return "listed_twice"
    return None


def _cross_movie_evidence(i: int, name: str, director: str, credits: Credits, own_keys: set[str]) -> str | None:
    if name in credits.acted:
        return None
    if credits.directed_other(name, own_keys):
        return "director_elsewhere"
    if i == 0 and director and _surname(name) == _surname(director) and credits.star1_pairs[(director, name)] >= 2:
        return "directing_team"
    return None


def _only_here(name: str, credits: Credits) -> bool:
    """Credited nowhere else: one Star appearance (this one), no director or actor credit."""
    return credits.appearances[name] <= 1 and name not in credits.acted and not credits.directed.get(name)


def _close_run(folded: list[str], reasons: dict[int, str], credits: Credits) -> None:
    """Directors come first: fill the run before the last co-director found, then extend it by one
    uncredited name when the name after that is credited as cast elsewhere."""
    if not reasons:
        return
    last = max(reasons)
    gaps = [i for i in range(last) if i not in reasons]
    if gaps and all(_only_here(folded[i], credits) for i in gaps):
        for i in gaps:
            reasons[i] = "before_co_director"
    if len(reasons) != last + 1:
        return  # the run has holes: do not guess further
    nxt = last + 1
    if (
        nxt + 1 < len(folded)
        and _only_here(folded[nxt], credits)
        and (folded[nxt + 1] in credits.acted or credits.appearances[folded[nxt + 1]] > 1)
    ):
        reasons[nxt] = "after_co_director"
