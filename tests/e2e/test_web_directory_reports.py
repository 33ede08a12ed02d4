"""The partner directory and the report form with several recommendations, over HTTP."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient

from services.runtime import System
from tests.conftest import Tokens
from tests.e2e.test_web_actions import API, PSY, day, in_formulation, post, signed_in

TODAY = date.today()


def directory(client: TestClient, auth: Tokens) -> list[dict[str, object]]:
    found = client.get(f"{API}/partners", headers=auth("admin"))
    assert found.status_code == 200, found.text
    return list(found.json())


def test_an_administrator_adds_a_partner_contact_and_a_bad_email_is_named(
    client: TestClient, auth: Tokens
) -> None:
    csrf = signed_in(client, "admin-1")
    home = client.get("/partners")
    assert home.status_code == 200 and "Partner directory" in home.text
    bad = post(
        client,
        "/partners/new",
        {
            "csrf_token": csrf,
            "agency": "education",
            "name": "Synthetic Teacher",
            "email": "not-an-email",
            "preferred_channel": "email",
        },
    )
    assert bad.status_code == 422 and 'href="#email"' in bad.text
    assert directory(client, auth) == []
    done = post(
        client,
        "/partners/new",
        {
            "csrf_token": csrf,
            "agency": "education",
            "name": "Synthetic Teacher",
            "email": "teacher@example.org",
            "preferred_channel": "email",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/partners"
    [contact] = directory(client, auth)
    assert contact["name"] == "Synthetic Teacher" and contact["agency"] == "education"
    assert "Synthetic Teacher" in client.get("/partners").text


def test_a_webhook_contacts_key_is_rotated_and_a_short_key_is_refused(
    client: TestClient, auth: Tokens
) -> None:
    csrf = signed_in(client, "psy-1")
    done = post(
        client,
        "/partners/new",
        {
            "csrf_token": csrf,
            "agency": "police",
            "name": "Synthetic Officer",
            "email": "officer@example.org",
            "preferred_channel": "webhook",
            "webhook_url": "http://127.0.0.1:9/hook",
        },
    )
    assert done.status_code == 303, done.text
    [contact] = directory(client, auth)
    address = f"/partners/{contact['id']}/webhook-secret"
    assert address in client.get("/partners").text
    short = post(
        client, address, {"csrf_token": csrf, "webhook_secret": "short", "overlap_hours": "24"}
    )
    assert short.status_code == 422 and 'href="#webhook_secret"' in short.text
    rotated = post(
        client,
        address,
        {
            "csrf_token": csrf,
            "webhook_secret": "a-new-synthetic-signing-key-01",
            "overlap_hours": "12",
        },
    )
    assert rotated.status_code == 303, rotated.text


def test_a_case_manager_sees_no_partner_directory(client: TestClient) -> None:
    signed_in(client, "cm-bristol-1")
    assert 'href="/partners"' not in client.get("/children").text
    assert client.get("/partners").status_code == 403
    assert client.get("/partners/new").status_code == 403


def test_a_report_is_issued_with_several_recommendations_and_empty_rows_are_left_out(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child = in_formulation(client, auth, system)
    csrf = signed_in(client, "psy-1")
    form = client.get(f"/children/{child}/reports/new").text
    assert form.count('name="rec_text-') == 3
    more = post(
        client,
        f"/children/{child}/reports/new",
        {
            "csrf_token": csrf,
            "rows": "3",
            "more": "yes",
            "narrative": "Synthetic narrative",
            "rec_text-0": "Synthetic: keep the key adult",
        },
    )
    assert more.status_code == 200 and more.text.count('name="rec_text-') == 4
    assert "Synthetic: keep the key adult" in more.text and "Synthetic narrative" in more.text
    assert client.get(f"{API}/children/{child}/formulation/reports", headers=auth(PSY)).json() == []
    body = {
        "csrf_token": csrf,
        "rows": "4",
        "narrative": "Synthetic narrative",
        "stage": "2",
        **day("issued_on", TODAY),
        "rec_stage-0": "1",
        "rec_agency-0": "education",
        "rec_text-0": "Synthetic: keep the key adult",
        "rec_stage-1": "2",
        "rec_agency-1": "yjs",
        "rec_text-1": "",
        "rec_stage-2": "2",
        "rec_agency-2": "health",
        "rec_text-2": "Synthetic: bad\x00text",
        "rec_stage-3": "3",
        "rec_agency-3": "yjs",
        "rec_text-3": "",
    }
    bad = post(client, f"/children/{child}/reports/new", body)
    assert bad.status_code == 422
    assert 'href="#rec_text-2"' in bad.text and 'id="rec_text-2-error"' in bad.text
    assert client.get(f"{API}/children/{child}/formulation/reports", headers=auth(PSY)).json() == []
    body["rec_text-2"] = "Synthetic: a safe space at school"
    body["rec_text-3"] = "Synthetic: a mentor"
    done = post(client, f"/children/{child}/reports/new", body)
    assert done.status_code == 303, done.text
    [report] = client.get(f"{API}/children/{child}/formulation/reports", headers=auth(PSY)).json()
    assert [(r["stage"]["stage"], r["agency"], r["text"]) for r in report["recommendations"]] == [
        (1, "education", "Synthetic: keep the key adult"),
        (2, "health", "Synthetic: a safe space at school"),
        (3, "yjs", "Synthetic: a mentor"),
    ]


def test_the_child_page_offers_a_case_manager_no_change_of_ecm_staff(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child = in_formulation(client, auth, system)
    signed_in(client, "cm-bristol-1")
    page = client.get(f"/children/{child}")
    assert page.status_code == 200
    assert "actions/child-correct" in page.text and "actions/child-dispute" in page.text
    for staff_only in ("case-close", "review-cadence", "review-worker"):
        assert f"actions/{staff_only}" not in page.text
        assert client.get(f"/children/{child}/actions/{staff_only}").status_code == 403
