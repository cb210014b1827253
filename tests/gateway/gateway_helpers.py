"""Small helpers shared by the gateway tests (real HTTP against a real gateway process)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import httpx

from movierec_catalog import load_catalog
from movierec_core.devstack import free_port

_catalog = None

JWT_SECRET = "gateway-tests-secret-0123456789abcdefghijklmnop"

# Onboarding picks used across tests: three crime classics.
GODFATHER, GOODFELLAS, PULP_FICTION = 858, 1213, 296


def catalog():
    global _catalog
    if _catalog is None:
        _catalog = load_catalog()
    return _catalog


@dataclass
class User:
    user_id: str
    username: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def signup(client: httpx.Client, prefix: str = "user") -> User:
    username = f"{prefix}_{uuid.uuid4().hex[:10]}"
    password = "correct horse battery"
    response = client.post("/api/auth/signup", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    body = response.json()
    return User(body["userId"], body["username"], password, body["accessToken"])


def onboard(client: httpx.Client, user: User, movies=(GODFATHER, GOODFELLAS, PULP_FICTION),
            vibes=("dark", "crime"), free_text: str = "gritty gangster stories") -> dict:
    response = client.post("/api/embeddings/generate", headers=user.headers,
                           json={"userId": user.user_id, "movies": list(movies), "vibes": list(vibes),
                                 "freeText": free_text})
    assert response.status_code == 200, response.text
    return response.json()


def profile_version(client: httpx.Client, user: User) -> int:
    response = client.get(f"/api/users/{user.user_id}/profile", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()["version"]


def wait_for(predicate, timeout_s: float = 15.0, interval_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s")


def within_one_window(window_s: int, needed_s: float = 10.0) -> None:
    """The auth rate limiter counts in fixed windows (now // window): wait for a new one when the current
    one ends within ``needed_s``, so that all of a test's attempts fall in the same window."""
    left = window_s - time.time() % window_s
    if left < needed_s:
        time.sleep(left + 0.05)


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """The response is our error shape with this status (and code), and carries no stack trace."""
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def dead_address() -> str:
    """A loopback port nobody listens on (connections are refused: gRPC UNAVAILABLE)."""
    return f"127.0.0.1:{free_port()}"
