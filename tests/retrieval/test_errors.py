"""Bad input is rejected with the right status code and field violations naming the field."""

from __future__ import annotations

import math

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from retrieval_helpers import ADMIN_METADATA, SERVICE, stub, unit_vectors

from movierec.common.v1 import common_pb2
from movierec.retrieval.v1 import retrieval_pb2
from movierec_core.errors import describe_rpc_error

GOOD = unit_vectors(1, seed=1)[0].tolist()
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def search(vector=None, k=10, **filter_fields) -> retrieval_pb2.SearchRequest:
    return retrieval_pb2.SearchRequest(vector=GOOD if vector is None else vector, k=k,
                                       filter=common_pb2.Filter(**filter_fields))


BAD_SEARCHES = [
    ("wrong dimension", search(vector=GOOD[:100]), "vector", "100 dimensions"),
    ("NaN", search(vector=[math.nan, *GOOD[1:]]), "vector", "NaN"),
    ("infinity", search(vector=[*GOOD[:-1], math.inf]), "vector", "infinite"),
    ("all zeros", search(vector=[0.0] * len(GOOD)), "vector", "all zeros"),
    ("k zero", search(k=0), "k", "positive"),
    ("k negative", search(k=-5), "k", "positive"),
    ("k above the limit", search(k=1001), "k", "limit of 1000"),
    ("min_year after max_year", search(min_year=2005, max_year=1995), "filter.min_year", "after"),
    ("unknown include genre", search(include_genres=["Comedy", "Sci-fy"]), "filter.include_genres[1]",
     "unknown genre 'Sci-fy'"),
    ("unknown exclude genre", search(exclude_genres=["Splatter"]), "filter.exclude_genres[0]", "known genres"),
    ("non-positive runtime", search(max_runtime_min=0), "filter.max_runtime_min", "positive"),
    ("unknown certification", search(max_certification=42), "filter.max_certification", "unknown"),
    ("unknown language", search(original_language="zz"), "filter.original_language", "'zz'"),
]


@pytest.fixture
async def retrieval(make_random_index, shared_tier):
    index = make_random_index("flat", seed=7)
    addr = await shared_tier("flat", index.root / "current")
    async with grpc.aio.insecure_channel(addr) as channel:
        yield stub(channel)


async def expect_error(call, code: grpc.StatusCode, field: str | None = None, text: str = ""):
    with pytest.raises(grpc.RpcError) as raised:
        await call
    description = describe_rpc_error(raised.value)
    assert description.code == code, description
    assert text in description.message, description.message
    if field is not None:
        assert field in [f for f, _ in description.field_violations], description.field_violations
    return description


@pytest.mark.parametrize(("case", "request_", "field", "text"), BAD_SEARCHES, ids=[c[0] for c in BAD_SEARCHES])
async def test_bad_search_is_invalid_argument(retrieval, case, request_, field, text):
    await expect_error(retrieval.Search(request_, timeout=5), INVALID, field, text)


async def test_every_bad_field_is_reported_at_once(retrieval):
    request = retrieval_pb2.SearchRequest(vector=[1.0, 2.0], k=0, filter=common_pb2.Filter(
        min_year=2000, max_year=1990, include_genres=["Nope"]))
    description = await expect_error(retrieval.Search(request, timeout=5), INVALID)
    assert {f for f, _ in description.field_violations} == {
        "vector", "k", "filter.min_year", "filter.include_genres[0]"}


async def test_a_flood_of_bad_fields_is_still_invalid_argument_not_unavailable(retrieval):
    """40 unknown genres of 40 characters (what the gateway's API allows) made a ~22 KB status, over gRPC's
    metadata limit: the caller got RESOURCE_EXHAUSTED. The status is bounded: the first violations, a count."""
    genres = [f"{'ünknown-genre-' * 3}{i}"[:40] for i in range(40)]
    request = search(include_genres=genres[:20], exclude_genres=genres[20:])
    description = await expect_error(retrieval.Search(request, timeout=5), INVALID, "filter.include_genres[0]")
    assert len(description.field_violations) == 11 and description.field_violations[-1][1] == "… and 30 more"
    assert len(description.message) <= 600


async def test_batch_errors_name_the_query(retrieval):
    good = retrieval_pb2.SearchQuery(vector=GOOD, k=5)
    bad = retrieval_pb2.SearchQuery(vector=GOOD[:3], k=5, filter=common_pb2.Filter(exclude_genres=["Nope"]))
    await expect_error(retrieval.SearchBatch(retrieval_pb2.SearchBatchRequest(queries=[good, bad]), timeout=5),
                       INVALID, "queries[1].vector")
    await expect_error(retrieval.SearchBatch(retrieval_pb2.SearchBatchRequest(queries=[good, bad]), timeout=5),
                       INVALID, "queries[1].filter.exclude_genres[0]")
    await expect_error(retrieval.SearchBatch(retrieval_pb2.SearchBatchRequest(), timeout=5), INVALID, "queries")
    too_many = retrieval_pb2.SearchBatchRequest(queries=[good] * 257)
    await expect_error(retrieval.SearchBatch(too_many, timeout=5), INVALID, "queries", "limit of 256")


async def test_unknown_movie_is_not_found(retrieval):
    await expect_error(retrieval.MoreLikeThis(retrieval_pb2.MoreLikeThisRequest(movie_id=987654321, k=5),
                                              timeout=5), grpc.StatusCode.NOT_FOUND, "movie_id", "987654321")
    await expect_error(retrieval.MoreLikeThis(retrieval_pb2.MoreLikeThisRequest(movie_id=1, k=0), timeout=5),
                       INVALID, "k")
    response = await retrieval.GetMovieVectors(retrieval_pb2.GetMovieVectorsRequest(movie_ids=[2571, 987654321, 1]),
                                               timeout=5)
    assert list(response.movie_ids) == [2571, 1]
    assert list(response.unknown_movie_ids) == [987654321]
    assert all(len(vector.values) == 384 for vector in response.vectors)


async def test_reload_index_is_served_only_on_the_admin_endpoint_with_the_admin_token(retrieval, shared_tier):
    # The serving port refuses it, whoever asks.
    await expect_error(retrieval.ReloadIndex(retrieval_pb2.ReloadIndexRequest(), timeout=5, metadata=ADMIN_METADATA),
                       grpc.StatusCode.PERMISSION_DENIED, text="admin endpoint")
    async with grpc.aio.insecure_channel(shared_tier.admin_addrs["flat"]) as channel:
        admin = stub(channel)
        for metadata in ((), (("authorization", "Bearer not-the-admin-token-0123456789abcdef"),)):
            await expect_error(admin.ReloadIndex(retrieval_pb2.ReloadIndexRequest(), timeout=5, metadata=metadata),
                               grpc.StatusCode.UNAUTHENTICATED)
        # The admin endpoint serves nothing else, even to the admin.
        await expect_error(admin.Search(search(), timeout=5, metadata=ADMIN_METADATA), grpc.StatusCode.UNIMPLEMENTED)
        response = await admin.ReloadIndex(retrieval_pb2.ReloadIndexRequest(), timeout=30, metadata=ADMIN_METADATA)
        assert response.swapped is False


async def test_reload_errors_keep_serving(retrieval, shared_tier):
    before = await retrieval.GetIndexInfo(retrieval_pb2.GetIndexInfoRequest(), timeout=5)
    async with grpc.aio.insecure_channel(shared_tier.admin_addrs["flat"]) as channel:
        admin = stub(channel)

        def reload(version: str, timeout: float):
            return admin.ReloadIndex(retrieval_pb2.ReloadIndexRequest(index_version=version), timeout=timeout,
                                     metadata=ADMIN_METADATA)

        await expect_error(reload("../etc", 5), INVALID, "index_version")
        description = await expect_error(reload("no-such-version", 30), grpc.StatusCode.FAILED_PRECONDITION,
                                         text="no index artifact")
        assert f"still serving {before.index_version}" in description.message
        after = await retrieval.GetIndexInfo(retrieval_pb2.GetIndexInfoRequest(), timeout=5)
        assert after.index_version == before.index_version
        response = await reload("", 30)
        assert (response.index_version, response.swapped) == (before.index_version, False)


async def test_index_info_and_reflection(retrieval, catalog, make_random_index, shared_tier):
    info = await retrieval.GetIndexInfo(retrieval_pb2.GetIndexInfoRequest(), timeout=5)
    assert (info.dim, info.count, info.index_kind, info.max_k) == (384, len(catalog.movies), "flat", 1000)
    assert info.catalog_version == catalog.version
    assert "Sci-Fi" in info.genres and info.created_at.seconds > 0
    addr = await shared_tier("flat", make_random_index("flat", seed=7).root / "current")
    with grpc.insecure_channel(addr) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert SERVICE in services and "grpc.health.v1.Health" in services
