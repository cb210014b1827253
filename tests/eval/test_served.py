"""The served-configuration plumbing: live settings are read (not copied), the selection rule, tie orders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "eval"))

from movierec_eval import served  # noqa: E402
from movierec_eval.data import leave_last_out  # noqa: E402
from movierec_eval.select_served import choose  # noqa: E402


def test_live_config_follows_the_ranker_environment(monkeypatch):
    monkeypatch.setenv("RANKER_ALPHA", "0.25")
    monkeypatch.setenv("RANKER_MMR_LAMBDA", "0.9")
    monkeypatch.setenv("RANKER_COLLAB_CANDIDATES", "37")
    monkeypatch.setenv("GATEWAY_CANDIDATES", "44")
    config = served.live_config()
    assert (config.alpha, config.mmr_lambda, config.collab_candidates, config.retrieval_k) == (0.25, 0.9, 37, 44)
    assert config.candidates_only is False  # top picks without words: the ranker may add its own
    monkeypatch.setenv("RANKER_HYBRID_CANDIDATES", "false")
    assert served.live_config().collab_candidates == 0


def test_served_defaults_file_is_what_the_settings_read(tmp_path):
    from ranker_service.settings import SERVED_DEFAULTS_FILE, ServedDefaults

    path = tmp_path / "served_defaults.json"
    path.write_text(json.dumps({"alpha": 0.4, "mmr_lambda": 0.8, "collab_candidates": 150}))
    assert ServedDefaults.load(path) == ServedDefaults(0.4, 0.8, 150)
    assert ServedDefaults.load(tmp_path / "absent.json") == ServedDefaults()
    if SERVED_DEFAULTS_FILE.exists():
        assert "selected_by" in json.loads(SERVED_DEFAULTS_FILE.read_text())


def test_eval_reads_the_gateway_default_candidate_count(monkeypatch):
    from gateway_service.settings import GatewaySettings

    for name in ("EMBEDDING_ADDR", "RETRIEVAL_ADDR", "PROFILE_ADDR", "RANKER_ADDR"):
        monkeypatch.setenv(name, "127.0.0.1:1")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("GATEWAY_DEV_MODE", "true")
    monkeypatch.delenv("GATEWAY_CANDIDATES", raising=False)
    assert GatewaySettings.from_env().candidates == served.GATEWAY_CANDIDATES_DEFAULT


def test_selection_prefers_the_most_diverse_setting_within_tolerance():
    grid = [{"config": {"alpha": 0.5, "mmr_lambda": 1.0}, "score": 0.100},
            {"config": {"alpha": 0.5, "mmr_lambda": 0.7}, "score": 0.0985},
            {"config": {"alpha": 0.6, "mmr_lambda": 0.5}, "score": 0.090}]
    assert choose(grid)["config"] == {"alpha": 0.5, "mmr_lambda": 0.7}
    assert choose(grid[:1])["config"]["mmr_lambda"] == 1.0


def test_random_tie_order_only_reorders_ratings_of_the_same_second():
    rows = [(u, m, 4.0, 100 if m >= 3 else m) for u in (1, 2, 3) for m in range(1, 8)]
    ratings = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])
    fixed, shuffled = leave_last_out(ratings, "t"), leave_last_out(ratings, "t", tie_seed=3)
    assert fixed.test_tied.all() and shuffled.test_tied.all()
    assert "random" in shuffled.stats["tie_rule"]
    for user in range(3):  # the same-second block is the last five ratings; only their order may differ
        a = fixed.universe.item_ids[np.r_[fixed.with_validation.items[user], fixed.test_items[user]]]
        b = shuffled.universe.item_ids[np.r_[shuffled.with_validation.items[user], shuffled.test_items[user]]]
        assert list(a[:2]) == list(b[:2]) == [1, 2] and sorted(a[2:]) == sorted(b[2:])
    assert any(fixed.test_items[u] != shuffled.test_items[u] for u in range(3))
