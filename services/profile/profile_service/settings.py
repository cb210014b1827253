"""Profile-tier configuration, parsed once from the environment (see README for the table).

The formula constants are shared by the gRPC service and the Celery worker, which must run with
the same values; each applied event also records the constants it used in the interaction log, so
replay reproduces the vectors even after a constant changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from movierec_catalog.paths import default_catalog_dir
from movierec_core.config import (
    ConfigError,
    env_address,
    env_choice,
    env_float,
    env_int,
    env_optional_str,
    env_str,
)
from movierec_core.index_artifact import current_index_dir
from movierec_profile_contract import DEFAULT_PREFIX, DEFAULT_QUEUE


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
        def unit(name: str, default: float) -> float:
            return env_float(name, default, minimum=0.0, maximum=1.0)

        constants = cls(
            onboard_movie_weight=unit("PROFILE_ONBOARD_MOVIE_WEIGHT", cls.onboard_movie_weight),
            message_alpha=unit("PROFILE_MESSAGE_ALPHA", cls.message_alpha),
            review_alpha=unit("PROFILE_REVIEW_ALPHA", cls.review_alpha),
            like_threshold=env_float("PROFILE_LIKE_THRESHOLD", cls.like_threshold, minimum=0.5, maximum=5.0),
            dislike_threshold=env_float("PROFILE_DISLIKE_THRESHOLD", cls.dislike_threshold, minimum=0.5,
                                        maximum=5.0),
            dislike_beta=env_float("PROFILE_DISLIKE_BETA", cls.dislike_beta, minimum=0.0, maximum=0.95),
            review_text_alpha=unit("PROFILE_REVIEW_TEXT_ALPHA", cls.review_text_alpha),
            review_text_beta=env_float("PROFILE_REVIEW_TEXT_BETA", cls.review_text_beta, minimum=0.0, maximum=0.95),
            rate_weight=env_float("PROFILE_RECENT_RATE_WEIGHT", cls.rate_weight, minimum=0.0),
            watch_weight=env_float("PROFILE_RECENT_WATCH_WEIGHT", cls.watch_weight, minimum=0.0),
            click_weight=env_float("PROFILE_RECENT_CLICK_WEIGHT", cls.click_weight, minimum=0.0),
            decay_per_day=env_float("PROFILE_RECENT_DECAY_PER_DAY", cls.decay_per_day, minimum=0.01, maximum=1.0),
            scoring_base_weight=unit("PROFILE_SCORING_BASE_WEIGHT", cls.scoring_base_weight),
            recent_min_weight=env_float("PROFILE_RECENT_MIN_WEIGHT", cls.recent_min_weight, minimum=0.0),
        )
        if constants.dislike_threshold >= constants.like_threshold:
            raise ConfigError(f"PROFILE_DISLIKE_THRESHOLD={constants.dislike_threshold} must be below "
                              f"PROFILE_LIKE_THRESHOLD={constants.like_threshold}")
        if constants.message_alpha == 1.0 or constants.review_alpha == 1.0:
            # α = 1 would make the EMA ignore every event: almost certainly a typo for 0.1.
            raise ConfigError("PROFILE_MESSAGE_ALPHA/PROFILE_REVIEW_ALPHA must be below 1.0")
        return constants

    def recent_weight_of(self, kind: str) -> float:
        return {"rate": self.rate_weight, "watch": self.watch_weight, "click": self.click_weight}[kind]


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
        return cls(
            redis_url=env_str("REDIS_URL"),
            key_prefix=env_str("PROFILE_KEY_PREFIX", cls.key_prefix),
            log_maxlen=env_int("PROFILE_LOG_MAXLEN", cls.log_maxlen, minimum=1000),
            log_max_bytes=env_int("PROFILE_LOG_MAX_BYTES", cls.log_max_bytes, minimum=1_000_000),
            turns_maxlen=env_int("PROFILE_TURNS_MAXLEN", cls.turns_maxlen, minimum=1000),
            turns_max_bytes=env_int("PROFILE_TURNS_MAX_BYTES", cls.turns_max_bytes, minimum=1_000_000),
            deadletter_maxlen=env_int("PROFILE_DEADLETTER_MAXLEN", cls.deadletter_maxlen, minimum=100),
        )


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
        embedding_addr = (env_address("EMBEDDING_ADDR") if require_embedding
                          else env_optional_str("EMBEDDING_ADDR"))
        return cls(
            store=StoreSettings.from_env(),
            taste=TasteConstants.from_env(),
            index_dir=Path(env_str("PROFILE_INDEX_DIR", str(current_index_dir()))),
            catalog_dir=Path(env_str("PROFILE_CATALOG_DIR", str(default_catalog_dir()))),
            cold_start_top_n=env_int("PROFILE_COLD_START_TOP_N", 200, minimum=1),
            embedding_addr=embedding_addr,
            embed_timeout_s=env_float("PROFILE_EMBED_TIMEOUT_S", 2.0, minimum=0.01),
        )


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
        settings = cls(
            broker_url=env_str("REDIS_URL"),  # one Redis: the pending ledger must sit beside the state
            queue=env_str("PROFILE_EVENTS_QUEUE", DEFAULT_QUEUE),
            concurrency=env_int("WORKER_CONCURRENCY", 4, minimum=1),
            pool=env_choice("WORKER_POOL", ("prefork", "threads", "solo"), "threads"),
            prefetch=env_int("CELERY_PREFETCH", 8, minimum=1),
            visibility_timeout_s=env_int("CELERY_VISIBILITY_TIMEOUT_S", 60, minimum=1),
            restore_interval_s=env_float("CELERY_RESTORE_INTERVAL_S", 5.0, minimum=0.1),
            max_retries=env_int("PROFILE_TASK_MAX_RETRIES", 8, minimum=0),
            retry_backoff_s=env_float("PROFILE_RETRY_BACKOFF_S", 0.5, minimum=0.0),
            retry_backoff_max_s=env_float("PROFILE_RETRY_BACKOFF_MAX_S", 30.0, minimum=0.0),
            pending_sweep_s=env_float("PROFILE_PENDING_SWEEP_S", 5.0, minimum=0.1),
            pending_redeliver_s=env_float("PROFILE_PENDING_REDELIVER_S", 120.0, minimum=1.0),
            pending_max_backlog=env_int("PROFILE_PENDING_MAX_BACKLOG", 0, minimum=0),
        )
        if settings.retry_backoff_max_s >= settings.visibility_timeout_s:
            # A retry waiting longer than the visibility timeout is redelivered while it waits:
            # harmless (events are idempotent) but wasteful, so refuse the combination.
            raise ConfigError(f"PROFILE_RETRY_BACKOFF_MAX_S={settings.retry_backoff_max_s} must be below "
                              f"CELERY_VISIBILITY_TIMEOUT_S={settings.visibility_timeout_s}")
        return settings
