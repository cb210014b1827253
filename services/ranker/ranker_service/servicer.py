"""RankerService.Rank and RankBatch: validate the request at the edge, run the pipeline, build the response."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

import numpy as np

from movierec.common.v1 import common_pb2
from movierec.ranker.v1 import ranker_pb2, ranker_pb2_grpc
from movierec_catalog.filter import Filter
from movierec_core.errors import ServiceError, invalid_argument, unavailable
from ranker_service.history import UserHistory
from ranker_service.pipeline import Ranker, RankInput, RankOutput
from ranker_service.settings import DEFAULT_TOP_N, MAX_TOP_N

MAX_QUERY_CHARS = 2000
MAX_TURNS = 50
MAX_RATINGS = 10_000
MAX_GROUPS = 8
_ROLE = {common_pb2.ConversationTurn.ROLE_USER: "user", common_pb2.ConversationTurn.ROLE_ASSISTANT: "assistant"}


class RankerServicer(ranker_pb2_grpc.RankerServiceServicer):
    """Answers UNAVAILABLE until :meth:`attach` hands it a loaded :class:`Ranker`."""

    def __init__(self, max_candidates: int):
        self.max_candidates = max_candidates
        self.ranker: Ranker | None = None

    def attach(self, ranker: Ranker) -> None:
        self.ranker = ranker

    async def Rank(self, request: ranker_pb2.RankRequest, context) -> ranker_pb2.RankResponse:
        if self.ranker is None:
            raise unavailable("the ranker is still loading its catalog, vectors and models", retry_after_s=1.0)
        output = await self.ranker.rank(parse_rank_request(request, self.ranker, self.max_candidates))
        return to_response(output)

    async def RankBatch(self, request: ranker_pb2.RankBatchRequest, context) -> ranker_pb2.RankBatchResponse:
        """One page: every group validated first (a bad group fails the call with its index named), then
        ranked together; a group with nothing to recommend answers its own error, the others their picks."""
        if self.ranker is None:
            raise unavailable("the ranker is still loading its catalog, vectors and models", retry_after_s=1.0)
        inputs = parse_rank_batch_request(request, self.ranker, self.max_candidates)
        results = await self.ranker.rank_batch(inputs, distinct=request.distinct_picks)
        response = ranker_pb2.RankBatchResponse()
        for group, result in zip(request.groups, results, strict=True):
            if isinstance(result, ServiceError):
                response.results.add(group_id=group.group_id, error=f"{result.reason}: {result.message}")
                continue
            response.results.add(group_id=group.group_id, recommendations=_recommendations(result))
            response.ranker = response.ranker or result.ranker
            if result.degraded and not response.degraded:
                response.degraded, response.degraded_reason = True, result.degraded_reason
        return response


def parse_rank_batch_request(request: ranker_pb2.RankBatchRequest, ranker: Ranker,
                             max_candidates: int) -> list[RankInput]:
    count = len(request.groups)
    if not 1 <= count <= MAX_GROUPS:
        raise invalid_argument(f"groups must hold 1 to {MAX_GROUPS} candidate groups, got {count}",
                               field_violations=[("groups", f"{count} groups")])
    inputs = []
    for index, group in enumerate(request.groups):
        single = ranker_pb2.RankRequest(
            user=request.user, query=request.query, candidates=group.candidates, top_n=group.top_n,
            constraints=group.constraints, candidates_only=group.candidates_only,
            because_movie_id=group.because_movie_id)
        try:
            parsed = parse_rank_request(single, ranker, max_candidates)
        except ServiceError as error:
            raise _in_group(error, index) from None
        if group.vector:
            try:
                vector = _vector(ranker_pb2.UserContext(vector=group.vector), ranker.store.dim)
            except ServiceError as error:
                raise _in_group(error, index) from None
            parsed = replace(parsed, vector=vector)
        inputs.append(parsed)
    # One history object for every group: the pipeline computes the person's state once.
    return [replace(parsed, history=inputs[0].history) for parsed in inputs]


def _in_group(error: ServiceError, index: int) -> ServiceError:
    """The same error with its field paths under ``groups[index]``."""
    return replace(error, message=f"groups[{index}]: {error.message}",
                   field_violations=[(f"groups[{index}].{f}", d) for f, d in error.field_violations])


def parse_rank_request(request: ranker_pb2.RankRequest, ranker: Ranker, max_candidates: int) -> RankInput:
    store = ranker.store
    candidates = _candidates(request, store, max_candidates)
    top_n = request.top_n or DEFAULT_TOP_N
    if not 1 <= top_n <= MAX_TOP_N:
        raise invalid_argument(f"top_n must be between 1 and {MAX_TOP_N} (0 means {DEFAULT_TOP_N}), got {top_n}",
                               field_violations=[("top_n", f"{top_n} is out of range")])
    if len(request.query) > MAX_QUERY_CHARS:
        raise invalid_argument(f"query is longer than {MAX_QUERY_CHARS} characters",
                               field_violations=[("query", "too long")])
    if len(request.user.recent_turns) > MAX_TURNS:
        raise invalid_argument(f"user.recent_turns holds more than {MAX_TURNS} turns; send the latest ones",
                               field_violations=[("user.recent_turns", "too many turns")])
    return RankInput(
        history=UserHistory(ratings=_ratings(request.user), picked=frozenset(request.user.liked_movie_ids),
                            query=request.query),
        vector=_vector(request.user, store.dim),
        candidates=candidates,
        top_n=top_n,
        constraints=Filter.from_proto(request.constraints, known_genres=store.genres,
                                        known_languages=store.languages, field="constraints"),
        recent_turns=[(_ROLE.get(t.role, "user"), t.text) for t in request.user.recent_turns],
        candidates_only=request.candidates_only,
        because_movie_id=request.because_movie_id,
    )


def _candidates(request: ranker_pb2.RankRequest, store, max_candidates: int) -> list[tuple[int, float]]:
    count = len(request.candidates)
    if count == 0:
        raise invalid_argument("candidates is empty; send the retrieval hits to rank",
                               field_violations=[("candidates", "empty")])
    if count > max_candidates:
        raise invalid_argument(f"{count} candidates is more than the limit of {max_candidates}",
                               field_violations=[("candidates", f"at most {max_candidates}")])
    ids = [c.movie_id for c in request.candidates]
    duplicates = sorted(m for m, seen in Counter(ids).items() if seen > 1)
    if duplicates:
        raise invalid_argument(f"duplicate candidate movie ids: {duplicates[:20]}",
                               field_violations=[("candidates", f"duplicates {duplicates[:20]}")])
    unknown = [m for m in ids if m not in store]
    if unknown:
        raise invalid_argument(f"{len(unknown)} candidate movie ids are not in the catalog: {unknown[:20]}",
                               reason="UNKNOWN_MOVIE",
                               field_violations=[("candidates.movie_id", f"not in the catalog: {unknown[:20]}")])
    scores = [c.retrieval_score for c in request.candidates]
    if not all(math.isfinite(s) for s in scores):
        raise invalid_argument("candidates.retrieval_score must be finite",
                               field_violations=[("candidates.retrieval_score", "NaN or infinite")])
    return list(zip(ids, scores, strict=True))


def _ratings(user: ranker_pb2.UserContext) -> dict[int, float]:
    """The ratings oldest first: by (rated_at, movie_id) when every rating carries ``rated_at`` (the
    eval's tie rule), else in the request's order (taken as chronological)."""
    if len(user.ratings) > MAX_RATINGS:
        raise invalid_argument(f"user.ratings holds more than {MAX_RATINGS} ratings",
                               field_violations=[("user.ratings", "too many")])
    ratings: dict[int, float] = {}
    for rating in user.ratings:
        if not 0.5 <= rating.rating <= 5.0:
            raise invalid_argument(f"rating {rating.rating} for movie {rating.movie_id} is outside 0.5–5.0",
                                   field_violations=[("user.ratings.rating", f"{rating.rating} out of range")])
        if rating.movie_id in ratings:
            raise invalid_argument(f"movie {rating.movie_id} is rated twice in user.ratings",
                                   field_violations=[("user.ratings.movie_id", f"{rating.movie_id} repeated")])
        ratings[rating.movie_id] = float(rating.rating)
    if ratings and all(r.HasField("rated_at") for r in user.ratings):
        order = sorted(user.ratings, key=lambda r: (r.rated_at.seconds, r.rated_at.nanos, r.movie_id))
        return {r.movie_id: ratings[r.movie_id] for r in order}
    return ratings


def _vector(user: ranker_pb2.UserContext, dim: int) -> np.ndarray | None:
    if not user.vector:
        return None
    vector = np.asarray(user.vector, dtype=np.float32)
    if vector.shape != (dim,):
        raise invalid_argument(f"user.vector has {vector.size} values, the movie vectors have {dim}",
                               field_violations=[("user.vector", f"expected {dim} values")])
    if not np.all(np.isfinite(vector)) or not np.linalg.norm(vector) > 0:
        raise invalid_argument("user.vector must be finite and non-zero",
                               field_violations=[("user.vector", "NaN, infinite or all zeros")])
    return vector


def _recommendations(output: RankOutput) -> list[ranker_pb2.Recommendation]:
    return [ranker_pb2.Recommendation(movie_id=p.movie_id, match_score=p.match_score, explanation=p.explanation,
                                      factors=[c.to_proto() for c in p.factors],
                                      because_movie_ids=p.because_movie_ids)
            for p in output.picks]


def to_response(output: RankOutput) -> ranker_pb2.RankResponse:
    return ranker_pb2.RankResponse(recommendations=_recommendations(output), ranker=output.ranker,
                                   degraded=output.degraded, degraded_reason=output.degraded_reason)
