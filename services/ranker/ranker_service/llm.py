"""The ranker's LLM uses: the listwise rerank of the survivors of the hard constraints, and optional
explanation prose from verified factors. Both go through the shared client (``movierec_llm``: one
``LLM_BASE_URL``/``LLM_MODEL`` for the system) with the prompts and schemas of
``movierec_llm.prompts.rerank`` / ``.explain``. Nothing the model says is trusted: ids are an ``enum``
of the candidates, every reason goes through the verifier, every sentence through the prose checker.
A failed rerank raises :class:`LlmFailure` (a short reason); the caller answers the numeric ranking.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import prometheus_client

from movierec_llm import LlmClient
from movierec_llm.prompts import explain as explain_prompt
from movierec_llm.prompts import rerank as rerank_prompt
from ranker_service.history import UserHistory
from ranker_service.movies import MovieFacts, MovieStore
from ranker_service.settings import LlmSettings
from ranker_service.verify import KIND_NAMES, Claim, K

log = logging.getLogger("movierec.ranker.llm")

LLM_DUPLICATES = prometheus_client.Counter(
    "movierec_ranker_llm_duplicate_picks_total",
    "Repeated ids in LLM rerank answers (dropped; the list is completed from the numeric order).")

KIND_OF_REASON = {name.removeprefix("FACTOR_KIND_").lower(): value for value, name in KIND_NAMES.items()
                  if value != K.FACTOR_KIND_UNSPECIFIED}


class LlmFailure(Exception):
    """The LLM could not be used; ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class LlmCandidate:
    movie: MovieFacts
    retrieval_score: float
    numeric_score: float


@dataclass(frozen=True)
class LlmPick:
    movie_id: int
    claims: list[Claim]


@dataclass(frozen=True)
class PromptContext:
    history: UserHistory
    recent_turns: list[tuple[str, str]]
    query: str


# ---- what the model sees (shared with finetune_data: the same builders make the training prompts) ----

def summarize_user(history: UserHistory, store: MovieStore, limit: int = 8) -> dict:
    """The person's latest liked movies and worst ratings, as titles (prompt tokens are the cost on CPU)."""
    liked = [store.get(m).label for m in history.liked_ids()[-limit:] if store.get(m) is not None]
    disliked = [store.get(m).label for m, r in sorted(history.ratings.items(), key=lambda item: item[1])
                if r <= 2.0 and store.get(m) is not None][:3]
    return {"liked": liked, "disliked": disliked}


def candidate_metadata(candidate: LlmCandidate) -> dict:
    movie = candidate.movie
    meta = {"id": movie.movie_id, "title": movie.title, "year": movie.year, "genres": list(movie.genres[:3]),
            "director": movie.director, "cast": list(movie.cast[:2]), "keywords": list(movie.keywords[:3]),
            "score": round(candidate.numeric_score, 2)}
    return {key: value for key, value in meta.items() if value not in (None, [], "")}


def rerank_messages(context: PromptContext, store: MovieStore, candidates: list[LlmCandidate],
                    top_n: int) -> list[dict]:
    turns = [{"role": role, "text": text[:300]} for role, text in context.recent_turns[-6:]]
    return rerank_prompt.build_messages(summarize_user(context.history, store), context.query, turns,
                                        [candidate_metadata(c) for c in candidates], top_n)


def claim_of(pick: rerank_prompt.RerankPick, history: UserHistory, store: MovieStore) -> Claim:
    """The reason as a verifier claim; a similar_to_liked title is resolved to the liked movie it names."""
    kind = KIND_OF_REASON.get(pick.kind, K.FACTOR_KIND_UNSPECIFIED)
    source = 0
    if kind == K.FACTOR_KIND_SIMILAR_TO_LIKED:
        source = next((m for m in history.liked_ids() if store.get(m) is not None
                       and pick.value.lower() in (store.get(m).title.lower(), store.get(m).label.lower())), 0)
        value = store.get(source).title if source else pick.value
        return Claim(kind, value, source)
    return Claim(kind, pick.value, source)


def fact_lines(movie: MovieFacts, claims: list[Claim], store: MovieStore) -> list[str]:
    """Verified factors as the short phrases the explanation prompt gets."""
    lines = []
    for claim in claims:
        kind = KIND_NAMES.get(claim.kind, "").removeprefix("FACTOR_KIND_").lower().replace("_", " ")
        source = store.get(claim.source_movie_id) if claim.source_movie_id else None
        shared = source is not None and kind != "similar to liked"
        suffix = f" (shared with {source.title}, which they liked)" if shared else ""
        lines.append(f"{kind}: {claim.value}{suffix}")
    return lines


# ---- backend -----------------------------------------------------------------------------------------

class LlmBackend:
    def __init__(self, settings: LlmSettings, client: LlmClient | None = None):
        if settings.connection is None and client is None:
            raise ValueError("the LLM backend needs LLM_BASE_URL (or a client)")
        self.settings = settings
        self.client = client or LlmClient(settings.connection)

    @property
    def name(self) -> str:
        return f"llm:{self.client.model}"

    @property
    def rerank_timeout_s(self) -> float:
        return self.client.settings.timeout_for("rerank")

    @property
    def explain_timeout_s(self) -> float:
        return self.client.settings.timeout_for("explain")

    async def rank(self, context: PromptContext, store: MovieStore, candidates: list[LlmCandidate],
                   top_n: int, timeout_s: float) -> list[LlmPick]:
        """The model's best ``min(top_n, pool)`` distinct candidates, best first (may be fewer after
        duplicates are dropped: the caller completes the list from the numeric order)."""
        ids = [c.movie.movie_id for c in candidates]
        wanted = min(top_n, len(ids))
        result = await self.client.complete_json(
            "rerank", rerank_messages(context, store, candidates, wanted),
            rerank_prompt.schema(ids, wanted, summarize_user(context.history, store)["liked"]),
            timeout_s=timeout_s, max_tokens=max(64, self.client.settings.max_tokens_for("rerank") * wanted // 5))
        if not result.ok:
            raise LlmFailure(result.error or "invalid_output", result.detail)
        picks, duplicates = rerank_prompt.picks_of(result.data)
        if duplicates:
            LLM_DUPLICATES.inc(duplicates)
        return [LlmPick(p.movie_id, [claim_of(p, context.history, store)]) for p in picks]

    async def explain(self, items: list[tuple[MovieFacts, list[Claim]]], store: MovieStore,
                      timeout_s: float) -> dict[int, str]:
        """movie_id → one LLM sentence written from that pick's verified factors ({} on any failure)."""
        payload = [{"movie_id": movie.movie_id, "title": movie.title, "facts": fact_lines(movie, claims, store)}
                   for movie, claims in items]
        ids = [movie.movie_id for movie, _ in items]
        result = await self.client.complete_json("explain", explain_prompt.build_messages(payload),
                                                 explain_prompt.schema(ids), timeout_s=timeout_s,
                                                 max_tokens=60 * len(ids))
        if not result.ok:
            log.info("llm explanation fallback: %s", result.failure)
            return {}
        return explain_prompt.texts_of(result.data)
