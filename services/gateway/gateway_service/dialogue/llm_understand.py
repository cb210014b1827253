"""LLM understanding (when an LLM is configured), merged with the rule-based reading.

``await understand_with_llm(message, context, client)`` → ``(Understanding, understood_by, fallback)``:

* the message, the last turns and the shown picks go to the LLM with the JSON schema of
  ``movierec_llm.prompts.understand`` (``response_format`` json_schema via ``LlmClient.complete_json``);
  the answer is schema-validated there, and its titles and franchises are linked against the catalog
  again here (an unlinked title goes to ``unresolved_titles``);
* merge rule (never looser than the rules): exclusions are the union; cap = the stricter (min) cap,
  floor = the stricter (max) floor; max runtime / max year = the smaller, min runtime / min year = the
  larger; include genres and language: the rules' unless the rules found none; pick references: the
  rules' unless they found none; positives (seed titles, taste text) may come from the LLM;
* the act: the rules' unless their reading is empty (no seed, constraint, relative or taste text) — a
  small model answering "reset" or "smalltalk" to "something like Toy Story" must not wipe what the rules
  read — and the LLM never introduces a reset (it deletes the person's constraints: only their words do);
* evidence: a hard constraint of the LLM reading needs a cue of its kind in the message
  (:mod:`gateway_service.dialogue.llm_evidence`), else it is dropped before the merge;
* grounding: an exclusion (title or franchise) the LLM returns counts only if the person's message names
  it (every content word of the phrase occurs in the message): a hallucinated "no Marvel" must not
  restrict the picks. A seed title may come from the model's knowledge ("that Simon Pegg cop comedy"),
  but an unlinked phrase is reported back ("I couldn't find …") only when the person wrote it;
* no client, a timeout, an error or an invalid answer → the rules alone, ``understood_by = "rules"`` and
  the reason (``"timeout: ..."``, ``"invalid_output: ..."``, ``"not configured"``).
"""

from __future__ import annotations

import re
from typing import Any

from gateway_service.dialogue.linking import link_phrase
from gateway_service.dialogue.llm_evidence import keep_evidenced
from gateway_service.dialogue.rules import describe
from gateway_service.dialogue.understand import DialogueContext, understand
from gateway_service.dialogue.understanding import (
    CERTIFICATIONS,
    Act,
    FranchiseRef,
    HardConstraints,
    TitleRef,
    Understanding,
)
from movierec_catalog.text import fold
from movierec_llm.prompts import understand as prompt

RULES, RULES_LLM = "rules", "rules+llm"
_PICK_ACTS = {Act.FOLLOW_UP, Act.MORE_LIKE_PICK, Act.SOMETHING_ELSE, Act.MARK_SEEN}
_NO_CHANGE_ACTS = {Act.FOLLOW_UP, Act.RESET, Act.SMALLTALK, Act.SAVE}


async def understand_with_llm(message: str, context: DialogueContext, client: Any | None,
                              timeout_s: float | None = None) -> tuple[Understanding, str, str | None]:
    rules = understand(message, context)
    if client is None:
        return rules, RULES, "not configured"
    picks = [f"{p.title} ({p.year})" if p.year else p.title for p in context.picks]
    result = await client.complete_json("understand", prompt.build_messages(message, context.history, picks),
                                        prompt.SCHEMA, timeout_s=timeout_s, max_tokens=prompt.MAX_TOKENS)
    if not result.ok:
        return rules, RULES, result.failure
    try:
        llm = reading_from_llm(result.data, context, message)
    except (KeyError, TypeError, ValueError) as error:  # the schema passed but a value makes no sense
        return rules, RULES, f"invalid_output: {error}"
    return merge(rules, llm, len(context.picks)), RULES_LLM, None


def reading_from_llm(data: dict, context: DialogueContext, message: str) -> Understanding:
    """The LLM's JSON as an Understanding: exclusions grounded in ``message``, titles and franchises linked
    against the catalog (see the module docstring)."""
    said = _content_words(message)
    u = Understanding(act=Act(data["act"]))
    c = u.constraints
    c.include_genres = list(dict.fromkeys(data["include_genres"]))
    c.exclude_genres = list(dict.fromkeys(data["exclude_genres"]))
    c.max_certification = data["max_certification"] or None
    c.min_certification = data["min_certification"] or None
    for name in ("max_runtime_min", "min_runtime_min", "min_year", "max_year"):
        value = int(data[name])
        setattr(c, name, value if value > 0 else None)
    c.language = (data["language"] or "").lower() or None
    keep_evidenced(c, message)
    u.pick_refs = [int(k) for k in data["pick_refs"] if 1 <= int(k) <= max(len(context.picks), 0)]
    u.residual_text = data["taste_text"].strip()
    u.avoid_text = data["avoid_text"].strip()
    resources = context.resources
    if resources is not None:
        for phrase in _grounded(data["exclude_titles"], said):
            ref = _link(resources.linker, phrase, u, said)
            if ref:
                c.exclude_titles.append(ref)
        for phrase in data["seed_titles"]:
            ref = _link(resources.linker, phrase, u, said)
            if ref:
                u.seeds.titles.append(ref)
        for phrase in _grounded(data["exclude_franchises"], said):
            key = fold(phrase)
            for drop in ("the ", " films", " movies", " franchise", " series", " saga"):
                key = key.replace(drop, " ").strip() if drop.strip() != "the" else key.removeprefix("the ")
            franchise = resources.franchises.lookup(fold(phrase)) or resources.franchises.lookup(key)
            if franchise:
                c.exclude_franchises.append(FranchiseRef(name=franchise.name, movie_ids=list(franchise.movie_ids)))
            else:
                u.unresolved_titles.append(phrase)
    return u


_FILLER = {"the", "a", "an", "of", "and", "or", "film", "films", "movie", "movies", "franchise", "series", "saga",
           "one", "ones", "any", "no", "not"}


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", fold(text)) if w not in _FILLER}


def _grounded(phrases: list[str], said: set[str]) -> list[str]:
    """The phrases whose every content word the person wrote (the exclusions they actually asked for)."""
    return [p for p in phrases if (words := _content_words(p)) and words <= said]


def _link(linker, phrase: str, u: Understanding, said: set[str]) -> TitleRef | None:
    mention = link_phrase(linker, phrase)
    if mention is None:
        if _grounded([phrase], said):  # echo back only what the person wrote, never the model's guess
            u.unresolved_titles.append(phrase)
        return None
    m = mention.movie
    return TitleRef(movie_id=m.movie_id, title=m.title, year=m.year, mention=phrase, confidence=mention.confidence)


def _stricter(a, b, pick):
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)


def _has_content(u: Understanding) -> bool:
    """Whether a reading asks for anything (a seed, a constraint, a relative request or taste text)."""
    seeds = u.seeds
    return bool(seeds.titles or seeds.people or seeds.vibes or u.relative or u.residual_text.strip()
                or u.constraints != HardConstraints())


def _union(a: list, b: list, key=lambda x: x) -> list:
    seen, out = set(), []
    for item in [*a, *b]:
        if key(item) not in seen:
            seen.add(key(item))
            out.append(item)
    return out


def merge(rules: Understanding, llm: Understanding, n_picks: int) -> Understanding:
    """Both readings under the merge rule of the module docstring (never looser than ``rules``)."""
    r, m = rules.constraints, llm.constraints
    rank = CERTIFICATIONS.index
    # A title the rules read as wanted ("something like Toy Story") is never excluded by the LLM's reading,
    # nor its family: that is the small models' commonest misreading, and the rules' own parse (which the
    # merge may never be looser than) wants it. Seeds are never recommended anyway.
    wanted = {t.movie_id for t in rules.seeds.titles}
    llm_titles = [t for t in m.exclude_titles if t.movie_id not in wanted]
    llm_franchises = [f for f in m.exclude_franchises if not wanted & set(f.movie_ids)]
    c = HardConstraints(
        include_genres=list(r.include_genres or m.include_genres),
        exclude_genres=_union(r.exclude_genres, m.exclude_genres),
        max_certification=_stricter(r.max_certification, m.max_certification, lambda a, b: min(a, b, key=rank)),
        min_certification=_stricter(r.min_certification, m.min_certification, lambda a, b: max(a, b, key=rank)),
        use_certification_estimates=r.use_certification_estimates,
        min_runtime_min=_stricter(r.min_runtime_min, m.min_runtime_min, max),
        max_runtime_min=_stricter(r.max_runtime_min, m.max_runtime_min, min),
        lenient_runtime=r.lenient_runtime,
        min_year=_stricter(r.min_year, m.min_year, max),
        max_year=_stricter(r.max_year, m.max_year, min),
        language=r.language or m.language,
        exclude_titles=_union(r.exclude_titles, llm_titles, key=lambda t: t.movie_id),
        exclude_franchises=_union(r.exclude_franchises, llm_franchises, key=lambda f: f.name),
        exclude_people=_union(r.exclude_people, m.exclude_people),
        require_people=list(r.require_people),
    )
    c.include_genres = [g for g in c.include_genres if g not in c.exclude_genres]
    if rules.act in _NO_CHANGE_ACTS:
        return rules  # a follow-up, reset or small talk: the LLM may add nothing to it
    act = rules.act
    if (act == Act.RECOMMEND and llm.act not in (Act.RECOMMEND, Act.RESET) and not _has_content(rules)
            and (llm.act not in _PICK_ACTS or n_picks)):
        act = llm.act
    seeds = rules.seeds.model_copy(deep=True)
    excluded = {t.movie_id for t in c.exclude_titles}
    seeds.titles = [t for t in _union(seeds.titles, llm.seeds.titles, key=lambda t: t.movie_id)
                    if t.movie_id not in excluded]
    merged = Understanding(
        act=act, constraints=c, relative=list(rules.relative), seeds=seeds, removals=list(rules.removals),
        pick_refs=list(rules.pick_refs or llm.pick_refs),
        residual_text=rules.residual_text or llm.residual_text,
        avoid_text=", ".join(x for x in dict.fromkeys([rules.avoid_text, llm.avoid_text]) if x),
        unresolved_titles=_union(rules.unresolved_titles, llm.unresolved_titles),
    )
    if act in _NO_CHANGE_ACTS:  # the LLM saw a follow-up the rules missed: keep only the act and refs
        merged = Understanding(act=act, pick_refs=merged.pick_refs, unresolved_titles=merged.unresolved_titles)
    merged.descriptions = describe(merged)
    return merged
