"""Review clauses and their polarity: praise pulls, complaints push, neutral description says nothing."""

from __future__ import annotations

from profile_service.sentiment import polar_clauses, split_clauses


def polarities(text: str) -> list[tuple[str, str]]:
    return [(c.text, "+" if c.polarity > 0 else "-") for c in polar_clauses(text)]


def test_contrast_splits_praise_from_complaint():
    assert polarities("loved the soundtrack but far too slow") == [("loved the soundtrack", "+"),
                                                                   ("far too slow", "-")]
    assert polarities("The ending dragged on forever. Amazing visuals though") == [
        ("The ending dragged on forever", "-"), ("Amazing visuals", "+")]
    assert polarities("boring, predictable, but the cast was wonderful")[-1] == ("the cast was wonderful", "+")


def test_negation_and_complaint_patterns_and_neutral_text():
    assert polarities("not bad at all") == [("not bad at all", "+")]
    assert polarities("too violent for me") == [("too violent for me", "-")]
    assert polarities("I hated it") == [("I hated it", "-")]
    assert polarities("a heist film set in Los Angeles") == []  # a description, no sentiment
    assert polarities("") == [] and split_clauses("ok") == []
