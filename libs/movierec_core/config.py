"""Environment-variable configuration, parsed once at start-up.

Each tier declares the variables it reads as :class:`EnvSettings` classes in its ``settings.py`` (frozen
``pydantic_settings.BaseSettings``: the environment only, no ``.env`` file; one ``env_prefix`` per tier,
``validation_alias`` for shared names such as ``REDIS_URL``; bounds as ``Field(ge=…, le=…)``, choices as
``Literal``). The tier's ``from_env`` classmethods load them and build the frozen dataclasses the code
passes around, adding the defaults that depend on other values. The deploy checks (tests/deploy) list
their fields with :meth:`EnvSettings.env_names`. A missing or malformed value raises :class:`ConfigError`
whose one-line message names the variable; :func:`movierec_core.server.run_service` turns it into one
line on stderr and exit status 2.

The ``env_*`` readers below serve the few modules that read a variable outside a settings class.
"""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """A configuration value is missing or malformed."""


class EnvSettings(BaseSettings):
    """The variables one process reads. Blank values count as unset (the field keeps its default),
    others are stripped, except the fields named in ``keep_blank`` (an empty value that means something).
    Build it with :meth:`load`, which turns pydantic's errors into one :class:`ConfigError` line."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_file=None, allow_inf_nan=False)
    keep_blank: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kept = {}
        for key, value in data.items():
            if isinstance(value, str) and key not in cls.keep_blank:
                value = value.strip()
                if not value:
                    continue
            kept[key] = value
        return kept

    @classmethod
    def load(cls, env_prefix: str | None = None) -> Self:
        """The settings from ``os.environ`` (``env_prefix`` overrides the class's own, e.g. per gRPC tier)."""
        try:
            return cls() if env_prefix is None else cls(_env_prefix=env_prefix)
        except ValidationError as error:
            raise ConfigError(_one_line(cls, error.errors()[0], env_prefix)) from None

    @classmethod
    def env_names(cls, env_prefix: str | None = None) -> dict[str, tuple[str, ...]]:
        """Field name → the environment variables that set it (the first one present wins)."""
        prefix = cls.model_config.get("env_prefix", "") if env_prefix is None else env_prefix
        return {name: _field_env_names(name, field, prefix) for name, field in cls.model_fields.items()}


def _field_env_names(name: str, field: FieldInfo, prefix: str) -> tuple[str, ...]:
    alias = field.validation_alias
    if isinstance(alias, str):
        return (alias,)
    if isinstance(alias, AliasChoices):
        return tuple(str(choice) for choice in alias.choices)
    return (f"{prefix}{name}".upper(),)


def _one_line(model: type[EnvSettings], error: dict, env_prefix: str | None) -> str:
    """``NAME='value' <what was expected>`` for one pydantic error (cross-field checks: their own message)."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx", {})
    if not error["loc"]:
        return str(ctx.get("error", error["msg"]))
    field_name, names = _field_of(model, str(error["loc"][0]), env_prefix)
    name = next((n for n in names if n in os.environ), names[0])
    field = model.model_fields.get(field_name or "")
    shown = f"{name}" if field is not None and not field.repr else f"{name}={value!r}"
    if kind == "missing":
        return f"{name} is required but not set"
    if kind in {"int_parsing", "int_from_float", "int_type"}:
        return f"{shown} is not an integer"
    if kind in {"float_parsing", "float_type", "finite_number"}:
        return f"{shown} is not a number"
    if kind == "bool_parsing":
        return f"{shown} is not a boolean (use true/false)"
    if kind == "literal_error":
        choices = typing.get_args(field.annotation) if field is not None else ()
        return f"{shown} must be one of: {', '.join(map(str, choices))}"
    if kind in {"greater_than_equal", "greater_than"}:
        return f"{name}={value} is below the minimum {_plain(ctx.get('ge', ctx.get('gt')))}"
    if kind in {"less_than_equal", "less_than"}:
        return f"{name}={value} is above the maximum {_plain(ctx.get('le', ctx.get('lt')))}"
    if kind == "value_error":
        return f"{shown} {ctx['error']}"
    return f"{shown}: {error['msg']}"


def _plain(bound: object) -> object:
    """A float bound that is a whole number reads as one (``0`` rather than ``0.0``)."""
    return int(bound) if isinstance(bound, float) and bound.is_integer() else bound


def _field_of(model: type[EnvSettings], loc: str, env_prefix: str | None) -> tuple[str | None, tuple[str, ...]]:
    """(field name, its variables) of an error's location: a field name, or the alias its value came in under."""
    env_names = model.env_names(env_prefix)
    if loc in env_names:
        return loc, env_names[loc]
    return next(((field, names) for field, names in env_names.items() if loc.upper() in names), (None, (loc,)))


def check_address(value: str) -> str:
    """A gRPC target such as ``127.0.0.1:50051`` or ``dns:///retrieval:50051`` (an AfterValidator)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("is not a host:port address")
    return value


Address = Annotated[str, AfterValidator(check_address)]
Port = Annotated[int, Field(ge=0, le=65535)]

_REQUIRED = object()


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


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is above the maximum {maximum}")


class GrpcServerEnv(EnvSettings):
    """The variables of a tier's gRPC server: ``<TIER>_HOST``, ``<TIER>_PORT``, ``<TIER>_METRICS_PORT``
    (the prefix is given at load) and the shared ones."""

    host: str = "127.0.0.1"
    port: Port | None = None  # None: the tier's default port
    metrics_port: Port = 0
    grace_s: float = Field(5.0, ge=0, validation_alias="GRPC_SHUTDOWN_GRACE_S")
    max_connection_age_s: float = Field(0.0, ge=0, validation_alias="GRPC_MAX_CONNECTION_AGE_S")
    port_file: str | None = Field(None, validation_alias="MOVIEREC_PORT_FILE")
    internal_token: str | None = Field(None, repr=False, validation_alias="MOVIEREC_INTERNAL_TOKEN")

    @field_validator("internal_token")
    @classmethod
    def _token_long_enough(cls, token: str | None) -> str | None:
        return check_internal_token(token)


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
        env = GrpcServerEnv.load(env_prefix=f"{tier.upper()}_")
        return cls(tier=tier, host=env.host, port=default_port if env.port is None else env.port,
                   metrics_port=env.metrics_port, grace_s=env.grace_s, max_connection_age_s=env.max_connection_age_s,
                   port_file=env.port_file, internal_token=env.internal_token)


MIN_TOKEN_CHARS = 32


def check_internal_token(token: str | None) -> str | None:
    """A field validator: raises ValueError for a token too short to be a secret."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"must be at least {MIN_TOKEN_CHARS} characters (got {len(token)}); generate one with "
                         "`openssl rand -base64 48`")
    return token


def internal_token_from_env() -> str | None:
    """MOVIEREC_INTERNAL_TOKEN: the shared secret tiers present to each other (unset: no check, for
    local runs; a cluster sets it from the Secret). Shorter than 32 characters stops start-up."""
    try:
        return check_internal_token(env_optional_str("MOVIEREC_INTERNAL_TOKEN"))
    except ValueError as error:
        raise ConfigError(f"MOVIEREC_INTERNAL_TOKEN {error}") from None
