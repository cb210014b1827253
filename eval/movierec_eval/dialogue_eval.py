"""``make eval-dialogue``: the labelled dialogue corpus through the real chat, checked against raw facts.

    PYTHONPATH=eval .venv/bin/python -m movierec_eval.dialogue_eval [--gateway URL | --endpoints FILE]
        [--corpus both|dev|heldout] [--llm off|local [--llm-model 0.5b] [--llm-timeout-s S]]
        [--limit-requests N] [--limit-dialogues N] [--inspired dev,test|none] [--inspired-limit N] [--out reports]

Two corpora (eval/dialogue/README.md): the development corpus (requests.jsonl + dialogues.jsonl, which
the parser is developed on) and the held-out requests (heldout_requests.jsonl, which nobody tunes on);
each gets its own tables. ``--llm local`` starts the system with the local LLM server (as
``make up LLM=local``), so the chat merges the LLM's reading with the rules'; that run is written to
``dialogue-llm.{json,md}`` and counts ``understoodBy`` and the ``llmFallback`` reasons per turn.

Without ``--gateway``/``--endpoints`` it starts the whole system itself (Redis, every tier, a worker and
the gateway, exactly as ``make up`` does, via ``movierec_core.devstack.Stack``) with diagnostics on and
the sign-up rate limit lifted, and stops it afterwards. Every request and every dialogue gets a fresh
user that never onboarded (chat-first) and its own session; every turn is ``POST /api/chat`` with
``X-Movierec-Diagnostics: 1``.

Measured (eval/README.md, "Dialogue evaluation", explains each):

* per-slot precision / recall / F1 of the returned ``constraints`` (active after the turn) and of the
  message's ``understanding`` (seeds, relative, pick refs, act) against the hand labels in eval/dialogue/;
* violations of the returned movies against the LABELS, checked with the independent raw-data reader
  (``raw_facts``): before the gateway's last-line filter (``diagnostics.rankedMovieIds``) and after
  (``recommendations``);
* share of recommend turns answered with a full set or a clear "only N movies match";
* follow-up turns: no new picks, taste not updated, constraints unchanged;
* INSPIRED Recall@10 through the chat path (dev, test): each seeker turn goes through the chat; the
  movie the recommender names next (new in the dialogue) is looked for in the chat's ranked list (the
  ranker's 10, ``diagnostics.rankedMovieIds``; ``recall@shown`` counts the 5 cards alone).

Nothing here imports the gateway, the catalog library or the dialogue package: the checker must not
share code with what it checks.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from movierec_eval.raw_facts import LADDER, RawFacts, default_root, load

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "eval" / "dialogue"
FULL_SET = 5
CONSTRAINT_SLOTS = (
    "include_genres",
    "exclude_genres",
    "min_certification",
    "max_certification",
    "use_certification_estimates",
    "min_runtime_min",
    "max_runtime_min",
    "lenient_runtime",
    "min_year",
    "max_year",
    "language",
    "exclude_titles",
    "exclude_franchises",
)
MEANING_SLOTS = ("seeds", "relative", "pick_refs")
NO_PICK_ACTS = {"follow_up", "smalltalk", "reset"}
_ONLY_N = re.compile(
    r"\bonly (\d+|one|two|three|four|five|six|seven|eight|nine)\b[^.!?\n]*\b(movies?|films?|picks?|titles?|match)",
    re.IGNORECASE,
)
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}


# ---- talking to the gateway ---------------------------------------------------------------------------


class ChatClient:
    """Fresh chat-first users and chat turns against one gateway (retries a 429 after its Retry-After)."""

    def __init__(self, base_url: str, timeout_s: float = 30.0):
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s)
        self.retried_after_504 = 0  # reported: a tier timing out under load is retried once, and counted

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, body: dict, headers: dict | None = None) -> httpx.Response:
        retried = False
        for attempt in range(20):
            try:
                response = self.http.post(path, json=body, headers=headers or {})
            except httpx.TransportError as error:  # a dropped connection is a failed turn, not a failed run
                if attempt >= 2:
                    return httpx.Response(599, json={"error": f"{type(error).__name__}: {error}"})
                time.sleep(1.0)
                continue
            if response.status_code == 504 and not retried:
                retried = True
                self.retried_after_504 += 1
                time.sleep(1.0)
                continue
            if response.status_code != 429:
                return response
            time.sleep(min(30.0, float(response.headers.get("Retry-After", "2") or 2)))
        return response

    def new_user(self) -> tuple[str, str]:
        name = f"eval-{uuid.uuid4().hex[:12]}"
        response = self._post("/api/auth/signup", {"username": name, "password": "eval-password-1"})
        response.raise_for_status()
        data = response.json()
        return data["userId"], data["accessToken"]

    def chat(self, user: tuple[str, str], message: str, session_id: str | None) -> tuple[int, dict]:
        body = {"userId": user[0], "message": message}
        if session_id:
            body["sessionId"] = session_id
        response = self._post("/api/chat", body, {"Authorization": f"Bearer {user[1]}", "X-Movierec-Diagnostics": "1"})
        try:
            data = response.json()
        except ValueError:
            data = {"error": response.text[:300]}
        return response.status_code, data


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _snake_keys(value):
    if isinstance(value, dict):
        return {_snake(k): _snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


# ---- what the chat returned, as comparable items per slot --------------------------------------------


def _ids(items) -> set[int]:
    return {int(i["movie_id"]) for i in items or [] if isinstance(i, dict) and i.get("movie_id") is not None}


def scalar_items(value) -> set:
    if value is None or value is False or value == "" or value == []:
        return set()
    return {value}


def constraint_items(constraints: dict) -> dict[str, set]:
    """Slot → set of items, for labels and for the returned constraints alike (franchises handled apart)."""
    out = {}
    for slot in CONSTRAINT_SLOTS:
        value = constraints.get(slot)
        if slot in ("include_genres", "exclude_genres"):
            out[slot] = set(value or [])
        elif slot == "exclude_titles":
            out[slot] = _ids(value)
        elif slot == "exclude_franchises":
            continue
        else:
            out[slot] = scalar_items(value)
    return out


def franchise_match(expected: list[dict], got: list[dict]) -> tuple[int, int, int, float]:
    """(tp, fp, fn, member recall): an expected franchise is found when a returned one holds all its members."""
    got_sets = [set(int(i) for i in g.get("movie_ids") or []) for g in got]
    used: set[int] = set()
    tp = 0
    members = found = 0
    for franchise in expected:
        wanted = {m["movie_id"] for m in franchise["members"]}
        members += len(wanted)
        union = set().union(*got_sets) if got_sets else set()
        found += len(wanted & union)
        for index, ids in enumerate(got_sets):
            if index not in used and wanted <= ids:
                used.add(index)
                tp += 1
                break
    return tp, len(got_sets) - len(used), len(expected) - tp, (found / members if members else 1.0)


@dataclass
class SlotCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, expected: set, got: set) -> None:
        self.tp += len(expected & got)
        self.fp += len(got - expected)
        self.fn += len(expected - got)

    def scores(self) -> dict:
        if not self.tp + self.fp + self.fn:  # nothing labelled, nothing returned: no evidence either way
            return {"precision": None, "recall": None, "f1": None, "tp": 0, "fp": 0, "fn": 0}
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


# ---- checking a returned movie against the labels ----------------------------------------------------


def _rank(certification: str) -> int:
    return LADDER.index(certification)


def violations(movie_id: int, expect: dict, facts: RawFacts, banned: dict[int, str]) -> list[str]:
    """Why this movie breaks the LABELLED constraints, judged on the raw facts (empty = it is fine)."""
    movie = facts.get(movie_id)
    if movie is None:
        return [f"unknown movie: {movie_id} is not in MovieLens"]
    c = expect["constraints"]
    out = []
    hit = sorted(set(c["exclude_genres"]) & movie.genres)
    if hit:
        out.append(f"genre: excluded {', '.join(hit)}")
    if c["include_genres"] and not set(c["include_genres"]) & movie.genres:
        out.append(f"genre: none of {c['include_genres']} (has {sorted(movie.genres)})")
    for bound, slot in (("cap", "max_certification"), ("floor", "min_certification")):
        limit = c[slot]
        if limit is None:
            continue
        if movie.certification is None:
            if not c["use_certification_estimates"]:
                out.append(f"certification: unknown under a {bound} {limit}")
        elif (bound == "cap" and _rank(movie.certification) > _rank(limit)) or (
            bound == "floor" and _rank(movie.certification) < _rank(limit)
        ):
            out.append(f"certification: rated {movie.certification}, {bound} {limit}")
    for slot, op in (("max_runtime_min", "max"), ("min_runtime_min", "min")):
        limit = c[slot]
        if limit is None:
            continue
        if movie.runtime_min is None:
            if not c["lenient_runtime"]:
                out.append(f"runtime: unknown under a {op} of {limit} min")
        elif (op == "max" and movie.runtime_min > limit) or (op == "min" and movie.runtime_min < limit):
            out.append(f"runtime: {movie.runtime_min} min, {op} {limit}")
    for slot, op in (("max_year", "max"), ("min_year", "min")):
        limit = c[slot]
        if limit is None:
            continue
        if movie.year is None or (op == "max" and movie.year > limit) or (op == "min" and movie.year < limit):
            out.append(f"year: {movie.year}, {op} {limit}")
    if c["language"] and movie.language != c["language"]:
        out.append(f"language: {movie.language}, asked {c['language']}")
    if movie_id in banned:
        out.append(banned[movie_id])
    return out


def banned_ids(expect: dict, session: SessionState) -> dict[int, str]:
    """Movies that must not come back: excluded titles and franchise members, seeds, seen and previous picks."""
    c = expect["constraints"]
    banned = {t["movie_id"]: f"excluded title: {t['title']} ({t['year']})" for t in c["exclude_titles"]}
    for franchise in c["exclude_franchises"]:
        banned.update(
            {m["movie_id"]: f"excluded franchise: {franchise['name']}, {m['title']}" for m in franchise["members"]}
        )
    banned.update({s["movie_id"]: f"seed title: {s['title']} recommended" for s in expect["seeds"]})
    banned.update({m: "seen: marked seen earlier" for m in session.seen})
    if set(expect["acts"]) & {"something_else", "mark_seen"}:
        banned.update({m: "previous pick: shown again after 'something else' / 'seen'" for m in session.last_picks})
    if "more_like_pick" in expect["acts"]:
        for ref in expect["pick_refs"]:
            if 0 < ref <= len(session.last_picks):
                banned[session.last_picks[ref - 1]] = "previous pick: the pick it was asked to be like"
    return banned


# ---- running the corpus -----------------------------------------------------------------------------


@dataclass
class SessionState:
    session_id: str | None = None
    last_picks: list[int] = field(default_factory=list)
    all_picks: set[int] = field(default_factory=set)
    seen: set[int] = field(default_factory=set)
    last_constraints: dict | None = None


@dataclass
class Tally:
    slots: dict[str, SlotCounts] = field(default_factory=lambda: defaultdict(SlotCounts))
    by_class: dict[str, dict[str, SlotCounts]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(SlotCounts))
    )
    acts: Counter = field(default_factory=Counter)
    franchise_member_recall: list[float] = field(default_factory=list)
    violations_before: Counter = field(default_factory=Counter)
    violations_after: Counter = field(default_factory=Counter)
    movies_before: int = 0
    movies_after: int = 0
    no_diagnostics: int = 0
    recommend_turns: int = 0
    answered: int = 0
    follow_ups: Counter = field(default_factory=Counter)
    errors: list[dict] = field(default_factory=list)
    turns: list[dict] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    understood_by: Counter = field(default_factory=Counter)
    llm_fallback: Counter = field(default_factory=Counter)
    llm_fallback_examples: dict[str, str] = field(default_factory=dict)


def _got_meaning(data: dict) -> dict:
    understanding = _snake_keys(data.get("understanding") or {})
    seeds = understanding.get("seeds") or {}
    relative = {
        (r.get("kind"), int((r.get("reference") or {}).get("movie_id", -1)))
        for r in understanding.get("relative") or []
    }
    return {
        "act": data.get("act") or understanding.get("act"),
        "seeds": _ids(seeds.get("titles")),
        "relative": relative,
        "pick_refs": set(understanding.get("pick_refs") or []),
    }


def score_turn(tally: Tally, classes: list[str], expect: dict, data: dict, session: SessionState) -> dict:
    """Slot items of one turn → tallies; returns the per-slot mistakes for the failure list."""
    got_constraints = _snake_keys(data.get("constraints") or {})
    got = constraint_items(got_constraints)
    want = constraint_items(expect["constraints"])
    # A seed or a previous pick in excludeTitles is what the planner is told to do, not a misreading.
    forgiven = {s["movie_id"] for s in expect["seeds"]} | session.all_picks
    got["exclude_titles"] -= forgiven - want["exclude_titles"]
    meaning = _got_meaning(data)
    if "mark_seen" in expect["acts"] and meaning["pick_refs"] == set(range(1, len(session.last_picks) + 1)):
        meaning["pick_refs"] = set()  # "seen them all" pointing at every pick says the same as pointing at none
    got |= {"seeds": meaning["seeds"], "relative": meaning["relative"], "pick_refs": meaning["pick_refs"]}
    want |= {
        "seeds": {s["movie_id"] for s in expect["seeds"]},
        "relative": {(r["kind"], r["movie_id"]) for r in expect["relative"]},
        "pick_refs": set(expect["pick_refs"]),
    }
    mistakes = {}
    for slot in (*[s for s in CONSTRAINT_SLOTS if s != "exclude_franchises"], *MEANING_SLOTS):
        tally.slots[slot].add(want[slot], got[slot])
        for cls in classes:
            tally.by_class[cls][slot].add(want[slot], got[slot])
        if want[slot] != got[slot]:
            mistakes[slot] = {"expected": sorted(map(str, want[slot])), "got": sorted(map(str, got[slot]))}
    tp, fp, fn, member_recall = franchise_match(
        expect["constraints"]["exclude_franchises"], got_constraints.get("exclude_franchises") or []
    )
    for counts in (tally.slots["exclude_franchises"], *[tally.by_class[c]["exclude_franchises"] for c in classes]):
        counts.tp, counts.fp, counts.fn = counts.tp + tp, counts.fp + fp, counts.fn + fn
    if expect["constraints"]["exclude_franchises"]:
        tally.franchise_member_recall.append(member_recall)
    if fp or fn:
        mistakes["exclude_franchises"] = {
            "expected": [f["name"] for f in expect["constraints"]["exclude_franchises"]],
            "got": [
                f"{f.get('name')} ({len(f.get('movie_ids') or [])} films)"
                for f in got_constraints.get("exclude_franchises") or []
            ],
        }
    act_ok = meaning["act"] in expect["acts"]
    tally.acts["correct" if act_ok else "wrong"] += 1
    if not act_ok:
        mistakes["act"] = {"expected": expect["acts"], "got": [meaning["act"]]}
    return mistakes


def check_picks(tally: Tally, expect: dict, data: dict, session: SessionState, facts: RawFacts) -> dict:
    banned = banned_ids(expect, session)
    shown = [int(card["movieId"]) for card in data.get("recommendations") or []]
    diagnostics = data.get("diagnostics")
    ranked = [int(i) for i in (diagnostics or {}).get("rankedMovieIds") or []] if diagnostics else None
    after = {m: v for m in shown if (v := violations(m, expect, facts, banned))}
    tally.movies_after += len(shown)
    tally.violations_after.update(reason.split(":")[0] for v in after.values() for reason in v)
    before = {}
    if ranked is None:
        tally.no_diagnostics += bool(shown)  # a follow-up or smalltalk turn ranks nothing
    else:
        before = {m: v for m in ranked if (v := violations(m, expect, facts, banned))}
        tally.movies_before += len(ranked)
        tally.violations_before.update(reason.split(":")[0] for v in before.values() for reason in v)
    return {"shown": shown, "ranked": ranked, "violations_after": after, "violations_before": before}


def answered_well(reply: str, shown: int) -> bool:
    """A full set, or a reply that says plainly how many match ("only 2 movies match")."""
    if shown >= FULL_SET:
        return True
    match = _ONLY_N.search(reply or "")
    if not match:
        return False
    said = match.group(1).lower()
    return (int(said) if said.isdigit() else _WORDS[said]) == shown


def run_turn(
    client: ChatClient,
    facts: RawFacts,
    tally: Tally,
    user,
    session: SessionState,
    item_id: str,
    classes: list[str],
    message: str,
    expect: dict,
) -> dict:
    started = time.perf_counter()
    status, data = client.chat(user, message, session.session_id)
    tally.latencies_ms.append((time.perf_counter() - started) * 1000)
    record = {
        "id": item_id,
        "classes": classes,
        "message": message,
        "status": status,
        "expected": expect,
        "reply": (data.get("reply") or "")[:400] if isinstance(data, dict) else "",
    }
    if status != 200:
        tally.errors.append({"id": item_id, "message": message, "status": status, "body": str(data)[:300]})
        record |= {
            "mistakes": {"http": {"expected": [200], "got": [status]}},
            "violations_after": {},
            "violations_before": {},
        }
        tally.turns.append(record)
        return record
    session.session_id = data.get("sessionId") or session.session_id
    record |= count_understanding_source(tally, data)
    record["mistakes"] = score_turn(tally, classes, expect, data, session)
    record |= check_picks(tally, expect, data, session, facts)
    record["got_constraints"] = data.get("constraints")
    acts = set(expect["acts"])
    if acts & {"follow_up"}:
        new = [m for m in record["shown"] if m not in session.last_picks]
        unchanged = session.last_constraints is None or _comparable(data.get("constraints")) == session.last_constraints
        tally.follow_ups["turns"] += 1
        tally.follow_ups["no_new_picks"] += not new
        tally.follow_ups["taste_not_updated"] += not data.get("tasteUpdated", False)
        tally.follow_ups["constraints_unchanged"] += unchanged
        record["follow_up"] = {
            "new_picks": new,
            "taste_updated": data.get("tasteUpdated"),
            "constraints_unchanged": unchanged,
        }
    elif not acts & NO_PICK_ACTS:
        tally.recommend_turns += 1
        ok = answered_well(record["reply"], len(record["shown"]))
        tally.answered += ok
        record["answered"] = ok
    if record["shown"] and not acts & {"follow_up"}:
        if acts & {"mark_seen"}:
            session.seen |= set(session.last_picks)
        session.last_picks = record["shown"]
        session.all_picks |= set(record["shown"])
    elif acts & {"mark_seen"}:
        session.seen |= set(session.last_picks)
    session.last_constraints = _comparable(data.get("constraints"))
    tally.turns.append(record)
    return record


def fallback_kind(reason: str) -> str:
    """The reason's kind ("timeout: read timed out after 6 s" → "timeout") so that reasons can be counted."""
    return re.split(r"[:(]", reason, maxsplit=1)[0].strip() or reason


def count_understanding_source(tally: Tally, data: dict) -> dict:
    """Who read the message (``understoodBy``) and, when the LLM was not used, why (``llmFallback``)."""
    by = data.get("understoodBy") or "(absent)"
    reason = data.get("llmFallback")
    tally.understood_by[by] += 1
    if reason:
        kind = fallback_kind(str(reason))
        tally.llm_fallback[kind] += 1
        tally.llm_fallback_examples.setdefault(kind, str(reason)[:200])
    return {"understood_by": by, "llm_fallback": reason}


def _comparable(constraints: dict | None) -> str:
    return json.dumps(constraints or {}, sort_keys=True)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _new_user(client: ChatClient, tally: Tally, item_id: str) -> tuple[str, str] | None:
    try:
        return client.new_user()
    except httpx.HTTPStatusError as error:
        tally.errors.append({"id": item_id, "message": "(sign-up)", "status": error.response.status_code,
                             "body": error.response.text[:300]})
        return None


def run_corpus(client: ChatClient, facts: RawFacts, requests: list[dict], dialogues: list[dict],
               progress: bool = True) -> Tally:
    tally = Tally()
    for index, item in enumerate(requests, 1):
        user = _new_user(client, tally, item["id"])
        if user is not None:
            run_turn(client, facts, tally, user, SessionState(), item["id"], [item["class"]], item["message"],
                     item["expect"])
        if progress and index % 50 == 0:
            print(f"  requests {index}/{len(requests)}", file=sys.stderr)
    for dialogue in dialogues:
        user, session = _new_user(client, tally, dialogue["id"]), SessionState()
        if user is None:
            continue
        for number, turn in enumerate(dialogue["turns"], 1):
            run_turn(client, facts, tally, user, session, f"{dialogue['id']}#{number}", dialogue["classes"],
                     turn["message"], turn["expect"])
    return tally


# ---- INSPIRED through the chat path ------------------------------------------------------------------

_MENTION = re.compile(r"^(?P<title>.+?)\s*\((?P<year>\d{4})\)$")


def inspired_recall(client: ChatClient, facts: RawFacts, split: str, limit: int | None, k: int = 10) -> dict:
    """Recall@k of the movie the recommender names next, through POST /api/chat, per INSPIRED split."""
    csv.field_size_limit(10**9)
    with open(default_root() / "inspired" / f"{split}.tsv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    by_dialog: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_dialog[row["dialog_id"]].append(row)
    dialog_ids = sorted(by_dialog)[:limit] if limit else sorted(by_dialog)
    targets = hits = shown_hits = chat_turns = failed_turns = 0
    list_lengths: list[int] = []
    failures: Counter = Counter()

    def link(mention: str) -> int | None:
        parsed = _MENTION.match(mention.strip())
        movie = facts.find(parsed.group("title"), int(parsed.group("year"))) if parsed else None
        return movie.movie_id if movie else None

    for dialog_id in dialog_ids:
        try:
            user, session = client.new_user(), None
        except httpx.HTTPStatusError:
            failed_turns += 1
            continue
        mentioned: set[int] = set()
        ranked: list[int] = []
        shown: list[int] = []
        for row in sorted(by_dialog[dialog_id], key=lambda r: int(r["utt_id"])):
            ids = [m for m in (link(x) for x in row["movies"].split(";") if x.strip()) if m is not None]
            text = row["text"].replace("QUOTATION_MARK", '"').strip()[:1000]
            if row["speaker"] == "SEEKER" and text:
                status, data = client.chat(user, text, session)
                chat_turns += 1
                if status == 200:
                    session = data.get("sessionId") or session
                    diagnostics = data.get("diagnostics") or {}
                    cards = [int(c["movieId"]) for c in data.get("recommendations") or []]
                    extra = [int(i) for i in diagnostics.get("rankedMovieIds") or [] if int(i) not in cards]
                    if cards:  # a follow-up answer shows no new list: keep the previous one
                        shown, ranked = cards, cards + extra
                else:
                    failed_turns += 1
                    error = data.get('error') if isinstance(data.get('error'), dict) else {}
                    failures[f"{status} {error.get('code', '')}"] += 1
            elif row["speaker"] == "RECOMMENDER":
                for movie_id in ids:
                    if movie_id in mentioned:
                        continue  # a repetition, not a recommendation
                    targets += 1
                    candidates = [m for m in ranked if m not in mentioned][:k]
                    list_lengths.append(len(candidates))
                    hits += movie_id in candidates
                    shown_hits += movie_id in [m for m in shown if m not in mentioned]
            mentioned.update(ids)
    return {
        "split": split,
        "dialogues": len(dialog_ids),
        "targets": targets,
        f"recall@{k}": round(hits / targets, 4) if targets else None,
        "hits": hits,
        # The cards alone (the chat shows 5 of its ranked 10): the share a person would have seen.
        "recall@shown": round(shown_hits / targets, 4) if targets else None,
        "shown_hits": shown_hits,
        "chat_turns": chat_turns,
        "failed_turns": failed_turns,
        "failures": dict(failures),
        "mean_list_length": round(sum(list_lengths) / len(list_lengths), 2) if list_lengths else 0,
    }


# ---- the report ---------------------------------------------------------------------------------------


def summarise(tally: Tally, inspired: list[dict], elapsed_s: float) -> dict:
    slots = {slot: counts.scores() for slot, counts in tally.slots.items()}
    by_class = {
        cls: {"f1_micro": _micro(counts), "slots": {s: c.scores() for s, c in counts.items() if c.tp + c.fp + c.fn}}
        for cls, counts in sorted(tally.by_class.items())
    }
    turn_count = len(tally.turns)
    bad_after = sum(len(t.get("violations_after") or {}) for t in tally.turns)
    bad_before = sum(len(t.get("violations_before") or {}) for t in tally.turns)
    latencies = sorted(tally.latencies_ms)
    return {
        "turns": turn_count,
        "http_errors": len(tally.errors),
        "elapsed_s": round(elapsed_s, 1),
        "slot_f1_min": min((s["f1"] for s in slots.values() if s["f1"] is not None), default=None),
        "slot_f1_micro": _micro(tally.slots),
        "slots": slots,
        "by_class": by_class,
        "act_accuracy": round(tally.acts["correct"] / max(1, sum(tally.acts.values())), 4),
        "franchise_member_recall": round(sum(tally.franchise_member_recall) / len(tally.franchise_member_recall), 4)
        if tally.franchise_member_recall
        else None,
        "violations_after_final_filter": {
            "movies": tally.movies_after,
            "violating": bad_after,
            "by_reason": dict(tally.violations_after.most_common()),
        },
        "violations_before_final_filter": {
            "movies": tally.movies_before,
            "violating": bad_before,
            "turns_without_diagnostics": tally.no_diagnostics,
            "by_reason": dict(tally.violations_before.most_common()),
        },
        "answered_full_or_only_n": {
            "recommend_turns": tally.recommend_turns,
            "answered": tally.answered,
            "share": round(tally.answered / tally.recommend_turns, 4) if tally.recommend_turns else None,
        },
        "follow_ups": dict(tally.follow_ups),
        "latency_ms": {"p50": _pct(latencies, 0.5), "p95": _pct(latencies, 0.95)} if latencies else {},
        "understood_by": dict(tally.understood_by.most_common()),
        "llm_fallback": dict(tally.llm_fallback.most_common()),
        "llm_fallback_examples": tally.llm_fallback_examples,
        "inspired": inspired,
    }


def _micro(counts: dict[str, SlotCounts]) -> float:
    total = SlotCounts(
        sum(c.tp for c in counts.values()), sum(c.fp for c in counts.values()), sum(c.fn for c in counts.values())
    )
    return total.scores()["f1"]


def _pct(values: list[float], q: float) -> float:
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def worst_failures(tally: Tally, n: int = 40) -> list[dict]:
    def badness(turn: dict) -> int:
        return (
            3 * len(turn.get("violations_after") or {})
            + len(turn.get("violations_before") or {})
            + len(turn.get("mistakes") or {})
        )

    failing = sorted((t for t in tally.turns if badness(t)), key=badness, reverse=True)[:n]
    return [
        {
            "id": t["id"],
            "message": t["message"],
            "mistakes": t.get("mistakes"),
            "violations_after": t.get("violations_after"),
            "violations_before": t.get("violations_before"),
            "reply": t.get("reply"),
        }
        for t in failing
    ]


def compact_turn(turn: dict) -> dict:
    """One turn for the JSON report: labels and returned constraints only where the turn went wrong."""
    wrong = turn.get("mistakes") or turn.get("violations_after") or turn.get("violations_before")
    drop = () if wrong else ("expected", "got_constraints", "reply")
    return {k: v for k, v in turn.items() if k not in drop}


def _report_json(summary: dict, failures: list[dict], tally: Tally) -> dict:
    return {"summary": summary, "worst_failures": failures, "errors": tally.errors[:50],
            "turns": [compact_turn(t) for t in tally.turns]}


def write_reports(out: Path, runs: dict[str, tuple[dict, list[dict], Tally]], name: str = "dialogue",
                  settings: dict | None = None) -> None:
    """``<name>.json`` and ``<name>.md``: one section per corpus run ("development", "heldout")."""
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"settings": settings or {}}
    if "development" in runs:
        report |= _report_json(*runs["development"])
    if "heldout" in runs:
        report["heldout"] = _report_json(*runs["heldout"])
    (out / f"{name}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    title = "`make eval-dialogue`" + (f", {settings['system']}" if settings and settings.get("system") else "")
    lines = [f"# Dialogue evaluation ({title})", ""]
    if settings:
        lines += [f"Settings: {', '.join(f'{k}={v}' for k, v in settings.items())}.", ""]
    if "development" in runs:
        summary, failures, _ = runs["development"]
        lines += corpus_lines(summary, failures, "eval/dialogue/ development corpus", "##")
    if "heldout" in runs:
        summary, failures, _ = runs["heldout"]
        lines += ["", "## Held-out requests (eval/dialogue/heldout_requests.jsonl; the parser is not tuned on them)",
                  ""]
        lines += corpus_lines(summary, failures, "held-out requests", "###")
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")


def understanding_source_lines(summary: dict, level: str) -> list[str]:
    """Who read the messages (rules alone or rules+llm) and why the LLM's reading was not used."""
    lines = ["", f"{level} Who read the messages (`understoodBy`) and LLM fallback reasons (`llmFallback`)", "",
             "| understoodBy | turns |", "|---|---|"]
    lines += [f"| {by} | {n} |" for by, n in summary.get("understood_by", {}).items()]
    if summary.get("llm_fallback"):
        lines += ["", "| llmFallback (kind) | turns | example |", "|---|---|---|"]
        lines += [f"| {kind} | {n} | {summary['llm_fallback_examples'].get(kind, '')} |"
                  for kind, n in summary["llm_fallback"].items()]
    return lines


def corpus_lines(summary: dict, failures: list[dict], corpus: str, level: str) -> list[str]:
    answered = summary["answered_full_or_only_n"]
    lines = [
        f"{summary['turns']} chat turns ({corpus}), {summary['http_errors']} HTTP errors "
        f"({summary.get('retried_after_504', 0)} requests retried once after a 504), "
        f'{summary["elapsed_s"]} s. Protocol: eval/README.md, "Dialogue evaluation".',
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| violating movies after the final filter | {summary['violations_after_final_filter']['violating']} of "
        f"{summary['violations_after_final_filter']['movies']} | 0 |",
        f"| violating movies before it (rankedMovieIds) | {summary['violations_before_final_filter']['violating']} of "
        f"{summary['violations_before_final_filter']['movies']} "
        f"({summary['violations_before_final_filter']['turns_without_diagnostics']} turns without diagnostics) | 0 |",
        f"| lowest per-slot F1 | {summary['slot_f1_min']} | ≥ 0.95 |",
        f"| micro F1 over all slots | {summary['slot_f1_micro']} | |",
        f"| act accuracy | {summary['act_accuracy']} | |",
        f'| answered with a full set or "only N" | {answered["share"]} '
        f"({answered['answered']}/{answered['recommend_turns']}) | 1.0 |",
        f"| follow-ups: no new picks / taste kept / constraints kept | "
        f"{summary['follow_ups'].get('no_new_picks', 0)} / {summary['follow_ups'].get('taste_not_updated', 0)} / "
        f"{summary['follow_ups'].get('constraints_unchanged', 0)} of {summary['follow_ups'].get('turns', 0)} | all |",
        f"| chat turn latency p50 / p95 (HTTP, with diagnostics) | {summary['latency_ms'].get('p50')} / "
        f"{summary['latency_ms'].get('p95')} ms | |",
    ]
    for result in summary["inspired"]:
        lines.append(
            f"| INSPIRED {result['split']} Recall@10 through the chat | {result.get('recall@10')} "
            f"({result['hits']}/{result['targets']}, {result['dialogues']} dialogues; the shown cards alone: "
            f"{result.get('recall@shown')}) | ≥ 0.15 |"
        )
    lines += [
        "",
        f"{level} Per slot",
        "",
        "| slot | precision | recall | F1 | tp | fp | fn |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {slot} | {s['precision']} | {s['recall']} | {s['f1']} | {s['tp']} | {s['fp']} | {s['fn']} |"
        for slot, s in sorted(summary["slots"].items())
    ]
    lines += [
        "",
        f"{level} Per class (micro F1 over the slots the class's labels use)",
        "",
        "| class | micro F1 |",
        "|---|---|",
    ]
    lines += [f"| {cls} | {c['f1_micro']} |" for cls, c in summary["by_class"].items()]
    lines += ["", f"{level} Violations by reason", "", "| reason | after filter | before filter |", "|---|---|---|"]
    reasons = set(summary["violations_after_final_filter"]["by_reason"]) | set(
        summary["violations_before_final_filter"]["by_reason"]
    )
    lines += [
        f"| {r} | {summary['violations_after_final_filter']['by_reason'].get(r, 0)} | "
        f"{summary['violations_before_final_filter']['by_reason'].get(r, 0)} |"
        for r in sorted(reasons)
    ]
    lines += understanding_source_lines(summary, level)
    lines += ["", f"{level} Worst failures (first {min(25, len(failures))})", ""]
    for failure in failures[:25]:
        lines.append(f"- **{failure['id']}** “{failure['message']}”")
        for slot, diff in (failure["mistakes"] or {}).items():
            lines.append(f"  - {slot}: expected {diff['expected']}, got {diff['got']}")
        for movie_id, reasons in list((failure["violations_after"] or {}).items())[:3]:
            lines.append(f"  - shown {movie_id}: {'; '.join(reasons)}")
        for movie_id, reasons in list((failure["violations_before"] or {}).items())[:2]:
            lines.append(f"  - ranked (before filter) {movie_id}: {'; '.join(reasons)}")
    return lines


# ---- the system under test ----------------------------------------------------------------------------


def start_system(env: dict[str, str] | None = None):
    """The whole system as `make up` starts it, in a temporary directory; returns (stack, gateway URL)."""
    from movierec_core.devstack import Stack

    base = {
        **os.environ,
        **(env or {}),
        "GATEWAY_DIAGNOSTICS": "true",
        "GATEWAY_AUTH_RATE_LIMIT": "1000000",
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    stack = Stack(Path(tempfile.mkdtemp(prefix="movierec-eval-dialogue-")), base)
    try:
        stack.start()
    except Exception:
        stack.stop()
        raise
    return stack, str(stack.endpoints["gateway"])


def evaluate(
    base_url: str,
    requests: list[dict],
    dialogues: list[dict],
    inspired_splits: list[str],
    inspired_limit: int | None,
    progress: bool = True,
    timeout_s: float = 30.0,
) -> tuple[dict, list[dict], Tally]:
    facts = load(default_root())
    client = ChatClient(base_url, timeout_s)
    started = time.perf_counter()
    try:
        tally = run_corpus(client, facts, requests, dialogues, progress)
        inspired = [inspired_recall(client, facts, split, inspired_limit) for split in inspired_splits]
    finally:
        client.close()
    summary = summarise(tally, inspired, time.perf_counter() - started)
    summary["retried_after_504"] = client.retried_after_504
    return summary, worst_failures(tally), tally


SHOWN_KEYS = ("turns", "http_errors", "retried_after_504", "slot_f1_min", "slot_f1_micro", "act_accuracy",
              "violations_after_final_filter", "violations_before_final_filter", "answered_full_or_only_n",
              "follow_ups", "understood_by", "llm_fallback", "inspired")


def llm_env(model: str, timeout_s: float | None, reply_timeout_s: float | None = None) -> dict[str, str]:
    """The system as `make up LLM=local` starts it; when given, the timeouts of understanding and replies.

    The gateway's request deadline is raised with it, because the understanding call gets what is left of
    that deadline: without this the LLM could not answer in time on a loaded machine and every turn would
    be read by the rules alone (which the report would show as ``llmFallback`` timeouts).
    """
    env = {"MOVIEREC_LLM": "local", "LLM_LOCAL_MODEL": model}
    if timeout_s:
        env |= {"LLM_TIMEOUT_UNDERSTAND_S": str(timeout_s),
                "GATEWAY_REQUEST_TIMEOUT_S": str(timeout_s + (reply_timeout_s or 15) + 10)}
    if reply_timeout_s:
        env["LLM_TIMEOUT_REPLY_S"] = str(reply_timeout_s)
    return env


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--gateway", help="base URL of a running gateway (GATEWAY_DIAGNOSTICS=true)")
    target.add_argument("--endpoints", type=Path, help="a `make up` endpoints.json (e.g. .run/endpoints.json)")
    parser.add_argument("--corpus", choices=("both", "dev", "heldout"), default="both",
                        help="development corpus (requests + dialogues), held-out requests, or both (default)")
    parser.add_argument("--llm", choices=("off", "local"), default="off",
                        help="local: start the system with the local LLM server (MOVIEREC_LLM=local)")
    parser.add_argument("--llm-model", default="0.5b", help="LLM_LOCAL_MODEL for --llm local")
    parser.add_argument("--llm-timeout-s", type=float, default=None,
                        help="LLM_TIMEOUT_UNDERSTAND_S for --llm local (default: the system's own)")
    parser.add_argument("--llm-reply-timeout-s", type=float, default=None,
                        help="LLM_TIMEOUT_REPLY_S for --llm local (the reply is not what this measures; a short "
                             "one keeps a run within its time on a shared machine)")
    parser.add_argument("--timeout-s", type=float, default=None, help="HTTP timeout per chat turn (30; 300 with --llm)")
    parser.add_argument("--limit-requests", type=int, default=None, help="first N requests of each corpus")
    parser.add_argument("--limit-dialogues", type=int, default=None)
    parser.add_argument("--inspired", default="dev,test", help="INSPIRED splits through the chat, or 'none'")
    parser.add_argument("--inspired-limit", type=int, default=None, help="first N dialogues of each split")
    parser.add_argument("--out", type=Path, default=REPO / "reports")
    parser.add_argument("--report-name", default=None,
                        help="report file stem (default: dialogue; dialogue-llm with --llm; dialogue-heldout "
                             "for --corpus heldout), so one run never overwrites another's figures")
    args = parser.parse_args(argv)
    splits = [] if args.inspired == "none" else [s for s in args.inspired.split(",") if s]
    if bad := [s for s in splits if s not in ("dev", "test")]:
        parser.error(f"unknown INSPIRED split {bad}")
    args.splits = splits
    if args.llm != "off" and (args.gateway or args.endpoints):
        parser.error("--llm starts the system itself; for a running system with an LLM, pass --gateway and "
                     "--report-name")
    if args.report_name is None:
        args.report_name = ("dialogue-llm" if args.llm != "off"
                            else "dialogue-heldout" if args.corpus == "heldout" else "dialogue")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    corpora = {"development": args.corpus in ("both", "dev"), "heldout": args.corpus in ("both", "heldout")}
    timeout_s = args.timeout_s or (300.0 if args.llm != "off" else 30.0)
    settings = {"corpus": args.corpus, "limit_requests": args.limit_requests,
                "system": f"LLM local {args.llm_model}" if args.llm != "off" else "rules only (no LLM configured)"}
    if args.llm != "off":
        settings["llm_understand_timeout_s"] = args.llm_timeout_s or "system default"
        settings["llm_reply_timeout_s"] = args.llm_reply_timeout_s or "system default"
    stack = None
    if args.gateway:
        base_url = args.gateway
        settings["system"] = f"running gateway {base_url}"
    elif args.endpoints:
        base_url = json.loads(args.endpoints.read_text())["gateway"]
        settings["system"] = f"running system {args.endpoints}"
    else:
        print("starting the system (as `make up`) ...", file=sys.stderr)
        env = llm_env(args.llm_model, args.llm_timeout_s, args.llm_reply_timeout_s) if args.llm != "off" else None
        stack, base_url = start_system(env)
    runs = {}
    try:
        if corpora["development"]:
            requests = read_jsonl(CORPUS / "requests.jsonl")[: args.limit_requests]
            dialogues = read_jsonl(CORPUS / "dialogues.jsonl")[: args.limit_dialogues]
            runs["development"] = evaluate(base_url, requests, dialogues, args.splits, args.inspired_limit,
                                           timeout_s=timeout_s)
        if corpora["heldout"]:
            heldout = read_jsonl(CORPUS / "heldout_requests.jsonl")[: args.limit_requests]
            runs["heldout"] = evaluate(base_url, heldout, [], [], None, timeout_s=timeout_s)
    finally:
        if stack is not None:
            stack.stop()
    settings["uptime"] = machine_load()
    write_reports(args.out, runs, args.report_name, settings)
    for corpus, (summary, _, _) in runs.items():
        print(json.dumps({"corpus": corpus, **{k: summary[k] for k in SHOWN_KEYS if k in summary}}, indent=1))
    print(f"wrote {args.out / (args.report_name + '.json')} and {args.out / (args.report_name + '.md')}")
    return 0


def machine_load() -> str:
    """The load average when the run ended (the 2-core machine is shared; latencies depend on it)."""
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
