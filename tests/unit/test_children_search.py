"""Blind indexes and the placing of life-story dates: pure rules, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from services.children.api import parse_as_of
from services.children.search import (
    SearchKey,
    digest,
    entries,
    normalise_name,
    query_digest,
    search_key,
)
from services.children.timeline import at_age, life_date
from services.governance.anchors import chain_key
from shared.domain import Invalid
from shared.settings import development_settings

KEY = b"k" * 32


def test_names_match_whatever_their_case_accents_spaces_and_hyphens() -> None:
    assert normalise_name("  Zoë O'Brien-Smith ") == normalise_name("zoe obriensmith")
    assert normalise_name("ZOË") == "zoe"


def test_a_family_name_prefix_of_two_letters_or_more_finds_the_full_name() -> None:
    indexed = {d for kind, d in entries(KEY, "family_name", "Varnthorpe")}
    for prefix in ("va", "VAR", "varnth", "Varnthorpe"):
        assert query_digest(KEY, SearchKey.FAMILY_NAME_PREFIX, prefix) in indexed
    assert query_digest(KEY, SearchKey.FAMILY_NAME_PREFIX, "varnw") not in indexed
    with pytest.raises(ValueError, match="at least 2 letters"):
        query_digest(KEY, SearchKey.FAMILY_NAME_PREFIX, "v")


def test_the_same_text_under_another_key_kind_or_master_key_gives_another_digest() -> None:
    assert digest(KEY, SearchKey.GIVEN_NAME, "ada") != digest(
        KEY, SearchKey.FAMILY_NAME_PREFIX, "ada"
    )
    assert digest(KEY, SearchKey.GIVEN_NAME, "ada") != digest(
        b"j" * 32, SearchKey.GIVEN_NAME, "ada"
    )


def test_the_search_key_is_derived_from_the_master_key_apart_from_the_chain_key(
    tmp_path: Path,
) -> None:
    one = development_settings(tmp_path / "one")
    two = development_settings(tmp_path / "two")
    assert search_key(one) == search_key(one)
    assert search_key(one) != search_key(two)
    assert search_key(one) != chain_key(one)


def test_identifiers_are_indexed_in_their_clean_form() -> None:
    (nhs,) = entries(KEY, "nhs_number", "943 476 5919")
    assert nhs[1] == query_digest(KEY, SearchKey.NHS_NUMBER, "9434765919")
    (upn,) = entries(KEY, "upn", "b801200005001")
    assert upn[1] == query_digest(KEY, SearchKey.UPN, "B801200005001")
    (born,) = entries(KEY, "date_of_birth", date(2011, 3, 14))
    assert born[1] == query_digest(KEY, SearchKey.DATE_OF_BIRTH, "2011-03-14")
    assert list(entries(KEY, "given_name", None)) == []


def test_an_age_is_placed_on_the_birthday_and_29_february_falls_on_28_february() -> None:
    assert at_age(date(2011, 3, 14), 4) == date(2015, 3, 14)
    assert at_age(date(2012, 2, 29), 1) == date(2013, 2, 28)


def test_month_and_year_dates_stand_for_their_first_day() -> None:
    assert life_date({"precision": "month", "year": 2016, "month": 2}) == date(2016, 2, 1)
    assert life_date({"precision": "year", "year": 2014}) == date(2014, 1, 1)
    assert life_date({"precision": "exact", "on": "2015-06-01"}) == date(2015, 6, 1)
    assert life_date({"precision": "approximate_age", "age_years": 4}) is None


def test_as_of_takes_a_date_as_its_last_instant_or_an_exact_date_time() -> None:
    day = parse_as_of("2024-05-01")
    assert day is not None and day.date() == date(2024, 5, 1) and day.hour == 23
    assert parse_as_of("2024-05-01T10:15:00") == datetime(2024, 5, 1, 10, 15, tzinfo=UTC)
    assert parse_as_of("2024-05-01T10:15:00+01:00") == datetime(2024, 5, 1, 9, 15, tzinfo=UTC)


def test_as_of_in_the_future_or_not_a_date_is_refused_naming_as_of() -> None:
    for value in (
        "tomorrow",
        (date.today() + timedelta(days=1)).isoformat(),
        (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    ):
        with pytest.raises(Invalid) as refused:
            parse_as_of(value)
        assert refused.value.field == "as_of"
