"""Catalog entity linking: which words of a message name a catalog movie (or a person the catalog knows).

Built once at gateway start (:meth:`TitleLinker.from_catalog`, ~1 s for 9.7k movies), then each
message costs a few dictionary look-ups per token plus, only after a title cue with no exact hit, one
RapidFuzz scan.

Matching (``link``):

* Exact first: every run of up to ``MAX_TITLE_TOKENS`` tokens is looked up in a dictionary of folded
  title keys (case, accents, punctuation ignored; "&" = "and"; leading article optional; Roman sequel
  numerals = digits; the main title, the full title and each alternate title in parentheses). The
  longest run wins, left to right, never overlapping. A following "(1997)" or "1997" picks that
  year's movie and is part of the mention; otherwise the most-rated movie with that key.
* Fuzzy second, only right after a title cue ("like", "loved", "seen", "not", "than", ...): the
  longest run of 1–6 words whose RapidFuzz ratio to a title key is ≥ ``FUZZY_THRESHOLD`` (typos:
  "jurasic park"). Confidence = ratio / 100.
* Common words. A title made only of common words ("Heat", "Up", "Her", "It", "Big", "Love",
  "Get Out") — a word is common when it is a dialogue/filler word, a genre or tone word, or occurs in
  ≥ ``COMMON_DF`` catalog overviews — is linked only when
  (a) it is a title of one of the picks just shown, or
  (b) it is written with a capital letter and either is not at the start of a sentence or has a
      title cue right before it / "was great", "(1995)" right after it, or
  (c) it is lowercase, not a pronoun-like filler word, right after a title cue, and the movie is
      popular (≥ ``COMMON_LOWERCASE_MIN_RATINGS`` MovieLens ratings).
  So "I'd love something up-beat" links nothing, "something like Up" links Up (2009), "seen it"
  links nothing.
* Lists. A capitalized title next to a linked one across a list separator ("," "and" "or" "&" "/"), that
  ends the list or is followed by its next separator, is linked too: the list is its cue ("I loved Heat,
  Casino and Goodfellas", "Heat or Big, either is fine"); members are found outward from each linked one.
* Main titles. The part before a subtitle ("Anchorman" of "Anchorman: The Legend of Ron Burgundy") is a key
  when no other movie has that title or main title (so "Star Wars" stays a family).
* Spacing. Keys that differ only in spacing name the same movies ("Oldboy" / "Old Boy"), so a year after
  either spelling finds its film.
* Spans already taken by a constraint phrase ("under 2 hours", "from the 90s") are never titles.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from gateway_service.dialogue import lexicon
from gateway_service.dialogue.tokens import Token, sentence_initial
from movierec_catalog import Catalog, Movie
from movierec_catalog.text import fold, peel_trailing_group

MAX_TITLE_TOKENS = 12
FUZZY_THRESHOLD = 88.0
FUZZY_MAX_WORDS = 6
COMMON_DF = 5
COMMON_LOWERCASE_MIN_RATINGS = 50
_ARTICLES = ("the ", "a ", "an ")
# Foreign leading articles are optional only in non-English titles ("Die Hard" is not "Hard").
_FOREIGN_ARTICLES = ("le ", "la ", "les ", "l ", "el ", "il ", "der ", "die ", "das ")
# What separates the members of a list of titles ("Heat, Casino and Goodfellas").
LIST_SEPARATORS = frozenset({",", "and", "or", "&", "/", "nor", ";"})
# Words that name something else far more often than the film of that name ("an Oscar nominee").
NOT_A_TITLE_ALONE = frozenset({"oscar", "oscars", "netflix", "hulu", "amazon", "hbo", "imdb", "youtube", "disney",
                               "god", "christmas", "cinema", "hollywood", "bollywood"})
# Pronouns that open a sentence as its subject far more often than they name a film ("It", "This").
SUBJECT_PRONOUNS = frozenset({"it", "this", "that", "they", "he", "she", "we", "you", "i"})
_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8", "ix": "9", "x": "10"}
# Words right before a title that make it a title mention ("like Jaws", "seen Heat", "not Up").
TITLE_CUES_BEFORE = frozenset({
    "like", "loved", "love", "liked", "enjoyed", "seen", "watched", "saw", "not", "than", "about", "except",
    "to", "why", "and", "or", "nor", "as", "adore", "adored", "rewatched", "besides", "including", "is", "was",
    "favorite", "favourite", "fan", "no", "another", "but", "of", "rather", "vs", "dug", "watch", "see",
    "called", "titled", "named", "movie", "film", "recommend", "suggested", "try", "rewatch", "with",
})
TITLE_CUES_AFTER = ("was great", "was good", "was amazing", "was awesome", "is great", "is my favorite",
                    "was fun", "was funny", "is a favorite", "was a favorite", "was brilliant", "movie", "film",
                    "is my favorite", "was so good", "is so good", "is one of", "was one of", "is my favourite",
                    "was lovely", "was fantastic", "was excellent", "was incredible", "was hilarious", "was perfect",
                    "was beautiful", "was awesome", "is a classic", "was a classic")
FUZZY_CUES = frozenset({"like", "loved", "liked", "enjoyed", "seen", "watched", "saw", "than", "except",
                        "adored", "dug", "favorite", "favourite", "called", "titled"})
_YEAR_RE = re.compile(r"^(?:18|19|20)\d\d$")


def _normalize_key(key: str) -> str:
    words = [_ROMAN.get(w, w) for w in key.split()]
    return " ".join(words)


def title_keys(title: str, english: bool = True) -> set[str]:
    """Folded forms of a catalog title that count as a mention of it."""
    articles = _ARTICLES if english else _ARTICLES + _FOREIGN_ARTICLES
    parts, rest = [], title
    while (peeled := peel_trailing_group(rest)) is not None:
        rest, alt = peeled
        parts.append(re.sub(r"^a\.?k\.?a\.?\s+", "", alt, flags=re.IGNORECASE))
    keys: set[str] = set()
    for key in (fold(title), fold(rest), *(fold(p) for p in parts)):
        keys.add(key)
        keys.update(key[len(a):] for a in articles if key.startswith(a))
    return {_normalize_key(k) for k in keys if k}


@dataclass(frozen=True)
class Mention:
    """Tokens [start, end) of the message name ``movie`` (kind "title") or ``person`` (kind "person")."""

    start: int
    end: int
    kind: str
    movie: Movie | None = None
    person: str | None = None
    confidence: float = 1.0
    text: str = ""


def _add_unique_main_titles(by_key: dict[str, list[Movie]], movies: Iterable[Movie]) -> None:
    """"Anchorman: The Legend of Ron Burgundy" is "Anchorman" to people: the main title before a subtitle
    is a key of its own when no other movie has that title or main title ("Star Wars", "Alien" stay what
    they were: a family, and the 1979 film)."""
    mains: dict[str, list[Movie]] = defaultdict(list)
    for movie in movies:
        if ": " in movie.title:
            main = _normalize_key(fold(movie.title.split(": ", 1)[0]))
            if main:
                mains[main].append(movie)
    for key, owners in mains.items():
        if len(owners) == 1 and key not in by_key:
            by_key[key] = list(owners)


def _merge_spacing_variants(by_key: dict[str, list[Movie]]) -> None:
    """Keys that differ only in spacing ("oldboy" / "old boy") name the same movies: the catalog spells a
    title one way (Old Boy, 2003), people and other releases the other (Oldboy, 2013), so "Oldboy (2003)"
    must find the 2003 film and a bare "Oldboy" the most-rated of both."""
    variants: dict[str, list[str]] = defaultdict(list)
    for key in by_key:
        variants[key.replace(" ", "")].append(key)
    for keys in variants.values():
        if len(keys) > 1:
            union = list({m.movie_id: m for key in keys for m in by_key[key]}.values())
            for key in keys:
                by_key[key] = list(union)


class TitleLinker:
    def __init__(self, movies: Iterable[Movie], common_words: set[str], people: dict[str, str]):
        movies = list(movies)
        by_key: dict[str, list[Movie]] = defaultdict(list)
        for movie in movies:
            for key in title_keys(movie.title, english=movie.original_language in (None, "en")):
                by_key[key].append(movie)
        _add_unique_main_titles(by_key, movies)
        _merge_spacing_variants(by_key)
        for group in by_key.values():
            group.sort(key=lambda m: (-(m.ml_rating_count or 0), m.movie_id))
        self._by_key = dict(by_key)
        self._keys = list(self._by_key)
        # Every word prefix of a key: the exact scan stops as soon as a run of words leads nowhere.
        # Fuzzy candidates blocked by the first two letters (typos rarely hit them): ~100 keys, not 25k.
        self._by_head: dict[str, list[str]] = defaultdict(list)
        for key in self._keys:
            self._by_head[key[:2]].append(key)
        self._prefixes = {" ".join(k.split()[:n]) for k in self._keys for n in range(1, len(k.split()) + 1)}
        self._common = common_words
        self._people = people  # folded full name → name as the catalog writes it
        self._people_first = {k.split()[0] for k in people}
        self.latest_year = max((m.year for ms in by_key.values() for m in ms if m.year), default=None)

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> TitleLinker:
        movies = [catalog.get(i) for i in catalog.movies.index]
        df: Counter[str] = Counter()
        for movie in movies:
            if movie.overview:
                df.update(set(re.findall(r"[a-z]+", movie.overview.lower())))
        common = {w for w, n in df.items() if n >= COMMON_DF}
        common |= {w for phrase in lexicon.FILLER_WORDS | set(lexicon.GENRE_WORDS) | lexicon.TONE_WORDS
                   | lexicon.FEAR_WORDS for w in fold(phrase).split()}
        people: dict[str, str] = {}
        for movie in movies:
            for name in (movie.director, *movie.cast[:8]):
                if name and len(fold(name).split()) >= 2:
                    people.setdefault(fold(name), name)
        return cls(movies, common, people)

    # ---- look-ups ------------------------------------------------------------------------------
    def movies_for_key(self, key: str) -> list[Movie]:
        return self._by_key.get(_normalize_key(key), [])

    def fuzzy_key(self, phrase: str) -> tuple[str, float] | None:
        """(title key, score) of the closest title key sharing the first two letters, if ≥ the threshold."""
        key = _normalize_key(phrase)
        hit = process.extractOne(key, self._by_head.get(key[:2], ()), scorer=fuzz.ratio, score_cutoff=FUZZY_THRESHOLD)
        return (hit[0], hit[1]) if hit else None

    def is_common(self, key: str) -> bool:
        return all(w in self._common or w.isdigit() for w in key.split())

    def link_unambiguous(self, tokens: Sequence[Token]) -> list[Mention]:
        """Exact mentions of titles of two or more words not all common ("The French Connection",
        "The Karate Kid"), and people: found before the constraint phrases so that words inside
        them are not read as constraints."""
        mentions, i = [], 0
        blocked = [False] * len(tokens)
        while i < len(tokens):
            found = self._exact_at(tokens, blocked, i, frozenset(), strict=True) if tokens[i].is_word else None
            if found is None and tokens[i].is_word:
                found = self._person_at(tokens, blocked, i)
            mentions.append(found) if found else None
            i = found.end if found else i + 1
        return mentions

    def link(self, tokens: Sequence[Token], blocked: Sequence[bool], pick_ids: frozenset[int] = frozenset()
             ) -> tuple[list[Mention], list[str]]:
        """Title and person mentions in ``tokens`` (``blocked[i]``: token i belongs to a constraint
        phrase or an earlier mention), and the phrases after a title cue that looked like a title
        but matched nothing."""
        mentions: list[Mention] = []
        i = 0
        while i < len(tokens):
            found = None if blocked[i] or not tokens[i].is_word else self._exact_at(tokens, blocked, i, pick_ids)
            if found is None and not blocked[i] and tokens[i].is_word:
                found = self._person_at(tokens, blocked, i)
            if found is not None:
                mentions.append(found)
                i = found.end
            else:
                i += 1
        taken = {j for m in mentions for j in range(m.start, m.end)}
        mentions.extend(self._list_members(tokens, blocked, taken, mentions, pick_ids))
        unresolved: list[str] = []
        for i, tok in enumerate(tokens):
            similar_to = tok.low == "to" and i > 0 and tokens[i - 1].low == "similar"
            if (tok.low not in FUZZY_CUES and not similar_to) or i + 1 >= len(tokens) or (i + 1) in taken:
                continue
            fuzzy = self._fuzzy_after(tokens, blocked, taken, i + 1)
            if fuzzy is not None:
                mentions.append(fuzzy)
                taken.update(range(fuzzy.start, fuzzy.end))
            else:
                guess = self._capitalized_run(tokens, blocked, taken, i + 1)
                if guess:
                    unresolved.append(guess)
        mentions.extend(self._quoted(tokens, blocked, taken, unresolved))
        mentions.sort(key=lambda m: m.start)
        return mentions, unresolved

    def _quoted(self, tokens: Sequence[Token], blocked: Sequence[bool], taken: set[int], unresolved: list[str]
                ) -> list[Mention]:
        """A phrase in double quotes is a title even when made of common words ("Up", "It")."""
        quotes = [i for i, t in enumerate(tokens) if t.text == '"']
        out = []
        for a, b in zip(quotes[::2], quotes[1::2], strict=False):
            inner = range(a + 1, b)
            if not inner or len(inner) > MAX_TITLE_TOKENS or any(blocked[k] or k in taken for k in inner):
                continue
            phrase = " ".join(tokens[k].text for k in inner)
            found = link_phrase(self, phrase)
            if found is None:
                unresolved.append(phrase)
                continue
            out.append(Mention(a + 1, b, "title", movie=found.movie, confidence=found.confidence, text=phrase))
        return out

    def _exact_at(self, tokens: Sequence[Token], blocked: Sequence[bool], i: int, pick_ids: frozenset[int],
                  strict: bool = False, listed: bool = False) -> Mention | None:
        """``listed``: the run is a member of a list of linked titles, which cues it like "like" would."""
        words: list[str] = []
        best = None
        for j in range(i, min(len(tokens), i + MAX_TITLE_TOKENS)):
            if blocked[j] or (not tokens[j].is_word and tokens[j].text not in {"&", ":", "-", ".", ",", "'", "!"}):
                break
            if tokens[j].is_word:
                words.append(_normalize_key(tokens[j].key))
            elif j == i:
                break
            if not tokens[j].is_word:
                continue
            joined = " ".join(words)
            if joined not in self._prefixes:
                break
            candidates = self._by_key.get(joined)
            if candidates:
                best = (j + 1, candidates)
        if best is None:
            return None
        end, candidates = best
        movie, end = self._pick_year(tokens, end, candidates)
        key = " ".join(t.key for t in tokens[i:end] if t.is_word)
        if strict:
            if len(key.split()) < 2 or self.is_common(key) or self._glued(tokens, i, end):
                return None
        elif movie.movie_id not in pick_ids and not any(m.movie_id in pick_ids for m in candidates):
            if not (self._accept(tokens, i, end, key, movie) or (listed and self._listable(tokens, i, end, key))):
                return None
        else:
            movie = next((m for m in candidates if m.movie_id in pick_ids), movie)
        text = " ".join(t.text for t in tokens[i:end])
        return Mention(i, end, "title", movie=movie, confidence=1.0, text=text)

    @staticmethod
    def _pick_year(tokens: Sequence[Token], end: int, candidates: list[Movie]) -> tuple[Movie, int]:
        """A year written right after the title ("Hot Fuzz (2007)", "Titanic 1953") picks that movie."""
        j = end + (1 if end < len(tokens) and tokens[end].text == "(" else 0)
        if j < len(tokens) and _YEAR_RE.match(tokens[j].text):
            year = int(tokens[j].text)
            same = [m for m in candidates if m.year == year]
            if same:
                close = j + 1 + (1 if j + 1 < len(tokens) and tokens[j + 1].text == ")" else 0)
                return same[0], close
        return candidates[0], end

    def _accept(self, tokens: Sequence[Token], i: int, end: int, key: str, movie: Movie) -> bool:
        """The rules of the module docstring for a match that is not one of the shown picks."""
        words = key.split()
        if all(w.isdigit() for w in words) or (len(words) == 1 and words[0] in NOT_A_TITLE_ALONE):
            return False
        if self._glued(tokens, i, end):
            return False  # part of a longer name: "Wonder Boys", "Frozen 2" (not in the catalog)
        whole = all(not t.is_word for t in tokens[:i]) and all(not t.is_word for t in tokens[end:])
        cue_before, cue_after = self._cues(tokens, i, end)
        first = next(t for t in tokens[i:end] if t.is_word)
        capitalized = first.text[:1].isupper() and not (first.text.isupper() and len(first.text) > 1)
        if not self.is_common(key):
            if len(words) > 1 or capitalized:
                return True
            return whole or cue_before or cue_after  # "i saw parasite", not "ahhh, gotcha"
        title_case = len(words) > 1 and all(t.text[:1].isupper() for t in tokens[i:end]
                                             if t.is_word and t.low not in {"of", "the", "a", "an", "and", "in", "to"})
        if capitalized:
            if title_case:
                return True  # "Raging Bull", "the new Lion King", "Get Out is great"
            if sentence_initial(tokens, i):
                # "It was good" is about the last movie, not It (2017): a subject pronoun that opens a
                # sentence is a title only with its year ("It (2017) was good") or in quotes
                with_year = any(_YEAR_RE.match(t.text) for t in tokens[i:end + 2])
                return cue_after and (with_year or not (len(words) == 1 and words[0] in SUBJECT_PRONOUNS))
            return cue_before or cue_after
            return cue_before or cue_after
        if all(w in lexicon.FILLER_WORDS for w in words):
            return False
        # lowercase or all caps ("fight club was amazing", "WALL-E is my favourite"): a cue on either side
        # and a well-known movie
        return (cue_before or (cue_after and len(words) > 1)) and \
            (movie.ml_rating_count or 0) >= COMMON_LOWERCASE_MIN_RATINGS

    def _listable(self, tokens: Sequence[Token], i: int, end: int, key: str) -> bool:
        """A list member written with a capital ("Casino" in "Heat, Casino and Goodfellas") that ends the list
        or is followed by its next separator."""
        words = key.split()
        if (len(words) == 1 and words[0] in NOT_A_TITLE_ALONE) or self._glued(tokens, i, end):
            return False
        if not tokens[i].text[:1].isupper():  # capitalized or all caps ("WALL-E"), never lowercase
            return False
        return end >= len(tokens) or tokens[end].low in LIST_SEPARATORS or tokens[end].text in {".", "!", "?"}

    def _list_members(self, tokens: Sequence[Token], blocked: Sequence[bool], taken: set[int],
                      mentions: list[Mention], pick_ids: frozenset[int]) -> list[Mention]:
        """Titles next to a linked title across a list separator, on either side: the list is their cue
        ("I loved Heat, Casino and Goodfellas", "Heat or Big, either is fine")."""
        out: list[Mention] = []
        queue = [m for m in mentions if m.kind == "title"]
        while queue:
            title = queue.pop()
            for found in (self._member_after(tokens, blocked, taken, title.end, pick_ids),
                          self._member_before(tokens, blocked, taken, title.start, pick_ids)):
                if found is not None:
                    out.append(found)
                    taken.update(range(found.start, found.end))
                    queue.append(found)
        return out

    def _member_after(self, tokens, blocked, taken, end: int, pick_ids) -> Mention | None:
        if end + 1 >= len(tokens) or tokens[end].low not in LIST_SEPARATORS or (end + 1) in taken:
            return None
        free = [blocked[k] or k in taken for k in range(len(tokens))]
        return self._exact_at(tokens, free, end + 1, pick_ids, listed=True) if tokens[end + 1].is_word else None

    def _member_before(self, tokens, blocked, taken, start: int, pick_ids) -> Mention | None:
        separator = start - 1
        if separator < 1 or tokens[separator].low not in LIST_SEPARATORS:
            return None
        free = [blocked[k] or k in taken for k in range(len(tokens))]
        for i in range(max(0, separator - MAX_TITLE_TOKENS), separator):
            if free[i] or not tokens[i].is_word:
                continue
            found = self._exact_at(tokens, free, i, pick_ids, listed=True)
            if found is not None and found.end == separator:
                return found
        return None

    @staticmethod
    def _cues(tokens: Sequence[Token], i: int, end: int) -> tuple[bool, bool]:
        before = tokens[i - 1].low if i > 0 else ""
        if before == "the" and i > 1:
            before = tokens[i - 2].low
        after = " ".join(t.low for t in tokens[end:end + 4])
        cue_after = any(after.startswith(c) for c in TITLE_CUES_AFTER) or (
            end < len(tokens) and tokens[end].text == "(")
        return before in TITLE_CUES_BEFORE, cue_after

    @staticmethod
    def _glued(tokens: Sequence[Token], i: int, end: int) -> bool:
        """True when the match sits inside a longer capitalized name or is followed by a sequel number."""
        if end < len(tokens) and tokens[end].text.isdigit() and not _YEAR_RE.match(tokens[end].text):
            return True
        first = tokens[i]
        if not first.text[:1].isupper():
            return False
        def name_word(tok: Token) -> bool:
            return tok.is_word and tok.text[:1].isupper() and tok.text not in {"I", "I'm", "I've", "I'd", "I'll"}
        if i > 0 and name_word(tokens[i - 1]) and not sentence_initial(tokens, i - 1) and \
                tokens[i - 1].low not in TITLE_CUES_BEFORE:
            return True
        if end - i > 1:
            return False
        j = end
        while j < len(tokens) and tokens[j].low in {"of", "the", "upon"} and j - end < 2:
            j += 1
        return j < len(tokens) and name_word(tokens[j])

    def _person_at(self, tokens: Sequence[Token], blocked: Sequence[bool], i: int) -> Mention | None:
        if tokens[i].key not in self._people_first:
            return None
        for n in (3, 2):
            span = tokens[i:i + n]
            if len(span) < n or any(blocked[i + k] or not t.is_word for k, t in enumerate(span)):
                continue
            name = self._people.get(" ".join(t.key for t in span))
            if name and (any(t.capitalized for t in span) or not self.is_common(" ".join(t.key for t in span))):
                return Mention(i, i + n, "person", person=name, text=" ".join(t.text for t in span))
        return None

    def _fuzzy_after(self, tokens: Sequence[Token], blocked: Sequence[bool], taken: set[int], i: int
                     ) -> Mention | None:
        if i < len(tokens) and tokens[i].low == "the":
            i += 1
        words: list[str] = []
        spans = []
        for j in range(i, min(len(tokens), i + FUZZY_MAX_WORDS)):
            if blocked[j] or j in taken or not tokens[j].is_word or tokens[j].low in lexicon.CLAUSE_BOUNDARY_TOKENS:
                break
            words.append(tokens[j].key)
            spans.append((j + 1, " ".join(words)))
        for end, phrase in reversed(spans):
            if len(phrase) < 5 or self.is_common(phrase):
                continue
            hit = self.fuzzy_key(phrase)
            if hit is not None and " " not in phrase and (hit[0].startswith(phrase[:-2]) and
                                                         abs(len(hit[0]) - len(phrase)) >= 1):
                hit = None  # an inflection of a title word ("princesses", "stoner"), not a typo
            if hit is not None:
                movie = self._by_key[hit[0]][0]
                return Mention(i, end, "title", movie=movie, confidence=round(hit[1] / 100, 3),
                               text=" ".join(t.text for t in tokens[i:end]))
        return None

    @staticmethod
    def _capitalized_run(tokens: Sequence[Token], blocked: Sequence[bool], taken: set[int], i: int) -> str:
        """A capitalized phrase right after a title cue ("like Zorblax Returns"): reported as unresolved."""
        run = []
        for j in range(i, min(len(tokens), i + FUZZY_MAX_WORDS)):
            tok = tokens[j]
            if blocked[j] or j in taken or not tok.is_word:
                break
            if not (tok.text[:1].isupper() or (run and tok.low in {"of", "the", "and", "a", "in"})):
                break
            run.append(tok.text)
        while run and run[-1].lower() in {"of", "the", "and", "a", "in"}:
            run.pop()
        vocabulary = lexicon.FILLER_WORDS | set(lexicon.GENRE_WORDS) | lexicon.TONE_WORDS | lexicon.FEAR_WORDS | {"i"}
        if not run or all(w.lower() in vocabulary for w in run):
            return ""
        return " ".join(run)


def link_phrase(linker: TitleLinker, phrase: str) -> Mention | None:
    """The catalog movie a whole phrase names ("Hot Fuzz", "titanic (1997)", "jurasic park"), or None:
    an exact key (with an optional year), else the best RapidFuzz match above the threshold. Used to
    re-link the titles an LLM returns (its ids are never trusted)."""
    m = re.match(r"^(?P<rest>.*?)\s*\(?(?P<year>(?:18|19|20)\d\d)\)?\s*$", phrase.strip())
    body, year = (m["rest"], int(m["year"])) if m and m["rest"] else (phrase, None)
    key = _normalize_key(fold(body))
    if not key:
        return None
    candidates = linker.movies_for_key(key)
    if candidates:
        same = [c for c in candidates if year is None or c.year == year]
        return Mention(0, 0, "title", movie=(same or candidates)[0], confidence=1.0, text=phrase)
    hit = linker.fuzzy_key(key)
    if hit is None:
        return None
    movie = linker.movies_for_key(hit[0])[0]
    return Mention(0, 0, "title", movie=movie, confidence=round(hit[1] / 100, 3), text=phrase)
