"""Does the taste normalizer help retrieval? → ``reports/taste-normalizer.{json,md}``.

    .venv/bin/python bench/bench_taste_normalizer.py [--utterances 40] [--model 0.5b] [--base-url URL]
                                                     [--timeout-s 60]

Cases: INSPIRED dialogues (test, then dev) whose seeker accepted the recommendation (``coarse_label``
``accept_new``); the accepted movie is the last movie the recommender named that the seeker had not
named before, mapped to the catalog by title + year (movierec_eval.conversational's matcher). The text
is the seeker's first utterance that names a genre or a movie (INSPIRED's own ``genres`` / ``movies``
annotations) before the accepted movie comes up: the free text a person would type at onboarding.

Each text goes through the gateway's own normalizer (``gateway_service.taste_text.normalized``: the
LLM rewrite, movierec_llm's checks, the gateway's genre/negation checks) against a real model — the
local server started here (``python -m movierec_llm.server``, the packaged ``--model``) unless
``--base-url`` is given. Three texts are embedded by the embedding tier's own backend (QUERY kind, as
the profile tier embeds onboarding free text) and ranked over the whole served index by inner product
(the exact search the retrieval tier's flat index does), with the movies the utterance names excluded:

* ``original`` — the person's words (normalizer off);
* ``served`` — what the gateway embeds with the normalizer on (the rewrite when it passed, else the original);
* ``raw rewrite`` — the model's answer even when the checks refused it (what the checks protect against).

Recall@K of the accepted movie (K = 10, 50, 100), paired differences with a bootstrap 95% CI, and the
normalizer's latency (p50/p95) and outcomes. The timeout is generous (``--timeout-s``) so that the
quality of the rewrites is measured; the share of calls slower than the served ``LLM_TIMEOUT_TASTE_S``
default (6 s) is reported, and those would fall back in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
for sub in ("libs", "services/gateway", "services/embedding", "eval", "gen"):
    sys.path.insert(0, str(REPO_ROOT / sub))

from movierec_core.paths import data_dir  # noqa: E402
from movierec_llm import LlmClient, LlmSettings  # noqa: E402
from movierec_llm.settings import DEFAULT_TIMEOUTS_S  # noqa: E402

KS = (10, 50, 100)
BOOTSTRAP = 2000
VARIANTS = ("original", "served", "raw rewrite")


# ---- cases ----------------------------------------------------------------------------------------------

def cases(catalog, limit: int) -> list[dict]:
    from movierec_eval.conversational import mentions, read_dialogues, title_matcher

    match = title_matcher(catalog)
    out = []
    for split in ("test", "dev"):
        frame = read_dialogues(data_dir() / "inspired" / f"{split}.tsv")
        for dialog, rows in frame.groupby("dialog_id", sort=True):
            if rows.coarse_label.iloc[0] != "accept_new":
                continue
            case = _case(rows, match, mentions)
            if case is not None:
                out.append({"split": split, "dialog": dialog, **case})
                if len(out) >= limit:
                    return out
    return out


def _case(rows, match, mentions) -> dict | None:
    seeker_named: set[str] = set()
    accepted = None
    for row in rows.itertuples():
        for name in mentions(row.movies):
            if row.speaker == "SEEKER":
                seeker_named.add(name)
            elif name not in seeker_named:
                accepted = name
    accepted_id = match(accepted) if accepted else None
    if accepted_id is None:
        return None
    for row in rows.itertuples():
        names = mentions(row.movies)
        if accepted in names:
            return None  # the accepted movie came up before any taste text
        if row.speaker == "SEEKER" and row.text and (row.genres.strip() or names):
            named_ids = [m for m in (match(n) for n in names) if m is not None]
            return {"text": row.text, "accepted": accepted, "accepted_id": accepted_id, "named_ids": named_ids}
    return None


# ---- the normalizer -----------------------------------------------------------------------------------

class RecordingClient(LlmClient):
    """The real client, keeping each raw answer (the ``raw rewrite`` variant)."""

    def __init__(self, settings: LlmSettings):
        super().__init__(settings)
        self.results = []

    async def complete_json(self, use, messages, schema, **kwargs):
        result = await super().complete_json(use, messages, schema, **kwargs)
        self.results.append(result)
        return result


async def normalize_all(texts: list[str], base_url: str, model: str, timeout_s: float) -> list[dict]:
    from gateway_service import taste_text

    client = RecordingClient(LlmSettings(base_url=base_url, model=model, timeouts_s={"taste": timeout_s}))
    services = SimpleNamespace(settings=SimpleNamespace(taste_normalizer=True), extras={"llm_client": client})
    out = []
    for i, text in enumerate(texts):
        before = len(client.results)
        taste = await taste_text.normalized(services, text)
        result = client.results[before] if len(client.results) > before else None
        raw = result.data["taste"] if result is not None and result.ok else None
        out.append({"source": taste.source, "served_text": taste.text, "raw_rewrite": raw,
                    "fallback": taste.fallback, "latency_s": round(result.latency_s, 3) if result else 0.0})
        print(f"[{i + 1}/{len(texts)}] {taste.source:8s} {out[-1]['latency_s']:6.2f}s  {text[:60]!r} → "
              f"{(raw or '')[:60]!r} {taste.fallback or ''}", flush=True)
    await client.close()
    return out


def start_local_server(model_key: str, root: Path):
    from movierec_core.devstack import spawn, wait_port_file
    from movierec_llm.model import ensure_model

    path = os.environ.get("LLM_MODEL_PATH") or str(ensure_model(model_key))
    port_file = root / "llm.port.json"
    env = {**os.environ, "LLM_MODEL_PATH": path, "LLM_PORT": "0", "MOVIEREC_PORT_FILE": str(port_file),
           "PYTHONUNBUFFERED": "1"}
    proc = spawn("llm", [sys.executable, "-m", "movierec_llm.server"], env, root / "logs")
    info = wait_port_file(port_file, proc, 300)
    return proc, info["base_url"], info["model"]


# ---- retrieval ------------------------------------------------------------------------------------------

def ranks(texts: list[str], items: list[dict], encoder, index) -> np.ndarray:
    """Rank (0 = first) of each case's accepted movie when its text is the query."""
    row_of = index.row_of()
    queries = encoder.encode(texts)
    scores = queries @ index.vectors.T
    out = []
    for row_scores, item in zip(scores, items, strict=True):
        row_scores = row_scores.copy()
        row_scores[[row_of[m] for m in item["named_ids"] if m in row_of and m != item["accepted_id"]]] = -np.inf
        out.append(int((row_scores > row_scores[row_of[item["accepted_id"]]]).sum()))
    return np.asarray(out)


def recall(rank: np.ndarray) -> dict:
    return {**{f"recall@{k}": round(float((rank < k).mean()), 4) for k in KS},
            "median_rank": int(np.median(rank)) + 1}


def rank_moves(base: np.ndarray, other: np.ndarray) -> dict:
    """Finer than Recall@K on few cases: how often the accepted movie moved up or down, with a two-sided
    sign test over the cases whose rank changed."""
    from scipy.stats import binomtest

    up, down = int((other < base).sum()), int((other > base).sum())
    p_value = binomtest(up, up + down).pvalue if up + down else 1.0
    return {"up": up, "down": down, "unchanged": int((other == base).sum()), "sign_test_p": round(float(p_value), 3)}


def paired(base: np.ndarray, other: np.ndarray, k: int, seed: int = 7) -> dict:
    diff = (other < k).astype(float) - (base < k).astype(float)
    rng = np.random.default_rng(seed)
    boots = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(BOOTSTRAP)]
    ci = [round(float(np.percentile(boots, q)), 4) for q in (2.5, 97.5)]
    return {"mean": round(float(diff.mean()), 4), "ci95": ci,
            "gained": int((diff > 0).sum()), "lost": int((diff < 0).sum())}


# ---- report ---------------------------------------------------------------------------------------------

def markdown(report: dict) -> str:
    n = report["cases"]
    lines = ["# Taste normalizer: retrieval with vs without the LLM rewrite", "",
             f"`{report['command']}` · model `{report['model']}` · {report['machine']} · load before/after "
             f"{report['load_before']} / {report['load_after']} · {report['seconds']:.0f} s", "",
             f"{n} INSPIRED seeker texts (first utterance naming a genre or a movie, in dialogues whose seeker "
             "accepted the recommendation); the accepted movie's rank over the whole index "
             f"({report['index_movies']} movies) when the text is embedded "
             "(protocol: bench/bench_taste_normalizer.py).",
             "", "| text embedded | Recall@10 | Recall@50 | Recall@100 | median rank |", "|---|---|---|---|---|"]
    for name in VARIANTS:
        r = report["results"][name]
        lines.append(f"| {name} | {r['recall@10']:.3f} | {r['recall@50']:.3f} | {r['recall@100']:.3f} | "
                     f"{r['median_rank']} |")
    lines += ["", "| paired vs original, Recall@50 | mean | 95% CI (bootstrap) | gained / lost |", "|---|---|---|---|"]
    for name in VARIANTS[1:]:
        p = report["paired_recall@50"][name]
        lines.append(f"| {name} | {p['mean']:+.3f} | [{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}] | "
                     f"{p['gained']} / {p['lost']} |")
    lines += ["", "| rank of the accepted movie vs original | moved up | moved down | unchanged | sign test p |",
              "|---|---|---|---|---|"]
    for name in VARIANTS[1:]:
        m = report["rank_moves_vs_original"][name]
        lines.append(f"| {name} | {m['up']} | {m['down']} | {m['unchanged']} | {m['sign_test_p']} |")
    t = report["normalizer"]
    lines += ["", f"Normalizer: rewrite used for {t['rewrite_used']} of {n}; kept the original because: "
              + (", ".join(f"{k} {v}" for k, v in t["fallbacks"].items()) or "never") + ". "
              f"LLM latency p50 {t['latency_s_p50']} s, p95 {t['latency_s_p95']} s; {t['slower_than_served_timeout']} "
              f"of {n} calls took longer than the served {t['served_timeout_s']:.0f} s timeout (those fall back in "
              "production).", "", "Examples:"]
    lines += [f"* “{e['text']}” → “{e['raw_rewrite']}” ({e['source']}{': ' + e['fallback'] if e['fallback'] else ''})"
              for e in report["examples"]]
    lines += ["", "## Decision", "", report["decision"]]
    return "\n".join(lines) + "\n"


def decide(report: dict) -> str:
    p = report["paired_recall@50"]["served"]
    if p["ci95"][0] > 0:
        return (f"The normalizer improves Recall@50 by {p['mean']:+.3f} (CI above zero): "
                "GATEWAY_TASTE_NORMALIZER defaults to true.")
    return (f"The normalizer does not improve Recall@50 ({p['mean']:+.3f}, 95% CI [{p['ci95'][0]:+.3f}, "
            f"{p['ci95'][1]:+.3f}]) and adds an LLM call (p50 {report['normalizer']['latency_s_p50']} s) before "
            "the embedding: GATEWAY_TASTE_NORMALIZER defaults to false.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=40)
    parser.add_argument("--model", default="0.5b", help="packaged local model started here (0.5b, 1.5b)")
    parser.add_argument("--base-url", help="an OpenAI-compatible server instead of starting the local one")
    parser.add_argument("--model-name", default="local", help="model name sent with --base-url")
    parser.add_argument("--timeout-s", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "taste-normalizer")
    args = parser.parse_args(argv)

    import tempfile

    from movierec_catalog import load_catalog
    from movierec_core.index_artifact import load_index_artifact
    from movierec_eval.encoder import QueryEncoder

    started, load_before = time.time(), os.getloadavg()
    catalog, index = load_catalog(), load_index_artifact()
    items = [c for c in cases(catalog, args.utterances) if c["accepted_id"] in index.row_of()]
    texts = [c["text"] for c in items]
    proc = None
    with tempfile.TemporaryDirectory(prefix="bench-taste-") as tmp:
        try:
            if args.base_url:
                base_url, model = args.base_url, args.model_name
            else:
                proc, base_url, model = start_local_server(args.model, Path(tmp))
            rewrites = asyncio.run(normalize_all(texts, base_url, model, args.timeout_s))
        finally:
            if proc is not None:
                proc.stop()
    encoder = QueryEncoder()
    variant_texts = {"original": texts, "served": [r["served_text"] for r in rewrites],
                     "raw rewrite": [r["raw_rewrite"] or t for r, t in zip(rewrites, texts, strict=True)]}
    rank = {name: ranks(t, items, encoder, index) for name, t in variant_texts.items()}
    latencies = np.array([r["latency_s"] for r in rewrites])
    served_timeout = DEFAULT_TIMEOUTS_S["taste"]
    fallbacks: dict[str, int] = {}
    for r in rewrites:
        if r["fallback"]:
            key = re.sub(r"\s*\[.*", "", r["fallback"].split(":")[0])  # "adds_genre", "timeout", "the rewrite lost …"
            fallbacks[key] = fallbacks.get(key, 0) + 1
    report = {
        "command": "python bench/bench_taste_normalizer.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": model, "base_url": base_url, "cases": len(items), "index_movies": len(index.row_of()),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, shared with other jobs",
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.time() - started, 1),
        "results": {name: recall(r) for name, r in rank.items()},
        "paired_recall@50": {name: paired(rank["original"], rank[name], 50) for name in VARIANTS[1:]},
        "rank_moves_vs_original": {name: rank_moves(rank["original"], rank[name]) for name in VARIANTS[1:]},
        "normalizer": {"rewrite_used": sum(r["source"] == "llm" for r in rewrites), "fallbacks": fallbacks,
                       "latency_s_p50": round(float(np.percentile(latencies, 50)), 2),
                       "latency_s_p95": round(float(np.percentile(latencies, 95)), 2),
                       "served_timeout_s": served_timeout,
                       "slower_than_served_timeout": int((latencies > served_timeout).sum())},
        "examples": [{"text": c["text"], **r} for c, r in zip(items, rewrites, strict=True)][:6],
        "per_case": [{"dialog": c["dialog"], "text": c["text"], "accepted": c["accepted"], **r,
                      **{f"rank_{name}": int(rank[name][i]) + 1 for name in VARIANTS}}
                     for i, (c, r) in enumerate(zip(items, rewrites, strict=True))],
    }
    report["decision"] = decide(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
