"""Retrieval's use of the one Filter (``movierec_catalog.filter``): requests validated against the
index's own vocabulary, and attribute masks cached per filter.

The catalog's facts are turned once per index version into flat arrays aligned with the index
rows (:class:`~movierec_catalog.filter.FilterColumns`), so a request's filter becomes a handful of
vectorised comparisons and never touches the catalog DataFrame. The semantics (unknown metadata is
never safe) live in the Filter itself.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from movierec.common.v1 import common_pb2
from movierec_catalog.filter import EMPTY, UNKNOWN, Filter, FilterColumns

__all__ = ["EMPTY", "UNKNOWN", "Filter", "FilterColumns", "MaskCache", "build_attributes", "parse_filter"]

MASK_CACHE_SIZE = 256


def build_attributes(movies, movie_ids: np.ndarray) -> FilterColumns:
    """Align the catalog's filterable facts with the index rows (once per index version)."""
    return FilterColumns.build(movies, movie_ids)


def parse_filter(message: common_pb2.Filter, attributes: FilterColumns, field: str = "filter") -> Filter:
    """Validate a proto Filter against the index's genres and languages.

    Raises INVALID_ARGUMENT naming every offending field (e.g. ``filter.include_genres[1]``).
    Excluded ids that are not in the index are accepted: excluding them changes nothing.
    """
    return Filter.from_proto(message, known_genres=attributes.genre_names,
                             known_languages=attributes.language_names, field=field)


class MaskCache:
    """Attribute masks of recently seen filters, keyed by the filter without its id lists
    (callers repeat the same constraints with different exclusions)."""

    def __init__(self, attributes: FilterColumns, size: int = MASK_CACHE_SIZE):
        self._attributes = attributes
        self._size = size
        self._masks: OrderedDict[Filter, tuple[np.ndarray, int]] = OrderedDict()

    def get(self, spec: Filter) -> tuple[np.ndarray, int]:
        """(read-only mask, number of rows it admits) of ``spec``'s attribute conditions."""
        key = spec.attribute_part
        cached = self._masks.get(key)
        if cached is not None:
            self._masks.move_to_end(key)
            return cached
        mask = key.mask(self._attributes)
        mask.setflags(write=False)
        entry = (mask, int(np.count_nonzero(mask)))
        self._masks[key] = entry
        if len(self._masks) > self._size:
            self._masks.popitem(last=False)
        return entry
