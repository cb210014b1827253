"""Serving never imports the offline jobs (docs/architecture.md "Offline jobs"): no module under services/
or libs/ imports ``movierec_jobs``, the tier images copy no jobs/, and the artifacts image runs them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVING_ROOTS = ("services", "libs")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def serving_modules() -> list[Path]:
    return sorted(p for root in SERVING_ROOTS for p in (REPO / root).rglob("*.py"))


def test_there_is_serving_code_to_check():
    assert len(serving_modules()) > 50


@pytest.mark.parametrize("root", SERVING_ROOTS)
def test_serving_code_never_imports_the_jobs(root):
    offenders = [f"{path.relative_to(REPO)} imports {name}"
                 for path in serving_modules() if path.relative_to(REPO).parts[0] == root
                 for name in imported_modules(path) if name.split(".")[0] == "movierec_jobs"]
    assert not offenders, "serving code imports an offline job: " + "; ".join(offenders)


def test_no_offline_job_is_left_in_a_serving_package():
    moved = ["services/ranker/ranker_service/train.py", "services/ranker/ranker_service/calibrate.py",
             "services/ranker/ranker_service/finetune_data.py", "services/ranker/ranker_service/sequence_train.py",
             "services/embedding/embedding_service/index_job.py",
             "services/embedding/embedding_service/keyphrase_job.py",
             "services/profile/profile_service/export_log.py", "services/profile/profile_service/replay.py",
             "services/gateway/gateway_service/themes_build.py"]
    assert [m for m in moved if (REPO / m).exists()] == []


def test_the_tier_images_copy_no_jobs_and_the_artifacts_image_runs_them():
    tier = (REPO / "deploy" / "docker" / "tier.Dockerfile").read_text()
    copies = [line for line in tier.splitlines() if line.startswith("COPY ")]
    assert copies and not any("jobs" in line for line in copies)
    artifacts = (REPO / "deploy" / "docker" / "artifacts.Dockerfile").read_text()
    assert "COPY jobs/ jobs/" in artifacts and "/src/jobs" in artifacts
    assert "python -m movierec_jobs.index" in artifacts
