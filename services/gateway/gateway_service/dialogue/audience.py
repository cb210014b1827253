"""Who is watching → certification cap / floor (the audience rules of services/gateway/README.md).

* ages (the youngest person named counts): ≤ 7 → cap PG and no Horror; 8–12 → cap PG;
  13–16 → cap PG-13; 17+ → no cap;
* "teens"/"teenagers" → cap PG-13; "kids", "children", "the little ones", "family friendly",
  "family movie night" → cap PG and no Horror; "toddler", "preschooler", "little kids" → cap G and
  no Horror (ages, when given, win over these words);
* floors: "for adults", "grown-up", "not a kids movie", "nothing made for (little) kids",
  "something mature" → floor PG-13 and no Children; "adults only", "properly adult" → floor R and
  no Children.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway_service.dialogue.lexicon import NUMBER_WORDS


@dataclass
class Audience:
    cap: str | None = None
    floor: str | None = None
    exclude_genres: list[str] = field(default_factory=list)
    include_genres: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)


def cap_for_age(age: int) -> tuple[str | None, bool]:
    """(certification cap, exclude Horror) for the youngest viewer's age."""
    if age <= 7:
        return "PG", True
    if age <= 12:
        return "PG", False
    if age <= 16:
        return "PG-13", False
    return None, False


_AGE_WORD = r"(?:\d{1,2}|" + "|".join(w for w in NUMBER_WORDS if " " not in w and w not in {"a", "an"}) + ")"
_AGES_LIST = rf"{_AGE_WORD}(?:\s*(?:,|and|&|or)\s*{_AGE_WORD})*"
_PERSON = (r"(?:kids?|children|child|sons?|daughters?|boys?|girls?|nephews?|nieces?|grandkids?|grandsons?|"
           r"granddaughters?|grandchildren|brothers?|sisters?|twins|little\s+ones?|youngest|oldest|one)")
_AGE_PATTERNS = (
    re.compile(rf"\b(?P<ages>{_AGES_LIST})[- ]?(?:years?|yrs?|yo)[- ]?olds?\b"),
    re.compile(rf"\b(?P<ages>{_AGES_LIST})\s*(?:years?|yrs?)\s+of\s+age\b"),
    re.compile(r"\b(?P<ages>\d{1,2})\s*yo\b"),
    re.compile(rf"\b(?:aged?|ages)\s+(?P<ages>{_AGES_LIST})\b"),
    re.compile(rf"\b{_PERSON}\s+(?:is|are|who\s+(?:is|are)|who's|that\s+(?:is|are)|of|at|turned|turning|just\s+turned)"
               rf"\s+(?:only\s+|just\s+|about\s+|around\s+)?(?P<ages>{_AGES_LIST})\b(?!\s*(?:minutes|mins|min|hours|%))"),
    re.compile(rf"\b{_PERSON}\s*\((?P<ages>{_AGES_LIST})\)"),
    # across clauses: "...take our son to a movie; he is 6", "she's 9", "they're 7 and 10", "my boy is turning 5"
    re.compile(rf"\b(?:he|she|they|{_PERSON})(?:'s|'re|\s+is|\s+are|\s+was|\s+will\s+be|\s+turns|\s+just\s+turned|"
               rf"\s+turned|\s+(?:is|are)\s+(?:turning|now|almost|nearly))\s+(?:only\s+|just\s+|about\s+|around\s+|almost\s+|"
               rf"nearly\s+)?(?P<ages>{_AGES_LIST})\b(?!\s*(?:minutes|mins|min|hours|hrs|%|pm|am|o'clock|feet|ft|stars?|out\s+of|"
               rf"times|of\s+(?:us|them)|[.,]\d|:\d))"),
    re.compile(rf"\b{_PERSON}\s*,\s*(?:aged?\s+)?(?P<ages>{_AGES_LIST})\s*(?=,|;|$|\.(?!\d))"),
    re.compile(rf"\b(?P<ages>{_AGE_WORD})\s+and\s+(?P<ages2>{_AGE_WORD})\s+(?:year|yr)[- ]olds?\b"),
)

# Genre/format nouns an adjective can qualify ("an adult comedy", "a mature drama", "adult animation").
_GENRE_NOUNS = ("comed(?:y|ies)|dramas?|thrillers?|animation|animated|cartoons?|anime|romance|rom-?coms?|fantasy|"
                "sci-fi|science\\s+fiction|mysteries|mystery|horror|westerns?|musicals?|documentar(?:y|ies)|"
                "adventures?|action|crime|war|movies?|films?|flicks?|stuff|fare|picks?|ones?")
_NEG = r"(?:no|not|nothing|none|never|without|isn't|aren't|don't\s+want|do\s+not\s+want)"
_FLOOR_PG13 = re.compile(
    rf"\b{_NEG}\s+(?:(?:a|an|any|too|really|made|meant|aimed|intended|geared|designed|targeted|for|at|toward|"
    rf"towards|just|only|the|typical)\s+)*(?:little\s+|young\s+|small\s+)?(?:kids?|kiddie|children|child|toddlers?|"
    rf"family)(?:'s|s'|')?(?:[- ]?(?:movies?|films?|stuff|shows?|friendly|oriented|fare|things?))?\b"
    r"|\b(?:for\s+(?:the\s+|us\s+)?(?:adults|grown[- ]?ups)|grown[- ]?ups?(?:\s+(?:movie|film|stuff|night))?"
    r"|just\s+(?:us\s+|for\s+)?(?:grown[- ]?ups|adults)|(?:something|anything)\s+(?:more\s+)?mature"
    r"|mature\s+(?:movie|film|audiences?|content|themes)|adult\s+(?:movies?|films?|night|audiences?|themes|fare)"
    rf"|(?:an?|some|something|anything|more|properly|proper)\s+(?:more\s+)?(?:adult|mature)(?=[\s-]+(?:{_GENRE_NOUNS})\b)"
    rf"|(?:adult|mature)(?=[\s-]+(?:{_GENRE_NOUNS})\b)(?!\s+(?:and|&)\s)|(?:something|anything)\s+(?:more\s+)?adult(?!\s+(?:and|&|with))"
    r"|adult[- ]oriented"
    r"|the\s+adults|us\s+adults|adults\s+night)\b")
_FLOOR_R = re.compile(r"\b(?:adults?\s+only|only\s+for\s+adults|properly\s+adult|strictly\s+adult|really\s+adult|"
                      r"proper\s+adult|seriously\s+adult|18\+|adults\s+strictly)(?=\W|$)")
_TEENS = re.compile(r"\b(?:teens?|teenagers?|teenaged|adolescents?|tweens?)\b")
# "baby" alone is a title word as often ("Baby Driver", "Million Dollar Baby"): only "our/my/the/a baby" is a child.
_LITTLE = re.compile(r"\b(?:toddlers?|preschoolers?|pre-schoolers?|little\s+kids|babies|(?:our|my|the|a)\s+baby|"
                     r"very\s+young\s+kids|"
                     r"tiny\s+kids|small\s+kids|young\s+kids)\b")
_KIDS = re.compile(r"\b(?:family[- ]friendly|kid[- ]?friendly|child[- ]friendly|kids?[- ]safe|kid[- ]appropriate|"
                   r"family\s+(?:movie\s+night|movie|film|night|viewing|time|fun|watch)|(?:the\s+)?whole\s+family|"
                   r"(?:(?:the|my|our|young|small|with|for)\s+(?:\w+\s+)?)?(?:kids|children|kiddos|little\s+ones)|"
                   r"(?:my|our|with\s+(?:a|my|our|the)|for\s+(?:a|my|our|the))\s+(?:little\s+|young\s+)?(?:kid|child)|"
                   r"suitable\s+for\s+(?:kids|children)|appropriate\s+for\s+(?:kids|children))\b")
_KIDS_MOVIE = re.compile(r"\b(?:kids?|kids'|kid's|children's|childrens)\s*(?:movies?|films?)\b|\bchildren's\b")


def _age(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    value = NUMBER_WORDS.get(word)
    return int(value) if value is not None else None


def read_audience(low: str, blocked: list[bool] | None = None) -> Audience:
    """Audience signals in the lowercased message ``low``."""
    out = Audience()
    taken: list[tuple[int, int]] = []

    def free(m: re.Match) -> bool:
        return not any(s < m.end() and m.start() < e for s, e in taken)

    for m in _FLOOR_R.finditer(low):
        taken.append(m.span())
        out.floor = "R"
        out.descriptions.append("for adults only (rated R or above)")
    for m in _FLOOR_PG13.finditer(low):
        if free(m):
            taken.append(m.span())
            if out.floor is None:
                out.floor = "PG-13"
                out.descriptions.append("for adults (rated PG-13 or above)")
    if out.floor:
        out.exclude_genres.append("Children")
    ages: list[int] = []
    for pattern in _AGE_PATTERNS:
        for m in pattern.finditer(low):
            if not free(m):
                continue
            words = re.findall(_AGE_WORD, m.group("ages") + " " + (m.groupdict().get("ages2") or ""))
            found = [a for a in (_age(w) for w in words) if a is not None and 0 < a < 100]
            if found:
                ages.extend(found)
                taken.append(m.span())
    caps: list[tuple[str | None, bool]] = []
    if ages:
        youngest = min(ages)
        caps.append(cap_for_age(youngest))
        out.descriptions.append(f"suitable for a {youngest}-year-old")
    for m in _LITTLE.finditer(low):
        if free(m):
            taken.append(m.span())
            caps.append(("G", True))
    if not ages:
        for m in _TEENS.finditer(low):
            if free(m):
                taken.append(m.span())
                caps.append(("PG-13", False))
        for m in _KIDS_MOVIE.finditer(low):
            if free(m):
                taken.append(m.span())
                caps.append(("PG", True))
                out.include_genres.append("Children")
        for m in _KIDS.finditer(low):
            if free(m):
                taken.append(m.span())
                caps.append(("PG", True))
    order = ("G", "PG", "PG-13", "R", "NC-17")
    named = [c for c, _ in caps if c]
    if named:
        out.cap = min(named, key=order.index)
    if any(horror for _, horror in caps):
        out.exclude_genres.append("Horror")
    out.spans = taken
    return out
