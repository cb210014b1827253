"""Sign-up, login and "who am I"."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from gateway_service.auth import AuthUser
from gateway_service.deps import CurrentUser, Services, ServicesDep
from gateway_service.errors import ApiError, not_found, unauthenticated
from gateway_service.guards import client_address
from gateway_service.schemas import Credentials, ErrorBody, MeResponse, TokenResponse

router = APIRouter(prefix="/api/auth", tags=["auth"])

_ERRORS = {401: {"model": ErrorBody}, 422: {"model": ErrorBody}, 429: {"model": ErrorBody},
           503: {"model": ErrorBody}}


async def _charge_attempt(services: Services, action: str, request: Request, username: str) -> None:
    """Two budgets: per (address, username) against password guessing, and per address alone, which a
    flood varying the username cannot dodge. The address is the socket peer, or X-Forwarded-For only
    from the proxies trusted in GATEWAY_FORWARDED_ALLOW_IPS."""
    client = client_address(request)
    await services.limiter.hit_subject(f"{action}-address", f"ip:{client}",
                                       limit=services.settings.auth_ip_rate_limit)
    await services.limiter.hit(action, client, username)


def _token_response(services: Services, user: AuthUser) -> TokenResponse:
    return TokenResponse(user_id=user.user_id, username=user.username, access_token=services.tokens.issue(user),
                         expires_in=services.tokens.ttl_s)


@router.post("/signup", status_code=status.HTTP_201_CREATED, response_model=TokenResponse,
             responses={**_ERRORS, 409: {"model": ErrorBody}})
async def signup(body: Credentials, request: Request, services: ServicesDep) -> TokenResponse:
    """Create an account (argon2id-hashed password) and return a bearer token."""
    await _charge_attempt(services, "signup", request, body.username)
    user = await services.users.create(body.username, body.password)
    if user is None:
        raise ApiError(409, "USERNAME_TAKEN", f"the username {body.username!r} is taken",
                       [("username", "already taken")])
    return _token_response(services, AuthUser(user.user_id, user.username))


@router.post("/login", response_model=TokenResponse, responses=_ERRORS)
async def login(body: Credentials, request: Request, services: ServicesDep) -> TokenResponse:
    """Exchange username + password for a bearer token (the same 401 for an unknown user and a wrong password)."""
    await _charge_attempt(services, "login", request, body.username)
    user = await services.users.authenticate(body.username, body.password)
    if user is None:
        raise unauthenticated("wrong username or password")
    return _token_response(services, AuthUser(user.user_id, user.username))


@router.get("/me", response_model=MeResponse, responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}})
async def me(user: CurrentUser, services: ServicesDep) -> MeResponse:
    stored = await services.users.get_by_id(user.user_id)
    if stored is None:
        raise not_found("this account no longer exists")
    return MeResponse(user_id=stored.user_id, username=stored.username, created_at=stored.created_at)
