"""LLM settings shared by every tier that calls a model (ranker, gateway dialogue, eval).

One base URL and model for the whole system (``LLM_BASE_URL``, ``LLM_MODEL``, ``LLM_API_KEY``);
each *use* (rerank, explain, taste, understand, reply, …) has its own timeout and token budget,
``LLM_TIMEOUT_<USE>_S`` / ``LLM_MAX_TOKENS_<USE>``, falling back to ``LLM_TIMEOUT_S`` / the use's
default. No base URL → no LLM: :meth:`LlmSettings.from_env` returns ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from movierec_core.config import ConfigError, env_float, env_int, env_optional_str, env_str

# Per-use defaults sized on the local 0.5B model on 2 cores (~20 tokens/s, README "Numbers").
DEFAULT_TIMEOUTS_S = {"rerank": 20.0, "explain": 8.0, "taste": 6.0, "understand": 6.0, "reply": 15.0,
                      "theme": 6.0}
DEFAULT_MAX_TOKENS = {"rerank": 240, "explain": 160, "taste": 70, "understand": 160, "reply": 220,
                      "theme": 24}
FALLBACK_TIMEOUT_S = 10.0
FALLBACK_MAX_TOKENS = 256


@dataclass(frozen=True)
class LlmSettings:
    base_url: str
    model: str = "local"
    api_key: str = "unused"
    temperature: float = 0.0
    timeouts_s: dict[str, float] = field(default_factory=dict)
    max_tokens: dict[str, int] = field(default_factory=dict)

    def timeout_for(self, use: str) -> float:
        return self.timeouts_s.get(use, DEFAULT_TIMEOUTS_S.get(use, FALLBACK_TIMEOUT_S))

    def max_tokens_for(self, use: str) -> int:
        return self.max_tokens.get(use, DEFAULT_MAX_TOKENS.get(use, FALLBACK_MAX_TOKENS))

    @classmethod
    def from_env(cls) -> LlmSettings | None:
        base_url = env_optional_str("LLM_BASE_URL")
        if base_url is None:
            return None
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"LLM_BASE_URL={base_url!r} must start with http:// or https://")
        return cls(base_url=base_url.rstrip("/"), model=env_str("LLM_MODEL", "local"),
                   api_key=env_str("LLM_API_KEY", "unused"),
                   temperature=env_float("LLM_TEMPERATURE", 0.0, minimum=0, maximum=2),
                   timeouts_s=_per_use_timeouts(), max_tokens=_per_use_max_tokens())


# Every per-use variable is spelled out: the deploy checks (tests/deploy) scan the code for the names it
# reads, so a new use adds its two variables here and to the manifests.
def _per_use_timeouts() -> dict[str, float]:
    """``LLM_TIMEOUT_<USE>_S`` of the uses that set one, or all uses when ``LLM_TIMEOUT_S`` is set."""
    timeouts = {
        "rerank": _optional_timeout("LLM_TIMEOUT_RERANK_S"),
        "explain": _optional_timeout("LLM_TIMEOUT_EXPLAIN_S"),
        "taste": _optional_timeout("LLM_TIMEOUT_TASTE_S"),
        "understand": _optional_timeout("LLM_TIMEOUT_UNDERSTAND_S"),
        "reply": _optional_timeout("LLM_TIMEOUT_REPLY_S"),
        "theme": _optional_timeout("LLM_TIMEOUT_THEME_S"),
    }
    return {use: value for use, value in timeouts.items() if value is not None}


def _optional_timeout(name: str) -> float | None:
    """``name``, else ``LLM_TIMEOUT_S``; None when neither is set (the use keeps its default)."""
    if env_optional_str(name) is None and env_optional_str("LLM_TIMEOUT_S") is None:
        return None
    fallback = env_float("LLM_TIMEOUT_S", FALLBACK_TIMEOUT_S, minimum=0.05, maximum=600)
    return env_float(name, fallback, minimum=0.05, maximum=600)


def _per_use_max_tokens() -> dict[str, int]:
    """``LLM_MAX_TOKENS_<USE>`` of the uses that set one."""
    tokens = {
        "rerank": _optional_max_tokens("LLM_MAX_TOKENS_RERANK"),
        "explain": _optional_max_tokens("LLM_MAX_TOKENS_EXPLAIN"),
        "taste": _optional_max_tokens("LLM_MAX_TOKENS_TASTE"),
        "understand": _optional_max_tokens("LLM_MAX_TOKENS_UNDERSTAND"),
        "reply": _optional_max_tokens("LLM_MAX_TOKENS_REPLY"),
        "theme": _optional_max_tokens("LLM_MAX_TOKENS_THEME"),
    }
    return {use: value for use, value in tokens.items() if value is not None}


def _optional_max_tokens(name: str) -> int | None:
    if env_optional_str(name) is None:
        return None
    return env_int(name, minimum=8, maximum=8192)
