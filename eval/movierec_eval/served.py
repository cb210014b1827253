"""The served configuration, evaluated through the ranker's own request path (the headline of section 1).

**What is served** is read from the live configuration, never written here:

* the ranker's settings (``ranker_service.settings.RankerSettings.from_env``: ``RANKER_ALPHA`` /
  ``RANKER_MMR_LAMBDA`` / ``RANKER_COLLAB_CANDIDATES`` over ``served_defaults.json``, and the blend
  weight of ``calibration.json`` when neither sets one), the match-score calibrations
  (``ScoringParams.load``) and the served SeqEASE's window/stride/λ/decay (its artifact manifest);
* what the gateway sends for the "Top picks" carousel: ``GATEWAY_CANDIDATES`` retrieval hits (the
  taste vector's nearest unseen movies, cosine as retrieval score) and ``candidates_only`` as
  ``gateway_service.rank_policy.candidates_only_for("top_picks", query="")`` decides it (the other
  carousels and every request with words get ``candidates_only=True``: an ablation row).

**How it is run:** per user, a ``RankRequest`` proto is built as the gateway builds it (ratings
oldest first with ``rated_at``, the taste vector, the retrieval hits, ``top_n`` = 10), parsed by the
servicer's own ``parse_rank_request`` and answered by ``ranker_service.pipeline.Ranker`` (numeric
path, no LLM) with ``NumericScorer`` — so any change to the ranker's history handling, scoring,
candidates or MMR changes these numbers. The only difference from serving is the data: SeqEASE is
refitted with the served parameters on the split's training histories (the served artifact has
seen every test item), and the catalog universe is the variant's.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from movierec_eval import metrics
from movierec_eval.content import content_scores

TOP_N = 10
ALIGNMENT_TOP = 5  # ReelReason Table II: cosine of the final five picks to the taste vector
# The gateway's default for GATEWAY_CANDIDATES (tests/eval/test_served.py checks it against GatewaySettings).
GATEWAY_CANDIDATES_DEFAULT = 20


@dataclass(frozen=True)
class ServedConfig:
    alpha: float
    mmr_lambda: float
    collab_candidates: int
    retrieval_k: int
    candidates_only: bool
    sequence_params: dict
    carousel: str = "top_picks"
    popularity_prior: float = 0.0
    quality_prior: float = 0.0

    def describe(self) -> dict:
        return asdict(self)

    def but(self, **changes) -> ServedConfig:
        return replace(self, **changes)


def served_parts():
    """(movie store, match-score calibrations) exactly as the ranker loads them at start-up
    (``ranker_service.app.load_store`` with ``RankerSettings.from_env``, ``ScoringParams.load``)."""
    from ranker_service.app import load_store
    from ranker_service.scoring import ScoringParams
    from ranker_service.settings import RankerSettings

    return load_store(RankerSettings.from_env()), ScoringParams.load()


def live_config() -> ServedConfig:
    """The configuration the running system would use with the current environment and files."""
    from gateway_service.rank_policy import candidates_only_for
    from ranker_service.scoring import ScoringParams
    from ranker_service.sequence_model import SeqEaseParams
    from ranker_service.settings import RankerSettings

    settings = RankerSettings.from_env()
    alpha = settings.alpha if settings.alpha is not None else ScoringParams.load().alpha
    return ServedConfig(alpha=float(alpha), mmr_lambda=settings.mmr_lambda,
                        collab_candidates=settings.added_candidates,
                        retrieval_k=int(os.environ.get("GATEWAY_CANDIDATES", GATEWAY_CANDIDATES_DEFAULT)),
                        candidates_only=candidates_only_for("top_picks", ""),
                        sequence_params=SeqEaseParams.fitted_in(settings.sequence_dir).describe(),
                        popularity_prior=settings.popularity_prior, quality_prior=settings.quality_prior)


def fit_sequence(split, config: ServedConfig):
    """The ranker's SeqEASE with the served parameters, fitted on the split's training histories."""
    from ranker_service.sequence_model import SeqEaseParams, SequenceModel

    train = split.train
    return SequenceModel.fit([train.movie_ids(u) for u in range(len(train.items))],
                             SeqEaseParams(**config.sequence_params))


class ServedRunner:
    """Ranks one split's users through the ranker's request path for any configuration."""

    def __init__(self, ctx, store, scoring_params, sequence, tastes: dict[str, np.ndarray]):
        self.ctx, self.store, self.params, self.sequence, self.tastes = ctx, store, scoring_params, sequence, tastes
        self._cos = {}

    def cos(self, phase: str) -> np.ndarray:
        if phase not in self._cos:
            self._cos[phase] = np.where(self.ctx.seen[phase], -np.inf, content_scores(self.tastes[phase],
                                                                                      self.ctx.vectors))
        return self._cos[phase]

    def ranker(self, config: ServedConfig):
        from ranker_service.pipeline import Ranker
        from ranker_service.scoring import NumericScorer

        sequence = self.sequence.with_decay(config.sequence_params["decay"])
        scorer = NumericScorer(self.store, self.params, None, alpha=config.alpha, sequence=sequence,
                               popularity_prior=config.popularity_prior, quality_prior=config.quality_prior)
        return Ranker(self.store, scorer, config.mmr_lambda, collab_candidates=config.collab_candidates)

    def request(self, user: int, phase: str, config: ServedConfig):
        """The RankRequest the gateway would send for this user's top-picks carousel."""
        from google.protobuf.timestamp_pb2 import Timestamp

        from movierec.common.v1 import common_pb2
        from movierec.ranker.v1 import ranker_pb2

        history = self.ctx.split.history(phase)
        item_ids = self.ctx.split.universe.item_ids
        ratings = [common_pb2.MovieRating(movie_id=int(item_ids[i]), rating=float(r),
                                          rated_at=Timestamp(seconds=int(t)))
                   for i, r, t in zip(history.items[user], history.ratings[user], history.times[user], strict=True)]
        cos = self.cos(phase)[user]
        k = min(config.retrieval_k, int(np.isfinite(cos).sum()))
        top = np.argpartition(-cos, k - 1)[:k]
        top = top[np.argsort(-cos[top], kind="stable")]
        hits = [ranker_pb2.Candidate(movie_id=int(item_ids[i]), retrieval_score=float(cos[i])) for i in top]
        context = ranker_pb2.UserContext(user_id=f"user{self.ctx.split.universe.user_ids[user]}",
                                         vector=self.tastes[phase][user].tolist(), ratings=ratings)
        return ranker_pb2.RankRequest(user=context, top_n=TOP_N, candidates=hits,
                                      candidates_only=config.candidates_only)

    def run(self, config: ServedConfig, phase: str, users: np.ndarray | None = None) -> dict:
        """Per-user ranks of the phase's target in the served top-10, plus the raw outputs."""
        from ranker_service.servicer import parse_rank_request

        ranker = self.ranker(config)
        users = np.arange(self.ctx.split.universe.n_users) if users is None else np.asarray(users)

        async def all_users():
            out = []
            for user in users:
                request = parse_rank_request(self.request(int(user), phase, config), ranker, 10_000)
                out.append((await ranker.rank(request), request))
            return out

        started = time.perf_counter()
        outputs = asyncio.run(all_users())
        seconds = time.perf_counter() - started
        item_ids = self.ctx.split.universe.item_ids
        lists = [np.array([p.movie_id for p in output.picks], dtype=np.int64) for output, _ in outputs]
        targets = item_ids[self.ctx.split.targets(phase)[users]]
        return {"ranks": metrics.ranks_from_lists(lists, targets), "lists": lists, "outputs": outputs,
                "users": users, "seconds": seconds,
                "rankers": sorted({output.ranker for output, _ in outputs})}

    def list_quality(self, run: dict, phase: str) -> dict:
        """Intra-list diversity of the top-10 (mean pairwise 1 − cos) and the cosine alignment of the
        first five picks to the taste vector."""
        diversity, alignment = [], []
        for user, picked in zip(run["users"], run["lists"], strict=True):
            vectors = self.store.vectors_of([int(m) for m in picked])
            if len(vectors) >= 2:
                sims = vectors @ vectors.T
                n = len(vectors)
                diversity.append(1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))
            taste = self.tastes[phase][user]
            norm = np.linalg.norm(taste)
            if norm > 0 and len(vectors):
                alignment.append(float(np.mean(vectors[:ALIGNMENT_TOP] @ (taste / norm))))
        return {"intra_list_diversity@10": round(float(np.mean(diversity)), 4),
                f"cosine_alignment@{ALIGNMENT_TOP}": round(float(np.mean(alignment)), 4)}


def summarize_run(run: dict, seed: int) -> dict:
    return {**metrics.summarize(run["ranks"], seed, ("hr@10", "ndcg@10")), "users": len(run["ranks"]),
            "ms_per_rank_call": round(1000 * run["seconds"] / max(1, len(run["ranks"])), 2),
            "rankers": run["rankers"]}
