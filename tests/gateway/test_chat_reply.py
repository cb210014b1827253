"""Replies: the LLM reply's name check and streaming, and follow-up answers from verified facts (pure)."""

from __future__ import annotations

import asyncio

import pytest
from gateway_helpers import catalog

from gateway_service.dialogue import followup
from gateway_service.dialogue.llm_reply import LlmReply, checker_for, pick_facts, split_sentences, stream_checked
from gateway_service.dialogue.state import PickFactor, ShownPick
from gateway_service.dialogue.understanding import TitleRef
from gateway_service.schemas import Card, Factor

HEAT, GODFATHER = 6, 858


def _card(movie_id: int, factors: list[Factor]) -> Card:
    movie = catalog().get(movie_id)
    return Card(movie_id=movie_id, title=movie.title, year=movie.year, poster_url="", placeholder_url="",
                match_score=0.8, explanation="A Crime film like The Godfather.", factors=factors,
                genres=list(movie.genres), runtime_min=movie.runtime_min, certification=movie.certification)


def _heat_checker():
    heat = catalog().get(HEAT)
    factors = [Factor(kind="genre", value="Crime", source_movie_id=GODFATHER, source_title="The Godfather"),
               Factor(kind="director", value=heat.director)]
    return checker_for([_card(HEAT, factors)], catalog(), history=["Goodfellas"]), heat


def test_names_of_the_picks_their_facts_and_the_history_pass():
    checker, heat = _heat_checker()
    actor = heat.cast[0]
    text = (f"Both picks fit your taste. Heat is a tense Crime story directed by {heat.director}, starring {actor}. "
            "If you loved Goodfellas and The Godfather, it's a natural next watch.")
    assert checker.unverified(text) == []


def test_greetings_are_not_names():
    checker, _ = _heat_checker()
    # the real 0.5B model opens its replies like this
    assert checker.unverified("Hi! Here are some picks. Hello there, Heat is a Crime classic.") == []
    assert checker.unverified("Hey, you might like Ronin.") == ["Ronin"]
    assert checker.unverified("I’m sure you'll enjoy Heat. I'm also fond of Heat. It’s a Crime film.") == []
    assert checker.unverified("Since you asked for no Horror and no Thriller, Heat fits.") == []
    # the reply's own frame, capitalized mid-sentence by the real model; a real name beside it still counts
    assert checker.unverified("Here are your Picks for tonight: Heat, a Crime Movie to Enjoy.") == []
    assert checker.unverified("Picks like Heat and Ronin") == ["Heat and Ronin"]


def test_a_name_outside_the_picks_and_history_is_caught():
    checker, _ = _heat_checker()
    assert checker.unverified("Heat is great. You might also enjoy Ronin with Jean Reno.") == ["Ronin with Jean Reno"]
    assert checker.unverified("Heat was directed by Steven Spielberg.") == ["Steven Spielberg"]
    assert checker.unverified("It won the Academy Award.") == ["Academy Award"]


def test_sentences_split_on_ends_and_newlines():
    assert split_sentences("One. Two! Three?\nFour") == ["One.", "Two!", "Three?", "Four"]


def test_pick_facts_hold_only_verified_reasons_and_catalog_facts():
    heat = catalog().get(HEAT)
    facts = pick_facts([_card(HEAT, [Factor(kind="director", value=heat.director)])], catalog())[0]
    assert facts["title"] == f"Heat ({heat.year})"
    assert f"directed by {heat.director}" in facts["facts"] and "Crime" in facts["facts"]


class _Stream:
    """A test double of movierec_llm's TextStream: yields the given chunks, then sets ``result``."""

    def __init__(self, chunks, ok=True, error=None):
        self._chunks, self._ok, self._error = chunks, ok, error
        self.result = None

    def __aiter__(self):
        return self._gen()

    async def _gen(self):
        for chunk in self._chunks:
            yield chunk
        self.result = type("R", (), {"ok": self._ok, "error": self._error, "detail": "x"})()


class _Client:
    def __init__(self, stream):
        self.stream = stream

    def stream_text(self, use, messages, timeout_s=None):
        assert use == "reply"
        return self.stream


def _run(client, checker):
    out = LlmReply()

    async def collect():
        return [piece async for piece in stream_checked(client, [], checker, out)]

    return asyncio.run(collect()), out


def test_streamed_reply_is_sent_sentence_by_sentence_once_checked():
    checker, heat = _heat_checker()
    pieces, out = _run(_Client(_Stream(["Heat is a Crime ", "story. It is directed by ", f"{heat.director}."])),
                       checker)
    assert pieces == ["Heat is a Crime story.", f" It is directed by {heat.director}."]
    assert out.fallback is None and out.text == "".join(pieces)


def test_streaming_stops_at_the_first_unverified_name_or_a_failure():
    checker, _ = _heat_checker()
    pieces, out = _run(_Client(_Stream(["Heat is a Crime story. ", "Also see Ronin. ", "Bye."])), checker)
    assert pieces == ["Heat is a Crime story."] and "Ronin" in out.fallback
    pieces, out = _run(_Client(_Stream(["Heat is"], ok=False, error="timeout")), checker)
    assert pieces == [] and out.fallback.startswith("llm timeout")


@pytest.mark.parametrize("refusal", ["Hello! I'm sorry, but I can't assist with that request.",  # the real 0.5B
                                     "I cannot help with that.", "As an AI, I don't watch movies."])
def test_a_refusal_is_no_reply(refusal):
    checker, _ = _heat_checker()
    pieces, out = _run(_Client(_Stream([refusal])), checker)
    assert out.fallback and not any("sorry" in p.lower() or "help" in p or "AI" in p for p in pieces)
    if "sorry" in refusal or "help" in refusal:
        assert out.fallback.startswith("the LLM refused")


def test_an_apology_inside_a_real_answer_is_fine():
    checker, _ = _heat_checker()
    pieces, out = _run(_Client(_Stream(["Heat is a Crime story; sorry it runs long."])), checker)
    assert out.fallback is None and pieces


def test_a_follow_up_answer_uses_the_stored_factors_and_catalog_facts():
    heat = catalog().get(HEAT)
    pick = ShownPick(movie_id=HEAT, title=heat.title, year=heat.year, explanation="A Crime film like The Godfather.",
                     factors=[PickFactor(kind="genre", value="Crime", source_movie_id=GODFATHER,
                                         source_title="The Godfather"),
                              PickFactor(kind="director", value=heat.director)])
    other = ShownPick(movie_id=GODFATHER, title="The Godfather", year=1972)
    text = followup.answer([pick], [other, pick], [], catalog(), [])
    assert text.startswith(f"Heat ({heat.year}) (pick 2): A Crime film like The Godfather.")
    assert f"What that rests on: like The Godfather, which you liked: Crime; also directed by {heat.director}." in text
    assert f"{heat.runtime_min} min" in text and heat.cast[0] in text
    asked = followup.answer([], [pick], [], catalog(), [])
    assert "Which one do you mean?" in asked and "1. Heat" in asked
    not_a_pick = followup.answer([], [pick], [TitleRef(movie_id=GODFATHER, title="The Godfather")], catalog(), [])
    assert "wasn't one of my picks" in not_a_pick
