# ruff: noqa: E501  (the patterns read best one rule per line)
"""The rule-based reader: one chat message (+ the dialogue so far) → :class:`Understanding`.

Steps (each documented in services/gateway/README.md, "Chat understanding"):

1. tokenize; link unambiguous titles (multi-word, not all common words) and people first, so the
   words inside "The French Connection" are not read as a language;
2. constraint phrases by pattern over the lowercased text (runtime, years, certification, audience,
   language, permissions such as "older films are fine"); their tokens are blocked;
3. franchises ("no Marvel", "the Fast & Furious films"), then the remaining titles (with the
   common-word rule of :mod:`.linking`);
4. genre / fear / tone words on the free tokens;
5. negation SCOPE: a cue (lexicon.NEGATION_CUES) opens a scope over the coordinated list that follows
   it, up to a clause boundary; "-free" and postfix cues ("horror isn't my thing") negate what is
   before them. Each mention is then mapped by its polarity (genre → include/exclude, tone → vibe /
   avoid_text, title → seed / exclude, franchise → exclude, person → seed / exclude);
6. relative constraints, dialogue acts and pick references;
7. the residual taste text: the message minus constraint phrases, negated scopes and titles.
"""

from __future__ import annotations

import functools
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway_service.dialogue import lexicon as lx
from gateway_service.dialogue.audience import read_audience
from gateway_service.dialogue.franchises import FranchiseIndex
from gateway_service.dialogue.linking import Mention, TitleLinker
from gateway_service.dialogue.tokens import Token, normalize, tokenize
from gateway_service.dialogue.understanding import (
    CERTIFICATIONS,
    Act,
    FranchiseRef,
    HardConstraints,
    RelativeConstraint,
    Removal,
    TitleRef,
    Understanding,
)
from movierec_catalog import Movie
from movierec_catalog.filter import Filter


@dataclass
class ReaderContext:
    """What the reader may use besides the message."""

    linker: TitleLinker | None = None
    franchises: FranchiseIndex | None = None
    picks: Sequence[Movie] = ()  # the previous answer's picks, in order ("the second one" = picks[1])
    active: HardConstraints | None = None  # the session's constraints before this message
    latest_year: int | None = None


@dataclass
class _Item:
    """A thing the message names, between tokens [start, end)."""

    start: int
    end: int
    kind: str  # genre | fear | tone | title | franchise | person | avoid_word
    value: object
    text: str
    negated: bool = False
    doubtful: bool = False  # met in a negated clause whose scope the reader lost: never an include


@dataclass
class _Reading:
    message: str
    low: str
    tokens: list[Token]
    blocked: list[bool]
    u: Understanding = field(default_factory=Understanding)
    items: list[_Item] = field(default_factory=list)
    drop: set[int] = field(default_factory=set)  # tokens that never go into the residual text
    avoid: list[str] = field(default_factory=list)
    relative_kinds: list[str] = field(default_factory=list)
    # The year floor came from "newer" alone: after a title ("like The Matrix but newer") it means newer
    # than that title, and the relative constraint replaces the floor.
    floor_from_newer: bool = False
    removal_cue: bool = False
    # Genres a degree hedge refused ("not too gory" → Horror, Thriller): excluded only when the message
    # does not ask for one of them ("a horror movie that's not too gory" wants horror, just less gore).
    hedged_exclusions: list[list[str]] = field(default_factory=list)

    def block_chars(self, start: int, end: int) -> None:
        for i, tok in enumerate(self.tokens):
            if tok.start < end and start < tok.end:
                self.blocked[i] = True
                self.drop.add(i)

    def mask(self, start: int, end: int) -> None:
        """Hide [start, end) from the later patterns (a title there is not a constraint)."""
        self.low = self.low[:start] + "\x00" * (end - start) + self.low[end:]


# ---- helpers -----------------------------------------------------------------------------------

def _add(target: list, items) -> None:
    for item in items:
        if item not in target:
            target.append(item)


def _cap(c: HardConstraints, cert: str) -> None:
    if c.max_certification is None or CERTIFICATIONS.index(cert) < CERTIFICATIONS.index(c.max_certification):
        c.max_certification = cert


def _floor(c: HardConstraints, cert: str) -> None:
    if c.min_certification is None or CERTIFICATIONS.index(cert) > CERTIFICATIONS.index(c.min_certification):
        c.min_certification = cert


def _max_runtime(c: HardConstraints, value: int) -> None:
    c.max_runtime_min = value if c.max_runtime_min is None else min(c.max_runtime_min, value)


def _min_runtime(c: HardConstraints, value: int) -> None:
    c.min_runtime_min = value if c.min_runtime_min is None else max(c.min_runtime_min, value)


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _finditer(pattern: str, r: _Reading) -> list[re.Match]:
    """Matches of ``pattern`` in the (masked) lowercased message; patterns are compiled once."""
    return list(_compiled(pattern).finditer(r.low))


# ---- step 2: constraint phrases ----------------------------------------------------------------

_CERT = r"(?P<c>nc-?17|pg-?13|pg|g|r)"
_CERT_RATED = r"(?:rated\s+(?P<c>nc-?17|pg-?13|pg|g|r)\b|(?P<c2>nc-?17|pg-?13|pg|g|r)[- ]?rated\b)"
_NEG_WORDS = r"(?:no|not|nothing|none|without|avoid|skip|never|nix)"


def _cert_name(text: str) -> str:
    text = text.upper().replace("PG13", "PG-13").replace("NC17", "NC-17")
    return text


def _read_permissions(r: _Reading) -> None:
    """"X is fine" / "I don't mind X" / "forget the X limit": a constraint taken back."""
    ok = r"(?:(?:is|are|'s|'re|would\s+be|will\s+be|be)\s+(?:totally\s+|also\s+|perfectly\s+|actually\s+|now\s+|too\s+)?" \
         r"(?:fine|ok|okay|alright|all\s+right|allowed|welcome|acceptable|no\s+problem)(?!\s+(?:with|but|too\s+much)))"
    patterns = (
        rf"(?P<what>(?:[\w'-]+\s+){{0,3}}?[\w'-]+)\s+{ok}\b",
        r"\b(?:i|we)\s+(?:don't|dont|do\s+not)\s+mind\s+(?P<what>(?:[\w'-]+\s+){0,3}?[\w'-]+)",
        r"\b(?:i|we)\s+(?:don't|dont|do\s+not)\s+care\s+(?:about|how|what|if|which)\s+(?P<what>(?:[\w'-]+\s+){0,3}?[\w'-]+)",
        r"\b(?:any|whatever)\s+(?P<what>length|runtime|year|years|decade|era|rating|certification|language|age)\b",
        r"\b(?P<what>length|runtime|year|years|decade|era|rating|language)\s+(?:doesn't|does\s+not)\s+matter\b",
    )
    explicit = (r"\b(?:forget|drop|remove|ignore|lose|lift|scrap|clear|cancel|undo|skip)\s+(?:the|that|my|about\s+the)\s+"
                r"(?P<what>(?:[\w'-]+\s+){0,2}?[\w'-]+?)\s*(?:limit|filter|restriction|constraint|cap|requirement|rule|thing)s?\b"
                r"|\bno\s+need\s+for\s+(?:the\s+|a\s+)?(?P<what2>[\w'-]+(?:\s+[\w'-]+)?)\s+(?:limit|filter|restriction)")
    for m in _finditer(explicit, r):
        what = m.group("what") or m.group("what2") or ""
        if _apply_removal(r, what, m):
            r.u.act = Act.REMOVE_CONSTRAINT
    for pattern in patterns:
        for m in _finditer(pattern, r):
            what = m.group("what")
            if re.search(r"\b(?:unknown|missing)\s+(?:runtimes?|lengths?)", what) or re.search(
                    r"\bestimat", what):
                continue  # lenient runtime / estimates: read below
            _apply_removal(r, what, m)


def _removal_slots(what: str) -> list[tuple[str, str | None]]:
    words = what.lower().split()
    tail = " ".join(words[-3:])
    last = words[-1] if words else ""
    if re.search(r"\b(?:older|old|classics?|any\s+year|years?|decades?|eras?|newer|new|recent|modern|black\s+and\s+white"
                 r"|vintage|date|release\s+date|age\s+of\s+the\s+movie)\b", tail):
        return [("years", None)]
    if re.search(r"\b(?:long|longer|length|runtime|run\s*time|longer\s+ones|duration|epics?)\b", tail):
        return [("runtime", None)]
    if re.search(r"\b(?:kids?|children|family|kiddie|animated\s+kids)\b", tail) and re.search(r"movies?|films?|stuff|ones", tail):
        return [("min_certification", None), ("exclude_genres", "Children")]
    if re.search(r"\b(?:r[- ]?rated|rated\s+r|r|pg-?13|nc-?17|ratings?|certifications?|mature|adult|violence|swearing)\b",
                 tail):
        return [("max_certification", None)]
    if re.search(r"\b(?:subtitles?|subtitled|foreign|languages?|dubbed|english)\b", tail):
        return [("language", None)]
    for n in (3, 2, 1):
        phrase = " ".join(words[-n:])
        if phrase in lx.GENRE_WORDS:
            return [("exclude_genres", g) for g in lx.GENRE_WORDS[phrase]]
        if phrase in lx.FEAR_WORDS:
            return [("exclude_genres", "Horror"), ("exclude_genres", "Thriller")]
    if last in {"sequels", "franchises", "franchise"}:
        return [("exclude_franchises", None)]
    return []


def _apply_removal(r: _Reading, what: str, m: re.Match) -> bool:
    slots = _removal_slots(what)
    if not slots:
        return False
    for slot, value in slots:
        removal = Removal(slot=slot, value=value)
        if removal not in r.u.removals:
            r.u.removals.append(removal)
    r.block_chars(m.start(), m.end())
    r.mask(m.start(), m.end())
    r.removal_cue = True
    return True


def _read_flags(r: _Reading) -> None:
    lenient = (r"\b(?:unknown|missing|unlisted)\s+(?:runtimes?|lengths?|durations?)(?:\s+(?:is|are))?\s+"
               r"(?:ok|okay|fine|allowed|alright|good|acceptable)\b|\b(?:even\s+)?if\s+the\s+(?:runtime|length)\s+is\s+"
               r"(?:unknown|missing)\b|\binclude\s+(?:unknown|missing)\s+(?:runtimes?|lengths?)\b")
    for m in _finditer(lenient, r):
        r.u.constraints.lenient_runtime = True
        r.block_chars(*m.span())
        r.mask(*m.span())
    estimates = (r"\b(?:estimated|estimate[sd]?|guessed|predicted)\s+(?:ratings?|certifications?)(?:\s+(?:is|are))?\s*"
                 r"(?:ok|okay|fine|allowed|alright|good|acceptable|welcome)?\b|\b(?:include|use|allow)\s+(?:the\s+)?"
                 r"estimated\s+(?:ratings?|certifications?)\b|\bestimates\s+(?:are\s+)?(?:ok|okay|fine|allowed)\b")
    for m in _finditer(estimates, r):
        r.u.constraints.use_certification_estimates = True
        r.block_chars(*m.span())
        r.mask(*m.span())


def _read_certification(r: _Reading) -> None:
    c = r.u.constraints
    rules = (
        # "nothing above PG-13", "no higher than PG"
        (rf"\b(?:nothing|not|no)\s+(?:rated\s+)?(?:above|over|higher\s+than|beyond|more\s+than|stronger\s+than|past)\s+"
         rf"(?:rated\s+)?{_CERT}\b", "cap"),
        (rf"\b{_CERT}(?:[- ]?rated)?\s+(?:or\s+(?:below|lower|less|under|milder|softer|younger|tamer|gentler)|"
         rf"max(?:imum)?|at\s+most|tops|at\s+the\s+most|and\s+(?:below|under))\b", "cap"),
        (rf"\b(?:at\s+most|max(?:imum)?|up\s+to|no\s+higher\s+than|nothing\s+stronger\s+than|under)\s+(?:rated\s+)?"
         rf"{_CERT}(?![\w-])", "cap_if_rated"),
        (rf"\b{_CERT}(?:[- ]?rated)?\s+(?:or\s+(?:above|higher|up|more|stronger|harder)|and\s+(?:above|up))\b", "floor"),
        (rf"\bat\s+least\s+(?:rated\s+)?{_CERT}(?![\w-])", "floor"),
        (rf"\b{_NEG_WORDS}\s+(?:\w+\s+)?(?:rated\s+{_CERT}\b|(?P<c3>nc-?17|pg-?13|r)[- ]?rated\b|(?P<c4>nc-?17|pg-?13)\b)",
         "below"),
        (r"\b(?:rated\s+(?P<c>nc-?17|pg-?13|pg|g|r)\b|(?P<c2>nc-?17|pg-?13|pg|g|r)[- ]?rated\b|(?P<c5>pg-?13|pg)\b"
         r"(?:\s+(?:movie|film|only|please|is\s+(?:best|ideal))))", "rated"),
    )
    for pattern, how in rules:
        for m in _finditer(pattern, r):
            groups = m.groupdict()
            raw = next((groups[k] for k in ("c", "c2", "c3", "c4", "c5") if groups.get(k)), None)
            if raw is None:
                continue
            cert = _cert_name(raw)
            if how == "cap_if_rated" and cert in {"G", "R"} and "rated" not in m.group(0):
                continue
            if how in {"cap", "cap_if_rated"}:
                _cap(c, cert)
            elif how == "floor":
                _floor(c, cert)
            elif how == "below":
                index = CERTIFICATIONS.index(cert)
                if index == 0:
                    continue
                _cap(c, CERTIFICATIONS[index - 1])
            elif how == "rated":
                if cert in {"R", "NC-17"}:
                    _floor(c, "R")
                    _add(c.exclude_genres, ["Children"])
                else:
                    _cap(c, cert)
            r.block_chars(*m.span())
            r.mask(*m.span())


def _read_audience(r: _Reading) -> None:
    audience = read_audience(r.low)
    c = r.u.constraints
    if audience.cap:
        _cap(c, audience.cap)
    if audience.floor:
        _floor(c, audience.floor)
    _add(c.exclude_genres, audience.exclude_genres)
    _add(c.include_genres, audience.include_genres)
    for start, end in audience.spans:
        r.block_chars(start, end)
        r.mask(start, end)


def _read_fear_phrases(r: _Reading) -> None:
    pattern = (r"\b(?:i|we|he|she|they)(?:'m|\s+am|'re|\s+are|\s+is|'s)?\s+(?:get\s+|gets\s+)?(?:scare|scares|spook|spooks|"
               r"frighten|frightens|scared|spooked)\s+(?:really\s+|very\s+)?easily\b|\beasily\s+(?:scared|spooked|frightened)\b|"
               r"\bscaredy[- ]?cats?\b|\b(?:can't|cannot|don't)\s+(?:handle|do|stand)\s+(?:anything\s+)?scary\b")
    for m in _finditer(pattern, r):
        _add(r.u.constraints.exclude_genres, lx.FEAR_GENRES)
        r.block_chars(*m.span())
        r.mask(*m.span())


_DUR = lx.DURATION
# "a short <genre>" / "short funny": the genre and tone words "short" may qualify (they stay unblocked).
_SHORT_QUALIFIES = "|".join(sorted((re.escape(w) for w in (*lx.GENRE_WORDS, *lx.TONE_WORDS) if " " not in w
                                    and w not in {"long", "epic"}), key=len, reverse=True))
# A negation cue shortly before a comparative, in the same clause, with only "anything"-like words
# between ("I don't want anything longer than", "nothing made before", "no movies shorter than").
_NEGATED_BEFORE = re.compile(
    r"\b(?:no|not|nothing|none|never|without|avoid|skip|nix|(?:do|does|would)\s+not\s+(?:want|need|like)|"
    r"(?:don't|dont|doesn't|wouldn't|won't)\s+(?:really\s+)?(?:want|need|like|watch|do)|can't\s+do|rather\s+not|isn't|aren't)"
    r"\s+(?:(?:anything|something|any|movies?|films?|ones?|stuff|titles?|that's|that|which|is|are|was|be|made|released|"
    r"filmed|from|running|runs|run|go|goes|going|lasting|a|an|the|really|too|way|much|at\s+all|to\s+(?:watch|see)|watching)\s+){0,4}$")


def _negated_before(low: str, start: int) -> bool:
    return bool(_NEGATED_BEFORE.search(low[max(0, start - 60):start]))


_DUR_OR_BARE = rf"(?:{lx.DURATION}|{lx.BARE_MINUTES})"


def _read_runtime(r: _Reading) -> None:
    c = r.u.constraints
    hedge = r"(?:about\s+|around\s+|roughly\s+|approximately\s+|like\s+)?"
    rules = (
        (rf"\b(?:nothing|not|no(?:thing)?|never)\s+(?:that's\s+|that\s+is\s+|that\s+runs\s+|running\s+)?(?:over|above|longer\s+than|"
         rf"more\s+than|past|beyond|exceeding|going\s+over)\s+{hedge}(?P<d>{_DUR_OR_BARE})", "max", 0),
        (rf"\b(?:at\s+most|no\s+more\s+than|no\s+longer\s+than|not\s+longer\s+than|not\s+more\s+than|not\s+over|up\s+to|"
         rf"max(?:imum)?(?:\s+of)?|within|tops|no\s+longer\s+then|less\s+than\s+or\s+equal\s+to)\s+{hedge}(?P<d>{_DUR_OR_BARE})",
         "max", 0),
        (rf"\b(?:under|less\s+than|shorter\s+than|below|beneath|not\s+even|sub|lower\s+than|fewer\s+than)\s+{hedge}"
         rf"(?P<d>{_DUR_OR_BARE})", "max", -1),
        (rf"(?P<d>{_DUR})\s+(?:or\s+(?:less|shorter|under|fewer|below)|max(?:imum)?|tops|at\s+most|at\s+the\s+most|"
         rf"at\s+the\s+longest|or\s+so\s+max|long\s+at\s+most|and\s+under)\b", "max", 0),
        (rf"\b(?:at\s+least|minimum(?:\s+of)?|no\s+less\s+than|no\s+shorter\s+than|not\s+shorter\s+than|not\s+under)\s+{hedge}"
         rf"(?P<d>{_DUR_OR_BARE})", "min", 0),
        (rf"(?P<d>{_DUR})\s+(?:or\s+(?:more|longer|over|above)|minimum|at\s+least|plus)\b", "min", 0),
        (rf"\b(?:over|more\s+than|longer\s+than|above|upwards\s+of|north\s+of|in\s+excess\s+of)\s+{hedge}(?P<d>{_DUR})",
         "min", 1),
    )
    for pattern, how, adjust in rules:
        for m in _finditer(pattern, r):
            value = lx.minutes(m.group("d"))
            if value is None or value <= 0 or value > 600:
                continue
            if adjust and _negated_before(r.low, m.start()):
                # "I don't want anything longer than 2 hours" → at most 120; "nothing under 90" → at least 90
                how, adjust = ("min" if how == "max" else "max"), 0
            (_max_runtime if how == "max" else _min_runtime)(c, value + adjust)
            r.block_chars(*m.span())
            r.mask(*m.span())
    for m in _finditer(r"\b(?:not|nothing|isn't|never|no)\s+(?:too|very|that|overly|super|crazy|excessively|really)?\s*"
                       r"(?:long|lengthy)\b(?!\s+(?:ago|time))", r):
        _max_runtime(c, lx.NOT_TOO_LONG_MAX)
        r.block_chars(*m.span())
        r.mask(*m.span())
    short = (r"\b(?:something|anything|a|an|one|keep\s+it|pretty|fairly|relatively|nice\s+and|on\s+the|rather|quite|"
             r"short\s+and)\s+(?:short|quick|brief|shortish|shorter\s+side)\b(?![\s-]+(?:question|note|thing|reminder|look|"
             r"search|update|summary|plot|films?|stor(?:y|ies)|list|circuit|one\s+question|break))"
             r"|\b(?:short|quick|brief)\s+(?:one|ones|movie|movies|film|watch|flick|and\s+sweet)\b|\bshortish\b"
             # coordinated: "short and funny", "funny and short", "short, funny comedy", "funny but short"
             r"|(?<!\bin\s)\b(?:short|quick|brief)(?=\s*(?:,|and|&)\s*(?:\w+\s+)?[a-z])(?!\s*(?:,|and|&)\s*(?:sweet|simple)\b)"
             r"|(?:\band|,|&|\bbut|\bbut\s+also|\byet)\s+(?:also\s+|pretty\s+|fairly\s+|really\s+|very\s+|kinda\s+|nice\s+and\s+)?"
             r"(?:short|quick|brief)\b(?!\s+(?:of|on|list|films?|stor(?:y|ies)|notice|term))"
             rf"|\b(?:short|quick|brief)(?=\s+(?:{_SHORT_QUALIFIES})\b)")
    for m in _finditer(short, r):
        _max_runtime(c, lx.SHORT_MAX)
        r.block_chars(*m.span())
        r.mask(*m.span())
    for m in _finditer(r"\b(?:something|a|an)\s+(?:really\s+|nice\s+|good\s+)?(?:long|lengthy)\b(?!\s+(?:time|ago|day|week))"
                       r"|\blong\s+epics?\b|\bepic[- ]length\b", r):
        _min_runtime(c, lx.LONG_MIN)
        r.block_chars(*m.span())
        r.mask(*m.span())
    for m in _finditer(r"\b(?:shorter|less\s+long|not\s+(?:as|so)\s+long|quicker|briefer)\b(?!\s+than\s+[a-z0-9])", r):
        r.relative_kinds.append("shorter")
        r.block_chars(*m.span())
        r.mask(*m.span())
    for m in _finditer(r"\blonger\b(?!\s+than\s+[a-z0-9])", r):
        r.relative_kinds.append("longer")
        r.block_chars(*m.span())
        r.mask(*m.span())


def _decade_start(digits: str, century: str | None) -> int:
    d = int(digits)
    if century:
        return int(century) * 100 + d * 10
    return 2000 + d * 10 if d <= 2 else 1900 + d * 10


def _set_years(c: HardConstraints, lo: int | None, hi: int | None) -> None:
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    if lo is not None:
        c.min_year = lo
    if hi is not None:
        c.max_year = hi


_BEFORE_DECADE = r"before|prior\s+to|earlier\s+than|older\s+than"
_AFTER_DECADE = r"after|later\s+than|newer\s+than|since"


def _read_decade_bounds(r: _Reading, decades: str) -> None:
    """"before the 80s" → up to 1979, "after the 80s" → 1990 on, "since the 80s" → 1980 on; a negation
    turns the bound around ("nothing from before the 80s" → 1980 on, "nothing after the 90s" → up to 1999).
    The decade is then taken, so it is not read as "in the 80s" as well."""
    c = r.u.constraints
    for m in _finditer(rf"\b(?P<dir>{_BEFORE_DECADE}|{_AFTER_DECADE})\s+(?:{decades})", r):
        start = lx.DECADE_WORDS[m.group("word")] if m.group("word") else _decade_start(m.group("d"), m.group("century"))
        direction = m.group("dir").split()[0]
        negated = _negated_before(r.low, m.start())
        if direction in ("before", "prior", "earlier", "older"):
            lo, hi = (start, None) if negated else (None, start - 1)
        elif direction == "since":
            lo, hi = (None, start - 1) if negated else (start, None)
        else:
            lo, hi = (None, start + 9) if negated else (start + 10, None)
        _set_years(c, lo, hi)
        r.block_chars(*m.span())
        r.mask(*m.span())


def _read_years(r: _Reading, latest_year: int | None) -> None:
    c = r.u.constraints
    part = r"(?:(?P<part>early|mid|middle|late)[- ]?)?"
    decades = (rf"(?<!\()\b(?:from\s+|in\s+|during\s+|of\s+)?(?:the\s+)?{part}(?:')?(?P<century>19|20)?(?P<d>\d)0\s?'?s\b"
               rf"|\b(?:from\s+|in\s+|of\s+)?(?:the\s+)?{part.replace('part', 'part2')}(?:nineteen[- ]?)?(?P<word>"
               + "|".join(lx.DECADE_WORDS) + r")\b")
    _read_decade_bounds(r, decades)
    spans: list[tuple[int, int]] = []
    for m in _finditer(rf"\b(?P<neg>{_NEG_WORDS}\s+(?:\w+\s+)?)?(?:{decades})", r):
        start = lx.DECADE_WORDS[m.group("word")] if m.group("word") else _decade_start(m.group("d"), m.group("century"))
        lo, hi = lx.DECADE_PARTS.get(m.group("part") or m.group("part2") or "", (0, 9))
        r.block_chars(*m.span())
        r.mask(*m.span())
        if m.group("neg"):
            r.avoid.append(m.group(0).split(None, 1)[-1])
            continue  # "nothing from the 80s": not a range; told as a tone
        spans.append((start + lo, start + hi))
    if spans:  # "the 70s or 80s": one range over every decade named (the Filter holds one year range)
        _set_years(c, min(lo for lo, _ in spans), max(hi for _, hi in spans))
    year, year2 = r"(?<!\()(?P<y>(?:19|20)\d{2})(?!\))", r"(?P<y2>(?:19|20)\d{2})"
    rules = (
        (rf"\b(?:from\s+|since\s+)?{year}\s*(?:-|to|until|till|through)\s*(?:the\s+)?(?:present|now|today|date)\b",
         lambda m: (int(m["y"]), None)),
        (rf"\bbetween\s+{year}\s+and\s+{year2}\b", lambda m: (int(m["y"]), int(m["y2"]))),
        (rf"\bfrom\s+{year}\s+(?:to|until|through|till|-)\s+{year2}\b", lambda m: (int(m["y"]), int(m["y2"]))),
        (rf"\b{year}\s*-\s*{year2}\b", lambda m: (int(m["y"]), int(m["y2"]))),
        (rf"\b(?:nothing|not|no)\s+(?:made\s+|released\s+|from\s+)?(?:before|older\s+than|prior\s+to|earlier\s+than)\s+{year}\b",
         lambda m: (int(m["y"]), None)),
        (rf"\b(?:nothing|not|no)\s+(?:made\s+|released\s+|from\s+)?(?:after|newer\s+than|later\s+than)\s+{year}\b",
         lambda m: (None, int(m["y"]))),
        (rf"\b(?:after|newer\s+than|later\s+than|post)\s+{year}\b", lambda m: (int(m["y"]) + 1, None)),
        (rf"\b(?:since|from)\s+{year}\s+(?:on|onwards?|or\s+later|and\s+later|forward|and\s+up)\b",
         lambda m: (int(m["y"]), None)),
        (rf"\b{year}\s+(?:or|and)\s+(?:later|newer|after|up|beyond|onwards?)\b", lambda m: (int(m["y"]), None)),
        (rf"\b(?:since|starting\s+(?:in|from))\s+{year}\b", lambda m: (int(m["y"]), None)),
        (rf"\b(?:before|older\s+than|prior\s+to|earlier\s+than|pre)\s+{year}\b", lambda m: (None, int(m["y"]) - 1)),
        (rf"\b(?:until|up\s+to|through|no\s+later\s+than|till)\s+{year}\b", lambda m: (None, int(m["y"]))),
        (rf"\b{year}\s+(?:or|and)\s+(?:earlier|older|before)\b", lambda m: (None, int(m["y"]))),
        (rf"\b(?:in|from|released\s+in|made\s+in|of|came\s+out\s+in)\s+{year}\b", lambda m: (int(m["y"]), int(m["y"]))),
    )
    for pattern, bounds in rules:
        for m in _finditer(pattern, r):
            lo, hi = bounds(m)
            if (lo is None) != (hi is None) and _negated_before(r.low, m.start()):
                # "I don't want anything older than 1995" → 1995 or later (the bound flips, inclusive)
                year_value = int(m["y"])
                lo, hi = (year_value, None) if lo is None else (None, year_value)
            r.block_chars(*m.span())
            r.mask(*m.span())
            _set_years(c, lo, hi)
    if latest_year:
        # "new sci-fi", "a new animated movie", "something new": new as in recently released
        recent = (rf"\b(?:recent|recently\s+released|newer|new\s+(?:(?:{_FILM_KINDS})[\s-]+)?(?:{_FILM_NOUNS}|releases?|"
                  rf"{_FILM_KINDS})|(?:something|anything)\s+new|latest|brand[- ]new|last\s+few\s+years|"
                  rf"past\s+few\s+years|modern)\b(?!\s+than)")
        found = _finditer(recent, r)
        for m in found:
            # "new sci-fi": only "new" is taken; the kind of film is left for the genre pass
            end = m.start() + 3 if m.group(0).lower().startswith("new ") else m.end()
            r.block_chars(m.start(), end)
            r.mask(m.start(), end)
            c.min_year = latest_year - lx.RECENT_SPAN_YEARS
        r.floor_from_newer = bool(found) and all(m.group(0).lower() == "newer" for m in found)


_FILM_NOUNS = r"movies?|films?|cinema|ones?|productions?|flicks?|stuff|pictures?|classics?"
# What may stand between a language adjective and the noun ("a German war movie", "a Japanese animated movie").
_FILM_KINDS = "|".join(sorted([re.escape(w) for w in lx.GENRE_WORDS if " " not in w]
                              + ["animated", "indie", "arthouse", "art-house", "family", "kids", "independent"],
                              key=len, reverse=True))


def _read_language(r: _Reading) -> None:
    names = "|".join(sorted(lx.LANGUAGES, key=len, reverse=True))
    pattern = (rf"\b(?P<neg>not\s+|no\s+|non[- ]|nothing\s+)?(?:in\s+(?P<a>{names})\b(?!\s+(?:and|or)\s+\w+\s+(?:subtitles|dub))"
               rf"|(?P<b>{names})[- ]language\b|(?P<c>{names})[- ]?(?:speaking\s+)?(?:(?:{_FILM_KINDS})[\s-]+)?"
               rf"(?:{_FILM_NOUNS}|{_FILM_KINDS}|dramas?|comed(?:y|ies)|thrillers?|romances?|anime)\b|"
               rf"(?:spoken|dubbed|originally)\s+in\s+(?P<d>{names})\b|(?P<e>bollywood)\b"
               # "something Korean, nothing gory", "actually Japanese instead", "maybe French?"
               rf"|\b(?:something|anything|maybe|preferably|ideally|actually|rather|how\s+about|what\s+about|make\s+it)\s+"
               rf"(?P<f>{names})\b(?=\s*(?:[,.!?;)]|$)|\s+(?:please|maybe|if|from|with|and|or|that|which|instead|for|"
               rf"this\s+time|now)\b))")
    for m in _finditer(pattern, r):
        name = next(m.group(k) for k in "abcdef" if m.group(k))
        # keep the genre word of "French comedies" for the genre pass: block only the language word
        word = "c" if m.group("c") else "f" if m.group("f") else None
        start = m.start() if word is None else m.start(word)
        end = m.end() if word is None else m.end(word)
        if m.group("c") and m.group("neg"):
            start = m.start()
        r.block_chars(start, end)
        r.mask(start, end)
        if m.group("neg"):
            r.u.descriptions.append("(excluding a language is not supported: say the language you want)")
            continue
        r.u.constraints.language = lx.LANGUAGES[name]
    for m in _finditer(r"\b(?:no|without|nothing\s+with|hate|don't\s+want|avoid)\s+(?:any\s+)?(?:subtitles?|subs|"
                       r"reading|dubbing)\b|\bnothing\s+foreign\b|\bno\s+foreign\s+(?:movies?|films?|languages?)\b", r):
        r.u.constraints.language = "en"
        r.block_chars(*m.span())
        r.mask(*m.span())


# ---- step 3: franchises, titles ----------------------------------------------------------------

_FRANCHISE_BEFORE = {"another", "more", "the", "any", "from", "of", "no", "a"}
_FRANCHISE_AFTER = {"films", "movies", "franchise", "series", "saga", "sequels", "universe", "stuff", "ones", "flicks",
                    "sequel", "trilogy", "collection", "world", "film", "movie", "flick"}


_FRANCHISE_REFUSALS = frozenset({"no", "not", "nor", "except", "without", "skip"})


def _longer_title_at(tokens: list[Token], i: int, n: int, linker: TitleLinker | None, most: int = 8) -> bool:
    """Does a catalog title longer than ``n`` words start at token i ("American History X" over "American")?"""
    words = [t.key for t in tokens[i:i + most] if t.is_word]
    return linker is not None and any(linker.movies_for_key(" ".join(words[:k])) for k in range(n + 1, len(words) + 1))


def _read_franchises(r: _Reading, index: FranchiseIndex, linker: TitleLinker | None) -> None:
    tokens, i = r.tokens, 0
    while i < len(tokens):
        if r.blocked[i] or not tokens[i].is_word:
            i += 1
            continue
        found = None
        if tokens[i].key.split()[0] not in index.prefixes:
            i += 1
            continue
        for n in range(min(index.max_key_words + 1, len(tokens) - i), 0, -1):
            span = tokens[i:i + n]
            if any(r.blocked[i + k] for k in range(n)):
                continue
            key = " ".join(t.key for t in span if t.is_word)
            franchise = index.lookup(key)
            if franchise is None:
                continue
            before = tokens[i - 1].low if i else ""
            after = tokens[i + n].low if i + n < len(tokens) else ""
            is_title = linker is not None and bool(linker.movies_for_key(key))
            # "no Toy Story", "not Twilight": refusing a name that is a movie's and its family's refuses the
            # family — but "not American History X" refuses that movie, not a family named "American"
            refused = (before in _FRANCHISE_REFUSALS or (before == "the" and i > 1 and tokens[i - 2].low in {"no", "not"})) \
                and is_title and not _longer_title_at(tokens, i, n, linker)
            # "no Pirates of the Caribbean" (no movie has that name: only its family can be meant) and
            # "nothing from The Hunger Games" ("from" a name is from its films)
            refused_family = before in _FRANCHISE_REFUSALS and not is_title and len(key.split()) > 1
            from_family = before == "from" or (before == "the" and i > 1 and tokens[i - 2].low == "from")
            cued = (before in {"another", "more"} or refused or refused_family or from_family
                    or after in _FRANCHISE_AFTER or _after_franchise(r, i))
            if (index.is_brand(franchise) and (not is_title or cued) and (
                    any(t.capitalized for t in span) or cued or len(key) > 3)) or cued:
                found = (n, franchise, after in _FRANCHISE_AFTER)
            if found:
                break
        if found is None:
            i += 1
            continue
        n, franchise, eats_next = found
        end = i + n + (1 if eats_next else 0)
        r.items.append(_Item(i, end, "franchise", franchise, " ".join(t.text for t in tokens[i:end])))
        for k in range(i, end):
            r.blocked[k] = True
            r.drop.add(k)
        i = end


def _after_franchise(r: _Reading, i: int) -> bool:
    """Token i follows "<franchise> or|and|," ("no Star Wars or Star Trek"): the list is of franchises."""
    if i < 2 or r.tokens[i - 1].low not in {"or", "and", "nor", ",", "&", "/"}:
        return False
    return any(it.kind == "franchise" and it.end == i - 1 for it in r.items)


def _add_mentions(r: _Reading, mentions: list[Mention]) -> None:
    for m in mentions:
        if any(r.blocked[k] for k in range(m.start, m.end)):
            continue
        kind = "title" if m.kind == "title" else "person"
        text = r.message[r.tokens[m.start].start:r.tokens[m.end - 1].end] if m.end > m.start else m.text
        r.items.append(_Item(m.start, m.end, kind, m, text))
        for k in range(m.start, m.end):
            r.blocked[k] = True
            r.drop.add(k)


# ---- step 4: genre, fear and tone words --------------------------------------------------------

def _read_words(r: _Reading) -> None:
    tokens, i = r.tokens, 0
    while i < len(tokens):
        if r.blocked[i] or not tokens[i].is_word:
            i += 1
            continue
        hit = None
        for n in range(min(lx.GENRE_MAX_WORDS, len(tokens) - i), 0, -1):
            if any(r.blocked[i + k] or not tokens[i + k].is_word for k in range(n)):
                continue
            phrase = " ".join(t.low for t in tokens[i:i + n])
            free = False
            for suffix in ("-free",):
                if phrase.endswith(suffix):
                    phrase, free = phrase[: -len(suffix)], True
            if n == 1 and i + 1 < len(tokens) and tokens[i + 1].low == "free" and not r.blocked[i + 1]:
                free = True
            kind = ("fear" if phrase in lx.FEAR_WORDS else "genre" if phrase in lx.GENRE_WORDS
                    else "tone" if phrase in lx.TONE_WORDS else None)
            if kind:
                end = i + n + (1 if free and not phrase.endswith("free") and i + n < len(tokens)
                               and tokens[i + n].low == "free" else 0)
                hit = _Item(i, end, kind, phrase, " ".join(t.text for t in tokens[i:end]), negated=free)
                break
        if hit is None:
            i += 1
            continue
        r.items.append(hit)
        i = hit.end


# ---- step 5: negation scope --------------------------------------------------------------------

def _by_first_word(phrases) -> dict[str, list[tuple[str, ...]]]:
    out: dict[str, list[tuple[str, ...]]] = {}
    for phrase in sorted((tuple(p.split()) for p in phrases), key=len, reverse=True):
        out.setdefault(phrase[0], []).append(phrase)
    return out


_CUES = _by_first_word(lx.NEGATION_CUES)
_POSTFIX = _by_first_word(lx.POSTFIX_NEGATION)
_AUXILIARIES = _by_first_word(lx.NEGATING_AUXILIARIES)
_LIKING_VERBS = _by_first_word(lx.LIKING_VERBS)
_MAX_CUE_ADVERBS = 4


_SATIATION_CUES = frozenset({"enough", "tired", "sick", "fed"})


def _double_negation(tokens: list[Token], i: int) -> bool:
    """A satiation cue ("enough of", "tired of") under a negation is a liking, not a negation."""
    if tokens[i].low not in _SATIATION_CUES:
        return False
    j = i - 1
    if j >= 0 and tokens[j].low in {"get", "gets", "getting", "grow", "ever"}:
        j -= 1
    return j >= 0 and tokens[j].low in {"never", "can't", "cant", "cannot", "won't", "don't", "not"}


def _negated_verb_at(tokens: list[Token], i: int) -> int:
    """Length of a negated liking/watching verb at token i ("don't really watch", "never usually
    enjoy", "can't honestly stand"), else 0: the adverbs between the auxiliary and the verb do not
    break the cue."""
    n = _match_at(tokens, i, _AUXILIARIES)
    if not n:
        return 0
    j, skipped = i + n, 0
    while j < len(tokens):
        verb = _match_at(tokens, j, _LIKING_VERBS)
        if verb:
            return j + verb - i
        if tokens[j].low not in lx.CUE_ADVERBS or skipped == _MAX_CUE_ADVERBS:
            return 0
        j, skipped = j + 1, skipped + 1
    return 0


def _match_at(tokens: list[Token], i: int, phrases: dict[str, list[tuple[str, ...]]]) -> int:
    """Length of the longest phrase (a list of words) starting at token i, else 0."""
    for phrase in phrases.get(tokens[i].low, ()):
        n = len(phrase)
        if i + n <= len(tokens) and tuple(t.low for t in tokens[i:i + n]) == phrase:
            return n
    return 0


def _scope(r: _Reading) -> None:
    """Mark the items inside a negation scope as negated (see the module docstring)."""
    tokens = r.tokens
    item_at = {it.start: it for it in r.items}
    open_scope = False
    doubt = False  # the scope closed on unknown words: the rest of the clause may still be negated
    unknown = 0
    i = 0
    clause_items: list[_Item] = []
    while i < len(tokens):
        tok = tokens[i]
        if i in item_at:
            item = item_at[i]
            if item.negated:  # "gore-free"
                r.drop.update(range(item.start, item.end))
            if open_scope:
                item.negated = True
                for k in range(item.start, item.end):
                    r.drop.add(k)
                unknown = 0
            elif doubt:
                item.doubtful = True
            clause_items.append(item)
            i = item.end
            continue
        n = _match_at(tokens, i, _POSTFIX)
        if n:
            for item in clause_items:
                if not item.negated:
                    item.negated = True
                    for k in range(item.start, item.end):
                        r.drop.add(k)
            r.drop.update(range(i, i + n))
            clause_items = []
            open_scope = " ".join(t.low for t in tokens[i:i + n]) in lx.POSTFIX_OPENING  # "please no X or Y"
            unknown = 0
            i += n
            continue
        n = _match_at(tokens, i, _CUES) or _negated_verb_at(tokens, i)
        if n and not (i + n < len(tokens) and (tokens[i + n].low in lx.NOT_NEGATION_AFTER
                                              or tokens[i + n].text in {",", ".", "!", "?"})):
            if _double_negation(tokens, i):  # "I can't get enough of westerns", "never tired of heists"
                open_scope = doubt = False
                i += n
                continue
            if tok.low in {"no", "not"} and i + n < len(tokens) and tokens[i + n].low == "too" and \
                    i + n + 1 < len(tokens) and tokens[i + n + 1].low in {"sure", "bad"}:
                i += n
                continue
            open_scope, doubt = True, False
            unknown = 0
            r.drop.update(range(i, i + n))
            i += n
            continue
        if tok.text == "," or tok.low in {"and", "or", "nor", "&", "/"}:
            nxt = i + 1
            while nxt < len(tokens) and tokens[nxt].low in {"or", "and", "nor", "no", "not", "any"}:
                nxt += 1
            if (tok.text == "," and not (nxt in item_at or (nxt < len(tokens) and tokens[nxt].low in {"or", "and", "nor"}))) or (tok.text != "," and nxt < len(tokens) and tokens[nxt].low in lx.CLAUSE_BOUNDARY_TOKENS):
                open_scope = doubt = False
                clause_items = []
            i += 1
            continue
        if tok.low in lx.CLAUSE_BOUNDARY_TOKENS or (not tok.is_word and tok.text not in {"-", "'", '"', "&"}):
            open_scope = doubt = False
            clause_items = [] if tok.text in {".", ";", "!", "?"} or tok.low in {"but", "though", "however"} else clause_items
            i += 1
            continue
        if open_scope:
            if tok.low not in lx.COORDINATORS and tok.low not in lx.FILLER_WORDS and not r.blocked[i]:
                unknown += 1
                r.avoid.append(tok.text)
                if unknown > 1:  # "not prepared to experience the horrors": a verb phrase, not a list
                    open_scope, doubt = False, True
            r.drop.add(i)
        i += 1


# ---- step 5b: map mentions by polarity ---------------------------------------------------------

_SEEN_BEFORE = re.compile(r"(?:(?:i've|i\s+have|we've|we\s+have|i|we|already|have)\s+(?:already\s+|also\s+|just\s+)?"
                          r"(?:seen|watched|saw)|already\s+(?:seen|watched|saw)|(?:seen|watched)\s+already)\s+"
                          r"(?:(?:all|both|each|every\s+one)\s+(?:of\s+)?)?(?:the\s+)?$")
_NOT_SEEN_BEFORE = re.compile(r"(?:haven't|have\s+not|never|not|didn't|did\s+not|hasn't|yet\s+to)\s+(?:\w+\s+)?"
                              r"(?:seen|watched|see|watch|saw)\s+(?:the\s+)?$")


_UNLIKE_BEFORE = re.compile(r"\b(?:nothing|not|none|no|anything\s+but)\s+(?:\w+\s+)?(?:like|similar\s+to)\s+(?:the\s+)?$")
_LIST_JOINERS = frozenset({",", "and", "or", "&", "/", "the", "also", "plus"})


def _continues_list(r: _Reading, previous: _Item | None, item: _Item) -> bool:
    """``item`` is the next member of the list ``previous`` belongs to ("seen Heat, Casino and Fargo"):
    only commas, "and"/"or" and articles stand between them, so the verb before the list covers it."""
    if previous is None or previous.end > item.start:
        return False
    # a capitalized word between them is a member the linker could not place ("seen Heat, Casino and
    # Fargo" when "Casino" stays unlinked as a common word): the list still goes on
    return all(t.low in _LIST_JOINERS or (t.is_word and t.text[:1].isupper())
               for t in r.tokens[previous.end:item.start])


# A negation of degree, reaching over a coordinated list: "not too violent or scary", "nothing overly dark".
_HEDGED_BEFORE = re.compile(r"\b(?:not|no|nothing|never|isn't|aren't|wasn't|n't)\s+(?:too|overly|very|super|that|so|"
                            r"excessively)\s+(?:[\w-]+\s*(?:,|\bor\b|\band\b|\bnor\b)\s*)*$")


def _settle_hedged(r: _Reading) -> None:
    """A degree hedge's genres are excluded unless the message asks for one of them (``hedged_exclusions``)."""
    c = r.u.constraints
    for genres in r.hedged_exclusions:
        if not set(genres) & set(c.include_genres):
            _add(c.exclude_genres, genres)


def _map_items(r: _Reading) -> None:
    c, seeds = r.u.constraints, r.u.seeds
    seen_item: _Item | None = None  # the last title/franchise a "seen"/"watched" verb covered
    for item in r.items:
        prefix = normalize(r.message[:r.tokens[item.start].start]).lower()[-60:]
        seen = item.kind in {"title", "franchise"} and (
            bool(_SEEN_BEFORE.search(prefix)) or _continues_list(r, seen_item, item))
        seen_item = item if seen else None
        if seen and item.kind == "title" and _liked_after(normalize(r.message[r.tokens[item.end - 1].end:]).lower()):
            seen = False  # "I just watched The Martian and loved it": a liked title (the seed is never shown back)
        if item.kind in {"genre", "fear", "tone"} and item.start > 0 and r.tokens[item.start - 1].low in {"less", "as"}:
            r.drop.update(range(item.start - 1, item.end))  # "less scary", "not as dark": relative, not a genre
            continue
        if item.doubtful and item.kind in {"genre", "fear"}:
            r.avoid.append(item.text)  # a genre inside a negated clause is never asked for
            r.drop.update(range(item.start, item.end))
            continue
        if item.kind in {"genre", "fear"}:
            genres = list(lx.GENRE_WORDS[item.value]) if item.kind == "genre" else list(lx.FEAR_GENRES)
            if not item.negated:
                _add(c.include_genres, genres if item.kind == "genre" else ["Horror"])
                continue
            r.avoid.append(item.text)
            if _HEDGED_BEFORE.search(prefix):  # "not too gory", "not too violent or scary"
                r.hedged_exclusions.append(genres)
            else:
                _add(c.exclude_genres, genres)
        elif item.kind == "tone":
            if item.negated:
                r.avoid.append(item.text)
            else:
                _add(seeds.vibes, [item.value])
        elif item.kind == "franchise":
            if item.negated or seen:  # "no Marvel", "I've watched all the Matrix movies"
                ref = FranchiseRef(name=item.value.name, movie_ids=list(item.value.movie_ids))
                if ref not in c.exclude_franchises:
                    c.exclude_franchises.append(ref)
            else:  # "I love Star Wars": taste words, not a constraint
                r.drop.difference_update(range(item.start, item.end))
        elif item.kind == "title":
            movie = item.value.movie
            ref = TitleRef(movie_id=movie.movie_id, title=movie.title, year=movie.year, mention=item.text,
                           confidence=item.value.confidence)
            if item.negated or seen or _UNLIKE_BEFORE.search(prefix):  # "nothing like Jaws": not a seed
                if all(t.movie_id != ref.movie_id for t in c.exclude_titles):
                    c.exclude_titles.append(ref)
            elif _NOT_SEEN_BEFORE.search(prefix) or _COMPARED_BEFORE.search(prefix):
                pass  # "I haven't seen Jaws": neither a seed nor an exclusion; "older than X": relative only
            elif all(t.movie_id != ref.movie_id for t in seeds.titles):
                seeds.titles.append(ref)
        elif item.kind == "person":
            name = item.value.person
            if item.negated:
                _add(c.exclude_people, [name])
            else:
                _add(seeds.people, [name])
                if re.search(r"\b(?:starring|directed\s+by|by|stars?|featuring|with)\s+$", prefix):
                    _add(c.require_people, [name])


# ---- step 6: relative constraints, acts, pick references ---------------------------------------

_DRAGGED = re.compile(r"\b(?:dragged|drags|dragging|was\s+(?:too\s+|way\s+too\s+|a\s+bit\s+|kinda\s+|so\s+)?long|"
                      r"(?:is|was)\s+(?:too\s+|way\s+too\s+)?lengthy|felt\s+(?:too\s+)?long|too\s+long|ran\s+long|"
                      r"went\s+on\s+(?:too\s+long|forever)|overlong)\b")
_RELATIVE_WORDS = (
    (re.compile(r"\b(?:older|earlier)\b"), "older"),
    (re.compile(r"\b(?:newer|more\s+recent|later)\b"), "newer"),
    (re.compile(r"\b(?:less\s+scary|not\s+as\s+scary|less\s+frightening|milder)\b"), "less_scary"),
    (re.compile(r"\b(?:lighter|less\s+dark|less\s+depressing|less\s+heavy|less\s+sad|happier|more\s+upbeat|"
                r"not\s+as\s+(?:dark|heavy|sad|depressing))\b"), "lighter"),
)


# "watched X and loved it", "saw X, it was great": a seen title that was liked is a seed.
_LIKED_AFTER = re.compile(r"\b(?:loved|liked|enjoyed|adored|was\s+(?:great|amazing|awesome|fantastic|brilliant|so\s+good))\b")
_CLAUSE_END = re.compile(r"[.!?;]|\bbut\b|\bthough\b")
_NEGATION = re.compile(r"\b(?:not|never|didn't|didnt|don't|wasn't|hardly)\b|n't\b")


def _liked_after(text: str) -> bool:
    """The clause after a title says it was liked ("…and absolutely loved it", "…, which I really enjoyed")."""
    clause = _CLAUSE_END.split(text[:60], maxsplit=1)[0]
    found = _LIKED_AFTER.search(clause)
    return found is not None and not _NEGATION.search(clause[:found.start()])


# "older than X", "shorter than X": X is the yardstick of a relative constraint, not a seed.
_COMPARED_BEFORE = re.compile(r"\b(?:older|newer|more\s+recent|earlier|later|shorter|longer|less\s+long|quicker)"
                              r"\s+than\s+(?:the\s+)?$")
_LENGTH_BEFORE = ((re.compile(r"\b(?:shorter|less\s+long|quicker)\s+than\s+(?:the\s+)?$"), "shorter"),
                  (re.compile(r"\blonger\s+than\s+(?:the\s+)?$"), "longer"))


def _read_relative(r: _Reading) -> None:
    titles = [it for it in r.items if it.kind == "title"]
    if not titles:
        return
    low = normalize(r.message).lower()
    for item in titles:
        after = low[r.tokens[item.end - 1].end:][:80]
        before = low[:r.tokens[item.start].start][-40:]
        kinds: list[str] = []
        if _DRAGGED.search(after) or re.search(r"^\W*(?:but|,|only|just|though)?.{0,30}\b(?:shorter|less\s+long|"
                                               r"not\s+(?:as|so|that|quite\s+as)\s+long)\b", after):
            kinds.append("shorter")
        if re.search(r"^.{0,40}\blonger\b", after):
            kinds.append("longer")
        kinds += [kind for pattern, kind in _LENGTH_BEFORE if pattern.search(before)]
        for pattern, kind in _RELATIVE_WORDS:
            if re.search(rf"(?:{pattern.pattern})\s+than\s+(?:the\s+)?$", before) or (
                    re.search(r"^\W*(?:but|,|only|just)\b.{0,25}", after) and pattern.search(after[:40])):
                kinds.append(kind)
        movie = item.value.movie
        ref = TitleRef(movie_id=movie.movie_id, title=movie.title, year=movie.year, mention=item.text,
                       confidence=item.value.confidence)
        if "newer" in kinds and r.floor_from_newer:
            r.u.constraints.min_year, r.floor_from_newer = None, False  # newer than the title, not "recent"
        for kind in dict.fromkeys(kinds):
            rel = RelativeConstraint(kind=kind, reference=ref)
            if rel not in r.u.relative:
                r.u.relative.append(rel)
        if kinds and "shorter" in kinds:
            r.relative_kinds = [k for k in r.relative_kinds if k != "shorter"]
        if kinds and "longer" in kinds:
            r.relative_kinds = [k for k in r.relative_kinds if k != "longer"]


def _apply_pick_relative(r: _Reading, picks: Sequence[Movie]) -> None:
    """"something shorter" with no movie named: relative to the picks just shown."""
    runtimes = [m.runtime_min for m in picks if m.runtime_min]
    for kind in dict.fromkeys(r.relative_kinds):
        if kind == "shorter":
            _max_runtime(r.u.constraints, int(statistics.median(runtimes)) - 1 if runtimes else lx.SHORT_MAX)
        elif kind == "longer":
            _min_runtime(r.u.constraints, int(statistics.median(runtimes)) + 1 if runtimes else lx.LONG_MIN)


_ORD = "|".join(sorted(lx.ORDINALS, key=len, reverse=True))
_CARD = "one|two|three|four|five"
_PICK_NOUN = r"(?:one|ones|pick|picks|movie|movies|film|films|suggestion|suggestions|option|options|title|recommendation)"


def _pick_refs(low: str, picks: Sequence[Movie], r: _Reading) -> list[int]:
    n = len(picks)
    refs: list[int] = []
    for m in re.finditer(r"\b(?:the\s+)?(?P<which>first|last|top)\s+(?P<count>two|three|four|2|3|4)\b", low):
        count = {"two": 2, "three": 3, "four": 4}.get(m["count"]) or int(m["count"])
        rng = range(1, count + 1) if m["which"] in {"first", "top"} else range(max(1, n - count + 1), n + 1)
        refs.extend(rng)
    for m in re.finditer(rf"\b(?:the\s+)?(?P<o>{_ORD})(?:\s+{_PICK_NOUN}|\s+(?:and|or)\b|\s*[?.!,]|$)", low):
        refs.append(lx.ORDINALS[m["o"]])
    for m in re.finditer(rf"\b(?:the\s+)?(?P<o>{_ORD})\s+(?:and|or|&)\s+(?:the\s+)?(?P<o2>{_ORD})\b", low):
        refs.extend([lx.ORDINALS[m["o"]], lx.ORDINALS[m["o2"]]])
    for m in re.finditer(r"(?:#|number\s+|no\.\s*|pick\s+|option\s+)(?P<k>\d{1,2}|one|two|three|four|five)\b", low):
        refs.append(lx.CARDINAL_REFS[m["k"]])
    if n and re.search(rf"\b(?:the\s+)?last\s+{_PICK_NOUN}\b|\bthe\s+last\b(?!\s+(?:two|three|few|\d))", low):
        refs.append(n)
    if n == 2 and re.search(r"\bboth\b", low):
        refs.extend([1, 2])
    pick_ids = [p.movie_id for p in picks]
    for item in r.items:
        if item.kind == "title" and item.value.movie.movie_id in pick_ids:
            refs.append(pick_ids.index(item.value.movie.movie_id) + 1)
    out = []
    for ref in refs:
        if ref not in out and (not n or 1 <= ref <= n):
            out.append(ref)
    return out


_RESET = re.compile(r"\b(?:reset|start\s+(?:over|again|afresh|fresh|from\s+scratch)|clear\s+(?:all|everything|the\s+filters|"
                    r"my\s+filters|all\s+(?:the\s+)?filters|the\s+constraints|it\s+all)|forget\s+(?:everything|all\s+(?:that|of\s+that|"
                    r"the\s+filters|my\s+filters)|what\s+i\s+(?:said|asked))|new\s+search|from\s+scratch|scratch\s+(?:that|everything)|"
                    r"never\s*mind\s+(?:all\s+)?(?:that|everything))\b")
_FOLLOW_Q = re.compile(r"^\W*(?:(?:and|so|ok|okay|hmm|but|wait)\W+)?(?:why|what|who|how(?!\s+about)|tell\s+me|explain|describe|is\s+(?:it|that|this|the)|"
                       r"does|did|was|are|can\s+you\s+(?:tell|explain|say)|what's|whats|who's|any\s+(?:info|details)|"
                       r"more\s+(?:info|about|details)|give\s+me\s+(?:more\s+)?(?:info|details)|details|info|remind\s+me)\b")
_REQUEST = re.compile(r"\b(?:recommend|suggest|show\s+me|give\s+me\s+(?:some|a|more|something|another|other)|find\s+me|"
                      r"something|anything|more\s+like|others|another|instead|else)\b")
_MORE_LIKE_PICK = re.compile(rf"\b(?:more|something|anything|movies?|films?|others?|ones?|stuff|similar)\s+(?:just\s+|a\s+bit\s+|"
                             rf"kind\s+of\s+|sort\s+of\s+|that\s+are\s+|that's\s+)?(?:like|to)\s+(?:the\s+)?(?:(?:{_ORD})|#|number|that|this|"
                             rf"it\b|those|these|them|last)|\b(?:like|similar\s+to)\s+(?:the\s+)?(?:{_ORD})\s+{_PICK_NOUN}|"
                             rf"\bmore\s+of\s+(?:the\s+)?(?:{_ORD})|\bsimilar\s+to\s+(?:the\s+)?(?:{_ORD}|that|this|it)\b")
_SOMETHING_ELSE = re.compile(r"\b(?:something|anything|show\s+me\s+something|give\s+me\s+something|any(?:thing)?|what)\s+else\b|"
                             r"\bothers\b|\bother\s+(?:ones|options|picks|movies|films|suggestions|recommendations|titles)\b|"
                             r"\bdifferent\s+(?:ones|options|picks|movies|films|suggestions|recommendations)\b|"
                             r"\bmore\s+(?:options|suggestions|picks|recommendations|choices)\b|\bnext\s+(?:ones|batch|page|few)\b|"
                             r"\bnone\s+of\s+(?:these|those|them)\b|\bnot\s+(?:these|those)(?:\s+ones)?\b|"
                             r"\b(?:show|give)\s+me\s+(?:some\s+)?more\b|\bnew\s+(?:ones|picks|options|suggestions)\b|"
                             r"\btry\s+again\b|\bsomething\s+different\b|\banother\s+(?:set|batch|round|few)\b")
_MARK_SEEN = re.compile(r"\b(?:i've|i\s+have|we've|we\s+have|i|we|already|have|i'd)\s+(?:already\s+|also\s+|actually\s+)?"
                        r"(?:seen|watched|saw)\s+(?:them|those|these|all|both|every\s+one|each|it|that|this|the\s+(?:" + _ORD +
                        r"|last|top))\b|\bseen\s+(?:them|those|these|it)\s+(?:all|already)\b|\bseen\s+all\s+(?:of\s+)?"
                        r"(?:them|those|these)\b|\b(?:already\s+)?(?:seen|watched)\s+(?:them|those|these)\s+(?:all|already)\b"
                        r"|\bseen\s+(?:em|'em)\s+all\b|\b(?:all|both)\s+(?:seen|watched)\b")
_SAVE = re.compile(r"\b(?:save|bookmark|add|put|stick|pop)\b[^.?!]{0,40}?\b(?:watch\s*-?\s*list|my\s+list|for\s+later)\b|"
                   r"\bsave\s+(?:the\s+)?(?:(?:" + _ORD + r")(?:\s+" + _PICK_NOUN + r")?|it|that(?:\s+one)?|this(?:\s+one)?|"
                   r"them|those|these|both|all(?:\s+of\s+them)?)\b|\bremind\s+me\s+to\s+watch\b")
_REFINE_CUE = re.compile(r"^\W*(?:ok(?:ay)?|so|and|alright|well|hmm+|right)?\W*(?:actually|now|instead|make\s+(?:it|them)|change|switch|"
                         r"what\s+about|how\s+about|this\s+time|rather|can\s+(?:it|they|you\s+make\s+it)\s+be|could\s+(?:it|they)\s+be|"
                         r"but|same\s+but|only|also|and)\b|\b(?:instead|this\s+time|now)\b")


def _read_acts(r: _Reading, picks: Sequence[Movie], active: HardConstraints | None) -> None:
    low = normalize(r.message).lower().strip()
    u = r.u
    u.pick_refs = _pick_refs(low, picks, r)
    pick_ids = {p.movie_id for p in picks}
    names_pick = any(it.kind == "title" and it.value.movie.movie_id in pick_ids for it in r.items)
    if _RESET.search(low):
        u.act = Act.RESET
        r.drop.update(range(len(r.tokens)))
        return
    if u.act == Act.REMOVE_CONSTRAINT:
        return
    refers = bool(u.pick_refs) or names_pick or bool(re.search(r"\b(?:this|that|the)\s+(?:one|movie|film|pick)\b|\bit\b", low))
    if picks and _MARK_SEEN.search(low):
        u.act = Act.MARK_SEEN
        if not u.pick_refs or re.search(r"\b(?:them|those|these|all|every\s+one|each|em)\b", low):
            u.pick_refs = list(range(1, len(picks) + 1))
        for k in u.pick_refs:
            movie = picks[k - 1]
            if all(t.movie_id != movie.movie_id for t in u.constraints.exclude_titles):
                u.constraints.exclude_titles.append(TitleRef(movie_id=movie.movie_id, title=movie.title, year=movie.year,
                                                             mention="(seen)"))
        u.seeds.titles = [t for t in u.seeds.titles if t.movie_id not in pick_ids]
        r.drop.update(range(len(r.tokens)))
        return
    if picks and _SAVE.search(low):
        u.act = Act.SAVE  # the picks are resolved by the state (positions or a named pick)
        if not u.pick_refs and re.search(r"\b(?:them|those|these|all|both)\b", low):
            u.pick_refs = list(range(1, len(picks) + 1))
        u.seeds.titles = [t for t in u.seeds.titles if t.movie_id not in pick_ids]
        r.drop.update(range(len(r.tokens)))
        return
    if picks and refers and _FOLLOW_Q.search(low) and not _MORE_LIKE_PICK.search(low) and not _SOMETHING_ELSE.search(low) \
            and not re.search(r"\b(?:recommend|suggest|show\s+me|give\s+me)\b", low):
        _as_follow_up(r)
        return
    if picks and re.fullmatch(r"\W*(?:why|how\s+come|why\s+(?:that|this|these|those)(?:\s+ones?)?|explain|why\s+so)\W*", low):
        _as_follow_up(r)
        return
    if picks and ((_MORE_LIKE_PICK.search(low) and (u.pick_refs or re.search(r"\b(?:that|this|it|those|these|them)\b", low)))
                  or (names_pick and re.search(r"\b(?:more|something|anything|others?|similar)\b.{0,20}\blike\b", low))):
        u.act = Act.MORE_LIKE_PICK
        if not u.pick_refs and re.search(r"\b(?:those|these|them)\b", low):
            u.pick_refs = list(range(1, len(picks) + 1))
        u.seeds.titles = [t for t in u.seeds.titles if t.movie_id not in pick_ids]
        return
    if picks and _SOMETHING_ELSE.search(low):
        u.act = Act.SOMETHING_ELSE
        return
    has_request = _has_request(u)
    _replace_opposite_bound(r, active)
    if r.removal_cue or (has_request and ((active is not None and _nonempty(active)) or picks) and _REFINE_CUE.search(low)):
        u.act = Act.REFINE
        return
    if r.relative_kinds and picks:
        u.act = Act.REFINE
        return
    if not has_request and _is_smalltalk(r):
        u.act = Act.SMALLTALK


def _as_follow_up(r: _Reading) -> None:
    """A question about a shown pick changes nothing: no constraints, seeds or taste text ("is the first
    one scary?" asks about Horror, it does not ask for it)."""
    r.u.act = Act.FOLLOW_UP
    r.u.constraints = HardConstraints()
    r.u.seeds.titles, r.u.seeds.vibes, r.u.seeds.people = [], [], []
    r.u.relative, r.u.removals, r.avoid, r.relative_kinds = [], [], [], []
    r.drop.update(range(len(r.tokens)))


def _replace_opposite_bound(r: _Reading, active: HardConstraints | None) -> None:
    """"ok now something for the adults" after a cap: the floor replaces the cap (and vice versa),
    when the session has the opposite bound or the message says it changes the request."""
    c, u = r.u.constraints, r.u
    low = normalize(r.message).lower()
    changes = bool(_REFINE_CUE.search(low))
    if c.min_certification and not c.max_certification and (changes or (active and active.max_certification)):
        removal = Removal(slot="max_certification")
        if removal not in u.removals:
            u.removals.append(removal)
        r.removal_cue = True
    if c.max_certification and not c.min_certification and (changes or (active and active.min_certification)):
        removal = Removal(slot="min_certification")
        if removal not in u.removals:
            u.removals.append(removal)
        r.removal_cue = True


def _nonempty(c: HardConstraints) -> bool:
    return c != HardConstraints()


def _has_request(u: Understanding) -> bool:
    return bool(_nonempty(u.constraints) or u.seeds.titles or u.seeds.people or u.seeds.vibes or u.relative or u.removals)


def _is_smalltalk(r: _Reading) -> bool:
    words = [t.low for i, t in enumerate(r.tokens) if t.is_word]
    text = " ".join(words)
    if not words:
        return True
    if re.search(r"\b(?:movie|film|watch|recommend|suggest|looking|want|something|anything|like|show)\b", text):
        return False
    return all(w in lx.FILLER_WORDS or w in lx.GREETINGS or w in {"you", "how", "are", "doing", "today"} for w in words)


# ---- step 7: residual text and descriptions ----------------------------------------------------

def _residual(r: _Reading) -> str:
    kept = [t for i, t in enumerate(r.tokens) if i not in r.drop]
    if not any(t.is_word and t.low not in lx.FILLER_WORDS and len(t.low) >= 3 and t.low not in lx.HEDGES
               for t in kept):
        return ""
    words: list[str] = []
    for t in kept:
        if t.is_word or t.text in {"-", "'"}:
            words.append(t.text)
    text = " ".join(words)
    text = re.sub(r"^(?:(?:and|or|but|so|with|just|also|then|a|an|the)\s+)+", "", text, flags=re.IGNORECASE)
    text = re.sub(r"(?:\s+(?:and|or|but|so|with|a|an|the|that|is|please|than))+$", "", text, flags=re.IGNORECASE)
    return text.strip()


def describe(u: Understanding) -> list[str]:
    """One short human line per understood part of the message ("no Horror", "at most 95 min")."""
    c = u.constraints
    # The hard parts are worded by the Filter itself (one owner of how a constraint reads).
    lines = Filter(include_genres=c.include_genres, exclude_genres=c.exclude_genres, min_year=c.min_year,
                   max_year=c.max_year, min_runtime_min=c.min_runtime_min, max_runtime_min=c.max_runtime_min,
                   lenient_runtime=c.lenient_runtime, min_certification=c.min_certification,
                   max_certification=c.max_certification, use_certification_estimates=c.use_certification_estimates,
                   original_language=c.language).describe(language_names=lx.LANGUAGE_NAMES)
    lines.extend(f"not {t.title}" for t in c.exclude_titles)
    lines.extend(f"nothing from {f.name} ({len(f.movie_ids)} movies)" for f in c.exclude_franchises)
    lines.extend(f"without {p}" for p in c.exclude_people)
    lines.extend(f"with {p}" for p in c.require_people)
    lines.extend(f"like {t.title}" for t in u.seeds.titles)
    for rel in u.relative:
        lines.append({"shorter": "shorter than", "longer": "longer than", "older": "older than", "newer": "newer than",
                      "less_scary": "less scary than", "lighter": "lighter than"}[rel.kind] + f" {rel.reference.title}")
    for removal in u.removals:
        lines.append(f"dropped: {removal.slot.replace('_', ' ')}" + (f" ({removal.value})" if removal.value else ""))
    return lines


# ---- the reader --------------------------------------------------------------------------------

def read(message: str, ctx: ReaderContext | None = None) -> Understanding:
    """The rule-based understanding of ``message`` (see the module docstring for the steps)."""
    ctx = ctx or ReaderContext()
    tokens = tokenize(message)
    r = _Reading(message, normalize(message).lower(), tokens, [False] * len(tokens))
    linker = ctx.linker
    latest = ctx.latest_year or (linker.latest_year if linker else None)
    if linker is not None:
        early = linker.link_unambiguous(tokens)
        for m in early:
            r.mask(tokens[m.start].start, tokens[m.end - 1].end)
    _read_permissions(r)
    _read_flags(r)
    _read_certification(r)
    _read_audience(r)
    _read_fear_phrases(r)
    _read_runtime(r)
    _read_years(r, latest)
    _read_language(r)
    if ctx.franchises is not None:
        _read_franchises(r, ctx.franchises, linker)
    if linker is not None:
        _add_mentions(r, [m for m in early if not any(r.blocked[k] for k in range(m.start, m.end))])
        pick_ids = frozenset(p.movie_id for p in ctx.picks)
        mentions, unresolved = linker.link(tokens, r.blocked, pick_ids)
        _add_mentions(r, mentions)
        r.u.unresolved_titles.extend(unresolved)
    _read_words(r)
    r.items.sort(key=lambda it: it.start)
    _scope(r)
    _map_items(r)
    _read_relative(r)
    _apply_pick_relative(r, ctx.picks)
    _read_acts(r, ctx.picks, ctx.active)
    _settle_hedged(r)
    c = r.u.constraints
    c.include_genres = [g for g in c.include_genres if g not in c.exclude_genres]
    seed_ids = {t.movie_id for t in r.u.seeds.titles}
    c.exclude_titles = [t for t in c.exclude_titles if t.movie_id not in seed_ids or r.u.act == Act.MARK_SEEN]
    r.u.avoid_text = ", ".join(dict.fromkeys(a for a in r.avoid if a))
    r.u.residual_text = "" if r.u.act in {Act.FOLLOW_UP, Act.RESET, Act.MARK_SEEN, Act.SMALLTALK, Act.SAVE} \
        else _residual(r)
    r.u.descriptions = describe(r.u) + r.u.descriptions
    return r.u
