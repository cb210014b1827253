"""Operations end to end on real gateway processes: probes, the metrics port, the client address behind a
proxy, dependency errors that leak nothing internal, and stage timings."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import httpx
import pytest
from gateway_helpers import assert_error, dead_address, onboard, signup, within_one_window

from movierec_core.devstack import free_port

CONFIGURED_RATE_WINDOW_S = 3600  # configured_gateway's GATEWAY_AUTH_RATE_WINDOW_S

pytestmark = pytest.mark.slow

# What gRPC's own error strings contain (e.g. "ipv4:127.0.0.1:PORT: Failed to connect to remote host:
# Connection refused"); none of it may reach a client.
INTERNAL_WORDS = ("127.0.0.1", "ipv4", "ipv6", "Connection refused", "connect to", "last error", "Deadline")


def _assert_nothing_internal(body: dict, *addresses: str) -> None:
    text = str(body)
    for word in (*INTERNAL_WORDS, *addresses):
        assert word not in text, f"{word!r} leaked into {body}"


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A loopback port that accepts TCP connections and never answers (a hung tier): gRPC calls to it
    wait until their deadline."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"127.0.0.1:{server.getsockname()[1]}"


# ---- probes ------------------------------------------------------------------------------------

def test_liveness_and_readiness_of_a_healthy_gateway(client):
    assert client.get("/livez").json() == {"status": "alive", "reason": None}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    operations = client.get("/openapi.json").json()["paths"]
    for path in ("/livez", "/readyz", "/healthz"):
        assert operations[path]["get"]["tags"] == ["ops"]
    assert "/metrics" not in operations


def test_a_tier_outage_keeps_the_gateway_ready_and_healthz_reports_it(start_gateway, client):
    gateway = start_gateway(RETRIEVAL_ADDR=dead_address(), RANKER_ADDR=dead_address())
    with httpx.Client(base_url=gateway.url, timeout=30) as gw:
        assert gw.get("/livez").status_code == 200
        ready = gw.get("/readyz")
        assert ready.status_code == 200, ready.text  # stays in rotation: it still answers (degraded or 503)
        health = gw.get("/healthz")
        assert health.status_code == 503
        assert health.json()["tiers"] == {"embedding": "SERVING", "retrieval": "UNREACHABLE",
                                          "profile": "SERVING", "ranker": "UNREACHABLE"}
        assert gw.get("/api/movies", params={"query": "matrix"}).status_code == 200  # needs no tier


def test_redis_unreachable_keeps_the_gateway_ready_and_says_so(start_gateway):
    gateway = start_gateway(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    with httpx.Client(base_url=gateway.url, timeout=30) as gw:
        assert gw.get("/livez").status_code == 200
        ready = gw.get("/readyz")  # in rotation: the UI, search and health need no Redis
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready" and "Redis" in ready.json()["reason"]
        login = gw.post("/api/auth/login", json={"username": "somebody", "password": "whatever1"})
        body = assert_error(login, 503, "UNAVAILABLE")
        _assert_nothing_internal(body)


# ---- metrics port ------------------------------------------------------------------------------

def test_metrics_on_their_own_port_are_not_served_by_the_api(configured_gateway, client):
    metrics_port = configured_gateway.info["metrics_port"]
    assert isinstance(metrics_port, int) and metrics_port > 0
    with httpx.Client(base_url=configured_gateway.url, timeout=30) as gw:
        assert gw.get("/api/vibes").status_code == 200
        assert gw.get("/metrics").status_code == 404
        assert "/metrics" not in gw.get("/openapi.json").json()["paths"]
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
    assert scraped.status_code == 200
    assert 'http_requests_total{method="GET",route="/api/vibes",status="200"}' in scraped.text
    # Without GATEWAY_METRICS_PORT (the session's gateway) they stay on the API port, as for local runs.
    assert client.get("/metrics").status_code == 200


# ---- the client address behind a proxy ---------------------------------------------------------

def _failed_login(http: httpx.Client, username: str, forwarded_for: str) -> int:
    return http.post("/api/auth/login", json={"username": username, "password": "wrong password"},
                     headers={"X-Forwarded-For": forwarded_for}).status_code


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(client):
    """The session's gateway trusts no proxy: a client forging a new X-Forwarded-For on every attempt
    still spends one budget (GATEWAY_AUTH_RATE_LIMIT=5 per window)."""
    user = signup(client, "forger")
    within_one_window(60)
    statuses = [_failed_login(client, user.username, f"198.51.100.{i}") for i in range(1, 7)]
    assert statuses == [401] * 5 + [429]


def test_rate_limit_keys_on_the_forwarded_client_behind_a_trusted_proxy(configured_gateway, client):
    """Behind a trusted proxy (127.0.0.1 here) each real client has its own budget, and a client cannot
    escape its budget by prepending addresses: the proxy appends the peer it saw, which is the one used."""
    user = signup(client, "proxied")
    within_one_window(CONFIGURED_RATE_WINDOW_S)
    with httpx.Client(base_url=configured_gateway.url, timeout=30) as gw:
        first = [_failed_login(gw, user.username, "198.51.100.7") for _ in range(6)]
        assert first == [401] * 5 + [429]
        assert _failed_login(gw, user.username, "198.51.100.8") == 401  # another client behind the proxy
        assert _failed_login(gw, user.username, "203.0.113.99, 198.51.100.7") == 429  # forged hop in front


# ---- dependency errors -------------------------------------------------------------------------

def test_an_unavailable_tier_is_named_and_its_details_stay_in_the_log(client, start_gateway):
    user = signup(client, "leak")
    onboard(client, user)
    dead = dead_address()
    gateway = start_gateway(RETRIEVAL_ADDR=dead)
    request_id = f"test-{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=gateway.url, timeout=30) as gw:
        response = gw.post("/api/recommendations", headers={**user.headers, "X-Request-Id": request_id},
                           json={"userId": user.user_id})
    body = assert_error(response, 503, "UNAVAILABLE")
    assert body["message"] == "the retrieval service is unavailable; try again shortly"
    assert body["requestId"] == request_id == response.headers["x-request-id"]
    _assert_nothing_internal(body, dead, dead.split(":")[1])
    logged = [line for line in gateway.log_lines()
              if line.get("request_id") == request_id and line.get("message") == "dependency failed"]
    assert logged and logged[0]["tier"] == "retrieval" and logged[0]["grpc_code"] == "UNAVAILABLE"
    assert logged[0]["detail"]  # gRPC's own words, for the operator


def test_a_hung_tier_is_a_504_that_names_it(client, start_gateway, black_hole):
    user = signup(client, "hung")
    onboard(client, user)
    gateway = start_gateway(RETRIEVAL_ADDR=black_hole, GATEWAY_RPC_TIMEOUT_S="0.5")
    with httpx.Client(base_url=gateway.url, timeout=30) as gw:
        response = gw.post("/api/chat", headers=user.headers, json={"userId": user.user_id, "message": "a comedy"})
    body = assert_error(response, 504, "DEADLINE_EXCEEDED")
    assert body["message"] == "the retrieval service did not answer in time; try again shortly"
    assert body["requestId"] == response.headers["x-request-id"]
    _assert_nothing_internal(body, black_hole.split(":")[1])


def test_a_dead_ranker_degrades_without_leaking_its_address(client, start_gateway):
    user = signup(client, "rankleak")
    onboard(client, user)
    dead = dead_address()
    gateway = start_gateway(RANKER_ADDR=dead)
    with httpx.Client(base_url=gateway.url, timeout=30) as gw:
        body = gw.post("/api/recommendations", headers=user.headers, json={"userId": user.user_id}).json()
    assert body["degraded"] is True
    assert body["degradedReason"].startswith("ranker UNAVAILABLE: the ranker is unavailable")
    _assert_nothing_internal(body, dead, dead.split(":")[1])


# ---- stage timings -----------------------------------------------------------------------------

def test_server_timing_names_each_stage_when_enabled(configured_gateway, client):
    user = signup(client, "timing")
    onboard(client, user)
    with httpx.Client(base_url=configured_gateway.url, timeout=30) as gw:
        response = gw.post("/api/recommendations", headers=user.headers, json={"userId": user.user_id})
    assert response.status_code == 200, response.text
    stages = {}
    for part in response.headers["server-timing"].split(","):
        name, _, duration = part.strip().partition(";dur=")
        stages[name] = float(duration)
    kinds = {carousel["kind"] for carousel in response.json()["carousels"]}
    assert kinds == {"top_picks", "because_you_loved", "fans_of", "theme"}
    assert {"profile", "retrieve", "rank", "assemble", "app"} <= set(stages)
    assert not any(name.startswith("rank.") for name in stages)  # one RankBatch call for the whole page
    assert all(ms >= 0 for ms in stages.values())
    assert stages["profile"] + stages["retrieve"] + stages["rank"] <= stages["app"]
    # Off by default: the session's gateway does not send it.
    plain = client.post("/api/recommendations", headers=user.headers, json={"userId": user.user_id})
    assert "server-timing" not in plain.headers
