"""Gateway configuration, parsed once from the environment."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from movierec_core.config import Address, ConfigError, EnvSettings, Port, env_int, env_optional_str
from movierec_core.paths import run_dir

MIN_SECRET_CHARS = 32
DEV_SECRET_FILE = "gateway-jwt-secret"
DEV_BUDGET = 1_000_000


class GatewayEnv(EnvSettings):
    """The gateway process's variables (``GATEWAY_*``, the tiers' addresses, Redis; services/gateway/README.md
    has the table). None marks a default that depends on another value (dev mode, the API port)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    host: str = "127.0.0.1"
    port: Port = 8080
    port_file: str | None = Field(None, validation_alias="MOVIEREC_PORT_FILE")
    redis_url: str = Field(validation_alias="REDIS_URL")
    embedding_addr: Address = Field(validation_alias="EMBEDDING_ADDR")
    retrieval_addr: Address = Field(validation_alias="RETRIEVAL_ADDR")
    profile_addr: Address = Field(validation_alias="PROFILE_ADDR")
    ranker_addr: Address = Field(validation_alias="RANKER_ADDR")
    rpc_timeout_s: float = Field(1.0, ge=0.01)
    rank_timeout_s: float = Field(2.0, ge=0.01)
    request_timeout_s: float = Field(5.0, ge=0.05)
    dev_mode: bool = False
    jwt_secret: str | None = Field(None, repr=False)  # required outside dev mode (jwt_secret)
    jwt_ttl_s: int = Field(12 * 3600, ge=60)
    auth_rate_limit: int = Field(10, ge=1)
    auth_rate_window_s: int = Field(60, ge=1)
    candidates: int = Field(20, ge=1, le=500)
    chat_history_max: int = Field(20, ge=2)
    chat_session_ttl_s: int = Field(7 * 24 * 3600, ge=60)
    catalog_dir: str | None = Field(None, validation_alias="MOVIEREC_CATALOG_DIR")
    taste_map_dir: str | None = None
    metrics_port: Port | None = None  # unset: /metrics on the API port
    forwarded_allow_ips: str | None = None
    server_timing: bool = False
    diagnostics: bool | None = None  # unset: dev mode
    argon2_memory_kib: int = Field(19_456, ge=8_192, le=1_048_576)
    argon2_time_cost: int = Field(2, ge=1, le=10)
    hash_concurrency: int = Field(2, ge=1, le=64)
    # unset: DEV_BUDGET in dev mode, else the GatewaySettings default
    auth_ip_rate_limit: int | None = Field(None, ge=1)
    write_rate_limit: int | None = Field(None, ge=1)
    write_rate_window_s: int = Field(60, ge=1)
    search_rate_limit: int | None = Field(None, ge=1)
    max_body_bytes: int = Field(1_048_576, ge=1_024)
    taste_normalizer: bool = False

    @field_validator("jwt_secret")
    @classmethod
    def _secret_long_enough(cls, secret: str | None) -> str | None:
        return check_jwt_secret(secret)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies_are_addresses(cls, raw: str | None) -> str | None:
        return check_forwarded_allow_ips(raw)

    @model_validator(mode="after")
    def _metrics_off_the_api_port(self) -> GatewayEnv:
        check_metrics_port(self.metrics_port, self.port)
        return self


@dataclass(frozen=True)
class GatewaySettings:
    host: str
    port: int
    port_file: str | None
    redis_url: str
    embedding_addr: str
    retrieval_addr: str
    profile_addr: str
    ranker_addr: str
    rpc_timeout_s: float
    rank_timeout_s: float
    request_timeout_s: float
    dev_mode: bool
    jwt_secret: str
    jwt_ttl_s: int
    auth_rate_limit: int
    auth_rate_window_s: int
    candidates: int
    chat_history_max: int
    chat_session_ttl_s: int
    catalog_dir: str | None
    taste_map_root: str | None
    metrics_port: int | None = None  # None: /metrics on the API port
    forwarded_allow_ips: str | None = None  # None: X-Forwarded-For is never trusted
    server_timing: bool = False
    diagnostics: bool = False  # chat diagnostics (pre-final-filter ids) for callers sending X-Movierec-Diagnostics: 1
    # argon2id sized to the pod: hash_concurrency × argon2_memory_kib is the most hashing may hold.
    argon2_memory_kib: int = 19_456
    argon2_time_cost: int = 2
    hash_concurrency: int = 2
    auth_ip_rate_limit: int = 30  # sign-up/login attempts per client address per auth window
    write_rate_limit: int = 60  # reviews, chat turns, interactions per user per write window
    write_rate_window_s: int = 60
    search_rate_limit: int = 120  # unauthenticated title searches per client address per minute
    max_body_bytes: int = 1_048_576
    # Rewrite onboarding/chat taste text with the LLM before embedding (taste_text.py; needs LLM_BASE_URL).
    taste_normalizer: bool = False

    @classmethod
    def from_env(cls) -> GatewaySettings:
        env = GatewayEnv.load()
        dev_mode = env.dev_mode
        return cls(
            host=env.host,
            port=env.port,
            port_file=env.port_file,
            redis_url=env.redis_url,
            embedding_addr=env.embedding_addr,
            retrieval_addr=env.retrieval_addr,
            profile_addr=env.profile_addr,
            ranker_addr=env.ranker_addr,
            rpc_timeout_s=env.rpc_timeout_s,
            rank_timeout_s=env.rank_timeout_s,
            request_timeout_s=env.request_timeout_s,
            dev_mode=dev_mode,
            jwt_secret=jwt_secret(env.jwt_secret, dev_mode),
            jwt_ttl_s=env.jwt_ttl_s,
            auth_rate_limit=env.auth_rate_limit,
            auth_rate_window_s=env.auth_rate_window_s,
            candidates=env.candidates,
            chat_history_max=env.chat_history_max,
            chat_session_ttl_s=env.chat_session_ttl_s,
            catalog_dir=env.catalog_dir,
            taste_map_root=env.taste_map_dir,
            metrics_port=env.metrics_port,
            forwarded_allow_ips=env.forwarded_allow_ips,
            server_timing=env.server_timing,
            # On by default in dev mode (`make up`); a production gateway keeps its internals to itself.
            diagnostics=dev_mode if env.diagnostics is None else env.diagnostics,
            argon2_memory_kib=env.argon2_memory_kib,
            argon2_time_cost=env.argon2_time_cost,
            hash_concurrency=env.hash_concurrency,
            # Dev mode (`make up`: one developer, every client on 127.0.0.1, evaluations signing up
            # hundreds of users) keeps the per-address and per-user budgets out of the way.
            auth_ip_rate_limit=_budget(env.auth_ip_rate_limit, dev_mode, cls.auth_ip_rate_limit),
            write_rate_limit=_budget(env.write_rate_limit, dev_mode, cls.write_rate_limit),
            write_rate_window_s=env.write_rate_window_s,
            search_rate_limit=_budget(env.search_rate_limit, dev_mode, cls.search_rate_limit),
            max_body_bytes=env.max_body_bytes,
            taste_normalizer=env.taste_normalizer,
        )


def _budget(value: int | None, dev_mode: bool, default: int) -> int:
    if value is not None:
        return value
    return DEV_BUDGET if dev_mode else default


def check_metrics_port(metrics_port: int | None, api_port: int) -> None:
    """GATEWAY_METRICS_PORT: serve /metrics on this port (0 = any free one) instead of the API port.

    Unset (the default) keeps /metrics on the API port, convenient for local runs; set it in a cluster
    so that an Ingress in front of the API port cannot expose the metrics.
    """
    if metrics_port is not None and metrics_port != 0 and metrics_port == api_port:
        raise ValueError(f"GATEWAY_METRICS_PORT={metrics_port} is the API port (GATEWAY_PORT); choose another one "
                         "or leave it unset to serve /metrics on the API port")


def metrics_port_from_env() -> int | None:
    """GATEWAY_METRICS_PORT alone (see :func:`check_metrics_port`)."""
    if env_optional_str("GATEWAY_METRICS_PORT") is None:
        return None
    port = env_int("GATEWAY_METRICS_PORT", minimum=0, maximum=65535)
    try:
        check_metrics_port(port, env_int("GATEWAY_PORT", 8080, minimum=0, maximum=65535))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return port


def check_forwarded_allow_ips(raw: str | None) -> str | None:
    """GATEWAY_FORWARDED_ALLOW_IPS: comma-separated addresses or networks of the reverse proxies whose
    ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are trusted (``*`` trusts any peer). Unset: none are,
    and the client address is the socket peer. Returns the list without blanks (None when empty).
    """
    if raw is None:
        return None
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    for entry in entries:
        if entry == "*":
            continue
        try:
            # Strict, as uvicorn parses them: it would silently treat "10.0.0.1/8" as a literal name.
            ipaddress.ip_network(entry) if "/" in entry else ipaddress.ip_address(entry)
        except ValueError:
            raise ValueError(f"has {entry!r}, which is not an IP address, a network (e.g. 10.0.0.0/8, host bits "
                             "zero) or '*'") from None
    return ",".join(entries) or None


def forwarded_allow_ips_from_env() -> str | None:
    """GATEWAY_FORWARDED_ALLOW_IPS alone (see :func:`check_forwarded_allow_ips`)."""
    raw = env_optional_str("GATEWAY_FORWARDED_ALLOW_IPS")
    try:
        return check_forwarded_allow_ips(raw)
    except ValueError as error:
        raise ConfigError(f"GATEWAY_FORWARDED_ALLOW_IPS={raw!r} {error}") from None


def check_jwt_secret(secret: str | None) -> str | None:
    if secret is not None and len(secret) < MIN_SECRET_CHARS:
        raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters")
    return secret


def jwt_secret(secret: str | None, dev_mode: bool) -> str:
    """GATEWAY_JWT_SECRET (≥ 32 chars) is required, except in dev mode.

    In dev mode without a secret, one is generated once and kept in ``.run/gateway-jwt-secret``
    (mode 0600) so that tokens survive a gateway restart on the same checkout.
    """
    if secret is not None:
        return secret
    if not dev_mode:
        raise ConfigError("GATEWAY_JWT_SECRET is required (or set GATEWAY_DEV_MODE=true for a generated "
                          "development secret)")
    return _dev_secret(run_dir() / DEV_SECRET_FILE)


def jwt_secret_from_env(dev_mode: bool) -> str:
    """GATEWAY_JWT_SECRET alone (see :func:`jwt_secret`)."""
    secret = env_optional_str("GATEWAY_JWT_SECRET")
    try:
        return jwt_secret(check_jwt_secret(secret), dev_mode)
    except ValueError as error:
        raise ConfigError(f"GATEWAY_JWT_SECRET {error}") from None


def _dev_secret(path: Path) -> str:
    if path.exists():
        stored = path.read_text().strip()
        if len(stored) >= MIN_SECRET_CHARS:
            return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(secret + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
    return secret
