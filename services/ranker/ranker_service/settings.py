"""Ranker configuration from environment variables, parsed once at start-up (see README for the table)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from movierec_catalog.paths import default_catalog_dir
from movierec_core.config import env_bool, env_float, env_int, env_optional_str, env_str
from movierec_core.index_artifact import current_index_dir
from movierec_core.paths import artifacts_dir
from movierec_llm.settings import LlmSettings as SharedLlmSettings

MAX_CANDIDATES_LIMIT = 500
MAX_TOP_N = 50
DEFAULT_TOP_N = 5
# The served defaults of a, MMR λ and the hybrid candidate count, chosen on validation by
# `python -m movierec_eval.select_served --write` (eval/README.md); RANKER_* variables override them.
SERVED_DEFAULTS_FILE = Path(__file__).with_name("served_defaults.json")


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
    def from_env(cls) -> LlmSettings:
        return cls(
            connection=SharedLlmSettings.from_env() or _legacy_connection(),
            rerank=env_bool("RANKER_LLM_RERANK", True),
            explain=env_bool("RANKER_LLM_EXPLAIN", False),
            max_candidates=env_int("RANKER_LLM_MAX_CANDIDATES", 20, minimum=1, maximum=100),
        )


def _legacy_connection() -> SharedLlmSettings | None:
    """The ranker's former ``RANKER_LLM_*`` variables, still honoured when ``LLM_BASE_URL`` is unset."""
    base_url = env_optional_str("RANKER_LLM_BASE_URL")
    if base_url is None:
        return None
    timeout = env_float("RANKER_LLM_TIMEOUT_S", 2.0, minimum=0.05, maximum=600)
    return SharedLlmSettings(base_url=base_url.rstrip("/"), model=env_str("RANKER_LLM_MODEL", "local"),
                             api_key=env_str("RANKER_LLM_API_KEY", "unused"),
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
        alpha = env_optional_str("RANKER_ALPHA")
        served = ServedDefaults.load()
        return cls(
            catalog_dir=Path(env_str("RANKER_CATALOG_DIR", str(default_catalog_dir()))),
            index_dir=Path(env_str("RANKER_INDEX_DIR", str(current_index_dir()))),
            collab_dir=Path(env_str("RANKER_COLLAB_DIR", str(artifacts_dir() / "collab" / "current"))),
            sequence_dir=Path(env_str("RANKER_SEQUENCE_DIR", str(artifacts_dir() / "seqease" / "current"))),
            require_collab=env_bool("RANKER_REQUIRE_COLLAB", False),
            alpha=served.alpha if alpha is None else env_float("RANKER_ALPHA", minimum=0, maximum=1),
            mmr_lambda=env_float("RANKER_MMR_LAMBDA", served.mmr_lambda, minimum=0, maximum=1),
            max_candidates=env_int("RANKER_MAX_CANDIDATES", MAX_CANDIDATES_LIMIT, minimum=1,
                                   maximum=MAX_CANDIDATES_LIMIT),
            llm=LlmSettings.from_env(),
            hybrid_candidates=env_bool("RANKER_HYBRID_CANDIDATES", True),
            collab_candidates=env_int("RANKER_COLLAB_CANDIDATES", served.collab_candidates, minimum=0,
                                      maximum=MAX_CANDIDATES_LIMIT),
            popularity_prior=env_float("RANKER_POPULARITY_PRIOR", served.popularity_prior, minimum=0, maximum=1),
            quality_prior=env_float("RANKER_QUALITY_PRIOR", served.quality_prior, minimum=0, maximum=1),
        )
