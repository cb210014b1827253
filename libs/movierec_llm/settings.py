"""LLM settings shared by every tier that calls a model (ranker, gateway dialogue, eval).

One base URL and model for the whole system (``LLM_BASE_URL``, ``LLM_MODEL``, ``LLM_API_KEY``);
each *use* (rerank, explain, taste, understand, reply, …) has its own timeout and token budget,
``LLM_TIMEOUT_<USE>_S`` / ``LLM_MAX_TOKENS_<USE>``, falling back to ``LLM_TIMEOUT_S`` / the use's
default. No base URL → no LLM: :meth:`LlmSettings.from_env` returns ``None``.
"""

from __future__ import annotations

import os
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
        default_timeout = env_optional_str("LLM_TIMEOUT_S")
        timeouts = {}
        tokens = {}
        for use in sorted(set(DEFAULT_TIMEOUTS_S) | _uses_named_in_env()):
            name = f"LLM_TIMEOUT_{use.upper()}_S"
            if os.environ.get(name, "").strip() or default_timeout:
                fallback = env_float("LLM_TIMEOUT_S", FALLBACK_TIMEOUT_S, minimum=0.05, maximum=600)
                timeouts[use] = env_float(name, fallback, minimum=0.05, maximum=600)
            tokens_name = f"LLM_MAX_TOKENS_{use.upper()}"
            if os.environ.get(tokens_name, "").strip():
                tokens[use] = env_int(tokens_name, minimum=8, maximum=8192)
        return cls(base_url=base_url.rstrip("/"), model=env_str("LLM_MODEL", "local"),
                   api_key=env_str("LLM_API_KEY", "unused"),
                   temperature=env_float("LLM_TEMPERATURE", 0.0, minimum=0, maximum=2),
                   timeouts_s=timeouts, max_tokens=tokens)


def _uses_named_in_env() -> set[str]:
    """Uses other tiers add (``LLM_TIMEOUT_FOO_S``) without editing the defaults above."""
    uses = set()
    for name in os.environ:
        if name.startswith("LLM_TIMEOUT_") and name.endswith("_S") and name != "LLM_TIMEOUT_S":
            uses.add(name.removeprefix("LLM_TIMEOUT_").removesuffix("_S").lower())
        if name.startswith("LLM_MAX_TOKENS_"):
            uses.add(name.removeprefix("LLM_MAX_TOKENS_").lower())
    return uses
