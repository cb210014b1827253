"""Put dead-lettered review events back on the bus: `make redrive-deadletters` (dry run by default).

    python -m profile_service.redrive                          # report what would be redriven
    python -m profile_service.redrive --code RETRIES_EXHAUSTED # only events parked with that code
    python -m profile_service.redrive --apply --limit 500      # redrive the 500 oldest

Entries are taken oldest first. With ``--apply`` each one is moved, in one Lua script, out of the
dead-letter list and id index into the pending ledger (so a redriven event is never lost: if the
publish below fails, the worker's sweeper re-publishes it), then published with its own event id.
A second run finds nothing left to redrive; applying stays idempotent by event id, and an event that
is still invalid is parked again (and counted again by the dead-letter alert's counter). Entries of
tasks the bus no longer carries, or without an event id, are reported and left in place.

Prints a JSON report; exit status 0, or 2 for a configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field

from celery import Celery

from movierec_core.config import ConfigError
from movierec_profile_contract import REVIEW_TASK, ledger_entry, queue_from_env, send_event
from profile_service.settings import StoreSettings
from profile_service.store import ProfileStore

CHUNK = 1000
MAX_LISTED = 20


@dataclass
class Candidate:
    raw: bytes
    event_id: str
    code: str
    event: dict


@dataclass
class RedriveReport:
    apply: bool
    codes: list[str]
    parked: int = 0
    matched: int = 0
    redriven: int = 0
    gone: int = 0  # redriven by someone else between the read and the move
    publish_failed: int = 0  # left in the pending ledger: the worker's sweeper publishes them
    by_code: dict[str, int] = field(default_factory=dict)
    not_redrivable: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)


def candidates(store: ProfileStore, codes: set[str], limit: int, report: RedriveReport) -> list[Candidate]:
    """Parked entries to redrive, oldest first (the list is newest first)."""
    client, key = store.client, store.deadletter_key
    total = client.llen(key)
    report.parked = total
    found: list[Candidate] = []
    by_code: Counter[str] = Counter()
    end = total - 1
    while end >= 0 and len(found) < limit:
        start = max(0, end - CHUNK + 1)
        for raw in reversed(client.lrange(key, start, end)):
            entry = json.loads(raw)
            code = str(entry.get("code", ""))
            if codes and code not in codes:
                continue
            event = entry.get("event")
            event_id = event.get("event_id") if isinstance(event, dict) else None
            if entry.get("task") != REVIEW_TASK or not isinstance(event_id, str) or not event_id:
                if len(report.not_redrivable) < MAX_LISTED:
                    report.not_redrivable.append(f"{entry.get('task')} {entry.get('task_id')} ({code}): "
                                                 "not a review event with an event id")
                continue
            by_code[code] += 1
            found.append(Candidate(raw, event_id, code, event))
            if len(found) >= limit:
                break
        end = start - 1
    report.matched = len(found)
    report.by_code = dict(by_code)
    return found


def redrive(store: ProfileStore, app: Celery | None, queue: str, *, codes: set[str], limit: int,
            apply: bool) -> RedriveReport:
    report = RedriveReport(apply=apply, codes=sorted(codes))
    found = candidates(store, codes, limit, report)
    for candidate in found:
        if len(report.event_ids) < MAX_LISTED:
            report.event_ids.append(candidate.event_id)
        if not apply:
            continue
        if not store.take_for_redrive(candidate.raw, candidate.event_id, ledger_entry(REVIEW_TASK, candidate.event)):
            report.gone += 1
            continue
        try:
            send_event(app, REVIEW_TASK, candidate.event, candidate.event_id, queue)
        except Exception:  # kombu's errors: the ledger entry stays, the sweeper publishes it
            report.publish_failed += 1
        report.redriven += 1
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m profile_service.redrive", description=__doc__.split("\n")[0])
    parser.add_argument("--apply", action="store_true", help="redrive (default: a dry run that changes nothing)")
    parser.add_argument("--code", action="append", default=[],
                        help="only entries parked with this code (repeatable; e.g. RETRIES_EXHAUSTED)")
    parser.add_argument("--limit", type=int, default=10_000, help="at most this many entries (oldest first)")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be at least 1")
    try:
        settings = StoreSettings.from_env()
        queue = queue_from_env()
    except ConfigError as error:
        print(f"redrive: {error}", file=sys.stderr)
        return 2
    store = ProfileStore(settings)
    app = Celery("movierec-redrive", broker=settings.redis_url, set_as_current=False) if args.apply else None
    if app is not None:
        app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True)
    try:
        report = redrive(store, app, queue, codes=set(args.code), limit=args.limit, apply=args.apply)
    finally:
        if app is not None:
            app.close()
    print(json.dumps(report.__dict__, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
