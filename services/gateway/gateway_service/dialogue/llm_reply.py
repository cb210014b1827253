"""The chat reply written by the LLM (when LLM_BASE_URL is set), checked before the person sees it.

The model gets the picks with their verified reasons and catalog facts only (prompt:
``movierec_llm.prompts.chat_reply``) and streams prose. The reply starts with the same deterministic
lines as the template (what could not be found, notes, "only N movies match …"), then the model's text.

**The check** (:class:`MentionChecker`): every name-like span of the text — a run of capitalized words,
with "of", "the", "and", "&", "de", … inside — must be covered word by word by the *allowed* names: the
picks' titles, their directors and cast, the sources and values of their verified factors, their genres,
and the titles the person rated highly, picked at onboarding or named in this conversation. A capitalized
function word opening a sentence ("Both", "If", "This") is not a name. Text is checked sentence by
sentence as it streams, and only checked sentences are sent; the first unverified name stops the model and
the template reply replaces what was shown (``replySource: "template"``, ``llmFallback`` says why). A
timeout, an error or an empty answer does the same.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from gateway_service.dialogue.followup import factor_phrase
from gateway_service.dialogue.state import PickFactor
from gateway_service.schemas import Card
from movierec_catalog import Catalog
from movierec_catalog.text import fold
from movierec_llm import LlmClient
from movierec_llm.prompts import chat_reply
from movierec_llm.prompts import understand as understand_prompt

MAX_CAST = 4
_WORD = r"[A-Z0-9][\w'’\-]*"
_CONNECTOR = r"(?:of|the|a|an|and|&|de|du|la|le|von|van|der|in|on|at|to|for|with|from|vs\.?|:|-|–)"
_SPAN = re.compile(rf"{_WORD}(?:\s+(?:{_CONNECTOR}\s+)*{_WORD})*")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)]*\s+|\n+")
_SENTENCE_OPENERS = {
    "a", "an", "the", "this", "these", "that", "those", "both", "each", "all", "if", "for", "with", "and", "but",
    "or", "so", "then", "also", "as", "since", "because", "here", "there", "it", "its", "it's", "you", "your",
    "you'll", "you're", "i", "i'm", "i've", "i'd", "we", "my", "our", "they", "their", "one", "two", "three",
    "four", "five", "first", "second", "third", "next", "finally", "plus", "like", "enjoy", "try", "another",
    "great", "perfect", "sure", "of", "in", "on", "at", "to", "when", "while", "what", "which", "who", "how",
    "why", "hope", "happy", "based", "given", "thanks", "lastly", "meanwhile", "ok", "okay", "yes", "no",
    # greetings and interjections (the real 0.5B model opens with "Hi!")
    "hi", "hello", "hey", "welcome", "absolutely", "certainly", "definitely", "alright", "well", "now", "oh", "wow",
    "awesome", "wonderful", "maybe", "perhaps", "just", "please", "sounds",
}
_ALWAYS_FINE = {"i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "tv", "pg", "pg-13", "g", "r", "nc-17",
                # words of the reply's own frame the real model capitalizes ("Picks for a family night")
                "picks", "pick", "movies", "movie", "films", "film", "recommendations", "enjoy"}
# Words are compared folded (fold() drops apostrophes: "I'm" → "im"), so the lists are folded too.
_SENTENCE_OPENERS = {fold(w) for w in _SENTENCE_OPENERS}
_ALWAYS_FINE = {fold(w) for w in _ALWAYS_FINE}


def _tokens(text: str) -> set[str]:
    return {t for t in re.split(r"[\s:,;!?()\"“”]+", fold(text)) if t}


@dataclass
class MentionChecker:
    """The names a reply may use (see the module docstring)."""

    allowed: set[str] = field(default_factory=set)

    def allow(self, names: Iterable[str]) -> None:
        for name in names:
            if name:
                self.allowed |= _tokens(name)

    def unverified(self, text: str) -> list[str]:
        """The name-like spans of ``text`` that are not covered by the allowed names."""
        bad = []
        for sentence in split_sentences(text):
            bad += self._unverified_in(sentence)
        return bad

    def _unverified_in(self, sentence: str) -> list[str]:
        out = []
        stripped = sentence.lstrip(" \t\"“'‘(-•*0123456789.)")
        offset = len(sentence) - len(stripped)
        for match in _SPAN.finditer(sentence):
            words = match.group(0).split()
            if match.start() == offset and words and _bare(words[0]) in _SENTENCE_OPENERS:
                words = words[1:]  # "Both Heat and Ronin" → "Heat and Ronin"
            names = [w for w in words if w[:1].isupper() and _bare(w) not in _ALWAYS_FINE]
            if any(_bare(w) not in self.allowed for w in names):
                out.append(" ".join(words))
        return out


def _bare(word: str) -> str:
    folded = fold(word.strip(".,;:!?\"“”()"))
    for suffix in ("'s", "’s", "s'"):
        if folded.endswith(suffix):
            return folded[: -len(suffix)]
    return folded


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def checker_for(cards: list[Card], catalog: Catalog, history: Iterable[str]) -> MentionChecker:
    checker = MentionChecker()
    checker.allow(history)
    checker.allow(understand_prompt.GENRES)  # "no Horror": a genre is a constraint word, never an invented name
    for card in cards:
        checker.allow([card.title, *card.genres])
        checker.allow(f.value for f in card.factors)
        checker.allow(f.source_title or "" for f in card.factors)
        movie = catalog.get(card.movie_id)
        if movie is not None:
            checker.allow([movie.director or "", *movie.cast, *movie.keywords])
    return checker


def pick_facts(cards: list[Card], catalog: Catalog) -> list[dict]:
    """What the model may say about each pick: its verified reasons and catalog facts."""
    out = []
    for card in cards:
        facts = [p for f in card.factors
                 if (p := factor_phrase(PickFactor(kind=f.kind, value=f.value, source_movie_id=f.source_movie_id,
                                                   source_title=f.source_title)))]
        movie = catalog.get(card.movie_id)
        if movie is not None:
            facts += list(movie.genres)
            if movie.runtime_min:
                facts.append(f"{movie.runtime_min} minutes")
            if movie.certification:
                facts.append(f"rated {movie.certification}")
            if movie.director:
                facts.append(f"directed by {movie.director}")
            if movie.cast:
                facts.append("starring " + ", ".join(movie.cast[:MAX_CAST]))
        title = f"{card.title} ({card.year})" if card.year else card.title
        out.append({"title": title, "facts": list(dict.fromkeys(facts))})
    return out


@dataclass
class LlmReply:
    """Filled while streaming: the text sent so far, and why the template replaced it (None = it didn't)."""

    text: str = ""
    fallback: str | None = None


# A small model sometimes answers a harmless request with a canned refusal ("I'm sorry, but I can't
# assist with that request."): no names to check, but not a reply a person should get instead of the picks.
_REFUSAL = re.compile(r"\b(?:i'?m sorry,? but|i\s+(?:can(?:no|')?t|cannot|am\s+unable\s+to)\s+(?:assist|help|provide|"
                      r"comply|fulfil)|i'?m\s+(?:not\s+able|unable)\s+to\s+(?:assist|help)|as\s+an\s+ai\b)",
                      re.IGNORECASE)


def _rejected(sentence: str, checker: MentionChecker) -> str | None:
    """Why ``sentence`` may not be shown (an unverified name, a refusal), else None."""
    if bad := checker.unverified(sentence):
        return f"unverified name in the LLM reply: {bad[0]!r}"
    if _REFUSAL.search(sentence):
        return f"the LLM refused instead of answering: {sentence.strip()[:80]!r}"
    return None


async def stream_checked(client, messages: list[dict], checker: MentionChecker, out: LlmReply,
                         timeout_s: float | None = None) -> AsyncIterator[str]:
    """The model's reply, one checked sentence at a time; stops at the first unverified name or failure
    (``out.fallback`` then says why and the caller switches to the template)."""
    stream = client.stream_text("reply", messages, timeout_s=timeout_s)
    buffer = ""
    async for chunk in stream:
        buffer += chunk
        *done, buffer = _SENTENCE_END.split(buffer) if _SENTENCE_END.search(buffer) else [buffer]
        for sentence in (s for s in done if s.strip()):
            if reason := _rejected(sentence, checker):
                out.fallback = reason
                return
            piece = (" " if out.text else "") + sentence.strip()
            out.text += piece
            yield piece
    result = stream.result
    if result is not None and not result.ok:
        out.fallback = f"llm {result.error}: {result.detail}"
        return
    if buffer.strip():
        if reason := _rejected(buffer, checker):
            out.fallback = reason
            return
        piece = (" " if out.text else "") + buffer.strip()
        out.text += piece
        yield piece
    if not out.text.strip():
        out.fallback = "llm invalid_output: empty reply"


def messages_for(message: str, understood: str, cards: list[Card], catalog: Catalog,
                 history: list[str]) -> list[dict]:
    return chat_reply.build_messages(message, understood, pick_facts(cards, catalog), history)


def client_for(services) -> LlmClient | None:
    """The gateway's LLM client (one per process, from LLM_BASE_URL; None = no LLM configured)."""
    if "llm_client" not in services.extras:
        services.extras["llm_client"] = LlmClient.from_env()
    return services.extras["llm_client"]
