"""Configuration is parsed once at start-up; a bad value stops the process with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from movierec_core.config import ConfigError, GrpcServerSettings, env_address, env_bool, env_int


def test_env_int_names_the_variable(monkeypatch):
    monkeypatch.setenv("RETRIEVAL_PORT", "abc")
    with pytest.raises(ConfigError, match=r"RETRIEVAL_PORT='abc' is not an integer"):
        GrpcServerSettings.from_env("retrieval", 50052)


def test_missing_required_value(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ConfigError, match="REDIS_URL is required"):
        from movierec_core.config import env_str

        env_str("REDIS_URL")


def test_range_bool_and_address(monkeypatch):
    monkeypatch.setenv("X_PORT", "70000")
    with pytest.raises(ConfigError, match="above the maximum"):
        env_int("X_PORT", 1, maximum=65535)
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ConfigError, match="X_FLAG='maybe' is not a boolean"):
        env_bool("X_FLAG", False)
    monkeypatch.setenv("X_ADDR", "localhost")
    with pytest.raises(ConfigError, match="not a host:port"):
        env_address("X_ADDR")
    monkeypatch.setenv("X_ADDR", "dns:///retrieval:50052")
    assert env_address("X_ADDR") == "dns:///retrieval:50052"


def test_defaults_apply_when_unset(monkeypatch):
    monkeypatch.delenv("RANKER_PORT", raising=False)
    assert GrpcServerSettings.from_env("ranker", 50054).port == 50054


@pytest.mark.parametrize(("module", "variable"), [
    ("retrieval_service", "RETRIEVAL_PORT"),
    ("ranker_service", "RANKER_PORT"),
    ("gateway_service", "GATEWAY_PORT"),
])
def test_wrong_env_value_stops_startup_with_one_line(module, variable):
    env = {**os.environ, variable: "abc", "REDIS_URL": "redis://127.0.0.1:1/0",
           "EMBEDDING_ADDR": "127.0.0.1:1", "RETRIEVAL_ADDR": "127.0.0.1:1",
           "PROFILE_ADDR": "127.0.0.1:1", "RANKER_ADDR": "127.0.0.1:1"}
    result = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{variable}='abc' is not an integer" in lines[0]


def test_port_in_use_is_one_clear_line():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "RANKER_PORT": str(port)}
        result = subprocess.run([sys.executable, "-m", "ranker_service"], env=env, capture_output=True,
                                text=True, timeout=60)
    assert result.returncode == 2
    assert f"RANKER_PORT={port}: cannot bind 127.0.0.1:{port} (in use?)" in result.stderr
    assert "Traceback" not in result.stderr
