"""The serving index reference and its atomic hot swap.

A new version is loaded completely on a worker thread (checksums, FAISS, catalog attributes),
then one attribute assignment swaps it in. Requests read ``holder.current`` once and keep that
object for their whole life, so in-flight requests finish on the version they started with and
the old version is freed when the last of them drops it. A failed load leaves the serving
version untouched.

Two triggers: the ReloadIndex RPC, and a watcher that polls the configured index directory
(normally the ``current`` symlink) and reloads when its target or manifest changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import prometheus_client

from movierec_core.logs import log_fields
from retrieval_service.index import CatalogCache, IndexLoadError, LoadedIndex, load_index, read_manifest, signature_of
from retrieval_service.settings import RetrievalSettings

log = logging.getLogger("retrieval.holder")
RELOADS = prometheus_client.Counter("movierec_retrieval_index_reloads_total",
                                    "Index loads by outcome (swapped, unchanged, failed).", ("outcome",))
SERVING_COUNT = prometheus_client.Gauge("movierec_retrieval_index_movies", "Movies in the serving index.")


def fingerprint(path: Path) -> tuple | None:
    """What the watcher compares between polls: the resolved target and its manifest's stat."""
    resolved = os.path.realpath(path)
    try:
        stat = os.stat(os.path.join(resolved, "manifest.json"))
    except OSError:
        return (resolved, None)
    return (resolved, stat.st_mtime_ns, stat.st_size, stat.st_ino)


def is_serving(path: Path, current: LoadedIndex) -> bool:
    """True when ``path`` holds exactly the version that is serving (same directory and files)."""
    manifest = read_manifest(path)
    return (manifest is not None and Path(path).resolve() == current.path
            and signature_of(manifest) == current.signature)


class IndexHolder:
    """Owns the serving :class:`LoadedIndex` and every change to it."""

    def __init__(self, settings: RetrievalSettings):
        self.settings = settings
        self.current: LoadedIndex | None = None
        self.not_ready_reason = "the index is still loading"
        self._lock = asyncio.Lock()
        self._loaded = asyncio.Event()
        self._catalogs = CatalogCache()
        self._seen: tuple | None = None
        self._watcher: asyncio.Task | None = None

    async def start(self) -> None:
        """Load ``index_dir`` and start the watcher; returns once a version is serving.

        While no version loads (missing, corrupted, mismatched artifact) the tier stays
        NOT_SERVING, logging why, and keeps retrying whenever the watcher polls.
        """
        self._seen = fingerprint(self.settings.index_dir)
        try:
            await self.reload()
        except IndexLoadError as error:
            self._not_ready(str(error))
        self._watcher = asyncio.create_task(self._watch(), name="index-watcher")
        await self._loaded.wait()

    @property
    def catalogs(self) -> CatalogCache:
        """The catalog attributes cache, shared with the keyphrase holder (retrieval_service.keyphrases)."""
        return self._catalogs

    def version_dir(self, version: str | None) -> Path:
        return self.settings.index_root / version if version else self.settings.index_dir

    async def reload(self, version: str | None = None) -> tuple[LoadedIndex, bool]:
        """Load ``version`` (default: the configured index dir) and swap it in.

        Returns (serving index, swapped); swapped is False when that version was already serving.
        Raises IndexLoadError with the reason when it cannot be loaded (the old one keeps serving).
        """
        path = self.version_dir(version)
        async with self._lock:
            current = self.current
            if current is not None and is_serving(path, current):
                RELOADS.labels("unchanged").inc()
                return current, False
            try:
                loaded = await asyncio.to_thread(load_index, path, self.settings, self._catalogs)
            except IndexLoadError:
                RELOADS.labels("failed").inc()
                raise
            except Exception as error:  # e.g. a malformed manifest field: still a bad artifact
                RELOADS.labels("failed").inc()
                raise IndexLoadError(f"index at {path} cannot be loaded: {type(error).__name__}: {error}") \
                    from None
            self.current = loaded  # the swap: one reference assignment
            self._loaded.set()
            RELOADS.labels("swapped").inc()
            SERVING_COUNT.set(loaded.count)
        log.info("index swapped in", extra=log_fields(
            version=loaded.version, previous=current.version if current else None, path=str(loaded.path)))
        return loaded, True

    async def _watch(self) -> None:
        interval = self.settings.watch_interval_s
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            seen = fingerprint(self.settings.index_dir)
            if seen == self._seen and self.current is not None:
                continue
            self._seen = seen
            try:
                await self.reload()
            except IndexLoadError as error:
                if self.current is None:
                    self._not_ready(str(error))
                else:
                    log.error("index reload failed; still serving %s: %s", self.current.version, error,
                              extra=log_fields(path=str(self.settings.index_dir)))
            except Exception:  # the watcher must survive anything a bad artifact throws at it
                log.exception("index watcher error")

    def _not_ready(self, reason: str) -> None:
        if reason != self.not_ready_reason:
            log.error("index not loaded, staying NOT_SERVING: %s", reason,
                      extra=log_fields(index_dir=str(self.settings.index_dir)))
        self.not_ready_reason = reason
