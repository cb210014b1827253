"""The catalog embedding job on the real catalog with the real packaged model."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import faiss
import numpy as np
import pytest
from embedding_helpers import default_settings

from embedding_service.backends import PACKAGED_MODEL_LABEL, EmbedKind, model_identity, resolve_model_path
from embedding_service.settings import PACKAGED_MODEL
from movierec_catalog.catalog import load_catalog
from movierec_core.index_artifact import load_index_artifact
from movierec_core.paths import REPO_ROOT
from movierec_jobs.index import artifact_version, build_index, index_params

TOY_STORY = 1


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def refuse_to_load(_settings):
    raise AssertionError("the model was loaded although every vector should come from a cache")


def self_hits(index, vectors: np.ndarray) -> np.ndarray:
    """Row i's nearest neighbour in ``index`` (should be i itself)."""
    _scores, ids = index.search(vectors, 1)
    return ids[:, 0]


def test_subset_build_then_rerun_and_other_index_kinds_do_no_embedding(tmp_path, catalog, minilm):
    out, cache = tmp_path / "index", tmp_path / "cache"
    settings = default_settings()

    first = build_index(catalog, out, settings, "flat", limit=12, cache_root=cache,
                        backend_factory=lambda _s: minilm, progress=False)
    assert (first.reused, first.count, first.embedded) == (False, 12, 12)
    artifact = load_index_artifact(out / "current")
    assert artifact.version == first.version and first.version.startswith("flat-")
    expected_ids = sorted(catalog.movies.index)[:12]
    assert artifact.movie_ids.tolist() == expected_ids
    assert artifact.manifest["model"] == PACKAGED_MODEL_LABEL
    assert (artifact.manifest["dim"], artifact.manifest["index_kind"]) == (384, "flat")
    assert artifact.manifest["catalog_version"] == catalog.version and artifact.manifest["subset"] is True
    np.testing.assert_allclose(np.linalg.norm(artifact.vectors, axis=1), 1.0, atol=1e-5)
    texts = catalog.movies.loc[expected_ids, "embedding_text"].tolist()
    np.testing.assert_allclose(artifact.vectors, minilm.encode(texts, EmbedKind.DOCUMENT), atol=1e-4)

    started = time.perf_counter()
    again = build_index(catalog, out, settings, "flat", limit=12, cache_root=cache,
                        backend_factory=refuse_to_load, progress=False)
    assert (again.reused, again.embedded, again.version) == (True, 0, first.version)
    assert time.perf_counter() - started < 3.0

    for kind, index_type in (("hnsw", faiss.IndexHNSWFlat), ("ivf", faiss.IndexIVFFlat)):
        other = build_index(catalog, out, settings, kind, limit=12, cache_root=cache,
                            backend_factory=refuse_to_load, progress=False)
        assert (other.reused, other.embedded, other.from_cache) == (False, 0, 12)
        assert other.version.startswith(f"{kind}-") and other.version != first.version
        index = faiss.read_index(str(out / "current" / "index.faiss"))
        assert isinstance(index, index_type) and index.metric_type == faiss.METRIC_INNER_PRODUCT
        assert self_hits(index, artifact.vectors).tolist() == list(range(12))


def test_a_changed_catalog_reembeds_only_the_changed_texts(tmp_path, catalog, minilm):
    cache = tmp_path / "cache"
    ids = sorted(catalog.movies.index)[:6]
    build_index(catalog, tmp_path / "a", default_settings(), movie_ids=ids, cache_root=cache,
                backend_factory=lambda _s: minilm, progress=False)
    movies = catalog.movies.copy()
    movies.loc[ids[2], "embedding_text"] = movies.loc[ids[2], "embedding_text"] + " Tags: rebuilt."
    changed = SimpleNamespace(movies=movies, version=catalog.version + "-changed")
    build = build_index(changed, tmp_path / "b", default_settings(), movie_ids=ids, cache_root=cache,
                        backend_factory=lambda _s: minilm, progress=False)
    assert (build.reused, build.embedded, build.from_cache) == (False, 1, 5)


def test_a_different_model_gets_a_new_version(tmp_path):
    packaged = resolve_model_path(PACKAGED_MODEL)
    copy = tmp_path / "my-minilm"
    copy.mkdir()
    for file in packaged.rglob("*"):
        if file.is_file() and "__pycache__" not in file.parts:
            target = copy / file.relative_to(packaged)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(file)
    (copy / "README.md").unlink()
    (copy / "README.md").write_text("fine-tuned elsewhere\n")

    ids = np.arange(10)
    params = index_params("flat", 10)
    versions = {
        name: artifact_version("cat-1", ids, True, model_identity(default_settings(model=model)), "flat", params)
        for name, model in (("packaged", PACKAGED_MODEL), ("copy", str(copy)), ("hub", "BAAI/bge-base-en-v1.5"))
    }
    assert len(set(versions.values())) == 3
    same = artifact_version("cat-1", ids, True, model_identity(default_settings()), "flat", params)
    assert same == versions["packaged"]
    bge = model_identity(default_settings(model="BAAI/bge-base-en-v1.5"))
    assert bge.query_prefix.startswith("Represent this sentence") and bge.document_prefix == ""


def run_job(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "movierec_jobs.index", "--no-progress", *args],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def test_cli_rerun_says_reused_and_bad_ids_are_a_clear_error(tmp_path):
    out = str(tmp_path / "index")
    first = run_job("--limit", "5", "--out", out)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("built flat-")
    started = time.perf_counter()
    second = run_job("--limit", "5", "--out", out)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("reused flat-") and "nothing embedded" in second.stdout
    assert time.perf_counter() - started < 15  # interpreter + catalog load, no model
    assert (Path(out) / "current").resolve().name == second.stdout.split()[1].rstrip(":")

    bad = run_job("--movie-ids", "1,999999999", "--out", out)
    assert bad.returncode == 2
    assert "movie ids not in the catalog: [999999999]" in bad.stderr


@pytest.mark.slow
def test_plain_language_query_finds_toy_story_in_the_full_catalog(tmp_path, catalog, minilm):
    """The full catalog (9.7k texts): its vectors come from ~/.cache/movierec after the first build."""
    build = build_index(catalog, tmp_path / "index", default_settings(), "flat",
                        backend_factory=lambda _s: minilm, progress=False)
    assert build.count == len(catalog.movies)
    artifact = load_index_artifact(build.path)
    index = faiss.read_index(str(build.path / "index.faiss"))
    query = minilm.encode(["toys that come to life when people leave the room"], EmbedKind.QUERY)
    _scores, rows = index.search(query, 5)
    top5 = artifact.movie_ids[rows[0]].tolist()
    assert TOY_STORY in top5, [catalog.movies.loc[m, "title"] for m in top5]
