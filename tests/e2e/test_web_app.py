"""The web app over HTTP (no browser): bad input is a clear page, the API keeps its answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.runtime import System, create_api
from shared.settings import development_settings


def signed_in(client: TestClient, user: str = "cm-bristol-1") -> str:
    """Sign in on the dev page; the session's CSRF token."""
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = client.post("/sign-in", data={"user": user, "csrf_token": token.group(1)})
    assert done.status_code == 200
    again = re.search(r'name="csrf_token" value="([^"]+)"', done.text)
    assert again is not None
    return again.group(1)


def test_the_start_page_is_served_at_the_root_with_its_own_content_security_policy(
    client: TestClient,
) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "govuk-template" in page.text
    policy = page.headers["content-security-policy"]
    assert "form-action 'self'" in policy and "script-src 'self' 'nonce-" in policy
    assert page.headers["cache-control"] == "no-store"
    assert client.get("/docs").headers["content-security-policy"].count("cdn.jsdelivr.net")


def test_the_api_keeps_its_own_404_and_405_answers(client: TestClient) -> None:
    missing = client.get("/api/v1/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.post("/health").status_code == 405
    assert client.delete("/api/v1/children").status_code == 405


def test_a_registration_with_unstorable_text_is_refused_inline_and_writes_nothing(
    client: TestClient,
) -> None:
    csrf = signed_in(client)
    page = client.post(
        "/children/new",
        data={
            "csrf_token": csrf,
            "given_name": "Nul\x00Name",
            "family_name": "Webchild",
            "date_of_birth-day": "31",
            "date_of_birth-month": "2",
            "date_of_birth-year": "2010",
            "area": "bristol",
        },
    )
    assert page.status_code == 422
    assert "govuk-error-summary" in page.text
    assert 'href="#given_name"' in page.text and "NUL" in page.text
    assert 'id="given_name-error"' in page.text


def test_an_impossible_date_of_birth_is_named_in_the_error_summary(client: TestClient) -> None:
    csrf = signed_in(client)
    page = client.post(
        "/children/new",
        data={
            "csrf_token": csrf,
            "given_name": "Ok",
            "family_name": "Webchild",
            "date_of_birth-day": "31",
            "date_of_birth-month": "2",
            "date_of_birth-year": "2010",
            "area": "bristol",
        },
    )
    assert page.status_code == 422
    assert 'href="#date_of_birth-day"' in page.text and "Date of birth" in page.text


def test_a_malformed_address_is_a_page_not_found_not_a_500(client: TestClient) -> None:
    signed_in(client)
    for path in ("/children/not-a-uuid", "/referrals/123", "/notices/x?t=y", "/audit/children/zz"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "text/html" in page.headers["content-type"]


def test_a_page_needs_a_signed_in_user_and_sends_them_to_sign_in(client: TestClient) -> None:
    page = client.get("/children?family_name=Ab", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/sign-in?next=/children%3Ffamily_name%3DAb"


def test_a_notice_link_that_is_forged_opens_nothing(client: TestClient) -> None:
    page = client.get("/notices/00000000-0000-4000-8000-000000000000?t=forged.token.here")
    assert page.status_code == 404
    assert "This link does not work" in page.text


def test_outside_dev_mode_there_is_no_dev_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "var"
    System.build(development_settings(folder)).close()  # keys and secrets made once
    settings = development_settings(folder).model_copy(update={"dev_mode": False})
    monkeypatch.setenv("ECM_WEB_SESSION_SECRET", "a-production-session-secret-0123456789")
    system = System.build(settings)
    try:
        with TestClient(create_api(system)) as client:
            page = client.get("/sign-in")
            assert page.status_code == 503 and "Sign-in is not set up" in page.text
            form = client.get("/").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', form)
            csrf = token.group(1) if token else ""
            refused = client.post("/sign-in", data={"user": "psy-1", "csrf_token": csrf})
            assert refused.status_code == 403
    finally:
        system.close()


def test_outside_dev_mode_without_a_session_secret_the_api_is_served_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "var"
    System.build(development_settings(folder)).close()
    settings = development_settings(folder).model_copy(update={"dev_mode": False})
    monkeypatch.delenv("ECM_WEB_SESSION_SECRET", raising=False)
    system = System.build(settings)
    try:
        with TestClient(create_api(system)) as client:
            assert client.get("/health").status_code == 200
            assert client.get("/").status_code == 404
    finally:
        system.close()


def test_the_child_page_as_of_a_day_shows_the_record_as_it_stood_then(
    client: TestClient, system: System
) -> None:
    from datetime import UTC, date, datetime

    import time_machine

    from services.referrals.application import ReferralsApplication
    from shared.domain import Area, Meta

    referrals = system.app(ReferralsApplication)
    meta = Meta("cm-bristol-1", "case_manager", "corr-asof", "corr-asof")
    with time_machine.travel(datetime(2026, 1, 10, 12, tzinfo=UTC), tick=False):
        child = referrals.register_child(
            given_name="Before",
            family_name="Webchild",
            date_of_birth=date(2012, 3, 4),
            area=Area.BRISTOL,
            nhs_number=None,
            upn=None,
            meta=meta,
        )
    with time_machine.travel(datetime(2026, 2, 10, 12, tzinfo=UTC), tick=False):
        referrals.correct_child(child, "given_name", "After", meta.with_reason("Synthetic"))
    signed_in(client)
    then = client.get(f"/children/{child}", params={"as_of": "2026-01-20"})
    assert then.status_code == 200
    assert "<title>Before Webchild" in then.text and "After" not in then.text
    now = client.get(f"/children/{child}")
    assert "<title>After Webchild" in now.text
