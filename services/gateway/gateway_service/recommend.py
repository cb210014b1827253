"""Composition of the tiers: profile → (embedding) → retrieval → ranker, and the home-page carousels.

The ranker is the only tier whose failure does not fail the request: its picks are replaced by
the retrieval order with reasons grounded in catalog facts (:mod:`gateway_service.fallback`) and
the answer is flagged ``degraded``. Every pick, ranked or not, is re-checked against the hard
filter with catalog facts before it is shown.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np

from gateway_service.deps import Services, call
from gateway_service.errors import ApiError, not_found
from gateway_service.fallback import LovedMovie, grounded_reason, loved_movies
from gateway_service.filters import HardFilter, admits
from gateway_service.movies import placeholder_url, poster_url
from gateway_service.schemas import Card, Carousel, Factor, RecommendationsRequest, RecommendationsResponse
from movierec.common.v1 import common_pb2
from movierec.embedding.v1 import embedding_pb2
from movierec.profile.v1 import profile_pb2
from movierec.ranker.v1 import ranker_pb2
from movierec.retrieval.v1 import retrieval_pb2
from movierec_core.errors import ServiceError, describe_rpc_error
from movierec_core.logs import log_fields

log = logging.getLogger("movierec.gateway.recommend")

WATCHED_KEY = "movierec:gw:watched:{user_id}"
CONTEXT_WEIGHT = 0.3  # top picks query = normalize(0.7·taste + 0.3·embed(context))
LOVED_RATING = 4.0


# ---- the user ----------------------------------------------------------------------------

@dataclass
class UserView:
    user_id: str
    profile: profile_pb2.Profile
    watched: set[int] = field(default_factory=set)

    @property
    def cold_start(self) -> bool:
        return bool(self.profile.cold_start)

    @property
    def ratings(self) -> dict[int, float]:
        return {r.movie_id: float(r.rating) for r in self.profile.ratings}

    @property
    def liked_ids(self) -> list[int]:
        return list(self.profile.liked_movie_ids)

    @property
    def seen(self) -> set[int]:
        """Movies never to recommend again: rated, picked at onboarding, marked watched."""
        return set(self.ratings) | set(self.liked_ids) | self.watched

    @property
    def taste(self) -> np.ndarray:
        vector = self.profile.scoring_vector or self.profile.vector
        return np.asarray(vector, dtype=np.float32)

    def loved(self, services: Services) -> list[LovedMovie]:
        return loved_movies(services.catalog, self.ratings, self.liked_ids)

    def context(self, turns: Sequence[common_pb2.ConversationTurn] = (),
                vector: np.ndarray | None = None) -> ranker_pb2.UserContext:
        """What the ranker knows; ``vector`` replaces the taste vector when the request has its own intent
        (a chat turn's query, "more like X", a context text), so the ranker scores against that intent."""
        vector = self.taste if vector is None else vector
        return ranker_pb2.UserContext(user_id=self.user_id, vector=vector.tolist(),
                                      ratings=self.profile.ratings, liked_movie_ids=self.liked_ids,
                                      recent_turns=list(turns))


NOT_ONBOARDED = ("{user_id} has no taste profile yet: onboard first with POST /api/embeddings/generate "
                 "(pick a few movies and vibes)")


async def load_user(services: Services, user_id: str, *, allow_cold_start: bool = False) -> UserView:
    """The user's profile (404 NOT_ONBOARDED when there is none and cold start is not allowed)."""
    request = profile_pb2.GetProfileRequest(user_id=user_id, allow_cold_start=allow_cold_start)
    try:
        response, watched = await asyncio.gather(call("profile", services.profile.GetProfile, request),
                                                 watched_ids(services, user_id))
    except ApiError as error:
        if error.status == 404:
            raise not_found(NOT_ONBOARDED.format(user_id=user_id), code="NOT_ONBOARDED") from None
        raise
    return UserView(user_id, response.profile, watched)


async def watched_ids(services: Services, user_id: str) -> set[int]:
    members = await services.redis.smembers(WATCHED_KEY.format(user_id=user_id))
    return {int(m) for m in members}


async def mark_watched(services: Services, user_id: str, movie_id: int) -> None:
    await services.redis.sadd(WATCHED_KEY.format(user_id=user_id), movie_id)


def normalize(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def blend(base: np.ndarray, other: np.ndarray, weight: float) -> np.ndarray:
    """normalize((1 − weight)·base + weight·other)."""
    return normalize((1 - weight) * normalize(base) + weight * normalize(other))


async def embed_query(services: Services, text: str) -> np.ndarray:
    request = embedding_pb2.EmbedRequest(texts=[text], kind=embedding_pb2.EMBED_KIND_QUERY)
    response = await call("embedding", services.embedding.Embed, request)
    return np.asarray(response.vectors[0].values, dtype=np.float32)


# ---- retrieval ---------------------------------------------------------------------------

@dataclass
class Candidates:
    hits: list[retrieval_pb2.Hit]
    index_version: str


async def search(services: Services, vector: np.ndarray, k: int, hard: HardFilter) -> Candidates:
    request = retrieval_pb2.SearchRequest(vector=vector.tolist(), k=k, filter=hard.to_proto())
    response = await call("retrieval", services.retrieval.Search, request)
    return Candidates(list(response.hits), response.index_version)


async def more_like_this(services: Services, movie_id: int, k: int, hard: HardFilter) -> Candidates:
    request = retrieval_pb2.MoreLikeThisRequest(movie_id=movie_id, k=k, filter=hard.to_proto())
    response = await call("retrieval", services.retrieval.MoreLikeThis, request)
    return Candidates(list(response.hits), response.index_version)


# ---- ranking -----------------------------------------------------------------------------

@dataclass
class Ranked:
    cards: list[Card]
    ranker: str
    degraded: bool = False
    degraded_reason: str | None = None


def factor_kind(kind: int) -> str:
    name = ranker_pb2.FactorKind.Name(kind) if kind in ranker_pb2.FactorKind.values() else "FACTOR_KIND_UNSPECIFIED"
    return name.removeprefix("FACTOR_KIND_").lower()


def make_card(services: Services, movie_id: int, match_score: float, explanation: str,
              factors: list[Factor], because: Sequence[int] = ()) -> Card | None:
    movie = services.catalog.get(movie_id)
    if movie is None:
        return None
    return Card(movie_id=movie.movie_id, title=movie.title, year=movie.year, poster_url=poster_url(movie),
                placeholder_url=placeholder_url(movie.movie_id),
                match_score=min(max(float(match_score), 0.0), 1.0), explanation=explanation, factors=factors,
                because_movie_ids=list(because), genres=list(movie.genres), runtime_min=movie.runtime_min,
                certification=movie.certification)


def _ranker_factor(services: Services, factor: ranker_pb2.Factor) -> Factor:
    source = services.catalog.get(factor.source_movie_id) if factor.source_movie_id else None
    return Factor(kind=factor_kind(factor.kind), value=factor.value,
                  source_movie_id=source.movie_id if source else None, source_title=source.title if source else None)


def _admitted(services: Services, movie_id: int, hard: HardFilter) -> bool:
    movie = services.catalog.get(movie_id)
    return movie is not None and admits(movie, hard)


async def rank(services: Services, user: UserView, hits: list[retrieval_pb2.Hit], *, top_n: int,
               hard: HardFilter, query: str = "", turns: Sequence[common_pb2.ConversationTurn] = (),
               vector: np.ndarray | None = None) -> Ranked:
    """The ranker's top ``top_n`` of ``hits``; on any ranker failure, the degraded retrieval order."""
    hits = [h for h in hits if _admitted(services, h.movie_id, hard)]
    if not hits:
        return Ranked([], "none")
    top_n = min(top_n, len(hits))
    request = ranker_pb2.RankRequest(
        user=user.context(turns, vector), query=query, top_n=top_n, constraints=hard.to_proto(),
        candidates=[ranker_pb2.Candidate(movie_id=h.movie_id, retrieval_score=h.score) for h in hits])
    try:
        response = await services.ranker.Rank(request)
    except (grpc.RpcError, ServiceError) as error:
        reason = _failure_reason(error)
        log.warning("ranker failed; serving retrieval order", extra=log_fields(reason=reason))
        return degraded(services, user, hits, top_n, reason)
    allowed = {h.movie_id for h in hits}
    cards = []
    for rec in response.recommendations:
        if rec.movie_id not in allowed:  # never show what retrieval did not admit
            continue
        card = make_card(services, rec.movie_id, rec.match_score, rec.explanation,
                         [_ranker_factor(services, f) for f in rec.factors], rec.because_movie_ids)
        if card is not None:
            cards.append(card)
    return Ranked(cards[:top_n], response.ranker or "ranker", bool(response.degraded),
                  response.degraded_reason or None)


def _failure_reason(error: BaseException) -> str:
    if isinstance(error, grpc.RpcError):
        described = describe_rpc_error(error)
        return f"ranker {described.code.name}: {described.message}"
    return f"ranker skipped: {error}"


def degraded(services: Services, user: UserView, hits: list[retrieval_pb2.Hit], top_n: int,
             reason: str) -> Ranked:
    """Retrieval order, cosine as match score, reasons from catalog facts only."""
    loved = user.loved(services)
    cards = []
    for hit in hits[:top_n]:
        movie = services.catalog.get(hit.movie_id)
        if movie is None:
            continue
        explanation, factors = grounded_reason(movie, loved, hit.score, cold_start=user.cold_start)
        card = make_card(services, hit.movie_id, hit.score, explanation, factors)
        if card is not None:
            cards.append(card)
    return Ranked(cards, "retrieval-order", True, reason)


# ---- carousels ---------------------------------------------------------------------------

def because_seed(user: UserView) -> int | None:
    """The most recently rated movie with a rating ≥ 4 (ties: higher rating), else the first onboarding pick."""
    loved = [r for r in user.profile.ratings if r.rating >= LOVED_RATING]
    if loved:
        best = max(loved, key=lambda r: (r.rated_at.seconds, r.rated_at.nanos, r.rating))
        return best.movie_id
    return user.liked_ids[0] if user.liked_ids else None


def genre_affinity(services: Services, ratings: dict[int, float]) -> dict[str, tuple[float, int]]:
    """Affinity_g = Σ r_m·[g ∈ genres(m)] / Σ [g ∈ genres(m)] over the rated movies → {g: (affinity, count)}."""
    sums: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for movie_id, rating in ratings.items():
        movie = services.catalog.get(movie_id)
        for genre in movie.genres if movie else ():
            sums[genre] += rating
            counts[genre] += 1
    return {g: (sums[g] / counts[g], counts[g]) for g in counts}


def favourite_genre(services: Services, user: UserView) -> str | None:
    """Highest affinity among genres rated at least twice (else once), ties by count; without ratings,
    the most common genre of the onboarding picks."""
    affinity = genre_affinity(services, user.ratings)
    for min_count in (2, 1):
        eligible = {g: v for g, v in affinity.items() if v[1] >= min_count and v[0] >= LOVED_RATING - 0.5}
        if eligible:
            return max(sorted(eligible), key=lambda g: eligible[g])
    picked = Counter(g for mid in user.liked_ids if (m := services.catalog.get(mid)) for g in m.genres)
    return picked.most_common(1)[0][0] if picked else None


@dataclass
class CarouselPlan:
    id: str
    kind: str
    title: str
    fetch: object  # an awaitable producing Candidates
    seed_movie_id: int | None = None
    genre: str | None = None


async def recommendations(services: Services, body: RecommendationsRequest) -> RecommendationsResponse:
    user = await load_user(services, body.user_id, allow_cold_start=True)
    hard = HardFilter(exclude_movie_ids=user.seen | set(body.exclude_movies))
    k = services.settings.candidates
    n = body.num_results
    query_vector = user.taste
    if body.context and body.context.strip():
        query_vector = blend(user.taste, await embed_query(services, body.context), CONTEXT_WEIGHT)
    plans = [CarouselPlan("top-picks", "top_picks",
                          "Popular picks to start with" if user.cold_start else "Top picks for you",
                          search(services, query_vector, k, hard))]
    if not user.cold_start:
        seed = because_seed(user)
        seed_movie = services.catalog.get(seed) if seed is not None else None
        if seed_movie is not None:
            plans.append(CarouselPlan(f"because-{seed}", "because_you_loved", f"Because you loved {seed_movie.title}",
                                      more_like_this(services, seed, k + n, hard), seed_movie_id=seed))
        genre = favourite_genre(services, user)
        if genre:
            plans.append(CarouselPlan(f"fans-of-{genre.lower()}", "fans_of", f"For fans of {genre}",
                                      search(services, user.taste, k + 2 * n,
                                             HardFilter(**{**hard.__dict__, "include_genres": [genre]})),
                                      genre=genre))
    found = await asyncio.gather(*(plan.fetch for plan in plans))
    # Later carousels ask the ranker for more, so that after removing movies shown above they still have n.
    ranked = await asyncio.gather(*(
        rank(services, user, cands.hits, top_n=n * (i + 1), hard=hard, query=body.context or "",
             vector=query_vector if i == 0 else None)
        for i, cands in enumerate(found)))
    return _assemble(body.user_id, user, plans, found, ranked, n)


def _assemble(user_id: str, user: UserView, plans: list[CarouselPlan], found: list[Candidates],
              ranked: list[Ranked], n: int) -> RecommendationsResponse:
    shown: set[int] = set()
    carousels = []
    for plan, result in zip(plans, ranked, strict=True):
        cards = [c for c in result.cards if c.movie_id not in shown][:n]
        if not cards:
            continue
        shown.update(c.movie_id for c in cards)
        carousels.append(Carousel(id=plan.id, kind=plan.kind, title=plan.title, seed_movie_id=plan.seed_movie_id,
                                  genre=plan.genre, degraded=result.degraded, recommendations=cards))
    degraded_results = [r for r in ranked if r.degraded]
    return RecommendationsResponse(
        user_id=user_id, cold_start=user.cold_start, degraded=bool(degraded_results),
        degraded_reason=degraded_results[0].degraded_reason if degraded_results else None,
        ranker=next((r.ranker for r in ranked if r.ranker != "none"), "none"),
        index_version=next((c.index_version for c in found if c.index_version), ""),
        carousels=carousels)
