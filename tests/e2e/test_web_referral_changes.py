"""A referral withdrawn, closed and corrected through the web pages over HTTP (no browser); a
consultation form refuses another child's consultation; an auditor disputes a child's field.
Each change is checked in the API afterwards; each refusal names the field or is a 404 page,
with nothing written."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from services.formulation.application import FormulationApplication
from services.runtime import System
from shared.domain import Area, Meta
from tests.conftest import Tokens
from tests.e2e.test_web_actions import API, PSY, TODAY, a_child, day, post, signed_in


def a_referral(client: TestClient, auth: Tokens, child: str) -> str:
    made = client.post(
        f"{API}/referrals",
        headers=auth("case_manager"),
        json={
            "child_id": child,
            "reason": "Synthetic reason",
            "trauma_history": "Synthetic history",
            "expected_involvement_months": 6,
        },
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def referral_of(client: TestClient, auth: Tokens, referral: str) -> Any:
    return client.get(f"{API}/referrals/{referral}", headers=auth("case_manager")).json()


def test_a_case_manager_withdraws_a_referral_with_a_reason_and_an_empty_reason_is_named(
    client: TestClient, auth: Tokens
) -> None:
    child = a_child(client, auth, "Withdrawchild")
    referral = a_referral(client, auth, child)
    csrf = signed_in(client, "cm-bristol-1")
    page = client.get(f"/referrals/{referral}").text
    address = f"/children/{child}/actions/referral-withdraw?target={referral}"
    assert address in page
    assert "referral-close" not in page  # closing is ECM staff's, and only once screened
    form = client.get(address)
    assert form.status_code == 200 and "Withdraw the referral" in form.text
    refused = post(client, address, {"csrf_token": csrf, "reason": ""})
    assert refused.status_code == 422 and 'href="#reason"' in refused.text
    assert referral_of(client, auth, referral)["status"] == "referred"
    done = post(client, address, {"csrf_token": csrf, "reason": "Synthetic: family moved"})
    assert done.status_code == 303 and done.headers["location"] == f"/referrals/{referral}"
    assert referral_of(client, auth, referral)["status"] == "withdrawn"
    again = post(client, address, {"csrf_token": csrf, "reason": "Synthetic: twice"})
    assert again.status_code == 409
    assert "referral-withdraw" not in client.get(f"/referrals/{referral}").text


def test_a_referrals_fields_are_corrected_and_a_bad_number_of_months_is_named(
    client: TestClient, auth: Tokens
) -> None:
    child = a_child(client, auth, "Correctreferral")
    referral = a_referral(client, auth, child)
    csrf = signed_in(client, "cm-bristol-1")
    address = f"/children/{child}/actions/referral-correct?target={referral}"
    assert address in client.get(f"/referrals/{referral}").text
    done = post(
        client,
        address,
        {
            "csrf_token": csrf,
            "field": "trauma_history",
            "value": "Synthetic: a corrected history",
            "reason": "Synthetic: typed in the wrong record",
        },
    )
    assert done.status_code == 303, done.text
    bad = post(
        client,
        address,
        {
            "csrf_token": csrf,
            "field": "expected_involvement_months",
            "value": "six",
            "reason": "Synthetic: longer",
        },
    )
    assert bad.status_code == 422 and 'href="#value"' in bad.text
    assert referral_of(client, auth, referral)["expected_involvement_months"] == 6
    done = post(
        client,
        address,
        {
            "csrf_token": csrf,
            "field": "expected_involvement_months",
            "value": "9",
            "reason": "Synthetic: longer",
        },
    )
    assert done.status_code == 303, done.text
    done = post(
        client,
        address,
        {
            "csrf_token": csrf,
            "field": "reason",
            "value": "Synthetic: the corrected reason",
            "reason": "Synthetic: clearer",
        },
    )
    assert done.status_code == 303, done.text
    after = referral_of(client, auth, referral)
    assert after["trauma_history"] == "Synthetic: a corrected history"
    assert after["expected_involvement_months"] == 9
    assert after["reason"] == "Synthetic: the corrected reason"
    page = client.get(f"/referrals/{referral}").text
    assert "Synthetic: a corrected history" in page and "9 months" in page


def test_a_psychologist_closes_an_accepted_referral_and_a_case_manager_is_not_offered_it(
    client: TestClient, auth: Tokens
) -> None:
    child = a_child(client, auth, "Closereferral")
    referral = a_referral(client, auth, child)
    consent = client.post(
        f"{API}/referrals/{referral}/consent",
        json={"consent": "given", "given_by": "parent"},
        headers=auth("case_manager"),
    )
    assert consent.status_code == 200, consent.text
    accepted = client.post(
        f"{API}/referrals/{referral}/screening", json={"decision": "accept"}, headers=auth(PSY)
    )
    assert accepted.status_code == 200, accepted.text
    address = f"/children/{child}/actions/referral-close?target={referral}"
    signed_in(client, "cm-bristol-1")
    assert address not in client.get(f"/referrals/{referral}").text
    assert client.get(address).status_code == 403
    csrf = signed_in(client, "psy-1")
    assert address in client.get(f"/referrals/{referral}").text
    done = post(client, address, {"csrf_token": csrf, "reason": "Synthetic: work ended"})
    assert done.status_code == 303, done.text
    assert referral_of(client, auth, referral)["status"] == "closed"


def test_a_referral_form_under_another_childs_address_is_not_found(
    client: TestClient, auth: Tokens
) -> None:
    first = a_child(client, auth, "Firstchild")
    second = a_child(client, auth, "Secondchild")
    referral = a_referral(client, auth, second)
    csrf = signed_in(client, "cm-bristol-1")
    address = f"/children/{first}/actions/referral-withdraw?target={referral}"
    assert client.get(address).status_code == 404
    refused = post(client, address, {"csrf_token": csrf, "reason": "Synthetic: wrong child"})
    assert refused.status_code == 404 and "Firstchild" not in refused.text
    assert referral_of(client, auth, referral)["status"] == "referred"


def test_a_consultation_of_another_child_in_the_area_is_refused_and_nothing_is_written(
    client: TestClient, auth: Tokens, system: System
) -> None:
    first = a_child(client, auth, "Ownchild")
    second = a_child(client, auth, "Otherchild")
    referral = a_referral(client, auth, second)
    app = system.apps["formulation"]
    assert isinstance(app, FormulationApplication)
    app.open_consultation(UUID(second), UUID(referral), Area.BRISTOL, Meta("psy-1", PSY, "c", "c"))
    [consultation] = client.get(
        f"{API}/consultations", params={"referral_id": referral}, headers=auth(PSY)
    ).json()
    csrf = signed_in(client, "psy-1")
    base = f"/children/{first}/actions"
    held = f"{base}/consultation-session?target={consultation['id']}"
    form = client.get(held)
    assert form.status_code == 404 and "Ownchild" not in form.text
    refused = post(
        client,
        held,
        {
            "csrf_token": csrf,
            **day("held_on", TODAY),
            "attended_by": "Case manager",
            "advice": "Synthetic advice",
        },
    )
    assert refused.status_code == 404
    closed = post(
        client, f"{base}/consultation-close?target={consultation['id']}", {"csrf_token": csrf}
    )
    assert closed.status_code == 404
    [after] = client.get(
        f"{API}/consultations", params={"referral_id": referral}, headers=auth(PSY)
    ).json()
    assert after["status"] == consultation["status"] and after["sessions"] == []
    own = client.get(f"/children/{second}/actions/consultation-session?target={consultation['id']}")
    assert own.status_code == 200 and "Otherchild" in own.text


def test_an_auditor_disputes_a_childs_field_on_a_form_without_the_childs_name(
    client: TestClient, auth: Tokens
) -> None:
    child = a_child(client, auth, "Auditedchild")
    csrf = signed_in(client, "auditor-1")
    address = f"/children/{child}/actions/child-dispute"
    trail = client.get(f"/audit/children/{child}").text
    assert f'href="{address}"' in trail and f"reference={child[:8]}" in trail
    form = client.get(address)
    assert form.status_code == 200, form.text
    assert "Flag the dispute" in form.text and "Auditedchild" not in form.text
    assert f'href="/audit/children/{child}"' in form.text
    refused = post(client, address, {"csrf_token": csrf, "field": "upn", "reason": ""})
    assert refused.status_code == 422 and 'href="#reason"' in refused.text
    done = post(
        client,
        address,
        {"csrf_token": csrf, "field": "family_name", "reason": "Synthetic: spelling disputed"},
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/audit/children/{child}"
    record = client.get(f"{API}/children/{child}", headers=auth("case_manager")).json()
    assert "family_name" in record["disputed"]
    assert client.get(f"/children/{child}/actions/child-correct").status_code == 403
