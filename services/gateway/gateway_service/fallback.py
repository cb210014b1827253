"""Reasons for the degraded path (ranker down or slow), built from catalog facts only.

Every statement is checkable: a genre the candidate shares with a movie the user rated ≥ 4 or
picked at onboarding (named), the candidate's decade (and a loved movie of the same decade, when
there is one), and the cosine similarity the retrieval tier measured. Nothing else is claimed.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_service.schemas import Factor
from movierec_catalog import Catalog, Movie


@dataclass(frozen=True)
class LovedMovie:
    movie: Movie
    rating: float | None  # None: picked at onboarding, not rated


def decade_of(year: int | None) -> str | None:
    return f"{year // 10 * 10}s" if year else None


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _why_loved(loved: LovedMovie) -> str:
    if loved.rating is None:
        return "you picked it when you signed up"
    return f"you rated it {loved.rating:g}★"


def grounded_reason(candidate: Movie, loved: list[LovedMovie], similarity: float,
                    cold_start: bool = False) -> tuple[str, list[Factor]]:
    """(explanation, factors) for one candidate of a degraded answer."""
    factors: list[Factor] = []
    sentences: list[str] = []
    best, shared = None, []
    for item in loved:
        overlap = [g for g in candidate.genres if g in item.movie.genres]
        if len(overlap) > len(shared):
            best, shared = item, overlap
    if best is not None:
        shared = shared[:3]
        sentences.append(f"Shares {_join(shared)} with {best.movie.title} ({_why_loved(best)}).")
        factors += [Factor(kind="genre", value=g, source_movie_id=best.movie.movie_id,
                           source_title=best.movie.title) for g in shared]
    decade = decade_of(candidate.year)
    if decade:
        same = next((item for item in loved if decade_of(item.movie.year) == decade), None)
        if same is not None and same is not best:
            sentences.append(f"A {decade} film, like {same.movie.title}.")
        else:
            sentences.append(f"A {decade} film.")
        factors.append(Factor(kind="decade", value=decade,
                              source_movie_id=same.movie.movie_id if same else None,
                              source_title=same.movie.title if same else None))
    if best is None:
        basis = "the average taste behind popular movies" if cold_start else "your taste profile"
        sentences.insert(0, f"Close to {basis} (similarity {max(similarity, 0.0):.2f}).")
    return " ".join(sentences), factors


def loved_movies(catalog: Catalog, ratings: dict[int, float], liked_ids: list[int]) -> list[LovedMovie]:
    """Movies rated ≥ 4 (best first), then onboarding picks not rated; unknown ids skipped."""
    out: list[LovedMovie] = []
    for movie_id, rating in sorted(ratings.items(), key=lambda kv: -kv[1]):
        movie = catalog.get(movie_id)
        if rating >= 4.0 and movie is not None:
            out.append(LovedMovie(movie, rating))
    for movie_id in liked_ids:
        movie = catalog.get(movie_id)
        if movie is not None and movie_id not in ratings:
            out.append(LovedMovie(movie, None))
    return out
