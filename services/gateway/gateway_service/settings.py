"""Gateway configuration, parsed once from the environment."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from movierec_core.config import ConfigError, env_address, env_bool, env_float, env_int, env_optional_str, env_str
from movierec_core.paths import run_dir

MIN_SECRET_CHARS = 32
DEV_SECRET_FILE = "gateway-jwt-secret"
DEV_BUDGET = 1_000_000


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
        dev_mode = env_bool("GATEWAY_DEV_MODE", False)
        return cls(
            host=env_str("GATEWAY_HOST", "127.0.0.1"),
            port=env_int("GATEWAY_PORT", 8080, minimum=0, maximum=65535),
            port_file=env_optional_str("MOVIEREC_PORT_FILE"),
            redis_url=env_str("REDIS_URL"),
            embedding_addr=env_address("EMBEDDING_ADDR"),
            retrieval_addr=env_address("RETRIEVAL_ADDR"),
            profile_addr=env_address("PROFILE_ADDR"),
            ranker_addr=env_address("RANKER_ADDR"),
            rpc_timeout_s=env_float("GATEWAY_RPC_TIMEOUT_S", 1.0, minimum=0.01),
            rank_timeout_s=env_float("GATEWAY_RANK_TIMEOUT_S", 2.0, minimum=0.01),
            request_timeout_s=env_float("GATEWAY_REQUEST_TIMEOUT_S", 5.0, minimum=0.05),
            dev_mode=dev_mode,
            jwt_secret=jwt_secret_from_env(dev_mode),
            jwt_ttl_s=env_int("GATEWAY_JWT_TTL_S", 12 * 3600, minimum=60),
            auth_rate_limit=env_int("GATEWAY_AUTH_RATE_LIMIT", 10, minimum=1),
            auth_rate_window_s=env_int("GATEWAY_AUTH_RATE_WINDOW_S", 60, minimum=1),
            candidates=env_int("GATEWAY_CANDIDATES", 20, minimum=1, maximum=500),
            chat_history_max=env_int("GATEWAY_CHAT_HISTORY_MAX", 20, minimum=2),
            chat_session_ttl_s=env_int("GATEWAY_CHAT_SESSION_TTL_S", 7 * 24 * 3600, minimum=60),
            catalog_dir=env_optional_str("MOVIEREC_CATALOG_DIR"),
            taste_map_root=env_optional_str("GATEWAY_TASTE_MAP_DIR"),
            metrics_port=metrics_port_from_env(),
            forwarded_allow_ips=forwarded_allow_ips_from_env(),
            server_timing=env_bool("GATEWAY_SERVER_TIMING", False),
            # On by default in dev mode (`make up`); a production gateway keeps its internals to itself.
            diagnostics=env_bool("GATEWAY_DIAGNOSTICS", dev_mode),
            argon2_memory_kib=env_int("GATEWAY_ARGON2_MEMORY_KIB", 19_456, minimum=8_192, maximum=1_048_576),
            argon2_time_cost=env_int("GATEWAY_ARGON2_TIME_COST", 2, minimum=1, maximum=10),
            hash_concurrency=env_int("GATEWAY_HASH_CONCURRENCY", 2, minimum=1, maximum=64),
            # Dev mode (`make up`: one developer, every client on 127.0.0.1, evaluations signing up
            # hundreds of users) keeps the per-address and per-user budgets out of the way.
            auth_ip_rate_limit=env_int("GATEWAY_AUTH_IP_RATE_LIMIT", DEV_BUDGET if dev_mode else 30, minimum=1),
            write_rate_limit=env_int("GATEWAY_WRITE_RATE_LIMIT", DEV_BUDGET if dev_mode else 60, minimum=1),
            write_rate_window_s=env_int("GATEWAY_WRITE_RATE_WINDOW_S", 60, minimum=1),
            search_rate_limit=env_int("GATEWAY_SEARCH_RATE_LIMIT", DEV_BUDGET if dev_mode else 120, minimum=1),
            max_body_bytes=env_int("GATEWAY_MAX_BODY_BYTES", 1_048_576, minimum=1_024),
            taste_normalizer=env_bool("GATEWAY_TASTE_NORMALIZER", False),
        )


def metrics_port_from_env() -> int | None:
    """GATEWAY_METRICS_PORT: serve /metrics on this port (0 = any free one) instead of the API port.

    Unset (the default) keeps /metrics on the API port, convenient for local runs; set it in a cluster
    so that an Ingress in front of the API port cannot expose the metrics.
    """
    if env_optional_str("GATEWAY_METRICS_PORT") is None:
        return None
    port = env_int("GATEWAY_METRICS_PORT", minimum=0, maximum=65535)
    if port != 0 and port == env_int("GATEWAY_PORT", 8080, minimum=0, maximum=65535):
        raise ConfigError(f"GATEWAY_METRICS_PORT={port} is the API port (GATEWAY_PORT); choose another one or "
                          "leave it unset to serve /metrics on the API port")
    return port


def forwarded_allow_ips_from_env() -> str | None:
    """GATEWAY_FORWARDED_ALLOW_IPS: comma-separated addresses or networks of the reverse proxies whose
    ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are trusted (``*`` trusts any peer). Unset: none are,
    and the client address is the socket peer.
    """
    raw = env_optional_str("GATEWAY_FORWARDED_ALLOW_IPS")
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
            raise ConfigError(f"GATEWAY_FORWARDED_ALLOW_IPS: {entry!r} is not an IP address, a network "
                              "(e.g. 10.0.0.0/8, host bits zero) or '*'") from None
    return ",".join(entries) or None


def jwt_secret_from_env(dev_mode: bool) -> str:
    """GATEWAY_JWT_SECRET (≥ 32 chars) is required, except in dev mode.

    In dev mode without a secret, one is generated once and kept in ``.run/gateway-jwt-secret``
    (mode 0600) so that tokens survive a gateway restart on the same checkout.
    """
    secret = env_optional_str("GATEWAY_JWT_SECRET")
    if secret is not None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ConfigError(f"GATEWAY_JWT_SECRET must be at least {MIN_SECRET_CHARS} characters")
        return secret
    if not dev_mode:
        raise ConfigError("GATEWAY_JWT_SECRET is required (or set GATEWAY_DEV_MODE=true for a generated "
                          "development secret)")
    return _dev_secret(run_dir() / DEV_SECRET_FILE)


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
