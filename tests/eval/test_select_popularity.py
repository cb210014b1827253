"""The popularity prior's selection rule (eval/movierec_eval/select_popularity.py) and its report."""

from movierec_eval.select_popularity import choose, markdown


def _row(split, beta, hits, targets=127):
    return {"split": split, "beta": beta, "hits": hits, "targets": targets, "recall@10": round(hits / targets, 4),
            "recall@shown": 0.0, "failed_turns": 0}


def test_the_smallest_beta_within_one_hit_of_the_best_wins():
    assert choose([_row("dev", 0.0, 9), _row("dev", 0.3, 11), _row("dev", 0.5, 11), _row("dev", 1.0, 12)]) == 0.3
    assert choose([_row("dev", 0.0, 9), _row("dev", 0.3, 9), _row("dev", 1.0, 12)]) == 1.0
    assert choose([_row("dev", 0.0, 5), _row("dev", 0.2, 5)]) == 0.0


def test_the_report_shows_every_run_and_the_choice():
    report = {"command": "python -m movierec_eval.select_popularity", "machine": "2 CPUs", "seconds": 1,
              "dev": [_row("dev", 0.0, 9), _row("dev", 0.3, 11)], "test": [_row("test", 0.0, 7), _row("test", 0.3, 8)],
              "chosen": 0.3, "written": True}
    text = markdown(report)
    assert text.count("| dev |") == 2 and text.count("| test |") == 2 and "**β = 0.3**" in text
