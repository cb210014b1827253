"""Gateway building blocks without the tiers: tokens, rate limits (real Redis), filters, grounded reasons,
posters, the taste-map projection and the error mapping."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from redis.asyncio import Redis

from gateway_service import timing
from gateway_service.__main__ import uvicorn_config
from gateway_service.auth import AuthUser, PasswordHashing, RateLimiter, TokenIssuer, UserStore
from gateway_service.errors import ApiError, from_rpc_error
from gateway_service.fallback import LovedMovie, grounded_reason
from gateway_service.movies import poster_svg
from gateway_service.settings import (
    ConfigError,
    GatewaySettings,
    forwarded_allow_ips_from_env,
    jwt_secret_from_env,
    metrics_port_from_env,
)
from gateway_service.titles import TitleSearch
from movierec_catalog import load_catalog
from movierec_core.logs import request_id_var
from movierec_jobs.taste_map import fit_pca


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


# ---- tokens and accounts -------------------------------------------------------------------

def test_tokens_round_trip_and_expire():
    issuer = TokenIssuer("s" * 40, ttl_s=60)
    token = issuer.issue(AuthUser("u_1", "alice"))
    assert issuer.verify(token) == AuthUser("u_1", "alice")
    stale = issuer.issue(AuthUser("u_1", "alice"), now=time.time() - 120)
    with pytest.raises(ApiError) as error:
        issuer.verify(stale)
    assert error.value.status == 401 and "expired" in error.value.message
    with pytest.raises(ApiError):
        TokenIssuer("t" * 40, ttl_s=60).verify(token)  # signed with another secret


def test_jwt_secret_is_required_outside_dev_mode(monkeypatch, tmp_path):
    monkeypatch.delenv("GATEWAY_JWT_SECRET", raising=False)
    with pytest.raises(ConfigError, match="GATEWAY_JWT_SECRET is required"):
        jwt_secret_from_env(dev_mode=False)
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "short")
    with pytest.raises(ConfigError, match="at least 32"):
        jwt_secret_from_env(dev_mode=False)
    monkeypatch.delenv("GATEWAY_JWT_SECRET")
    monkeypatch.setenv("MOVIEREC_RUN_DIR", str(tmp_path))
    first = jwt_secret_from_env(dev_mode=True)
    assert first == jwt_secret_from_env(dev_mode=True), "the dev secret is kept across restarts"
    assert (tmp_path / "gateway-jwt-secret").stat().st_mode & 0o077 == 0


async def test_users_are_stored_hashed(redis_url):
    redis = Redis.from_url(redis_url)
    store = UserStore(redis, PasswordHashing(memory_kib=8_192, time_cost=1, concurrency=1))
    user = await store.create("Alice", "correct horse battery")
    assert user is not None and user.username == "alice"
    assert await store.create("ALICE", "another password") is None
    raw = (await redis.get("movierec:gw:user:alice")).decode()
    assert "correct horse battery" not in raw and "$argon2id$" in raw
    assert (await store.authenticate("alice", "correct horse battery")).user_id == user.user_id
    assert await store.authenticate("alice", "wrong") is None
    assert await store.authenticate("nobody", "whatever") is None
    await redis.aclose()


async def test_fixed_window_rate_limit(redis_url):
    redis = Redis.from_url(redis_url)
    limiter = RateLimiter(redis, limit=3, window_s=10)
    now = 1_000_000.0  # the window [1_000_000, 1_000_010)
    for _ in range(3):
        await limiter.hit("login", "1.2.3.4", "alice", now=now)
    with pytest.raises(ApiError) as error:
        await limiter.hit("login", "1.2.3.4", "alice", now=now + 4)
    assert error.value.status == 429 and error.value.headers["Retry-After"] == "6"
    await limiter.hit("login", "1.2.3.4", "bob", now=now + 4)  # another username
    await limiter.hit("login", "5.6.7.8", "alice", now=now + 4)  # another client
    await limiter.hit("login", "1.2.3.4", "alice", now=now + 10)  # the next window
    await redis.aclose()


# ---- grounded reasons --------------------------------------------------------

def first(catalog, predicate):
    return next(m for m in map(catalog.get, catalog.movies.index) if predicate(m))


def test_grounded_reason_cites_only_true_facts(catalog):
    goodfellas, godfather, toy_story = catalog.get(1213), catalog.get(858), catalog.get(1)
    loved = [LovedMovie(godfather, 5.0), LovedMovie(toy_story, None)]
    text, factors = grounded_reason(goodfellas, loved, 0.7)
    shared = [f.value for f in factors if f.kind == "genre"]
    assert shared and set(shared) <= set(goodfellas.genres) & set(godfather.genres)
    assert "The Godfather" in text and "5★" in text and "1990s" in text
    text, factors = grounded_reason(catalog.get(2571), [], 0.42)  # nothing loved: only similarity and decade
    assert text.startswith("Close to your taste profile (similarity 0.42)") and [f.kind for f in factors] == ["decade"]


def test_poster_placeholder_is_escaped_svg(catalog):
    svg = poster_svg(catalog.get(858))
    assert svg.startswith("<svg") and "The Godfather" in svg and "1972" in svg
    tricky = first(catalog, lambda m: "&" in m.title)
    assert "&amp;" in poster_svg(tricky) and " & " not in poster_svg(tricky)


# ---- taste map ---------------------------------------------------------------------------

def test_pca_is_deterministic_and_finds_the_main_axis():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(500, 6)) * np.array([10, 3, 1, 1, 1, 1])
    _mean, components, ratio = fit_pca(data)
    assert abs(components[0][0]) > 0.99 and abs(components[1][1]) > 0.99
    assert ratio[0] > ratio[1] > 0
    again = fit_pca(data[::-1])
    assert np.allclose(components, again[1]), "signs are fixed, so reruns draw the same map"


# ---- error mapping -----------------------------------------------------------------------

class _FakeRpcError(grpc.RpcError):
    """A stand-in for a failed call's exception object (only its code and details are read)."""

    def __init__(self, code: grpc.StatusCode, details: str):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return ()


@pytest.mark.parametrize(("code", "status"), [(grpc.StatusCode.INVALID_ARGUMENT, 400),
                                              (grpc.StatusCode.NOT_FOUND, 404),
                                              (grpc.StatusCode.UNAVAILABLE, 503),
                                              (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
                                              (grpc.StatusCode.INTERNAL, 500)])
def test_grpc_codes_map_to_http(code, status):
    error = from_rpc_error(_FakeRpcError(code, "details"), "retrieval")
    assert error.status == status
    if status >= 503:
        assert "retrieval" in error.message


GRPC_DEBUG = ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:50123: "
              "Failed to connect to remote host: Connection refused")


@pytest.mark.parametrize(("code", "status", "message"), [
    (grpc.StatusCode.UNAVAILABLE, 503, "the retrieval service is unavailable; try again shortly"),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 503, "the retrieval service is unavailable; try again shortly"),
    (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "the retrieval service did not answer in time; try again shortly"),
    (grpc.StatusCode.INTERNAL, 500, "the retrieval service failed (logged with the request id)"),
])
def test_dependency_failures_say_which_tier_and_nothing_internal(code, status, message):
    error = from_rpc_error(_FakeRpcError(code, GRPC_DEBUG), "retrieval")
    assert (error.status, error.message) == (status, message)
    assert "127.0.0.1" not in str(error.body()) and "refused" not in str(error.body())


def test_client_errors_keep_the_tiers_own_message():
    error = from_rpc_error(_FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "k must be between 1 and 500"),
                           "retrieval")
    assert (error.status, error.message) == (400, "k must be between 1 and 500")


def test_error_bodies_carry_the_request_id():
    token = request_id_var.set("req-123")
    try:
        assert ApiError(503, "UNAVAILABLE", "x").body()["error"]["requestId"] == "req-123"
    finally:
        request_id_var.reset(token)
    assert ApiError(503, "UNAVAILABLE", "x").body()["error"]["requestId"] is None


# ---- configuration -------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "parsed"), [(None, None), ("127.0.0.1", "127.0.0.1"),
                                               ("10.0.0.0/8, 192.168.1.5 ,::1", "10.0.0.0/8,192.168.1.5,::1"),
                                               ("*", "*")])
def test_forwarded_allow_ips_accepts_addresses_and_networks(monkeypatch, value, parsed):
    if value is None:
        monkeypatch.delenv("GATEWAY_FORWARDED_ALLOW_IPS", raising=False)
    else:
        monkeypatch.setenv("GATEWAY_FORWARDED_ALLOW_IPS", value)
    assert forwarded_allow_ips_from_env() == parsed


@pytest.mark.parametrize("value", ["proxy.internal", "10.0.0.1/8", "300.1.1.1"])
def test_forwarded_allow_ips_rejects_what_uvicorn_would_silently_misread(monkeypatch, value):
    monkeypatch.setenv("GATEWAY_FORWARDED_ALLOW_IPS", value)
    with pytest.raises(ConfigError, match="GATEWAY_FORWARDED_ALLOW_IPS"):
        forwarded_allow_ips_from_env()


def test_metrics_port_is_optional_and_must_differ_from_the_api_port(monkeypatch):
    monkeypatch.delenv("GATEWAY_METRICS_PORT", raising=False)
    assert metrics_port_from_env() is None
    monkeypatch.setenv("GATEWAY_METRICS_PORT", "9090")
    monkeypatch.setenv("GATEWAY_PORT", "8080")
    assert metrics_port_from_env() == 9090
    monkeypatch.setenv("GATEWAY_METRICS_PORT", "8080")
    with pytest.raises(ConfigError, match="API port"):
        metrics_port_from_env()
    monkeypatch.setenv("GATEWAY_METRICS_PORT", "http")
    with pytest.raises(ConfigError, match="not an integer"):
        metrics_port_from_env()


def test_uvicorn_trusts_proxy_headers_only_when_configured(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    for tier in ("EMBEDDING", "RETRIEVAL", "PROFILE", "RANKER"):
        monkeypatch.setenv(f"{tier}_ADDR", "127.0.0.1:1")
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "s" * 40)
    monkeypatch.delenv("GATEWAY_FORWARDED_ALLOW_IPS", raising=False)
    assert uvicorn_config(GatewaySettings.from_env()).proxy_headers is False
    monkeypatch.setenv("GATEWAY_FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    config = uvicorn_config(GatewaySettings.from_env())
    assert config.proxy_headers is True and config.forwarded_allow_ips == "10.0.0.0/8"


# ---- stage timings -------------------------------------------------------------------------

def test_stage_timings_accumulate_per_request_and_format_as_server_timing():
    with timing.stage("outside"):  # no request: nothing is recorded, nothing fails
        pass
    assert timing.current() == {}
    token = timing.begin_request()
    try:
        with timing.stage("retrieve"):
            time.sleep(0.01)
        with timing.stage("retrieve"):
            time.sleep(0.01)
        recorded = timing.current()
    finally:
        timing.end_request(token)
    assert set(recorded) == {"retrieve"} and recorded["retrieve"] >= 20.0
    assert timing.server_timing({"profile": 1.234, "rank": 5.0}, 9.5) == "profile;dur=1.23, rank;dur=5.00, app;dur=9.50"


def test_a_remembered_token_still_expires():
    issuer = TokenIssuer("s" * 40, ttl_s=60)
    token = issuer.issue(AuthUser("u_1", "alice"), now=time.time() - 59)  # expires in about a second
    assert issuer.verify(token) == AuthUser("u_1", "alice")
    assert issuer.verify(token) == AuthUser("u_1", "alice")  # answered from memory
    time.sleep(1.2)
    with pytest.raises(ApiError) as error:
        issuer.verify(token)
    assert error.value.status == 401 and "expired" in error.value.message
    tampered = issuer.issue(AuthUser("u_1", "alice"))[:-2] + "xx"
    with pytest.raises(ApiError):
        issuer.verify(tampered)  # a different string: never taken for a remembered one


async def test_title_search_answers_as_the_catalog_and_remembers(catalog):
    search = TitleSearch(catalog, max_entries=2)
    for query in ("matrix", "The  MATRIX", "godfather 1972", "a"):
        assert [m.movie_id for m in await search.search(query, 10)] == \
            [m.movie_id for m in catalog.search_titles(query, 10)]
    assert len(search._answers) == 2  # bounded: the oldest answers were dropped
    first = await search.search("a", 10)
    assert [m.movie_id for m in first] == [m.movie_id for m in await search.search("A", 10)]


def test_an_estimated_rating_is_shown_as_an_estimate_never_as_the_rating(catalog):
    from gateway_service import movies

    estimated = first(catalog, lambda m: m.certification is None and m.certification_estimate is not None)
    detail = movies.detail(estimated).model_dump(by_alias=True)
    assert detail["certification"] is None
    assert detail["certificationEstimate"] == estimated.certification_estimate
    assert 0 < detail["certificationConfidence"] <= 1
    official = first(catalog, lambda m: m.certification is not None)
    assert movies.detail(official).model_dump(by_alias=True)["certificationEstimate"] is None
