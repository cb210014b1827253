"""The end-to-end scenario: a new person's first session, through the gateway's REST API.

One iteration is one journey: sign up → onboard (three liked movies of a real MovieLens user, a
vibe, a free-text wish) → recommendations → review one of the recommended movies → one chat turn.
Every step is timed per route; a failed step ends that journey (the next steps need its result)
and is counted under its route with the HTTP status (or TIMEOUT / CONNECTION_ERROR).
"""

from __future__ import annotations

import itertools
import time

import httpx

from movierec_load.stats import OK, OpStats
from movierec_load.workload import Workload

ROUTES = ("signup", "onboard", "recommendations", "review", "chat")
JOURNEY = "journey"
PASSWORD = "load-test-password-not-secret"
REVIEW_RATINGS = (4.5, 3.0, 5.0, 4.0)
# What each step must answer; anything else is an error of that route.
EXPECTED_STATUS = {"signup": 201, "onboard": 200, "recommendations": 200, "review": 202, "chat": 200}


def new_client(base_url: str, timeout_s: float, concurrency: int) -> httpx.AsyncClient:
    # trust_env=False: never route the load through a proxy named in the environment.
    return httpx.AsyncClient(base_url=base_url, timeout=timeout_s, trust_env=False,
                             limits=httpx.Limits(max_connections=concurrency + 2,
                                                 max_keepalive_connections=concurrency + 2))


async def fetch_vibes(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/api/vibes")
    response.raise_for_status()
    vibes = [vibe["id"] for vibe in response.json()["vibes"]]
    if not vibes:
        raise RuntimeError("the gateway lists no vibes (GET /api/vibes)")
    return vibes


class Journey:
    """A loop body for the closed-loop driver; ``stats`` gets one OpStats per route plus ``journey``."""

    def __init__(self, client: httpx.AsyncClient, workload: Workload, vibes: list[str], run_id: str):
        self.client = client
        self.workload = workload
        self.vibes = vibes
        self.run_id = run_id
        self.numbers = itertools.count()
        self.stats: dict[str, OpStats] = {}
        self.reset()

    def reset(self) -> None:
        self.stats = {name: OpStats() for name in (*ROUTES, JOURNEY)}

    async def __call__(self, i: int) -> None:
        started = time.perf_counter()
        failed = await self._steps(next(self.numbers))
        self.stats[JOURNEY].record(time.perf_counter() - started, failed or OK)

    async def _steps(self, n: int) -> str | None:
        """Run the journey; None when every step succeeded, else "<route>:<code>" of the failed one."""
        w = self.workload
        account = await self._step("signup", "/api/auth/signup",
                                   {"username": f"ld_{self.run_id}_{n}", "password": PASSWORD})
        if isinstance(account, str):
            return account
        user_id, auth = account["userId"], {"Authorization": f"Bearer {account['accessToken']}"}
        onboard = {"userId": user_id, "movies": w.picks(n, 3), "vibes": [self.vibes[n % len(self.vibes)]],
                   "freeText": w.text(n)}
        steps = [("onboard", "/api/embeddings/generate", onboard),
                 ("recommendations", "/api/recommendations", {"userId": user_id, "numResults": 5})]
        recommended: list[int] = []
        for route, path, body in steps:
            answer = await self._step(route, path, body, auth)
            if isinstance(answer, str):
                return answer
            if route == "recommendations":
                recommended = [card["movieId"] for carousel in answer["carousels"]
                               for card in carousel["recommendations"]]
        review = {"userId": user_id, "movieId": recommended[0], "rating": REVIEW_RATINGS[n % len(REVIEW_RATINGS)],
                  "text": "load test review"}
        answer = await self._step("review", "/api/reviews", review, auth)
        if isinstance(answer, str):
            return answer
        answer = await self._step("chat", "/api/chat", {"userId": user_id, "message": w.chat_message(n)}, auth)
        return answer if isinstance(answer, str) else None

    async def _step(self, route: str, path: str, body: dict, headers: dict | None = None) -> dict | str:
        """POST one step; returns its JSON body, or "<route>:<code>" when it failed."""
        started = time.perf_counter()
        payload = None
        try:
            response = await self.client.post(path, json=body, headers=headers)
        except httpx.TimeoutException:
            code = "TIMEOUT"
        except httpx.TransportError:
            code = "CONNECTION_ERROR"
        else:
            code = OK if response.status_code == EXPECTED_STATUS[route] else str(response.status_code)
            if code == OK:
                payload = response.json()
                code = self._check(route, payload)
        self.stats[route].record(time.perf_counter() - started, code)
        return payload if code == OK else f"{route}:{code}"

    def _check(self, route: str, payload: dict) -> str:
        """The minimum each answer must hold; a 200 without it is EMPTY_RESULT, not a success."""
        if route in ("recommendations", "chat") and payload.get("degraded"):
            self.stats[route].degraded += 1
        if route == "recommendations" and not any(c["recommendations"] for c in payload.get("carousels", [])):
            return "EMPTY_RESULT"
        if route == "chat" and not payload.get("reply"):
            return "EMPTY_RESULT"
        return OK
