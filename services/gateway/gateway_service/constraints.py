"""Constraint parser for chat messages (pure: no I/O; titles are resolved through a callback).

``parse_message("something from the 90s, nothing too scary, not Titanic", resolve_title=...)``
returns what the message asks for as hard constraints, a human description of each, the titles it
could not resolve, and the *residual* text (the message without the phrases that became
constraints), which is what the taste vector may move toward: embedding "not Titanic" or
"nothing too scary" would pull the taste toward Titanic and scary films.

Decisions (also in the README):

* runtime — "under 2 hours" / "less than 90 minutes" / "shorter than X" are strict (≤ X − 1 min);
  "at most", "no longer than", "up to", "X or less", "max X" are inclusive (≤ X); "not too long"
  is ≤ 120; "something short" / "quick" is < 100. "something shorter" is relative: shorter than
  the median known runtime of the previous recommendations (≤ median − 1), or < 100 minutes when
  there were none with a known runtime. Unknown runtimes are excluded unless the message says
  they are fine ("unknown runtime is ok").
* fear — "nothing too scary", "not scary", "I scare easily", "no jump scares" exclude Horror *and*
  Thriller; "no horror" excludes Horror only (it names the genre). No certification limit, since
  most movies have no known certification and a limit would exclude them all.
* family — "family friendly", "for kids", "with my kids", … → certification at most PG (unknown
  certifications excluded, docs/architecture.md §3) and no Horror.
* certification — "no R-rated" / "PG-13 or below" → at most PG-13; "rated PG" → at most PG; "G-rated" → G;
  "no NC-17" → at most R.
* years — "the 90s" / "1990s" / "nineties" → 1990–1999 ("early" 0–3, "mid" 3–6, "late" 6–9 of the
  decade; "00s"/"10s"/"20s" are the 2000s/2010s/2020s); "after 2010" → ≥ 2011; "since 2010",
  "2010 or later", "from 2010 on" → ≥ 2010; "before 1980" → ≤ 1979; "until 1980" → ≤ 1980; "in 1995",
  "from 1995" → 1995 only; "between 1990 and 2000" → 1990–2000; "recent" → the last 5 catalog years.
* titles — "not X", "except X", "I've seen X", "already watched X" exclude X; "more like X",
  "something like X", "similar to X" seed the search with X's vector. A title must match a catalog
  title exactly (case, accents, punctuation and a leading article ignored); the longest matching
  run of words after the trigger wins; a phrase that is itself a constraint ("not too long") or a
  common word is never taken for a title.
* language — "in French", "French-language", "a French film" → original language "fr".
* genres — "a comedy", "something funny", "sci-fi" → include (any of the named genres); preceded by
  "no", "not", "nothing", "without", "avoid", "skip", "hate" → exclude.
* "reset" / "start over" / "clear the filters" drops every earlier constraint of the session.

Constraints accumulate over a session (:func:`merge`): a new value replaces an old one of the same
kind, exclusions add up, and a genre asked for is removed from the excluded ones (and vice versa).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

CERT_ORDER = ("G", "PG", "PG-13", "R", "NC-17")
DEFAULT_SHORT_MAX = 99  # "short" = under 100 minutes
NOT_TOO_LONG_MAX = 120
RECENT_YEARS = 5
FEAR_GENRES = ("Horror", "Thriller")
TITLE_MAX_WORDS = 10


@dataclass(frozen=True)
class TitleMatch:
    movie_id: int
    title: str


TitleResolver = Callable[[str], TitleMatch | None]


@dataclass
class Constraints:
    max_runtime_min: int | None = None
    lenient_runtime: bool = False
    max_certification: str | None = None
    include_genres: list[str] = field(default_factory=list)
    exclude_genres: list[str] = field(default_factory=list)
    min_year: int | None = None
    max_year: int | None = None
    language: str | None = None
    exclude_movies: list[TitleMatch] = field(default_factory=list)
    more_like: TitleMatch | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Constraints:
        data = dict(data)
        data["exclude_movies"] = [TitleMatch(**m) for m in data.get("exclude_movies", [])]
        data["more_like"] = TitleMatch(**data["more_like"]) if data.get("more_like") else None
        return cls(**data)

    def is_empty(self) -> bool:
        return self == Constraints()


@dataclass
class ParseResult:
    update: Constraints
    mentioned: set[str]
    reset: bool
    descriptions: list[str]
    unresolved: list[str]
    residual: str


# ---- vocabulary --------------------------------------------------------------------------------

_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
                 "thirty": 30, "forty": 40, "forty-five": 45, "fifty": 50, "sixty": 60, "seventy": 70,
                 "eighty": 80, "ninety": 90, "hundred": 100, "a hundred": 100, "one hundred": 100}
_NUM = r"(?:\d+(?:\.\d+)?|" + "|".join(sorted((re.escape(w) for w in _NUMBER_WORDS), key=len, reverse=True)) + ")"
_HOURS = r"(?:h|hr|hrs|hour|hours)\b"
_MINUTES = r"(?:m|min|mins|minute|minutes)\b"
DURATION = (rf"(?:(?:{_NUM})\s*(?:and\s+a\s+half\s+)?{_HOURS}(?:\s*(?:and\s+)?(?:a\s+half|\d+\s*(?:{_MINUTES})?))?"
            rf"|(?:{_NUM})\s*{_MINUTES}|half\s+an\s+hour|\d{{1,2}}h\d{{2}})")

_STRICT_OPS = r"under|less\s+than|shorter\s+than|below|lower\s+than|not\s+even|beneath"
_INCLUSIVE_OPS = (r"at\s+most|no\s+more\s+than|no\s+longer\s+than|not\s+longer\s+than|not\s+more\s+than|up\s+to|"
                  r"max(?:imum)?(?:\s+of)?|within|tops|maximum\s+length\s+of")
_INCLUSIVE_POST = r"or\s+(?:less|shorter|under|fewer)|max(?:imum)?|tops|at\s+most|or\s+so\s+max"

GENRES: dict[str, tuple[str, ...]] = {
    r"action": ("Action",),
    r"adventures?": ("Adventure",),
    r"animated|animations?|cartoons?|anime": ("Animation",),
    r"rom-?coms?|romantic\s+comed(?:y|ies)": ("Comedy", "Romance"),
    r"comed(?:y|ies)|funny|comedic|hilarious|laugh(?:s)?": ("Comedy",),
    r"crime|gangsters?|heists?|mafia|mob\s+movies?": ("Crime",),
    r"documentar(?:y|ies)": ("Documentary",),
    r"dramas?|dramatic": ("Drama",),
    r"fantasy|fantasies": ("Fantasy",),
    r"film[- ]noir|noir": ("Film-Noir",),
    r"horror|slashers?": ("Horror",),
    r"musicals?": ("Musical",),
    r"myster(?:y|ies)|whodunn?its?": ("Mystery",),
    r"romance|romantic|love\s+stor(?:y|ies)": ("Romance",),
    r"sci-?fi|science[- ]fiction|scifi": ("Sci-Fi",),
    r"thrillers?|suspense": ("Thriller",),
    r"war\s+(?:movies?|films?|dramas?)|wartime": ("War",),
    r"westerns?": ("Western",),
}
_GENRE_ALT = "|".join(f"(?:{p})" for p in GENRES)
_NEGATION = (r"(?:no|not|nothing|without|avoid|skip|hate|except|anything\s+but|none\s+of|never|"
             r"(?:don't|dont|do\s+not)\s+(?:want|like|need|feel\s+like))")

LANGUAGES = {"english": "en", "french": "fr", "spanish": "es", "german": "de", "italian": "it", "japanese": "ja",
             "korean": "ko", "chinese": "zh", "mandarin": "zh", "cantonese": "cn", "hindi": "hi",
             "russian": "ru", "swedish": "sv", "danish": "da", "norwegian": "no", "portuguese": "pt",
             "dutch": "nl", "persian": "fa", "farsi": "fa", "turkish": "tr", "polish": "pl", "thai": "th",
             "hebrew": "he", "arabic": "ar", "greek": "el", "finnish": "fi", "hungarian": "hu", "czech": "cs",
             "icelandic": "is", "romanian": "ro", "indonesian": "id", "tamil": "ta", "telugu": "te"}
LANGUAGE_NAMES = {code: name.capitalize() for name, code in reversed(list(LANGUAGES.items()))}
_LANG_ALT = "|".join(LANGUAGES)

_DECADE_WORDS = {"twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950, "sixties": 1960,
                 "seventies": 1970, "eighties": 1980, "nineties": 1990}
_PART = {"early": (0, 3), "mid": (3, 6), "middle": (3, 6), "late": (6, 9)}

# Words that are never a title on their own ("not now", "not sure", "I've seen it").
_STOPWORDS = {
    "a", "an", "the", "it", "that", "this", "these", "those", "them", "one", "ones", "again", "anymore", "really",
    "so", "too", "very", "more", "less", "much", "many", "any", "anything", "something", "nothing", "sure", "yet",
    "now", "today", "tonight", "please", "thanks", "thank", "ok", "okay", "yes", "no", "not", "and", "or", "with",
    "about", "like", "just", "me", "my", "i", "you", "we", "us", "that's", "it's", "else", "all", "some", "other",
    "another", "either", "neither", "from", "in", "on", "at", "of", "for", "to", "by", "as", "into", "than",
    "then", "when", "where", "who", "what"
}
_CONTENT_STOPWORDS = _STOPWORDS | {
    "something", "movie", "movies", "film", "films", "show", "me", "give", "want", "watch", "watching", "see",
    "recommend", "recommendations", "suggest", "suggestions", "maybe", "perhaps", "would", "could", "should",
    "can", "please", "what", "how", "which", "from", "in", "of", "for", "to", "on", "at", "by", "be", "is", "are",
    "was", "were", "but", "some", "also", "one", "kind", "sort", "type"
}

_CLAUSE_END = r"[,.;:!?()\n]|\s(?:but|and|or|from|under|in\s+the|with|without|that|which|because|please|set|though)\s"


# ---- the parser --------------------------------------------------------------------------------

class _Text:
    """The message with consumed spans blanked (same length), and which spans to drop from the residual."""

    def __init__(self, message: str):
        self.original = message
        self.text = " " + message.lower().replace("’", "'") + " "
        self.dropped: list[tuple[int, int]] = []

    def consume(self, start: int, end: int, *, drop: bool = True) -> None:
        self.text = self.text[:start] + "," * (end - start) + self.text[end:]
        if drop:
            self.dropped.append((start, end))

    def residual(self) -> str:
        chars = list(" " + self.original + " ")
        for start, end in self.dropped:
            for i in range(start, min(end, len(chars))):
                chars[i] = " "
        return re.sub(r"\s+", " ", "".join(chars)).strip(" ,.;:!?-")


def minutes(duration: str) -> int | None:
    """"2 hours" → 120, "an hour and a half" → 90, "1h30" → 90, "90 min" → 90, "1.5 hours" → 90."""
    text = duration.strip().lower()
    if re.fullmatch(r"half\s+an\s+hour", text):
        return 30
    compact = re.fullmatch(r"(\d{1,2})h(\d{2})", text)
    if compact:
        return int(compact.group(1)) * 60 + int(compact.group(2))
    number = re.match(rf"({_NUM})\s*", text)
    if not number:
        return None
    value = _number(number.group(1))
    rest = text[number.end():]
    if re.match(_MINUTES, rest):
        return round(value)
    total = value * 60
    if re.search(r"a\s+half", rest):
        total += 30
    extra = re.search(r"(\d+)\s*(?:" + _MINUTES + r")?\s*$", rest)
    if extra and not re.match(r"^\d", rest):
        total += int(extra.group(1))
    return round(total)


def _number(token: str) -> float:
    token = token.strip()
    return float(token) if re.fullmatch(r"\d+(?:\.\d+)?", token) else float(_NUMBER_WORDS[token])


def _parse_reset(t: _Text) -> bool:
    pattern = (r"\b(?:reset|start\s+over|start\s+again|clear\s+(?:the\s+|all\s+|my\s+)?(?:filters?|constraints?)|"
               r"forget\s+(?:the\s+|all\s+|my\s+)?(?:filters?|constraints?|that))\b")
    found = False
    for m in re.finditer(pattern, t.text):
        t.consume(m.start(), m.end())
        found = True
    return found


def _parse_family(t: _Text, out: Constraints, mentioned: set[str]) -> None:
    pattern = (r"\b(?:family[- ]friendly|kid[- ]friendly|child[- ]friendly|kids?[- ]safe|"
               r"for\s+(?:the\s+|my\s+|little\s+|young\s+|small\s+)?(?:kids|children|family|little\s+ones|"
               r"a\s+(?:\d+|five|six|seven|eight|nine|ten)[- ]year[- ]old)|"
               r"with\s+(?:the\s+|my\s+|our\s+)?(?:kids|children|family)|suitable\s+for\s+(?:kids|children)|"
               r"family\s+(?:movie|film|night)|(?:the\s+)?whole\s+family|appropriate\s+for\s+(?:kids|children))\b")
    for m in re.finditer(pattern, t.text):
        t.consume(m.start(), m.end())
        _tighten_certification(out, "PG", mentioned)
        _add(out.exclude_genres, ["Horror"])
        mentioned.add("exclude_genres")


def _tighten_certification(out: Constraints, cert: str, mentioned: set[str]) -> None:
    if out.max_certification is None or CERT_ORDER.index(cert) < CERT_ORDER.index(out.max_certification):
        out.max_certification = cert
    mentioned.add("max_certification")


def _parse_certification(t: _Text, out: Constraints, mentioned: set[str]) -> None:
    rules = (
        (r"\b(?:no|not|nothing|without)\s+(?:rated\s+)?nc-?17(?:[- ]rated)?\b", "R"),
        (r"\b(?:no|not|nothing|without|avoid)\s+(?:rated\s+)?r(?:[- ]rated)?\s*(?:movies?|films?)?(?=[\s,.;!?])"
         r"|\bnothing\s+rated\s+r\b|\b(?:at\s+most|max(?:imum)?)\s+pg-?13\b|\bpg-?13\s+(?:or\s+(?:below|lower|less|"
         r"under|milder|softer)|max(?:imum)?|at\s+most)\b|\brated\s+pg-?13\b|\bpg-?13[- ]rated\b", "PG-13"),
        (r"\b(?:at\s+most|max(?:imum)?)\s+pg\b(?!-)|\bpg\s+(?:or\s+(?:below|lower|less|under|milder)|max|only)\b"
         r"|\brated\s+pg\b(?!-)|\bpg[- ]rated\b", "PG"),
        (r"\b(?:rated\s+g|g[- ]rated)\b", "G"),
    )
    for pattern, cert in rules:
        for m in re.finditer(pattern, t.text):
            t.consume(m.start(), m.end())
            _tighten_certification(out, cert, mentioned)


def _parse_fear(t: _Text, out: Constraints, mentioned: set[str]) -> None:
    scary = r"(?:scary|frightening|creepy|terrifying|spooky|disturbing|scarey|horrifying|nightmare-?inducing)"
    pattern = (rf"\b(?:nothing|not|no|none|isn't|aren't|without|never|nothin)\s+"
               rf"(?:that's\s+|that\s+is\s+|that\s+are\s+)?(?:too\s+|very\s+|that\s+|overly\s+|"
               rf"really\s+|so\s+|super\s+|particularly\s+|remotely\s+|at\s+all\s+)?{scary}\b|"
               rf"\b(?:i|we)\s+(?:get\s+|am\s+|are\s+|'m\s+)?(?:scare|scared|frighten)\s*easily\b|\beasily\s+scared\b|"
               rf"\bno\s+jump[- ]?scares?\b|\b(?:not|nothing)\s+(?:too\s+)?(?:gory|bloody)\b|"
               rf"\bno\s+nightmares\b|\bnot\s+(?:too\s+)?intense\b")
    for m in re.finditer(pattern, t.text):
        t.consume(m.start(), m.end())
        _add(out.exclude_genres, FEAR_GENRES)
        _remove(out.include_genres, FEAR_GENRES)
        mentioned.add("exclude_genres")


def _parse_runtime(t: _Text, out: Constraints, mentioned: set[str], last_runtimes: Iterable[int]) -> None:
    rules = (
        (rf"\b(?:{_STRICT_OPS})\s+(?:about\s+|around\s+|roughly\s+)?(?P<d>{DURATION})", -1),
        (rf"\b(?:{_INCLUSIVE_OPS})\s+(?:about\s+|around\s+)?(?P<d>{DURATION})", 0),
        (rf"(?P<d>{DURATION})\s+(?:{_INCLUSIVE_POST})\b", 0),
    )
    for pattern, adjust in rules:
        for m in re.finditer(pattern, t.text):
            value = minutes(m.group("d"))
            if value is None or value <= 0:
                continue
            t.consume(m.start(), m.end())
            _set_runtime(out, value + adjust, mentioned)
    relative = r"\b(?:shorter|less\s+long|not\s+as\s+long|quicker|briefer)\b"
    for m in re.finditer(relative, t.text):
        t.consume(m.start(), m.end())
        known = [r for r in last_runtimes if r]
        limit = int(statistics.median(known)) - 1 if known else DEFAULT_SHORT_MAX
        _set_runtime(out, max(limit, 1), mentioned)
    for m in re.finditer(r"\bnot\s+(?:too|very|that|overly|super)\s+long\b", t.text):
        t.consume(m.start(), m.end())
        _set_runtime(out, NOT_TOO_LONG_MAX, mentioned)
    for m in re.finditer(r"\b(?:short|quick|brief)\b(?![\s-]+(?:film|films|witted)\b)", t.text):
        t.consume(m.start(), m.end())
        _set_runtime(out, DEFAULT_SHORT_MAX, mentioned)
    lenient = (r"\b(?:unknown|missing)\s+(?:runtimes?|lengths?|durations?)\s+(?:is|are)?\s*(?:ok|okay|fine|allowed)\b"
               r"|\b(?:even\s+)?if\s+the\s+(?:runtime|length)\s+is\s+unknown\b")
    for m in re.finditer(lenient, t.text):
        t.consume(m.start(), m.end())
        out.lenient_runtime = True
        mentioned.add("lenient_runtime")


def _set_runtime(out: Constraints, value: int, mentioned: set[str]) -> None:
    out.max_runtime_min = value if out.max_runtime_min is None else min(out.max_runtime_min, value)
    mentioned.add("max_runtime_min")


def _decade_start(digits: str, century: str | None) -> int:
    d = int(digits)
    if century:
        return int(century) * 100 + d * 10
    return 2000 + d * 10 if d <= 2 else 1900 + d * 10


def _parse_years(t: _Text, out: Constraints, mentioned: set[str], latest_year: int | None) -> None:
    part = r"(?:(?P<part>early|mid|middle|late)[- ]?)?"
    decade_re = (rf"\b(?:from\s+|in\s+|during\s+)?(?:the\s+)?{part}(?:'|‘)?(?P<century>19|20)?(?P<d>\d)0\s?'?s\b"
                 rf"|\b(?:from\s+|in\s+)?(?:the\s+)?{part.replace('part', 'part2')}(?P<word>"
                 + "|".join(_DECADE_WORDS) + r")\b")
    for m in re.finditer(decade_re, t.text):
        start = _DECADE_WORDS[m.group("word")] if m.group("word") else _decade_start(m.group("d"), m.group("century"))
        lo, hi = _PART.get(m.group("part") or m.group("part2") or "", (0, 9))
        t.consume(m.start(), m.end())
        _set_years(out, start + lo, start + hi, mentioned)
    year, year2 = r"(?P<y>(?:19|20)\d{2})", r"(?P<y2>(?:19|20)\d{2})"
    def low(m: re.Match) -> tuple[int | None, int | None]:
        return int(m.group("y")), None

    rules: tuple[tuple[str, Callable[[re.Match], tuple[int | None, int | None]]], ...] = (
        (rf"\bbetween\s+{year}\s+and\s+{year2}\b", lambda m: (int(m.group("y")), int(m.group("y2")))),
        (rf"\bfrom\s+{year}\s+(?:to|until|through|till)\s+{year2}\b",
         lambda m: (int(m.group("y")), int(m.group("y2")))),
        (rf"\b{year}\s*[-–]\s*{year2}\b", lambda m: (int(m.group("y")), int(m.group("y2")))),
        (rf"\b(?:after|newer\s+than|later\s+than|post)\s+{year}\b", lambda m: (int(m.group("y")) + 1, None)),
        (rf"\b(?:since|from)\s+{year}\s+(?:on|onwards?|or\s+later|and\s+later)\b", low),
        (rf"\b{year}\s+or\s+(?:later|newer|after)\b", low),
        (rf"\bsince\s+{year}\b", low),
        (rf"\b(?:before|older\s+than|prior\s+to|earlier\s+than|pre)\s+{year}\b",
         lambda m: (None, int(m.group("y")) - 1)),
        (rf"\b(?:until|up\s+to|through|no\s+later\s+than)\s+{year}\b", lambda m: (None, int(m.group("y")))),
        (rf"\b{year}\s+or\s+(?:earlier|older|before)\b", lambda m: (None, int(m.group("y")))),
        (rf"\b(?:in|from|released\s+in|made\s+in|of)\s+{year}\b", lambda m: (int(m.group("y")), int(m.group("y")))),
    )
    for pattern, bounds in rules:
        for m in re.finditer(pattern, t.text):
            lo, hi = bounds(m)
            t.consume(m.start(), m.end())
            _set_years(out, lo, hi, mentioned)
    if latest_year:
        for m in re.finditer(r"\b(?:recent|newer|new\s+(?:movies?|films?|releases?)|latest)\b", t.text):
            t.consume(m.start(), m.end(), drop=False)
            _set_years(out, latest_year - RECENT_YEARS + 1, None, mentioned)


def _set_years(out: Constraints, lo: int | None, hi: int | None, mentioned: set[str]) -> None:
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    if lo is not None:
        out.min_year = lo
        mentioned.add("min_year")
    if hi is not None:
        out.max_year = hi
        mentioned.add("max_year")


def _parse_language(t: _Text, out: Constraints, mentioned: set[str], unresolved: list[str]) -> None:
    pattern = (rf"\b(?P<neg>not\s+|no\s+|non[- ])?(?:in\s+(?P<a>{_LANG_ALT})\b|(?P<b>{_LANG_ALT})[- ]language\b|"
               rf"(?P<c>{_LANG_ALT})\s+(?:movies?|films?|cinema|ones?|productions?)\b|"
               rf"(?:spoken|dubbed)\s+in\s+(?P<d>{_LANG_ALT})\b)")
    for m in re.finditer(pattern, t.text):
        name = m.group("a") or m.group("b") or m.group("c") or m.group("d")
        t.consume(m.start(), m.end())
        if m.group("neg"):
            unresolved.append(f"excluding a language ({name.capitalize()}) is not supported; "
                              "name the language you want instead")
            continue
        out.language = LANGUAGES[name]
        mentioned.add("language")


def _parse_genres(t: _Text, out: Constraints, mentioned: set[str]) -> None:
    negated = rf"\b{_NEGATION}\s+(?:a\s+|an\s+|any\s+|more\s+|too\s+much\s+|the\s+|those\s+|anything\s+)?" \
              rf"(?:(?:{_GENRE_ALT})(?:\s+(?:or|and|nor|,)\s+)?)+(?:\s+(?:movies?|films?|stuff|please))?\b"
    for m in re.finditer(negated, t.text):
        genres = _genres_in(m.group(0))
        t.consume(m.start(), m.end())
        _add(out.exclude_genres, genres)
        _remove(out.include_genres, genres)
        mentioned.add("exclude_genres")
    for m in re.finditer(rf"\b(?:{_GENRE_ALT})\b", t.text):
        genres = _genres_in(m.group(0))
        t.consume(m.start(), m.end(), drop=False)  # a genre asked for is also taste: keep it in the residual
        _add(out.include_genres, genres)
        _remove(out.exclude_genres, genres)
        mentioned.add("include_genres")


def _genres_in(text: str) -> list[str]:
    found: list[str] = []
    for m in re.finditer(rf"\b(?:{_GENRE_ALT})\b", text):
        for pattern, genres in GENRES.items():
            if re.fullmatch(pattern, m.group(0)):
                _add(found, genres)
                break
    return found


def _add(target: list[str], items: Iterable[str]) -> None:
    for item in items:
        if item not in target:
            target.append(item)


def _remove(target: list[str], items: Iterable[str]) -> None:
    for item in items:
        while item in target:
            target.remove(item)


_MORE_LIKE = (r"\b(?:more|something|anything|movies?|films?|ones?|stuff|others?|things?|picks?)\s+"
              r"(?:just\s+|a\s+bit\s+|"
              r"kind\s+of\s+|sort\s+of\s+)?like\s+|\bsimilar\s+to\s+|\bin\s+the\s+(?:style|vein|spirit)\s+of\s+|"
              r"\bif\s+i\s+(?:liked|loved|enjoyed)\s+|\bsame\s+vibe\s+as\s+|\balong\s+the\s+lines\s+of\s+")
_EXCLUDE = (r"\b(?:not|except|excluding|but\s+not|anything\s+but|other\s+than|apart\s+from|besides|skip|no|"
            r"without|minus)\s+|\b(?:i(?:'ve|\s+have)?|we(?:'ve|\s+have)?)\s+(?:already\s+)?(?:seen|watched)\s+|"
            r"\balready\s+(?:seen|watched|saw)\s+|\bi\s+(?:already\s+)?saw\s+")


def _looks_like_constraint(phrase: str) -> bool:
    probe = _Text(phrase)
    scratch, seen = Constraints(), set()
    _parse_family(probe, scratch, seen)
    _parse_certification(probe, scratch, seen)
    _parse_fear(probe, scratch, seen)
    _parse_runtime(probe, scratch, seen, ())
    _parse_years(probe, scratch, seen, 2000)
    _parse_language(probe, scratch, seen, [])
    _parse_genres(probe, scratch, seen)
    return bool(seen) or bool(re.fullmatch(r"\s*(?:too|so|very|that|really|quite)\b.*", phrase))


def _title_after(t: _Text, trigger_end: int, resolve: TitleResolver) -> tuple[TitleMatch, int] | None:
    """The longest run of words after a trigger that resolves to a catalog title → (match, end offset).

    A title never spans a comma, a bracket or a sentence end; a phrase that is itself a constraint
    ("too long", "from the 90s") or a lone common word is never taken for a title.
    """
    rest = t.text[trigger_end:]
    segment = re.split(r"[,;!?()\n]|\.(?:\s|$)", rest, maxsplit=1)[0]
    words = list(re.finditer(r"\S+", segment))[:TITLE_MAX_WORDS]
    for count in range(len(words), 0, -1):
        span_end = words[count - 1].end()
        phrase = segment[:span_end].strip(" .:\"'")
        if not phrase or _looks_like_constraint(phrase):
            continue
        if count == 1 and (phrase in _STOPWORDS or len(phrase) < 3):
            continue
        match = resolve(phrase)
        if match is not None:
            return match, trigger_end + span_end
    return None


def _parse_titles(t: _Text, out: Constraints, mentioned: set[str], unresolved: list[str],
                  resolve: TitleResolver | None) -> None:
    for trigger, kind in ((_MORE_LIKE, "more_like"), (_EXCLUDE, "exclude")):
        for m in list(re.finditer(trigger, t.text)):
            if "," in t.text[m.start():m.end()]:
                continue  # consumed by an earlier title
            found = _title_after(t, m.end(), resolve) if resolve else None
            if found is None:
                if kind == "more_like":
                    guess = re.split(_CLAUSE_END, t.text[m.end():], maxsplit=1)[0].strip(" ,")
                    if guess and not _looks_like_constraint(guess):
                        unresolved.append(f"no movie titled {guess!r} in the catalog")
                continue
            match, end = found
            t.consume(m.start(), end)
            if kind == "more_like":
                out.more_like = match
                mentioned.add("more_like")
            elif match not in out.exclude_movies:
                out.exclude_movies.append(match)
                mentioned.add("exclude_movies")


def parse_message(message: str, *, resolve_title: TitleResolver | None = None, last_runtimes: Iterable[int] = (),
                  latest_year: int | None = None) -> ParseResult:
    """Parse one chat message. ``resolve_title(phrase)`` maps a phrase to a catalog movie or None;
    ``last_runtimes`` are the known runtimes of the previous recommendations ("something shorter");
    ``latest_year`` is the newest year in the catalog ("recent")."""
    t = _Text(message)
    out, mentioned, unresolved = Constraints(), set(), []
    reset = _parse_reset(t)
    # Titles first, so that words inside a title ("The French Connection") are not read as constraints;
    # a phrase that is itself a constraint is never taken for a title.
    _parse_titles(t, out, mentioned, unresolved, resolve_title)
    _parse_family(t, out, mentioned)
    _parse_certification(t, out, mentioned)
    _parse_fear(t, out, mentioned)
    _parse_runtime(t, out, mentioned, last_runtimes)
    _parse_years(t, out, mentioned, latest_year)
    _parse_language(t, out, mentioned, unresolved)
    _parse_genres(t, out, mentioned)
    return ParseResult(out, mentioned, reset, describe(out), unresolved, t.residual())


def has_content(residual: str) -> bool:
    """True when the residual text says something about taste (not only filler words)."""
    words = re.findall(r"[a-z][a-z'-]+", residual.lower())
    return any(w not in _CONTENT_STOPWORDS and len(w) >= 3 for w in words)


def merge(active: Constraints, parsed: ParseResult) -> Constraints:
    """The session's constraints after this message (see the module docstring for the rules)."""
    base = Constraints() if parsed.reset else Constraints.from_dict(active.to_dict())
    update = parsed.update
    for name in ("max_runtime_min", "max_certification", "min_year", "max_year", "language", "lenient_runtime"):
        if name in parsed.mentioned:
            setattr(base, name, getattr(update, name))
    if ("min_year" in parsed.mentioned) != ("max_year" in parsed.mentioned):
        # "after 2010" after "the 90s": an open bound replaces the whole year range.
        if "min_year" in parsed.mentioned:
            base.max_year = None
        else:
            base.min_year = None
    if "include_genres" in parsed.mentioned:
        base.include_genres = list(update.include_genres)
        _remove(base.exclude_genres, update.include_genres)
    if "exclude_genres" in parsed.mentioned:
        _add(base.exclude_genres, update.exclude_genres)
        _remove(base.include_genres, update.exclude_genres)
    for movie in update.exclude_movies:
        if movie not in base.exclude_movies:
            base.exclude_movies.append(movie)
    base.more_like = update.more_like  # a seed applies to its own turn only
    if base.more_like is not None and base.more_like in base.exclude_movies:
        base.exclude_movies.remove(base.more_like)
    return base


def describe(c: Constraints) -> list[str]:
    """One short phrase per active constraint, for echoing back to the user."""
    out = []
    if c.include_genres:
        out.append("genre: " + " or ".join(c.include_genres))
    if c.exclude_genres:
        out.append("no " + " or ".join(c.exclude_genres))
    if c.min_year is not None and c.max_year is not None:
        if c.min_year % 10 == 0 and c.max_year == c.min_year + 9:
            out.append(f"from the {c.min_year}s")
        elif c.min_year == c.max_year:
            out.append(f"released in {c.min_year}")
        else:
            out.append(f"released {c.min_year}–{c.max_year}")
    elif c.min_year is not None:
        out.append(f"released in {c.min_year} or later")
    elif c.max_year is not None:
        out.append(f"released in {c.max_year} or earlier")
    if c.max_runtime_min is not None:
        lenient = " (unknown runtimes allowed)" if c.lenient_runtime else ""
        out.append(f"at most {c.max_runtime_min} minutes{lenient}")
    if c.max_certification:
        out.append(f"rated {c.max_certification} or milder (unrated/unknown excluded)")
    if c.language:
        out.append(f"original language: {LANGUAGE_NAMES.get(c.language, c.language)}")
    out.extend(f"not {m.title}" for m in c.exclude_movies)
    if c.more_like is not None:
        out.append(f"more like {c.more_like.title}")
    return out
