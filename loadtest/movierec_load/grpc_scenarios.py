"""The gRPC scenarios: one RPC of one tier each, with its request material and its SLO.

Requests are built before a run (pools indexed by the request number) so that the client spends
its CPU on sending, not on building protos. Each response is checked for the shape a caller
relies on; a malformed answer counts as an error (``BAD_RESPONSE``), never as a fast success.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from movierec.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from movierec.profile.v1 import profile_pb2, profile_pb2_grpc
from movierec.ranker.v1 import ranker_pb2_grpc
from movierec.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from movierec_load.drivers import Call
from movierec_load.stats import OK
from movierec_load.workload import RANK_TOP_N, SEARCH_K, Workload

BATCH_QUERIES = 8
PROFILE_USERS = 32
# A plain channel: no retries (they would hide errors from the figures) and never through an HTTP proxy
# named in the environment (the load must reach the loopback target itself).
CHANNEL_OPTIONS = [("grpc.enable_retries", 0), ("grpc.enable_http_proxy", 0)]


@dataclass(frozen=True)
class GrpcScenario:
    name: str
    tier: str
    rpc: str
    what: str
    open_rate_rps: float  # the default fixed rate of the open-loop run
    slo_p99_ms: float  # the latency objective the capacity figure is stated against


@dataclass
class Prepared:
    """A scenario ready to run: its call, and the ids it set up (profiles for the profile scenarios)."""

    scenario: GrpcScenario
    call: Call
    observed: Observed


SCENARIOS = (
    GrpcScenario("embedding.embed", "embedding", "Embed", "one short query text (kind QUERY)", 30, 50),
    GrpcScenario("retrieval.search", "retrieval", "Search", "k=20, a real movie or user taste vector", 200, 5),
    GrpcScenario("retrieval.search_batch", "retrieval", "SearchBatch", f"{BATCH_QUERIES} queries × k=20", 50, 20),
    GrpcScenario("retrieval.search_filtered", "retrieval", "Search",
                 "k=20 with genre/year/runtime/certification filters and ≤ 50 excluded ids", 200, 10),
    GrpcScenario("ranker.rank", "ranker", "Rank", "20 candidates → top 5 with a real user's ratings and taste",
                 50, 50),
    GrpcScenario("profile.get_profile", "profile", "GetProfile", "an onboarded user's profile", 200, 10),
    GrpcScenario("profile.apply_message", "profile", "ApplyMessage",
                 "chat message → embed → EMA step → Redis (unique event id)", 20, 100),
)
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


def open_channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


def rpc_call(method, request_for: Callable[[int], object], check: Callable[[object], bool], timeout_s: float) -> Call:
    """A Call that sends ``request_for(i)`` with a deadline and answers OK, BAD_RESPONSE or the status code."""

    async def call(i: int) -> str:
        try:
            response = await method(request_for(i), timeout=timeout_s)
        except grpc.aio.AioRpcError as error:
            return error.code().name
        return OK if check(response) else "BAD_RESPONSE"

    return call


def _embed(channel, workload: Workload, timeout_s: float) -> Call:
    stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)
    return rpc_call(stub.Embed,
                    lambda i: embedding_pb2.EmbedRequest(texts=[workload.text(i)], kind=embedding_pb2.EMBED_KIND_QUERY),
                    lambda r: len(r.vectors) == 1 and len(r.vectors[0].values) == r.dim > 0, timeout_s)


def _search(channel, workload: Workload, timeout_s: float) -> Call:
    stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
    pool = [retrieval_pb2.SearchRequest(vector=v, k=SEARCH_K) for v in workload.query_vectors]
    full = min(SEARCH_K, workload.index_count)
    return rpc_call(stub.Search, lambda i: pool[i % len(pool)], lambda r: len(r.hits) == full, timeout_s)


def _search_batch(channel, workload: Workload, timeout_s: float) -> Call:
    stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
    count = len(workload.query_vectors)
    pool = [retrieval_pb2.SearchBatchRequest(queries=[
        retrieval_pb2.SearchQuery(vector=workload.vector(start + j), k=SEARCH_K) for j in range(BATCH_QUERIES)])
        for start in range(0, count, 3)]
    return rpc_call(stub.SearchBatch, lambda i: pool[i % len(pool)],
                    lambda r: len(r.results) == BATCH_QUERIES and all(res.hits for res in r.results), timeout_s)


def _search_filtered(channel, workload: Workload, timeout_s: float) -> Call:
    stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
    pool = []
    for i, user in enumerate(workload.users):
        for j, base in enumerate(workload.filters):
            flt = type(base)()
            flt.CopyFrom(base)
            flt.exclude_movie_ids.extend(m for m, _ in user.ratings)
            pool.append(retrieval_pb2.SearchRequest(vector=user.taste.tolist() if j % 2 else workload.vector(i),
                                                    k=SEARCH_K, filter=flt))
    # A strict filter can legitimately leave fewer than k movies: the check is only that the call answered.
    return rpc_call(stub.Search, lambda i: pool[i % len(pool)], lambda r: len(r.hits) <= SEARCH_K, timeout_s)


class Observed:
    """What the answers said beyond success: degraded answers (ranker fallbacks) and which backend answered."""

    def __init__(self) -> None:
        self.degraded = 0
        self.backends: set[str] = set()


def _rank(channel, workload: Workload, timeout_s: float, observed: Observed) -> Call:
    stub = ranker_pb2_grpc.RankerServiceStub(channel)
    pool = workload.rank_requests

    def check(response) -> bool:
        observed.degraded += response.degraded
        observed.backends.add(response.ranker)
        return len(response.recommendations) == RANK_TOP_N

    return rpc_call(stub.Rank, lambda i: pool[i % len(pool)], check, timeout_s)


async def onboard_profiles(channel, workload: Workload, run_id: str, timeout_s: float) -> list[str]:
    """Onboard ``PROFILE_USERS`` load-test users (ids prefixed by the run id) with real users' liked movies."""
    stub = profile_pb2_grpc.ProfileServiceStub(channel)
    user_ids = []
    for i in range(PROFILE_USERS):
        user_id = f"load-{run_id}-{i}"
        await stub.Onboard(profile_pb2.OnboardRequest(user_id=user_id, movie_ids=workload.picks(i, 5),
                                                      event_id=f"onboard-{user_id}"), timeout=timeout_s)
        user_ids.append(user_id)
    return user_ids


def _get_profile(channel, user_ids: list[str], timeout_s: float) -> Call:
    stub = profile_pb2_grpc.ProfileServiceStub(channel)
    pool = [profile_pb2.GetProfileRequest(user_id=user_id) for user_id in user_ids]
    return rpc_call(stub.GetProfile, lambda i: pool[i % len(pool)], lambda r: len(r.profile.vector) > 0, timeout_s)


def _apply_message(channel, workload: Workload, user_ids: list[str], timeout_s: float) -> Call:
    stub = profile_pb2_grpc.ProfileServiceStub(channel)

    def request(i: int) -> profile_pb2.ApplyMessageRequest:
        return profile_pb2.ApplyMessageRequest(user_id=user_ids[i % len(user_ids)], text=workload.chat_message(i),
                                               event_id=uuid.uuid4().hex)

    return rpc_call(stub.ApplyMessage, request, lambda r: r.applied and len(r.profile.vector) > 0, timeout_s)


def prepare(scenario: GrpcScenario, channel, workload: Workload, timeout_s: float,
            profile_users: list[str] | None = None) -> Prepared:
    """The call for ``scenario`` on ``channel`` (profile scenarios need ``profile_users`` onboarded first)."""
    observed = Observed()
    builders: dict[str, Callable[[], Call]] = {
        "embedding.embed": lambda: _embed(channel, workload, timeout_s),
        "retrieval.search": lambda: _search(channel, workload, timeout_s),
        "retrieval.search_batch": lambda: _search_batch(channel, workload, timeout_s),
        "retrieval.search_filtered": lambda: _search_filtered(channel, workload, timeout_s),
        "ranker.rank": lambda: _rank(channel, workload, timeout_s, observed),
        "profile.get_profile": lambda: _get_profile(channel, profile_users or [], timeout_s),
        "profile.apply_message": lambda: _apply_message(channel, workload, profile_users or [], timeout_s),
    }
    if scenario.tier == "profile" and not profile_users:
        raise ValueError(f"{scenario.name} needs onboarded users (onboard_profiles) first")
    return Prepared(scenario, builders[scenario.name](), observed)
