"""``python -m movierec_eval`` (``make eval``): every offline measurement → reports/eval.{json,md} + PNG plots.

    PYTHONPATH=eval .venv/bin/python -m movierec_eval [--sections topn,rating,...] [--index-dir DIR ...]
        [--variants full,5core] [--seed 7] [--out reports]

Needs the catalog and index artifacts (``make catalog index``); the rating section fits the ranker's
collaborative model itself. Exit code 0 when every section ran, 1 when one failed (the failure is in
the report), 2 for bad arguments or a missing artifact.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # torch: one intra-op thread on the shared 2-core machine
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from movierec_core.paths import REPO_ROOT, data_dir

SECTIONS = ("topn", "rating", "embedding", "constraints", "conversational", "faithfulness")
log = logging.getLogger("movierec.eval")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m movierec_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument("--variants", default="full,5core", help="top-N variants: full, 5core")
    parser.add_argument("--index-dir", action="append", type=Path, default=None,
                        help="index artifact per embedding model for the genre gap (repeatable; default current)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports")
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if set(args.variants) - {"full", "5core"}:
        parser.error("--variants takes full and/or 5core")
    return args


class Resources:
    """Artifacts and tier objects shared by the sections, loaded once and only when needed."""

    def __init__(self, seed: int):
        from movierec_catalog import load_catalog, load_ratings
        from movierec_core.index_artifact import load_index_artifact
        from profile_service.settings import TasteConstants
        from profile_service.vectors import MovieVectors, cold_start_vector, popular_movie_ids

        self.seed = seed
        self.catalog = load_catalog()
        self.ratings = load_ratings()
        self.index = load_index_artifact()
        movies = MovieVectors.from_artifact(self.index)
        self.cold_start = cold_start_vector(movies, popular_movie_ids(self.catalog.path, movies, 200))
        self.taste = TasteConstants.from_env()
        self._ranker = self._encoder = self._retrieval = None

    @property
    def ranker(self):
        """The ranker exactly as the service builds it (settings from the environment)."""
        if self._ranker is None:
            from ranker_service.app import build_ranker
            from ranker_service.settings import RankerSettings

            self.ranker_settings = RankerSettings.from_env()
            self._ranker = build_ranker(self.ranker_settings)
        return self._ranker

    @property
    def encoder(self):
        if self._encoder is None:
            from movierec_eval.encoder import QueryEncoder

            self._encoder = QueryEncoder()
        return self._encoder

    @property
    def retrieval(self):
        if self._retrieval is None:
            from retrieval_service.index import load_index
            from retrieval_service.settings import RetrievalSettings

            settings = RetrievalSettings.from_env()
            self._retrieval = load_index(settings.index_dir, settings)
        return self._retrieval


def run_topn(res: Resources, variants: list[str], state: dict) -> dict:
    from movierec_eval import served, topn

    try:
        from ranker_service.collaborative import fit as rating_fit
    except ImportError:
        rating_fit = None
    config = served.live_config()
    served_parts = (*served.served_parts(), config)
    out = {"served_config": config.describe(), "protocol": {
        "split": "leave-last-out per user; " + "ratings ordered by (timestamp, movieId); last = test, second-last "
                 "= validation, rest = training; every rating is an interaction",
        "ranking": "over every item of the variant the user has not interacted with (history masked)",
        "tuning": "hyper-parameters chosen by validation NDCG@10; test reported once",
        "fit": "models fitted once on training histories; the test phase folds the validation item into the "
               "input (SASRec/LlamaRec practice)",
        "intervals": "bootstrap over users, 2000 resamples, percentile 95%",
        "paired": "per-user differences vs the best baseline (by test NDCG@10), bootstrap 95% interval and "
                  "a two-sided sign-flip randomization p-value",
        "seed": res.seed}}
    for variant in variants:
        report = topn.evaluate_variant(
            variant, res.ratings, res.index, res.taste, res.cold_start, topn.Grids(), res.seed, rating_fit,
            served_parts)
        report.pop("_systems")
        outputs = report.pop("_ranker_outputs", None)
        if outputs is not None and variant == "full":
            state["ranker_outputs"] = outputs
        out[variant] = report
    return out


def run_constraints(res: Resources, state: dict) -> dict:
    import numpy as np

    from movierec_eval import constraint_suite
    from movierec_eval.content import ItemVectors, profile_vector

    vectors = ItemVectors.align(res.index.movie_ids, res.index.movie_ids, res.index.vectors)
    position = {int(m): i for i, m in enumerate(res.index.movie_ids)}
    profiles = {}
    for user in sorted({r.user for r in constraint_suite.REQUESTS}):
        rows = res.ratings[res.ratings.user_id == user].sort_values(["timestamp", "movie_id"])
        rows = rows[rows.movie_id.isin(position)]
        items = np.array([position[int(m)] for m in rows.movie_id])
        taste = profile_vector(items, rows.rating.to_numpy(), rows.timestamp.to_numpy(), vectors, res.taste,
                               res.cold_start)
        profiles[user] = ({int(m): float(r) for m, r in zip(rows.movie_id, rows.rating, strict=True)}, taste)
    path = constraint_suite.ChatPath(res.catalog, res.retrieval, res.ranker, res.encoder,
                                     candidates=int(os.environ.get("GATEWAY_CANDIDATES", "20")))
    report, outputs = constraint_suite.run(path, profiles)
    state["suite_outputs"] = outputs
    report["protocol"] = constraint_suite.__doc__.split("\n\n", 1)[1].strip()
    report["ranker"] = res.ranker.scorer.name
    return report


def run_faithfulness(res: Resources, state: dict) -> dict:
    from movierec_eval import faithfulness

    samples = []
    for user, (output, history) in state.get("ranker_outputs", []):
        samples += faithfulness.samples_from_outputs(user, output, history.ratings)
    for user, output, ratings, query in state.get("suite_outputs", []):
        samples += faithfulness.samples_from_outputs(user, output, ratings, query)
    if not samples:
        return {"status": "no ranker outputs (run the topn and constraints sections too)"}
    from movierec_eval.raw_claims import RawClaims

    result = faithfulness.check_samples(samples, res.catalog, res.ranker.store, RawClaims.load(data_dir()), res.seed)
    result["protocol"] = faithfulness.__doc__.split("\n\n", 1)[1].strip()
    result["sources"] = "every top-10 pick of the served configuration for the 610 test users (full variant) and " \
                        "every pick of the constraint suite (with a request text)"
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    started = time.perf_counter()
    try:
        res = Resources(args.seed)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report: dict = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), "seed": args.seed,
                    "catalog_version": res.catalog.version, "index_version": res.index.version,
                    "embedding_model": res.index.manifest.get("model"), "sections": {}, "seconds": {}}
    state: dict = {}
    failed = False
    for section in SECTIONS:
        if section not in args.sections:
            continue
        t0 = time.perf_counter()
        log.info("section %s", section)
        try:
            report["sections"][section] = run_section(section, res, args, state)
        except Exception as error:  # one broken section must not hide the others' numbers
            failed = True
            log.error("section %s failed: %s", section, error)
            report["sections"][section] = {"status": f"failed: {type(error).__name__}: {error}",
                                           "traceback": traceback.format_exc()}
        report["seconds"][section] = round(time.perf_counter() - t0, 1)
    report["seconds"]["total"] = round(time.perf_counter() - started, 1)
    from movierec_eval.report import write_report

    write_report(report, args.out)
    print(f"wrote {args.out / 'eval.json'} and {args.out / 'eval.md'} in {report['seconds']['total']} s")
    return 1 if failed else 0


def run_section(section: str, res: Resources, args: argparse.Namespace, state: dict) -> dict:
    if section == "topn":
        return run_topn(res, args.variants, state)
    if section == "rating":
        from movierec_eval import rating

        return rating.evaluate()
    if section == "embedding":
        from movierec_eval import embedding_quality

        return {"models": [embedding_quality.evaluate_model(d, res.catalog, args.seed)
                           for d in (args.index_dir or [None])],
                "how_to_add_a_model": "build another index artifact with that model, e.g. `EMBEDDING_MODEL=<name "
                                      "or folder> python -m movierec_jobs.index --out artifacts/index-<name>`, "
                                      "then `python -m movierec_eval --sections embedding --index-dir "
                                      "artifacts/index/current --index-dir artifacts/index-<name>/current`"}
    if section == "constraints":
        return run_constraints(res, state)
    if section == "conversational":
        from gateway_service.dialogue.plan import MESSAGE_WEIGHT
        from movierec_eval import conversational

        return conversational.evaluate(data_dir(), res.catalog, res.index, res.encoder, res.cold_start, res.taste,
                                       MESSAGE_WEIGHT)
    if section == "faithfulness":
        return run_faithfulness(res, state)
    raise AssertionError(section)


if __name__ == "__main__":
    sys.exit(main())

