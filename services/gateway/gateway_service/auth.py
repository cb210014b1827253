"""Accounts: argon2id password hashes and users in Redis, HS256 JWT bearer tokens, auth rate limits."""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis.asyncio import Redis

from gateway_service.errors import ApiError, unauthenticated

ISSUER = "movierec-gateway"
USER_KEY = "movierec:gw:user:{username}"
USER_ID_KEY = "movierec:gw:userid:{user_id}"
RATE_KEY = "movierec:gw:ratelimit:{action}:{subject}:{window}"


class PasswordHashing:
    """argon2id with parameters sized to the pod, on a small bounded pool.

    Each hash holds ``memory_kib`` of memory for ~0.1–0.5 s of CPU, so unbounded concurrent sign-ups
    (each a thread of the default pool) could exhaust the pod's memory and starve every other route.
    At most ``concurrency`` hashes run at once; the others wait their turn (the per-IP limit keeps
    that queue short). Memory bound: concurrency × memory_kib (2 × 19 MiB by default).
    """

    def __init__(self, memory_kib: int, time_cost: int, concurrency: int):
        self._hasher = PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=1)
        self._slots = asyncio.Semaphore(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")
        # Verified against when the username is unknown, so response time does not reveal which exist.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    async def _run(self, function, *args):
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await self._run(self._verify, password_hash or self._dummy, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class AuthUser:
    user_id: str
    username: str


@dataclass(frozen=True)
class StoredUser:
    user_id: str
    username: str
    password_hash: str
    created_at: datetime


def normalize_username(username: str) -> str:
    return username.strip().lower()


def new_user_id() -> str:
    return f"u_{secrets.token_hex(8)}"


class UserStore:
    """Users as one JSON value per lower-cased username (created with SET NX, so sign-up is atomic)."""

    def __init__(self, redis: Redis, hashing: PasswordHashing):
        self._redis = redis
        self._hashing = hashing

    def close(self) -> None:
        self._hashing.close()

    async def exists(self, username: str) -> bool:
        return bool(await self._redis.exists(USER_KEY.format(username=normalize_username(username))))

    async def create(self, username: str, password: str) -> StoredUser | None:
        """The new user, or None when the username is taken (checked before hashing, so a flood of
        taken names costs no argon2 work; SET NX still decides a race)."""
        if await self.exists(username):
            return None
        password_hash = await self._hashing.hash(password)
        user = StoredUser(new_user_id(), normalize_username(username), password_hash, datetime.now(UTC))
        record = json.dumps({"user_id": user.user_id, "username": user.username,
                             "password_hash": password_hash, "created_at": user.created_at.isoformat()})
        created = await self._redis.set(USER_KEY.format(username=user.username), record, nx=True)
        if not created:
            return None
        await self._redis.set(USER_ID_KEY.format(user_id=user.user_id), user.username)
        return user

    async def get(self, username: str) -> StoredUser | None:
        raw = await self._redis.get(USER_KEY.format(username=normalize_username(username)))
        if raw is None:
            return None
        data = json.loads(raw)
        return StoredUser(data["user_id"], data["username"], data["password_hash"],
                          datetime.fromisoformat(data["created_at"]))

    async def get_by_id(self, user_id: str) -> StoredUser | None:
        username = await self._redis.get(USER_ID_KEY.format(user_id=user_id))
        if username is None:
            return None
        return await self.get(username.decode() if isinstance(username, bytes) else username)

    async def authenticate(self, username: str, password: str) -> StoredUser | None:
        user = await self.get(username)
        verified = await self._hashing.verify(user.password_hash if user else None, password)
        return user if user is not None and verified else None


class TokenIssuer:
    """HS256 JWTs: ``sub`` = user id, ``name`` = username, ``exp`` = now + ttl.

    Verified tokens are remembered until they expire (a bounded LRU): a client sends the same token with
    every request, and checking its signature and claims again costs more than the rest of a cheap
    request. Tokens are stateless (no revocation), so a remembered verdict stays true until ``exp``.
    """

    MAX_REMEMBERED = 10_000

    def __init__(self, secret: str, ttl_s: int):
        self._secret = secret
        self.ttl_s = ttl_s
        self._verified: OrderedDict[str, tuple[AuthUser, int]] = OrderedDict()

    def issue(self, user: AuthUser, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims = {"sub": user.user_id, "name": user.username, "iat": issued, "exp": issued + self.ttl_s,
                  "iss": ISSUER}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> AuthUser:
        remembered = self._verified.get(token)
        if remembered is not None and remembered[1] > time.time():
            self._verified.move_to_end(token)
            return remembered[0]
        user, expires = self._decode(token)
        self._verified[token] = (user, expires)
        if len(self._verified) > self.MAX_REMEMBERED:
            self._verified.popitem(last=False)
        return user

    def _decode(self, token: str) -> tuple[AuthUser, int]:
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], issuer=ISSUER,
                                options={"require": ["exp", "sub", "iat", "iss"]})
        except jwt.ExpiredSignatureError:
            raise unauthenticated("the access token has expired; log in again") from None
        except jwt.InvalidTokenError:
            raise unauthenticated("the access token is not valid") from None
        return AuthUser(str(claims["sub"]), str(claims.get("name", ""))), int(claims["exp"])


class RateLimiter:
    """Fixed-window counters in Redis: at most ``limit`` hits per (action, subject) per window.

    Subjects: (client, username) for login/sign-up attempts, the client address alone for the per-IP
    budget (which a flood varying the username cannot dodge), the user id for writes.
    """

    def __init__(self, redis: Redis, limit: int, window_s: int):
        self._redis = redis
        self.limit = limit
        self.window_s = window_s

    async def hit(self, action: str, client: str, username: str, now: float | None = None) -> None:
        """Count one attempt of (client, username); 429 with Retry-After when the budget is spent."""
        await self.hit_subject(action, f"{client}:{normalize_username(username)}", now=now)

    async def hit_subject(self, action: str, subject: str, *, limit: int | None = None,
                          window_s: int | None = None, now: float | None = None) -> None:
        """Count one hit of ``subject``; raise 429 with Retry-After when the window's budget is spent."""
        limit = self.limit if limit is None else limit
        window_s = self.window_s if window_s is None else window_s
        now = time.time() if now is None else now
        window = int(now // window_s)
        key = RATE_KEY.format(action=action, subject=subject, window=window)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_s + 1)
            count, _ = await pipe.execute()
        if count > limit:
            retry_after = max(1, math.ceil((window + 1) * window_s - now))
            raise ApiError(429, "RATE_LIMITED",
                           f"too many {action} attempts; try again in {retry_after} s",
                           headers={"Retry-After": str(retry_after)})
