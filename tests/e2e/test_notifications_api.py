"""The notifications API over HTTP: the partner directory, partners' own notices, operators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.notifications.application import NotificationsApplication
from services.runtime import System
from shared.domain import Meta
from tests.conftest import Tokens
from tests.integration.test_notifications_support import (
    ONLINE,
    VENUE,
    deliver,
    fast_settings,
    invitees,
    review_scheduled,
)

PARTNER = {
    "agency": "education",
    "name": "Pat Teacher",
    "email": "pat@school.example.org",
    "preferred_channel": "email",
}


@pytest.fixture(autouse=True)
def channel_settings(system: System) -> None:
    app_of(system).notify_settings = fast_settings()


def app_of(system: System) -> NotificationsApplication:
    app = system.app(NotificationsApplication)
    assert isinstance(app, NotificationsApplication)
    return app


def add_partner(client: TestClient, auth: Tokens, **overrides: Any) -> str:
    response = client.post(
        "/api/v1/partners", json={**PARTNER, **overrides}, headers=auth("senior_practitioner")
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def invite(system: System, *contacts: str, notification_id: int = 7) -> UUID:
    """A ReviewScheduled message inviting `contacts` arrives from the stream."""
    app = app_of(system)
    child = uuid4()
    deliver(
        app,
        review_scheduled(
            app.cipher,
            child,
            invitees(*[("education", UUID(c)) for c in contacts]),
            notification_id=notification_id,
        ),
    )
    return child


def partner(auth: Tokens, contact_id: str) -> dict[str, str]:
    return auth("partner", user=contact_id)


def test_staff_register_partners_and_see_the_directory_without_signing_keys(
    client: TestClient, auth: Tokens
) -> None:
    contact_id = add_partner(
        client,
        auth,
        webhook_url="https://school.example.org/ecm",
        webhook_secret="s" * 32,
        preferred_channel="webhook",
    )
    listed = client.get("/api/v1/partners", headers=auth("psychologist"))
    assert listed.status_code == 200
    [entry] = listed.json()
    assert entry["id"] == contact_id
    assert (entry["name"], entry["email"], entry["preferred_channel"]) == (
        "Pat Teacher",
        "pat@school.example.org",
        "webhook",
    )
    assert "s" * 32 not in listed.text


def test_bad_partner_details_are_refused_naming_the_field(client: TestClient, auth: Tokens) -> None:
    staff = auth("senior_practitioner")
    cases = [
        ({"email": "pat-at-school"}, "email: is not an email address"),
        ({"agency": "bakery"}, "agency: "),
        ({"name": ""}, "name: "),
        (
            {"preferred_channel": "webhook"},
            "webhook_url: is required when the preferred channel is webhook",
        ),
        ({"webhook_url": "ftp://school.example.org/ecm"}, "webhook_url: must be an http(s) URL"),
        ({"webhook_secret": "short"}, "webhook_secret: "),
        ({"preferred_channel": "pigeon"}, "preferred_channel: "),
    ]
    for change, detail in cases:
        response = client.post("/api/v1/partners", json={**PARTNER, **change}, headers=staff)
        assert response.status_code == 422, (change, response.text)
        assert response.json()["detail"].startswith(detail), (change, response.json())
    assert client.get("/api/v1/partners", headers=staff).json() == []


def test_only_ecm_staff_and_admins_manage_the_directory(client: TestClient, auth: Tokens) -> None:
    assert client.post("/api/v1/partners", json=PARTNER).status_code == 401
    for role in ("case_manager", "partner", "evaluator", "auditor"):
        assert (
            client.post("/api/v1/partners", json=PARTNER, headers=auth(role)).status_code == 403
        ), role
        assert client.get("/api/v1/partners", headers=auth(role)).status_code == 403, role
    assert client.post("/api/v1/partners", json=PARTNER, headers=auth("admin")).status_code == 201


def test_a_partner_reads_only_their_own_notices(
    client: TestClient, auth: Tokens, system: System
) -> None:
    pat, sam = (
        add_partner(client, auth),
        add_partner(client, auth, name="Sam Senco", email="sam@school.example.org"),
    )
    child = invite(system, pat, sam)
    mine = client.get("/api/v1/notices", headers=partner(auth, pat))
    assert mine.status_code == 200
    [summary] = mine.json()
    assert summary["what"] == "ECM review meeting"
    assert summary["reference"] == str(child)[:8]
    assert summary["status"] == "queued"
    notice = client.get(f"/api/v1/notices/{summary['id']}", headers=partner(auth, pat)).json()
    assert (notice["venue"], notice["online_link"]) == (VENUE, ONLINE)
    assert notice["contact"] == "ecm-team@example.org"
    assert notice["link"] == f"https://ecm.example.org/notices/{summary['id']}"
    assert str(child) not in str(notice)
    sams = client.get("/api/v1/notices", headers=partner(auth, sam)).json()
    assert [n["id"] for n in sams] != [summary["id"]]
    for other in (sam, str(uuid4()), "not-a-contact-id"):
        seen = client.get(f"/api/v1/notices/{summary['id']}", headers=partner(auth, other))
        assert seen.status_code == 404, other
        assert VENUE not in seen.text
        ack = client.post(
            f"/api/v1/notices/{summary['id']}/acknowledgement", headers=partner(auth, other)
        )
        assert ack.status_code == 404, other
    assert client.get("/api/v1/notices", headers=partner(auth, "not-a-contact-id")).json() == []


def test_staff_cannot_read_partners_notices(
    client: TestClient, auth: Tokens, system: System
) -> None:
    pat = add_partner(client, auth)
    invite(system, pat)
    notice_id = client.get("/api/v1/notices", headers=partner(auth, pat)).json()[0]["id"]
    for role in ("case_manager", "psychologist", "senior_practitioner", "auditor", "admin"):
        assert client.get("/api/v1/notices", headers=auth(role)).status_code == 403
        assert client.get(f"/api/v1/notices/{notice_id}", headers=auth(role)).status_code == 403
    assert client.get(f"/api/v1/notices/{notice_id}").status_code == 401


def test_a_partner_acknowledges_a_notice_once(
    client: TestClient, auth: Tokens, system: System
) -> None:
    pat = add_partner(client, auth)
    invite(system, pat)
    notice_id = client.get("/api/v1/notices", headers=partner(auth, pat)).json()[0]["id"]
    url = f"/api/v1/notices/{notice_id}/acknowledgement"
    stale = client.post(url, json={"expected_version": 5}, headers=partner(auth, pat))
    assert stale.status_code == 409
    assert stale.json()["field"] == "expected_version"
    first = client.post(url, headers=partner(auth, pat))
    assert first.status_code == 200, first.text
    again = client.post(url, headers=partner(auth, pat))
    assert again.status_code == 409
    assert again.json()["detail"] == "status: notice is already acknowledged"
    notice = client.get(f"/api/v1/notices/{notice_id}", headers=partner(auth, pat)).json()
    assert notice["status"] == "acknowledged"
    assert notice["acknowledged_at"] is not None


def test_unknown_or_malformed_notice_ids_are_not_found_or_refused(
    client: TestClient, auth: Tokens
) -> None:
    me = partner(auth, str(uuid4()))
    assert client.get(f"/api/v1/notices/{uuid4()}", headers=me).status_code == 404
    bad = client.get("/api/v1/notices/not-a-uuid", headers=me)
    assert bad.status_code == 422
    assert bad.json()["field"] == "notice_id"


def test_an_operator_sees_failed_notices_without_content_and_retries_one(
    client: TestClient, auth: Tokens, system: System
) -> None:
    app = app_of(system)
    app.notify_settings = fast_settings(max_attempts=1)
    pat = add_partner(client, auth)
    invite(system, pat)
    [row] = app.notices(None)
    app.record_failure(
        row.notice_id,
        "smtp: cannot reach smtp.example.org:25",
        datetime.now(UTC),
        Meta("notifications-delivery", "system", "c", "c"),
    )
    failed = client.get("/api/v1/ops/notices", headers=auth("admin"))
    assert failed.status_code == 200
    [entry] = failed.json()
    assert (entry["id"], entry["gave_up"], entry["attempts"]) == (str(row.notice_id), True, 1)
    assert entry["last_error"] == "smtp: cannot reach smtp.example.org:25"
    assert VENUE not in failed.text
    assert (
        client.post(
            f"/api/v1/ops/notices/{row.notice_id}/retry", headers=auth("auditor")
        ).status_code
        == 403
    )
    retried = client.post(f"/api/v1/ops/notices/{row.notice_id}/retry", headers=auth("admin"))
    assert retried.status_code == 200, retried.text
    assert client.get("/api/v1/ops/notices", headers=auth("admin")).json() == []
    queued = client.get("/api/v1/ops/notices?status=queued", headers=auth("auditor")).json()
    assert [q["id"] for q in queued] == [str(row.notice_id)]
    again = client.post(f"/api/v1/ops/notices/{row.notice_id}/retry", headers=auth("admin"))
    assert again.status_code == 409
    bad = client.get("/api/v1/ops/notices?status=lost", headers=auth("admin"))
    assert bad.status_code == 422
