"""Dev mode only when asked, and never where it would be unsafe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.cli_support import load_settings
from shared.settings import Settings, development_settings


def test_a_secrets_folder_alone_does_not_turn_dev_mode_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    development_settings(tmp_path / "var")  # what `ecm up` leaves behind
    monkeypatch.delenv("ECM_DEV_MODE", raising=False)
    with pytest.raises(ValueError, match="secret_key: a real ECM_SECRET_KEY"):
        load_settings(tmp_path / "var")


def test_dev_mode_is_refused_with_oidc_configured(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dev_mode: refused with OIDC"):
        development_settings(tmp_path / "var", oidc_issuer="https://login.example.org")


def test_dev_mode_is_refused_on_a_non_loopback_address(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape("non-loopback address '0.0.0.0'")):
        development_settings(tmp_path / "var", api_host="0.0.0.0")


@pytest.mark.parametrize("dev", [True, False])
def test_a_placeholder_secret_is_refused_in_every_mode(dev: bool) -> None:
    with pytest.raises(ValueError, match="secret_key: a placeholder is refused"):
        Settings(
            dev_mode=dev,
            secret_key="changeme",
            master_key="b2JqZWN0aXZlbHktcmFuZG9tLTMyLWJ5dGVzLWtleSE=",
        )


def test_a_settings_error_never_echoes_the_value_given(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "an-actual-secret-value-0123456789"
    with pytest.raises(ValueError) as error:
        Settings(dev_mode=False, secret_key=secret, master_key="secret", api_port="x")
    assert secret not in str(error.value)
