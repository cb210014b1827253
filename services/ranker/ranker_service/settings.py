"""Ranker configuration from environment variables, parsed once at start-up (see README for the table)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from movierec_catalog.paths import default_catalog_dir
from movierec_core.config import env_bool, env_float, env_int, env_optional_str, env_str
from movierec_core.index_artifact import current_index_dir
from movierec_core.paths import artifacts_dir

MAX_CANDIDATES_LIMIT = 500
MAX_TOP_N = 50
DEFAULT_TOP_N = 5


@dataclass(frozen=True)
class LlmSettings:
    """The OpenAI-compatible chat backend; off when no base URL is configured."""

    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key: str = "unused"
    timeout_s: float = 2.0
    temperature: float = 0.2
    max_tokens: int = 700
    max_candidates: int = 20
    json_mode: bool = True

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)

    @classmethod
    def from_env(cls) -> LlmSettings:
        return cls(
            base_url=env_optional_str("RANKER_LLM_BASE_URL"),
            model=env_str("RANKER_LLM_MODEL", "gpt-4o-mini"),
            api_key=env_str("RANKER_LLM_API_KEY", "unused"),
            timeout_s=env_float("RANKER_LLM_TIMEOUT_S", 2.0, minimum=0.05, maximum=120),
            temperature=env_float("RANKER_LLM_TEMPERATURE", 0.2, minimum=0, maximum=2),
            max_tokens=env_int("RANKER_LLM_MAX_TOKENS", 700, minimum=64, maximum=8192),
            max_candidates=env_int("RANKER_LLM_MAX_CANDIDATES", 20, minimum=1, maximum=100),
            json_mode=env_bool("RANKER_LLM_JSON_MODE", True),
        )


@dataclass(frozen=True)
class RankerSettings:
    catalog_dir: Path
    index_dir: Path
    collab_dir: Path
    sequence_dir: Path
    require_collab: bool
    alpha: float | None
    mmr_lambda: float
    max_candidates: int
    llm: LlmSettings
    hybrid_candidates: bool = True
    collab_candidates: int = 100

    @property
    def added_candidates(self) -> int:
        """How many SeqEASE candidates the ranker may add per request (0 when hybrid candidates are off)."""
        return self.collab_candidates if self.hybrid_candidates else 0

    @classmethod
    def from_env(cls) -> RankerSettings:
        alpha = env_optional_str("RANKER_ALPHA")
        return cls(
            catalog_dir=Path(env_str("RANKER_CATALOG_DIR", str(default_catalog_dir()))),
            index_dir=Path(env_str("RANKER_INDEX_DIR", str(current_index_dir()))),
            collab_dir=Path(env_str("RANKER_COLLAB_DIR", str(artifacts_dir() / "collab" / "current"))),
            sequence_dir=Path(env_str("RANKER_SEQUENCE_DIR", str(artifacts_dir() / "seqease" / "current"))),
            require_collab=env_bool("RANKER_REQUIRE_COLLAB", False),
            alpha=None if alpha is None else env_float("RANKER_ALPHA", minimum=0, maximum=1),
            mmr_lambda=env_float("RANKER_MMR_LAMBDA", 0.7, minimum=0, maximum=1),
            max_candidates=env_int("RANKER_MAX_CANDIDATES", MAX_CANDIDATES_LIMIT, minimum=1,
                                   maximum=MAX_CANDIDATES_LIMIT),
            llm=LlmSettings.from_env(),
            hybrid_candidates=env_bool("RANKER_HYBRID_CANDIDATES", True),
            collab_candidates=env_int("RANKER_COLLAB_CANDIDATES", 100, minimum=0, maximum=MAX_CANDIDATES_LIMIT),
        )
