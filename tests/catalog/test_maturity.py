"""Maturity estimates: the bounds, the choice of τ, and how the catalog joins the artifact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from movierec_catalog import load_catalog
from movierec_catalog.build import build
from movierec_catalog.maturity import (
    CAPS,
    FLOORS,
    MPAA,
    artifact_key,
    bounds,
    break_counts,
    choose_tau,
    estimate_rows,
    upper_95,
    write_artifact,
)


def test_bounds_follow_the_cumulative_probabilities():
    probs = np.array([[0.6, 0.3, 0.08, 0.02, 0.0],  # P(≤PG) = 0.9, P(≥G) = 1
                      [0.0, 0.05, 0.15, 0.7, 0.1]])  # P(≤R) = 0.9; P(≥PG-13) = 0.95
    upper, lower = bounds(probs, 0.9)
    assert [MPAA[i] for i in upper] == ["PG", "R"]
    assert [MPAA[i] for i in lower] == ["G", "PG-13"]
    upper, lower = bounds(probs, 0.99)
    assert [MPAA[i] for i in upper] == ["R", "NC-17"]
    assert [MPAA[i] for i in lower] == ["G", "PG"]


def test_break_counts_by_hand():
    probs = np.array([[0.95, 0.05, 0, 0, 0], [0.95, 0.05, 0, 0, 0], [0, 0, 0.02, 0.97, 0.01]])
    y = np.array([0, 3, 3])  # the second movie is really R although the model is sure of G
    counts = break_counts(probs, y, 0.9)
    assert counts["max G"] == (2, 1)
    assert counts["max PG-13"] == (2, 1)
    assert counts["max R"] == (3, 0)  # R is within a cap of R
    assert counts["min R"] == (1, 0)
    assert set(counts) == {f"max {c}" for c in CAPS} | {f"min {f}" for f in FLOORS}


def test_choose_tau_meets_the_target_on_held_out_calibrated_data():
    """With calibrated probabilities, a τ chosen on one half keeps the other half's break rates near 1%."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(len(MPAA), 0.3), size=20000)
    y = np.array([rng.choice(len(MPAA), p=p) for p in probs])
    tau = choose_tau(probs[:10000], y[:10000], target=0.01)
    assert 0.5 < tau < 0.999
    held_out = break_counts(probs[10000:], y[10000:], tau)
    measured = {limit: b / a for limit, (a, b) in held_out.items() if a >= 200}
    assert len(measured) >= 4, held_out
    assert max(measured.values()) < 0.02, held_out
    # A lower τ would have broken some limit on the half it was chosen on.
    lower = round(tau - 0.005, 3)
    assert any(b > 0.01 * a for a, b in break_counts(probs[:10000], y[:10000], lower).values())


def test_upper_95_clopper_pearson():
    assert upper_95(0, 0) is None
    assert upper_95(0, 300) == pytest.approx(1 - 0.05 ** (1 / 300), rel=1e-6)
    assert 0.01 < upper_95(3, 300) < 0.03


@pytest.fixture()
def small_catalog(small_data, tmp_path):
    result = build(small_data, tmp_path / "catalog", tmp_path / "cache", use_cache=False)
    return load_catalog(result.path)


def _write(tmp_path, catalog, rows, plot_dir):
    plot = plot_dir / "maturity_calibration.png"
    plot.write_bytes(b"\x89PNG not really")
    key = artifact_key(catalog.manifest, None)
    vdir = write_artifact(tmp_path / "maturity", key, rows, {"catalog_version": catalog.version, "key": key}, plot)
    return vdir


def test_catalog_joins_estimates_only_for_uncertified_movies(small_catalog, tmp_path, monkeypatch):
    movies = small_catalog.movies
    unrated = movies[movies["certification"].isna()]["movie_id"].tolist()
    rated = movies[movies["certification"].notna()]["movie_id"].tolist()
    assert unrated and rated
    ids = np.array(unrated[:1] + rated[:1])
    probs = np.tile([0.05, 0.8, 0.1, 0.05, 0.0], (len(ids), 1))
    vdir = _write(tmp_path, small_catalog, estimate_rows(ids, probs, 0.95), tmp_path)
    monkeypatch.setenv("MOVIEREC_MATURITY_DIR", str(vdir))
    joined = load_catalog(small_catalog.path)
    first = joined.get(unrated[0])
    assert (first.certification, first.certification_estimate, first.certification_confidence) == (None, "PG", 0.8)
    assert (first.certification_estimate_max, first.certification_estimate_min) == ("PG-13", "PG")  # P(≥PG) = 0.95
    assert joined.movies.loc[unrated[0], "certification_estimate_max"] == "PG-13"
    official = joined.get(rated[0])
    assert official.certification and official.certification_estimate is None  # never next to an official one


def test_catalog_without_usable_estimates_loads_with_none(small_catalog, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MOVIEREC_MATURITY_DIR", str(tmp_path / "absent"))
    unrated = int(small_catalog.movies[small_catalog.movies["certification"].isna()]["movie_id"].iloc[0])
    assert load_catalog(small_catalog.path).get(unrated).certification_estimate is None

    probs = np.array([[0.05, 0.8, 0.1, 0.05, 0.0]])
    vdir = _write(tmp_path, small_catalog, estimate_rows(np.array([unrated]), probs, 0.95), tmp_path)
    monkeypatch.setenv("MOVIEREC_MATURITY_DIR", str(vdir))
    assert load_catalog(small_catalog.path).get(unrated).certification_estimate == "PG"

    (vdir / "estimates.parquet").write_bytes(b"corrupt")  # checksum no longer matches
    assert load_catalog(small_catalog.path).get(unrated).certification_estimate is None
    assert "checksum" in caplog.text

    manifest = json.loads((vdir / "manifest.json").read_text())
    manifest["catalog_version"] = "another"  # estimates made for a different catalog
    (vdir / "manifest.json").write_text(json.dumps(manifest))
    assert load_catalog(small_catalog.path).get(unrated).certification_estimate is None
