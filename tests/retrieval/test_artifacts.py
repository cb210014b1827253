"""A bad artifact keeps the tier NOT_SERVING (with a clear log line); versions hot-swap under load."""

from __future__ import annotations

import asyncio
import json
import shutil
import time

import grpc
import pytest
from retrieval_helpers import ADMIN_METADATA, admin_addr, admin_env, stub, tier_env, unit_vectors, wait_status

from movierec.common.v1 import common_pb2
from movierec.retrieval.v1 import retrieval_pb2
from movierec_core.errors import describe_rpc_error
from movierec_core.index_artifact import point_current


async def wait_for_log(proc, text: str, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = proc.log_path.read_text(errors="replace")
        if text in log:
            return log
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {proc.log_path}:\n{proc.log_tail()}")


def corrupt(path) -> None:
    """Flip bytes in the middle of vectors.npy (its size and shape stay valid)."""
    with open(path / "vectors.npy", "r+b") as handle:
        handle.seek(100_000)
        data = bytearray(handle.read(64))
        handle.seek(100_000)
        handle.write(bytes(b ^ 0xFF for b in data))


async def test_bad_artifacts_keep_the_tier_not_serving(make_random_index, catalog, catalog_dir, start_tier,
                                                       tmp_path):
    good = make_random_index("flat", seed=7)
    corrupted = tmp_path / "corrupted"
    shutil.copytree(good.root / good.version, corrupted / good.version)
    point_current(corrupted, good.version)
    corrupt(corrupted / good.version)
    foreign = tmp_path / "foreign"
    shutil.copytree(good.root / good.version, foreign / good.version)
    manifest_path = foreign / good.version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "catalog_version": "deadbeef0000"}))
    point_current(foreign, good.version)
    missing = tmp_path / "missing"
    cases = {
        "missing": (missing / "current", {}, "no index artifact"),
        "corrupted": (corrupted / "current", {}, "vectors.npy does not match its manifest checksum"),
        "wrong dimension": (good.root / "current", {"RETRIEVAL_EXPECTED_DIM": "768"},
                            "has dimension 384, expected 768"),
        "unknown catalog": (foreign / "current", {}, "was built from catalog deadbeef0000"),
    }
    started = {name: start_tier("retrieval", tier_env(path, catalog_dir, **extra))
               for name, (path, extra, _) in cases.items()}
    for name, (_, _, reason) in cases.items():
        addr, proc = started[name]
        log = await wait_for_log(proc, reason)
        line = next(json.loads(x) for x in log.splitlines() if reason in x)
        assert line["severity"] == "ERROR" and "NOT_SERVING" in line["message"], line
        await wait_status(addr, "NOT_SERVING", timeout_s=5)
        async with grpc.aio.insecure_channel(addr) as channel:
            with pytest.raises(grpc.RpcError) as raised:
                await stub(channel).Search(retrieval_pb2.SearchRequest(vector=good.vectors[0].tolist(), k=5),
                                           timeout=5)
        description = describe_rpc_error(raised.value)
        assert description.code == grpc.StatusCode.UNAVAILABLE and reason in description.message, name

    # The missing artifact appears: the watcher loads it and the tier becomes SERVING.
    shutil.copytree(good.root / good.version, missing / good.version)
    point_current(missing, good.version)
    await wait_status(started["missing"][0], "SERVING", timeout_s=30)


async def test_hot_swap_under_load_drops_nothing(catalog, make_random_index, serve_index, tmp_path):
    root = tmp_path / "versions"
    versions = {name: make_random_index(name, seed=seed, root=root, point=False)
                for name, seed in (("v1", 1), ("v2", 2), ("v3", 3))}
    point_current(root, "v1")
    admin = admin_env()
    addr, proc = await serve_index(root / "current", RETRIEVAL_WATCH_INTERVAL_S="0.3", **admin)
    queries = unit_vectors(64, seed=5)
    seen: list[list[str]] = [[] for _ in range(4)]
    errors: list[str] = []
    calls = 0
    stop = asyncio.Event()

    async def caller(worker: int, retrieval) -> None:
        nonlocal calls
        i = worker
        while not stop.is_set():
            request = retrieval_pb2.SearchRequest(vector=queries[i % 64].tolist(), k=20)
            if i % 2:
                request.filter.CopyFrom(common_pb2.Filter(include_genres=["Drama"], max_year=2005))
            try:
                response = await retrieval.Search(request, timeout=5)
                assert len(response.hits) == 20
                if not seen[worker] or seen[worker][-1] != response.index_version:
                    seen[worker].append(response.index_version)
            except Exception as error:  # every failure counts
                errors.append(repr(error))
            calls += 1
            i += 4

    async with (grpc.aio.insecure_channel(addr) as channel,
                grpc.aio.insecure_channel(admin_addr(admin)) as admin_channel):
        retrieval, admin_stub = stub(channel), stub(admin_channel)
        workers = [asyncio.create_task(caller(w, retrieval)) for w in range(4)]
        await asyncio.sleep(0.5)
        # 1. The RPC swaps in v2; the stored vector of a movie now finds that movie first.
        reloaded = await admin_stub.ReloadIndex(retrieval_pb2.ReloadIndexRequest(index_version="v2"), timeout=60,
                                                metadata=ADMIN_METADATA)
        assert (reloaded.index_version, reloaded.swapped) == ("v2", True)
        probe = versions["v2"].vectors[list(versions["v2"].movie_ids).index(2571)]
        top = await retrieval.Search(retrieval_pb2.SearchRequest(vector=probe.tolist(), k=1), timeout=5)
        assert (top.index_version, top.hits[0].movie_id) == ("v2", 2571)
        assert top.hits[0].score == pytest.approx(1.0, abs=1e-4)
        await asyncio.sleep(0.5)
        # 2. Repointing `current` is picked up by the watcher.
        point_current(root, "v3")
        await wait_version(retrieval, "v3")
        await asyncio.sleep(0.5)
        # 3. A corrupted version is refused, by RPC and by the watcher; v3 keeps serving.
        shutil.copytree(root / "v3", root / "v4")
        manifest = json.loads((root / "v4" / "manifest.json").read_text())
        (root / "v4" / "manifest.json").write_text(json.dumps({**manifest, "version": "v4"}))
        corrupt(root / "v4")
        with pytest.raises(grpc.RpcError) as raised:
            await admin_stub.ReloadIndex(retrieval_pb2.ReloadIndexRequest(index_version="v4"), timeout=60,
                                         metadata=ADMIN_METADATA)
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "checksum" in raised.value.details() and "still serving v3" in raised.value.details()
        point_current(root, "v4")
        await wait_for_log(proc, "index reload failed; still serving v3")
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*workers)
        info = await retrieval.GetIndexInfo(retrieval_pb2.GetIndexInfoRequest(), timeout=5)

    assert errors == [], errors[:5]
    assert info.index_version == "v3"
    assert calls > 100
    for versions_seen in seen:
        assert versions_seen == ["v1", "v2", "v3"], seen


async def wait_version(retrieval, version: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = await retrieval.GetIndexInfo(retrieval_pb2.GetIndexInfoRequest(), timeout=5)
        if info.index_version == version:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"index {version} was never swapped in (serving {info.index_version})")
