"""Ranker configuration from environment variables, parsed once at start-up (see README for the table)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from movierec_catalog.paths import default_catalog_dir
from movierec_core.config import EnvSettings
from movierec_core.index_artifact import current_index_dir
from movierec_core.paths import artifacts_dir
from movierec_llm.settings import LlmSettings as SharedLlmSettings

MAX_CANDIDATES_LIMIT = 500
MAX_TOP_N = 50
DEFAULT_TOP_N = 5
# The served defaults of a, MMR λ and the hybrid candidate count, chosen on validation by
# `python -m movierec_eval.select_served --write` (eval/README.md); RANKER_* variables override them.
SERVED_DEFAULTS_FILE = Path(__file__).with_name("served_defaults.json")


class RankerEnv(EnvSettings):
    """The ranker process's ``RANKER_*`` variables (services/ranker/README.md has the table); the shared
    ``LLM_*`` connection is ``movierec_llm.LlmSettings``. Unset tuning values come from served_defaults.json."""

    model_config = SettingsConfigDict(env_prefix="RANKER_")

    catalog_dir: Path | None = None  # unset: the default catalog
    index_dir: Path | None = None  # unset: artifacts/index/current
    collab_dir: Path | None = None  # unset: artifacts/collab/current
    sequence_dir: Path | None = None  # unset: artifacts/seqease/current
    require_collab: bool = False
    alpha: float | None = Field(None, ge=0, le=1)
    mmr_lambda: float | None = Field(None, ge=0, le=1)
    max_candidates: int = Field(MAX_CANDIDATES_LIMIT, ge=1, le=MAX_CANDIDATES_LIMIT)
    hybrid_candidates: bool = True
    collab_candidates: int | None = Field(None, ge=0, le=MAX_CANDIDATES_LIMIT)
    popularity_prior: float | None = Field(None, ge=0, le=1)
    quality_prior: float | None = Field(None, ge=0, le=1)
    llm_rerank: bool = True
    llm_explain: bool = False
    llm_max_candidates: int = Field(20, ge=1, le=100)
    # The former connection variables, still honoured when LLM_BASE_URL is unset.
    llm_base_url: str | None = None
    llm_model: str = "local"
    llm_api_key: str = Field("unused", repr=False)
    llm_timeout_s: float = Field(2.0, ge=0.05, le=600)


@dataclass(frozen=True)
class ServedDefaults:
    alpha: float | None = None  # None: the blend weight stored in calibration.json
    mmr_lambda: float = 0.7
    collab_candidates: int = 100
    popularity_prior: float = 0.0  # β of the cold-start popularity prior (scoring.py)
    quality_prior: float = 0.0  # γ of the quality prior (scoring.py)

    @classmethod
    def load(cls, path: Path = SERVED_DEFAULTS_FILE) -> ServedDefaults:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        return cls(alpha=data.get("alpha"), mmr_lambda=float(data["mmr_lambda"]),
                   collab_candidates=int(data["collab_candidates"]),
                   popularity_prior=float(data.get("popularity_prior", 0.0)),
                   quality_prior=float(data.get("quality_prior", 0.0)))


@dataclass(frozen=True)
class LlmSettings:
    """The ranker's LLM uses; the connection (``LLM_BASE_URL``, model, timeouts) is shared by every
    tier (``movierec_llm.LlmSettings``). Off when no base URL is configured."""

    connection: SharedLlmSettings | None = None
    rerank: bool = True
    explain: bool = False
    max_candidates: int = 20

    @property
    def enabled(self) -> bool:
        return self.connection is not None and (self.rerank or self.explain)

    @classmethod
    def from_env(cls, env: RankerEnv | None = None) -> LlmSettings:
        env = env or RankerEnv.load()
        return cls(
            connection=SharedLlmSettings.from_env() or _legacy_connection(env),
            rerank=env.llm_rerank,
            explain=env.llm_explain,
            max_candidates=env.llm_max_candidates,
        )


def _legacy_connection(env: RankerEnv) -> SharedLlmSettings | None:
    """The ranker's former ``RANKER_LLM_*`` variables, still honoured when ``LLM_BASE_URL`` is unset."""
    if env.llm_base_url is None:
        return None
    timeout = env.llm_timeout_s
    return SharedLlmSettings(base_url=env.llm_base_url.rstrip("/"), model=env.llm_model, api_key=env.llm_api_key,
                             timeouts_s={"rerank": timeout, "explain": timeout})


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
    popularity_prior: float = 0.0
    quality_prior: float = 0.0

    @property
    def added_candidates(self) -> int:
        """How many SeqEASE candidates the ranker may add per request (0 when hybrid candidates are off)."""
        return self.collab_candidates if self.hybrid_candidates else 0

    @classmethod
    def from_env(cls) -> RankerSettings:
        env = RankerEnv.load()
        served = ServedDefaults.load()
        return cls(
            catalog_dir=env.catalog_dir or default_catalog_dir(),
            index_dir=env.index_dir or current_index_dir(),
            collab_dir=env.collab_dir or artifacts_dir() / "collab" / "current",
            sequence_dir=env.sequence_dir or artifacts_dir() / "seqease" / "current",
            require_collab=env.require_collab,
            alpha=served.alpha if env.alpha is None else env.alpha,
            mmr_lambda=_or_served(env.mmr_lambda, served.mmr_lambda),
            max_candidates=env.max_candidates,
            llm=LlmSettings.from_env(env),
            hybrid_candidates=env.hybrid_candidates,
            collab_candidates=_or_served(env.collab_candidates, served.collab_candidates),
            popularity_prior=_or_served(env.popularity_prior, served.popularity_prior),
            quality_prior=_or_served(env.quality_prior, served.quality_prior),
        )


def _or_served(value: float | None, served: float) -> float:
    """A RANKER_* override, else the served default."""
    return served if value is None else value
