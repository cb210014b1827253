"""Section 1: top-N on ml-latest-small (leave-last-out, full ranking over unseen items), both variants.

For every system: hyper-parameters are chosen on the **validation** item (NDCG@10), then the chosen
configuration is scored once on the **test** item; only test numbers are reported as results (the
validation grid is kept as evidence). Models are fitted once on the training histories; the test
phase folds the validation item into each person's input (see :mod:`movierec_eval.baselines`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from movierec_eval import baselines as B
from movierec_eval import metrics
from movierec_eval.content import ItemVectors, content_scores, taste_matrix
from movierec_eval.data import LeaveLastOut, k_core, leave_last_out
from movierec_eval.sequence import SeqEase, SeqEaseParams, scale_to_unit

log = logging.getLogger("movierec.eval.topn")

PHASES = ("validation", "test")
CANDIDATES = 200
HYBRID_SPLIT = 100  # hybrid candidates: content top-100 ∪ collaborative top-100 (then content fills to 200)


@dataclass
class Grids:
    """Hyper-parameter grids (searched on validation). ``quick`` shrinks them for the regression guard."""

    knn_neighbours: tuple[int, ...] = (20, 50, 100)
    als: tuple[tuple[int, float, float], ...] = ((64, 10.0, 10.0), (64, 10.0, 30.0))
    als_iterations: int = 8
    ease_lambda: tuple[float, ...] = (50.0, 200.0, 500.0)
    recency_decay: tuple[float, ...] = (0.5, 0.7, 0.9)
    seq_lambda: tuple[float, ...] = (100.0, 300.0)
    seq_decay: tuple[float, ...] = (0.6, 0.7, 0.8)
    blend_alpha: tuple[float, ...] = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6)

    @classmethod
    def quick(cls) -> Grids:
        return cls(knn_neighbours=(50,), als=((32, 10.0, 10.0),), als_iterations=5, ease_lambda=(200.0,),
                   recency_decay=(0.5,), seq_lambda=(100.0,), seq_decay=(0.7,), blend_alpha=(0.5,))


@dataclass
class SystemResult:
    name: str
    kind: str  # baseline | ours
    protocol: str
    chosen: dict
    validation: dict
    test: dict
    grid: list[dict]
    seconds: float
    test_ranks: np.ndarray = field(repr=False)
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "protocol": self.protocol, "chosen": self.chosen,
                "validation": self.validation, "test": self.test, "grid": self.grid,
                "seconds": round(self.seconds, 2), **self.extra}


class Context:
    """One variant's split, aligned vectors and masks."""

    def __init__(self, split: LeaveLastOut, vectors: ItemVectors, seed: int):
        self.split = split
        self.vectors = vectors
        self.seed = seed
        self.tie_order = np.random.default_rng(seed).permutation(split.universe.n_items)
        self.seen = {phase: split.history(phase).matrix().toarray() > 0 for phase in PHASES}
        self.train_matrix = split.train.matrix()

    def ranks(self, phase: str, scores: np.ndarray) -> np.ndarray:
        return metrics.target_ranks(scores, self.seen[phase], self.split.targets(phase), self.tie_order)

    def inputs(self, phase: str, spec: B.SequenceSpec | None = None):
        return (spec or B.SequenceSpec()).inputs(self.split.history(phase))


def tune(ctx: Context, name: str, kind: str, protocol: str, configs: list[dict],
         scores: Callable[[dict, str], np.ndarray], metric: str = "ndcg@10") -> SystemResult:
    """Pick the configuration with the best validation ``metric``; score it on test."""
    started = time.perf_counter()
    grid, all_ranks = [], []
    for config in configs:
        all_ranks.append(ctx.ranks("validation", scores(config, "validation")))
        summary = metrics.summarize(all_ranks[-1], ctx.seed, ("hr@10", "ndcg@10"))
        grid.append({"config": config, "hr@10": summary["hr@10"]["mean"], "ndcg@10": summary["ndcg@10"]["mean"]})
    best = max(range(len(grid)), key=lambda i: (grid[i][metric], -i))
    chosen, val_ranks = configs[best], all_ranks[best]
    test_ranks = ctx.ranks("test", scores(chosen, "test"))
    result = SystemResult(name, kind, protocol, chosen, metrics.summarize(val_ranks, ctx.seed),
                          metrics.summarize(test_ranks, ctx.seed), grid, time.perf_counter() - started, test_ranks)
    log.info("%-34s test HR@10 %.4f NDCG@10 %.4f (%s) %.1fs", f"{ctx.split.universe.name}/{name}",
             result.test["hr@10"]["mean"], result.test["ndcg@10"]["mean"], chosen, result.seconds)
    return result


class Cache:
    """Fitted models keyed by their fit parameters (tuning a scoring-time parameter needs no refit)."""

    def __init__(self):
        self._models: dict = {}

    def get(self, key, build):
        if key not in self._models:
            self._models[key] = build()
        return self._models[key]


# ---- systems -----------------------------------------------------------------------------------

def baseline_specs(ctx: Context, grids: Grids, seed: int) -> list[tuple[str, str, list[dict], Callable]]:
    """(name, protocol, validation grid, scores(config, phase)) of every baseline, defined once."""
    x = ctx.train_matrix
    cache = Cache()

    def ease(lam: float) -> B.Ease:
        return cache.get(("ease", lam), lambda: B.Ease(x, lam))

    def knn(neighbours: int) -> B.ItemKNN:
        full = cache.get("knn", lambda: B.ItemKNN(x, max((*grids.knn_neighbours, neighbours))))
        return cache.get(("knn", neighbours), lambda: full.pruned(neighbours))

    return [
        ("popularity", "training interaction counts", [{}], lambda c, p: B.Popularity(x).score(ctx.inputs(p))),
        ("ItemKNN", "cosine item-item on binary interactions, top-k neighbours",
         [{"neighbours": k} for k in grids.knn_neighbours], lambda c, p: knn(c["neighbours"]).score(ctx.inputs(p))),
        ("ALS", f"implicit ALS (numpy, exact solves), {grids.als_iterations} iterations, seed {seed}",
         [{"factors": f, "reg": r, "alpha": a} for f, r, a in grids.als],
         lambda c, p: cache.get(("als", *c.values()), lambda: B.ImplicitALS(
             x, c["factors"], c["reg"], c["alpha"], grids.als_iterations, seed)).score(ctx.inputs(p))),
        ("EASE", "EASE on whole user histories (binary)", [{"lambda": lam} for lam in grids.ease_lambda],
         lambda c, p: ease(c["lambda"]).score(ctx.inputs(p))),
        ("EASE (recency-weighted history)",
         "EASE on whole user histories; input weights decay^(steps before the latest rating)",
         [{"lambda": lam, "decay": d} for lam in grids.ease_lambda for d in grids.recency_decay],
         lambda c, p: ease(c["lambda"]).score(ctx.inputs(p, B.SequenceSpec("position", c["decay"])))),
    ]


def baselines(ctx: Context, grids: Grids, seed: int) -> list[SystemResult]:
    return [tune(ctx, name, "baseline", protocol, configs, scores)
            for name, protocol, configs, scores in baseline_specs(ctx, grids, seed)]


def rescore_baseline(ctx: Context, chosen: SystemResult, grids: Grids, seed: int) -> SystemResult:
    """The same baseline with its already chosen configuration, on another split (no re-tuning)."""
    name, protocol, _, scores = next(spec for spec in baseline_specs(ctx, grids, seed) if spec[0] == chosen.name)
    return tune(ctx, name, "baseline", protocol, [chosen.chosen], scores)


def seq_ease_system(ctx: Context, grids: Grids) -> tuple[SystemResult, SeqEase]:
    cache = Cache()

    def model(c: dict) -> SeqEase:
        fitted = cache.get(("seq", c["lambda"]), lambda: SeqEase(ctx.split.train, SeqEaseParams(lam=c["lambda"])))
        return fitted.with_decay(c["decay"])

    result = tune(ctx, "SeqEASE (ours, collaborative signal)", "ours",
                  "EASE on windows of 10 consecutive ratings (stride 5), input weights decay^(steps before latest)",
                  [{"lambda": lam, "decay": d} for lam in grids.seq_lambda for d in grids.seq_decay],
                  lambda c, p: model(c).raw_scores(ctx.split.history(p)))
    return result, model(result.chosen)


def content_system(ctx: Context, tastes: dict[str, np.ndarray]) -> SystemResult:
    return tune(ctx, "content retrieval (ours)", "ours",
                "cos(profile scoring vector, movie vector); profile replayed through profile_service.taste",
                [{}], lambda c, p: content_scores(tastes[p], ctx.vectors))


def candidate_mask(ctx: Context, phase: str, cos: np.ndarray, collab: np.ndarray | None) -> np.ndarray:
    """True for each user's candidates: content top-200, or content top-100 ∪ collaborative top-100
    (content fills up to 200 when the two overlap)."""
    seen = ctx.seen[phase]
    cos = np.where(seen, -np.inf, cos)
    mask = np.zeros_like(seen)
    rows = np.arange(len(seen))[:, None]
    if collab is None:
        mask[rows, np.argpartition(-cos, CANDIDATES, axis=1)[:, :CANDIDATES]] = True
        return mask
    collab = np.where(seen, -np.inf, collab)
    mask[rows, np.argpartition(-collab, HYBRID_SPLIT, axis=1)[:, :HYBRID_SPLIT]] = True
    order = np.argsort(-cos, axis=1, kind="stable")[:, :CANDIDATES]
    for user in range(len(seen)):  # content fills the rest, best first, skipping ones already in
        fresh = order[user][~mask[user, order[user]]]
        mask[user, fresh[:CANDIDATES - int(mask[user].sum())]] = True
    return mask


def pipeline_system(ctx: Context, name: str, protocol: str, tastes: dict[str, np.ndarray],
                    yhat: Callable[[str], np.ndarray], hybrid: bool, alphas: tuple[float, ...]) -> SystemResult:
    """final = a·cos + (1−a)·ŷ over the candidates (everything else out), a chosen on validation."""
    parts = {}

    def phase_parts(phase: str):
        if phase not in parts:
            cos = content_scores(tastes[phase], ctx.vectors)
            y = yhat(phase)
            parts[phase] = (cos, y, candidate_mask(ctx, phase, cos, y if hybrid else None))
        return parts[phase]

    def scores(c: dict, phase: str) -> np.ndarray:
        cos, y, mask = phase_parts(phase)
        return np.where(mask, c["a"] * cos + (1 - c["a"]) * y, -np.inf)

    result = tune(ctx, name, "ours", protocol, [{"a": a} for a in alphas], scores)
    recall = {phase: float(phase_parts(phase)[2][np.arange(ctx.split.universe.n_users),
                                                   ctx.split.targets(phase)].mean()) for phase in PHASES}
    result.extra["candidate_recall"] = {k: round(v, 4) for k, v in recall.items()}
    for block in (result.validation, result.test):  # recall beyond the candidate list is not defined here
        for k in [k for k in block if k.startswith("recall@") and int(k.split("@")[1]) > 10]:
            del block[k]
    return result


# ---- the section ---------------------------------------------------------------------------------

def variant_context(ratings: pd.DataFrame, name: str, index, taste_constants, cold_start: np.ndarray, seed: int,
                    tie_seed: int | None = None) -> tuple[Context, dict[str, np.ndarray]]:
    """One variant's split, aligned vectors and the profile tier's taste vector per user and phase."""
    split = leave_last_out(k_core(ratings, 5) if name == "5core" else ratings, name, tie_seed)
    vectors = ItemVectors.align(split.universe.item_ids, index.movie_ids, index.vectors)
    tastes = {p: taste_matrix(split.history(p), vectors, taste_constants, cold_start) for p in PHASES}
    return Context(split, vectors, seed), tastes


def evaluate_variant(name: str, ratings: pd.DataFrame, index, taste_constants, cold_start: np.ndarray,
                     grids: Grids, seed: int, rating_model_fit=None, served_parts=None) -> dict:
    """Every baseline and ablation (tuned on validation), then — with ``served_parts`` = (store,
    scoring params, served config) — the served configuration through the ranker's request path."""
    started = time.perf_counter()
    ctx, tastes = variant_context(ratings, name, index, taste_constants, cold_start, seed)
    split = ctx.split
    systems = baselines(ctx, grids, seed)
    seq, seq_model = seq_ease_system(ctx, grids)
    systems += [seq, content_system(ctx, tastes)]
    seq_scaled = {p: scale_to_unit(seq_model.raw_scores(split.history(p)), ctx.seen[p]) for p in PHASES}
    if rating_model_fit is not None:
        systems.append(rating_model_pipeline(ctx, tastes, rating_model_fit, ratings, grids))
    systems.append(pipeline_system(
        ctx, "pipeline: content top-200 → ranker (ŷ = SeqEASE)", "content candidates; a chosen on validation",
        tastes, seq_scaled.__getitem__, hybrid=False, alphas=grids.blend_alpha))
    full = pipeline_system(
        ctx, "pipeline: hybrid candidates → ranker (ŷ = SeqEASE)",
        "candidates = content top-100 ∪ SeqEASE top-100 (content fills to 200); final = a·cos + (1−a)·ŷ",
        tastes, seq_scaled.__getitem__, hybrid=True, alphas=grids.blend_alpha)
    systems.append(full)
    report = {"split": split.stats, "systems": [s.to_json() for s in systems]}
    report["comparisons"] = compare(systems, seed)
    report["recall_curves"] = recall_curves(systems)
    if served_parts is not None:
        report["served"], report["_ranker_outputs"] = served_section(
            ctx, tastes, served_parts, systems, grids, seed,
            lambda: variant_context(ratings, name, index, taste_constants, cold_start, seed, tie_seed=seed))
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["_systems"] = systems
    return report


def rating_model_pipeline(ctx: Context, tastes, fit, ratings: pd.DataFrame, grids: Grids) -> SystemResult:
    """Today's ranker: content top-200 → a·cos + (1−a)·ŷ with ŷ the collaborative rating predictor."""
    split = ctx.split
    item_ids = split.universe.item_ids
    train_rows = [(int(u), int(m), float(r), int(t)) for uu, u in enumerate(split.universe.user_ids)
                  for m, r, t in zip(item_ids[split.train.items[uu]], split.train.ratings[uu],
                                     split.train.times[uu], strict=True)]
    model = fit(pd.DataFrame(train_rows, columns=["user_id", "movie_id", "rating", "timestamp"]))

    def yhat(phase: str) -> np.ndarray:
        history = split.history(phase)
        cos = content_scores(tastes[phase], ctx.vectors)
        mask = candidate_mask(ctx, phase, cos, None)
        out = np.zeros_like(cos)
        for user in range(split.universe.n_users):
            ids = item_ids[history.items[user]]
            state = model.fold_in({int(m): float(r) for m, r in zip(ids, history.ratings[user], strict=True)})
            cols = np.flatnonzero(mask[user])
            out[user, cols] = model.predict_scaled(state, [int(m) for m in item_ids[cols]])
        return out

    return pipeline_system(ctx, "pipeline: content top-200 → ranker (ŷ = rating model)",
                           "today's ranker: collaborative rating predictor folded in from the history",
                           tastes, yhat, hybrid=False, alphas=grids.blend_alpha)


# ---- the served configuration (the headline) -------------------------------------------------

TARGETS = {"5core": {"hr@10": 0.18, "ndcg@10": 0.095}, "full": {"hr@10": 0.14, "ndcg@10": 0.08}}


def best_baseline(systems: list[SystemResult]) -> SystemResult:
    """The baseline with the best test NDCG@10 (the hardest comparison for ours)."""
    return max((s for s in systems if s.kind == "baseline"), key=lambda s: s.test["ndcg@10"]["mean"])


def paired_both(ours: np.ndarray, theirs: np.ndarray, seed: int) -> dict:
    return {metric: metrics.paired(ours, theirs, seed, metric) for metric in ("hr@10", "ndcg@10")}


def served_section(ctx: Context, tastes: dict[str, np.ndarray], served_parts, systems: list[SystemResult],
                   grids: Grids, seed: int, random_ties: Callable[[], tuple[Context, dict]]):
    """The live configuration on this split: test and validation figures, paired comparison with the
    best baseline, ablations of single settings, list quality and protocol sensitivity (users without a
    validation/test timestamp tie; a split with ties in random order)."""
    from movierec_eval import served

    store, params, config = served_parts
    runner = served.ServedRunner(ctx, store, params, served.fit_sequence(ctx.split, config), tastes)
    test = runner.run(config, "test")
    best = best_baseline(systems)
    name = ctx.split.universe.name
    summary = served.summarize_run(test, seed)
    out = {"protocol": served.__doc__.split("\n\n", 1)[1].strip(), "config": config.describe(),
           "test": summary, "validation": served.summarize_run(runner.run(config, "validation"), seed),
           "target": TARGETS[name],
           "meets_target": all(summary[m]["mean"] >= v for m, v in TARGETS[name].items()),
           "versus_best_baseline": {"baseline": best.name, "baseline_test": best.test,
                                    **paired_both(test["ranks"], best.test_ranks, seed)},
           "list_quality": runner.list_quality(test, "test")}
    ablations = {"MMR λ = 1 (relevance only)": config.but(mmr_lambda=1.0),
                 "candidates_only = true (as the other carousels and requests with words)":
                     config.but(candidates_only=True),
                 f"retrieval k = 100 instead of {config.retrieval_k}": config.but(retrieval_k=100)}
    out["ablations"] = [{"name": label, "config": c.describe(), "test": served.summarize_run(run := runner.run(
        c, "test"), seed), "versus_served": paired_both(run["ranks"], test["ranks"], seed)}
        for label, c in ablations.items()]
    out["ablations"] += split_tuned_sequence(ctx, store, params, config, tastes, systems, test, seed)
    untied = ~ctx.split.test_tied
    out["without_ties"] = {"users": int(untied.sum()),
                           "served": metrics.summarize(test["ranks"][untied], seed, ("hr@10", "ndcg@10")),
                           "baseline": metrics.summarize(best.test_ranks[untied], seed, ("hr@10", "ndcg@10")),
                           **paired_both(test["ranks"][untied], best.test_ranks[untied], seed)}
    out["random_tie_order"] = random_tie_order(random_ties, store, params, config, best, grids, seed)
    log.info("%s/served test HR@10 %.4f NDCG@10 %.4f (target %s)", name, summary["hr@10"]["mean"],
             summary["ndcg@10"]["mean"], TARGETS[name])
    users = ctx.split.universe.user_ids
    outputs = [(f"user{users[u]}", (output, request.history)) for u, (output, request) in zip(
        test["users"], test["outputs"], strict=True)]
    return out, outputs


def split_tuned_sequence(ctx: Context, store, params, config, tastes, systems: list[SystemResult], test: dict,
                         seed: int) -> list[dict]:
    """The served configuration with SeqEASE's λ/decay as this split's validation chose them (when they
    differ from the served artifact's): how much of a gap is the sequence model's parameters."""
    from movierec_eval import served

    chosen = next(s.chosen for s in systems if s.name.startswith("SeqEASE"))
    if (chosen["lambda"], chosen["decay"]) == (config.sequence_params["lam"], config.sequence_params["decay"]):
        return []
    tuned = config.but(sequence_params={**config.sequence_params, "lam": chosen["lambda"], "decay": chosen["decay"]})
    run = served.ServedRunner(ctx, store, params, served.fit_sequence(ctx.split, tuned), tastes).run(tuned, "test")
    return [{"name": f"SeqEASE λ = {chosen['lambda']:g}, decay {chosen['decay']} (this split's validation choice)",
             "config": tuned.describe(), "test": served.summarize_run(run, seed),
             "versus_served": paired_both(run["ranks"], test["ranks"], seed)}]


def random_tie_order(make_context, store, params, config, best: SystemResult, grids: Grids, seed: int) -> dict:
    """Served and the best baseline (its chosen configuration) on a split whose same-second ratings are in
    a random order: a win that comes from the (timestamp, movieId) tie rule disappears here."""
    from movierec_eval import served

    ctx, tastes = make_context()
    run = served.ServedRunner(ctx, store, params, served.fit_sequence(ctx.split, config), tastes).run(config, "test")
    baseline = rescore_baseline(ctx, best, grids, seed)
    return {"tie_rule": ctx.split.stats["tie_rule"],
            "served": metrics.summarize(run["ranks"], seed, ("hr@10", "ndcg@10")), "baseline": baseline.test,
            **paired_both(run["ranks"], baseline.test_ranks, seed)}


def compare(systems: list[SystemResult], seed: int) -> list[dict]:
    """Each of ours vs the best baseline on test (by test NDCG@10: the hardest comparison), paired."""
    best = best_baseline(systems)
    out = []
    for system in systems:
        if system.kind != "ours":
            continue
        for metric in ("hr@10", "ndcg@10"):
            out.append({"system": system.name, "versus": best.name,
                        **metrics.paired(system.test_ranks, best.test_ranks, seed, metric)})
    return out


def recall_curves(systems: list[SystemResult]) -> dict[str, list[float]]:
    """Recall@K for K = 1..200 on test (the candidate-stage ceiling), per non-pipeline system."""
    ks = np.arange(1, 201)
    return {s.name: [round(float((s.test_ranks < k).mean()), 4) for k in ks]
            for s in systems if not s.name.startswith("pipeline")}
