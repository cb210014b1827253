"""Themes: K-means clusters of the catalog's movie vectors, named offline from their distinctive facts.

``python -m movierec_jobs.themes`` (``make themes``) reads the serving index artifact
(``artifacts/index/current``), optionally the collaborative item factors (``artifacts/collab/current``,
``--collab-weight``) and the catalog, and writes ``artifacts/themes/<key>/`` (``current`` points at it;
a copy is kept in ``$MOVIEREC_CACHE_DIR/themes``)::

    themes.json   key, inputs, k, the silhouette curve, and per theme: id, name, name terms with their
                  evidence (share of members having each), distinctive terms, members (most central first)
    themes.md     the report (``--report reports/themes.md`` also writes the committed copy)

The key hashes the inputs (index, catalog and collab versions), the parameters and this file's source,
so an unchanged build is reused and a fresh clone copies it from the cache.

Clustering (docs/architecture.md §7): scikit-learn K-means (Lloyd, fixed seed) on the L2-normalized
movie vectors — concatenated with the L2-normalized item factors scaled by ``--collab-weight`` when it
is above 0 — for every k in ``--k-min..--k-max`` (step ``--k-step``); the chosen k has the highest
cosine silhouette on a fixed random sample of movies.

Naming, c-TF-IDF style (BERTopic's class-based TF-IDF): a movie's terms are its genres, its decade and
its descriptors (TMDB keywords and MovieLens tags, folded, one term per text). For theme c and term t,
``score = tf(t, c) · log(1 + A / f(t))``, where tf is t's share of c's term occurrences, A the mean
number of term occurrences per theme and f(t) t's occurrences in the whole catalog: a term scores high
when it is common in the theme and rare elsewhere. The name is up to two descriptors or decades and one
genre (``"Superhero & Alien Action"``), the highest-scoring terms that pass the evidence
check (descriptors first; a decade only fills a place no descriptor earned):

- a genre or decade must be true of at least ``NAME_MIN_SHARE["genre"|"decade"]`` (40%) of the theme's
  members (decades: of the members with a known year);
- a descriptor must be true of at least ``NAME_MIN_SHARE["descriptor"]`` (15%) of the members that have
  any descriptor (about a third of the catalog has TMDB keywords or MovieLens tags: a movie without any
  says nothing for or against a keyword), and of at least ``NAME_MIN_MEMBERS`` members.

A theme none of whose terms passes is called "Mixed Movies" (numbered) with no name terms. Every name
is re-checked against its members after it is composed (:func:`check_name`); a build whose name fails
the check stops with the theme and term.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from movierec_catalog import NON_CONTENT_GENRES, Catalog, Movie, load_catalog
from movierec_core.index_artifact import current_index_dir, load_index_artifact
from movierec_core.paths import artifacts_dir, cache_dir
from movierec_llm.client import LlmClient
from movierec_llm.prompts import theme as theme_prompt

FORMAT_VERSION = 1
NAME_MIN_SHARE = {"genre": 0.4, "decade": 0.4, "descriptor": 0.15}
NAME_MIN_MEMBERS = 10
NAME_DESCRIPTORS = 2
SILHOUETTE_SAMPLE = 4000
SEED = 42
DISTINCTIVE_SHOWN = 8
# Facts that say nothing about what a movie is like (credits stingers, formats, a user's queue).
NON_CONTENT = frozenset({"duringcreditsstinger", "aftercreditsstinger", "3d", "imax", "in netflix queue",
                         "bd-r", "dvd", "netflix", "seen more than once", "clv", "owned", "watched",
                         "to see", "library vhs", "woman director", "independent film"})
# How a genre reads at the end of a name ("… Thrillers").
GENRE_NOUNS = {"Drama": "Dramas", "Comedy": "Comedies", "Thriller": "Thrillers", "Action": "Action",
               "Romance": "Romances", "Adventure": "Adventures", "Crime": "Crime", "Sci-Fi": "Sci-Fi",
               "Horror": "Horror", "Fantasy": "Fantasy", "Mystery": "Mysteries", "Children": "Children's Films",
               "Animation": "Animation", "Documentary": "Documentaries", "War": "War Films",
               "Musical": "Musicals", "Western": "Westerns", "Film-Noir": "Film Noir"}


@dataclass(frozen=True)
class Term:
    kind: str  # "genre" | "decade" | "descriptor"
    text: str

    @property
    def label(self) -> str:
        if self.kind == "genre":
            return GENRE_NOUNS.get(self.text, self.text)
        return self.text if self.kind == "decade" else title_case(self.text)


_SMALL_WORDS = frozenset({"a", "an", "and", "of", "on", "the", "in", "to", "with", "for", "by"})
_ROMAN = frozenset({"ii", "iii", "iv", "vi", "vii", "viii", "ix", "xi"})


def title_case(text: str) -> str:
    """'world war ii' → 'World War II', 'based on comic book' → 'Based on Comic Book'."""
    words = text.split()
    out = []
    for i, word in enumerate(words):
        if word in _ROMAN:
            out.append(word.upper())
        elif i and word in _SMALL_WORDS:
            out.append(word)
        else:
            out.append(word[:1].upper() + word[1:])
    return " ".join(out)


def decade(year: int | None) -> str | None:
    return f"{year // 10 * 10}s" if year else None


def movie_terms(movie: Movie) -> set[Term]:
    """The facts a theme may be named after: genres, decade, TMDB keywords and MovieLens tags."""
    terms = {Term("genre", g) for g in movie.genres if g not in NON_CONTENT_GENRES}
    if (d := decade(movie.year)) is not None:
        terms.add(Term("decade", d))
    terms |= {Term("descriptor", text) for text in descriptors(movie)}
    return terms


@functools.cache
def descriptors(movie: Movie) -> frozenset[str]:
    texts = {" ".join(t.lower().split()) for t in (*movie.keywords, *movie.tags)}
    return frozenset(t for t in texts if t and t not in NON_CONTENT)


# ---- features and clustering -----------------------------------------------------------------

def features(vectors: np.ndarray, movie_ids: np.ndarray, collab: tuple[np.ndarray, np.ndarray] | None,
             collab_weight: float) -> np.ndarray:
    """The movie vectors, with the L2-normalized item factors × ``collab_weight`` appended (zeros for
    movies without ratings) when a collaborative model is given."""
    if collab is None or collab_weight <= 0:
        return np.asarray(vectors, dtype=np.float64)
    factor_ids, factors = collab
    row_of = {int(m): i for i, m in enumerate(factor_ids)}
    extra = np.zeros((len(movie_ids), factors.shape[1]))
    for i, movie_id in enumerate(movie_ids):
        if (row := row_of.get(int(movie_id))) is not None:
            norm = np.linalg.norm(factors[row])
            extra[i] = factors[row] / norm if norm > 0 else 0
    return np.hstack([vectors, collab_weight * extra])


def silhouette_curve(x: np.ndarray, ks: list[int], seed: int = SEED,
                     sample: int = SILHOUETTE_SAMPLE) -> tuple[list[dict], dict[int, np.ndarray]]:
    """K-means for every k; ([{k, silhouette, inertia, seconds}], {k: labels})."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    curve, labels = [], {}
    for k in ks:
        started = time.perf_counter()
        model = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x)
        score = silhouette_score(x, model.labels_, metric="cosine", sample_size=min(sample, len(x)),
                                 random_state=seed)
        curve.append({"k": k, "silhouette": round(float(score), 5), "inertia": round(float(model.inertia_), 2),
                      "seconds": round(time.perf_counter() - started, 2)})
        labels[k] = model.labels_
        print(f"themes: k={k:2d} silhouette {score:.4f} ({curve[-1]['seconds']:.1f} s)", file=sys.stderr, flush=True)
    return curve, labels


# ---- naming -------------------------------------------------------------------------------------

@dataclass
class Evidence:
    """How often a term is true of a theme's members: over all members, and (descriptors) over the
    members that have any descriptor."""

    term: Term
    count: int
    share: float  # of the members the term could be true of (see the module docstring)
    share_of_all: float
    score: float = 0.0

    def as_json(self) -> dict:
        return {"kind": self.term.kind, "term": self.term.text, "label": self.term.label, "members": self.count,
                "share": round(self.share, 4), "shareOfAll": round(self.share_of_all, 4),
                "score": round(self.score, 6)}


def evidence(term: Term, members: list[Movie]) -> Evidence:
    """The share of ``members`` of which ``term`` is true, straight from their catalog facts."""
    if term.kind == "descriptor":
        eligible = [m for m in members if descriptors(m)]
        having = sum(term.text in descriptors(m) for m in eligible)
    elif term.kind == "decade":
        eligible = [m for m in members if m.year]
        having = sum(decade(m.year) == term.text for m in eligible)
    else:
        eligible = members
        having = sum(term.text in m.genres for m in eligible)
    return Evidence(term, having, having / len(eligible) if eligible else 0.0,
                    having / len(members) if members else 0.0)


def passes(ev: Evidence) -> bool:
    return ev.share >= NAME_MIN_SHARE[ev.term.kind] and ev.count >= NAME_MIN_MEMBERS


def class_tfidf(term_counts: list[Counter]) -> list[dict[Term, float]]:
    """c-TF-IDF: tf(t, c) · log(1 + A / f(t)) with tf L1-normalized per class."""
    totals = Counter()
    for counts in term_counts:
        totals.update(counts)
    average = sum(sum(c.values()) for c in term_counts) / max(len(term_counts), 1)
    out = []
    for counts in term_counts:
        size = sum(counts.values()) or 1
        out.append({t: (n / size) * math.log(1 + average / totals[t]) for t, n in counts.items()})
    return out


def name_theme(scores: dict[Term, float], members: list[Movie]) -> tuple[str, list[Evidence], list[Evidence]]:
    """(name, the evidence of its terms, the most distinctive terms that pass the check)."""
    ranked = sorted(scores, key=lambda t: (-scores[t], t.kind, t.text))
    passing = []
    for term in ranked[:200]:  # the best-scoring terms; the name and the shown terms come from these
        ev = evidence(term, members)
        ev.score = scores[term]
        if passes(ev):
            passing.append(ev)
    genres = [e for e in passing if e.term.kind == "genre"]
    chosen = [e for e in passing if e.term.kind == "descriptor"][:NAME_DESCRIPTORS]
    if len(chosen) < NAME_DESCRIPTORS:
        chosen += [e for e in passing if e.term.kind == "decade"][:1]
    head = genres[:1] if chosen or len(genres) < 2 else genres[:2]
    if not head and not chosen:  # nothing is true of enough members: say so rather than guess
        return "Mixed Movies", [], passing[:DISTINCTIVE_SHOWN]
    words = " & ".join(e.term.label for e in chosen)
    if len(head) == 2:
        name = f"{head[0].term.text} & {head[1].term.text}"
    elif head:
        name = f"{words} {head[0].term.label}".strip()
    else:
        name = f"{words} Movies"
    return name, chosen + head, passing[:DISTINCTIVE_SHOWN]


def _disambiguate(name: str, name_ev: list[Evidence], distinctive: list[Evidence],
                  nth: int) -> tuple[str, list[Evidence]]:
    """A second theme with the same name gets its next passing term: a genre joins the head genre
    ("1990s Comedy-Dramas"), a descriptor or decade goes in front ("Heist · 1990s Crime")."""
    extra = next((e for e in distinctive if e.term not in {n.term for n in name_ev}), None)
    if extra is None:
        return f"{name} {nth}", name_ev
    head = name_ev[-1]
    if extra.term.kind == "genre" and head.term.kind == "genre" and name.endswith(head.term.label):
        return f"{name[: -len(head.term.label)]}{head.term.text}-{extra.term.label}", [*name_ev, extra]
    return f"{extra.term.label} · {name}", [*name_ev, extra]


def check_name(name_terms: list[dict], members: list[Movie]) -> None:
    """Every name term is true of at least the documented share of the members (recomputed here)."""
    for item in name_terms:
        ev = evidence(Term(item["kind"], item["term"]), members)
        if not passes(ev):
            raise SystemExit(f"themes: name term {item['term']!r} holds for only {ev.share:.0%} "
                             f"({ev.count}) of its theme's members")


def name_all(labels: np.ndarray, movie_ids: np.ndarray, x: np.ndarray, catalog: Catalog) -> list[dict]:
    k = int(labels.max()) + 1
    members_of: list[list[int]] = [[] for _ in range(k)]
    for row, label in enumerate(labels):
        members_of[int(label)].append(row)
    movies = [[catalog.get(int(movie_ids[r])) for r in rows] for rows in members_of]
    counts = [Counter(t for m in ms if m is not None for t in movie_terms(m)) for ms in movies]
    scores = class_tfidf(counts)
    themes, used = [], Counter()
    for c in range(k):
        rows = members_of[c]
        known = [m for m in movies[c] if m is not None]
        name, name_ev, distinctive = name_theme(scores[c], known)
        used[name] += 1
        if used[name] > 1:  # two themes with the same facts: say which is which by their next term
            name, name_ev = _disambiguate(name, name_ev, distinctive, used[name])
        centre = x[rows].mean(axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        order = np.argsort(-(x[rows] @ centre), kind="stable")
        themes.append({"id": c, "name": name, "size": len(rows),
                       "nameTerms": [e.as_json() for e in name_ev],
                       "distinctiveTerms": [e.as_json() for e in distinctive],
                       "movieIds": [int(movie_ids[rows[i]]) for i in order]})
        check_name(themes[-1]["nameTerms"], known)
    # Stable ids: biggest theme first (K-means label numbers mean nothing).
    themes.sort(key=lambda t: (-t["size"], t["name"]))
    for new_id, theme in enumerate(themes):
        theme["id"] = new_id
    return themes


# ---- names from the LLM (when one is configured) -------------------------------------------------

LLM_FACTS = 12  # the theme's best passing terms the model is shown
LLM_TITLES = 8  # and its most central members


def name_with_llm(themes: list[dict], catalog: Catalog, client: LlmClient) -> None:
    """Ask the LLM to name every theme from its passing terms; a name replaces the offline one only when
    every content word of it is one of those terms (``movierec_llm.prompts.theme.name_of``) and no other
    theme has it. Each theme records ``offlineName``, ``nameSource`` ("llm" | "facts") and, when the
    model's name was refused, ``llmRefused`` with the reason."""
    async def name_all_themes() -> None:
        taken = {theme["name"] for theme in themes}
        for theme in themes:
            await _llm_name(theme, catalog, client, taken)

    asyncio.run(name_all_themes())


async def _llm_name(theme: dict, catalog: Catalog, client: LlmClient, taken: set[str]) -> None:
    names = {e["term"] for e in theme["nameTerms"]}
    terms = [*theme["nameTerms"], *(e for e in theme["distinctiveTerms"] if e["term"] not in names)][:LLM_FACTS]
    facts = [f"{e['label']} ({e['share']:.0%} of the movies)" for e in terms]
    titles = [m.title for mid in theme["movieIds"][:LLM_TITLES] if (m := catalog.get(mid))]
    theme["offlineName"], theme["nameSource"] = theme["name"], "facts"
    result = await client.complete_json("theme", theme_prompt.build_messages(facts, titles), theme_prompt.SCHEMA)
    if not result.ok:
        theme["llmRefused"] = {"name": None, "why": result.failure}
        return
    name, why = theme_prompt.name_of(result.data, [e["label"] for e in terms] + [e["term"] for e in terms])
    if name is not None and name in taken - {theme["name"]}:
        name, why = None, "another theme has this name"
    if name is None:
        theme["llmRefused"] = {"name": result.data["name"], "why": why}
        return
    taken.discard(theme["name"])
    taken.add(name)
    theme["name"], theme["nameSource"] = name, "llm"


# ---- the artifact -------------------------------------------------------------------------------

def themes_root(override: str | Path | None = None) -> Path:
    return Path(override) if override else Path(os.environ.get("MOVIEREC_THEMES_ROOT", artifacts_dir() / "themes"))


def _source_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def artifact_key(inputs: dict, params: dict) -> str:
    blob = json.dumps({"inputs": inputs, "params": params, "source": _source_hash(), "format": FORMAT_VERSION},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _load_collab(path: Path) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    with np.load(path / "model.npz", allow_pickle=False) as data:
        model = (data["movie_ids"], data["item_factors"])
    version = json.loads((path / "manifest.json").read_text()).get("data", {}).get("sha256", path.resolve().name)
    return model, str(path.resolve().name) + ":" + version[:12]


def build(index_dir: Path, catalog: Catalog, collab_dir: Path | None, params: dict,
          llm: LlmClient | None = None) -> dict:
    artifact = load_index_artifact(index_dir)
    collab, collab_version = (None, None)
    if collab_dir is not None and params["collab_weight"] > 0:
        collab, collab_version = _load_collab(collab_dir)
    x = features(artifact.vectors, artifact.movie_ids, collab, params["collab_weight"])
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    ks = list(range(params["k_min"], params["k_max"] + 1, params["k_step"]))
    started = time.perf_counter()
    curve, labels = silhouette_curve(x, ks)
    best = max(curve, key=lambda row: (row["silhouette"], -row["k"]))
    themes = name_all(labels[best["k"]], artifact.movie_ids, x, catalog)
    if llm is not None:
        name_with_llm(themes, catalog, llm)
    return {"format": FORMAT_VERSION, "k": best["k"], "silhouette": best["silhouette"], "curve": curve,
            "inputs": {"index_version": artifact.version, "catalog_version": catalog.version,
                       "collab_version": collab_version},
            "params": params, "nameMinShare": NAME_MIN_SHARE, "nameMinMembers": NAME_MIN_MEMBERS,
            "movies": len(artifact.movie_ids), "buildSeconds": round(time.perf_counter() - started, 1),
            "createdAt": datetime.now(UTC).isoformat(), "themes": themes}


def _write_dir(final: Path, data: dict, catalog: Catalog) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    (tmp / "themes.json").write_text(json.dumps(data, indent=1) + "\n")
    (tmp / "themes.md").write_text(render_report(data, catalog))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def _point_current(root: Path, key: str) -> None:
    tmp = root / f".current-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(key)
    tmp.replace(root / "current")


def _valid(directory: Path) -> bool:
    try:
        return json.loads((directory / "themes.json").read_text()).get("format") == FORMAT_VERSION
    except (OSError, ValueError):
        return False


def run(index_dir: Path, catalog: Catalog, collab_dir: Path | None, root: Path, cache: Path | None,
        params: dict, *, serve: bool = True, llm: LlmClient | None = None) -> tuple[str, Path]:
    """Reuse, copy from the cache, or build the artifact for these inputs; ``current`` points at it
    (unless ``serve=False``: a variant built only to be compared)."""
    index_version = json.loads((index_dir / "manifest.json").read_text())["version"]
    collab_version = None
    if collab_dir is not None and params["collab_weight"] > 0:
        collab_version = _load_collab(collab_dir)[1]
    key = artifact_key({"index": index_version, "catalog": catalog.version, "collab": collab_version}, params)
    status = "reused"
    if not _valid(root / key):
        if cache is not None and _valid(cache / key):
            shutil.copytree(cache / key, root / key, dirs_exist_ok=True)
            status = "cached"
        else:
            data = build(index_dir, catalog, collab_dir, params, llm)
            data["key"] = key
            _write_dir(root / key, data, catalog)
            status = "built"
            if cache is not None:
                try:
                    shutil.copytree(root / key, cache / key, dirs_exist_ok=True)
                except OSError as error:
                    print(f"themes: could not copy to the cache {cache}: {error}", file=sys.stderr)
    if serve:
        _point_current(root, key)
    return status, root / key


def name_quality(data: dict) -> dict:
    """How nameable a clustering is: themes named after a keyword/tag, and names that needed a number."""
    themes = data["themes"]
    described = sum(any(t["kind"] == "descriptor" for t in theme["nameTerms"]) for theme in themes)
    numbered = sum(theme["name"].rsplit(" ", 1)[-1].isdigit() for theme in themes)
    return {"k": data["k"], "silhouette": data["silhouette"], "themes": len(themes),
            "named_after_a_keyword_or_tag": described, "numbered_duplicate_names": numbered}


def render_comparison(served: dict, variant: dict, weight: float) -> str:
    a, b = name_quality(served), name_quality(variant)
    rows = [("k (by silhouette)", "k"), ("silhouette (in its own feature space)", "silhouette"),
            ("themes named after a TMDB keyword / MovieLens tag", "named_after_a_keyword_or_tag"),
            ("names that needed a number to be unique", "numbered_duplicate_names")]
    lines = ["", f"## With the collaborative item factors (weight {weight})", "",
             "The same job with the L2-normalized item factors of `artifacts/collab/current` appended "
             f"(`--collab-weight {weight}`). Silhouettes of different feature spaces are not comparable; "
             "what decides is whether the themes can be named truthfully.", "",
             f"| | movie vectors only (served) | + item factors × {weight} |", "|---|---|---|"]
    lines += [f"| {label} | {a[key]} | {b[key]} |" for label, key in rows]
    lines += ["", f"Names with the factors: {', '.join(t['name'] for t in variant['themes'][:12])}, …", ""]
    return "\n".join(lines)


# ---- the report ---------------------------------------------------------------------------------

def render_report(data: dict, catalog: Catalog) -> str:
    p = data["params"]
    lines = [
        "# Themes", "",
        "Written by `make report-themes` (`python -m movierec_jobs.themes --report reports/themes.md`); "
        "method in `jobs/movierec_jobs/themes.py` and docs/architecture.md §7.", "",
        f"Inputs: index `{data['inputs']['index_version']}`, catalog `{data['inputs']['catalog_version']}`, "
        f"collaborative factors: {data['inputs']['collab_version'] or 'not used'} "
        f"(weight {p['collab_weight']}). {data['movies']} movies; build {data['buildSeconds']} s.", "",
        f"**k = {data['k']}** (highest cosine silhouette over k = {p['k_min']}–{p['k_max']}, step {p['k_step']}; "
        f"K-means n_init=1, seed {SEED}; silhouette on a fixed sample of {SILHOUETTE_SAMPLE} movies).", "",
        "## Silhouette curve", "", "| k | silhouette | inertia | seconds |", "|---|---|---|---|",
    ]
    lines += [f"| {r['k']}{' ←' if r['k'] == data['k'] else ''} | {r['silhouette']:.4f} | {r['inertia']:.1f} | "
              f"{r['seconds']} |" for r in data["curve"]]
    lines += ["", "Silhouettes this low are what sentence embeddings of short movie texts give: the movies form a "
              "continuum, not separated islands; the curve picks the k where clusters are least overlapping, "
              "and the names below say what each region is.", "",
              "## Themes and their evidence", "",
              "A name term is used only when it is true of at least "
              f"{data['nameMinShare']['genre']:.0%} of the members (genres; decades: of the members with a year) "
              f"or {data['nameMinShare']['descriptor']:.0%} of the members with any TMDB keyword or MovieLens "
              f"tag (keywords/tags), and of at least {data['nameMinMembers']} members. Share = that share; "
              "score = c-TF-IDF.", "",
              f"Names by the LLM: {p.get('llm') or 'none configured (offline names)'}; an LLM name is kept only "
              "when every content word of it is one of the theme's passing terms (the offline name otherwise; "
              "refusals below the table).", "",
              "| id | name | named by | size | name terms (share, members) | other distinctive terms | "
              "most central members |",
              "|---|---|---|---|---|---|---|"]
    for t in data["themes"]:
        terms = "; ".join(f"{e['term']} ({e['share']:.0%}, {e['members']})" for e in t["nameTerms"])
        names = {e["term"] for e in t["nameTerms"]}
        other = ", ".join(f"{e['term']} ({e['share']:.0%})" for e in t["distinctiveTerms"] if e["term"] not in names)
        central = "; ".join(m.title for mid in t["movieIds"][:3] if (m := catalog.get(mid)))
        by = "LLM" if t.get("nameSource") == "llm" else "facts"
        lines.append(f"| {t['id']} | {t['name']} | {by} | {t['size']} | {terms} | {other or '—'} | {central} |")
    refused = [t for t in data["themes"] if t.get("llmRefused")]
    if refused:
        lines += ["", "LLM names refused (the offline name is served):", ""]
        lines += [f"* {t['id']} {t['offlineName']}: {t['llmRefused']['name']!r} — {t['llmRefused']['why']}"
                  for t in refused]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m movierec_jobs.themes", description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=None, help="index artifact dir (default: the current one)")
    parser.add_argument("--catalog", type=Path, default=None, help="catalog dir (default: the current one)")
    parser.add_argument("--collab", type=Path, default=artifacts_dir() / "collab" / "current",
                        help="collaborative model dir (used when --collab-weight > 0)")
    parser.add_argument("--collab-weight", type=float, default=0.0,
                        help="weight of the normalized item factors appended to the movie vectors (default 0: off)")
    parser.add_argument("--k-min", type=int, default=10)
    parser.add_argument("--k-max", type=int, default=50)
    parser.add_argument("--k-step", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="artifact root (default: artifacts/themes)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write $MOVIEREC_CACHE_DIR/themes")
    parser.add_argument("--no-llm", action="store_true",
                        help="offline names only, even when LLM_BASE_URL configures a model")
    parser.add_argument("--report", type=Path, default=None, help="also write the report here (reports/themes.md)")
    parser.add_argument("--compare-collab", type=float, default=0.0,
                        help="with --report: also build the variant with this collab weight and compare their names")
    args = parser.parse_args(argv)
    if not 2 <= args.k_min <= args.k_max or args.k_step < 1:
        parser.error("need 2 <= --k-min <= --k-max and --k-step >= 1")
    llm = None if args.no_llm else LlmClient.from_env()
    params = {"k_min": args.k_min, "k_max": args.k_max, "k_step": args.k_step, "collab_weight": args.collab_weight,
              # LLM names are part of what the artifact is: another model (or none) is another artifact.
              "llm": f"{llm.model} ({theme_prompt.VERSION})" if llm is not None else None}
    catalog = load_catalog(args.catalog)
    index_dir = Path(args.index or current_index_dir())
    status, path = run(index_dir, catalog, args.collab, themes_root(args.out),
                       None if args.no_cache else cache_dir() / "themes", params, llm=llm)
    data = json.loads((path / "themes.json").read_text())
    if args.report is not None:
        report = (path / "themes.md").read_text()
        if args.compare_collab > 0:
            _, variant_path = run(index_dir, catalog, args.collab, themes_root(args.out),
                                  None if args.no_cache else cache_dir() / "themes",
                                  {**params, "collab_weight": args.compare_collab}, serve=False)
            variant = json.loads((variant_path / "themes.json").read_text())
            report += render_comparison(data, variant, args.compare_collab)
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report)
    print(f"themes {data['key']}: {status}, k={data['k']} (silhouette {data['silhouette']:.4f}), "
          f"{len(data['themes'])} themes → {path}")
    for theme in data["themes"][:5]:
        print(f"  {theme['id']:2d} {theme['name']} ({theme['size']} movies)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
