"""``make eval-llm`` → reports/llm.{json,md}: every LLM use measured on a real model, against the no-LLM path.

``python -m movierec_eval.llm_eval [--users 100] [--explain-users 20] [--model 0.5b|1.5b] [--base-url URL]``

* **rerank** — a fixed sample of users (seeded) of the 5-core leave-last-out split (the split, the taste
  vectors and the served numeric pipeline of ``movierec_eval.served``: a ``RankRequest`` as the gateway
  builds it, parsed by the servicer, answered by ``ranker_service.pipeline.Ranker``). Each user is ranked
  twice on the same request: numeric (no LLM) and with the LLM reranking the numeric top-20 into the
  top-10 (``RANKER_LLM_MAX_CANDIDATES`` = 20). HR@10 / NDCG@10 of the test item, paired per user.
* **explain** — for the first ``--explain-users`` users, the LLM writes one sentence per top-5 pick from
  its verified factors; the share of sentences whose every fact verifies (ranker_service.prose_check) is
  reported *before* the ranker's filter (the filter then shows only those).
* **taste** — the taste normalizer on the first seeker utterance of INSPIRED dialogues: validity,
  faithfulness (negations kept) and latency.

Per use: latency p50/p95, JSON validity (the reply parsed and matched the schema), fallback rate (any
failure: timeout, invalid, …). Raw replies of the first calls are kept in the JSON (``samples``) and
``--fixtures PATH`` writes them as the recorded real outputs the validators' tests use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from pathlib import Path

import numpy as np

from movierec_core.paths import REPO_ROOT, data_dir
from movierec_eval import metrics
from movierec_llm import LlmClient, LlmResult, LlmSettings
from movierec_llm.prompts import explain as explain_prompt
from movierec_llm.prompts import rerank as rerank_prompt
from movierec_llm.prompts import taste as taste_prompt

log = logging.getLogger("movierec.eval.llm")
RERANK_POOL = 20
EXPLAIN_TOP = 5
INVALID = {"invalid_json", "invalid_output", "truncated", "refusal"}


class RecordingClient(LlmClient):
    """The real client, keeping every call (use, messages, schema, result) for the report and fixtures."""

    def __init__(self, settings: LlmSettings):
        super().__init__(settings)
        self.calls: list[tuple[str, list[dict], dict, LlmResult]] = []

    async def complete_json(self, use, messages, schema, **kwargs) -> LlmResult:
        result = await super().complete_json(use, messages, schema, **kwargs)
        self.calls.append((use, messages, schema, result))
        return result


def use_summary(results: list[LlmResult]) -> dict:
    latencies = np.array([r.latency_s for r in results]) if results else np.zeros(0)
    answered = [r for r in results if r.error not in ("timeout", "deadline", "connection_error", "http_error")]
    return {"calls": len(results),
            "latency_s_p50": round(float(np.percentile(latencies, 50)), 2) if len(latencies) else None,
            "latency_s_p95": round(float(np.percentile(latencies, 95)), 2) if len(latencies) else None,
            "json_validity": round(sum(r.error not in INVALID for r in answered) / max(1, len(answered)), 3),
            "fallback_rate": round(sum(not r.ok for r in results) / max(1, len(results)), 3),
            "errors": sorted({r.error for r in results if r.error})}


# ---- rerank + explain on the 5-core split -----------------------------------------------------------

def served_setup(seed: int):
    """The 5-core split, taste vectors, store and the served numeric runner (as section 1 of make eval)."""
    from movierec_catalog import load_catalog, load_ratings
    from movierec_core.index_artifact import load_index_artifact
    from movierec_eval import served, topn
    from profile_service.settings import TasteConstants
    from profile_service.vectors import MovieVectors, cold_start_vector, popular_movie_ids

    catalog, index = load_catalog(), load_index_artifact()
    movies = MovieVectors.from_artifact(index)
    cold_start = cold_start_vector(movies, popular_movie_ids(catalog.path, movies, 200))
    ctx, tastes = topn.variant_context(load_ratings(), "5core", index, TasteConstants.from_env(), cold_start, seed)
    config = served.live_config()
    store, params = served.served_parts()
    runner = served.ServedRunner(ctx, store, params, served.fit_sequence(ctx.split, config), tastes)
    return ctx, runner, config, store


def sample_users(n_users: int, count: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n_users, size=min(count, n_users), replace=False))


async def rank_pairs(runner, config, client: RecordingClient, users: np.ndarray, explain_users: int,
                     timeout_s: float, budget_s: float) -> dict:
    from ranker_service.llm import LlmBackend
    from ranker_service.pipeline import Ranker
    from ranker_service.prose_check import unsupported_facts
    from ranker_service.servicer import parse_rank_request
    from ranker_service.settings import LlmSettings as RankerLlmSettings

    numeric = runner.ranker(config)
    backend = LlmBackend(RankerLlmSettings(connection=client.settings, max_candidates=RERANK_POOL), client)
    reranker = Ranker(numeric.store, numeric.scorer, numeric.mmr_lambda, backend, RERANK_POOL,
                      numeric.collab_candidates)
    item_ids = runner.ctx.split.universe.item_ids
    lists = {"numeric": [], "llm": []}
    rankers, degraded, sentences = [], [], []
    started_all = time.perf_counter()
    for n, user in enumerate(users):
        if time.perf_counter() - started_all > budget_s:
            log.warning("time budget spent after %d of %d users: reporting those", n, len(users))
            users = users[:n]
            break
        request = parse_rank_request(runner.request(int(user), "test", config), numeric, 10_000)
        base = await numeric.rank(request)
        started = time.perf_counter()
        out = await reranker.rank(request)
        lists["numeric"].append(np.array([p.movie_id for p in base.picks], dtype=np.int64))
        lists["llm"].append(np.array([p.movie_id for p in out.picks], dtype=np.int64))
        rankers.append(out.ranker)
        degraded.append(out.degraded_reason)
        if n < explain_users:
            picks = out.picks[:EXPLAIN_TOP]
            items = [(numeric.store.get(p.movie_id), p.factors) for p in picks]
            texts = await backend.explain(items, numeric.store, timeout_s)
            for pick, (movie, claims) in zip(picks, items, strict=True):
                if pick.movie_id in texts:
                    problems = unsupported_facts(texts[pick.movie_id], movie, claims, numeric.store)
                    sentences.append({"movie_id": pick.movie_id, "text": texts[pick.movie_id], "problems": problems})
        log.info("user %d/%d: %s %.1fs %s", n + 1, len(users), out.ranker, time.perf_counter() - started,
                 out.degraded_reason)
    targets = item_ids[runner.ctx.split.targets("test")[users]]
    ranks = {name: metrics.ranks_from_lists(value, targets) for name, value in lists.items()}
    return {"ranks": ranks, "rankers": rankers, "degraded": degraded, "sentences": sentences,
            "same_top10_share": round(float(np.mean([set(a) == set(b) for a, b in zip(
                lists["numeric"], lists["llm"], strict=True)])), 3)}


def rerank_report(pairs: dict, seed: int) -> dict:
    numeric, llm = pairs["ranks"]["numeric"], pairs["ranks"]["llm"]
    return {"users": len(numeric),
            "numeric": metrics.summarize(numeric, seed, ("hr@10", "ndcg@10")),
            "llm": metrics.summarize(llm, seed, ("hr@10", "ndcg@10")),
            "paired_llm_minus_numeric": {m: metrics.paired(llm, numeric, seed, m) for m in ("hr@10", "ndcg@10")},
            "llm_ordered_share": round(sum(r.startswith("llm:") for r in pairs["rankers"]) / max(1, len(numeric)), 3),
            "fallback_reasons": sorted({d.split(":")[0] for d in pairs["degraded"] if d}),
            "same_top10_set_share": pairs["same_top10_share"]}


def explain_report(sentences: list[dict]) -> dict:
    verified = [s for s in sentences if not s["problems"]]
    return {"sentences": len(sentences),
            "every_fact_verifies_share": round(len(verified) / max(1, len(sentences)), 3),
            "examples_verified": [s["text"] for s in verified[:3]],
            "examples_rejected": [{"text": s["text"], "problems": s["problems"]} for s in sentences
                                  if s["problems"]][:3]}


# ---- taste normalizer on INSPIRED utterances ---------------------------------------------------------

def inspired_texts(count: int) -> list[str]:
    import pandas as pd

    path = data_dir() / "inspired" / "test.tsv"
    frame = pd.read_csv(path, sep="\t", usecols=["dialog_id", "speaker", "text"])
    seekers = frame[(frame.speaker == "SEEKER") & (frame.text.str.split().str.len() >= 6)]
    return seekers.groupby("dialog_id", sort=True).text.first().head(count).tolist()


async def taste_runs(client: RecordingClient, texts: list[str], timeout_s: float) -> dict:
    from movierec_llm.taste import normalize_taste

    rewrites = [await normalize_taste(client, text, timeout_s=timeout_s) for text in texts]
    return {"texts": len(texts), "rewritten_share": round(sum(r.source == "llm" for r in rewrites) / max(1, len(texts)), 3),  # noqa: E501
            "kept_reasons": sorted({r.reason.split(":")[0] for r in rewrites if r.source != "llm"}),
            "examples": [{"in": t, "out": r.text} for t, r in zip(texts, rewrites, strict=True)][:3]}


# ---- report -------------------------------------------------------------------------------------------

def markdown(report: dict) -> str:
    lines = ["# LLM uses on a real model (`make eval-llm`)", "",
             f"Model `{report['model']}` at `{report['base_url']}` · {report['machine']} · "
             f"command: `{report['command']}` · {report['seconds']:.0f} s", "",
             "| use | calls | latency p50 / p95 (s) | JSON validity | fallback rate |", "|---|---|---|---|---|"]
    for use, s in report["uses"].items():
        lines.append(f"| {use} | {s['calls']} | {s['latency_s_p50']} / {s['latency_s_p95']} | "
                     f"{s['json_validity']:.1%} | {s['fallback_rate']:.1%} |")
    r = report["rerank"]
    p = r["paired_llm_minus_numeric"]
    lines += ["", f"## Rerank quality: numeric top-20 → LLM top-10, {r['users']} users of the 5-core split (test item)",
              "", f"Sampled {report['users_sampled']} users (seed {report['seed']}); ranked the first {r['users']} "
              f"within the {report['budget_minutes']:.0f}-minute budget.",
              "", "| order | HR@10 | NDCG@10 |", "|---|---|---|",
              f"| numeric (served, no LLM) | {_ci(r['numeric']['hr@10'])} | {_ci(r['numeric']['ndcg@10'])} |",
              f"| LLM rerank | {_ci(r['llm']['hr@10'])} | {_ci(r['llm']['ndcg@10'])} |",
              f"| paired LLM − numeric | {_diff(p['hr@10'])} | {_diff(p['ndcg@10'])} |", "",
              f"The LLM ordered the picks for {r['llm_ordered_share']:.0%} of users (others fell back: "
              f"{', '.join(r['fallback_reasons']) or 'none'}); same top-10 set as numeric for "
              f"{r['same_top10_set_share']:.0%}."]
    e = report["explain"]
    lines += ["", "## Explanation prose from verified factors", "",
              f"{e['sentences']} LLM sentences; every fact verifies in **{e['every_fact_verifies_share']:.1%}** "
              "(ranker_service/prose_check.py, before the ranker's filter; the ranker shows only those)."]
    lines += [f"* verified: “{t}”" for t in e["examples_verified"]]
    lines += [f"* rejected: “{x['text']}” — {', '.join(x['problems'])}" for x in e["examples_rejected"]]
    t = report["taste"]
    lines += ["", "## Taste normalizer (first seeker utterance of INSPIRED test dialogues)", "",
              f"{t['texts']} texts; rewrite used for {t['rewritten_share']:.0%} (kept the original: "
              f"{', '.join(t['kept_reasons']) or 'never'})."]
    lines += [f"* “{x['in']}” → “{x['out']}”" for x in t["examples"]]
    lines += ["", "## Decision", "", report["decision"], ""]
    return "\n".join(lines)


def _ci(summary: dict) -> str:
    return f"{summary['mean']:.3f} [{summary['ci95'][0]:.3f}, {summary['ci95'][1]:.3f}]"


def _diff(paired: dict) -> str:
    return f"{paired['mean_diff']:+.3f} [{paired['ci95'][0]:+.3f}, {paired['ci95'][1]:+.3f}], p = {paired['p_value']:.3f}"  # noqa: E501


def decide(rerank: dict) -> str:
    diff = rerank["paired_llm_minus_numeric"]["ndcg@10"]
    if diff["ci95"][0] > 0:
        return ("LLM rerank improves NDCG@10 significantly: serve it on (RANKER_LLM_RERANK=true when an LLM is "
                "configured).")
    return (f"LLM rerank does not beat the numeric order (NDCG@10 {diff['mean_diff']:+.3f}, 95% CI "
            f"[{diff['ci95'][0]:+.3f}, {diff['ci95'][1]:+.3f}]) and costs seconds per request: the served default "
            "is RANKER_LLM_RERANK=false; the LLM stays on for the uses where no numeric path exists.")


def write_fixtures(path: Path, client: RecordingClient, per_use: int = 4) -> None:
    records, counts = [], {}
    for use, messages, schema, result in client.calls:
        if counts.get(use, 0) >= per_use:
            continue
        counts[use] = counts.get(use, 0) + 1
        records.append({"use": use, "model": result.model, "messages": messages, "schema": schema,
                        "content": result.content, "error": result.error, "latency_s": round(result.latency_s, 2)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"prompt_versions": {"rerank": rerank_prompt.VERSION, "explain": explain_prompt.VERSION,
                                                    "taste": taste_prompt.VERSION}, "records": records},
                               indent=1, ensure_ascii=False) + "\n")


async def evaluate(args, client: RecordingClient) -> dict:
    started = time.perf_counter()
    ctx, runner, config, _store = served_setup(args.seed)
    users = sample_users(ctx.split.universe.n_users, args.users, args.seed)
    taste = await taste_runs(client, inspired_texts(args.taste_texts), args.timeout_s)
    pairs = await rank_pairs(runner, config, client, users, args.explain_users, args.timeout_s,
                             args.budget_minutes * 60 - (time.perf_counter() - started))
    by_use: dict[str, list[LlmResult]] = {}
    for use, _m, _s, result in client.calls:
        by_use.setdefault(use, []).append(result)
    rerank = rerank_report(pairs, args.seed)
    import os
    import platform

    return {"model": client.model, "base_url": client.settings.base_url, "seed": args.seed,
            "users_sampled": len(users), "budget_minutes": args.budget_minutes,
            "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, shared with other jobs",
            "command": " ".join(["python -m movierec_eval.llm_eval", *args.argv]),
            "seconds": time.perf_counter() - started,
            "uses": {use: use_summary(results) for use, results in sorted(by_use.items())},
            "rerank": rerank, "explain": explain_report(pairs["sentences"]), "taste": taste,
            "decision": decide(rerank)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--explain-users", type=int, default=20)
    parser.add_argument("--taste-texts", type=int, default=20)
    parser.add_argument("--model", choices=("0.5b", "1.5b"), default="0.5b", help="the local model to start")
    parser.add_argument("--base-url", help="use this OpenAI-compatible server instead of starting one")
    parser.add_argument("--model-name", default="local", help="model name with --base-url")
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--budget-minutes", type=float, default=240.0,
                        help="stop adding users after this long (the report says how many were ranked)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "llm")
    parser.add_argument("--fixtures", type=Path, help="write the first raw replies here (recorded fixtures)")
    args = parser.parse_args(argv)
    args.argv = argv if argv is not None else __import__("sys").argv[1:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = None
    if args.base_url:
        base_url, model = args.base_url, args.model_name
    else:
        from movierec_llm.model import ensure_model, model_alias
        from movierec_llm.server import LocalLlmServer

        path = ensure_model(args.model)
        server = LocalLlmServer(path, alias=model_alias(path))
        base_url, model = server.base_url, server.alias
    timeouts = dict.fromkeys(("rerank", "explain", "taste"), args.timeout_s)
    client = RecordingClient(LlmSettings(base_url=base_url, model=model, timeouts_s=timeouts))
    try:
        report = asyncio.run(evaluate(args, client))
    finally:
        if args.fixtures:
            write_fixtures(args.fixtures, client)
        if server is not None:
            server.close()
    suffix = "" if args.model == "0.5b" or args.base_url else f"-{args.model}"
    # names are built by appending: with_suffix would turn "llm-1.5b" into "llm-1.md"
    stem = args.out.name + suffix
    (args.out.parent / f"{stem}.json").write_text(json.dumps(report, indent=2, default=float) + "\n")
    (args.out.parent / f"{stem}.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
