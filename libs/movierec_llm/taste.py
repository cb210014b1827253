"""The taste normalizer as a function any tier can call before embedding free text (onboarding
"describe your taste", the residual text of a chat message the rules did not understand).

``await normalize_taste(client, text)`` → :class:`TasteRewrite`: the rewrite when the model answered
a valid, faithful description (``source="llm"``), else the original text with the reason
(``source="original"``). It never raises and never loses the person's words: on any failure the
original text is what gets embedded.
"""

from __future__ import annotations

from dataclasses import dataclass

import prometheus_client

from movierec_llm.client import LlmClient
from movierec_llm.prompts import taste as taste_prompt

TASTE_OUTCOMES = prometheus_client.Counter(
    "movierec_llm_taste_normalizer_total", "Taste-normalizer calls by outcome (llm, or why the text was kept).",
    ("outcome",))


@dataclass(frozen=True)
class TasteRewrite:
    text: str
    source: str  # "llm" | "original"
    reason: str = ""
    latency_s: float = 0.0


async def normalize_taste(client: LlmClient | None, text: str, *, timeout_s: float | None = None) -> TasteRewrite:
    if client is None or not text.strip():
        return TasteRewrite(text, "original", "no LLM configured" if client is None else "empty text")
    result = await client.complete_json("taste", taste_prompt.build_messages(text), taste_prompt.SCHEMA,
                                        timeout_s=timeout_s)
    if not result.ok:
        TASTE_OUTCOMES.labels(result.error).inc()
        return TasteRewrite(text, "original", result.failure, result.latency_s)
    taste, why = taste_prompt.taste_of(result.data, text)
    if taste is None:
        TASTE_OUTCOMES.labels("unfaithful").inc()
        return TasteRewrite(text, "original", why, result.latency_s)
    TASTE_OUTCOMES.labels("llm").inc()
    return TasteRewrite(taste, "llm", "", result.latency_s)
