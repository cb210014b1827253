"""Franchise index: which catalog movies belong together, built offline from the catalog's own facts.

``python -m gateway_service.dialogue.franchises --out artifacts/franchises`` (``make franchises``)
writes ``franchises.json`` keyed by the catalog version; the gateway loads it at start
(:func:`load_or_build`), or builds it in memory when the file is missing or stale.

How families are found (no member id is ever listed by hand):

1. Title stems. Every title key (the main title and each alternate title in parentheses, folded,
   leading article dropped) gives stems: the part before ":" or " - ", and the key without a trailing
   sequel marker ("2", "II", "Part 2", "Chapter 3", "3-D"). Movies sharing a stem form a family when
   at least two movies share it and either one of them is titled exactly the stem or the stem came
   from a sequel marker / a subtitle in at least two of them ("Star Wars: Episode IV …").
2. Expansion by shared facts. A movie joins a family when its title contains a distinctive (not
   common) word of the family's stem and it shares a specific TMDB keyword with at least two members
   ("Furious 7" joins "The Fast and the Furious" via "furious" + "car race"; "Twilight" (2008) joins
   "The Twilight Saga" via "twilight" + "vampire"; "Twilight" (1998) does not).
3. Brands. A short list of brand NAMES and the catalog facts that mark membership (TMDB keywords,
   MovieLens tags): "Marvel" = keyword "marvel comic"/"marvel cinematic universe" or tag "marvel"; a
   brand with no supporting fact has no members and is dropped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from movierec_catalog import Catalog, Movie
from movierec_catalog.text import fold, peel_trailing_group

INDEX_VERSION = "4"
_SEQUEL_RE = re.compile(r"^(?P<stem>.+?)\s+(?:part\s+|chapter\s+|episode\s+|vol\s+|volume\s+)?"
                        r"(?:\d{1,2}|ii|iii|iv|v|vi|vii|viii|ix|x|one|two|three|four|3 d|"
                        r"the\s+(?:second|third|fourth|fifth|sixth|final\s+chapter))$")
_ARTICLES = ("the ", "a ", "an ")
_STEM_DROP = {"saga", "series", "trilogy", "collection", "franchise", "movies", "films", "the", "movie"}
# Keywords too generic to tie movies into a family.
_GENERIC_KEYWORDS = {"sequel", "duringcreditsstinger", "aftercreditsstinger", "based on novel", "independent film",
                     "woman director", "3d", "remake", "murder", "friendship", "violence", "love", "revenge",
                     "biography", "sport", "new york", "los angeles", "sex", "family", "based on comic book",
                     "superhero", "prequel", "suspense", "dystopia", "teenager", "high school", "musical",
                     "london england"}
# Brand name → (TMDB keywords, MovieLens tags) that mark a member, and the names people use for it.
BRANDS: dict[str, tuple[frozenset[str], frozenset[str], tuple[str, ...]]] = {
    "Marvel": (frozenset({"marvel comic", "marvel cinematic universe"}),
               frozenset({"marvel", "marvel cinematic universe"}),
               ("marvel", "mcu", "marvel cinematic universe", "marvel comics")),
    "DC": (frozenset({"dc comics", "dc extended universe", "dc universe"}), frozenset({"dc comics", "dc"}),
           ("dc", "dc comics", "dceu", "dc universe")),
    "Pixar": (frozenset({"pixar", "pixar animation"}), frozenset({"pixar", "pixar animation"}), ("pixar",)),
    "Studio Ghibli": (frozenset({"studio ghibli"}), frozenset({"studio ghibli", "ghibli"}),
                      ("ghibli", "studio ghibli")),
    "Star Wars": (frozenset({"star wars"}), frozenset({"star wars"}), ("star wars",)),
    "Star Trek": (frozenset({"star trek"}), frozenset({"star trek"}), ("star trek",)),
    "James Bond": (frozenset({"james bond", "007", "british secret service"}), frozenset({"james bond", "007", "bond"}),
                   ("james bond", "bond", "007", "bond movies", "bond films")),
    "Harry Potter": (frozenset({"harry potter"}), frozenset({"harry potter"}), ("harry potter", "potter")),
    "Middle-earth": (frozenset({"middle-earth (tolkien)", "tolkien"}), frozenset({"tolkien", "middle earth"}),
                     ("lord of the rings", "lotr", "tolkien", "middle earth", "the hobbit")),
    "Disney": (frozenset({"disney"}), frozenset({"disney", "disney animated feature"}), ("disney",)),
}


@dataclass(frozen=True)
class Franchise:
    name: str
    keys: tuple[str, ...]  # folded phrases that name it in a message
    movie_ids: tuple[int, ...]


def _title_keys(title: str) -> list[str]:
    parts, rest = [], title
    while (peeled := peel_trailing_group(rest)) is not None:
        rest, alt = peeled
        parts.append(re.sub(r"^a\.?k\.?a\.?\s+", "", alt, flags=re.IGNORECASE))
    return [rest, *parts]


def _strip_article(key: str) -> str:
    for article in _ARTICLES:
        if key.startswith(article):
            return key[len(article):]
    return key


def _stems(raw_title: str) -> list[tuple[str, str]]:
    """(stem key, how) for one raw title part: how = "subtitle" | "sequel" | "self"."""
    out = []
    head = re.split(r":| - ", raw_title, maxsplit=1)
    key = _strip_article(fold(raw_title))
    out.append((key, "self"))
    if len(head) == 2 and fold(head[0]):
        out.append((_strip_article(fold(head[0])), "subtitle"))
    for candidate in {key, _strip_article(fold(head[0]))}:
        m = _SEQUEL_RE.match(candidate)
        if m:
            out.append((m.group("stem"), "sequel"))
    # "Harry Potter and the Goblet of Fire", "Indiana Jones and the Temple of Doom": a named hero's series
    hero = re.match(r"^(?P<stem>\S+(?:\s+\S+)+?)\s+(?:and|&)\s+the\s+\S", key)
    if hero:
        out.append((hero.group("stem"), "subtitle"))
    return out


def _common_words(movies: Sequence[Movie]) -> set[str]:
    df: Counter[str] = Counter()
    for movie in movies:
        if movie.overview:
            df.update(set(re.findall(r"[a-z]+", movie.overview.lower())))
    return {w for w, n in df.items() if n >= 5} | {"the", "a", "an", "of", "and", "part", "movie"}


def build_index(catalog: Catalog) -> list[Franchise]:
    movies = [catalog.get(i) for i in catalog.movies.index]
    by_stem: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for movie in movies:
        for part in _title_keys(movie.title):
            for stem, how in _stems(part):
                if len(stem) >= 3:
                    by_stem[stem][movie.movie_id].add(how)
    families: dict[str, set[int]] = {}
    for stem, members in by_stem.items():
        if len(members) < 2:
            continue
        exact = any("self" in how for how in members.values())
        marked = sum(1 for how in members.values() if how & {"sequel", "subtitle"})
        if (exact and marked >= 1) or marked >= 2:
            families[stem] = set(members)
    by_id = {m.movie_id: m for m in movies}
    _add_extended_titles(by_stem, families, by_id)
    families = _merge_nested(families)
    common = _common_words(movies)
    _expand(families, movies, by_id, common)
    _expand_by_title_phrase(families, movies)
    out = [_franchise(stem, ids, by_id) for stem, ids in families.items() if len(ids) >= 2]
    out.extend(_brands(movies))
    out.sort(key=lambda f: f.name)
    return out


_EXTENDED_SHARED_KEYWORDS = 2


def _add_extended_titles(by_stem: dict[str, dict[int, set[str]]], families: dict[str, set[int]],
                         by_id: dict[int, Movie]) -> None:
    """Sequels titled "<an earlier movie's whole title> <more words>" with no ":" or numeral
    ("The Matrix Reloaded", "The Matrix Revolutions") join the earlier movie's family when each shares
    at least two specific TMDB keywords with it (so "Casino Royale" does not join "Casino")."""
    exact = {stem: [i for i, how in members.items() if "self" in how] for stem, members in by_stem.items()}
    for stem, originals in exact.items():
        words = stem.split()
        for n in range(1, len(words)):
            prefix = " ".join(words[:n])
            if len(prefix) < 3 or prefix not in exact:
                continue
            for sequel_id in originals:
                sequel = set(by_id[sequel_id].keywords) - _GENERIC_KEYWORDS
                for original_id in exact[prefix]:
                    if original_id != sequel_id and (by_id[original_id].year or 0) <= (by_id[sequel_id].year or 0) \
                            and len(sequel & set(by_id[original_id].keywords)) >= _EXTENDED_SHARED_KEYWORDS:
                        families.setdefault(prefix, set()).update({original_id, sequel_id})


def _merge_nested(families: dict[str, set[int]]) -> dict[str, set[int]]:
    """When one family is inside another with the same stem prefix ("star wars" and "star wars episode")
    the shorter stem gets the union; the longer keeps its own members too, so a name that is only a
    prefix of a longer one ("Mission" of "Mission: Impossible") never swallows the longer family."""
    stems = sorted(families, key=len)
    kept: dict[str, set[int]] = {}
    for stem in stems:
        parent = next((k for k in kept if stem.startswith(k + " ") and families[stem] & kept[k]), None)
        if parent:
            kept[parent] |= families[stem]
        kept[stem] = set(families[stem])
    return kept


def _expand(families: dict[str, set[int]], movies: Sequence[Movie], by_id: dict[int, Movie], common: set[str]) -> None:
    word_index: dict[str, list[Movie]] = defaultdict(list)
    for movie in movies:
        for word in set(fold(movie.title).split()):
            word_index[word].append(movie)
    for stem, ids in families.items():
        words = stem.split()
        distinctive = [w for w in words if w not in common and not w.isdigit() and len(w) > 2]
        # the head noun that most members' titles repeat ("… Furious" → "Furious 7") also counts, with
        # stronger evidence: two shared keywords, not one
        head = words[-1] if len(words) >= 2 else ""
        by_head = bool(head) and head not in distinctive and len(head) > 3 and not head.isdigit() and \
            sum(1 for i in ids if head in fold(by_id[i].title).split()) >= 3
        keyword_counts = Counter(k for i in ids for k in set(by_id[i].keywords) if k not in _GENERIC_KEYWORDS)
        shared = {k for k, n in keyword_counts.items() if n >= 2}
        if not shared:
            continue
        # a sequel titled with the stem's plural and nothing else ("Aliens" of "Alien"), even when the
        # word is too common to be distinctive: two shared keywords
        for movie in word_index.get(stem + "s", ()) if len(words) == 1 else ():
            if fold(movie.title) in {stem + "s", "the " + stem + "s"} and len(shared & set(movie.keywords)) >= 2:
                ids.add(movie.movie_id)
        if not distinctive and not by_head:
            continue
        for word, needed in [*((w, 1) for w in distinctive), *([(head, 2)] if by_head else [])]:
            # the plural names the same thing in a title ("Alien" → "Aliens")
            for movie in [*word_index.get(word, ()), *word_index.get(word + "s", ())]:
                if movie.movie_id not in ids and len(shared & set(movie.keywords)) >= needed:
                    ids.add(movie.movie_id)


_TITLE_PHRASE_MIN_MEMBERS = 3


def _expand_by_title_phrase(families: dict[str, set[int]], movies: Sequence[Movie]) -> None:
    """A movie whose title contains an established family's multi-word stem as a phrase joins it
    ("Rogue One: A Star Wars Story" joins Star Wars); documentaries about a series do not."""
    candidates = {stem: re.compile(rf"(?:^|\s){re.escape(stem)}(?:\s|$)") for stem, ids in families.items()
                  if len(stem.split()) >= 2 and len(ids) >= _TITLE_PHRASE_MIN_MEMBERS}
    if not candidates:
        return
    first_words: dict[str, list[str]] = defaultdict(list)
    for stem in candidates:
        first_words[stem.split()[0]].append(stem)
    for movie in movies:
        if "Documentary" in movie.genres:
            continue
        key = " ".join(fold(movie.title).split())
        for word in set(key.split()):
            for stem in first_words.get(word, ()):
                if movie.movie_id not in families[stem] and candidates[stem].search(key):
                    families[stem].add(movie.movie_id)


def _display_name(stem: str, ids: Iterable[int], by_id: dict[int, Movie]) -> str:
    for movie_id in sorted(ids, key=lambda i: by_id[i].year or 9999):
        for part in _title_keys(by_id[movie_id].title):
            for candidate, _ in _stems(part):
                if candidate == stem:
                    head = re.split(r":| - ", part, maxsplit=1)[0].strip()
                    if not _SEQUEL_RE.match(fold(head)) and _strip_article(fold(head)) == stem:
                        return head
                    article = 1 if fold(head).startswith(("the ", "a ", "an ")) else 0
                    return " ".join(head.split()[:len(stem.split()) + article])  # "Jaws 2" → "Jaws"
    return stem.title()


def _franchise(stem: str, ids: set[int], by_id: dict[int, Movie]) -> Franchise:
    # "Fast & Furious" reads as the words "fast furious" (the "&" is not a word)
    keys = {stem, " ".join(w for w in stem.split() if w not in _STEM_DROP),
            " ".join(w for w in stem.split() if w not in _STEM_DROP | {"and"})}
    return Franchise(_display_name(stem, ids, by_id), tuple(sorted(k for k in keys if k)), tuple(sorted(ids)))


def _brands(movies: Sequence[Movie]) -> list[Franchise]:
    out = []
    for name, (keywords, tags, names) in BRANDS.items():
        ids = sorted(m.movie_id for m in movies if keywords & set(m.keywords) or tags & {t.lower() for t in m.tags})
        if len(ids) >= 2:
            out.append(Franchise(name, tuple(sorted({fold(n) for n in names})), tuple(ids)))
    return out


class FranchiseIndex:
    """Franchises and the phrases that name them."""

    def __init__(self, franchises: Iterable[Franchise]):
        self.franchises = list(franchises)
        self._by_key: dict[str, list[Franchise]] = defaultdict(list)
        for franchise in self.franchises:
            for key in franchise.keys:
                self._by_key[key].append(franchise)
        for key, found in self._by_key.items():
            if len(found) > 1:  # a brand and a title family of one name ("Star Wars"): one union
                ids = tuple(sorted({i for f in found for i in f.movie_ids}))
                biggest = max(found, key=lambda f: len(f.movie_ids))
                self._by_key[key] = [Franchise(biggest.name, biggest.keys, ids)]
        self.max_key_words = max((len(k.split()) for k in self._by_key), default=1)
        self.prefixes = {" ".join(k.split()[:n]) for k in self._by_key for n in range(1, len(k.split()) + 1)}

    def __len__(self) -> int:
        return len(self.franchises)

    def lookup(self, key: str) -> Franchise | None:
        """The franchise a folded phrase names (the biggest when several share the phrase)."""
        found = self._by_key.get(key)
        return max(found, key=lambda f: len(f.movie_ids)) if found else None

    def is_brand(self, franchise: Franchise) -> bool:
        return franchise.name in BRANDS

    def to_json(self, catalog_version: str) -> dict:
        return {"index_version": INDEX_VERSION, "catalog_version": catalog_version,
                "franchises": [{"name": f.name, "keys": list(f.keys), "movie_ids": list(f.movie_ids)}
                               for f in self.franchises]}

    @classmethod
    def from_json(cls, data: dict) -> FranchiseIndex:
        return cls(Franchise(f["name"], tuple(f["keys"]), tuple(f["movie_ids"])) for f in data["franchises"])


def _source_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def artifact_key(catalog: Catalog) -> str:
    """The cache key of the artifact: catalog version + this builder's source hash."""
    return f"{catalog.version}-{_source_hash()}"


def default_path() -> Path:
    """$MOVIEREC_FRANCHISES_DIR, else <repo>/artifacts/franchises."""
    env = os.environ.get("MOVIEREC_FRANCHISES_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[4] / "artifacts" / "franchises"


def load_or_build(catalog: Catalog, path: str | Path | None = None) -> FranchiseIndex:
    """The index saved at ``path`` (default :func:`default_path`; a dir or franchises.json) when it was
    built from this catalog by this code, else a fresh in-memory build (logged; ~1 s)."""
    path = default_path() if path is None else path
    if path is not None:
        file = Path(path)
        file = file / "franchises.json" if file.is_dir() else file
        if file.is_file():
            data = json.loads(file.read_text())
            if data.get("key") == artifact_key(catalog):
                return FranchiseIndex.from_json(data)
    return FranchiseIndex(build_index(catalog))


def main(argv: list[str] | None = None) -> int:
    from movierec_catalog import load_catalog

    parser = argparse.ArgumentParser(description="Build the franchise index (franchises.json) from the catalog.")
    parser.add_argument("--catalog", default=None, help="catalog dir (default: $MOVIEREC_CATALOG_DIR or artifacts)")
    parser.add_argument("--out", default=str(default_path()), help="output directory")
    args = parser.parse_args(argv)
    catalog = load_catalog(args.catalog)
    out = Path(args.out)
    file = out / "franchises.json"
    key = artifact_key(catalog)
    if file.is_file() and json.loads(file.read_text()).get("key") == key:
        print(f"franchises: up to date ({file}, key {key})")
        return 0
    started = time.perf_counter()
    index = FranchiseIndex(build_index(catalog))
    seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    data = {"key": key, "build_seconds": round(seconds, 3), **index.to_json(catalog.version)}
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(file)
    members = sum(len(f.movie_ids) for f in index.franchises)
    print(f"franchises: {len(index)} families, {members} memberships, built in {seconds:.2f}s → {file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
