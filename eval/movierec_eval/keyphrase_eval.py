"""Keyphrase search vs the single-vector search on INSPIRED requests → reports/keyphrases.{json,md}.

    python -m movierec_eval.keyphrase_eval [--split dev] [--write-served]   (make report-keyphrases)

Requests: per INSPIRED dialogue, the seeker's first utterance that names a mood (``is_mood_request``: a
mood word such as "dark", "funny", "scary") is a **mood** request; in dialogues without one, the seeker's
first utterance with a content keyphrase is an **other** request. The target is the first movie the
recommender names after it (linked by title + year as ``dialogue_eval`` links mentions: ``_MENTION`` and
``raw_facts.find``), skipping movies already mentioned, which are also removed from every ranked list.

Methods, over the served artifacts (artifacts/index/current, artifacts/keyphrases/current) with the same
model and the same code the tiers run, in process:

* ``vector``: the utterance embedded as one query, exact inner product over the movie vectors (Search);
* ``keyphrase``: the utterance's own keyphrases (``query_keyphrases``), each embedded as a query, max-sim
  over the movies' keyphrases (SearchKeyphrases, ``retrieval_service.keyphrases``);
* ``hybrid``: reciprocal-rank fusion (k = 60) of the two lists.

Recall@10/50 per method and request type, with paired bootstrap 95% intervals of each method minus
``vector`` (``metrics.paired``: 2000 resamples, sign-flip p-value). The served choice per type is the method
with the best Recall@50 whose paired interval against ``vector`` excludes 0, else ``vector`` (the simpler
path). ``--write-served`` stores it in services/gateway/gateway_service/search_served.json, which
``POST /api/search`` reads.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from movierec_catalog.keyphrases import is_mood_request, query_keyphrases
from movierec_eval.dialogue_eval import _MENTION
from movierec_eval.metrics import paired, per_user, ranks_from_lists, summarize
from movierec_eval.raw_facts import default_root, load

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVED = REPO_ROOT / "services" / "gateway" / "gateway_service" / "search_served.json"
METHODS = ("vector", "keyphrase", "hybrid")
DEPTH = 200  # list length per method (Recall@50 needs 50 after removing mentioned movies)
RRF_K = 60


def requests_of(split: str, facts, sample: str = "first") -> list[dict]:
    """``first``: one request per dialogue (its first mood utterance, else its first content utterance);
    ``every``: every seeker utterance with a content keyphrase, typed mood/other by its own words. The target is
    the first new movie the recommender names after the utterance (before the seeker speaks again, for
    ``every``)."""
    csv.field_size_limit(10**9)
    with open(default_root() / "inspired" / f"{split}.tsv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    by_dialog: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_dialog[row["dialog_id"]].append(row)

    def link(mention: str) -> int | None:
        parsed = _MENTION.match(mention.strip())
        movie = facts.find(parsed.group("title"), int(parsed.group("year"))) if parsed else None
        return movie.movie_id if movie else None

    out = []
    for dialog_id in sorted(by_dialog):
        turns = sorted(by_dialog[dialog_id], key=lambda r: int(r["utt_id"]))
        texts = [r["text"].replace("QUOTATION_MARK", '"').strip() for r in turns]
        ids = [[m for m in (link(x) for x in r["movies"].split(";") if x.strip()) if m is not None] for r in turns]
        seeker = [i for i, r in enumerate(turns) if r["speaker"] == "SEEKER" and texts[i]]
        content = [i for i in seeker if query_keyphrases(texts[i])]
        if sample == "first":
            mood = [i for i in seeker if is_mood_request(texts[i])]
            starts = [mood[0]] if mood else content[:1]
        else:
            starts = content
        for start in starts:
            mentioned = {m for i in range(start + 1) for m in ids[i]}
            target = None
            for i in range(start + 1, len(turns)):
                if sample == "every" and turns[i]["speaker"] == "SEEKER" and texts[i]:
                    break
                if turns[i]["speaker"] == "RECOMMENDER":
                    fresh = [m for m in ids[i] if m not in mentioned]
                    if fresh:
                        target = fresh[0]
                        break
                mentioned.update(ids[i])
            if target is not None:
                kind = "mood" if is_mood_request(texts[start]) else "other"
                out.append({"dialog_id": dialog_id, "type": kind, "text": texts[start][:1000], "target": target,
                            "mentioned": sorted(mentioned), "phrases": query_keyphrases(texts[start])})
    return out


def cluster_paired(hits_a: np.ndarray, hits_b: np.ndarray, clusters: list[str], seed: int = 0) -> dict:
    """Recall difference a − b with a bootstrap over dialogues (requests of one dialogue move together)."""
    names = sorted(set(clusters))
    position = {name: i for i, name in enumerate(names)}
    group = np.asarray([position[c] for c in clusters])
    a = np.bincount(group, hits_a, len(names))
    b = np.bincount(group, hits_b, len(names))
    n = np.bincount(group, minlength=len(names)).astype(float)
    draws = np.random.default_rng(seed).integers(0, len(names), size=(2000, len(names)))
    diffs = (a[draws].sum(1) - b[draws].sum(1)) / n[draws].sum(1)
    return {"mean_diff": round(float((a.sum() - b.sum()) / n.sum()), 4),
            "ci95": [round(float(np.percentile(diffs, 2.5)), 4), round(float(np.percentile(diffs, 97.5)), 4)],
            "wins": int(((hits_a > 0) & (hits_b == 0)).sum()), "losses": int(((hits_a == 0) & (hits_b > 0)).sum()),
            "dialogues": len(names)}


def rrf(lists: list[list[int]], depth: int) -> list[int]:
    scores: dict[int, float] = defaultdict(float)
    for ranked in lists:
        for rank, movie in enumerate(ranked):
            scores[movie] += 1.0 / (RRF_K + rank + 1)
    return sorted(scores, key=lambda m: (-scores[m], m))[:depth]


def run(split: str) -> dict:
    """Both samples: ``first`` (one request per dialogue, the brief's definition) and ``every``."""
    return {"split": split, "samples": {name: run_sample(split, name) for name in ("first", "every")}}


def run_sample(split: str, sample: str) -> dict:
    import faiss

    from embedding_service.backends import EmbedKind, create_backend
    from embedding_service.settings import EmbeddingSettings
    from movierec_core.index_artifact import load_index_artifact
    from movierec_core.paths import artifacts_dir
    from retrieval_service.keyphrases import load_keyphrases

    faiss.omp_set_num_threads(1)
    facts = load(default_root())
    requests = requests_of(split, facts, sample)
    index = load_index_artifact()
    keyphrases = load_keyphrases(artifacts_dir() / "keyphrases" / "current", artifacts_dir() / "catalog")
    backend = create_backend(EmbeddingSettings.from_env())
    rows_of = index.row_of()
    timings: dict[str, list[float]] = defaultdict(list)
    for request in requests:
        banned = set(request["mentioned"])
        started = time.perf_counter()
        query = backend.encode([request["text"]], EmbedKind.QUERY)[0]
        scores = index.vectors @ query
        order = np.argsort(-scores)[:DEPTH + len(banned)]
        request["vector"] = [int(m) for m in index.movie_ids[order] if int(m) not in banned][:DEPTH]
        timings["vector"].append(time.perf_counter() - started)
        started = time.perf_counter()
        phrases = request["phrases"]
        queries = backend.encode(phrases, EmbedKind.QUERY)
        hits = keyphrases.search(queries, DEPTH + len(banned), None, 256)
        request["keyphrase"] = [int(m) for m in keyphrases.movie_ids[hits.rows] if int(m) not in banned][:DEPTH]
        timings["keyphrase"].append(time.perf_counter() - started)
        request["hybrid"] = rrf([request["vector"], request["keyphrase"]], DEPTH)
        request["target_indexed"] = request["target"] in rows_of
    results: dict = {"split": split, "sample": sample, "requests": len(requests),
                     "dialogues": len({r["dialog_id"] for r in requests}), "types": {}}
    for kind in ("mood", "other", "all"):
        chosen = [r for r in requests if kind == "all" or r["type"] == kind]
        if not chosen:
            continue
        targets = np.asarray([r["target"] for r in chosen])
        ranks = {m: ranks_from_lists([np.asarray(r[m]) for r in chosen], targets) for m in METHODS}
        entry = {"requests": len(chosen), "targets_in_catalog": sum(r["target_indexed"] for r in chosen),
                 "methods": {m: summarize(ranks[m], metrics=("recall@10", "recall@50")) for m in METHODS},
                 "hits": {m: {f"@{k}": int(per_user(ranks[m])[f"recall@{k}"].sum()) for k in (10, 50)}
                          for m in METHODS},
                 "paired_vs_vector": {m: {metric: _paired(ranks[m], ranks["vector"], metric, chosen, sample)
                                          for metric in ("recall@10", "recall@50")}
                                      for m in METHODS if m != "vector"}}
        entry["served"] = choose(entry)
        results["types"][kind] = entry
    results["latency_ms_p50"] = {m: round(1000 * float(np.median(v)), 1) for m, v in timings.items()}
    results["examples"] = [{k: r[k] for k in ("type", "text", "phrases", "target")} |
                           {"keyphrase_rank": r["keyphrase"].index(r["target"]) if r["target"] in r["keyphrase"]
                            else None,
                            "vector_rank": r["vector"].index(r["target"]) if r["target"] in r["vector"] else None}
                           for r in requests[:12]]
    return results


def _paired(a: np.ndarray, b: np.ndarray, metric: str, chosen: list[dict], sample: str) -> dict:
    if sample == "first":  # one request per dialogue: requests are independent
        return paired(a, b, metric=metric)
    return cluster_paired(per_user(a)[metric], per_user(b)[metric], [r["dialog_id"] for r in chosen]) | \
        {"metric": metric, "bootstrap": "over dialogues"}


def choose(entry: dict) -> str:
    """The best Recall@50 method whose paired 95% interval against ``vector`` lies above 0, else ``vector``."""
    best, best_recall = "vector", entry["methods"]["vector"]["recall@50"]["mean"]
    for method, comparisons in entry["paired_vs_vector"].items():
        low = comparisons["recall@50"]["ci95"][0]
        recall = entry["methods"][method]["recall@50"]["mean"]
        if low > 0 and recall > best_recall:
            best, best_recall = method, recall
    return best


def write_reports(results: dict, out: Path, served: dict[str, str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "keyphrases.json").write_text(json.dumps({**results, "served": served}, indent=2) + "\n")
    lines = ["# Keyphrase retrieval vs single-vector search (INSPIRED)", "",
             f"`python -m movierec_eval.keyphrase_eval --split {results['split']}` (`make report-keyphrases`), over "
             "the served artifacts (artifacts/index/current, artifacts/keyphrases/current) with the tiers' own code, "
             "no filter, movies mentioned earlier in the dialogue removed. Target = the first new movie the "
             "recommender names after the request. `vector`: the utterance as one query vector (Search); "
             "`keyphrase`: the utterance's own keyphrases, max-sim over the movies' keyphrases "
             "(SearchKeyphrases); `hybrid`: reciprocal-rank fusion of the two.", "",
             f"**Served** (`services/gateway/gateway_service/search_served.json`): {served}. Rule: per request type, "
             "the best Recall@50 method whose paired 95% interval against `vector` lies above 0 on the `first` "
             "sample (the issue's definition), else `vector` (the plain, faster path).", ""]
    for sample, data in results["samples"].items():
        how = ("one request per dialogue: the seeker's first utterance with a mood word, else (type `other`) the "
               "first with a content keyphrase; paired bootstrap over requests (2000 resamples) and a sign-flip "
               "p-value" if sample == "first" else
               "every seeker utterance with a content keyphrase whose next recommender turn names a new movie; "
               "requests of one dialogue are correlated, so the paired bootstrap resamples dialogues")
        lines += [f"## Sample `{sample}`: {data['requests']} requests from {data['dialogues']} dialogues", "",
                  f"{how}.", ""]
        for kind, entry in data["types"].items():
            lines += [f"### {kind} requests ({entry['requests']})", "",
                      "| method | Recall@10 [95% CI] | Recall@50 [95% CI] | hits @10 / @50 | Δ@10 vs vector [CI] "
                      "| Δ@50 vs vector [CI] |", "|---|---|---|---|---|---|"]
            for method in METHODS:
                m = entry["methods"][method]
                cells = [f"{m[x]['mean']:.3f} [{m[x]['ci95'][0]:.3f}, {m[x]['ci95'][1]:.3f}]"
                         for x in ("recall@10", "recall@50")]
                cells.append(f"{entry['hits'][method]['@10']} / {entry['hits'][method]['@50']}")
                if method == "vector":
                    cells += ["—", "—"]
                else:
                    for metric in ("recall@10", "recall@50"):
                        p = entry["paired_vs_vector"][method][metric]
                        extra = f" p={p['p_value']}" if "p_value" in p else ""
                        cells.append(f"{p['mean_diff']:+.3f} [{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}]{extra}")
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
            lines += ["", f"Best by the rule on this sample: **{entry['served']}**.", ""]
        lines += [f"p50 latency per request in process (embedding included): {data['latency_ms_p50']}", ""]
    lines += ["## Which wins per request type", ""]
    for sample, data in results["samples"].items():
        for kind in ("mood", "other"):
            entry = data["types"].get(kind)
            if entry is None:
                continue
            for metric in ("recall@10", "recall@50"):
                p = entry["paired_vs_vector"]["keyphrase"][metric]
                low, high = p["ci95"]
                verdict = ("keyphrase wins" if low > 0 else "vector wins" if high < 0 else
                           "no difference the sample can show")
                lines.append(f"* `{sample}`, {kind} ({entry['requests']}), {metric}: keyphrase − vector = "
                             f"{p['mean_diff']:+.3f} [{low:+.3f}, {high:+.3f}] → {verdict}")
    lines += ["", f"Served: {served} (the rule above, on the `first` sample).", ""]
    first = results["samples"]["first"]
    lines += ["## Examples (`first` sample)", "",
              "| type | utterance | query keyphrases | rank keyphrase | rank vector |", "|---|---|---|---|---|"]
    for ex in first["examples"]:
        text = ex["text"].replace("|", "/")[:90]
        lines.append(f"| {ex['type']} | {text} | {', '.join(ex['phrases'])} | {ex['keyphrase_rank']} | "
                     f"{ex['vector_rank']} |")
    lines += ["", "The hand-labelled dialogue corpus (eval/dialogue/) labels constraints, seeds and dialogue acts, "
              "not target movies, so it gives no Recall for this comparison.", ""]
    (out / "keyphrases.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m movierec_eval.keyphrase_eval", description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="dev")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports")
    parser.add_argument("--write-served", action="store_true",
                        help="store the per-type choice in services/gateway/gateway_service/search_served.json")
    args = parser.parse_args(argv)
    results = run(args.split)
    served = {kind: entry["served"] for kind, entry in results["samples"]["first"]["types"].items() if kind != "all"}
    write_reports(results, args.out, served)
    if args.write_served:
        SERVED.write_text(json.dumps({"source": f"reports/keyphrases.json (INSPIRED {args.split})", **served},
                                     indent=2) + "\n")
    print(json.dumps({sample: {k: {m: v["methods"][m]["recall@50"]["mean"] for m in METHODS} | {"best": v["served"]}
                               for k, v in data["types"].items()} for sample, data in results["samples"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
