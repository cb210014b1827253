"""The audience prior: keep a person's carousels and chat picks to the maturity band their own picks show.

A fan of dark R-rated films should not be offered family animation, and a parent who picked only
Pixar films should not be offered an R-rated horror film. The band comes from the movies the person
liked (their certification — official, else the maturity model's estimate — genres, keywords and
tags); the request's own hard constraints can add to it (a cap of PG or below is a family band). It
is a **ranking prior**, not a filter, except when the evidence is unanimous:

* **family** — at least ``FAMILY_SHARE`` (75%) of the liked movies are family films (genre
  Children, rated G, or animated and rated PG or below; a "family"/"kids" keyword counts too) and
  none is mature (rated R/NC-17, or Horror), or the request caps the certification at PG or below.
  Mature candidates (R, NC-17, Horror; the maturity estimate when the official rating is unknown;
  a dark movie of unknown rating) lose ``STRONG_PENALTY`` from their ranking score, PG-13 ones and
  non-family ones of unknown rating ``MILD_PENALTY``. When every one
  of at least ``UNANIMOUS_MIN`` liked movies is a family film (or the request caps at PG), mature
  candidates are excluded outright.
* **adult** — none of the liked movies is a family film (animation of unknown rating counts as
  one), and at least ``ADULT_SHARE`` (75%) of them
  are adult or dark (rated PG-13 or above, Horror, or tagged "dark", "gore", "violence", …). Family
  candidates (Children, rated G, or animated and rated PG or below) lose ``STRONG_PENALTY``; when all
  of at least ``UNANIMOUS_MIN`` liked movies are mature or dark, they are excluded.
* otherwise (mixed or too little evidence: fewer than ``MIN_LIKED`` liked movies) no prior.

The penalty only reorders (the match score shown stays the calibrated one); an excluded or demoted
movie is reported so the explanation can say "Kept to family films, as your picks are."
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from movierec_catalog.filter import CERT_RANK
from ranker_service.movies import MovieFacts

FAMILY, ADULT = "family", "adult"
MIN_LIKED = 2
UNANIMOUS_MIN = 3
FAMILY_SHARE = 0.75
ADULT_SHARE = 0.75
STRONG_PENALTY = 1.0  # the blended score lives in about [0, 1]: a demoted movie sinks below every in-band one
MILD_PENALTY = 0.15
# A maturity estimate counts only when its most likely class (of five) has at least this calibrated
# probability: enough for a soft prior, unlike a filter's opt-in bounds (certification_estimate_max/min).
ESTIMATE_MIN_CONFIDENCE = 0.4

_G, _PG, _PG13, _R = (CERT_RANK[c] for c in ("G", "PG", "PG-13", "R"))
_FAMILY_LABELS = frozenset({"family", "kids", "children", "family film", "for kids", "kids and family",
                            "children's film", "disney", "pixar", "family friendly"})
_DARK_LABELS = frozenset({"dark", "gore", "gory", "violence", "violent", "brutal", "brutality", "disturbing",
                          "serial killer", "psychopath", "bleak", "grim", "torture", "dark comedy", "dark humor",
                          "nihilism", "neo-noir", "noir", "graphic violence", "bloody", "splatter", "slasher",
                          "mafia", "drugs", "murder", "revenge"})

NOTES = {FAMILY: "Kept to family films, as your picks are.",
         ADULT: "Kept to films for grown-ups, as your picks are."}


def maturity_level(movie: MovieFacts) -> int | None:
    """1 (G) … 5 (NC-17): the official certification, else a confident maturity estimate, else None."""
    official = CERT_RANK.get(movie.certification or "")
    if official is not None:
        return official
    estimate = CERT_RANK.get(movie.certification_estimate or "")
    if estimate is not None and (movie.certification_confidence or 0.0) >= ESTIMATE_MIN_CONFIDENCE:
        return estimate
    return None


def _labels(movie: MovieFacts) -> frozenset[str]:
    return movie.lowered["keywords"] | movie.lowered["tags"]


def is_family(movie: MovieFacts) -> bool:
    level = maturity_level(movie)
    if "Children" in movie.genres or level == _G:
        return True
    if level is not None and level > _PG:
        return False
    # Animation of unknown rating counts as family here (it usually is); the estimate settles most of them.
    return "Animation" in movie.genres or bool(_labels(movie) & _FAMILY_LABELS)


def is_mature(movie: MovieFacts) -> bool:
    level = maturity_level(movie)
    return "Horror" in movie.genres or (level is not None and level >= _R)


def is_dark(movie: MovieFacts) -> bool:
    return is_mature(movie) or bool(_labels(movie) & _DARK_LABELS)


def fits(band: str, movie: MovieFacts) -> bool:
    """Is ``movie`` inside ``band``? (The verifier checks an audience factor with this.) A family band
    also keeps out dark movies whose rating is unknown: missing metadata is never safe for children."""
    if band == FAMILY:
        return not is_mature(movie) and not (maturity_level(movie) is None and is_dark(movie))
    if band == ADULT:
        return not is_family(movie)
    return False


@dataclass(frozen=True)
class Audience:
    """The band a person's picks show (None: no prior) and whether the evidence is unanimous."""

    band: str | None = None
    unanimous: bool = False

    @property
    def note(self) -> str | None:
        return NOTES.get(self.band or "")

    def penalty(self, movie: MovieFacts) -> float:
        """What the prior subtracts from the movie's ranking score; ``inf`` means excluded."""
        if self.band is None:
            return 0.0
        if not fits(self.band, movie):
            return float("inf") if self.unanimous else STRONG_PENALTY
        return MILD_PENALTY if self._mild(movie) else 0.0

    def _mild(self, movie: MovieFacts) -> bool:
        """In a family band: a PG-13 movie, or a non-family one of unknown rating."""
        if self.band != FAMILY:
            return False
        level = maturity_level(movie)
        return level == _PG13 or (level is None and not is_family(movie))

    def penalties(self, movies: Iterable[MovieFacts]) -> np.ndarray:
        return np.array([self.penalty(m) for m in movies], dtype=np.float64)


NO_PRIOR = Audience()


def audience_of(liked: list[MovieFacts], max_certification: str | None = None) -> Audience:
    """The band of a person who liked ``liked`` (see the module doc for the rule and its thresholds)."""
    cap = CERT_RANK.get(max_certification or "")
    if cap is not None and cap <= _PG:
        return Audience(FAMILY, unanimous=True)
    if len(liked) < MIN_LIKED:
        return NO_PRIOR
    family = sum(is_family(m) for m in liked)
    mature = sum(is_mature(m) for m in liked)
    if mature == 0 and family >= FAMILY_SHARE * len(liked):
        return Audience(FAMILY, unanimous=family == len(liked) and len(liked) >= UNANIMOUS_MIN)
    if family == 0:
        grown = sum(is_dark(m) or (maturity_level(m) or 0) >= _PG13 for m in liked)
        dark = sum(is_dark(m) for m in liked)
        if grown >= ADULT_SHARE * len(liked):
            return Audience(ADULT, unanimous=dark == len(liked) and len(liked) >= UNANIMOUS_MIN)
    return NO_PRIOR
