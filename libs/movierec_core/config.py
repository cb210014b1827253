"""Environment-variable configuration, parsed once at start-up.

Each tier describes its settings as a frozen dataclass built by a ``from_env`` classmethod
using the readers below. A missing or malformed value raises :class:`ConfigError` whose
message names the variable; :func:`movierec_core.server.run_service` turns it into one line
on stderr and exit status 2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_REQUIRED = object()


class ConfigError(Exception):
    """A configuration value is missing or malformed."""


def _raw(name: str, default: object) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        if default is _REQUIRED:
            raise ConfigError(f"{name} is required but not set")
        return None
    return value.strip()


def env_str(name: str, default: object = _REQUIRED) -> str:
    value = _raw(name, default)
    return str(default) if value is None else value


def env_optional_str(name: str) -> str | None:
    return _raw(name, None)


def env_int(name: str, default: object = _REQUIRED, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    value = _raw(name, default)
    if value is None:
        return int(default)  # type: ignore[arg-type]
    try:
        parsed = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an integer") from None
    _check_range(name, parsed, minimum, maximum)
    return parsed


def env_float(name: str, default: object = _REQUIRED, *, minimum: float | None = None,
              maximum: float | None = None) -> float:
    value = _raw(name, default)
    if value is None:
        return float(default)  # type: ignore[arg-type]
    try:
        parsed = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number") from None
    if parsed != parsed:  # NaN
        raise ConfigError(f"{name}={value!r} is not a number")
    _check_range(name, parsed, minimum, maximum)
    return parsed


def env_bool(name: str, default: object = _REQUIRED) -> bool:
    value = _raw(name, default)
    if value is None:
        return bool(default)
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use true/false)")


def env_choice(name: str, choices: tuple[str, ...], default: object = _REQUIRED) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of: {', '.join(choices)}")
    return value


def env_address(name: str, default: object = _REQUIRED) -> str:
    """A gRPC target such as ``127.0.0.1:50051`` or ``dns:///retrieval:50051``."""
    value = env_str(name, default)
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}={value!r} is not a host:port address")
    return value


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is above the maximum {maximum}")


@dataclass(frozen=True)
class GrpcServerSettings:
    """How a tier's gRPC server listens. Port 0 picks a free port (reported in the log and port file)."""

    tier: str
    host: str
    port: int
    metrics_port: int
    grace_s: float
    max_connection_age_s: float
    port_file: str | None
    internal_token: str | None = None  # when set, every RPC but health checks must carry it

    @classmethod
    def from_env(cls, tier: str, default_port: int) -> GrpcServerSettings:
        prefix = tier.upper()
        return cls(
            tier=tier,
            host=env_str(f"{prefix}_HOST", "127.0.0.1"),
            port=env_int(f"{prefix}_PORT", default_port, minimum=0, maximum=65535),
            metrics_port=env_int(f"{prefix}_METRICS_PORT", 0, minimum=0, maximum=65535),
            grace_s=env_float("GRPC_SHUTDOWN_GRACE_S", 5.0, minimum=0),
            max_connection_age_s=env_float("GRPC_MAX_CONNECTION_AGE_S", 0.0, minimum=0),
            port_file=env_optional_str("MOVIEREC_PORT_FILE"),
            internal_token=internal_token_from_env(),
        )


MIN_TOKEN_CHARS = 32


def internal_token_from_env() -> str | None:
    """MOVIEREC_INTERNAL_TOKEN: the shared secret tiers present to each other (unset: no check, for
    local runs; a cluster sets it from the Secret). Shorter than 32 characters stops start-up."""
    token = env_optional_str("MOVIEREC_INTERNAL_TOKEN")
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"MOVIEREC_INTERNAL_TOKEN must be at least {MIN_TOKEN_CHARS} characters "
                          f"(got {len(token)}); generate one with `openssl rand -base64 48`")
    return token
