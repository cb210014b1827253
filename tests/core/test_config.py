"""Configuration is parsed once at start-up; a bad value stops the process with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from movierec_core.config import ConfigError, GrpcServerEnv, GrpcServerSettings, check_address, env_str

ADDRESSES = {"REDIS_URL": "redis://127.0.0.1:1/0", "EMBEDDING_ADDR": "127.0.0.1:1", "RETRIEVAL_ADDR": "127.0.0.1:1",
             "PROFILE_ADDR": "127.0.0.1:1", "RANKER_ADDR": "127.0.0.1:1"}


def _embedding():
    from embedding_service.settings import EmbeddingSettings

    return EmbeddingSettings.from_env()


def _retrieval():
    from retrieval_service.settings import RetrievalSettings

    return RetrievalSettings.from_env()


def _profile():
    from profile_service.settings import ProfileSettings

    return ProfileSettings.from_env(require_embedding=True)


def _worker():
    from profile_service.settings import WorkerSettings

    return WorkerSettings.from_env()


def _ranker():
    from ranker_service.settings import RankerSettings

    return RankerSettings.from_env()


def _gateway():
    from gateway_service.settings import GatewaySettings

    return GatewaySettings.from_env()


@pytest.fixture
def tier_env(monkeypatch):
    """The required variables set to valid values; every other tier variable at its default."""
    for name in list(os.environ):
        if name.split("_")[0] in {"EMBEDDING", "RETRIEVAL", "PROFILE", "RANKER", "GATEWAY", "WORKER", "CELERY",
                                  "OPENAI", "GRPC", "LLM"}:
            monkeypatch.delenv(name)
    for name, value in {**ADDRESSES, "GATEWAY_JWT_SECRET": "s" * 40}.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


# (loader, variable, value, the whole error line): out of bounds, not a number, not a choice, per tier.
BAD_VALUES = [
    (_embedding, "EMBEDDING_TORCH_THREADS", "0", "EMBEDDING_TORCH_THREADS=0 is below the minimum 1"),
    (_embedding, "EMBEDDING_MICRO_BATCH_WAIT_MS", "soon", "EMBEDDING_MICRO_BATCH_WAIT_MS='soon' is not a number"),
    (_embedding, "EMBEDDING_BACKEND", "tfidf",
     "EMBEDDING_BACKEND='tfidf' must be one of: sentence-transformers, openai"),
    (_retrieval, "RETRIEVAL_EXACT_FRACTION", "1.5", "RETRIEVAL_EXACT_FRACTION=1.5 is above the maximum 1"),
    (_retrieval, "RETRIEVAL_MAX_K", "many", "RETRIEVAL_MAX_K='many' is not an integer"),
    (_retrieval, "RETRIEVAL_INDEX_KIND", "lsh", "RETRIEVAL_INDEX_KIND='lsh' must be one of: artifact, flat, hnsw, ivf"),
    (_retrieval, "RETRIEVAL_VERIFY_CHECKSUMS", "maybe",
     "RETRIEVAL_VERIFY_CHECKSUMS='maybe' is not a boolean (use true/false)"),
    (_profile, "PROFILE_LIKE_THRESHOLD", "9", "PROFILE_LIKE_THRESHOLD=9 is above the maximum 5"),
    (_profile, "PROFILE_EMBED_TIMEOUT_S", "nan", "PROFILE_EMBED_TIMEOUT_S='nan' is not a number"),
    (_profile, "EMBEDDING_ADDR", "localhost", "EMBEDDING_ADDR='localhost' is not a host:port address"),
    (_profile, "PROFILE_DISLIKE_THRESHOLD", "4.5",
     "PROFILE_DISLIKE_THRESHOLD=4.5 must be below PROFILE_LIKE_THRESHOLD=4.0"),
    (_worker, "WORKER_POOL", "gevent", "WORKER_POOL='gevent' must be one of: prefork, threads, solo"),
    (_worker, "CELERY_PREFETCH", "0", "CELERY_PREFETCH=0 is below the minimum 1"),
    (_ranker, "RANKER_ALPHA", "2", "RANKER_ALPHA=2 is above the maximum 1"),
    (_ranker, "RANKER_LLM_RERANK", "sometimes", "RANKER_LLM_RERANK='sometimes' is not a boolean (use true/false)"),
    (_ranker, "RANKER_MAX_CANDIDATES", "1e3", "RANKER_MAX_CANDIDATES='1e3' is not an integer"),
    (_gateway, "GATEWAY_CANDIDATES", "501", "GATEWAY_CANDIDATES=501 is above the maximum 500"),
    (_gateway, "RANKER_ADDR", "ranker", "RANKER_ADDR='ranker' is not a host:port address"),
    (_gateway, "GATEWAY_JWT_SECRET", "short", "GATEWAY_JWT_SECRET must be at least 32 characters"),
]


@pytest.mark.parametrize(("load", "variable", "value", "message"), BAD_VALUES, ids=[b[1] for b in BAD_VALUES])
def test_a_bad_value_is_one_line_naming_the_variable(tier_env, load, variable, value, message):
    tier_env.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load()
    assert str(error.value) == message


@pytest.mark.parametrize("load", [_embedding, _retrieval, _profile, _worker, _ranker, _gateway])
def test_the_defaults_load(tier_env, load):
    assert load()


def test_env_int_names_the_variable(monkeypatch):
    monkeypatch.setenv("RETRIEVAL_PORT", "abc")
    with pytest.raises(ConfigError, match=r"^RETRIEVAL_PORT='abc' is not an integer$"):
        GrpcServerSettings.from_env("retrieval", 50052)


def test_missing_required_value(tier_env):
    tier_env.delenv("REDIS_URL")
    with pytest.raises(ConfigError, match=r"^REDIS_URL is required but not set$"):
        env_str("REDIS_URL")
    with pytest.raises(ConfigError, match=r"^REDIS_URL is required but not set$"):
        _worker()
    tier_env.setenv("REDIS_URL", "   ")  # blank counts as unset, as before
    with pytest.raises(ConfigError, match=r"^REDIS_URL is required but not set$"):
        _gateway()


def test_range_and_address(monkeypatch):
    monkeypatch.setenv("RANKER_PORT", "70000")
    with pytest.raises(ConfigError, match=r"^RANKER_PORT=70000 is above the maximum 65535$"):
        GrpcServerSettings.from_env("ranker", 50054)
    with pytest.raises(ValueError, match="not a host:port"):
        check_address("localhost")
    assert check_address("dns:///retrieval:50052") == "dns:///retrieval:50052"


def test_defaults_apply_when_unset_or_blank(monkeypatch):
    monkeypatch.delenv("RANKER_PORT", raising=False)
    assert GrpcServerSettings.from_env("ranker", 50054).port == 50054
    monkeypatch.setenv("RANKER_PORT", " ")
    monkeypatch.setenv("RANKER_HOST", " 0.0.0.0 ")
    settings = GrpcServerSettings.from_env("ranker", 50054)
    assert (settings.port, settings.host) == (50054, "0.0.0.0")


def test_an_empty_prefix_is_kept_as_no_prefix(tier_env):
    tier_env.setenv("EMBEDDING_QUERY_PREFIX", "")
    assert _embedding().query_prefix == ""
    tier_env.delenv("EMBEDDING_QUERY_PREFIX")
    assert _embedding().query_prefix is None


def test_derived_defaults(tier_env, tmp_path):
    tier_env.setenv("RETRIEVAL_INDEX_DIR", str(tmp_path / "index" / "v1"))
    tier_env.setenv("RETRIEVAL_KEYPHRASE_DIR", "OFF")
    settings = _retrieval()
    assert settings.index_root == tmp_path / "index" and settings.keyphrase_dir is None
    tier_env.setenv("GATEWAY_DEV_MODE", "true")
    gateway = _gateway()
    assert gateway.diagnostics and gateway.auth_ip_rate_limit == 1_000_000
    tier_env.setenv("GATEWAY_DIAGNOSTICS", "false")
    assert not _gateway().diagnostics


def test_no_dotenv_file_is_read(tier_env, tmp_path):
    (tmp_path / ".env").write_text("RETRIEVAL_MAX_K=7\n")
    tier_env.chdir(tmp_path)
    assert _retrieval().max_k == 1000


def test_env_names_follow_the_prefix_and_the_aliases():
    names = GrpcServerEnv.env_names("RANKER_")
    assert names["port"] == ("RANKER_PORT",) and names["grace_s"] == ("GRPC_SHUTDOWN_GRACE_S",)
    assert names["internal_token"] == ("MOVIEREC_INTERNAL_TOKEN",)


def test_a_short_internal_token_does_not_show_the_token(monkeypatch):
    monkeypatch.setenv("MOVIEREC_INTERNAL_TOKEN", "hunter2")
    with pytest.raises(ConfigError) as error:
        GrpcServerSettings.from_env("ranker", 50054)
    assert str(error.value).startswith("MOVIEREC_INTERNAL_TOKEN must be at least 32 characters (got 7)")
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(("module", "variable", "value", "message"), [
    ("embedding_service", "EMBEDDING_PORT", "abc", "EMBEDDING_PORT='abc' is not an integer"),
    ("embedding_service", "EMBEDDING_BACKEND", "tfidf",
     "EMBEDDING_BACKEND='tfidf' must be one of: sentence-transformers, openai"),
    ("retrieval_service", "RETRIEVAL_PORT", "abc", "RETRIEVAL_PORT='abc' is not an integer"),
    ("retrieval_service", "RETRIEVAL_MAX_K", "0", "RETRIEVAL_MAX_K=0 is below the minimum 1"),
    ("profile_service", "PROFILE_REVIEW_ALPHA", "1.5", "PROFILE_REVIEW_ALPHA=1.5 is above the maximum 1"),
    ("profile_service.worker", "WORKER_POOL", "gevent", "WORKER_POOL='gevent' must be one of: prefork, threads, solo"),
    ("ranker_service", "RANKER_PORT", "abc", "RANKER_PORT='abc' is not an integer"),
    ("ranker_service", "RANKER_MMR_LAMBDA", "high", "RANKER_MMR_LAMBDA='high' is not a number"),
    ("gateway_service", "GATEWAY_PORT", "abc", "GATEWAY_PORT='abc' is not an integer"),
])
def test_wrong_env_value_stops_startup_with_one_line(module, variable, value, message):
    env = {**os.environ, **ADDRESSES, variable: value}
    result = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith(f"configuration error: {message}"), lines[0]


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
