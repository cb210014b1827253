"""Keyphrases: 8–15 short phrases per movie (mood, themes, setting, audience), and a query's own phrases.

Offline, no model: every phrase comes from the movie's own catalog facts (see services/retrieval/README.md,
"Keyphrase search"):

* ``keyword`` — TMDB keywords, as written (lower case);
* ``tag`` — MovieLens tags, minus person names (cast, director) and the title;
* ``overview`` — noun-phrase-like chunks of the overview: the text is split at stopwords, verbs of a short
  list and punctuation (RAKE), proper names are dropped (a capitalised word inside a sentence is a character),
  and the chunks of 1–3 words are scored by RAKE's degree/frequency times their rarity in the catalog;
* ``setting`` — places ("in Paris", "in a small town") and periods ("1920s", "19th century", "world war ii")
  named in the overview or keywords;
* ``mood`` — mood words found in the keywords, tags or overview ("heartwarming", "dark"), and the mood a
  genre stands for ("funny" for Comedy, "scary" for Horror);
* ``audience`` — from the certification and the Children/Animation genres ("family friendly", "for adults").

:func:`query_keyphrases` splits a request the same way ("something cozy set in a small town with found
family" → ``cozy``, ``small town``, ``found family``), so both sides of the max-sim comparison are phrases.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MIN_PHRASES = 8
MAX_PHRASES = 15
MAX_WORDS = 4  # a keyword or tag longer than this is a sentence, not a phrase
SOURCES = ("keyword", "tag", "overview", "setting", "mood", "audience")
SOURCE_CODE = {name: code for code, name in enumerate(SOURCES)}

# Words that end a chunk besides sklearn's English stopwords: the verbs and fillers of plot summaries.
_BREAK_WORDS = _words("""
    s t ll ve re d m just also must will can could would should may might shall now soon later then when while
    after before until finds find learns learn discovers discover decides decide tries try trying begins
    begin starts start gets get got becomes become comes come goes go takes take makes make meets meet falls fall
    leads lead leaves leave sets set turns turn brings bring helps help wants want needs need tells tell says
    say knows know thinks think sees see lives live life plans plan attempts attempt forced force forces must
    years year time day days night one two three four five first second new old young soon only even still ever
    way lot things thing something someone everything everyone anyone anything himself herself themselves
    his her their its own them they he she it him man woman men women people story film movie tale
    """)
STOPWORDS = frozenset(ENGLISH_STOP_WORDS) - {"found"} | _BREAK_WORDS  # "found family"
# Request words that say "I want a movie" rather than what kind.
_QUERY_BREAK = _words("""
    movie movies film films flick flicks show shows watch watching watched recommend recommendation suggest
    suggestion looking look like liked love loved enjoy enjoyed prefer kind sort type genre genres maybe
    really pretty quite very good great nice fun please thanks thank hi hello hey ok okay yes yeah sure want
    wanted wanting mood feel feeling tonight today weekend evening something anything stuff things lately recently
    i im ive id me my mine we our us you your one ones watchable dont doesnt didnt isnt cant wont aint
    right now sound sounds actually super bunch random whatnot excited probably usually honestly definitely
    """)
QUERY_STOPWORDS = STOPWORDS | _QUERY_BREAK - {"fun", "feel"}

# Mood words looked for verbatim in a movie's keywords, tags and overview (and in queries).
MOOD_WORDS = _words("""
    cozy heartwarming heartfelt uplifting feel-good wholesome charming whimsical quirky gentle sweet funny
    hilarious witty absurd silly dark bleak gritty grim disturbing violent brutal creepy scary spooky eerie
    atmospheric haunting tense suspenseful thrilling gripping intense mind-bending surreal trippy twisty
    philosophical thought-provoking melancholic sad tragic bittersweet moving emotional tearjerker romantic
    sentimental nostalgic inspiring inspirational epic stylish slow-burn cerebral satirical campy cheesy quirky
    magical dreamy playful lighthearted light-hearted feelgood chilling harrowing poignant touching
    """)
# The mood a genre stands for: derived from the movie's own genres, so always true of it.
GENRE_MOODS: Mapping[str, tuple[str, ...]] = {
    "Comedy": ("funny",), "Horror": ("scary",), "Romance": ("romantic",), "Thriller": ("suspenseful",),
    "Mystery": ("mystery",), "Action": ("action packed",), "Adventure": ("adventure",),
    "Fantasy": ("magical",), "Sci-Fi": ("science fiction",), "War": ("war",), "Western": ("western",),
    "Crime": ("crime",), "Musical": ("musical",), "Documentary": ("documentary",), "Drama": ("drama",),
    "Animation": ("animated",), "Film-Noir": ("film noir",), "Children": ("for kids",),
}
_PERIOD = re.compile(r"\b(?:(?:1[6-9]|20)\d0s|(?:\d{1,2})(?:st|nd|rd|th) century|world war (?:i{1,2}|one|two|1|2)"
                     r"|civil war|cold war|vietnam war|middle ages|medieval|victorian|future|post-apocalyptic)\b",
                     re.IGNORECASE)
_PLACE = re.compile(r"\b(?i:in|at|across|near|around|from|to)\s+(?:the\s+|a\s+|an\s+)?(?:(?:1[6-9]|20)\d0s\s+)?"
                    r"((?:small|rural|remote|sleepy|quiet|big|fictional|coastal|suburban)\s+"
                    r"(?:town|village|city|island|farm|suburb)|(?:[A-Z][a-z]+)(?:\s+[A-Z][a-z]+){0,2}"
                    r"(?=[,.;]|\s+(?:where|and|during|in|to|with|at|when|for)\b|$))")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*|[0-9]+(?:s|st|nd|rd|th)?|[.,;:!?()\"\u2014\u2013/]")
_SENTENCE_END = frozenset(".!?")
_ADVERB = re.compile(r"(?:ally|ently|ously|ately|ively|ntly|edly|ingly)$")
_NOT_PLACES = frozenset({"The", "A", "An", "His", "Her", "Their", "When", "After", "Before", "While", "This",
                         "That", "One", "But", "And", "Love", "Order", "Time", "Hell", "Heaven", "Earth", "Here",
                         "There", "Home", "Once", "Last", "First", "Him", "Them", "Help", "Life", "Death"})


@dataclass(frozen=True)
class Keyphrase:
    text: str
    source: str  # one of SOURCES


def normalise_phrase(text: str) -> str:
    """Lower case, single spaces, no surrounding punctuation: the form phrases are deduplicated in."""
    return " ".join(re.sub(r"[^\w\s'\-]", " ", text.lower()).split()).strip("'- ")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.replace("\u2019", "'"))


def chunks(text: str, stopwords: frozenset[str] = STOPWORDS, *, drop_names: bool = True,
           max_words: int = 3) -> list[str]:
    """RAKE candidates: runs of content words between stopwords and punctuation, 1–``max_words`` long.

    With ``drop_names`` a capitalised word that does not start a sentence breaks the run and is dropped
    (plot summaries name their characters: "Woody", "Buzz Lightyear" are not what a movie is about).
    """
    out: list[str] = []
    run: list[str] = []
    sentence_start = True

    def flush() -> None:
        if run and len(run) <= max_words and not all(w.isdigit() for w in run):
            out.append(" ".join(run))
        run.clear()

    for token in _tokens(text):
        if not token[0].isalnum():
            flush()
            sentence_start = token in _SENTENCE_END or (sentence_start and token in "\"(")
            continue
        word = token.lower().strip("'-")
        if word.endswith("'s"):
            word = word[:-2]
        is_name = drop_names and token[0].isupper() and not sentence_start
        sentence_start = False
        if (not word or word in stopwords or is_name or (len(word) < 3 and not word.isdigit())
                or _ADVERB.search(word)):
            flush()
            continue
        run.append(word)
    flush()
    return out


def rake_scores(candidates: list[str]) -> dict[str, float]:
    """RAKE: a phrase scores the sum over its words of degree/frequency within the text."""
    freq: Counter = Counter()
    degree: Counter = Counter()
    for phrase in candidates:
        words = phrase.split()
        for word in words:
            freq[word] += 1
            degree[word] += len(words)
    return {phrase: sum(degree[w] / freq[w] for w in phrase.split()) for phrase in set(candidates)}


def settings_in(text: str) -> list[str]:
    """Places and periods a text names ("small town", "paris", "1920s", "world war ii")."""
    found = [m.group(0).lower() for m in _PERIOD.finditer(text)]
    for match in _PLACE.finditer(text):
        place = match.group(1)
        if place.split()[0] in _NOT_PLACES:
            continue
        found.append(place.lower())
    return list(dict.fromkeys(normalise_phrase(f) for f in found if f.strip()))


def moods_in(text: str) -> list[str]:
    words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z\-]+", text)}
    return sorted(words & MOOD_WORDS)


def audience(certification: str | None, genres: Iterable[str]) -> list[str]:
    genres = set(genres)
    out = []
    if "Children" in genres or certification == "G" or ("Animation" in genres and certification in (None, "PG")):
        out.append("family friendly")
    if certification in ("R", "NC-17"):
        out.append("for adults")
    return out


class PhraseRarity:
    """Document frequency of overview chunks over the catalog: the rare ones say more about a movie."""

    def __init__(self, overviews: Iterable[str | None]):
        self.df: Counter = Counter()
        self.n = 0
        for text in overviews:
            self.n += 1
            self.df.update(set(chunks(text if isinstance(text, str) else "")))

    def idf(self, phrase: str) -> float:
        return math.log((1 + self.n) / (1 + self.df.get(phrase, 0))) + 1.0


def movie_keyphrases(movie, rarity: PhraseRarity | None = None, *, max_phrases: int = MAX_PHRASES) -> list[Keyphrase]:
    """Up to ``max_phrases`` keyphrases of one catalog movie (``movierec_catalog.Movie`` or a row with its fields).

    Order: mood, setting, keywords, tags, overview chunks (best first), audience, then the genre moods as
    filler until :data:`MIN_PHRASES` when the text is thin. Each phrase appears once.
    """
    chosen: dict[str, Keyphrase] = {}
    people = {normalise_phrase(p) for p in (*tuple(movie.cast or ()), movie.director or "") if p}
    title = normalise_phrase(movie.title or "")

    def add(text: str, source: str) -> None:
        phrase = normalise_phrase(text)
        if (phrase and phrase not in chosen and phrase not in people and phrase != title
                and len(phrase.split()) <= MAX_WORDS and len(phrase) >= 3 and len(chosen) < max_phrases):
            chosen[phrase] = Keyphrase(phrase, source)

    keywords = [k for k in movie.keywords or () if k]
    tags = [t for t in movie.tags or () if t]
    overview = movie.overview or ""
    facts_text = " ".join([overview, *keywords, *tags])
    for mood in moods_in(facts_text):
        add(mood, "mood")
    for place in settings_in(" ".join([overview, *keywords])):
        add(place, "setting")
    for keyword in keywords:
        add(keyword, "keyword")
    for tag in tags:
        add(tag, "tag")
    candidates = chunks(overview)
    scores = rake_scores(candidates)
    if rarity is not None:
        scores = {p: s * rarity.idf(p) for p, s in scores.items()}
    # Overview chunks of 2–3 words fill up to MAX_PHRASES; single words (often verbs: "arrives") only when the
    # movie would otherwise stay below MIN_PHRASES.
    ranked = sorted(scores, key=lambda p: (-scores[p], p))
    for phrase in ranked:
        if " " in phrase:
            add(phrase, "overview")
    for phrase in ranked:
        if " " not in phrase and len(chosen) < MIN_PHRASES and not phrase.endswith("ed"):
            add(phrase, "overview")
    for phrase in audience(movie.certification, movie.genres or ()):
        add(phrase, "audience")
    if len(chosen) < MIN_PHRASES:
        for genre in movie.genres or ():
            for mood in GENRE_MOODS.get(genre, ()):
                add(mood, "mood")
    return list(chosen.values())


def query_keyphrases(text: str, max_phrases: int = 6) -> list[str]:
    """A request's own keyphrases: mood words, places/periods, and the content chunks between request words.

    Never empty for a text with a content word; a text with none (e.g. "anything") gives ``[]``.
    """
    out: dict[str, None] = {}
    for mood in moods_in(text):
        out[mood] = None
    for place in settings_in(text):
        out[place] = None
    taken = {word for phrase in out for word in phrase.split()}
    # Contractions ("don't", "ain't") are request words, never what the request is about.
    text = re.sub(r"\b\w+['\u2019]\w+\b", " , ", text)
    for chunk in chunks(text, QUERY_STOPWORDS, drop_names=False, max_words=MAX_WORDS):
        # "dark gritty crime": the mood words are phrases already, "crime" is the rest of the chunk.
        for part in " ".join(w if w not in taken else "|" for w in chunk.split()).split("|"):
            if part.strip():
                out[part.strip()] = None
    return list(out)[:max_phrases]


def is_mood_request(text: str) -> bool:
    """True when a request names a mood (one of :data:`MOOD_WORDS`): the request type keyphrase search is for."""
    return bool(moods_in(text))
