"""Offending outcomes over HTTP: case managers record, correct and retract; bad input is 4xx."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from services.referrals.contracts import REGISTRY
from services.referrals.outcomes import ChildOutcomes, outcomes_id_for
from services.runtime import System
from tests.conftest import Tokens
from tests.e2e.test_referrals_api import register

THEFT = {
    "offence_type": "theft",
    "committed_on": "2025-03-01",
    "proven_on": "2025-05-10",
    "outcome": "conviction",
}


def offences(client: TestClient, auth: Tokens, child_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/children/{child_id}/offences", headers=auth("case_manager"))
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def test_a_case_manager_records_corrects_and_retracts_offences_as_events(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id = register(client, auth)
    made = client.post(
        f"/api/v1/children/{child_id}/offences", json=THEFT, headers=auth("case_manager")
    )
    assert made.status_code == 201, made.text
    offence_id = made.json()["id"]
    corrected = client.post(
        f"/api/v1/children/{child_id}/offences/{offence_id}/corrections",
        json={"proven_on": "2025-06-01", "reason": "date of court result"},
        headers=auth("case_manager"),
    )
    assert corrected.status_code == 200, corrected.text
    (record,) = offences(client, auth, child_id)
    assert (record["proven_on"], record["committed_on"], record["retracted"]) == (
        "2025-06-01",
        "2025-03-01",
        False,
    )
    second = client.post(
        f"/api/v1/children/{child_id}/offences",
        json={
            "offence_type": "breach_of_order",
            "committed_on": "2025-07-01",
            "proven_on": "2025-07-20",
            "outcome": "breach_proven",
        },
        headers=auth("case_manager"),
    ).json()["id"]
    retracted = client.post(
        f"/api/v1/children/{child_id}/offences/{second}/retraction",
        json={"reason": "recorded against the wrong child"},
        headers=auth("case_manager"),
    )
    assert retracted.status_code == 200, retracted.text
    assert [r["retracted"] for r in offences(client, auth, child_id)] == [False, True]
    stored = list(system.apps["referrals"].events.get(outcomes_id_for(UUID(child_id))))
    names = [type(event).__name__ for event in stored]
    assert names == [
        "Started",
        "OffenceRecorded",
        "OffenceCorrected",
        "OffenceRecorded",
        "OffenceRetracted",
    ]
    assert all(type(event).class_version == 1 for event in stored)  # type: ignore[attr-defined]
    assert {REGISTRY.by_event[type(e)].event_type for e in stored} >= {
        "OffenceRecorded",
        "OffenceCorrected",
        "OffenceRetracted",
    }
    assert isinstance(
        system.apps["referrals"].repository.get(outcomes_id_for(UUID(child_id))), ChildOutcomes
    )


def test_bad_offences_are_refused_with_the_field_and_nothing_is_written(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id = register(client, auth)
    cases = [
        ({**THEFT, "committed_on": "2999-01-01"}, 422, "committed_on"),
        ({**THEFT, "proven_on": None}, 422, "proven_on"),
        ({**THEFT, "proven_on": "2025-01-01"}, 422, "proven_on"),
        ({**THEFT, "outcome": "breach_proven"}, 422, "outcome"),
        ({**THEFT, "offence_type": "jaywalking"}, 422, "offence_type"),
        ({**THEFT, "committed_on": "2025-02-30"}, 422, "committed_on"),
        ({**THEFT, "extra": 1}, 422, "extra"),
    ]
    for body, code, field in cases:
        response = client.post(
            f"/api/v1/children/{child_id}/offences", json=body, headers=auth("case_manager")
        )
        assert response.status_code == code, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text, (field, response.text)
    assert offences(client, auth, child_id) == []
    assert list(system.apps["referrals"].events.get(outcomes_id_for(UUID(child_id)))) == []


def test_offences_are_scoped_to_the_case_managers_area_and_closed_to_evaluators(
    client: TestClient, auth: Tokens
) -> None:
    child_id = register(client, auth)
    other = client.post(
        f"/api/v1/children/{child_id}/offences",
        json=THEFT,
        headers=auth("case_manager", area="banes"),
    )
    assert other.status_code == 404
    evaluator = client.get(f"/api/v1/children/{child_id}/offences", headers=auth("evaluator"))
    assert evaluator.status_code == 403
