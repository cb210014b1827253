"""The worker's liveness probe, run for real: a Celery worker started with the manifest's configuration
(paths and broker pointed at this machine) passes it, and the same probe fails once the worker is gone.

`python -m profile_service.worker` has no `--ping` flag (it would start a second worker inside the
probe), so the probe is a remote-control ping of this pod's worker through the broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from deploy_helpers import container_env, main_container, named, render

from movierec_core.devstack import spawn
from movierec_core.index_artifact import point_current, write_index_artifact

STARTUP_TIMEOUT_S = 90


def tiny_index(root) -> None:
    """A real (if tiny) index artifact: the worker loads and verifies the movie vectors at start."""
    vectors = np.eye(3, 8, dtype=np.float32)
    write_index_artifact(root / "index", "probe-v1", {"model": "deploy-test"}, np.array([1, 2, 3]), vectors,
                         lambda path: path.write_bytes(b"flat"))
    point_current(root / "index", "probe-v1")


def local_env(redis_url: str, artifacts) -> dict[str, str]:
    """The worker's manifest environment, with /artifacts and the Redis Service replaced by local ones."""
    env = dict(os.environ)
    for name, value in container_env(render("overlays/dev"), "worker").items():
        value = str(value).replace("/artifacts", str(artifacts))
        env[name] = redis_url if value.startswith("redis://") else value
    env["WORKER_CONCURRENCY"] = "1"  # two cores shared with other test runs
    return env


def run_probe(command: list[str], env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess:
    argv = [sys.executable if part == "python" else part for part in command]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s)


@pytest.mark.slow
def test_worker_probe_passes_for_a_live_worker_and_fails_without_one(redis_url, tmp_path):
    container = main_container(named(render("overlays/dev"), "Deployment", "worker"))
    probe = container["livenessProbe"]
    command, timeout_s = probe["exec"]["command"], probe["timeoutSeconds"]
    tiny_index(tmp_path / "artifacts")
    env = local_env(redis_url, tmp_path / "artifacts")
    worker = spawn("worker", [sys.executable, "-m", *container["command"][2:]], env, tmp_path / "logs")
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            result = run_probe(command, env, timeout_s)
            if result.returncode == 0:
                break
            assert worker.alive(), f"the worker exited:\n{worker.log_tail()}"
            assert time.monotonic() < deadline, f"probe never passed:\n{result.stderr}\n{worker.log_tail()}"
    finally:
        worker.stop()
    after = run_probe(command, env, timeout_s)
    assert after.returncode == 1, f"the probe passed with no worker running:\n{after.stdout}{after.stderr}"
