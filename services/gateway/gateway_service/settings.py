"""Gateway configuration, parsed once from the environment."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from movierec_core.config import ConfigError, env_address, env_bool, env_float, env_int, env_optional_str, env_str
from movierec_core.paths import run_dir

MIN_SECRET_CHARS = 32
DEV_SECRET_FILE = "gateway-jwt-secret"


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
        )


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
