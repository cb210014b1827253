"""What the person has told us: ratings, favourites and the request, as the explainer and verifier see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ranker_service.dislikes import DISLIKED_RATING
from ranker_service.scoring import LIKED_RATING
from ranker_service.text import request_terms

LOVED_RATING = 4.5


@dataclass(frozen=True)
class UserHistory:
    """A person's own history; every "because you…" claim must be checkable against it.

    ``ratings`` is in chronological order, oldest first (the servicer orders the request's ratings by
    ``rated_at``): SeqEASE weights each rating by how many steps before the latest it came.
    """

    ratings: dict[int, float] = field(default_factory=dict)
    picked: frozenset[int] = frozenset()
    query: str = ""

    @cached_property
    def query_terms(self) -> tuple[str, ...]:
        return tuple(request_terms(self.query))

    def is_liked(self, movie_id: int) -> bool:
        rating = self.ratings.get(movie_id)
        if rating is not None:
            return rating >= LIKED_RATING
        return movie_id in self.picked

    def is_seen(self, movie_id: int) -> bool:
        return movie_id in self.ratings or movie_id in self.picked

    def liked_ids(self) -> list[int]:
        """Liked movies, best-rated first (favourites without a rating count as liked)."""
        return list(self._liked)

    @cached_property
    def _liked(self) -> tuple[int, ...]:
        rated = sorted((m for m, r in self.ratings.items() if r >= LIKED_RATING), key=lambda m: -self.ratings[m])
        picked = sorted(m for m in self.picked if m not in self.ratings)
        return (*rated, *picked)

    def affection(self, movie_id: int) -> str:
        """The verb that is true of this movie: "loved" (≥ 4.5 stars), else "liked"."""
        rating = self.ratings.get(movie_id)
        return "loved" if rating is not None and rating >= LOVED_RATING else "liked"

    def is_disliked(self, movie_id: int) -> bool:
        rating = self.ratings.get(movie_id)
        return rating is not None and rating <= DISLIKED_RATING

    def fold_in_ratings(self, picked_rating: float) -> dict[int, float]:
        """Ratings plus unrated favourites (as ``picked_rating``), oldest first: favourites come from
        onboarding, so they count as the oldest interactions (by movie id among themselves)."""
        ratings = {movie_id: picked_rating for movie_id in sorted(self.picked) if movie_id not in self.ratings}
        ratings.update(self.ratings)
        return ratings
