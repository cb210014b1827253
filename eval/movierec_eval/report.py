"""reports/eval.json, reports/eval.md and the PNG plots, from the sections' results."""

from __future__ import annotations

import json
from pathlib import Path

ANCHORS_TOPN = {  # published figures, shown beside ours (not measured here)
    "LlamaRec (5-core, published)": (0.1524, 0.0759),
    "SASRec (published)": (0.0993, None),
    "ReelReason, OpenAI embeddings (published)": (0.164, None),
}


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
            target = topn[variant].get("served", {}).get("target")
            if target:
                ax.axvline(target["hr@10"], color="#4477aa", ls="--", lw=1, label=f"target HR@10 {target['hr@10']}")
                ax.axvline(target["ndcg@10"], color="#ee6677", ls="--", lw=1,
                           label=f"target NDCG@10 {target['ndcg@10']}")
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
              "`tests/eval/test_quality_guard.py` (inside `make test`, < 60 s): the served configuration on a fixed "
              "5-core user subset must keep ≥ 90% of the HR@10 recorded in `tests/eval/served_guard.json` (a 10% "
              "relative drop fails) and beat popularity; its factors must be grounded in the catalog and in the "
              "raw files; near-miss plants must all be caught; the constraint suite must have 0 final violations. "
              "`tests/eval/test_harness.py` checks the harness's arithmetic.", ""]
    return "\n".join(lines) + "\n"


def _topn(section: dict, plots: list[str]) -> list[str]:
    protocol = section["protocol"]
    lines = ["Protocol: " + "; ".join(f"**{k}**: {v}" for k, v in protocol.items()) + ".", ""]
    lines += _served_headline(section)
    for variant in ("5core", "full"):
        block = section.get(variant)
        if not block:
            continue
        lines += _served_detail(variant, block)
        split = block["split"]
        lines += [f"### {variant}: every system (ablations and baselines) — {split['users']} users, {split['items']} "
                  f"items, {split['ratings']} ratings (validation and test share a timestamp for "
                  f"{split['validation_test_same_timestamp']:.1%} of users; {split['tie_rule']}); {block['seconds']} s",
                  "",
                  "| system | HR@10 test [95% CI] | NDCG@10 test [95% CI] | Recall@20 | Recall@50 | Recall@100 | "
                  "Recall@200 | candidates' recall | chosen on validation |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for system in block["systems"]:
            test = system["test"]
            recall = system.get("candidate_recall", {}).get("test")
            lines.append(f"| {system['name']} | {_m(test, 'hr@10')} | {_m(test, 'ndcg@10')} | "
                         + " | ".join(f"{test[k]['mean']:.3f}" if k in test else "—"
                                      for k in ("recall@20", "recall@50", "recall@100", "recall@200"))
                         + f" | {recall if recall is not None else '—'} | {system['chosen'] or '—'} |")
        if variant == "5core":
            for name, (hr, ndcg) in ANCHORS_TOPN.items():
                lines.append(f"| *{name}* | {hr} | {ndcg or ''} | | | | | | |")
        lines += ["", "Paired comparisons on test (system − best baseline):", "",
                  "| system | vs | metric | mean diff | 95% CI | p | wins / losses |", "|---|---|---|---|---|---|---|"]
        for c in block["comparisons"]:
            lines.append(_paired_row(c["system"], c["versus"], c))
        lines.append("")
    lines += [f"![top-N]({p})" for p in plots if p in ("eval_topn.png", "eval_recall.png")]
    return [*lines, ""]


def _paired_row(system: str, versus: str, c: dict) -> str:
    return (f"| {system} | {versus} | {c['metric']} | {c['mean_diff']:+.4f} | [{c['ci95'][0]:+.4f}, "
            f"{c['ci95'][1]:+.4f}] | {c['p_value']} | {c['wins']} / {c['losses']} |")


def _served_headline(section: dict) -> list[str]:
    config = section.get("served_config")
    rows = [(v, section[v]["served"]) for v in ("5core", "full") if "served" in section.get(v, {})]
    if not config or not rows:
        return []
    lines = ["### Headline: the served configuration", "",
             f"What the product serves for the Top-picks carousel, read from the live configuration (not chosen "
             f"here): a = {config['alpha']}, MMR λ = {config['mmr_lambda']}, {config['retrieval_k']} retrieval "
             f"candidates (`GATEWAY_CANDIDATES`) + up to {config['collab_candidates']} SeqEASE candidates, "
             f"`candidates_only = {str(config['candidates_only']).lower()}`, SeqEASE {config['sequence_params']}, "
             f"popularity prior β = {config.get('popularity_prior', 0.0)} (β/(1 + the person's known movies): "
             f"it fades as they rate), quality prior γ = {config.get('quality_prior', 0.0)}; "
             "ranked through the ranker's request path (`movierec_eval/served.py`).", "",
             "| split | HR@10 test [95% CI] | NDCG@10 test [95% CI] | target | met | vs best baseline: ΔHR@10 "
             "[95% CI] | ΔNDCG@10 [95% CI] | diversity@10 | cos. alignment@5 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for variant, served in rows:
        vs = served["versus_best_baseline"]
        quality = served["list_quality"]
        target = served["target"]
        lines.append(f"| {variant} | {_m(served['test'], 'hr@10')} | {_m(served['test'], 'ndcg@10')} | "
                     f"{target['hr@10']} / {target['ndcg@10']} | {'yes' if served['meets_target'] else '**no**'} | "
                     f"{_diff(vs['hr@10'])} | {_diff(vs['ndcg@10'])} ({vs['baseline']}) | "
                     f"{quality['intra_list_diversity@10']} | {quality['cosine_alignment@5']} |")
    return [*lines, ""]


def _diff(c: dict) -> str:
    return f"{c['mean_diff']:+.4f} [{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}], p {c['p_value']}"


def _served_detail(variant: str, block: dict) -> list[str]:
    served = block.get("served")
    if not served:
        return []
    untied, random_ties = served["without_ties"], served["random_tie_order"]
    lines = [f"### {variant}: the served configuration in detail", "",
             f"Validation (the selection data): HR@10 {_m(served['validation'], 'hr@10')}, NDCG@10 "
             f"{_m(served['validation'], 'ndcg@10')}; {served['test']['ms_per_rank_call']} ms per Rank call; "
             f"rankers used: {', '.join(served['test']['rankers'])}.", "",
             "| configuration (test) | HR@10 [95% CI] | NDCG@10 [95% CI] | ΔHR@10 vs served | ΔNDCG@10 vs served |",
             "|---|---|---|---|---|",
             f"| **served** | {_m(served['test'], 'hr@10')} | {_m(served['test'], 'ndcg@10')} | | |"]
    for ablation in served["ablations"]:
        lines.append(f"| {ablation['name']} | {_m(ablation['test'], 'hr@10')} | {_m(ablation['test'], 'ndcg@10')} | "
                     f"{_diff(ablation['versus_served']['hr@10'])} | {_diff(ablation['versus_served']['ndcg@10'])} |")
    lines += ["", "Protocol sensitivity (served vs the best baseline, "
              f"{served['versus_best_baseline']['baseline']}):", "",
              "| users / split | served HR@10 | served NDCG@10 | baseline HR@10 | baseline NDCG@10 | ΔHR@10 "
              "| ΔNDCG@10 |",
              "|---|---|---|---|---|---|---|"]
    for label, row in ((f"all {served['test']['users']} users", {
            "served": served["test"], "baseline": served["versus_best_baseline"]["baseline_test"],
            **{m: served["versus_best_baseline"][m] for m in ("hr@10", "ndcg@10")}}),
            (f"{untied['users']} users without a validation/test timestamp tie", untied),
            (f"ties in random order ({random_ties['tie_rule']})", random_ties)):
        lines.append(f"| {label} | {_m(row['served'], 'hr@10')} | {_m(row['served'], 'ndcg@10')} | "
                     f"{_m(row['baseline'], 'hr@10')} | {_m(row['baseline'], 'ndcg@10')} | {_diff(row['hr@10'])} | "
                     f"{_diff(row['ndcg@10'])} |")
    return [*lines, ""]


def _rating(section: dict, plots: list[str]) -> list[str]:
    from movierec_jobs.train import ANCHORS, TARGET_RMSE

    lines = [f"Protocol: {section['protocol']}", "", "| model | RMSE | MAE | fit s |", "|---|---|---|---|"]
    for name, m in section["models"].items():
        lines.append(f"| {name} | {m['rmse']} | {m['mae']} | {m.get('fit_seconds', '—')} |")
    lines += [f"| *{name} (published anchor)* | {value} | | |" for name, value in ANCHORS.items()]
    lines += [f"| ***target*** | **≤ {TARGET_RMSE}** | | |", ""]
    job = section.get("training_job")
    if isinstance(job, dict) and job.get("test"):
        models = {m["name"]: m["rmse"] for m in job["test"].get("models", [])}
        lines += [f"The training job's own evaluation on the same split (`{job['path']}`): "
                  + ", ".join(f"{k} {v}" for k, v in models.items()) + ".", ""]
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
    if "catalog_consistency" not in section:
        return [section.get("status", "not measured"), ""]
    consistency, raw, near = section["catalog_consistency"], section["raw_data"], section["near_miss_claims"]
    lines = [f"Protocol: {section['protocol']}", "", f"Sources: {section['sources']}.", "",
             f"**Raw-data faithfulness** (`raw_claims.py`: the MovieLens, TMDB, OMDb and IMDb files parsed "
             f"directly, no code shared with the catalog or the ranker): **{raw['supported']} of {raw['factors']}** "
             f"returned factors are stated by a raw source (**{raw['supported_share']:.2%}**; ReelReason: ~8% "
             f"unsupported). \"Similar to X\" rule: {raw['similarity_rule']} (threshold "
             f"{raw['similarity_threshold']}).", "",
             "| factor kind | returned | not supported by the raw files |", "|---|---|---|"]
    lines += [f"| {kind} | {row['factors']} | {row['unsupported']} |" for kind, row in raw["by_kind"].items()]
    lines += ["", f"**Near-miss plants** (plausible false claims: a related film's cast member, the director's other "
              f"film's genre, decade ±10, runtime ±2; each confirmed false on the raw files): {near['planted']} on "
              f"{near['picks']} picks {near['by_kind']}; caught by the ranker's verifier: "
              f"**{near['caught_by_verifier']}**, escaped: **{len(near['escaped_verifier'])}** (target 0).", "",
              f"**Catalog consistency** (the ranker's verifier and a checker over the same catalog table agree; this "
              f"is consistency with the catalog, not truth): {consistency['grounded']} of {consistency['factors']} "
              f"(**{consistency['grounded_share']:.2%}**); explanation-text problems: "
              f"{len(consistency['explanation_text_failures'])}; factors the explainer proposed: "
              f"{consistency['proposed_factors']}, dropped by the verifier before answering: "
              f"{consistency['proposed_dropped_by_verifier']} ({consistency['proposed_dropped_share']:.2%})."]
    injected = consistency.get("injected_false_claims")
    if injected:
        lines.append(f"Far-off false claims injected into the verifier: {injected['injected']} {injected['by_kind']}, "
                     f"surviving: **{injected['survived_verifier']}** (target 0).")
    lines += ["", "The LLM-written explanations are measured the same way by `faithfulness.check_samples` when the "
              "LLM evaluation supplies them (not part of this run: no LLM server here).", ""]
    failures = raw["failures"]
    if failures:
        lines += [f"Raw-data failures ({len(failures)}; first 40, all in eval.json):", ""]
        lines += [f"- {json.dumps(f, ensure_ascii=False)}" for f in failures[:40]]
    extra = consistency["failures"] + consistency["explanation_text_failures"] + near["escaped_verifier"]
    if extra:
        lines += ["", "Catalog-consistency failures and escaped plants:", ""]
        lines += [f"- {json.dumps(f, ensure_ascii=False)}" for f in extra[:40]]
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
             "Before the gateway's final re-check: " + "; ".join(
                 f"{stage}: {row['violating_items']} of {row['items']} items violate an expected constraint"
                 for stage, row in section.get("before_final_filter", {}).items()) + ".", "",
             "| # | user | request | expected | parsed | picks (violations) |", "|---|---|---|---|---|---|"]
    for row in section["detail"]:
        picks = "; ".join(f"{p['title']} ({p['year']}, {p['runtime_min'] or '?'} min, {p['certification'] or '?'})"
                          + (f" **{', '.join(p['violations'])}**" if p["violations"] else "") for p in row["picks"])
        lines.append(f"| {row['n']} | {row['user']} | {row['message']} | {row['expected']} | "
                     f"{'; '.join(row['parsed']) or '—'} | {picks or '(none)'} |")
    return [*lines, ""]
