"""Expand the hand-written corpus (corpus_requests.py, corpus_dialogues.py, heldout_requests.py) into
requests.jsonl, dialogues.jsonl and heldout_requests.jsonl.

    PYTHONPATH=eval .venv/bin/python eval/dialogue/build.py

Only bookkeeping happens here: every (title, year) is looked up in MovieLens with the independent raw
reader (``movierec_eval.raw_facts``) and must exist exactly once; every INSPIRED source must be a
SEEKER utterance of that split; ids are assigned. No message is parsed: the labels are the ones
written by hand in the corpus files.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from corpus_dialogues import DIALOGUES  # noqa: E402
from corpus_requests import REQUESTS  # noqa: E402
from heldout_requests import HELDOUT_REQUESTS  # noqa: E402
from labels import SLOTS  # noqa: E402

from movierec_eval.raw_facts import default_root, load  # noqa: E402

DEFAULTS = {"include_genres": [], "exclude_genres": [], "min_certification": None, "max_certification": None,
            "use_certification_estimates": False, "min_runtime_min": None, "max_runtime_min": None,
            "lenient_runtime": False, "min_year": None, "max_year": None, "language": None,
            "exclude_titles": [], "exclude_franchises": []}


class Resolver:
    def __init__(self, root: Path):
        self.facts = load(root)
        self.root = root
        self._inspired: dict[str, list[dict]] = {}

    def title(self, ref: tuple[str, int]) -> dict:
        title, year = ref
        movie = self.facts.find(title, year)
        if movie is None:
            raise SystemExit(f"title not in MovieLens (or ambiguous): {title} ({year})")
        return {"movie_id": movie.movie_id, "title": movie.title, "year": movie.year}

    def source(self, src) -> dict | None:
        if src is None:
            return None
        split, prefix, utt = src
        if split not in self._inspired:
            csv.field_size_limit(10**9)
            with open(self.root / "inspired" / f"{split}.tsv", newline="", encoding="utf-8") as handle:
                self._inspired[split] = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
        rows = [r for r in self._inspired[split] if r["dialog_id"].startswith(prefix) and int(r["utt_id"]) == utt]
        if len({r["dialog_id"] for r in rows}) != 1 or rows[0]["speaker"] != "SEEKER":
            raise SystemExit(f"INSPIRED source not a unique SEEKER utterance: {src}")
        return {"split": split, "dialog_id": rows[0]["dialog_id"], "utt_id": utt,
                "text": rows[0]["text"].replace("QUOTATION_MARK", '"')}

    def constraints(self, given: dict) -> dict:
        unknown = set(given) - set(SLOTS)
        if unknown:
            raise SystemExit(f"unknown slots {unknown}")
        out = {**DEFAULTS, **given}
        out["include_genres"] = sorted(set(out["include_genres"]))
        out["exclude_genres"] = sorted(set(out["exclude_genres"]))
        out["exclude_titles"] = [self.title(t) for t in out["exclude_titles"]]
        out["exclude_franchises"] = [{"name": name, "members": [self.title(t) for t in members]}
                                     for name, members in out["exclude_franchises"]]
        return out

    def check_relative(self, item: dict) -> None:
        """A hand-resolved relative label must agree with the raw facts of the movie it names."""
        given = item["constraints"]
        for kind, ref in item["relative"]:
            movie = self.facts.get(self.title(ref)["movie_id"])
            want = {"shorter": ("max_runtime_min", (movie.runtime_min or 0) - 1),
                    "longer": ("min_runtime_min", (movie.runtime_min or 0) + 1),
                    "older": ("max_year", (movie.year or 0) - 1),
                    "newer": ("min_year", (movie.year or 0) + 1)}.get(kind)
            if want and given.get(want[0]) != want[1]:
                raise SystemExit(f"{item['message']!r}: {kind} {ref} means {want[0]}={want[1]}, "
                                 f"label says {given.get(want[0])}")

    def meaning(self, item: dict) -> dict:
        self.check_relative(item)
        act = item["act"]
        return {"constraints": self.constraints(item["constraints"]),
                "seeds": [self.title(t) for t in item["seeds"]],
                "acts": [act] if isinstance(act, str) else list(act),
                "pick_refs": item["pick_refs"],
                "relative": [{"kind": kind, **self.title(ref)} for kind, ref in item["relative"]]}


def write_requests(resolver: Resolver, items: list[dict], path: Path, prefix: str = "") -> Counter:
    """One JSONL record per single request, ids ``<prefix><class>-NNN``; returns the count per class."""
    counters: Counter = Counter()
    with open(path, "w", encoding="utf-8") as out:
        for item in items:
            counters[item["class"]] += 1
            record = {"id": f"{prefix}{item['class']}-{counters[item['class']]:03d}", "class": item["class"],
                      "form": item["form"],
                      "message": item["message"], "source": resolver.source(item["source"]), "note": item["note"],
                      "expect": resolver.meaning(item)}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return counters


def check_heldout_disjoint() -> None:
    """The held-out set is a test only while the development corpus does not contain its messages or sources."""
    def key(message: str) -> str:  # case and punctuation do not make a message new
        return " ".join("".join(ch if ch.isalnum() else " " for ch in message.lower()).split())

    dev_messages = {key(r["message"]) for r in REQUESTS}
    dev_sources = {tuple(r["source"]) for r in REQUESTS if r["source"]}
    dev_sources |= {tuple(t["source"]) for d in DIALOGUES for t in d["turns"] if t["source"]}
    for item in HELDOUT_REQUESTS:
        if key(item["message"]) in dev_messages:
            raise SystemExit(f"held-out message also in corpus_requests.py: {item['message']!r}")
        if item["source"] and (tuple(item["source"]) in dev_sources or item["source"][0] != "test"):
            raise SystemExit(f"held-out source must be an unused INSPIRED test utterance: {item['source']}")


def main() -> None:
    resolver = Resolver(default_root())
    counters = write_requests(resolver, REQUESTS, HERE / "requests.jsonl")
    check_heldout_disjoint()
    heldout = write_requests(resolver, HELDOUT_REQUESTS, HERE / "heldout_requests.jsonl", prefix="heldout-")
    ids = Counter(d["id"] for d in DIALOGUES)
    if max(ids.values()) > 1:
        raise SystemExit(f"duplicate dialogue ids: {[k for k, v in ids.items() if v > 1]}")
    with open(HERE / "dialogues.jsonl", "w", encoding="utf-8") as out:
        for dialogue in DIALOGUES:
            if not 3 <= len(dialogue["turns"]) <= 6:
                raise SystemExit(f"{dialogue['id']}: {len(dialogue['turns'])} turns (3–6 wanted)")
            turns = [{"message": t["message"], "source": resolver.source(t["source"]), "note": t["note"],
                      "expect": resolver.meaning(t)} for t in dialogue["turns"]]
            out.write(json.dumps({"id": dialogue["id"], "classes": dialogue["classes"], "turns": turns},
                                 ensure_ascii=False) + "\n")
    print(f"{len(REQUESTS)} requests ({dict(counters)}), {len(DIALOGUES)} dialogues, "
          f"{sum(len(d['turns']) for d in DIALOGUES)} turns; held-out: {len(HELDOUT_REQUESTS)} requests "
          f"({dict(heldout)})")


if __name__ == "__main__":
    main()
