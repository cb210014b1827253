"""The entry point of understanding: ``understand(message, context) -> Understanding``.

Build :class:`UnderstandingResources` once at gateway start (the catalog's title/people index and the
franchise index), then pass a :class:`DialogueContext` per message (the previous picks, the active
constraints, the dialogue so far). With an LLM configured, :func:`understand_with_llm`
(:mod:`.llm_understand`) adds the LLM's reading under the merge rule of services/gateway/README.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway_service.dialogue.franchises import FranchiseIndex, load_or_build
from gateway_service.dialogue.linking import TitleLinker
from gateway_service.dialogue.rules import ReaderContext, read
from gateway_service.dialogue.understanding import HardConstraints, Understanding
from movierec_catalog import Catalog, Movie

log = logging.getLogger("movierec.gateway.dialogue")


@dataclass(frozen=True)
class UnderstandingResources:
    """What understanding needs from the catalog, built once."""

    catalog: Catalog
    linker: TitleLinker
    franchises: FranchiseIndex

    @classmethod
    def from_catalog(cls, catalog: Catalog, franchise_path: str | Path | None = None) -> UnderstandingResources:
        started = time.perf_counter()
        linker = TitleLinker.from_catalog(catalog)
        franchises = load_or_build(catalog, franchise_path)
        log.info("understanding resources ready", extra={"seconds": round(time.perf_counter() - started, 3),
                                                         "franchises": len(franchises)})
        return cls(catalog, linker, franchises)


@dataclass
class DialogueContext:
    """The dialogue so far, as understanding sees it."""

    resources: UnderstandingResources | None = None
    picks: Sequence[Movie] = ()  # the previous answer's picks in the order shown
    active: HardConstraints | None = None  # the session's constraints before this message
    history: list[dict] = field(default_factory=list)  # [{"role": "user"|"assistant", "text": ...}], oldest first

    def reader_context(self) -> ReaderContext:
        res = self.resources
        return ReaderContext(linker=res.linker if res else None, franchises=res.franchises if res else None,
                             picks=self.picks, active=self.active)


def understand(message: str, context: DialogueContext | None = None) -> Understanding:
    """The rule-based understanding of one message (pure CPU, typically well under 5 ms)."""
    context = context or DialogueContext()
    return read(message, context.reader_context())
