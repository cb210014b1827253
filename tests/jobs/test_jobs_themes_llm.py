"""Theme names from an LLM (a scripted OpenAI-compatible server: what a model says cannot be chosen on
demand): a name is served only when every content word of it is one of the theme's passing terms."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from movierec_jobs.themes import name_with_llm
from movierec_llm.client import LlmClient
from movierec_llm.settings import LlmSettings

sys.path.insert(0, str(Path(__file__).parents[1] / "ranker"))  # the scripted LLM server lives with the ranker tests
from ranker_fake_llm import FakeChatServer


@dataclass
class Titled:
    title: str


class TinyCatalog:
    """Only what the namer asks a catalog for: a member's title."""

    def __init__(self, titles: dict[int, str]):
        self.titles = titles

    def get(self, movie_id: int) -> Titled | None:
        return Titled(self.titles[movie_id]) if movie_id in self.titles else None


def term(kind: str, text: str, label: str, share: float) -> dict:
    return {"kind": kind, "term": text, "label": label, "members": 40, "share": share, "shareOfAll": share,
            "score": 1.0}


def themes() -> list[dict]:
    crime = [term("descriptor", "mafia", "Mafia", 0.31), term("genre", "Crime", "Crime", 0.72)]
    comedy = [term("genre", "Comedy", "Comedies", 0.81), term("decade", "1990s", "1990s", 0.44)]
    return [
        {"id": 0, "name": "Mafia Crime", "nameTerms": crime, "distinctiveTerms": crime, "movieIds": [858, 1221]},
        {"id": 1, "name": "1990s Comedies", "nameTerms": comedy, "distinctiveTerms": comedy, "movieIds": [1, 2]},
        {"id": 2, "name": "Mafia Crime 2", "nameTerms": crime, "distinctiveTerms": crime, "movieIds": [1213]},
    ]


@pytest.fixture
def llm():
    with FakeChatServer() as server:
        yield server


def test_a_name_of_facts_is_served_and_an_invented_or_taken_one_is_refused(llm):
    llm.script.theme_names = ["Mafia Crime Stories", "Space Opera Adventures", "Mafia Crime Stories"]
    client = LlmClient(LlmSettings(base_url=llm.base_url, model="fake", timeouts_s={"theme": 5.0}))
    named = themes()
    name_with_llm(named, TinyCatalog({858: "The Godfather", 1221: "The Godfather: Part II", 1: "Toy Story"}), client)

    assert named[0]["name"] == "Mafia Crime Stories" and named[0]["nameSource"] == "llm"
    assert named[0]["offlineName"] == "Mafia Crime"
    assert named[1]["name"] == "1990s Comedies" and named[1]["nameSource"] == "facts"  # the offline name stays
    assert named[1]["llmRefused"]["name"] == "Space Opera Adventures"
    assert "space" in named[1]["llmRefused"]["why"] and "opera" in named[1]["llmRefused"]["why"]
    assert named[2]["name"] == "Mafia Crime 2" and named[2]["llmRefused"]["why"] == "another theme has this name"

    # What the model was shown: the theme's terms with their shares and its members' titles, nothing else.
    first = llm.script.requests[0]["messages"][1]["content"]
    assert "Mafia (31% of the movies)" in first and "Crime (72% of the movies)" in first
    assert "The Godfather; The Godfather: Part II" in first


def test_an_unreachable_model_keeps_every_offline_name(llm):
    llm.script.mode = "http_500"
    client = LlmClient(LlmSettings(base_url=llm.base_url, model="fake", timeouts_s={"theme": 5.0}))
    named = themes()
    name_with_llm(named, TinyCatalog({}), client)
    assert [t["name"] for t in named] == ["Mafia Crime", "1990s Comedies", "Mafia Crime 2"]
    assert all(t["nameSource"] == "facts" and t["llmRefused"]["name"] is None for t in named)
