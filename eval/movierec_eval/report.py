"""reports/eval.json, reports/eval.md and the PNG plots, from the sections' results."""

from __future__ import annotations

import json
from pathlib import Path

ANCHORS_TOPN = {
    "LlamaRec (5-core, published)": (0.1524, 0.0759),
    "SASRec (published)": (0.0993, None),
    "ReelReason, OpenAI embeddings (published)": (0.164, None),
}
REFERENCE_RUNS = {"popularity": (0.041, 0.020), "ItemKNN": (0.077, 0.037), "ALS": (0.067, 0.034),
                  "EASE": (0.095, 0.046), "EASE (recency-weighted history)": (0.126, 0.071)}
TARGET = (0.17, 0.085)


def write_report(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plots = make_plots(report, out)
    (out / "eval.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (out / "eval.md").write_text(markdown(report, plots))


# ---- plots ------------------------------------------------------------------------------------

def make_plots(report: dict, out: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    topn = report["sections"].get("topn", {})
    variants = [v for v in ("5core", "full") if isinstance(topn.get(v), dict) and "systems" in topn[v]]
    if variants:
        fig, axes = plt.subplots(1, len(variants), figsize=(7 * len(variants), 5.5), squeeze=False)
        for ax, variant in zip(axes[0], variants, strict=True):
            systems = topn[variant]["systems"]
            names = [s["name"].replace("pipeline: ", "").replace(" (ours, collaborative signal)", " (ours)")
                     for s in systems]
            for offset, metric, color in ((-0.2, "hr@10", "#4477aa"), (0.2, "ndcg@10", "#ee6677")):
                means = [s["test"][metric]["mean"] for s in systems]
                low = [m - s["test"][metric]["ci95"][0] for m, s in zip(means, systems, strict=True)]
                high = [s["test"][metric]["ci95"][1] - m for m, s in zip(means, systems, strict=True)]
                ax.barh([i + offset for i in range(len(systems))], means, height=0.4, xerr=[low, high],
                        color=color, label=metric.upper())
            ax.axvline(TARGET[0], color="#4477aa", ls="--", lw=1, label="target HR@10 0.17")
            ax.axvline(TARGET[1], color="#ee6677", ls="--", lw=1, label="target NDCG@10 0.085")
            if variant == "5core":
                ax.axvline(0.1524, color="gray", ls=":", lw=1, label="LlamaRec HR@10 0.1524")
            ax.set_yticks(range(len(systems)), names, fontsize=8)
            ax.invert_yaxis()
            ax.set_title(f"ml-latest-small {variant}, leave-last-out test (95% CI)")
            ax.legend(fontsize=7, loc="upper right")
        fig.tight_layout()
        fig.savefig(out / "eval_topn.png", dpi=110)
        plt.close(fig)
        made.append("eval_topn.png")
        fig, axes = plt.subplots(1, len(variants), figsize=(6 * len(variants), 4.5), squeeze=False)
        for ax, variant in zip(axes[0], variants, strict=True):
            for name, curve in topn[variant].get("recall_curves", {}).items():
                ax.plot(range(1, len(curve) + 1), curve, label=name, lw=1.2)
            ax.set_xscale("log")
            ax.set_xlabel("K (candidates passed on)")
            ax.set_ylabel("Recall@K (test)")
            ax.set_title(f"candidate-stage ceiling, {variant}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "eval_recall.png", dpi=110)
        plt.close(fig)
        made.append("eval_recall.png")
    embedding = report["sections"].get("embedding", {})
    if embedding.get("models"):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for i, model in enumerate(embedding["models"]):
            rows = model["per_genre"]
            ax.bar([j + 0.8 * i / len(embedding["models"]) for j in range(len(rows))], [r["gap"] for r in rows],
                   width=0.8 / len(embedding["models"]), label=f"{model['model']} (mean {model['gap']})")
        ax.set_xticks(range(len(rows)), [r["genre"] for r in rows], rotation=60, fontsize=8)
        ax.set_ylabel("within − across genre cosine")
        ax.set_title("genre separation gap per genre")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "eval_genre_gap.png", dpi=110)
        plt.close(fig)
        made.append("eval_genre_gap.png")
    return made


# ---- markdown ---------------------------------------------------------------------------------

def _m(block: dict, metric: str) -> str:
    value = block.get(metric)
    if not value:
        return "—"
    return f"{value['mean']:.4f} [{value['ci95'][0]:.3f}, {value['ci95'][1]:.3f}]"


def _failed(section: dict) -> str | None:
    status = section.get("status") if isinstance(section, dict) else None
    return status if status and not status.startswith("ok") else None


def markdown(report: dict, plots: list[str]) -> str:
    s = report["sections"]
    lines = ["# movierec offline evaluation", "",
             f"Generated {report['created_at']} by `make eval` (`python -m movierec_eval`), seed {report['seed']}; "
             f"catalog `{report['catalog_version']}`, index `{report['index_version']}` "
             f"({report['embedding_model']}). Runtime per section (s): "
             + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()) + ".", ""]
    for title, key, writer in (("1. Top-N on ml-latest-small", "topn", _topn),
                               ("2. Rating prediction", "rating", _rating),
                               ("3. Embedding quality: genre separation gap", "embedding", _embedding),
                               ("4. Explanation faithfulness", "faithfulness", _faithfulness),
                               ("5. Conversational: INSPIRED", "conversational", _conversational),
                               ("6. Constraint suite", "constraints", _constraints)):
        lines += [f"## {title}", ""]
        section = s.get(key)
        if section is None:
            lines += ["Not run (section not selected).", ""]
        elif _failed(section):
            lines += [f"**Not measured:** {_failed(section)}", ""]
        else:
            lines += writer(section, plots)
    lines += ["## 7. Regression guard", "",
              "`tests/eval/test_quality_guard.py` (inside `make test`, about 30–60 s): on a fixed 150-user sample of "
              "the 5-core test split the hybrid pipeline must beat popularity by ≥ 0.05 HR@10 and reach NDCG@10 ≥ "
              "0.05; the real Ranker must return 10 picks per user and every factor of them must be grounded; at "
              "least 1,500 injected false claims must all be dropped by the verifier; the 46-request constraint suite "
              "must have 0 violations; the independent faithfulness checker must reject false factors. "
              "`tests/eval/test_harness.py` checks the harness's arithmetic (tie rule, ranks, EASE solvers, "
              "SeqEASE through the ranker protocol).", ""]
    return "\n".join(lines) + "\n"


def _topn(section: dict, plots: list[str]) -> list[str]:
    protocol = section["protocol"]
    lines = ["Protocol: " + "; ".join(f"**{k}**: {v}" for k, v in protocol.items()) + ".", ""]
    for variant in ("5core", "full"):
        block = section.get(variant)
        if not block:
            continue
        split = block["split"]
        lines += [f"### {variant}: {split['users']} users, {split['items']} items, {split['ratings']} ratings "
                  f"(validation and test share a timestamp for {split['validation_test_same_timestamp']:.1%} of users; "
                  f"{split['tie_rule']}); {block['seconds']} s", "",
                  "| system | HR@10 test [95% CI] | NDCG@10 test [95% CI] | Recall@20 | Recall@50 | Recall@100 | "
                  "Recall@200 | candidates' recall | chosen on validation | reference run (HR/NDCG) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for system in block["systems"]:
            test = system["test"]
            ref = REFERENCE_RUNS.get(system["name"]) if variant == "5core" else None
            recall = system.get("candidate_recall", {}).get("test")
            lines.append(f"| {system['name']} | {_m(test, 'hr@10')} | {_m(test, 'ndcg@10')} | "
                         + " | ".join(f"{test[k]['mean']:.3f}" if k in test else "—"
                                      for k in ("recall@20", "recall@50", "recall@100", "recall@200"))
                         + f" | {recall if recall is not None else '—'} | {system['chosen'] or '—'} | "
                         f"{f'{ref[0]} / {ref[1]}' if ref else '—'} |")
        if variant == "5core":
            lines.append("| *LlamaRec (published, 5-core)* | 0.1524 | 0.0759 | | | | | | | |")
            lines.append("| *SASRec (published)* | 0.0993 | | | | | | | | |")
            lines.append("| *ReelReason, OpenAI embeddings (published)* | 0.164 | | | | | | | | |")
            lines.append("| ***target*** | **0.17** | **0.085** | | | | | | | |")
        lines += ["", "Paired comparisons on test (ours − best baseline):", "",
                  "| system | vs | metric | mean diff | 95% CI | p | wins / losses |", "|---|---|---|---|---|---|---|"]
        for c in block["comparisons"]:
            lines.append(f"| {c['system']} | {c['versus']} | {c['metric']} | {c['mean_diff']:+.4f} | "
                         f"[{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}] | {c['p_value']} | {c['wins']} / {c['losses']} |")
        real = block.get("real_ranker")
        if real:
            lines += ["", f"Real ranker check ({real['protocol']}): a = {real['alpha']}, {real['users']} users, "
                      f"{real['ms_per_rank_call']} ms per Rank call; top-10 identical to the vectorized computation "
                      f"for {real['top10_same_as_vectorized']:.1%} of users; "
                      f"HR@10 {_m(real['mmr_lambda_1.0'], 'hr@10')}, "
                      f"NDCG@10 {_m(real['mmr_lambda_1.0'], 'ndcg@10')} with MMR λ = 1"
                      + "".join(f"; with the service's MMR {k.replace('mmr_lambda_', 'λ = ')}: HR@10 {_m(v, 'hr@10')}, "
                                f"NDCG@10 {_m(v, 'ndcg@10')} (the price of diversity)"
                                for k, v in real.items() if k.startswith("mmr_lambda_") and k != "mmr_lambda_1.0")
                      + "."]
        lines.append("")
    lines += [f"![top-N]({p})" for p in plots if p in ("eval_topn.png", "eval_recall.png")]
    lines += ["", _ADOPT, ""]
    return lines


_ADOPT = """### What the ranker serves (adopted from this evaluation)

1. **ŷ for top-N = SeqEASE** (`services/ranker/ranker_service/sequence_model.py`, trained by `make train`):
   EASE fitted on windows of 10 consecutive ratings (stride 5), items with ≥ 2 ratings; at request time
   the person's ratings oldest first (the gateway sends them with `rated_at`) weighted 0.7^(steps before
   the latest), times the EASE weights, divided by the person's maximum over unrated movies. The rating
   predictor stays ŷ for *rating* prediction (section 2) and for users with no ratings.
2. **Hybrid candidates**: the ranker adds SeqEASE's top-100 unrated movies that pass the request's
   constraints to retrieval's candidates (`RANKER_HYBRID_CANDIDATES`, `RANKER_COLLAB_CANDIDATES`); with
   content-only candidates the pipeline is capped by content Recall@200 (see the tables).
3. **Blend weight a** chosen on validation (`reports/ranker-alpha.json`). MMR λ = 1 is the accuracy-first
   setting measured in the headline rows; the service default λ = 0.7 trades some HR@10 for less similar
   picks (the real-ranker line shows its cost).

Explored on validation and not adopted (selection rule: validation NDCG@10): a transition component
(SLIT-style, EASE from the preceding ≤ 5 ratings to the next one, mixed 50/50 with SeqEASE) raised
validation HR@10 by 0.01 but lowered validation NDCG@10 by 0.002; session splits by time gap and
windows of 5, 20 or 50 ratings were below windows of 10; time-decayed (half-life) input weights were
below position-decayed ones (many ratings share a timestamp, the order within a session carries the signal)."""


def _rating(section: dict, plots: list[str]) -> list[str]:
    lines = [f"Protocol: {section['protocol']}", "", "| model | RMSE | MAE | fit s |", "|---|---|---|---|"]
    for name, m in section["models"].items():
        lines.append(f"| {name} | {m['rmse']} | {m['mae']} | {m.get('fit_seconds', '—')} |")
    lines += ["| *IJRASET ALS (published)* | 0.8723 | | |", "| *reference: user+item biases* | 0.8635 | | |",
              "| *reference: biased MF* | 0.8477 | | |", "| ***target*** | **≤ 0.84** | | |", ""]
    if isinstance(section.get("reports_train_json"), dict):
        lines += ["`reports/train.json` (the training job's own evaluation) is included in eval.json.", ""]
    return lines


def _embedding(section: dict, plots: list[str]) -> list[str]:
    lines = [f"Protocol: {section['models'][0]['protocol']}.", "",
             "| model | movies | within | across | gap | gap with shuffled labels |", "|---|---|---|---|---|---|"]
    for m in section["models"]:
        lines.append(f"| {m['model']} ({m['backend']}, index `{m['index_version']}`) | {m['movies']} | {m['within']} | "
                     f"{m['across']} | **{m['gap']}** | {m['shuffled_labels_gap']} |")
    lines += ["", f"Adding a model: {section['how_to_add_a_model']}.", ""]
    lines += [f"![genre gap]({p})" for p in plots if p == "eval_genre_gap.png"]
    return [*lines, ""]


def _faithfulness(section: dict, plots: list[str]) -> list[str]:
    if "factors" not in section:
        return [section.get("status", "not measured"), ""]
    lines = [f"Protocol: {section['protocol']}", "", f"Sources: {section['sources']}.", "",
             f"- recommendations checked: **{section['recommendations']}** "
             f"({section['with_query']} with a request text)",
             f"- factors returned: **{section['factors']}**, grounded by both checkers: **{section['grounded']}** "
             f"(**{section['grounded_share']:.2%}**; target 100%; ReelReason: ~8% unsupported)",
             f"- factor kinds: {section['factor_kinds']}",
             f"- explanation-text problems: **{len(section['explanation_text_failures'])}**",
             f"- factors the explainer proposed: {section['proposed_factors']}, dropped by the verifier before "
             f"answering: {section['proposed_dropped_by_verifier']} ({section['proposed_dropped_share']:.2%})"]
    injected = section.get("injected_false_claims")
    if injected:
        lines.append(f"- false claims injected into the verifier (what an unreliable LLM might say; each confirmed "
                     f"false by the independent checker) for {injected['picks']} sampled picks: "
                     f"**{injected['injected']}** {injected['by_kind']}, surviving the verifier: "
                     f"**{injected['survived_verifier']}** (target 0)")
    lines += ["", "The LLM ranking path is not measured here (no LLM server in the evaluation); its claims go "
              "through the same verifier, which the injection test above exercises.", ""]
    survivors = (injected or {}).get("survivors", [])
    if section["failures"] or section["explanation_text_failures"] or survivors:
        lines += ["Every failure:", ""]
        lines += [f"- {json.dumps(f, ensure_ascii=False)}" for f in section["failures"]]
        lines += [f"- {json.dumps(f, ensure_ascii=False)}" for f in section["explanation_text_failures"]]
        lines += [f"- injected claim survived: {json.dumps(f, ensure_ascii=False)}" for f in survivors]
    else:
        lines.append("No failure.")
    return [*lines, ""]


def _conversational(section: dict, plots: list[str]) -> list[str]:
    lines = [f"Protocol: {section['protocol']}", ""]
    for split in ("dev", "test"):
        block = section[split]
        lines += [f"**{split}**: {block['dialogues']} dialogues, {block['utterances']} utterances; "
                  "the recommended movie "
                  f"is in the catalog for {block['recommended_movie_in_catalog']} of "
                  f"{block['dialogues_with_a_recommended_movie']} dialogues "
                  f"({block['recommended_movie_in_catalog_share']:.1%}); recommender mentions in the catalog: "
                  f"{block['mentions_in_catalog']} of {block['recommender_movie_mentions']} "
                  f"({block['mentions_in_catalog_share']:.1%}).", "",
                  "| query | targets | Recall@1 | Recall@10 | Recall@50 | median rank |", "|---|---|---|---|---|---|"]
        for name, results in block["results"].items():
            for kind in ("new_mentions", "all_mentions"):
                r = results[kind]
                lines.append(f"| {name}, {kind.replace('_', ' ')} | {r['targets']} | {r['recall@1']} | "
                             f"{r['recall@10']} | {r['recall@50']} | {r['median_rank']} |")
        lines.append("")
    return lines


def _constraints(section: dict, plots: list[str]) -> list[str]:
    lines = [f"Protocol: {section['protocol']}", "",
             f"**{section['requests']} requests, {section['picks']} picks, {section['violations']} violations** "
             f"(target 0; {section['requests_with_violations']} requests with a violation, "
             f"{section['requests_without_picks']} without any pick); ranker `{section['ranker']}`.", "",
             "| # | user | request | expected | parsed | picks (violations) |", "|---|---|---|---|---|---|"]
    for row in section["detail"]:
        picks = "; ".join(f"{p['title']} ({p['year']}, {p['runtime_min'] or '?'} min, {p['certification'] or '?'})"
                          + (f" **{', '.join(p['violations'])}**" if p["violations"] else "") for p in row["picks"])
        lines.append(f"| {row['n']} | {row['user']} | {row['message']} | {row['expected']} | "
                     f"{'; '.join(row['parsed']) or '—'} | {picks or '(none)'} |")
    return [*lines, ""]
