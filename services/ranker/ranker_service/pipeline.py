"""One Rank call: hard constraints → hybrid candidates → numeric scores → MMR (or the LLM's order) →
verified explanations.

**Hybrid candidates.** A reranker can only surface what it is given, and content retrieval passes
few of the movies a person watches next. So when SeqEASE has something to say about the person, the
ranker adds its own top ``collab_candidates`` (``RANKER_COLLAB_CANDIDATES``) unrated movies to the
received ones — in SeqEASE order, each re-checked against the request's constraints exactly like the
received candidates, and only movies with catalog facts *and* a vector (the explainer's "similar to a
movie you liked" is the closest liked movie by vector). ``collab_candidates = 0`` (or
``RANKER_HYBRID_CANDIDATES=false``) ranks the received candidates only.

**The audience prior** (``ranker_service/audience.py``): the maturity band the person's liked movies
show demotes (or, with unanimous evidence, excludes) candidates outside it; when it changed the
picks, each pick says so ("Kept to family films, as your picks are").

**Attribution.** Each pick's "because" names the signal that chose it: the caller's seed movie for
"more like X" groups (``because_movie_id``), "people who watched X went on to watch this" when the
sequential model's term lifted it more than content similarity did, else the liked movie closest by
vector; request words lead the explanation when the pick matches them.

**One page, one call.** :meth:`Ranker.rank_batch` ranks several candidate groups of one person: the
fold-in, SeqEASE state and audience are computed once, and the numeric work runs in a worker thread
so the event loop keeps serving other calls.

The numeric ranking is always computed first (a few milliseconds), so when the LLM is off,
slow, failing or wrong, the answer is ready inside the caller's deadline; the response then
says ``degraded`` with the reason and the fallback is counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np
import prometheus_client

from movierec_catalog.filter import Filter
from movierec_core.deadlines import downstream_timeout
from movierec_core.errors import ServiceError, failed_precondition
from movierec_core.logs import log_fields
from ranker_service.audience import Audience, audience_of
from ranker_service.diversity import mmr_order
from ranker_service.explain import Attribution, liked_neighbours, propose_claims, render
from ranker_service.history import UserHistory
from ranker_service.llm import LlmBackend, LlmCandidate, LlmFailure, LlmPick, PromptContext
from ranker_service.movies import MovieFacts, MovieStore
from ranker_service.prose_check import prose_is_supported
from ranker_service.scoring import PICKED_RATING, NumericScorer, Scores
from ranker_service.sequence_model import SequenceState
from ranker_service.verify import Claim, verify_claims

log = logging.getLogger("movierec.ranker")

FALLBACKS = prometheus_client.Counter(
    "movierec_ranker_fallbacks_total", "Rank calls answered by the numeric ranker because the LLM failed.",
    ("reason",))
DROPPED_CANDIDATES = prometheus_client.Counter(
    "movierec_ranker_dropped_candidates_total",
    "Candidates removed before ranking (already rated/picked, or failing a constraint).", ("reason",))
ADDED_CANDIDATES = prometheus_client.Counter(
    "movierec_ranker_collab_candidates_total",
    "Hybrid candidates the ranker added from SeqEASE (unrated, within the constraints).")

# How far down SeqEASE's order the ranker looks for collab candidates that pass the constraints.
COLLAB_SCAN_FACTOR = 10

# Time kept back from the LLM call for cancelling it and sending the (ready) fallback answer.
FALLBACK_RESERVE_S = 0.05


@dataclass(frozen=True)
class RankInput:
    history: UserHistory
    vector: np.ndarray | None
    candidates: list[tuple[int, float]]
    top_n: int
    constraints: Filter = field(default_factory=Filter)
    recent_turns: list[tuple[str, str]] = field(default_factory=list)
    candidates_only: bool = False  # the caller's candidates carry a meaning: add none of our own
    because_movie_id: int = 0  # the liked movie that chose the candidates ("more like X"): it explains every pick


@dataclass(frozen=True)
class UserState:
    """What every group of one call shares, computed once: the fold-in, SeqEASE's state, the liked facts."""

    fold_in: dict[int, float]
    sequence: SequenceState | None
    liked: list[MovieFacts]


@dataclass(frozen=True)
class NumericAnswer:
    """One group's numeric answer: complete before any LLM is asked."""

    eligible: list[tuple[int, float]]
    scores: Scores
    relevance: np.ndarray  # the blended score minus the audience penalty (−inf: excluded)
    order: list[int]
    picks: list[RankedPick]
    user: UserState
    note: Audience | None  # the audience band, when the prior changed the picks


@dataclass(frozen=True)
class RankedPick:
    movie_id: int
    match_score: float
    explanation: str
    factors: list[Claim]
    because_movie_ids: list[int]


@dataclass(frozen=True)
class RankOutput:
    picks: list[RankedPick]
    ranker: str
    degraded: bool = False
    degraded_reason: str = ""


class Ranker:
    def __init__(self, store: MovieStore, scorer: NumericScorer, mmr_lambda: float,
                 llm: LlmBackend | None = None, llm_max_candidates: int = 20, collab_candidates: int = 0):
        self.store = store
        self.scorer = scorer
        self.mmr_lambda = mmr_lambda
        self.llm = llm
        self.llm_max_candidates = llm_max_candidates
        self.collab_candidates = collab_candidates

    async def rank(self, request: RankInput) -> RankOutput:
        result = (await self.rank_batch([request]))[0]
        if isinstance(result, ServiceError):
            raise result
        return result

    async def rank_batch(self, requests: list[RankInput], *,
                         distinct: bool = False) -> list[RankOutput | ServiceError]:
        """Groups of one person (same history): each answer, or the error that group alone ran into.
        ``distinct``: a group never picks what an earlier group picked (its constraints exclude those)."""
        numeric = await asyncio.to_thread(self._numeric_batch, requests, distinct)
        return list(await asyncio.gather(*(self._finish(request, answer)
                                           for request, answer in zip(requests, numeric, strict=True))))

    def _numeric_batch(self, requests: list[RankInput], distinct: bool = False) -> list[NumericAnswer | ServiceError]:
        user = self._user_state(requests[0].history)
        answers: list[NumericAnswer | ServiceError] = []
        picked: set[int] = set()
        for request in requests:
            if distinct and picked:
                request = replace(request, constraints=request.constraints.excluding(picked))
            try:
                answer = self._numeric(request, user)
            except ServiceError as error:
                answers.append(error)
                continue
            answers.append(answer)
            picked.update(pick.movie_id for pick in answer.picks)
        return answers

    def _user_state(self, history: UserHistory) -> UserState:
        fold_in = history.fold_in_ratings(PICKED_RATING)
        liked = [movie for movie in map(self.store.get, history.liked_ids()) if movie is not None]
        return UserState(fold_in, self.scorer.sequence_state(fold_in), liked)

    def _numeric(self, request: RankInput, user: UserState) -> NumericAnswer:
        taste = self.scorer.taste_vector(request.vector, request.history.liked_ids())
        sequence = self._sequence_for(request, user)
        eligible = self._eligible(request) + self._collab_candidates(request, sequence, taste)
        if not eligible:
            raise self._nothing_eligible(request)
        scores = self.scorer.score([m for m, _ in eligible], taste, user.fold_in,
                                   np.array([s for _, s in eligible], dtype=np.float64), sequence)
        # A title the request asks for more of counts as evidence too: "more like Toy Story" from a
        # crime fan is a family request, and the band must not hide what was asked for.
        seed = self.store.get(request.because_movie_id) if request.because_movie_id else None
        audience = audience_of([*user.liked, *([seed] if seed else [])], request.constraints.max_certification)
        relevance = scores.ordering - audience.penalties(map(self.store.get, scores.movie_ids))
        order = self._numeric_order(scores, relevance, request.top_n)
        if not order:
            raise failed_precondition(f"all {len(eligible)} eligible candidates are outside the person's "
                                      f"audience band ({audience.band})", reason="NO_ELIGIBLE_CANDIDATES")
        note = audience if self._prior_changed(scores, relevance, request.top_n) else None
        picks = self._explain(request, user, scores, order, {}, note)
        return NumericAnswer(eligible, scores, relevance, order, picks, user, note)

    def _sequence_for(self, request: RankInput, user: UserState) -> SequenceState | None:
        """SeqEASE's state for this group. "More like X" (``because_movie_id``) asks what people who liked X
        went on to like: the state is folded in from X alone, so a crime fan's history does not turn
        "more like Toy Story" into the crime films their history predicts (in the fold-in an onboarding
        pick counts as the oldest interaction, the least weighted). Without SeqEASE evidence for X, the
        person's own state."""
        if not request.because_movie_id:
            return user.sequence
        return self.scorer.sequence_state([request.because_movie_id]) or user.sequence

    @staticmethod
    def _prior_changed(scores: Scores, relevance: np.ndarray, top_n: int) -> bool:
        """Did the audience prior demote or exclude a movie the blended score alone would have shown?"""
        best = np.argsort(-scores.ordering, kind="stable")[:top_n]
        return bool(np.any(relevance[best] < scores.ordering[best]))

    async def _finish(self, request: RankInput, answer: NumericAnswer | ServiceError) -> RankOutput | ServiceError:
        if isinstance(answer, ServiceError):
            return answer
        scores, numeric = answer.scores, answer.picks
        if self.llm is None:
            return RankOutput(numeric, scores.ranker)
        if not self.llm.settings.rerank:
            return RankOutput(await self._llm_prose(request, numeric), scores.ranker)
        try:
            picks = await self._llm_order(request, answer.eligible, scores, answer.relevance)
        except LlmFailure as failure:
            return self._fallback(numeric, scores.ranker, failure)
        except Exception as error:  # an unexpected reply shape must cost the LLM's vote, not the request
            log.exception("llm path failed")
            return self._fallback(numeric, scores.ranker, LlmFailure("internal", type(error).__name__))
        order = [scores.movie_ids.index(p.movie_id) for p in picks]
        # Duplicates the model repeated were dropped: complete the list in the numeric order.
        order += [i for i in answer.order if i not in order][:max(0, len(answer.order) - len(order))]
        llm_claims = {p.movie_id: p.claims for p in picks}
        explained = await asyncio.to_thread(self._explain, request, answer.user, scores, order, llm_claims,
                                            answer.note)
        return RankOutput(await self._llm_prose(request, explained), self.llm.name)

    async def _llm_prose(self, request: RankInput, picks: list[RankedPick]) -> list[RankedPick]:
        """With ``RANKER_LLM_EXPLAIN``: the model's sentence replaces the template text for every pick
        whose sentence states only verified facts (ranker_service/prose_check.py); others keep it."""
        if not self.llm.settings.explain or not picks:
            return picks
        try:
            timeout = downstream_timeout(self.llm.explain_timeout_s) - FALLBACK_RESERVE_S
        except ServiceError:
            return picks
        movies = [self.store.get(p.movie_id) for p in picks]
        texts = await self.llm.explain([(m, p.factors) for m, p in zip(movies, picks, strict=True)], self.store,
                                       timeout)
        return [replace(pick, explanation=texts[pick.movie_id])
                if pick.movie_id in texts and prose_is_supported(texts[pick.movie_id], movie, pick.factors,
                                                                 self.store)
                else pick for pick, movie in zip(picks, movies, strict=True)]

    def _fallback(self, numeric: list[RankedPick], ranker: str, failure: LlmFailure) -> RankOutput:
        FALLBACKS.labels(failure.reason).inc()
        log.warning("llm fallback", extra=log_fields(reason=failure.reason, detail=failure.detail))
        return RankOutput(numeric, ranker, True, f"llm {failure.reason}: {failure.detail}".strip(": "))

    def _collab_candidates(self, request: RankInput, sequence: SequenceState | None,
                           taste: np.ndarray | None) -> list[tuple[int, float]]:
        """SeqEASE's best unrated movies that retrieval did not pass, within the constraints (see module doc)."""
        if sequence is None or self.collab_candidates <= 0 or request.candidates_only:
            return []
        received = {movie_id for movie_id, _ in request.candidates}
        added = []
        for movie_id in self.scorer.sequence.ranked_unseen(sequence, COLLAB_SCAN_FACTOR * self.collab_candidates):
            if movie_id in received or movie_id not in self.store.row_of or request.history.is_seen(movie_id):
                continue
            movie = self.store.get(movie_id)
            if movie is None or request.constraints.violation(movie) is not None:
                continue
            added.append(movie_id)
            if len(added) == self.collab_candidates:
                break
        ADDED_CANDIDATES.inc(len(added))
        # Their "retrieval score" is what retrieval would have said: the cosine to the taste vector.
        similarity = self.store.vectors_of(added) @ taste if taste is not None else np.zeros(len(added))
        return [(m, float(s)) for m, s in zip(added, similarity, strict=True)]

    def _eligible(self, request: RankInput) -> list[tuple[int, float]]:
        """Received candidates that are unseen and pass every constraint."""
        eligible, dropped = [], {}
        for movie_id, retrieval_score in request.candidates:
            if request.history.is_seen(movie_id):
                why = "already_rated"
            else:
                why = request.constraints.violation(self.store.get(movie_id))
            if why is None:
                eligible.append((movie_id, retrieval_score))
            else:
                dropped[why] = dropped.get(why, 0) + 1
                DROPPED_CANDIDATES.labels(why).inc()
        return eligible

    def _nothing_eligible(self, request: RankInput) -> ServiceError:
        dropped: dict[str, int] = {}
        for movie_id, _ in request.candidates:
            why = ("already_rated" if request.history.is_seen(movie_id)
                   else request.constraints.violation(self.store.get(movie_id)))
            dropped[why] = dropped.get(why, 0) + 1
        summary = ", ".join(f"{count} {why}" for why, count in sorted(dropped.items()))
        return failed_precondition(f"none of the {len(request.candidates)} candidates can be recommended ({summary})",
                                   reason="NO_ELIGIBLE_CANDIDATES")

    def _numeric_order(self, scores: Scores, relevance: np.ndarray, top_n: int) -> list[int]:
        """MMR chooses which movies (among those the audience prior does not exclude); they are then
        shown in order of relevance (the blended score after the prior)."""
        kept = np.flatnonzero(np.isfinite(relevance))
        vectors = self.store.vectors_of([scores.movie_ids[i] for i in kept])
        chosen = [int(kept[i]) for i in mmr_order(relevance[kept], vectors, top_n, self.mmr_lambda)]
        return sorted(chosen, key=lambda i: -relevance[i])

    async def _llm_order(self, request: RankInput, eligible: list[tuple[int, float]],
                         scores: Scores, relevance: np.ndarray) -> list[LlmPick]:
        try:
            timeout = downstream_timeout(self.llm.rerank_timeout_s) - FALLBACK_RESERVE_S
        except ServiceError:
            raise LlmFailure("deadline", "the caller's deadline has passed") from None
        # The audience prior holds for the model too: it sees the best by relevance, never an excluded movie.
        pool = [i for i in np.argsort(-relevance, kind="stable") if np.isfinite(relevance[i])]
        pool = pool[:max(self.llm_max_candidates, request.top_n)]
        retrieval = dict(eligible)
        candidates = [LlmCandidate(self.store.get(scores.movie_ids[i]), retrieval[scores.movie_ids[i]],
                                   float(scores.final[i])) for i in pool]
        context = PromptContext(request.history, request.recent_turns, request.history.query)
        started = time.perf_counter()
        picks = await self.llm.rank(context, self.store, candidates, request.top_n, timeout)
        log.debug("llm ranked", extra=log_fields(ms=round((time.perf_counter() - started) * 1e3, 1)))
        return picks

    def _explain(self, request: RankInput, user: UserState, scores: Scores, order: list[int],
                 llm_claims: dict[int, list[Claim]], audience: Audience | None) -> list[RankedPick]:
        history = request.history
        picked_ids = [scores.movie_ids[i] for i in order]
        neighbours = liked_neighbours(self.store, picked_ids, history.liked_ids())
        picks = []
        for position, movie_id, near in zip(order, picked_ids, neighbours, strict=True):
            movie = self.store.get(movie_id)
            attribution = self._attribution(request, user, scores, position)
            proposed = propose_claims(movie, history, self.store, near, attribution=attribution,
                                      audience=audience.band if audience is not None else None)
            claims = verify_claims(proposed, movie, history, self.store, origin="grounded",
                                   follows=self.scorer.follows)
            if movie_id in llm_claims:
                extra = verify_claims(llm_claims[movie_id], movie, history, self.store, origin="llm",
                                      follows=self.scorer.follows)
                known = {(c.kind, c.value.lower()) for c in claims}
                claims += [c for c in extra if (c.kind, c.value.lower()) not in known]
            because = list(dict.fromkeys(c.source_movie_id for c in claims if c.source_movie_id))
            picks.append(RankedPick(movie_id, float(scores.match[position]),
                                    render(movie, claims, history, self.store, request.constraints),
                                    claims, because))
        return picks

    def _attribution(self, request: RankInput, user: UserState, scores: Scores, position: int) -> Attribution:
        """Which signal chose the pick at ``position`` (see the module doc)."""
        if request.because_movie_id and request.history.is_liked(request.because_movie_id):
            return Attribution("seed", request.because_movie_id)
        if self._sequence_lifted(scores, position):
            source = self.scorer.watched_next_source(list(user.fold_in), scores.movie_ids[position],
                                                     request.history.is_liked)
            if source is not None:
                return Attribution("sequence", source)
        return Attribution("content")

    def _sequence_lifted(self, scores: Scores, position: int) -> bool:
        """Did SeqEASE's term lift this candidate above the average candidate more than similarity did?"""
        if scores.yhat is None or scores.ranker != "numeric-seq":
            return False
        alpha = self.scorer.alpha
        sequence_lift = (1.0 - alpha) * (scores.yhat[position] - scores.yhat.mean())
        content_lift = alpha * (scores.cos[position] - scores.cos.mean())
        return bool(sequence_lift > max(content_lift, 0.0))
