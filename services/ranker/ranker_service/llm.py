"""The optional LLM backend (OpenAI chat-completions protocol) and the taste normalizer.

Any OpenAI-compatible server works (OpenAI, vLLM, Ollama, llama.cpp's server): set
``RANKER_LLM_BASE_URL`` and ``RANKER_LLM_MODEL``. The model sees the user's summary, recent turns,
the request and the candidates' metadata with their numeric scores, and answers JSON. Nothing it
says is trusted: ids must be candidates, without duplicates, and every factor goes through the
verifier. Any failure raises :class:`LlmFailure` with a short reason; the caller falls back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass

import openai
import prometheus_client

from ranker_service.history import UserHistory
from ranker_service.movies import MovieFacts, MovieStore
from ranker_service.settings import LlmSettings
from ranker_service.verify import KIND_NAMES, Claim, K

log = logging.getLogger("movierec.ranker.llm")

LLM_SECONDS = prometheus_client.Histogram(
    "movierec_ranker_llm_seconds", "LLM chat-completion latency, by outcome.", ("call", "outcome"),
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32))
TASTE_FALLBACKS = prometheus_client.Counter(
    "movierec_ranker_taste_normalizer_fallbacks_total",
    "Taste-normalizer calls that kept the original text, by reason.", ("reason",))

_KINDS = {name.removeprefix("FACTOR_KIND_").lower(): value for value, name in KIND_NAMES.items()
          if value != K.FACTOR_KIND_UNSPECIFIED}
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
MAX_TASTE_CHARS = 300


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
    note: str


@dataclass(frozen=True)
class PromptContext:
    history: UserHistory
    recent_turns: list[tuple[str, str]]
    query: str


# ---- prompt ------------------------------------------------------------------------------------

RANK_SYSTEM = """You re-rank movie candidates for one person and justify each pick with checkable facts.
Reply with one JSON object and nothing else:
{"recommendations": [{"movie_id": <id from CANDIDATES>, "explanation": "<one sentence>",
  "factors": [{"kind": "<genre|keyword|tag|director|cast|decade|runtime|certification|query_term|similar_to_liked>",
               "value": "<exact value from the metadata>", "source_movie_id": <id of a LIKED movie or 0>}]}]}
Rules: choose exactly {top_n} different movie_ids from CANDIDATES, best first; prefer variety over near-duplicates;
only cite values that appear literally in the metadata (genre names, keywords, director, cast, decade like "1990s",
runtime like "98 min", certification like "PG-13", request words as written); use source_movie_id only for a LIKED
movie that has the same value; similar_to_liked has the liked movie's exact title as value."""


def summarize_user(history: UserHistory, store: MovieStore, limit: int = 12) -> dict:
    liked = []
    for movie_id in history.liked_ids()[:limit]:
        movie = store.get(movie_id)
        if movie is not None:
            rating = history.ratings.get(movie_id)
            liked.append({"movie_id": movie_id, "title": movie.label, "genres": list(movie.genres),
                          **({"rating": rating} if rating is not None else {"picked": True})})
    disliked = [{"movie_id": m, "title": store.get(m).label, "rating": r}
                for m, r in sorted(history.ratings.items(), key=lambda item: item[1])
                if r <= 2.0 and store.get(m) is not None][:5]
    return {"liked": liked, "disliked": disliked}


def candidate_metadata(candidate: LlmCandidate) -> dict:
    movie = candidate.movie
    meta = {"movie_id": movie.movie_id, "title": movie.title, "year": movie.year, "genres": list(movie.genres),
            "director": movie.director, "cast": list(movie.cast[:4]), "keywords": list(movie.keywords[:8]),
            "tags": list(movie.tags[:5]), "runtime": f"{movie.runtime_min} min" if movie.runtime_min else None,
            "certification": movie.certification,
            "overview": (movie.overview or "")[:240] or None,
            "retrieval_score": round(candidate.retrieval_score, 3), "score": round(candidate.numeric_score, 3)}
    return {key: value for key, value in meta.items() if value not in (None, [], "")}


def build_rank_messages(context: PromptContext, store: MovieStore, candidates: list[LlmCandidate],
                        top_n: int) -> list[dict]:
    turns = [{"role": role, "text": text[:400]} for role, text in context.recent_turns[-6:]]
    payload = {
        "USER": summarize_user(context.history, store),
        "RECENT_TURNS": turns,
        "REQUEST": context.query,
        "CANDIDATES": [candidate_metadata(c) for c in candidates],
    }
    return [{"role": "system", "content": RANK_SYSTEM.replace("{top_n}", str(top_n))},
            {"role": "user", "content": json.dumps(payload, ensure_ascii=False)}]


# ---- reply validation -----------------------------------------------------------------------------

def parse_json_object(content: str | None) -> dict:
    """The JSON object in a reply (tolerating code fences and surrounding prose), else invalid_json."""
    if not content or not content.strip():
        raise LlmFailure("invalid_output", "empty reply")
    text = _FENCE.sub("", content.strip())
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            raise LlmFailure("invalid_json", "no JSON object in the reply") from None
        try:
            value = json.loads(text[start:end + 1])
        except json.JSONDecodeError as error:
            raise LlmFailure("invalid_json", str(error)) from None
    if not isinstance(value, dict):
        raise LlmFailure("invalid_output", "the reply is not a JSON object")
    return value


def validate_ranking(reply: dict, candidate_ids: list[int], top_n: int) -> list[LlmPick]:
    """ids ⊆ candidates, no duplicates, exactly ``min(top_n, len(candidates))`` picks (extra ones ignored)."""
    items = reply.get("recommendations")
    if not isinstance(items, list):
        raise LlmFailure("invalid_output", "'recommendations' is missing or not a list")
    allowed = set(candidate_ids)
    wanted = min(top_n, len(candidate_ids))
    picks: list[LlmPick] = []
    for item in items[:wanted]:
        if not isinstance(item, dict):
            raise LlmFailure("invalid_output", "a recommendation is not an object")
        movie_id = _as_int(item.get("movie_id"))
        if movie_id is None or movie_id not in allowed:
            raise LlmFailure("invalid_output", f"movie_id {item.get('movie_id')!r} is not a candidate")
        if any(p.movie_id == movie_id for p in picks):
            raise LlmFailure("invalid_output", f"movie_id {movie_id} appears twice")
        note = item.get("explanation")
        picks.append(LlmPick(movie_id, _claims(item.get("factors")), note if isinstance(note, str) else ""))
    if len(picks) < wanted:
        raise LlmFailure("invalid_output", f"{len(picks)} recommendations, expected {wanted}")
    return picks


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _claims(factors) -> list[Claim]:
    """Factors as claims; malformed ones become claims the verifier rejects (so they are counted)."""
    claims = []
    for factor in factors if isinstance(factors, list) else []:
        if not isinstance(factor, dict):
            continue
        kind_name = str(factor.get("kind", "")).lower().removeprefix("factor_kind_")
        value = factor.get("value")
        source = _as_int(factor.get("source_movie_id")) or 0
        claims.append(Claim(_KINDS.get(kind_name, K.FACTOR_KIND_UNSPECIFIED),
                            value if isinstance(value, str) else str(value or ""), source))
    return claims


# ---- backend ----------------------------------------------------------------------------------------

class LlmBackend:
    """An OpenAI-compatible chat client; no retries (the caller's deadline leaves no room for them)."""

    def __init__(self, settings: LlmSettings):
        self.settings = settings
        self.client = openai.AsyncOpenAI(base_url=settings.base_url, api_key=settings.api_key,
                                         timeout=settings.timeout_s, max_retries=0)
        # The client builds its resources lazily (~0.1 s); do it at start-up, not inside a deadline.
        self._completions = self.client.chat.completions

    @property
    def name(self) -> str:
        return f"llm:{self.settings.model}"

    async def rank(self, context: PromptContext, store: MovieStore, candidates: list[LlmCandidate],
                   top_n: int, timeout_s: float) -> list[LlmPick]:
        messages = build_rank_messages(context, store, candidates, top_n)
        content = await self._complete("rank", messages, timeout_s)
        return validate_ranking(parse_json_object(content), [c.movie.movie_id for c in candidates], top_n)

    async def normalize_taste(self, text: str, timeout_s: float) -> tuple[str, str | None]:
        """``(taste description, None)``, or ``(text, reason)`` when the original text is kept."""
        messages = [{"role": "system", "content": TASTE_SYSTEM}, {"role": "user", "content": text[:2000]}]
        try:
            reply = parse_json_object(await self._complete("taste", messages, timeout_s))
            taste = reply.get("taste")
            if not isinstance(taste, str) or not taste.strip():
                raise LlmFailure("invalid_output", "'taste' is missing or empty")
            taste = " ".join(taste.split())
            if len(taste) > MAX_TASTE_CHARS:
                raise LlmFailure("invalid_output", f"taste description longer than {MAX_TASTE_CHARS} characters")
            return taste, None
        except LlmFailure as failure:
            TASTE_FALLBACKS.labels(failure.reason).inc()
            return text, failure.reason
        except Exception:  # never let the optional rewrite break the caller
            log.exception("taste normalizer failed")
            TASTE_FALLBACKS.labels("internal").inc()
            return text, "internal"

    async def _complete(self, call: str, messages: list[dict], timeout_s: float) -> str | None:
        if timeout_s <= 0:
            raise LlmFailure("deadline", "no time left for the LLM")
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome = "error"
        kwargs = {"response_format": {"type": "json_object"}} if self.settings.json_mode else {}
        try:
            # wait_for is the hard stop: a server that trickles bytes must not outlive the deadline.
            response = await asyncio.wait_for(self._completions.create(
                model=self.settings.model, messages=messages, temperature=self.settings.temperature,
                max_tokens=self.settings.max_tokens, timeout=timeout_s, **kwargs), timeout_s)
            outcome = "ok"
        except (TimeoutError, openai.APITimeoutError):
            outcome = "timeout"
            raise LlmFailure("timeout", f"no reply within {timeout_s:.3f}s") from None
        except openai.APIStatusError as error:
            raise LlmFailure("http_error", f"HTTP {error.status_code}") from None
        except openai.APIConnectionError as error:
            raise LlmFailure("connection_error", str(error)) from None
        except openai.OpenAIError as error:
            raise LlmFailure("client_error", type(error).__name__) from None
        finally:
            LLM_SECONDS.labels(call, outcome).observe(loop.time() - started)
        return _content_of(response)


def _content_of(response) -> str | None:
    choices = getattr(response, "choices", None) or []
    if not choices:
        raise LlmFailure("invalid_output", "no choices in the reply")
    choice = choices[0]
    message = choice.message
    if getattr(message, "refusal", None) or choice.finish_reason == "content_filter":
        raise LlmFailure("refusal", str(getattr(message, "refusal", "") or "content filter"))
    return message.content


TASTE_SYSTEM = """Rewrite the person's free-text movie request as a short, standard taste description
(at most 25 words: genres, moods, themes, era, pace). Keep every movie title they named; add no new titles;
keep negations ("no horror"). Reply with one JSON object and nothing else: {"taste": "<description>"}"""
