"""Development tokens and the mapping of token claims to role and YJS area."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shared.auth import (
    AuthenticationFailed,
    Authenticator,
    dev_tokens_allowed,
    mint_token,
    principal_from_claims,
)
from shared.domain import Area, Role
from shared.settings import Settings, development_settings

MASTER_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
SECRET = "a-real-development-secret-of-enough-length"


def prod(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, master_key=MASTER_KEY, dev_mode=False, **values)  # type: ignore[arg-type]


def test_a_dev_token_round_trips_to_the_same_principal(tmp_path: Path) -> None:
    settings = development_settings(tmp_path / "var")
    token = mint_token(settings, "cm-9", Role.CASE_MANAGER, Area.BANES)
    principal = Authenticator(settings).authenticate(f"Bearer {token}")
    assert (principal.user_id, principal.role, principal.area) == (
        "cm-9",
        Role.CASE_MANAGER,
        Area.BANES,
    )


def test_a_dev_token_signed_with_another_secret_is_refused(tmp_path: Path) -> None:
    settings = development_settings(tmp_path / "var")
    other = settings.model_copy(update={"secret_key": "another-secret-entirely-32-bytes!"})
    token = mint_token(other, "cm-9", Role.CASE_MANAGER, Area.BANES)
    with pytest.raises(AuthenticationFailed):
        Authenticator(settings).authenticate(f"Bearer {token}")


def test_an_expired_dev_token_is_refused(tmp_path: Path) -> None:
    settings = development_settings(tmp_path / "var")
    token = mint_token(settings, "cm-9", Role.AUDITOR, None, ttl_seconds=-10)
    with pytest.raises(AuthenticationFailed):
        Authenticator(settings).authenticate(f"Bearer {token}")


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer x.y.z"])
def test_a_missing_or_malformed_header_is_refused(tmp_path: Path, header: str | None) -> None:
    with pytest.raises(AuthenticationFailed):
        Authenticator(development_settings(tmp_path / "var")).authenticate(header)


def test_dev_tokens_pass_outside_dev_mode_only_with_a_real_secret_and_no_issuer(
    tmp_path: Path,
) -> None:
    assert dev_tokens_allowed(prod(tmp_path, secret_key=SECRET))
    assert not dev_tokens_allowed(
        prod(tmp_path, secret_key=SECRET, oidc_issuer="https://idp.example.test")
    )
    assert dev_tokens_allowed(development_settings(tmp_path / "var"))


def test_placeholder_secrets_are_refused_outside_dev_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret_key"):
        prod(tmp_path, secret_key="changeme")
    with pytest.raises(ValueError, match="master_key"):
        Settings(data_dir=tmp_path, secret_key=SECRET, master_key="changeme")


def test_a_dev_token_is_refused_outside_dev_mode_once_an_issuer_is_configured(
    tmp_path: Path,
) -> None:
    settings = prod(
        tmp_path,
        secret_key=SECRET,
        oidc_issuer="https://idp.example.test",
        oidc_audience="ecm",
        oidc_jwks_file=tmp_path / "jwks.json",
    )
    token = mint_token(settings, "au-1", Role.AUDITOR, None)
    with pytest.raises(AuthenticationFailed, match="development tokens"):
        Authenticator(settings).authenticate(f"Bearer {token}")


def test_claims_map_to_a_principal_with_a_normalised_area() -> None:
    principal = principal_from_claims(
        {"sub": "u1", "role": "case_manager", "area": "South-Gloucestershire"}, "role", "area"
    )
    assert principal.area == Area.SOUTH_GLOUCESTERSHIRE


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "u1", "role": "admin", "area": "mars"},
        {"sub": "u1", "role": "root"},
        {"sub": "u1"},
        {"role": "auditor"},
        {"sub": "", "role": "auditor"},
        {"sub": "u1", "role": ["auditor", "admin"]},
        {"sub": "u1", "role": "case_manager"},
    ],
)
def test_claims_that_do_not_name_exactly_one_role_and_a_valid_area_are_refused(
    claims: dict[str, object],
) -> None:
    with pytest.raises(AuthenticationFailed):
        principal_from_claims(claims, "role", "area")


def test_a_refused_dev_token_never_appears_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = development_settings(tmp_path / "var")
    token = mint_token(settings, "cm-9", Role.CASE_MANAGER, Area.BANES, ttl_seconds=-5)
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationFailed):
        Authenticator(settings).authenticate(f"Bearer {token}")
    assert "authentication failed" in caplog.text
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text
