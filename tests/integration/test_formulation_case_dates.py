"""Dates agree with the case: a formulation report or stage assessment is not dated before
the child's referral, which the formulation service learns from the stream (real nats-server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from services.formulation.case_dates import NAME, CaseDates
from services.rebuild import check
from services.runtime import System, create_api
from shared.domain import NotFound
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.conftest import Tokens
from tests.harness import eventually, in_thread, running_node

pytestmark = pytest.mark.nats

CM, PSY = "case_manager", "psychologist"
TODAY = date.today()
YESTERDAY = TODAY - timedelta(days=1)


@pytest.fixture
def system(store_settings: Settings) -> Iterator[System]:
    built = System.build(store_settings, ["referrals", "formulation"])
    yield built
    built.close()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def accepted_referral(client: TestClient, auth: Tokens) -> tuple[str, str]:
    """A child referred, consented and accepted for formulation today, over HTTP."""
    child_id = ok(
        client.post(
            "/api/v1/children",
            headers=auth(CM),
            json={
                "given_name": "Testy",
                "family_name": "Synthetic",
                "date_of_birth": "2010-05-17",
                "area": "bristol",
            },
        ),
        201,
    )["id"]
    referral_id = ok(
        client.post(
            "/api/v1/referrals",
            headers=auth(CM),
            json={
                "child_id": child_id,
                "reason": "Synthetic reason",
                "trauma_history": "Synthetic",
                "expected_involvement_months": 9,
            },
        ),
        201,
    )["id"]
    ok(
        client.post(
            f"/api/v1/referrals/{referral_id}/consent",
            headers=auth(CM),
            json={"consent": "given", "given_by": "parent"},
        )
    )
    ok(
        client.post(
            f"/api/v1/referrals/{referral_id}/screening",
            headers=auth(PSY),
            json={"decision": "accept"},
        )
    )
    return child_id, referral_id


def report(client: TestClient, auth: Tokens, child_id: str, issued_on: date) -> Any:
    return client.post(
        f"/api/v1/children/{child_id}/formulation/reports",
        headers=auth(PSY),
        json={
            "narrative": "Synthetic narrative",
            "stage": 2,
            "issued_on": issued_on.isoformat(),
            "stage_rationale": "Synthetic rationale",
            "recommendations": [],
        },
    )


def assessment(client: TestClient, auth: Tokens, child_id: str, assessed_on: date) -> Any:
    return client.post(
        f"/api/v1/children/{child_id}/formulation/assessments",
        headers=auth(PSY),
        json={
            "stage": 2,
            "rationale": "Synthetic rationale",
            "assessed_on": assessed_on.isoformat(),
        },
    )


async def test_a_report_or_assessment_dated_before_the_referral_is_refused(
    system: System, nats_server: EmbeddedNats, auth: Tokens
) -> None:
    formulation = system.apps["formulation"]
    dates = CaseDates(system.engine("formulation-read"))
    with TestClient(create_api(system)) as client:
        async with running_node(system.settings, nats_server, system=system):
            child_id, referral_id = await in_thread(accepted_referral, client, auth)

            def ready() -> bool:
                try:
                    formulation.get_case(UUID(child_id))  # type: ignore[attr-defined]
                except NotFound:
                    return False
                return dates.referred_on([UUID(referral_id)]) is not None

            await eventually(ready)
            early = await in_thread(report, client, auth, child_id, YESTERDAY)
            assert early.status_code == 422, early.text
            assert early.json()["field"] == "issued_on"
            assert early.json()["detail"] == (
                f"issued_on: must not be before the child's referral on {TODAY.isoformat()}"
            )
            refused = await in_thread(assessment, client, auth, child_id, YESTERDAY)
            assert refused.status_code == 422, refused.text
            assert refused.json()["field"] == "assessed_on"
            reports = ok(
                await in_thread(
                    client.get,
                    f"/api/v1/children/{child_id}/formulation/reports",
                    headers=auth(PSY),
                )
            )
            assert reports == []  # nothing was written by the refused requests

            ok(await in_thread(report, client, auth, child_id, TODAY), 201)
            ok(await in_thread(assessment, client, auth, child_id, TODAY), 201)

    consumer = next(c for c in system.consumers() if c.name == NAME)
    assert await in_thread(check, system, consumer) == []
