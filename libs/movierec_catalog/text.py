"""Text helpers: cleaning free text, parsing MovieLens titles, normalizing titles for matching."""

from __future__ import annotations

import html
import math
import re
import unicodedata

_TAG_RE = re.compile(r"</?[A-Za-z][^<>]*>")
_WS_RE = re.compile(r"\s+")
_INVISIBLE_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_MISSING_MARKERS = {"", "n/a", "na", "none", "null", "nan"}

# Articles MovieLens moves to the end ("Matrix, The", "Boot, Das", "Avventura, L'").
_ARTICLES = ("The", "A", "An", "Le", "La", "Les", "L'", "El", "Los", "Las", "Il", "I", "Gli", "Das", "Der", "Die", "Da")
_ART_ALT = "|".join(re.escape(a) for a in _ARTICLES)
_SUFFIX_ARTICLE_RE = re.compile(rf"^(?P<body>.+?), (?P<art>{_ART_ALT})(?P<rest>(?::| -).*)?$")
_YEAR_SUFFIX_RE = re.compile(r"\s*\((?P<year>\d{4})(?:\s*[-\u2013]\s*(?:\d{4})?)?\)\s*$")
_AKA_RE = re.compile(r"^a\.?k\.?a\.?\s+", re.IGNORECASE)

# Words dropped when building a matching key (leading foreign articles are dropped only at the start).
_KEY_DROP_WORDS = {"the", "a", "an"}
_KEY_LEADING_ARTICLES = {"le", "la", "les", "l", "el", "il", "der", "die", "das", "los", "las"}


def is_missing(value: object) -> bool:
    """True for None, NaN and textual placeholders such as "", "N/A"."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in _MISSING_MARKERS


def clean_text(value: object) -> str | None:
    """Strip HTML tags and entities, NFC-normalize, collapse whitespace.

    Returns None for missing values and placeholders ("", "N/A") so that missing stays missing.
    Entities are unescaped twice to undo double escaping ("&amp;amp;"); tags are removed both
    before and after unescaping so an escaped tag ("&lt;b&gt;") does not survive.
    """
    if is_missing(value):
        return None
    text = _TAG_RE.sub(" ", str(value))
    for _ in range(2):
        text = html.unescape(text)
    text = _TAG_RE.sub(" ", text)
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE_RE.sub("", text)
    text = _WS_RE.sub(" ", text).strip()
    return None if is_missing(text) else text


def fix_article(part: str) -> str:
    """Move a trailing article to the front: "Matrix, The" -> "The Matrix",
    "Crow, The: Wicked Prayer" -> "The Crow: Wicked Prayer", "Avventura, L'" -> "L'Avventura"."""
    m = _SUFFIX_ARTICLE_RE.match(part.strip())
    if not m:
        return part.strip()
    art, body, rest = m.group("art"), m.group("body"), m.group("rest") or ""
    sep = "" if art.endswith("'") else " "
    return f"{art}{sep}{body}{rest}"


def peel_trailing_group(s: str) -> tuple[str, str] | None:
    """Split "Main (Alt)" into ("Main", "Alt") using balanced parentheses; None if no group."""
    if not s.endswith(")"):
        return None
    depth = 0
    for i in range(len(s) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(s[i], 0)
        if depth == 0:
            main = s[:i].rstrip()
            return (main, s[i + 1 : -1].strip()) if main and s[i - 1 : i] == " " else None
    return None


def parse_ml_title(raw: str) -> tuple[str, int | None, str, list[str]]:
    """Parse a MovieLens title such as "City of Lost Children, The (Cité des enfants perdus, La) (1995)".

    Returns (display_title, year, main_title, alternate_titles). The display title keeps the
    alternate titles in parentheses (they carry the original-language title that people search
    for) with articles moved to the front in every part; the year suffix is removed. A year range
    "(2006–2007)" yields the start year.
    """
    s = clean_text(raw) or ""
    year = None
    m = _YEAR_SUFFIX_RE.search(s)
    if m:
        year, s = int(m.group("year")), s[: m.start()].rstrip()
    alts: list[str] = []
    while (peeled := peel_trailing_group(s)) is not None:
        s, alt = peeled
        alts.insert(0, alt)
    main = fix_article(s)
    alts = [fix_article(a) for a in alts if a]
    display = " ".join([main] + [f"({a})" for a in alts])
    return display, year, main, [_AKA_RE.sub("", a) for a in alts]


def fold(text: str) -> str:
    """Lowercase, strip accents, turn punctuation into spaces, collapse whitespace (for search)."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "").replace("ß", "ss")
    text = re.sub(r"[^0-9a-z]+", " ", text)
    return " ".join(text.split())


def title_key(title: str) -> str:
    """Matching key for joining titles across sources: fold(), article suffix fixed, English
    articles removed everywhere and a leading foreign article removed."""
    words = fold(fix_article(title)).split()
    if words and words[0] in _KEY_LEADING_ARTICLES and len(words) > 1:
        words = words[1:]
    return " ".join(w for w in words if w not in _KEY_DROP_WORDS)
