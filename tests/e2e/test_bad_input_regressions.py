"""Odd input that once made the API answer 5xx: each now gets a 4xx naming the field and rule.

Found by fuzzing the OpenAPI schema (schemathesis, every role) and by hand. Each test sends the
request over real HTTP and checks the status, the detail and that nothing was written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.formulation.application import FormulationApplication
from services.notifications.application import NotificationsApplication
from services.runtime import System, create_api
from shared.domain import Area, Meta
from shared.settings import Settings
from tests.conftest import Tokens
from tests.e2e.test_reviews_api import child_in_review, due_review
from tests.integration.test_notifications_support import deliver, invitees, review_scheduled

API = "/api/v1"
CHILD = {
    "given_name": "Testy",
    "family_name": "Synthetic",
    "date_of_birth": "2010-05-17",
    "area": "bristol",
}


def detail(response: Any) -> str:
    return str(response.json()["detail"])


def register(client: TestClient, auth: Tokens) -> str:
    response = client.post(f"{API}/children", json=CHILD, headers=auth("case_manager"))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def refer(client: TestClient, auth: Tokens, child_id: str) -> str:
    response = client.post(
        f"{API}/referrals",
        headers=auth("case_manager"),
        json={
            "child_id": child_id,
            "reason": "Synthetic reason",
            "trauma_history": "Synthetic",
            "expected_involvement_months": 12,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# ------------------------------------------------------------------ referral list


def test_a_referral_list_offset_beyond_a_database_integer_is_a_422_naming_offset(
    client: TestClient, auth: Tokens
) -> None:
    for offset in (2**63, 10**30):
        response = client.get(
            f"{API}/referrals", params={"offset": offset}, headers=auth("psychologist")
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "offset"
        assert detail(response) == "offset: Input should be less than or equal to 1000000"
    assert (
        client.get(
            f"{API}/referrals", params={"offset": 1_000_000}, headers=auth("psychologist")
        ).status_code
        == 200
    )


# ------------------------------------------------------------------ corrections

LONE_SURROGATE = b'"Synthetic \\ud800 name"'  # valid JSON, but no UTF-8 text can hold it


def version_of(client: TestClient, auth: Tokens, path: str) -> int:
    return int(client.get(path, headers=auth("psychologist")).json()["version"])


def test_a_correction_value_holding_a_lone_surrogate_is_a_422_and_nothing_is_written(
    client: TestClient, auth: Tokens
) -> None:
    child_id = register(client, auth)
    referral_id = refer(client, auth, child_id)
    for path, field in (
        (f"{API}/children/{child_id}", "given_name"),
        (f"{API}/referrals/{referral_id}", "reason"),
    ):
        before = version_of(client, auth, path)
        body = (
            b'{"field": "'
            + field.encode()
            + b'", "value": '
            + LONE_SURROGATE
            + b', "reason": "Synthetic correction reason"}'
        )
        response = client.post(
            f"{path}/corrections",
            content=body,
            headers={**auth("psychologist"), "content-type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "value"
        assert detail(response) == "value: must be valid Unicode text (it holds a lone surrogate)"
        assert version_of(client, auth, path) == before


def test_a_correction_value_that_is_a_list_object_or_boolean_is_a_422_naming_value(
    client: TestClient, auth: Tokens
) -> None:
    child_id = register(client, auth)
    for value in (["Testie"], {"text": "Testie"}, True, 1.5):
        response = client.post(
            f"{API}/children/{child_id}/corrections",
            headers=auth("psychologist"),
            json={"field": "given_name", "value": value, "reason": "Synthetic correction reason"},
        )
        assert response.status_code == 422, response.text
        assert detail(response) == "value: must be text, a whole number or null"
    assert version_of(client, auth, f"{API}/children/{child_id}") == 1


def test_an_involvement_correction_beyond_120_months_is_a_422_naming_value(
    client: TestClient, auth: Tokens
) -> None:
    # 2**63 months was accepted, then broke the referral list projection (OverflowError).
    child_id = register(client, auth)
    referral_id = refer(client, auth, child_id)
    for months in (121, 2**63, 10**30):
        response = client.post(
            f"{API}/referrals/{referral_id}/corrections",
            headers=auth("case_manager"),
            json={
                "field": "expected_involvement_months",
                "value": months,
                "reason": "Synthetic correction reason",
            },
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "value"
        assert detail(response) == (
            "value: expected_involvement_months must be a whole number from 6 to 120"
        )
    assert version_of(client, auth, f"{API}/referrals/{referral_id}") == 1
    accepted = client.post(
        f"{API}/referrals/{referral_id}/corrections",
        headers=auth("case_manager"),
        json={
            "field": "expected_involvement_months",
            "value": 120,
            "reason": "Synthetic correction reason",
        },
    )
    assert accepted.status_code == 200, accepted.text


def test_a_referral_text_correction_longer_than_a_new_referral_allows_is_a_422(
    client: TestClient, auth: Tokens
) -> None:
    child_id = register(client, auth)
    referral_id = refer(client, auth, child_id)
    response = client.post(
        f"{API}/referrals/{referral_id}/corrections",
        headers=auth("case_manager"),
        json={
            "field": "trauma_history",
            "value": "x" * 10_001,
            "reason": "Synthetic correction reason",
        },
    )
    assert response.status_code == 422, response.text
    assert detail(response) == "value: trauma_history must be at most 10000 characters"
    assert version_of(client, auth, f"{API}/referrals/{referral_id}") == 1


def test_a_child_correction_follows_the_rules_of_registration(
    client: TestClient, auth: Tokens
) -> None:
    child_id = register(client, auth)
    refused = {
        ("date_of_birth", "9999-12-31"): "value: date_of_birth must not be in the future",
        ("date_of_birth", "17/05/2010"): "value: date_of_birth must be a date (YYYY-MM-DD)",
        ("date_of_birth", 20100517): "value: date_of_birth must be a date (YYYY-MM-DD)",
        ("given_name", "x" * 201): "value: given_name must be at most 200 characters",
        ("area", "cornwall"): "value: area must be one of bristol, north_somerset, "
        "south_gloucestershire, banes",
    }
    for (field, value), expected in refused.items():
        response = client.post(
            f"{API}/children/{child_id}/corrections",
            headers=auth("psychologist"),
            json={"field": field, "value": value, "reason": "Synthetic correction reason"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "value"
        assert detail(response) == expected
    assert version_of(client, auth, f"{API}/children/{child_id}") == 1


# ------------------------------------------------------------ meeting and review times

BEYOND_UTC = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")
INVITEES = [{"agency": "education"}, {"agency": "police"}]


START_RULES = (
    "starts_at: must not be before 2019-01-01",
    "starts_at: must not be more than a year ahead",
)


def formulation_case(system: System) -> str:
    app = system.apps["formulation"]
    assert isinstance(app, FormulationApplication)
    child_id = uuid4()
    app.open_case(child_id, uuid4(), Area.BRISTOL, Meta("psy-1", "psychologist", "c", "c"))
    return str(child_id)


def test_a_formulation_meeting_time_that_has_no_utc_equivalent_is_a_422_naming_starts_at(
    client: TestClient, auth: Tokens, system: System
) -> None:
    # Stored, such a time made the partner's notice list answer 500 (OverflowError).
    meetings = f"{API}/children/{formulation_case(system)}/formulation/meetings"
    for starts_at in (*BEYOND_UTC, "1999-12-31T23:00:00+00:00", "2101-01-01T00:00:00Z"):
        response = client.post(
            meetings,
            headers=auth("psychologist"),
            json={"starts_at": starts_at, "venue": "Synthetic office", "invitees": INVITEES},
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "starts_at"
        assert detail(response) in START_RULES
    assert client.get(meetings, headers=auth("psychologist")).json() == []
    made = client.post(
        meetings,
        headers=auth("psychologist"),
        json={
            "starts_at": "2024-05-01T10:00:00+01:00",
            "venue": "Synthetic office",
            "invitees": INVITEES,
        },
    )
    assert made.status_code == 201, made.text
    moved = client.post(
        f"{meetings}/{made.json()['id']}/reschedule",
        headers=auth("psychologist"),
        json={"starts_at": BEYOND_UTC[1], "reason": "Synthetic reason"},
    )
    assert moved.status_code == 422, moved.text
    assert detail(moved) in START_RULES


def test_a_review_time_that_has_no_utc_equivalent_is_a_422_naming_starts_at(
    client: TestClient, auth: Tokens, system: System
) -> None:
    # Stored, such a time made the caseload projection fail on every delivery.
    child_id = child_in_review(system)
    review_id = due_review(client, auth, child_id)
    case = f"{API}/review-cases/{child_id}"
    before = client.get(case, headers=auth("psychologist")).json()["version"]
    for starts_at in BEYOND_UTC:
        response = client.post(
            f"{case}/reviews/{review_id}/schedule",
            headers=auth("psychologist"),
            json={"starts_at": starts_at, "venue": "Synthetic centre", "invitees": INVITEES},
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "starts_at"
        assert detail(response) in START_RULES
    assert client.get(case, headers=auth("psychologist")).json()["version"] == before


def test_a_notice_stored_with_a_time_beyond_uk_time_is_listed_and_shown_not_a_500(
    client: TestClient, auth: Tokens, system: System
) -> None:
    # Notices queued before start times were bounded: their time is shown as it was given.
    app = system.apps["notifications"]
    assert isinstance(app, NotificationsApplication)
    contact = uuid4()
    deliver(
        app,
        review_scheduled(
            app.cipher,
            uuid4(),
            invitees(("education", contact)),
            starts_at="0001-01-01T00:00:00+14:00",
        ),
    )
    partner = auth("partner", user=str(contact))
    listed = client.get(f"{API}/notices", headers=partner)
    assert listed.status_code == 200, listed.text
    (notice,) = listed.json()
    assert notice["when"] == "0001-01-01T00:00:00+14:00"
    shown = client.get(f"{API}/notices/{notice['id']}", headers=partner)
    assert shown.status_code == 200, shown.text
    assert shown.json()["when"] == "0001-01-01T00:00:00+14:00"
    assert UUID(shown.json()["id"]) == UUID(notice["id"])


# ------------------------------------------------------------------ unreadable bodies


def post_raw(client: TestClient, auth: Tokens, body: bytes) -> Any:
    return client.post(
        f"{API}/children",
        content=body,
        headers={**auth("case_manager"), "content-type": "application/json"},
    )


def test_a_body_that_is_not_json_is_a_422_naming_the_body_not_a_character_position(
    client: TestClient, auth: Tokens
) -> None:
    response = post_raw(client, auth, b'{"given_name": "Testy",}')
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "body"
    assert detail(response) == (
        "body: is not valid JSON (Expecting property name enclosed in double quotes at "
        "character 23)"
    )


def test_a_body_that_is_not_utf8_or_nested_too_deeply_is_a_400_naming_the_body(
    client: TestClient, auth: Tokens
) -> None:
    for body in (b'{"given_name": "\xc3\x28"}', b"[" * 100_000 + b"]" * 100_000):
        response = post_raw(client, auth, body)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "type": "about:blank",
            "title": "Bad Request",
            "status": 400,
            "detail": "body: is not readable as JSON (it must be UTF-8 and not nested too deeply)",
            "field": "body",
        }


def test_other_http_errors_keep_their_usual_answers(client: TestClient, auth: Tokens) -> None:
    assert client.get(f"{API}/no-such-thing", headers=auth("psychologist")).json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "not found",
    }
    wrong_method = client.delete(f"{API}/children", headers=auth("case_manager"))
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"


# ------------------------------------------------------------------ NUL characters

NUL_RULE = "must not contain NUL characters (\\u0000)"
PARTNER = {"agency": "education", "name": "Pat Teacher", "email": "pat@school.example.org"}


def test_a_nul_character_in_body_text_is_a_422_naming_the_nested_field(
    client: TestClient, auth: Tokens, system: System
) -> None:
    # PostgreSQL text cannot hold NUL: stored, it broke the partner directory and caseload.
    response = client.post(
        f"{API}/partners",
        headers=auth("senior_practitioner"),
        json={**PARTNER, "name": "Pat\x00Teacher"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "name"
    assert detail(response) == f"name: {NUL_RULE}"
    assert client.get(f"{API}/partners", headers=auth("admin")).json() == []
    child_id = child_in_review(system)
    review_id = due_review(client, auth, child_id)
    scheduled = client.post(
        f"{API}/review-cases/{child_id}/reviews/{review_id}/schedule",
        headers=auth("psychologist"),
        json={
            "starts_at": "2024-05-01T10:00:00+01:00",
            "venue": "Synthetic centre",
            "invitees": [{"agency": "education"}, {"agency": "police\x00"}],
        },
    )
    assert scheduled.status_code == 422, scheduled.text
    assert detail(scheduled) == f"invitees.1.agency: {NUL_RULE}"


def test_a_nul_character_in_a_query_parameter_is_a_422_naming_the_parameter(
    client: TestClient, auth: Tokens
) -> None:
    for path, name in (
        (f"{API}/caseload/reviews", "worker"),
        (f"{API}/supervision-sessions", "practitioner_id"),
        (f"{API}/supervision-sessions", "supervisor_id"),
    ):
        response = client.get(path, params={name: "sp\x001"}, headers=auth("psychologist"))
        assert response.status_code == 422, response.text
        assert response.json()["field"] == name
        assert detail(response) == f"{name}: {NUL_RULE}"


def test_unstorable_text_is_checked_only_after_authentication_and_the_policy(
    client: TestClient, auth: Tokens
) -> None:
    body = {**PARTNER, "name": "Pat\x00Teacher"}
    assert client.post(f"{API}/partners", json=body).status_code == 401
    assert client.post(f"{API}/partners", json=body, headers=auth("evaluator")).status_code == 403


@pytest.fixture
def pg_client(pg_settings: Settings) -> Iterator[TestClient]:
    """The whole API on PostgreSQL (skipped unless ECM_TEST_POSTGRES_URL is set)."""
    built = System.build(pg_settings)
    try:
        with TestClient(create_api(built)) as c:
            yield c
    finally:
        built.close()


def test_on_postgresql_a_nul_character_is_refused_and_the_directory_and_caseload_still_answer(
    pg_client: TestClient, pg_settings: Settings
) -> None:
    auth = Tokens(pg_settings)
    refused = pg_client.post(
        f"{API}/partners",
        headers=auth("senior_practitioner"),
        json={**PARTNER, "email": "pat\x00@school.example.org"},
    )
    assert refused.status_code == 422, refused.text
    assert detail(refused) == f"email: {NUL_RULE}"
    assert (
        pg_client.post(
            f"{API}/partners", headers=auth("senior_practitioner"), json=PARTNER
        ).status_code
        == 201
    )
    listed = pg_client.get(f"{API}/partners", headers=auth("admin"))
    assert listed.status_code == 200, listed.text
    assert [p["name"] for p in listed.json()] == ["Pat Teacher"]
    caseload = pg_client.get(
        f"{API}/caseload/reviews", params={"worker": "sp\x001"}, headers=auth("psychologist")
    )
    assert caseload.status_code == 422, caseload.text
    assert detail(caseload) == f"worker: {NUL_RULE}"


def test_an_audit_trail_asked_for_by_a_referral_id_is_not_found(
    client: TestClient, auth: Tokens
) -> None:
    child = client.post(
        "/api/v1/children",
        headers=auth("case_manager"),
        json={
            "given_name": "Audit",
            "family_name": "Synthetic",
            "date_of_birth": "2011-01-01",
            "area": "bristol",
        },
    ).json()["id"]
    referral = client.post(
        "/api/v1/referrals",
        headers=auth("case_manager"),
        json={
            "child_id": child,
            "reason": "synthetic",
            "trauma_history": "synthetic",
            "expected_involvement_months": 6,
        },
    ).json()["id"]
    assert client.get(f"/api/v1/audit/children/{child}", headers=auth("auditor")).status_code == 200
    for path in (f"/api/v1/audit/children/{referral}", f"/api/v1/audit/children/{referral}/sar"):
        response = client.get(path, headers=auth("auditor"))
        assert response.status_code == 404 and response.json()["detail"] == "not found"
