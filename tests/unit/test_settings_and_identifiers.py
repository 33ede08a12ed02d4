"""Settings refuse placeholder secrets; identifiers are checked with python-stdnum."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.identifiers import clean_nhs_number, clean_upn
from shared.settings import Settings, development_settings


def test_placeholder_secrets_are_refused_outside_dev_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret_key"):
        Settings(data_dir=tmp_path, dev_mode=False, secret_key="changeme", master_key="x" * 44)
    with pytest.raises(ValueError, match="master_key"):
        Settings(
            data_dir=tmp_path, dev_mode=False, secret_key="a-real-secret-for-tests", master_key=""
        )


def test_dev_mode_generates_secrets_once_and_keeps_them_private(tmp_path: Path) -> None:
    first = development_settings(tmp_path / "var")
    second = development_settings(tmp_path / "var")
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 32
    assert (tmp_path / "var" / "secrets" / "master_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "value, expected", [("943 476 5919", "9434765919"), ("9434765919", "9434765919")]
)
def test_a_valid_nhs_number_is_normalised(value: str, expected: str) -> None:
    assert clean_nhs_number(value) == expected


@pytest.mark.parametrize(
    "value, rule",
    [
        ("9434765918", "check digit does not match"),
        ("94347659", "must be 10 digits"),
        ("94347659AB", "must be 10 digits"),
    ],
)
def test_an_invalid_nhs_number_names_the_rule(value: str, rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        clean_nhs_number(value)


def test_a_upn_needs_its_check_letter() -> None:
    assert clean_upn("b801200005001") == "B801200005001"
    with pytest.raises(ValueError, match="check letter"):
        clean_upn("A801200005001")
