"""Profile-tier configuration, parsed once from the environment (see README for the table).

The formula constants are shared by the gRPC service and the Celery worker, which must run with
the same values; each applied event also records the constants it used in the interaction log, so
replay reproduces the vectors even after a constant changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from movierec_catalog.paths import default_catalog_dir
from movierec_core.config import Address, ConfigError, EnvSettings
from movierec_core.index_artifact import current_index_dir
from movierec_profile_contract import DEFAULT_PREFIX, DEFAULT_QUEUE

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Rating = Annotated[float, Field(ge=0.5, le=5.0)]


@dataclass(frozen=True)
class TasteConstants:
    """The defaults come from docs/architecture.md §2 (onboarding/EMA) and the IJRASET paper (recent interests)."""

    onboard_movie_weight: float = 0.7   # u = normalize(w·mean(movies) + (1−w)·embed(text))
    message_alpha: float = 0.8          # u = normalize(α·u + (1−α)·e)
    review_alpha: float = 0.8           # u = normalize(α·u + (1−α)·m) for liked ratings
    like_threshold: float = 4.0         # a rating at or above this counts as liked
    dislike_threshold: float = 2.5      # a rating at or below this pushes the vector away
    dislike_beta: float = 0.2           # u = normalize(u − β·m) for disliked ratings (0 ≤ β < 1)
    review_text_alpha: float = 0.9      # positive review clauses: u = normalize(α·u + (1−α)·e)
    review_text_beta: float = 0.1       # negative review clauses: u = normalize(u − β·e)
    rate_weight: float = 1.5            # recent-interest weight of a liked rating
    watch_weight: float = 0.8
    click_weight: float = 0.2
    decay_per_day: float = 0.95         # recent-interest weights decay by this factor per day
    scoring_base_weight: float = 0.7    # scoring = normalize(w·base + (1−w)·recent)
    recent_min_weight: float = 0.05     # below this decayed weight, recent interests are ignored

    @classmethod
    def from_env(cls) -> TasteConstants:
        env = TasteEnv.load()
        return cls(
            onboard_movie_weight=env.onboard_movie_weight,
            message_alpha=env.message_alpha,
            review_alpha=env.review_alpha,
            like_threshold=env.like_threshold,
            dislike_threshold=env.dislike_threshold,
            dislike_beta=env.dislike_beta,
            review_text_alpha=env.review_text_alpha,
            review_text_beta=env.review_text_beta,
            rate_weight=env.recent_rate_weight,
            watch_weight=env.recent_watch_weight,
            click_weight=env.recent_click_weight,
            decay_per_day=env.recent_decay_per_day,
            scoring_base_weight=env.scoring_base_weight,
            recent_min_weight=env.recent_min_weight,
        )

    def recent_weight_of(self, kind: str) -> float:
        return {"rate": self.rate_weight, "watch": self.watch_weight, "click": self.click_weight}[kind]


class TasteEnv(EnvSettings):
    """``PROFILE_*`` formula constants (defaults: :class:`TasteConstants`), shared by the service and the worker."""

    model_config = SettingsConfigDict(env_prefix="PROFILE_")

    onboard_movie_weight: Unit = TasteConstants.onboard_movie_weight
    message_alpha: Unit = TasteConstants.message_alpha
    review_alpha: Unit = TasteConstants.review_alpha
    like_threshold: Rating = TasteConstants.like_threshold
    dislike_threshold: Rating = TasteConstants.dislike_threshold
    dislike_beta: float = Field(TasteConstants.dislike_beta, ge=0.0, le=0.95)
    review_text_alpha: Unit = TasteConstants.review_text_alpha
    review_text_beta: float = Field(TasteConstants.review_text_beta, ge=0.0, le=0.95)
    recent_rate_weight: float = Field(TasteConstants.rate_weight, ge=0.0)
    recent_watch_weight: float = Field(TasteConstants.watch_weight, ge=0.0)
    recent_click_weight: float = Field(TasteConstants.click_weight, ge=0.0)
    recent_decay_per_day: float = Field(TasteConstants.decay_per_day, ge=0.01, le=1.0)
    scoring_base_weight: Unit = TasteConstants.scoring_base_weight
    recent_min_weight: float = Field(TasteConstants.recent_min_weight, ge=0.0)

    @model_validator(mode="after")
    def _consistent(self) -> TasteEnv:
        if self.dislike_threshold >= self.like_threshold:
            raise ValueError(f"PROFILE_DISLIKE_THRESHOLD={self.dislike_threshold} must be below "
                             f"PROFILE_LIKE_THRESHOLD={self.like_threshold}")
        if self.message_alpha == 1.0 or self.review_alpha == 1.0:
            # α = 1 would make the EMA ignore every event: almost certainly a typo for 0.1.
            raise ValueError("PROFILE_MESSAGE_ALPHA/PROFILE_REVIEW_ALPHA must be below 1.0")
        return self


@dataclass(frozen=True)
class StoreSettings:
    """Where profile state and the logs live in Redis, and how much of its memory the logs may take.

    The defaults fit the base (dev) Redis, ``maxmemory 700mb``; the prod overlay raises them for its
    3 GB. services/profile/README.md ("Bounded state") has the arithmetic.
    """

    redis_url: str
    key_prefix: str = DEFAULT_PREFIX
    log_maxlen: int = 1_000_000
    log_max_bytes: int = 250_000_000
    turns_maxlen: int = 200_000
    turns_max_bytes: int = 70_000_000
    deadletter_maxlen: int = 2_500

    @property
    def log_cap(self) -> str:
        """The interaction log's bounds as the Lua scripts take them: "<max entries> <max bytes>"."""
        return f"{self.log_maxlen} {self.log_max_bytes}"

    @property
    def turns_cap(self) -> str:
        return f"{self.turns_maxlen} {self.turns_max_bytes}"

    @classmethod
    def from_env(cls) -> StoreSettings:
        return cls(**StoreEnv.load().model_dump())


class StoreEnv(EnvSettings):
    """``REDIS_URL`` and the ``PROFILE_*`` bounds of the state kept in Redis (defaults: :class:`StoreSettings`)."""

    model_config = SettingsConfigDict(env_prefix="PROFILE_")

    redis_url: str = Field(validation_alias="REDIS_URL")
    key_prefix: str = StoreSettings.key_prefix
    log_maxlen: int = Field(StoreSettings.log_maxlen, ge=1000)
    log_max_bytes: int = Field(StoreSettings.log_max_bytes, ge=1_000_000)
    turns_maxlen: int = Field(StoreSettings.turns_maxlen, ge=1000)
    turns_max_bytes: int = Field(StoreSettings.turns_max_bytes, ge=1_000_000)
    deadletter_maxlen: int = Field(StoreSettings.deadletter_maxlen, ge=100)


class ProfileEnv(EnvSettings):
    """The profile process's own ``PROFILE_*`` variables and the embedding tier's address."""

    model_config = SettingsConfigDict(env_prefix="PROFILE_")

    index_dir: Path | None = None  # unset: artifacts/index/current
    catalog_dir: Path | None = None  # unset: the default catalog
    cold_start_top_n: int = Field(200, ge=1)
    embedding_addr: Address | None = Field(None, validation_alias="EMBEDDING_ADDR")
    embed_timeout_s: float = Field(2.0, ge=0.01)


@dataclass(frozen=True)
class ProfileSettings:
    """Everything the gRPC service and the worker read from the environment."""

    store: StoreSettings
    taste: TasteConstants
    index_dir: Path
    catalog_dir: Path
    cold_start_top_n: int
    embedding_addr: str | None
    embed_timeout_s: float

    @classmethod
    def from_env(cls, *, require_embedding: bool) -> ProfileSettings:
        env = ProfileEnv.load()
        if require_embedding and env.embedding_addr is None:
            raise ConfigError("EMBEDDING_ADDR is required but not set")
        return cls(
            store=StoreSettings.from_env(),
            taste=TasteConstants.from_env(),
            index_dir=env.index_dir or current_index_dir(),
            catalog_dir=env.catalog_dir or default_catalog_dir(),
            cold_start_top_n=env.cold_start_top_n,
            embedding_addr=env.embedding_addr,
            embed_timeout_s=env.embed_timeout_s,
        )


class WorkerEnv(EnvSettings):
    """The Celery worker's broker, pool and retry policy (defaults: the README table)."""

    broker_url: str = Field(validation_alias="REDIS_URL")  # one Redis: the pending ledger sits beside the state
    queue: str = Field(DEFAULT_QUEUE, validation_alias="PROFILE_EVENTS_QUEUE")
    concurrency: int = Field(4, ge=1, validation_alias="WORKER_CONCURRENCY")
    pool: Literal["prefork", "threads", "solo"] = Field("threads", validation_alias="WORKER_POOL")
    prefetch: int = Field(8, ge=1, validation_alias="CELERY_PREFETCH")
    visibility_timeout_s: int = Field(60, ge=1, validation_alias="CELERY_VISIBILITY_TIMEOUT_S")
    restore_interval_s: float = Field(5.0, ge=0.1, validation_alias="CELERY_RESTORE_INTERVAL_S")
    max_retries: int = Field(8, ge=0, validation_alias="PROFILE_TASK_MAX_RETRIES")
    retry_backoff_s: float = Field(0.5, ge=0.0, validation_alias="PROFILE_RETRY_BACKOFF_S")
    retry_backoff_max_s: float = Field(30.0, ge=0.0, validation_alias="PROFILE_RETRY_BACKOFF_MAX_S")
    pending_sweep_s: float = Field(5.0, ge=0.1, validation_alias="PROFILE_PENDING_SWEEP_S")
    pending_redeliver_s: float = Field(120.0, ge=1.0, validation_alias="PROFILE_PENDING_REDELIVER_S")
    pending_max_backlog: int = Field(0, ge=0, validation_alias="PROFILE_PENDING_MAX_BACKLOG")

    @model_validator(mode="after")
    def _retries_end_before_redelivery(self) -> WorkerEnv:
        if self.retry_backoff_max_s >= self.visibility_timeout_s:
            # A retry waiting longer than the visibility timeout is redelivered while it waits:
            # harmless (events are idempotent) but wasteful, so refuse the combination.
            raise ValueError(f"PROFILE_RETRY_BACKOFF_MAX_S={self.retry_backoff_max_s} must be below "
                             f"CELERY_VISIBILITY_TIMEOUT_S={self.visibility_timeout_s}")
        return self


@dataclass(frozen=True)
class WorkerSettings:
    """The Celery worker's broker, pool and retry policy."""

    broker_url: str
    queue: str
    concurrency: int
    pool: str
    prefetch: int
    visibility_timeout_s: int
    restore_interval_s: float
    max_retries: int
    retry_backoff_s: float
    retry_backoff_max_s: float
    pending_sweep_s: float
    pending_redeliver_s: float
    pending_max_backlog: int

    @classmethod
    def from_env(cls) -> WorkerSettings:
        return cls(**WorkerEnv.load().model_dump())
