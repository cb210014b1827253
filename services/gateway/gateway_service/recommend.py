"""Composition of the tiers: profile → (embedding) → retrieval → ranker, and the home-page carousels.

The home page is one ``RankBatch`` call: every carousel is a candidate group of the same user, so
the ranker reads the user's context once (:func:`rank_page`). The ranker is the only tier whose
failure does not fail the request: its picks are replaced by
the retrieval order with reasons grounded in catalog facts (:mod:`gateway_service.fallback`) and
the answer is flagged ``degraded``. Every pick, ranked or not, is re-checked against the hard
filter with catalog facts before it is shown.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import grpc
import numpy as np

from gateway_service.deps import Services, call
from gateway_service.errors import ApiError, not_found
from gateway_service.fallback import LovedMovie, grounded_reason, loved_movies
from gateway_service.movies import estimate_fields, placeholder_url, poster_url
from gateway_service.rank_policy import candidates_only_for
from gateway_service.schemas import Card, Carousel, Factor, RecommendationsRequest, RecommendationsResponse
from gateway_service.themes import Theme, favourite_ids, user_themes
from gateway_service.timing import stage
from movierec.common.v1 import common_pb2
from movierec.embedding.v1 import embedding_pb2
from movierec.events.v1 import events_pb2
from movierec.profile.v1 import profile_pb2
from movierec.ranker.v1 import ranker_pb2
from movierec.retrieval.v1 import retrieval_pb2
from movierec_catalog.filter import Filter
from movierec_core.errors import ServiceError, describe_rpc_error
from movierec_core.logs import log_fields

log = logging.getLogger("movierec.gateway.recommend")

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
    def watchlist(self) -> list[int]:
        return list(self.profile.watchlist_movie_ids)

    @property
    def seen(self) -> set[int]:
        """Movies never to recommend again: rated, picked at onboarding, marked watched, or already on the
        watchlist (it has its own row on the home page)."""
        return set(self.ratings) | set(self.liked_ids) | self.watched | set(self.watchlist)

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
        # Oldest first, each with rated_at: the ranker's SeqEASE weights ratings by recency of position.
        ratings = sorted(self.profile.ratings, key=lambda r: (r.rated_at.seconds, r.rated_at.nanos, r.movie_id))
        return ranker_pb2.UserContext(user_id=self.user_id, vector=vector.tolist(),
                                      ratings=ratings, liked_movie_ids=self.liked_ids,
                                      recent_turns=list(turns))


NOT_ONBOARDED = ("{user_id} has no taste profile yet: onboard first with POST /api/embeddings/generate "
                 "(pick a few movies and vibes)")


async def load_user(services: Services, user_id: str, *, allow_cold_start: bool = False) -> UserView:
    """The user's profile (404 NOT_ONBOARDED when there is none and cold start is not allowed); the
    movies marked watched come with it (the profile tier keeps them, even for a user without a profile)."""
    request = profile_pb2.GetProfileRequest(user_id=user_id, allow_cold_start=allow_cold_start)
    try:
        response = await call("profile", services.profile.GetProfile, request)
    except ApiError as error:
        if error.status == 404:
            raise not_found(NOT_ONBOARDED.format(user_id=user_id), code="NOT_ONBOARDED") from None
        raise
    return UserView(user_id, response.profile, set(response.profile.watched_movie_ids))


async def watched_ids(services: Services, user_id: str) -> set[int]:
    """Movies the user marked watched or saved to the watchlist (``Profile.watched_movie_ids`` and
    ``watchlist_movie_ids``, answered with the cold start too): a profile returned by a write RPC
    (ApplyMessage, Onboard) carries neither, and both stay out of picks."""
    request = profile_pb2.GetProfileRequest(user_id=user_id, allow_cold_start=True)
    response = await call("profile", services.profile.GetProfile, request)
    return set(response.profile.watched_movie_ids) | set(response.profile.watchlist_movie_ids)


WATCH_ATTEMPTS = 2
WATCH_RETRY_S = 0.2


async def record_watched(services: Services, user_id: str, movie_id: int) -> None:
    """A watch: one RecordInteraction, which the profile tier applies and marks watched in one atomic step
    (the watched route and the chat's "I've seen those"); an unknown movie is refused with nothing written."""
    request = profile_pb2.RecordInteractionRequest(user_id=user_id, movie_id=movie_id,
                                                   kind=events_pb2.INTERACTION_KIND_WATCH, event_id=uuid.uuid4().hex)
    for attempt in range(WATCH_ATTEMPTS):
        try:
            await call("profile", services.profile.RecordInteraction, request)
            return
        except ApiError as error:
            # No profile yet (a chat-first user saying "I've seen those"): there is no taste to nudge, and
            # the profile tier has marked the movie watched anyway, so it stays out of later picks.
            if error.status == 404:
                return
            # A transient UNAVAILABLE (a busy store right after onboarding): the same event id again is
            # safe, since the profile tier applies an event id once.
            if error.status != 503 or attempt == WATCH_ATTEMPTS - 1:
                raise
            await asyncio.sleep(WATCH_RETRY_S)


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


async def search(services: Services, vector: np.ndarray, k: int, hard: Filter) -> Candidates:
    request = retrieval_pb2.SearchRequest(vector=vector.tolist(), k=k, filter=hard.to_proto())
    response = await call("retrieval", services.retrieval.Search, request)
    return Candidates(list(response.hits), response.index_version)


async def search_batch(services: Services, queries: Sequence[tuple[np.ndarray, int, Filter]]) -> list[Candidates]:
    """Several (vector, k, filter) searches in one SearchBatch call, results in query order."""
    request = retrieval_pb2.SearchBatchRequest(queries=[
        retrieval_pb2.SearchQuery(vector=vector.tolist(), k=k, filter=hard.to_proto()) for vector, k, hard in queries])
    response = await call("retrieval", services.retrieval.SearchBatch, request)
    return [Candidates(list(result.hits), response.index_version) for result in response.results]


async def more_like_this(services: Services, movie_id: int, k: int, hard: Filter) -> Candidates:
    request = retrieval_pb2.MoreLikeThisRequest(movie_id=movie_id, k=k, filter=hard.to_proto())
    response = await call("retrieval", services.retrieval.MoreLikeThis, request)
    return Candidates(list(response.hits), response.index_version)


# ---- ranking -----------------------------------------------------------------------------

@dataclass
class Pick:
    """One ranked movie and how to make its card (cards are built only for the picks that are shown:
    the carousels ask the ranker for extra picks to replace duplicates, most of which are never shown)."""

    movie_id: int
    build: Callable[[], Card | None]


@dataclass
class Ranked:
    picks: list[Pick]
    ranker: str
    degraded: bool = False
    degraded_reason: str | None = None
    # What the ranker returned, before the gateway's last-line check (chat diagnostics).
    returned_movie_ids: list[int] = field(default_factory=list)

    def cards(self, limit: int | None = None, skip: Collection[int] = ()) -> list[Card]:
        """Cards of the picks in rank order, without ``skip``, at most ``limit``."""
        cards: list[Card] = []
        for pick in self.picks:
            if limit is not None and len(cards) >= limit:
                break
            if pick.movie_id not in skip and (card := pick.build()) is not None:
                cards.append(card)
        return cards


# FACTOR_KIND_SIMILAR_TO_LIKED → "similar_to_liked"; computed once (a card has several factors, a request ~100).
_FACTOR_KINDS = {value: name.removeprefix("FACTOR_KIND_").lower()
                 for name, value in ranker_pb2.FactorKind.items()}


def factor_kind(kind: int) -> str:
    return _FACTOR_KINDS.get(kind, "unspecified")


def make_card(services: Services, movie_id: int, match_score: float, explanation: str,
              factors: list[Factor], because: Sequence[int] = ()) -> Card | None:
    movie = services.catalog.get(movie_id)
    if movie is None:
        return None
    return Card(movie_id=movie.movie_id, title=movie.title, year=movie.year, poster_url=poster_url(movie),
                placeholder_url=placeholder_url(movie.movie_id),
                match_score=min(max(float(match_score), 0.0), 1.0), explanation=explanation, factors=factors,
                because_movie_ids=list(because), genres=list(movie.genres), runtime_min=movie.runtime_min,
                certification=movie.certification,
                certification_estimate=estimate_fields(movie).get("certification_estimate"))


def _ranker_factor(services: Services, factor: ranker_pb2.Factor) -> Factor:
    source = services.catalog.get(factor.source_movie_id) if factor.source_movie_id else None
    return Factor(kind=factor_kind(factor.kind), value=factor.value,
                  source_movie_id=source.movie_id if source else None, source_title=source.title if source else None)


def _admitted(services: Services, movie_id: int, hard: Filter) -> bool:
    movie = services.catalog.get(movie_id)
    return movie is not None and hard.admits(movie)


async def rank(services: Services, user: UserView, hits: list[retrieval_pb2.Hit], *, top_n: int,
               hard: Filter, query: str = "", turns: Sequence[common_pb2.ConversationTurn] = (),
               vector: np.ndarray | None = None, candidates_only: bool = True, because_movie_id: int = 0) -> Ranked:
    """The ranker's top ``top_n`` of ``hits``; on any ranker failure, the degraded retrieval order.

    ``candidates_only=False`` lets the ranker add its own collaborative candidates (top picks): each
    is re-checked here against the catalog facts and the constraints, like retrieval's hits.
    """
    hits = [h for h in hits if _admitted(services, h.movie_id, hard)]
    if not hits:
        return Ranked([], "none")
    top_n = min(top_n, len(hits))
    request = ranker_pb2.RankRequest(
        user=user.context(turns, vector), query=query, top_n=top_n, constraints=hard.to_proto(),
        candidates_only=candidates_only, because_movie_id=because_movie_id,
        candidates=[ranker_pb2.Candidate(movie_id=h.movie_id, retrieval_score=h.score) for h in hits])
    try:
        response = await services.ranker.Rank(request)
    except (grpc.RpcError, ServiceError) as error:
        code, detail = _failure(error)
        log.warning("ranker failed; serving retrieval order", extra=log_fields(grpc_code=code, detail=detail))
        return degraded(services, user, hits, top_n, _degraded_reason(code))
    return _ranked(services, user, response.recommendations, hits, hard, candidates_only, top_n, response)


def _ranked(services: Services, user: UserView, recommendations: Sequence[ranker_pb2.Recommendation],
            hits: list[retrieval_pb2.Hit], hard: Filter, candidates_only: bool, top_n: int,
            response: ranker_pb2.RankResponse) -> Ranked:
    """The ranker's picks that may be shown, with the ranker's name and degraded flag from ``response``."""
    allowed = {h.movie_id for h in hits}

    # Never show what was not admitted: retrieval's hits, or (when the ranker may add its own) any movie
    # the catalog facts show passes the constraints and the user has not seen.
    def admitted(movie_id: int) -> bool:
        if movie_id in allowed:
            return True
        return not candidates_only and movie_id not in user.seen and _admitted(services, movie_id, hard)

    picks = [Pick(rec.movie_id, partial(_ranked_card, services, rec)) for rec in recommendations
             if rec.movie_id in services.catalog and admitted(rec.movie_id)]
    return Ranked(picks[:top_n], response.ranker or "ranker", bool(response.degraded),
                  response.degraded_reason or None, [rec.movie_id for rec in recommendations])


def _ranked_card(services: Services, rec: ranker_pb2.Recommendation) -> Card | None:
    return make_card(services, rec.movie_id, rec.match_score, rec.explanation,
                     [_ranker_factor(services, f) for f in rec.factors], rec.because_movie_ids)


def _failure(error: BaseException) -> tuple[str, str]:
    """(status code name, detail) of a failed Rank call; the detail is for the log only."""
    if isinstance(error, grpc.RpcError):
        described = describe_rpc_error(error)
        return described.code.name, described.message
    if isinstance(error, ServiceError):
        return error.code.name, error.message
    return "UNKNOWN", repr(error)


def _degraded_reason(code: str) -> str:
    """What the client is told (gRPC's own message names internal addresses: logged, not sent)."""
    what = "did not answer in time" if code == "DEADLINE_EXCEEDED" else "is unavailable"
    return f"ranker {code}: the ranker {what}; showing retrieval order with reasons from catalog facts"


def degraded(services: Services, user: UserView, hits: list[retrieval_pb2.Hit], top_n: int,
             reason: str) -> Ranked:
    """Retrieval order, cosine as match score, reasons from catalog facts only."""
    loved = user.loved(services)
    picks = [Pick(hit.movie_id, partial(_grounded_card, services, hit, loved, user.cold_start))
             for hit in hits if hit.movie_id in services.catalog]
    return Ranked(picks[:top_n], "retrieval-order", True, reason)


def _grounded_card(services: Services, hit: retrieval_pb2.Hit, loved: list[LovedMovie],
                   cold_start: bool) -> Card | None:
    explanation, factors = grounded_reason(services.catalog.get(hit.movie_id), loved, hit.score,
                                           cold_start=cold_start)
    return make_card(services, hit.movie_id, hit.score, explanation, factors)


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
    """One carousel: where its candidates come from (a vector search or "more like" a seed movie), and
    how many picks to ask the ranker for."""

    id: str
    kind: str
    title: str
    k: int
    top_n: int
    hard: Filter  # what retrieval must enforce for this carousel
    search_vector: np.ndarray | None = None  # a vector search…
    seed_movie_id: int | None = None  # …or MoreLikeThis(seed)
    rank_vector: np.ndarray | None = None  # the intent the ranker scores against (None: the taste vector)
    genre: str | None = None
    theme_id: int | None = None

    def group(self, hits: list[retrieval_pb2.Hit], top_n: int, hard: Filter, query: str) -> ranker_pb2.CandidateGroup:
        """This carousel as one candidate group of a RankBatch call (its seed explains every pick)."""
        return ranker_pb2.CandidateGroup(
            group_id=self.id, top_n=top_n, constraints=hard.to_proto(),
            candidates_only=candidates_only_for(self.kind, query), because_movie_id=self.seed_movie_id or 0,
            vector=self.rank_vector.tolist() if self.rank_vector is not None else [],
            candidates=[ranker_pb2.Candidate(movie_id=h.movie_id, retrieval_score=h.score) for h in hits])


def plan_carousels(services: Services, user: UserView, hard: Filter, n: int,
                   query_vector: np.ndarray) -> list[CarouselPlan]:
    """Top picks, then (after onboarding) "Because you loved X" and "For fans of G".

    Later carousels ask retrieval for more candidates, so that after the ranker removes the movies an
    earlier carousel picked (``distinct_picks``) they still have ``n``.
    """
    k = services.settings.candidates
    plans = [CarouselPlan("top-picks", "top_picks",
                          "Popular picks to start with" if user.cold_start else "Top picks for you",
                          k=k, top_n=n, hard=hard, search_vector=query_vector, rank_vector=query_vector)]
    if user.cold_start:
        return plans
    seed = because_seed(user)
    seed_movie = services.catalog.get(seed) if seed is not None else None
    if seed_movie is not None:
        plans.append(CarouselPlan(f"because-{seed}", "because_you_loved", f"Because you loved {seed_movie.title}",
                                  k=k + n, top_n=n, hard=hard, seed_movie_id=seed))
    genre = favourite_genre(services, user)
    if genre:
        plans.append(CarouselPlan(f"fans-of-{genre.lower()}", "fans_of", f"For fans of {genre}",
                                  k=k + 2 * n, top_n=n, hard=replace(hard, include_genres=[genre]),
                                  search_vector=user.taste, genre=genre))
    theme = top_theme(services, user)  # "More <theme>": the theme holding most of the favourites
    unseen = frozenset(theme.movie_ids) - hard.exclude_movie_ids if theme else frozenset()
    if unseen:  # (an empty allow-list would mean "any movie")
        plans.append(CarouselPlan(f"theme-{theme.theme_id}", "theme", f"More {theme.name}", k=k + 2 * n,
                                  top_n=n, hard=replace(hard, only_movie_ids=unseen),
                                  search_vector=user.taste, theme_id=theme.theme_id))
    return plans


def top_theme(services: Services, user: UserView) -> Theme | None:
    index = services.extras.get("themes")
    if index is None:
        return None
    found = user_themes(index, services.catalog, favourite_ids(user.ratings, user.liked_ids), limit=1)
    return found[0].theme if found else None


async def retrieve_carousels(services: Services, plans: list[CarouselPlan]) -> list[Candidates]:
    """Every carousel's candidates with as few calls as possible: the vector searches in one SearchBatch,
    concurrently with the MoreLikeThis call (each call costs the retrieval tier more than a query does)."""
    searches = [i for i, plan in enumerate(plans) if plan.search_vector is not None]
    seeded = [i for i, plan in enumerate(plans) if plan.search_vector is None]
    batch = (search_batch(services, [(plans[i].search_vector, plans[i].k, plans[i].hard) for i in searches])
             if searches else asyncio.sleep(0, result=[]))
    found = await asyncio.gather(batch, *(more_like_this(services, plans[i].seed_movie_id, plans[i].k, plans[i].hard)
                                          for i in seeded))
    by_plan = dict(zip(searches, found[0], strict=True)) | dict(zip(seeded, found[1:], strict=True))
    return [by_plan[i] for i in range(len(plans))]


async def rank_page(services: Services, user: UserView, plans: list[CarouselPlan], found: list[Candidates],
                    hard: Filter, query: str) -> list[Ranked]:
    """Every carousel ranked in one RankBatch call, no movie picked twice (``distinct_picks``); when the
    ranker fails, each carousel degrades to its retrieval order (a group the ranker could not fill, e.g.
    nothing eligible, comes back empty)."""
    admitted = [[h for h in candidates.hits if _admitted(services, h.movie_id, hard)] for candidates in found]
    live = [i for i, hits in enumerate(admitted) if hits]
    results = [Ranked([], "none") for _ in plans]
    if not live:
        return results
    request = ranker_pb2.RankBatchRequest(user=user.context(), query=query, distinct_picks=True, groups=[
        plans[i].group(admitted[i], min(plans[i].top_n, len(admitted[i])), hard, query) for i in live])
    try:
        response = await services.ranker.RankBatch(request)
    except (grpc.RpcError, ServiceError) as error:
        code, detail = _failure(error)
        log.warning("ranker failed; serving retrieval order", extra=log_fields(grpc_code=code, detail=detail))
        for i in live:
            # Every admitted hit (cards are built lazily): _assemble skips what an earlier carousel shows.
            results[i] = degraded(services, user, admitted[i], len(admitted[i]), _degraded_reason(code))
        return results
    for i, result in zip(live, response.results, strict=True):
        if result.error:
            log.info("carousel not ranked", extra=log_fields(carousel=plans[i].id, detail=result.error))
            continue
        results[i] = _ranked(services, user, result.recommendations, admitted[i], hard,
                             candidates_only_for(plans[i].kind, query), plans[i].top_n,
                             ranker_pb2.RankResponse(ranker=response.ranker, degraded=response.degraded,
                                                     degraded_reason=response.degraded_reason))
    return results


async def recommendations(services: Services, body: RecommendationsRequest) -> RecommendationsResponse:
    with stage("profile"):
        user = await load_user(services, body.user_id, allow_cold_start=True)
    hard = Filter(exclude_movie_ids=user.seen | set(body.exclude_movies))
    query_vector = user.taste
    if body.context and body.context.strip():
        with stage("embed"):
            query_vector = blend(user.taste, await embed_query(services, body.context), CONTEXT_WEIGHT)
    plans = plan_carousels(services, user, hard, body.num_results, query_vector)
    with stage("retrieve"):
        found = await retrieve_carousels(services, plans)
    with stage("rank"):  # one RankBatch call for every carousel
        ranked = await rank_page(services, user, plans, found, hard, body.context or "")
    with stage("assemble"):
        return _assemble(body.user_id, user, plans, found, ranked, body.num_results)


def _assemble(user_id: str, user: UserView, plans: list[CarouselPlan], found: list[Candidates],
              ranked: list[Ranked], n: int) -> RecommendationsResponse:
    shown: set[int] = set()
    carousels = []
    for plan, result in zip(plans, ranked, strict=True):
        cards = result.cards(limit=n, skip=shown)
        if not cards:
            continue
        shown.update(c.movie_id for c in cards)
        carousels.append(Carousel(id=plan.id, kind=plan.kind, title=plan.title, seed_movie_id=plan.seed_movie_id,
                                  genre=plan.genre, theme_id=plan.theme_id, degraded=result.degraded,
                                  recommendations=cards))
    degraded_results = [r for r in ranked if r.degraded]
    return RecommendationsResponse(
        user_id=user_id, cold_start=user.cold_start, degraded=bool(degraded_results),
        degraded_reason=degraded_results[0].degraded_reason if degraded_results else None,
        ranker=next((r.ranker for r in ranked if r.ranker != "none"), "none"),
        index_version=next((c.index_version for c in found if c.index_version), ""),
        carousels=carousels)
