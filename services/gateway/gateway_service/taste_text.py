"""The taste normalizer in the gateway: free text rewritten into taste terms before it is embedded.

Called on the onboarding free text (routes_onboarding.py) and on a chat turn's residual taste text
(dialogue/turn.py) when ``GATEWAY_TASTE_NORMALIZER`` is on and an LLM is configured (``LLM_BASE_URL``).
The rewrite comes from :func:`movierec_llm.taste.normalize_taste` (schema, repetition and lost-negation
checks), and is then read by the chat's own rule-based reader (the one vocabulary of genres and
negations, dialogue/lexicon.py) to refuse a rewrite that

* names a genre the person did not say (``"Which genre?"`` → ``"horror"``, recorded from the 0.5B model),
* turns a genre or a tone the person ruled out into a wish (``"no horror"`` → ``"horror comedies"``).

A refused rewrite, a timeout or any LLM failure keeps the person's own words: ``source`` is then
``"original"`` and ``fallback`` says why (``tasteTextSource`` / ``tasteTextFallback`` in the responses).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import prometheus_client

from gateway_service.deps import Services
from gateway_service.dialogue import llm_reply
from gateway_service.dialogue.understand import understand
from gateway_service.dialogue.understanding import Understanding
from gateway_service.timing import stage
from movierec_core.deadlines import deadline_var
from movierec_core.logs import log_fields
from movierec_llm.taste import normalize_taste

log = logging.getLogger("movierec.gateway.taste_text")

# What the request still needs after the rewrite: the profile step, the embedding, retrieval and ranking.
RESERVE_S = 1.0
_WORD = re.compile(r"[a-z][a-z'-]+")

REFUSED = prometheus_client.Counter(
    "movierec_gateway_taste_rewrites_refused_total",
    "Taste-normalizer rewrites the gateway refused after the LLM answered (the original text was embedded).",
    ("reason",))


@dataclass(frozen=True)
class TasteText:
    """The text to embed and where it came from."""

    text: str
    source: str  # "llm": the checked rewrite; "original": the person's own words
    fallback: str | None = None  # why the rewrite was not used (only when the normalizer was on)
    latency_s: float = 0.0


def enabled(services: Services) -> bool:
    return services.settings.taste_normalizer and llm_reply.client_for(services) is not None


def _time_left() -> float | None:
    deadline = deadline_var.get()
    return None if deadline is None else deadline - time.monotonic() - RESERVE_S


async def normalized(services: Services, text: str, said: str | None = None) -> TasteText:
    """``text`` rewritten into taste terms when that is on, answered in time and faithful to ``said``
    (what the person wrote; ``text`` itself by default), else ``text`` unchanged."""
    if not enabled(services) or not text.strip():
        return TasteText(text, "original")
    client = llm_reply.client_for(services)
    left = _time_left()
    timeout = client.settings.timeout_for("taste") if left is None else min(client.settings.timeout_for("taste"), left)
    if timeout <= 0:
        return TasteText(text, "original", "deadline: no time left for the rewrite")
    rewrite = await normalize_taste(client, text, timeout_s=timeout)
    if rewrite.source != "llm":
        return TasteText(text, "original", rewrite.reason, rewrite.latency_s)
    problem = unfaithful(said if said is not None else text, rewrite.text)
    if problem is not None:
        REFUSED.labels(problem.split(":")[0]).inc()
        log.info("taste rewrite refused", extra=log_fields(reason=problem, rewrite=rewrite.text))
        return TasteText(text, "original", problem, rewrite.latency_s)
    return TasteText(rewrite.text, "llm", None, rewrite.latency_s)


def unfaithful(said: str, rewrite: str) -> str | None:
    """Why ``rewrite`` misrepresents ``said`` (genres added, exclusions inverted), or None."""
    person, model = understand(said), understand(rewrite)
    said_genres = {*person.constraints.include_genres, *person.constraints.exclude_genres}
    added = sorted({*model.constraints.include_genres, *model.constraints.exclude_genres} - said_genres)
    if added:
        return f"adds_genre: the rewrite names {added}, which the person did not"
    inverted = sorted(set(person.constraints.exclude_genres) & set(model.constraints.include_genres))
    avoided = set(_WORD.findall(person.avoid_text.lower()))
    wished = set(_WORD.findall(model.residual_text.lower())) - set(_WORD.findall(model.avoid_text.lower()))
    inverted += sorted(avoided & wished)
    if inverted:
        return f"inverts_negation: the rewrite asks for {inverted}, which the person ruled out"
    return None


async def for_turn(services: Services, u: Understanding, message: str | None) -> tuple[Understanding, TasteText | None]:
    """A chat turn's understanding with its residual taste text normalized (dialogue/turn.py), and the
    :class:`TasteText` for the response (None when the turn has no taste text)."""
    if message is None or not _WORD.search(u.residual_text.lower()):
        return u, None
    with stage("taste"):
        taste = await normalized(services, u.residual_text, said=message)
    if taste.source != "llm":
        return u, taste
    # The positive part of the rewrite, as the rules read it: negations are hard constraints and
    # avoid_text already, and "no gore" embedded as text would pull towards gore.
    positive = understand(taste.text).residual_text or taste.text
    return u.model_copy(update={"residual_text": positive}), taste


def response_fields(taste: TasteText | None) -> dict:
    """``tasteTextSource`` / ``tasteTextFallback`` of a chat or onboarding response."""
    if taste is None:
        return {}
    return {"taste_text_source": taste.source, "taste_text_fallback": taste.fallback}
