"""The referrals routes load each record once, authorised by area where it is loaded."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from services.referrals.application import ReferralsApplication
from services.runtime import System
from tests.conftest import Tokens
from tests.e2e.test_one_load_per_request import Reads
from tests.e2e.test_referrals_api import refer, register


@pytest.fixture
def referrals(system: System) -> ReferralsApplication:
    app = system.apps["referrals"]
    assert isinstance(app, ReferralsApplication)
    return app


def test_each_referral_write_loads_its_records_once(
    client: TestClient,
    auth: Tokens,
    referrals: ReferralsApplication,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    child_id = register(client, auth)
    reads = Reads(referrals, monkeypatch)
    referral_id = refer(client, auth, child_id)
    assert reads.loads == 1  # the child
    writes = [
        (
            f"/api/v1/referrals/{referral_id}/consent",
            {"consent": "given", "given_by": "parent"},
            "case_manager",
            1,
        ),
        (
            f"/api/v1/referrals/{referral_id}/corrections",
            {"field": "reason", "value": "Synthetic: repeated exclusions", "reason": "typo"},
            "case_manager",
            1,
        ),
        (
            f"/api/v1/children/{child_id}/corrections",
            {"field": "given_name", "value": "Testie", "reason": "spelling"},
            "case_manager",
            1,
        ),
        (
            f"/api/v1/children/{child_id}/disputes",
            {"field": "family_name", "reason": "the family disputes it"},
            "case_manager",
            1,
        ),
        (f"/api/v1/referrals/{referral_id}/screening", {"decision": "accept"}, "psychologist", 1),
        (
            f"/api/v1/referrals/{referral_id}/closure",
            {"reason": "work ended"},
            "psychologist",
            2,
        ),  # the referral, then the child it frees
    ]
    for path, body, role, loads in writes:
        reads.reset()
        response = client.post(path, json=body, headers=auth(role))
        assert response.status_code == 200, (path, response.text)
        assert reads.loads == loads, path
    reads.reset()
    again = refer(client, auth, child_id)
    withdrawn = client.post(
        f"/api/v1/referrals/{again}/withdrawal",
        json={"reason": "moved out of area"},
        headers=auth("case_manager"),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert reads.loads == 3  # the child to refer; the referral and the child to withdraw


def test_another_areas_child_and_referral_answer_like_missing_ones_from_one_load(
    client: TestClient,
    auth: Tokens,
    referrals: ReferralsApplication,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    child_id = register(client, auth)
    referral_id = refer(client, auth, child_id)
    banes = auth("case_manager", "banes")
    reads = Reads(referrals, monkeypatch)
    attempts = [
        client.get(f"/api/v1/children/{child_id}", headers=banes),
        client.get(f"/api/v1/referrals/{referral_id}", headers=banes),
        client.post(
            f"/api/v1/referrals/{referral_id}/consent",
            headers=banes,
            json={"consent": "given", "given_by": "parent"},
        ),
        client.post(
            f"/api/v1/referrals/{referral_id}/withdrawal",
            headers=banes,
            json={"reason": "not ours"},
        ),
        client.post(
            f"/api/v1/children/{child_id}/corrections",
            headers=banes,
            json={"field": "given_name", "value": "Other", "reason": "not ours"},
        ),
        client.post(
            "/api/v1/referrals",
            headers=banes,
            json={
                "child_id": child_id,
                "reason": "Synthetic",
                "trauma_history": "Synthetic",
                "expected_involvement_months": 9,
            },
        ),
    ]
    assert [a.status_code for a in attempts] == [404] * len(attempts)
    assert reads.loads == len(attempts)
    child = referrals.get_child(UUID(child_id))
    assert child.given_name == "Testy"
    assert child.open_referral_id is not None
    assert referrals.get_referral(UUID(referral_id)).consent is None


def test_a_child_or_referral_as_of_a_day_reads_its_events_once(
    client: TestClient,
    auth: Tokens,
    referrals: ReferralsApplication,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    child_id = register(client, auth)
    referral_id = refer(client, auth, child_id)
    reads = Reads(referrals, monkeypatch)
    today = date.today().isoformat()
    for path in (f"children/{child_id}", f"referrals/{referral_id}"):
        reads.reset()
        response = client.get(f"/api/v1/{path}?as_of={today}", headers=auth("case_manager"))
        assert response.status_code == 200, response.text
        assert (reads.loads, reads.event_reads) == (0, 1), path
    refused = client.get(
        f"/api/v1/referrals/{referral_id}?as_of={today}", headers=auth("case_manager", "banes")
    )
    assert refused.status_code == 404
