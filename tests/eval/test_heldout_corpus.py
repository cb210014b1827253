"""The held-out dialogue requests (eval/dialogue/heldout_requests.jsonl) and the report they feed.

Fast: no system is started. The JSONL must parse, match the hand-written file it is built from, name
only movies that resolve in MovieLens with the independent raw reader, cover every constraint class in
negated, coordinated and hedged forms, and share no message or INSPIRED source with the development
corpus (a test the parser was tuned on is no test).
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict

import pytest

from movierec_eval.dialogue_eval import (
    CONSTRAINT_SLOTS,
    CORPUS,
    SlotCounts,
    Tally,
    count_understanding_source,
    fallback_kind,
    read_jsonl,
    summarise,
    write_reports,
)
from movierec_eval.raw_facts import default_root, load

CLASSES = ("negation", "audience", "runtime", "years", "language", "titles", "lists", "franchises", "relative")


@pytest.fixture(scope="module")
def heldout():
    return read_jsonl(CORPUS / "heldout_requests.jsonl")


@pytest.fixture(scope="module")
def facts():
    return load(default_root())


def test_at_least_150_requests_with_unique_ids(heldout):
    assert len(heldout) >= 150
    assert len({r["id"] for r in heldout}) == len(heldout)
    assert all(r["id"].startswith("heldout-") for r in heldout)


def test_jsonl_is_built_from_the_hand_written_file(heldout):
    sys.path.insert(0, str(CORPUS))
    try:
        from heldout_requests import HELDOUT_REQUESTS
    finally:
        sys.path.remove(str(CORPUS))
    assert [r["message"] for r in heldout] == [r["message"] for r in HELDOUT_REQUESTS], (
        "heldout_requests.jsonl is stale: PYTHONPATH=eval .venv/bin/python eval/dialogue/build.py"
    )


def test_every_label_has_the_schema(heldout):
    for record in heldout:
        expect = record["expect"]
        assert set(expect["constraints"]) == set(CONSTRAINT_SLOTS), record["id"]
        assert expect["acts"] and all(isinstance(a, str) for a in expect["acts"])
        assert isinstance(expect["seeds"], list) and isinstance(expect["relative"], list)


def test_every_title_resolves_in_movielens(heldout, facts):
    checked = 0
    for record in heldout:
        c = record["expect"]
        titles = [*c["seeds"], *c["relative"], *c["constraints"]["exclude_titles"]]
        titles += [m for f in c["constraints"]["exclude_franchises"] for m in f["members"]]
        for title in titles:
            movie = facts.get(title["movie_id"])
            assert movie is not None, (record["id"], title)
            assert (movie.title, movie.year) == (title["title"], title["year"]), (record["id"], title)
            checked += 1
    assert checked >= 100


def test_every_class_has_negated_coordinated_and_hedged_forms(heldout):
    forms = defaultdict(set)
    for record in heldout:
        forms[record["class"]].add(record["form"])
    for cls in CLASSES:
        assert cls in forms, cls
    hedged = {cls for cls, f in forms.items() if "hedged" in f}
    assert len(hedged) >= 8, sorted(hedged)
    assert sum("negated" in f for f in forms.values()) >= 7
    assert sum("coordinated" in f for f in forms.values()) >= 7


def test_sources_are_inspired_test_seeker_turns_unused_by_the_development_corpus(heldout):
    def key(message):
        return " ".join(re.sub(r"[^a-z0-9]+", " ", message.lower()).split())

    dev = read_jsonl(CORPUS / "requests.jsonl")
    dev_turns = [t for d in read_jsonl(CORPUS / "dialogues.jsonl") for t in d["turns"]]
    dev_sources = {(s["dialog_id"], s["utt_id"]) for s in (r["source"] for r in [*dev, *dev_turns]) if s}
    sourced = [r for r in heldout if r["source"]]
    assert len(sourced) >= 10
    assert all(r["source"]["split"] == "test" for r in sourced)
    assert not {(r["source"]["dialog_id"], r["source"]["utt_id"]) for r in sourced} & dev_sources
    assert not {key(r["message"]) for r in heldout} & {key(r["message"]) for r in dev}


def test_fallback_reasons_are_counted_by_kind():
    assert fallback_kind("timeout: no answer in 6.0 s") == "timeout"
    assert fallback_kind("invalid_output: missing field 'act'") == "invalid_output"
    assert fallback_kind("not configured") == "not configured"
    tally = Tally()
    assert count_understanding_source(tally, {"understoodBy": "rules", "llmFallback": "timeout: 6 s"}) == {
        "understood_by": "rules", "llm_fallback": "timeout: 6 s"}
    count_understanding_source(tally, {"understoodBy": "rules+llm", "llmFallback": None})
    count_understanding_source(tally, {})
    assert tally.understood_by == {"rules": 1, "rules+llm": 1, "(absent)": 1}
    assert tally.llm_fallback == {"timeout": 1}


def test_report_has_a_separate_held_out_section(tmp_path):
    def run(tp, fp, fn):
        tally = Tally()
        tally.slots["max_runtime_min"] = SlotCounts(tp, fp, fn)
        tally.understood_by["rules"] = tp + fn
        return summarise(tally, [], 1.0), [], tally

    write_reports(tmp_path, {"development": run(9, 1, 0), "heldout": run(3, 0, 1)}, "dialogue-x",
                  {"corpus": "both"})
    text = (tmp_path / "dialogue-x.md").read_text()
    dev_part, held_part = text.split("## Held-out requests")
    assert "| max_runtime_min | 0.9 | 1.0 | 0.9474 | 9 | 1 | 0 |" in dev_part
    assert "| max_runtime_min | 1.0 | 0.75 | 0.8571 | 3 | 0 | 1 |" in held_part
    report = json.loads((tmp_path / "dialogue-x.json").read_text())
    assert report["summary"]["slots"]["max_runtime_min"]["tp"] == 9
    assert report["heldout"]["summary"]["slots"]["max_runtime_min"]["fn"] == 1
