"""Schemathesis against the gateway's own OpenAPI document, on the real running stack.

Bounded: at most 25 generated examples per operation and generation mode (valid and invalid data).
Checks: never a 5xx, invalid input is never accepted (negative_data_rejection), every status code
and body is one the schema documents. Generated cases carry a real user's token; valid cases are
pointed at that user's own ``userId`` so that they reach the tiers instead of stopping at 403.
"""

from __future__ import annotations

import uuid

import pytest
import schemathesis
from gateway_helpers import onboard, signup
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzz_user(stack):
    import httpx

    with httpx.Client(base_url=stack.gateway, timeout=30) as client:
        user = signup(client, "fuzz")
        onboard(client, user)
    return user


def _openapi_document() -> dict:
    """The app's own OpenAPI document (built in-process; the cases are then sent to the real gateway)."""
    from gateway_service.app import create_app
    from gateway_service.settings import GatewaySettings

    settings = GatewaySettings(
        host="127.0.0.1", port=0, port_file=None, redis_url="redis://127.0.0.1:1/0", embedding_addr="127.0.0.1:1",
        retrieval_addr="127.0.0.1:1", profile_addr="127.0.0.1:1", ranker_addr="127.0.0.1:1", rpc_timeout_s=1,
        rank_timeout_s=1, request_timeout_s=1, dev_mode=False, jwt_secret="x" * 32, jwt_ttl_s=60, auth_rate_limit=1,
        auth_rate_window_s=1, candidates=20, chat_history_max=20, chat_session_ttl_s=60, catalog_dir=None,
        taste_map_root=None)
    return create_app(settings).openapi()


schema = schemathesis.openapi.from_dict(_openapi_document())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                max_examples=MAX_EXAMPLES, allow_x00=True)


def _own_user(case, user_id: str) -> None:
    """Valid cases act on the token's own user (invalid ones are left exactly as generated)."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    if case.path_parameters and "userId" in case.path_parameters:
        case.path_parameters["userId"] = user_id
    if isinstance(case.body, dict) and "userId" in case.body:
        case.body["userId"] = user_id
    if isinstance(case.body, dict) and "sessionId" in case.body:
        case.body["sessionId"] = None  # a random id is an unknown session (404); start a new one instead
    if case.path_parameters and "sessionId" in case.path_parameters:
        case.path_parameters["sessionId"] = f"c_{uuid.uuid4().hex[:8]}"


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_gateway_openapi_fuzz(case, stack, fuzz_user):
    _own_user(case, fuzz_user.user_id)
    case.call_and_validate(base_url=stack.gateway, headers={"Authorization": f"Bearer {fuzz_user.token}"},
                           checks=[not_a_server_error, negative_data_rejection, status_code_conformance,
                                   response_schema_conformance])
