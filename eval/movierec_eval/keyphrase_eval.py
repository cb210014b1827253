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


def requests_of(split: str, facts) -> list[dict]:
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
        seeker = [i for i, r in enumerate(turns) if r["speaker"] == "SEEKER" and texts[i]]
        mood = [i for i in seeker if is_mood_request(texts[i])]
        other = [i for i in seeker if query_keyphrases(texts[i])]
        kind, start = ("mood", mood[0]) if mood else ("other", other[0]) if other else (None, None)
        if kind is None:
            continue
        mentioned: set[int] = set()
        target = None
        for i, row in enumerate(turns):
            ids = [m for m in (link(x) for x in row["movies"].split(";") if x.strip()) if m is not None]
            if i > start and row["speaker"] == "RECOMMENDER":
                fresh = [m for m in ids if m not in mentioned]
                if fresh:
                    target = fresh[0]
                    break
            mentioned.update(ids)
        if target is not None:
            out.append({"dialog_id": dialog_id, "type": kind, "text": texts[start][:1000], "target": target,
                        "mentioned": sorted(mentioned), "phrases": query_keyphrases(texts[start])})
    return out


def rrf(lists: list[list[int]], depth: int) -> list[int]:
    scores: dict[int, float] = defaultdict(float)
    for ranked in lists:
        for rank, movie in enumerate(ranked):
            scores[movie] += 1.0 / (RRF_K + rank + 1)
    return sorted(scores, key=lambda m: (-scores[m], m))[:depth]


def run(split: str) -> dict:
    import faiss

    from embedding_service.backends import EmbedKind, create_backend
    from embedding_service.settings import EmbeddingSettings
    from movierec_core.index_artifact import load_index_artifact
    from movierec_core.paths import artifacts_dir
    from retrieval_service.keyphrases import load_keyphrases

    faiss.omp_set_num_threads(1)
    facts = load(default_root())
    requests = requests_of(split, facts)
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
    results: dict = {"split": split, "requests": len(requests), "types": {}}
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
                 "paired_vs_vector": {m: {metric: paired(ranks[m], ranks["vector"], metric=metric)
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


def choose(entry: dict) -> str:
    """The best Recall@50 method whose paired 95% interval against ``vector`` lies above 0, else ``vector``."""
    best, best_recall = "vector", entry["methods"]["vector"]["recall@50"]["mean"]
    for method, comparisons in entry["paired_vs_vector"].items():
        low = comparisons["recall@50"]["ci95"][0]
        recall = entry["methods"][method]["recall@50"]["mean"]
        if low > 0 and recall > best_recall:
            best, best_recall = method, recall
    return best


def write_reports(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "keyphrases.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Keyphrase retrieval vs single-vector search (INSPIRED)", "",
             f"`python -m movierec_eval.keyphrase_eval --split {results['split']}` (`make report-keyphrases`): "
             f"{results['requests']} requests, one per dialogue (the seeker's first mood utterance, else the first "
             "utterance with a content keyphrase); target = the first new movie the recommender names after it. "
             "Paired bootstrap 95% intervals (2000 resamples) of each method minus `vector`.", ""]
    for kind, entry in results["types"].items():
        lines += [f"## {kind} requests ({entry['requests']}; targets in the catalog: {entry['targets_in_catalog']})",
                  "", "| method | Recall@10 [95% CI] | Recall@50 [95% CI] | Δ@10 vs vector [CI] "
                  "| Δ@50 vs vector [CI] |",
                  "|---|---|---|---|---|"]
        for method in METHODS:
            m = entry["methods"][method]
            cells = [f"{m[x]['mean']:.3f} [{m[x]['ci95'][0]:.3f}, {m[x]['ci95'][1]:.3f}]"
                     for x in ("recall@10", "recall@50")]
            if method == "vector":
                cells += ["—", "—"]
            else:
                for metric in ("recall@10", "recall@50"):
                    p = entry["paired_vs_vector"][method][metric]
                    cells.append(f"{p['mean_diff']:+.3f} [{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}] p={p['p_value']}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", f"Served for {kind} requests: **{entry['served']}** (rule: best Recall@50 whose paired interval "
                  "against vector lies above 0, else vector).", ""]
    lines += [f"p50 latency per request in process (embedding included): {results['latency_ms_p50']}", "",
              "## Examples", "", "| type | utterance | query keyphrases | rank keyphrase | rank vector |",
              "|---|---|---|---|---|"]
    for ex in results["examples"]:
        text = ex["text"].replace("|", "/")[:90]
        lines.append(f"| {ex['type']} | {text} | {', '.join(ex['phrases'])} | {ex['keyphrase_rank']} | "
                     f"{ex['vector_rank']} |")
    (out / "keyphrases.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m movierec_eval.keyphrase_eval", description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="dev")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports")
    parser.add_argument("--write-served", action="store_true",
                        help="store the per-type choice in services/gateway/gateway_service/search_served.json")
    args = parser.parse_args(argv)
    results = run(args.split)
    write_reports(results, args.out)
    served = {kind: entry["served"] for kind, entry in results["types"].items() if kind != "all"}
    if args.write_served:
        SERVED.write_text(json.dumps({"source": f"reports/keyphrases.json (INSPIRED {args.split})", **served},
                                     indent=2) + "\n")
    print(json.dumps({k: {m: v["methods"][m]["recall@50"]["mean"] for m in METHODS} | {"served": v["served"]}
                      for k, v in results["types"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
