"""The referrals API over HTTP: the path of a referral and every kind of bad input."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from tests.conftest import Tokens

CHILD = {
    "given_name": "Testy",
    "family_name": "Synthetic",
    "date_of_birth": "2010-05-17",
    "area": "bristol",
    "nhs_number": "943 476 5919",
    "upn": "B801200005001",
}


def register(client: TestClient, auth: Tokens, **overrides: Any) -> str:
    response = client.post(
        "/api/v1/children", json={**CHILD, **overrides}, headers=auth("case_manager")
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def refer(client: TestClient, auth: Tokens, child_id: str) -> str:
    response = client.post(
        "/api/v1/referrals",
        json={
            "child_id": child_id,
            "reason": "Escalating risk; repeated exclusions",
            "trauma_history": "Synthetic: loss of a grandparent; two care moves",
            "expected_involvement_months": 9,
        },
        headers=auth("case_manager"),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_case_manager_registers_and_refers_a_child_who_is_then_accepted(
    client: TestClient, auth: Tokens
) -> None:
    child_id = register(client, auth)
    referral_id = refer(client, auth, child_id)
    consent = client.post(
        f"/api/v1/referrals/{referral_id}/consent",
        json={"consent": "given", "given_by": "parent"},
        headers=auth("case_manager"),
    )
    assert consent.status_code == 200, consent.text
    accepted = client.post(
        f"/api/v1/referrals/{referral_id}/screening",
        json={"decision": "accept"},
        headers=auth("psychologist"),
    )
    assert accepted.status_code == 200, accepted.text
    referral = client.get(f"/api/v1/referrals/{referral_id}", headers=auth("case_manager"))
    assert referral.json()["status"] == "accepted"
    child = client.get(f"/api/v1/children/{child_id}", headers=auth("case_manager")).json()
    assert child["given_name"] == "Testy"
    assert child["nhs_number"] == "9434765919"
    assert child["open_referral_id"] == referral_id


def test_an_invalid_nhs_number_is_refused_naming_the_field_and_rule(
    client: TestClient, auth: Tokens
) -> None:
    response = client.post(
        "/api/v1/children", json={**CHILD, "nhs_number": "9434765918"}, headers=auth("case_manager")
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "nhs_number: check digit does not match"


def test_a_request_without_a_token_is_refused(client: TestClient) -> None:
    assert client.post("/api/v1/children", json=CHILD).status_code == 401


def events_stored(client: TestClient) -> int:
    system = client.app.state.system  # type: ignore[attr-defined]
    return int(system.apps["referrals"].max_notification_id())


def test_an_unknown_child_is_404(client: TestClient, auth: Tokens) -> None:
    response = client.get(
        "/api/v1/children/7b0c3b6e-0000-4000-8000-000000000000", headers=auth("psychologist")
    )
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


def test_an_invalid_upn_is_refused_and_nothing_is_written(client: TestClient, auth: Tokens) -> None:
    before = events_stored(client)
    response = client.post(
        "/api/v1/children", json={**CHILD, "upn": "A801200005001"}, headers=auth("case_manager")
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "upn: check letter does not match"
    assert events_stored(client) == before


def test_a_referral_for_less_than_six_months_is_refused(client: TestClient, auth: Tokens) -> None:
    child_id = register(client, auth)
    before = events_stored(client)
    response = client.post(
        "/api/v1/referrals",
        headers=auth("case_manager"),
        json={
            "child_id": child_id,
            "reason": "r",
            "trauma_history": "t",
            "expected_involvement_months": 3,
        },
    )
    assert response.status_code == 422
    assert response.json()["field"] == "expected_involvement_months"
    assert events_stored(client) == before


def test_accepting_without_consent_is_a_conflict_naming_consent(
    client: TestClient, auth: Tokens
) -> None:
    referral_id = refer(client, auth, register(client, auth))
    response = client.post(
        f"/api/v1/referrals/{referral_id}/screening",
        json={"decision": "accept"},
        headers=auth("psychologist"),
    )
    assert response.status_code == 409
    assert response.json()["detail"].startswith("consent:")


def test_accepting_a_declined_referral_is_a_conflict(client: TestClient, auth: Tokens) -> None:
    referral_id = refer(client, auth, register(client, auth))
    declined = client.post(
        f"/api/v1/referrals/{referral_id}/screening",
        json={"decision": "decline", "reason": "does not meet criteria"},
        headers=auth("psychologist"),
    )
    assert declined.status_code == 200
    response = client.post(
        f"/api/v1/referrals/{referral_id}/screening",
        json={"decision": "accept"},
        headers=auth("psychologist"),
    )
    assert response.status_code == 409
    assert response.json()["detail"] == "status: cannot accept a referral that is declined"


def test_declining_without_a_reason_is_refused(client: TestClient, auth: Tokens) -> None:
    referral_id = refer(client, auth, register(client, auth))
    response = client.post(
        f"/api/v1/referrals/{referral_id}/screening",
        json={"decision": "decline"},
        headers=auth("psychologist"),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "reason"


def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(
    client: TestClient, auth: Tokens
) -> None:
    referral_id = refer(client, auth, register(client, auth))
    before = events_stored(client)
    response = client.post(
        f"/api/v1/referrals/{referral_id}/consent",
        json={"consent": "given", "given_by": "parent", "expected_version": 5},
        headers=auth("case_manager"),
    )
    assert response.status_code == 409
    assert response.json()["field"] == "expected_version"
    assert events_stored(client) == before


def test_a_second_open_referral_is_refused_but_a_closed_one_can_be_followed(
    client: TestClient, auth: Tokens
) -> None:
    child_id = register(client, auth)
    first = refer(client, auth, child_id)
    again = client.post(
        "/api/v1/referrals",
        headers=auth("case_manager"),
        json={
            "child_id": child_id,
            "reason": "again",
            "trauma_history": "t",
            "expected_involvement_months": 6,
        },
    )
    assert again.status_code == 409
    withdrawn = client.post(
        f"/api/v1/referrals/{first}/withdrawal",
        json={"reason": "moved out of area"},
        headers=auth("case_manager"),
    )
    assert withdrawn.status_code == 200
    second = refer(client, auth, child_id)
    child = client.get(f"/api/v1/children/{child_id}", headers=auth("case_manager")).json()
    assert child["referral_ids"] == [first, second]
    assert child["open_referral_id"] == second


def test_a_correction_keeps_the_original_and_the_past_view_shows_it(
    client: TestClient, auth: Tokens
) -> None:
    child_id = register(client, auth)
    response = client.post(
        f"/api/v1/children/{child_id}/corrections",
        headers=auth("psychologist"),
        json={"field": "given_name", "value": "Testie", "reason": "spelling confirmed with carer"},
    )
    assert response.status_code == 200, response.text
    child = client.get(f"/api/v1/children/{child_id}", headers=auth("psychologist")).json()
    assert child["given_name"] == "Testie"
    system = client.app.state.system  # type: ignore[attr-defined]
    events = list(system.apps["referrals"].events.get(UUID(child_id)))
    corrected = events[-1]
    assert (corrected.original, corrected.value, corrected.meta.reason) == (
        "Testy",
        "Testie",
        "spelling confirmed with carer",
    )


def test_a_correction_of_an_unknown_field_names_the_field(client: TestClient, auth: Tokens) -> None:
    child_id = register(client, auth)
    response = client.post(
        f"/api/v1/children/{child_id}/corrections",
        headers=auth("psychologist"),
        json={"field": "shoe_size", "value": "5", "reason": "no such field"},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "field: 'shoe_size' cannot be corrected"


def test_an_expired_or_forged_token_is_401(client: TestClient, auth: Tokens) -> None:
    forged = {"Authorization": "Bearer " + "e30.e30.c2ln"}
    assert client.get("/api/v1/referrals", headers=forged).status_code == 401


def test_the_actor_on_the_event_comes_from_the_token(client: TestClient, auth: Tokens) -> None:
    response = client.post(
        "/api/v1/children",
        json={**CHILD, "actor_id": "someone-else"},
        headers=auth("case_manager", user="cm-real"),
    )
    assert response.status_code == 201
    system = client.app.state.system  # type: ignore[attr-defined]
    (event,) = system.apps["referrals"].events.get(UUID(response.json()["id"]))
    assert (event.meta.actor_id, event.meta.actor_role) == ("cm-real", "case_manager")


def test_openapi_and_asyncapi_documents_are_served(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "ECM Record"
    document = client.get("/asyncapi.json").json()
    assert document["asyncapi"].startswith("3.")
    assert document["channels"]["referrals.ReferralAccepted"]["address"] == (
        "ecm.referrals.ReferralAccepted"
    )
    assert client.get("/health").json()["status"] == "ok"


def test_a_record_cannot_be_shown_as_it_will_stand_in_the_future(
    client: TestClient, auth: Tokens
) -> None:
    child_id = register(client, auth)
    response = client.get(
        f"/api/v1/children/{child_id}?as_of=2999-01-01", headers=auth("case_manager")
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "as_of: must not be in the future"
