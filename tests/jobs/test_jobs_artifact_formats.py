"""The serving side owns each artifact's format; the jobs write it and serving reads it back
(docs/architecture.md §1.1)."""

from __future__ import annotations

import numpy as np
import pytest

from gateway_service.taste_map import load_taste_map
from movierec_jobs.taste_map import _write, fit_pca
from ranker_service.sequence_model import SeqEaseParams, SequenceModel


def test_the_served_seqease_parameters_are_read_from_the_artifact(tmp_path):
    params = SeqEaseParams(window=3, stride=1, lam=5.0, decay=0.5, min_support=1)
    model = SequenceModel.fit([[1, 2, 3, 4], [2, 3, 4, 5], [1, 3, 5]], params)
    model.save(tmp_path / "seqease")
    assert SeqEaseParams.fitted_in(tmp_path / "seqease") == params
    assert SeqEaseParams.fitted_in(tmp_path / "absent") == SeqEaseParams()


def test_a_taste_map_the_job_writes_is_what_the_gateway_loads(tmp_path):
    vectors = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    mean, basis, _ = fit_pca(vectors)
    coords = ((vectors - mean) @ basis.T).astype(np.float32)
    manifest = {"index_version": "v1", "scale": 1.0}
    _write(tmp_path / "v1", manifest, mean=mean.astype(np.float32), components=basis.astype(np.float32),
           movie_ids=np.arange(20, dtype=np.int64), coords=coords, anchor_vectors=vectors[:2])
    loaded = load_taste_map(tmp_path / "v1")
    assert loaded.index_version == "v1" and loaded.genre_names == ()
    assert loaded.project(vectors[3]) == pytest.approx((float(coords[3, 0]), float(coords[3, 1])), abs=1e-5)
