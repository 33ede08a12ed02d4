"""Operators' pages over HTTP (no browser): notices by delivery state, found by a child's ECM
reference, a failed notice retried by an administrator, and the review overdue tick."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from services.notifications.domain import ecm_reference
from services.runtime import System
from shared.domain import Meta
from tests.conftest import Tokens
from tests.e2e.test_notifications_api import add_partner, app_of, invite
from tests.e2e.test_reviews_api import TODAY, child_in_review
from tests.e2e.test_web_actions import post, signed_in
from tests.integration.test_notifications_support import VENUE, fast_settings


def test_an_administrator_finds_a_childs_failed_notice_and_retries_it(
    client: TestClient, auth: Tokens, system: System
) -> None:
    app = app_of(system)
    app.notify_settings = fast_settings(max_attempts=1)
    contact = add_partner(client, auth)
    child = invite(system, contact)
    [row] = [r for r in app.notices(None) if r.child_id == child]
    app.record_failure(
        row.notice_id,
        "smtp: cannot reach smtp.example.org:25",
        datetime.now(UTC),
        Meta("notifications-delivery", "system", "c", "c"),
    )
    reference = ecm_reference(child)
    csrf = signed_in(client, "admin-1")
    page = client.get("/ops/notices", params={"reference": str(child)})
    assert page.status_code == 200, page.text
    assert f'id="notice-{row.notice_id}"' in page.text
    assert "smtp: cannot reach smtp.example.org:25" in page.text and VENUE not in page.text
    assert "no more tries" in page.text
    assert f'action="/ops/notices/{row.notice_id}/retry"' in page.text
    back = f"/ops/notices?status=failed&reference={reference}"
    done = post(client, f"/ops/notices/{row.notice_id}/retry", {"csrf_token": csrf, "back": back})
    assert done.status_code == 303 and done.headers["location"] == back
    [queued] = [
        n
        for n in client.get(
            "/api/v1/ops/notices", params={"status": "queued"}, headers=auth("admin")
        ).json()
        if n["id"] == str(row.notice_id)
    ]
    assert queued["status"] == "queued"
    failed = client.get("/ops/notices", params={"reference": reference}).text
    assert f'id="notice-{row.notice_id}"' not in failed
    shown = client.get("/ops/notices", params={"status": "queued", "reference": reference})
    assert f'id="notice-{row.notice_id}"' in shown.text
    again = post(client, f"/ops/notices/{row.notice_id}/retry", {"csrf_token": csrf, "back": back})
    assert again.status_code == 409 and "govuk-error-summary" in again.text
    assert "The notice was not retried" in again.text
    no_csrf = post(client, f"/ops/notices/{row.notice_id}/retry", {})
    assert no_csrf.status_code == 403


def test_an_auditor_sees_notices_without_a_retry_and_a_bad_reference_is_named(
    client: TestClient, auth: Tokens, system: System
) -> None:
    app = app_of(system)
    app.notify_settings = fast_settings(max_attempts=1)
    contact = add_partner(client, auth)
    child = invite(system, contact)
    [row] = [r for r in app.notices(None) if r.child_id == child]
    app.record_failure(
        row.notice_id, "smtp: refused", datetime.now(UTC), Meta("d", "system", "c", "c")
    )
    csrf = signed_in(client, "auditor-1")
    page = client.get("/ops/notices", params={"reference": ecm_reference(child)})
    assert page.status_code == 200 and f'id="notice-{row.notice_id}"' in page.text
    assert "/retry" not in page.text
    refused = post(client, f"/ops/notices/{row.notice_id}/retry", {"csrf_token": csrf})
    assert refused.status_code == 403
    bad = client.get("/ops/notices", params={"reference": "not-a-child"})
    assert bad.status_code == 422 and 'href="#reference"' in bad.text
    signed_in(client, "psy-1")
    assert client.get("/ops/notices").status_code == 403


def test_staff_run_the_overdue_tick_and_see_how_many_reviews_it_flagged(
    client: TestClient, system: System
) -> None:
    child_in_review(system, issued_on=TODAY - timedelta(weeks=7))
    csrf = signed_in(client, "sp-1")
    form = client.get("/reviews/tick")
    assert form.status_code == 200 and "Flag overdue reviews" in form.text
    first = post(client, "/reviews/tick", {"csrf_token": csrf})
    assert first.status_code == 200, first.text
    flagged = re.search(r"(\d+) reviews? flagged overdue", first.text)
    assert flagged is not None and int(flagged.group(1)) >= 1
    again = post(client, "/reviews/tick", {"csrf_token": csrf})
    assert "0 reviews flagged overdue" in again.text
    signed_in(client, "cm-bristol-1")
    assert client.get("/reviews/tick").status_code == 403
    csrf = signed_in(client, "admin-1")
    assert post(client, "/reviews/tick", {"csrf_token": csrf}).status_code == 200
