"""Shared dependencies of the route modules: the tier clients, Redis, the catalog, and authentication."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

import grpc
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from gateway_service.auth import AuthUser, PasswordHashing, RateLimiter, TokenIssuer, UserStore
from gateway_service.errors import forbidden, from_rpc_error, from_service_error, unauthenticated
from gateway_service.events import ReviewPublisher
from gateway_service.settings import GatewaySettings
from movierec.embedding.v1 import embedding_pb2_grpc
from movierec.profile.v1 import profile_pb2_grpc
from movierec.ranker.v1 import ranker_pb2_grpc
from movierec.retrieval.v1 import retrieval_pb2_grpc
from movierec_catalog import Catalog
from movierec_core.client import open_channel
from movierec_core.errors import ServiceError

__all__ = ["AuthUser", "CurrentUser", "Services", "ServicesDep", "call", "current_user", "ensure_owner", "get_services"]


@dataclass
class Services:
    """Everything a request handler needs, built once at start-up (see :func:`build_services`)."""

    settings: GatewaySettings
    redis: Redis
    catalog: Catalog
    embedding: embedding_pb2_grpc.EmbeddingServiceStub
    retrieval: retrieval_pb2_grpc.RetrievalServiceStub
    profile: profile_pb2_grpc.ProfileServiceStub
    ranker: ranker_pb2_grpc.RankerServiceStub
    users: UserStore
    tokens: TokenIssuer
    limiter: RateLimiter
    publisher: ReviewPublisher
    channels: list[grpc.aio.Channel] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
        await self.redis.aclose()
        self.users.close()
        await asyncio.to_thread(self.publisher.close)  # waits for publishes in flight


def build_services(settings: GatewaySettings, catalog: Catalog, redis: Redis | None = None) -> Services:
    redis = redis or Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    # One channel per tier, each with its default deadline (the ranker may call an LLM: it gets its
    # own, longer default, still capped by the request's remaining time).
    timeouts = {"embedding": settings.rpc_timeout_s, "retrieval": settings.rpc_timeout_s,
                "profile": settings.rpc_timeout_s, "ranker": settings.rank_timeout_s}
    channels = {name: open_channel(addr, default_timeout_s=timeouts[name]) for name, addr in (
        ("embedding", settings.embedding_addr), ("retrieval", settings.retrieval_addr),
        ("profile", settings.profile_addr), ("ranker", settings.ranker_addr))}
    return Services(
        settings=settings,
        redis=redis,
        catalog=catalog,
        embedding=embedding_pb2_grpc.EmbeddingServiceStub(channels["embedding"]),
        retrieval=retrieval_pb2_grpc.RetrievalServiceStub(channels["retrieval"]),
        profile=profile_pb2_grpc.ProfileServiceStub(channels["profile"]),
        ranker=ranker_pb2_grpc.RankerServiceStub(channels["ranker"]),
        users=UserStore(redis, PasswordHashing(settings.argon2_memory_kib, settings.argon2_time_cost,
                                               settings.hash_concurrency)),
        tokens=TokenIssuer(settings.jwt_secret, settings.jwt_ttl_s),
        limiter=RateLimiter(redis, settings.auth_rate_limit, settings.auth_rate_window_s),
        publisher=ReviewPublisher(settings.redis_url),
        channels=list(channels.values()),
    )


def get_services(request: Request) -> Services:
    return request.app.state.services


async def call(tier: str, method, request, **kwargs):
    """Await one RPC of ``tier``; a failure becomes the ApiError the client should see.

    ``method`` is a stub method (e.g. ``services.profile.GetProfile``); creating the call can
    itself fail when the request's deadline has already passed.
    """
    try:
        return await method(request, **kwargs)
    except grpc.RpcError as error:
        raise from_rpc_error(error, tier) from None
    except ServiceError as error:
        raise from_service_error(error, tier) from None


_bearer = HTTPBearer(auto_error=False, description="The accessToken from /api/auth/login or /api/auth/signup")


async def current_user(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                       services: Annotated[Services, Depends(get_services)]) -> AuthUser:
    """The user of the bearer token; 401 when it is missing, malformed or expired."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise unauthenticated("missing bearer token: send 'Authorization: Bearer <accessToken>'")
    return services.tokens.verify(credentials.credentials)


ServicesDep = Annotated[Services, Depends(get_services)]
CurrentUser = Annotated[AuthUser, Depends(current_user)]


def ensure_owner(user: AuthUser, user_id: str) -> None:
    """403 unless the caller is the user the request is about."""
    if user.user_id != user_id:
        raise forbidden("this token belongs to another user; you can only act on your own userId")
