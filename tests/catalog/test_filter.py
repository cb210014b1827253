"""The one Filter: per-movie semantics, the vectorised mask agreeing with them, proto round trips."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from movierec.common.v1 import common_pb2
from movierec_catalog.filter import CERT_RANK, Filter, FilterColumns
from movierec_core.errors import ServiceError


def first(catalog, predicate):
    return next(m for m in map(catalog.get, catalog.movies.index) if predicate(m))


def test_missing_metadata_is_never_safe(catalog):
    godfather = catalog.get(858)
    assert Filter(min_year=1970, max_year=1979, include_genres=["Crime"]).admits(godfather)
    assert Filter(max_certification="PG-13").explain_violations(godfather) == ["certification R above PG-13"]
    assert Filter(min_certification="PG-13").admits(godfather)
    assert Filter(min_certification="NC-17").violations(godfather) == ["min_certification"]
    no_runtime = first(catalog, lambda m: m.runtime_min is None)
    assert Filter(max_runtime_min=500).violations(no_runtime) == ["runtime_unknown"]
    assert Filter(max_runtime_min=500, lenient_runtime=True).admits(no_runtime)
    assert Filter(min_runtime_min=1, lenient_runtime=True).admits(no_runtime)
    unrated = first(catalog, lambda m: m.certification is None)
    assert Filter(max_certification="NC-17").violations(unrated) == ["certification_unknown"]
    assert Filter(min_certification="G").violations(unrated) == ["certification_unknown"]
    assert not Filter(original_language="fr").admits(godfather)
    assert Filter(original_language="EN").admits(godfather)  # one canonical spelling


def test_estimates_count_only_when_opted_in(catalog):
    unrated = first(catalog, lambda m: m.certification is None)
    estimated = dataclasses.replace(unrated, certification_estimate="PG", certification_confidence=0.97,
                                    certification_estimate_max="PG-13", certification_estimate_min="PG")
    cap = Filter(max_certification="PG-13")
    assert not cap.admits(estimated)  # estimates never count unless asked for
    assert dataclasses.replace(cap, use_certification_estimates=True).admits(estimated)
    # The bound, not the most likely label, decides: PG-likely but "at most PG-13" fails a PG cap.
    assert not Filter(max_certification="PG", use_certification_estimates=True).admits(estimated)
    assert Filter(min_certification="PG", use_certification_estimates=True).admits(estimated)
    assert not Filter(min_certification="PG-13", use_certification_estimates=True).admits(estimated)
    # An official certification always wins over an estimate.
    official = dataclasses.replace(estimated, certification="R")
    assert not dataclasses.replace(cap, use_certification_estimates=True).admits(official)


FILTERS = [
    Filter(include_genres=["Comedy"], exclude_genres=["Horror", "Romance"]),
    Filter(min_year=1990, max_year=1999),
    Filter(max_runtime_min=95),
    Filter(min_runtime_min=120, max_runtime_min=150, lenient_runtime=True),
    Filter(max_certification="PG"),
    Filter(min_certification="R"),
    Filter(min_certification="PG", max_certification="PG-13", use_certification_estimates=True),
    Filter(original_language="fr"),
    Filter(original_language="xx"),
    Filter(include_genres=["Animation"], max_certification="G", min_year=2000),
]


@pytest.mark.parametrize("spec", FILTERS, ids=lambda f: ",".join(f.describe()))
def test_vectorised_mask_agrees_with_the_per_movie_check(catalog, spec):
    movies = catalog.movies
    ids = movies.index.to_numpy()
    columns = FilterColumns.build(movies, ids)
    mask = spec.mask(columns)
    expected = np.array([spec.admits(catalog.get(int(i))) for i in ids])
    assert mask.sum() == expected.sum()
    assert np.array_equal(mask, expected)


def test_columns_of_rows_missing_from_the_catalog_fail_every_attribute(catalog):
    columns = FilterColumns.build(catalog.movies, np.array([1, 99999999], dtype=np.int64))
    assert columns.missing_from_catalog == 1
    assert Filter(min_year=1900).mask(columns).tolist() == [True, False]
    assert columns.lookup(np.array([99999999, 5])).tolist() == [1, -1]


def test_proto_round_trip_keeps_every_field():
    spec = Filter(exclude_movie_ids={3, 1}, only_movie_ids={7}, include_genres=["Comedy"],
                  exclude_genres=["Horror"], min_year=1990, max_year=1999, min_runtime_min=60,
                  max_runtime_min=119, lenient_runtime=True, min_certification="PG", max_certification="PG-13",
                  use_certification_estimates=True, original_language="fr")
    message = spec.to_proto()
    assert list(message.exclude_movie_ids) == [1, 3] and message.max_certification == CERT_RANK["PG-13"]
    assert message.min_certification == common_pb2.CERTIFICATION_PG
    assert Filter.from_proto(message) == spec
    assert not Filter().to_proto().HasField("min_year") and Filter().to_proto().ByteSize() == 0


def test_from_proto_names_every_offending_field():
    message = common_pb2.Filter(include_genres=["Comedy", "Cowboys"], min_year=2000, max_year=1990,
                                min_runtime_min=0, max_certification=common_pb2.CERTIFICATION_G,
                                min_certification=common_pb2.CERTIFICATION_R, original_language="zz")
    with pytest.raises(ServiceError) as caught:
        Filter.from_proto(message, known_genres=["Comedy", "Drama"], known_languages=["en", "fr"])
    fields = [name for name, _ in caught.value.field_violations]
    assert fields == ["filter.include_genres[1]", "filter.original_language", "filter.min_year",
                      "filter.min_runtime_min", "filter.min_certification"]


def test_genres_take_the_catalog_spelling():
    spec = Filter.from_proto(common_pb2.Filter(include_genres=["sci-fi"]), known_genres=["Sci-Fi"])
    assert spec.include_genres == ("Sci-Fi",)


def test_describe_in_words():
    lines = Filter(exclude_genres=["Horror"], max_runtime_min=95, max_certification="PG").describe()
    assert lines == ["no Horror", "at most 95 min", "rated PG or milder"]
