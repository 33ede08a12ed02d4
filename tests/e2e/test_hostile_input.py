"""Hostile input a fuzzing client sent and once got a 2xx for: now a 422 naming field and rule.

Every request goes over HTTP to the whole system on real SQLite stores; each test also checks
that nothing was written by the refused request.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.formulation.application import FormulationApplication
from services.runtime import System
from shared.domain import Area, Meta
from tests.conftest import Tokens
from tests.e2e.test_reviews_api import case_url, child_in_review, due_review

API = "/api/v1"
PSY = "psychologist"
SP = "senior_practitioner"
CHILD = {
    "given_name": "Testy",
    "family_name": "Synthetic",
    "date_of_birth": "2012-05-17",
    "area": "bristol",
}
TODAY = date.today()
TOO_OLD = (TODAY - timedelta(days=366 * 25 + 10)).isoformat()
NEXT_YEAR_AND_A_BIT = (TODAY + timedelta(days=400)).isoformat()
TOMORROW = (TODAY + timedelta(days=1)).isoformat()
INVITEES = [{"agency": "education"}]
SINGLE_LINE_RULE = "must be a single line (no control characters such as CR, LF or tab)"
VISIBLE_RULE = "must contain a visible character"


def refused(response: Any, field: str, rule: str | None = None) -> None:
    """A 422 naming `field` (and, if given, exactly `rule`)."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == field, body
    if rule is not None:
        assert body["detail"] == f"{field}: {rule}", body


def children_known(client: TestClient, auth: Tokens) -> int:
    rows = client.get(f"{API}/referrals", headers=auth(PSY)).json()
    return len(rows)


def formulation_case(system: System) -> str:
    app = system.apps["formulation"]
    assert isinstance(app, FormulationApplication)
    child_id = uuid4()
    app.open_case(child_id, uuid4(), Area.BRISTOL, Meta("psy-1", PSY, "c", "c"))
    return str(child_id)


def version_of(client: TestClient, auth: Tokens, path: str) -> int:
    response = client.get(path, headers=auth(PSY))
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


# ------------------------------------------------------------------ email and headers


@pytest.mark.parametrize(
    "email",
    [
        "x@example.org\n",
        "x@example.org\r\nBcc: y@example.org",
        "Pat <x@example.org>",
        "x@localhost",
        "x@[127.0.0.1]",
    ],
)
def test_a_partner_email_that_is_not_a_plain_address_is_refused_and_nothing_registered(
    client: TestClient, auth: Tokens, email: str
) -> None:
    response = client.post(
        f"{API}/partners",
        headers=auth("admin"),
        json={"agency": "education", "name": "Pat Teacher", "email": email},
    )
    refused(response, "email")
    assert response.json()["detail"].startswith("email: is not an email address")
    assert client.get(f"{API}/partners", headers=auth("admin")).json() == []


@pytest.mark.parametrize("name", ["Pat\r\nBcc: y@example.org", "   ", "\u200b\u200d", "\t"])
def test_a_partner_name_on_two_lines_or_invisible_is_refused(
    client: TestClient, auth: Tokens, name: str
) -> None:
    response = client.post(
        f"{API}/partners",
        headers=auth("admin"),
        json={"agency": "education", "name": name, "email": "pat@school.example.org"},
    )
    refused(response, "name")
    assert client.get(f"{API}/partners", headers=auth("admin")).json() == []


def test_a_webhook_url_carrying_a_user_name_is_refused(client: TestClient, auth: Tokens) -> None:
    response = client.post(
        f"{API}/partners",
        headers=auth("admin"),
        json={
            "agency": "education",
            "name": "Pat",
            "email": "pat@school.example.org",
            "preferred_channel": "webhook",
            "webhook_url": "https://user@127.0.0.1/hook",
        },
    )
    refused(response, "webhook_url", "must not carry a user name or password")


@pytest.mark.parametrize(
    "venue",
    [
        "Synthetic office\r\nContact: someone else",
        "Synthetic office\nDetails and acknowledgement: http://evil.example",
        "Synthetic office\u2028Contact: x",
        "Synthetic\x1b[2J office",
    ],
)
def test_a_formulation_meeting_venue_with_a_line_break_is_refused_and_nothing_scheduled(
    client: TestClient, auth: Tokens, system: System, venue: str
) -> None:
    meetings = f"{API}/children/{formulation_case(system)}/formulation/meetings"
    response = client.post(
        meetings,
        headers=auth(PSY),
        json={"starts_at": "2024-05-01T10:00:00+01:00", "venue": venue, "invitees": INVITEES},
    )
    refused(response, "venue", SINGLE_LINE_RULE)
    assert client.get(meetings, headers=auth(PSY)).json() == []


def test_a_review_venue_with_a_line_break_is_refused_and_the_case_unchanged(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id = child_in_review(system)
    review_id = due_review(client, auth, child_id)
    before = version_of(client, auth, case_url(child_id))
    response = client.post(
        f"{case_url(child_id)}/reviews/{review_id}/schedule",
        headers=auth(SP),
        json={
            "starts_at": f"{TODAY.isoformat()}T10:00:00+00:00",
            "venue": "Centre\r\nContact: x",
            "invitees": INVITEES,
        },
    )
    refused(response, "venue", SINGLE_LINE_RULE)
    assert version_of(client, auth, case_url(child_id)) == before


def test_multi_line_notes_keep_their_line_breaks_but_not_other_control_characters(
    client: TestClient, auth: Tokens, system: System
) -> None:
    base = f"{API}/children/{formulation_case(system)}/formulation"
    entry = {
        "when": {"precision": "year", "year": 2016},
        "category": "loss_or_bereavement",
        "source": "Synthetic: mother",
    }
    ok = client.post(
        f"{base}/timeline",
        headers=auth(PSY),
        json={**entry, "description": "Synthetic: line one\r\nline two\ttabbed"},
    )
    assert ok.status_code == 201, ok.text
    bad = client.post(
        f"{base}/timeline", headers=auth(PSY), json={**entry, "description": "Synthetic\x07 bell"}
    )
    refused(
        bad, "description", "must not contain control characters other than line breaks and tabs"
    )


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "given_name", ["   ", "\u200b", "\u200b\u200c\u200d\ufeff", "\u3000", "Testy\nSynthetic"]
)
def test_a_child_name_without_a_visible_character_or_on_two_lines_is_refused(
    client: TestClient, auth: Tokens, given_name: str
) -> None:
    response = client.post(
        f"{API}/children", headers=auth("case_manager"), json={**CHILD, "given_name": given_name}
    )
    refused(response, "given_name")
    assert response.json()["detail"] in (
        f"given_name: {VISIBLE_RULE}",
        f"given_name: {SINGLE_LINE_RULE}",
    )


def test_a_name_correction_to_a_zero_width_name_is_refused_like_registration(
    client: TestClient, auth: Tokens
) -> None:
    made = client.post(f"{API}/children", headers=auth("case_manager"), json=CHILD)
    assert made.status_code == 201, made.text
    child = f"{API}/children/{made.json()['id']}"
    response = client.post(
        f"{child}/corrections",
        headers=auth("case_manager"),
        json={"field": "given_name", "value": "\u200b", "reason": "Synthetic typo"},
    )
    refused(response, "value", f"given_name {VISIBLE_RULE}")
    assert version_of(client, auth, child) == 1


# ------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    ("dob", "rule"),
    [
        ("0001-01-01", "must be within the last 25 years"),
        ("1899-12-31", "must be within the last 25 years"),
        (TOO_OLD, "must be within the last 25 years"),
        ("9999-12-31", "must not be in the future"),
        (TOMORROW, "must not be in the future"),
        (0, "must be a date (YYYY-MM-DD)"),
        ("20120517", "must be a date (YYYY-MM-DD)"),
        ("2012-05-17T00:00:00", "must be a date (YYYY-MM-DD)"),
    ],
)
def test_an_implausible_date_of_birth_is_refused_and_no_child_registered(
    client: TestClient, auth: Tokens, dob: Any, rule: str
) -> None:
    response = client.post(
        f"{API}/children", headers=auth("case_manager"), json={**CHILD, "date_of_birth": dob}
    )
    refused(response, "date_of_birth", rule)
    assert children_known(client, auth) == 0


def test_a_date_of_birth_correction_follows_the_same_range(
    client: TestClient, auth: Tokens
) -> None:
    made = client.post(f"{API}/children", headers=auth("case_manager"), json=CHILD)
    child = f"{API}/children/{made.json()['id']}"
    response = client.post(
        f"{child}/corrections",
        headers=auth("case_manager"),
        json={"field": "date_of_birth", "value": "0001-01-01", "reason": "Synthetic typo"},
    )
    refused(response, "value", "date_of_birth must be within the last 25 years")
    assert version_of(client, auth, child) == 1


@pytest.mark.parametrize(
    ("path", "body", "field", "rule"),
    [
        (
            "/reports",
            {"narrative": "Synthetic", "stage": 2, "issued_on": "0001-01-01"},
            "issued_on",
            "must not be before 2019-01-01",
        ),
        (
            "/reports",
            {"narrative": "Synthetic", "stage": 2, "issued_on": "9999-12-31"},
            "issued_on",
            "must not be in the future",
        ),
        (
            "/assessments",
            {"stage": 2, "assessed_on": "1970-01-01", "rationale": "Synthetic"},
            "assessed_on",
            "must not be before 2019-01-01",
        ),
        (
            "/assessments",
            {"stage": 2, "assessed_on": 0, "rationale": "Synthetic"},
            "assessed_on",
            "must be a date (YYYY-MM-DD)",
        ),
        (
            "/interventions",
            {
                "intervention_type": "PACE",
                "stage": 1,
                "owning_agency": "yjs",
                "planned_start": "9999-12-31",
            },
            "planned_start",
            "must not be more than a year ahead",
        ),
        (
            "/interventions",
            {
                "intervention_type": "PACE",
                "stage": 1,
                "owning_agency": "yjs",
                "planned_start": "0001-01-01",
            },
            "planned_start",
            "must not be before 2019-01-01",
        ),
        (
            "/timeline",
            {
                "when": {"precision": "exact", "on": "0001-01-01"},
                "category": "loss_or_bereavement",
                "description": "Synthetic",
            },
            "when.on",
            "must not be before 1900-01-01",
        ),
        (
            "/meetings",
            {
                "starts_at": "0001-01-01T10:00:00+00:00",
                "invitees": INVITEES,
                "venue": "Synthetic office",
            },
            "starts_at",
            "must not be before 2019-01-01",
        ),
    ],
)
def test_an_implausible_formulation_date_is_refused_and_the_case_unchanged(
    client: TestClient,
    auth: Tokens,
    system: System,
    path: str,
    body: dict[str, Any],
    field: str,
    rule: str,
) -> None:
    base = f"{API}/children/{formulation_case(system)}/formulation"
    before = version_of(client, auth, base)
    refused(client.post(f"{base}{path}", headers=auth(PSY), json=body), field, rule)
    assert version_of(client, auth, base) == before


@pytest.mark.parametrize(
    ("path", "body", "field", "rule"),
    [
        (
            "/transitions",
            {"kind": "entering_custody", "occurred_on": "0001-01-01"},
            "occurred_on",
            "must not be before 2019-01-01",
        ),
        (
            "/closure",
            {"closed_on": "9999-12-31", "reason": "Synthetic"},
            "closed_on",
            "must not be in the future",
        ),
        (
            "/closure",
            {
                "closed_on": TODAY.isoformat(),
                "reason": "Synthetic",
                "safety_net_until": NEXT_YEAR_AND_A_BIT,
            },
            "safety_net_until",
            "must not be more than a year ahead",
        ),
    ],
)
def test_an_implausible_review_case_date_is_refused_and_the_case_unchanged(
    client: TestClient,
    auth: Tokens,
    system: System,
    path: str,
    body: dict[str, Any],
    field: str,
    rule: str,
) -> None:
    child_id = child_in_review(system)
    before = version_of(client, auth, case_url(child_id))
    refused(client.post(f"{case_url(child_id)}{path}", headers=auth(SP), json=body), field, rule)
    assert version_of(client, auth, case_url(child_id)) == before


def test_a_supervision_session_dated_9999_is_refused(client: TestClient, auth: Tokens) -> None:
    response = client.post(
        f"{API}/supervision-sessions",
        headers=auth(SP),
        json={
            "practitioner_id": "cm-1",
            "supervisor_id": "sp-1",
            "held_on": "9999-12-31",
            "kind": "clinical_supervision",
            "themes": "Synthetic themes",
        },
    )
    refused(response, "held_on", "must not be in the future")


@pytest.mark.parametrize("as_of", ["0", "1", "-1", "1e3", "20240101", "0001-01-01"])
def test_as_of_must_be_a_calendar_date_not_a_timestamp(
    client: TestClient, auth: Tokens, system: System, as_of: str
) -> None:
    made = client.post(f"{API}/children", headers=auth("case_manager"), json=CHILD)
    child_id = made.json()["id"]
    formulation = formulation_case(system)
    review = child_in_review(system)
    for path in (
        f"{API}/children/{child_id}",
        f"{API}/children/{formulation}/formulation",
        case_url(review),
    ):
        response = client.get(path, params={"as_of": as_of}, headers=auth(PSY))
        refused(response, "as_of")


# ------------------------------------------------------------------ expected_version


@pytest.mark.parametrize("expected", ["1", 1.0, True, 0, -1])
def test_expected_version_must_be_a_whole_number_of_at_least_one_in_every_service(
    client: TestClient, auth: Tokens, system: System, expected: Any
) -> None:
    made = client.post(f"{API}/children", headers=auth("case_manager"), json=CHILD)
    child = f"{API}/children/{made.json()['id']}"
    formulation = f"{API}/children/{formulation_case(system)}/formulation"
    review = case_url(child_in_review(system))
    before = {path: version_of(client, auth, path) for path in (child, formulation, review)}
    refused(
        client.post(
            f"{child}/disputes",
            headers=auth("case_manager"),
            json={
                "field": "given_name",
                "reason": "Synthetic dispute",
                "expected_version": expected,
            },
        ),
        "expected_version",
    )
    refused(
        client.post(
            f"{formulation}/assessments",
            headers=auth(PSY),
            json={
                "stage": 2,
                "assessed_on": TODAY.isoformat(),
                "rationale": "Synthetic",
                "expected_version": expected,
            },
        ),
        "expected_version",
    )
    refused(
        client.put(
            f"{review}/cadence", headers=auth(SP), json={"weeks": 8, "expected_version": expected}
        ),
        "expected_version",
    )
    refused(
        client.post(
            f"{API}/notices/{uuid4()}/acknowledgement",
            headers=auth("partner", user=str(uuid4())),
            json={"expected_version": expected},
        ),
        "expected_version",
    )
    assert {path: version_of(client, auth, path) for path in before} == before


def test_a_meeting_cannot_be_recorded_as_held_before_the_day_it_was_scheduled_for(
    client: TestClient, auth: Tokens, system: System
) -> None:
    meetings = f"{API}/children/{formulation_case(system)}/formulation/meetings"
    made = client.post(
        meetings,
        headers=auth(PSY),
        json={
            "starts_at": "2024-05-08T10:00:00+01:00",
            "venue": "Synthetic office",
            "invitees": INVITEES,
        },
    )
    assert made.status_code == 201, made.text
    meeting = f"{meetings}/{made.json()['id']}"
    early = client.post(
        f"{meeting}/record",
        headers=auth(PSY),
        json={
            "held_on": "2024-05-01",
            "attendance": [{"agency": "education", "attendance": "attended"}],
        },
    )
    assert early.status_code == 409, early.text
    assert early.json()["field"] == "held_on"
    assert "cannot be held before it was scheduled" in early.json()["detail"]
    assert client.get(meeting, headers=auth(PSY)).json()["status"] == "scheduled"
