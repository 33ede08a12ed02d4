"""The web app's own rules: every form checks CSRF, sessions expire, the timeline draws."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import jwt
import pytest
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.requests import Request

from services.notifications.content import partner_link_token, read_partner_link_token
from services.web.session import COOKIE, CsrfRefused, Session, SessionCodec, check_csrf
from services.web.timeline_svg import draw
from services.web.users import _safe_next, checked_form


def request_with(cookie: str | None) -> Request:
    headers = [(b"cookie", f"{COOKIE}={cookie}".encode())] if cookie else []
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": headers,
            "query_string": b"",
            "scheme": "http",
        }
    )


def test_every_form_post_of_the_web_app_checks_the_csrf_token() -> None:
    from services.web import (
        pages_actions,
        pages_audit,
        pages_case,
        pages_clinical,
        pages_directory,
        pages_partner,
        pages_records,
        users,
    )

    modules = (
        users,
        pages_case,
        pages_clinical,
        pages_records,
        pages_audit,
        pages_partner,
        pages_actions,
        pages_directory,
    )
    posts = [
        route
        for module in modules
        for route in module.router.routes
        if isinstance(route, APIRoute) and "POST" in (route.methods or set())
    ]
    assert len(posts) >= 16
    unchecked = [
        route.path
        for route in posts
        if checked_form not in [d.call for d in route.dependant.dependencies]
    ]
    assert unchecked == []


def test_a_form_without_the_sessions_token_is_refused() -> None:
    session = Session()
    token = session.csrf
    check_csrf(session, FormData({"csrf_token": token}))
    for sent in ({}, {"csrf_token": ""}, {"csrf_token": token + "x"}):
        with pytest.raises(CsrfRefused):
            check_csrf(session, FormData(sent))
    with pytest.raises(CsrfRefused):
        check_csrf(Session(), FormData({"csrf_token": token}))  # another session's token


def test_a_session_cookie_opens_until_the_idle_timeout_and_not_after() -> None:
    codec = SessionCodec("a-test-secret-of-enough-length", idle_timeout_seconds=1)
    value = codec.fernet.encrypt(b'{"token": "t", "csrf": "c"}').decode()
    assert codec.load(request_with(value)).signed_in
    time.sleep(2.1)
    assert not codec.load(request_with(value)).signed_in
    other = SessionCodec("another-secret-of-enough-length", 60)
    assert not other.load(request_with(value)).signed_in  # not ours: a fresh session


def test_after_sign_in_the_user_returns_only_to_a_page_of_this_site() -> None:
    assert _safe_next("/children?family_name=Ab") == "/children?family_name=Ab"
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "evil", None):
        assert _safe_next(bad) is None


def test_a_partner_link_opens_only_its_own_notice_until_it_expires() -> None:
    notice, contact, secret = uuid4(), uuid4(), "link-secret-0123456789abcdef"
    later = datetime.now(UTC) + timedelta(days=1)
    token = partner_link_token(notice, contact, later, secret)
    assert read_partner_link_token(token, secret) == (notice, contact)
    with pytest.raises(jwt.PyJWTError):
        read_partner_link_token(token, "another-secret-0123456789abcdef")
    with pytest.raises(jwt.PyJWTError):
        read_partner_link_token(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], secret)
    expired = partner_link_token(notice, contact, datetime.now(UTC) - timedelta(minutes=5), secret)
    with pytest.raises(jwt.ExpiredSignatureError):
        read_partner_link_token(expired, secret)
    dev_token = jwt.encode(
        {
            "typ": "ecm-dev",
            "notice": str(notice),
            "contact": str(contact),
            "exp": int(later.timestamp()),
        },
        secret,
        algorithm="HS256",
    )
    with pytest.raises(jwt.PyJWTError):
        read_partner_link_token(dev_token, secret)


def test_the_timeline_puts_life_story_above_service_events_below_and_escapes_labels() -> None:
    items: list[dict[str, Any]] = [
        {
            "kind": "life_story",
            "event_type": "TimelineEntryAdded",
            "on": "2015-05-01",
            "precision": "year",
            "details": {"category": "<script>alert(1)</script>"},
            "stage_in_force": None,
            "recorded_at": "1",
        },
        {
            "kind": "referral",
            "event_type": "ReferralMade",
            "on": "2024-01-10",
            "precision": "exact",
            "details": {},
            "stage_in_force": 2,
            "recorded_at": "2",
        },
        {
            "kind": "review",
            "event_type": "ReviewHeld",
            "on": "2024-06-10",
            "precision": "exact",
            "details": {},
            "stage_in_force": 3,
            "recorded_at": "3",
        },
    ]
    svg = draw(items, date(2024, 7, 1))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    circles = [line for line in svg.splitlines() if line.startswith("<circle")]
    life_y = float(circles[0].split('cy="')[1].split('"')[0])
    service_y = float(circles[1].split('cy="')[1].split('"')[0])
    assert life_y < 230 < service_y
    assert "Stage 2" in svg and "Stage 3" in svg
    assert 'stroke-dasharray="3 2"' in svg  # a year-only date is drawn as approximate


def test_the_session_cookie_is_httponly_lax_and_secure_over_tls() -> None:
    from starlette.responses import Response

    codec = SessionCodec("a-test-secret-of-enough-length", 600)
    for scheme, secure in (("http", False), ("https", True)):
        request = Request(
            {
                "type": "http",
                "method": "GET",
                "path": "/",
                "headers": [],
                "query_string": b"",
                "scheme": scheme,
                "server": ("x", 443),
            }
        )
        response = Response()
        session = Session()
        session.set("token", "t")
        codec.save(request, response, session)
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert ("secure" in cookie.split("; ")) is secure


def test_a_short_partner_link_secret_is_refused_naming_the_setting() -> None:
    import pytest
    from pydantic import ValidationError

    from services.notifications.settings import NotifySettings

    with pytest.raises(ValidationError, match="partner_link_secret"):
        NotifySettings(partner_link_secret="too-short")
    assert NotifySettings(partner_link_secret="x" * 32).partner_link_secret == "x" * 32
