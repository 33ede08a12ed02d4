"""The referrals API over HTTP: the path of a referral and every kind of bad input."""

from __future__ import annotations

from typing import Any

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
    response = client.post("/api/v1/children", json={**CHILD, **overrides},
                           headers=auth("case_manager"))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def refer(client: TestClient, auth: Tokens, child_id: str) -> str:
    response = client.post(
        "/api/v1/referrals",
        json={"child_id": child_id, "reason": "Escalating risk; repeated exclusions",
              "trauma_history": "Synthetic: loss of a grandparent; two care moves",
              "expected_involvement_months": 9},
        headers=auth("case_manager"),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_case_manager_registers_and_refers_a_child_who_is_then_accepted(
    client: TestClient, auth: Tokens
) -> None:
    child_id = register(client, auth)
    referral_id = refer(client, auth, child_id)
    consent = client.post(f"/api/v1/referrals/{referral_id}/consent",
                          json={"consent": "given", "given_by": "parent"},
                          headers=auth("case_manager"))
    assert consent.status_code == 200, consent.text
    accepted = client.post(f"/api/v1/referrals/{referral_id}/screening",
                           json={"decision": "accept"}, headers=auth("psychologist"))
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
    response = client.post("/api/v1/children", json={**CHILD, "nhs_number": "9434765918"},
                           headers=auth("case_manager"))
    assert response.status_code == 422
    assert response.json()["detail"] == "nhs_number: check digit does not match"


def test_a_request_without_a_token_is_refused(client: TestClient) -> None:
    assert client.post("/api/v1/children", json=CHILD).status_code == 401
