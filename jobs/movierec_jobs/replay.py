"""Rebuild every profile from the interaction log and compare it with the live profiles.

    python -m movierec_jobs.replay                       # live stream → prefix movierec:replay:
    python -m movierec_jobs.replay --target-url redis://host:6379/1 --target-prefix movierec:
    python -m movierec_jobs.replay --from-parquet interactions.parquet

Each log entry is applied, in log order, with the same Lua scripts as the live path (logging
off), from what the entry carries: movie ids (vectors from the index artifact), rating, the text
embedding, and the constants in force at the time. The log order is the order the live updates
were serialized in, so the rebuilt vectors equal the live ones up to float rounding. Prints a JSON
report; exit status 0 when every profile matches within ``--tolerance``, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from movierec_core.config import ConfigError
from movierec_core.index_artifact import ArtifactError
from movierec_jobs.export_log import read_interactions
from movierec_profile_contract import ProfileKeys
from profile_service.interactions import Interaction
from profile_service.settings import ProfileSettings
from profile_service.store import ProfileNotFound, ProfileState, ProfileStore, TasteSnapshot
from profile_service.vectors import MovieVectors

DEFAULT_TARGET_PREFIX = ProfileKeys().replay().prefix
MAX_LISTED = 20


@dataclass
class ReplayReport:
    entries: int = 0
    applied: int = 0
    duplicates: int = 0
    skipped_no_profile: int = 0
    skipped_unknown_movie: int = 0
    skipped_invalid: int = 0
    index_version_mismatches: int = 0
    users_compared: int = 0
    users_missing_in_replay: list[str] = field(default_factory=list)
    users_changed_during_replay: list[str] = field(default_factory=list)
    mismatched_users: list[dict] = field(default_factory=list)
    max_abs_diff: float = 0.0
    max_abs_diff_recent: float = 0.0
    seconds: float = 0.0

    def ok(self, tolerance: float) -> bool:
        return (not self.mismatched_users and not self.users_missing_in_replay
                and self.max_abs_diff <= tolerance and self.max_abs_diff_recent <= tolerance)


def live_entries(store: ProfileStore) -> tuple[Iterator[Interaction], str | None]:
    """The live log up to its current last entry (events arriving during replay are left out)."""
    last = store.client.xrevrange(store.interactions_key, count=1)
    if not last:
        return iter(()), None
    last_id = last[0][0].decode()
    entries = (Interaction.from_fields(fields) for _, fields in store.read_stream(store.interactions_key,
                                                                                    last_id=last_id))
    return entries, last_id


def rebuild(entries: Iterable[Interaction], target: ProfileStore, movies: MovieVectors,
            report: ReplayReport, batch: int = 500) -> dict[str, int]:
    """Apply every entry to ``target`` in log order; returns each user's last logged version."""
    logged_versions: dict[str, int] = {}
    chunk: list[Interaction] = []
    for event in entries:
        report.entries += 1
        if event.version is not None:
            logged_versions[event.user_id] = event.version
        if event.index_version and event.index_version != movies.version:
            report.index_version_mismatches += 1
        chunk.append(event)
        if len(chunk) >= batch:
            _apply_chunk(chunk, target, movies, report)
            chunk = []
    if chunk:
        _apply_chunk(chunk, target, movies, report)
    return logged_versions


def _apply_chunk(chunk: list[Interaction], target: ProfileStore, movies: MovieVectors,
                 report: ReplayReport) -> None:
    for outcome in target.apply_many(chunk, movies, log=False):
        if isinstance(outcome, ProfileNotFound):
            report.skipped_no_profile += 1  # its onboarding was trimmed from the capped log
        elif isinstance(outcome, KeyError):
            report.skipped_unknown_movie += 1  # the index no longer holds the movie
        elif isinstance(outcome, Exception):
            report.skipped_invalid += 1
        elif outcome.applied:
            report.applied += 1
        else:
            report.duplicates += 1


def compare(live: ProfileStore, rebuilt: ProfileStore, logged_versions: dict[str, int], report: ReplayReport,
            tolerance: float) -> None:
    for user_id in live.user_ids():
        live_state = live.load(user_id)
        if live_state is None:
            continue
        if user_id not in logged_versions:
            report.users_missing_in_replay.append(user_id)  # its whole history was trimmed from the log
            continue
        if logged_versions[user_id] != live_state.version:
            report.users_changed_during_replay.append(user_id)  # events applied after the snapshot
            continue
        replayed = rebuilt.load(user_id)
        if replayed is None:
            report.users_missing_in_replay.append(user_id)
            continue
        report.users_compared += 1
        problems = differences(live_state, replayed, tolerance, report)
        problems += history_differences(live.taste_history(user_id), rebuilt.taste_history(user_id), tolerance)
        if problems and len(report.mismatched_users) < MAX_LISTED:
            report.mismatched_users.append({"user_id": user_id, "problems": problems})


def history_differences(live: list[TasteSnapshot], replayed: list[TasteSnapshot], tolerance: float) -> list[str]:
    """The taste history's snapshots on the days both have must agree (version and vector). Days only the
    live history has are not a difference: they predate the log (trimmed) or the replay's first event."""
    problems = []
    rebuilt = {snapshot.day: snapshot for snapshot in replayed}
    for snapshot in live:
        other = rebuilt.get(snapshot.day)
        if other is None:
            continue
        diff = float(np.abs(snapshot.vector.astype(np.float64) - other.vector).max())
        if other.version != snapshot.version or diff > tolerance:
            problems.append(f"taste history of day {snapshot.day}: live version {snapshot.version} ≠ replayed "
                            f"{other.version} or vector differs by {diff:.3g}")
    return problems


def differences(live: ProfileState, replayed: ProfileState, tolerance: float, report: ReplayReport) -> list[str]:
    problems = []
    diff = float(np.abs(live.vector.astype(np.float64) - replayed.vector).max())
    report.max_abs_diff = max(report.max_abs_diff, diff)
    if diff > tolerance:
        problems.append(f"vector differs by {diff:.3g}")
    if (live.recent is None) != (replayed.recent is None):
        problems.append("recent-interest vector present in only one of them")
    elif live.recent is not None:
        recent_diff = float(np.abs(live.recent.astype(np.float64) - replayed.recent).max())
        report.max_abs_diff_recent = max(report.max_abs_diff_recent, recent_diff)
        if recent_diff > tolerance:
            problems.append(f"recent-interest vector differs by {recent_diff:.3g}")
    for name, live_value, replayed_value in (("version", live.version, replayed.version),
                                             ("counters", live.counters, replayed.counters),
                                             ("ratings", live.ratings, replayed.ratings),
                                             ("liked", live.liked_movie_ids, replayed.liked_movie_ids)):
        if live_value != replayed_value:
            problems.append(f"{name}: live {live_value} ≠ replayed {replayed_value}")
    return problems


def overlaps(live_prefix: str, target_prefix: str) -> bool:
    """True when deleting or writing ``target_prefix*`` could touch a live key."""
    live_names = ProfileKeys(live_prefix).names()
    return live_prefix.startswith(target_prefix) or any(
        target_prefix.startswith(live_prefix + name) or (live_prefix + name).startswith(target_prefix)
        for name in live_names)


def run(settings: ProfileSettings, *, target_url: str | None, target_prefix: str, parquet: Path | None,
        tolerance: float, keep: bool) -> ReplayReport:
    started = time.perf_counter()
    live = ProfileStore(settings.store)
    target_settings = replace(settings.store, redis_url=target_url or settings.store.redis_url)
    same_db = target_settings.redis_url == settings.store.redis_url
    if same_db and overlaps(live.prefix, target_prefix):
        raise ConfigError(f"--target-prefix {target_prefix!r} would overwrite live keys under {live.prefix!r}")
    target = ProfileStore(target_settings, client=live.client if same_db else None, prefix=target_prefix)
    movies = MovieVectors.load(settings.index_dir)
    target.delete_prefix()
    report = ReplayReport()
    entries = read_interactions(parquet) if parquet else live_entries(live)[0]
    logged_versions = rebuild(entries, target, movies, report)
    compare(live, target, logged_versions, report, tolerance)
    if not keep:
        target.delete_prefix()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m movierec_jobs.replay", description=__doc__.split("\n")[0])
    parser.add_argument("--target-url", default=None, help="Redis to rebuild into (default: REDIS_URL)")
    parser.add_argument("--target-prefix", default=DEFAULT_TARGET_PREFIX,
                        help=f"key prefix of the rebuilt profiles (default {DEFAULT_TARGET_PREFIX})")
    parser.add_argument("--from-parquet", type=Path, default=None,
                        help="replay an export of the log instead of the live stream")
    parser.add_argument("--tolerance", type=float, default=1e-6, help="max abs difference per component")
    parser.add_argument("--cleanup", action="store_true", help="delete the rebuilt profiles afterwards")
    args = parser.parse_args(argv)
    try:
        settings = ProfileSettings.from_env(require_embedding=False)
        report = run(settings, target_url=args.target_url, target_prefix=args.target_prefix,
                     parquet=args.from_parquet, tolerance=args.tolerance, keep=not args.cleanup)
    except (ConfigError, ArtifactError) as error:
        print(f"replay: {error}", file=sys.stderr)
        return 2
    ok = report.ok(args.tolerance)
    print(json.dumps({"ok": ok, "tolerance": args.tolerance, **report.__dict__}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
