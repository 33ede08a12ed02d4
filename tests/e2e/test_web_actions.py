"""The record's other changes through the web pages over HTTP (no browser): interventions,
meetings and reviews moved or cancelled, consultations, case closure and reopening, entries
retracted, a child's fields corrected or disputed, the partner directory, and reports with
several recommendations. Each change is checked in the API afterwards; each refusal is a page
naming the field, with nothing written."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from services.formulation.application import FormulationApplication
from services.runtime import System
from shared.domain import Area, Meta
from tests.conftest import Tokens
from tests.e2e.test_reviews_api import formulation

API = "/api/v1"
TODAY = date.today()
PSY = "psychologist"


def signed_in(client: TestClient, user: str) -> str:
    """Sign in on the dev page as `user`; the session's CSRF token."""
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = client.post("/sign-in", data={"user": user, "csrf_token": token.group(1)})
    assert done.status_code == 200, done.text
    again = re.search(r'name="csrf_token" value="([^"]+)"', done.text)
    assert again is not None
    return again.group(1)


def day(name: str, on: date) -> dict[str, str]:
    return {
        f"{name}-day": str(on.day),
        f"{name}-month": str(on.month),
        f"{name}-year": str(on.year),
    }


def a_child(client: TestClient, auth: Tokens, family: str = "Actionchild") -> str:
    made = client.post(
        f"{API}/children",
        headers=auth("case_manager"),
        json={
            "given_name": "Synthetic",
            "family_name": family,
            "date_of_birth": "2011-02-03",
            "area": "bristol",
        },
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def in_formulation(client: TestClient, auth: Tokens, system: System) -> str:
    """A registered child whose formulation case is open and whose first review is due."""
    child = a_child(client, auth)
    app = system.apps["formulation"]
    assert isinstance(app, FormulationApplication)
    referral = UUID(int=UUID(child).int ^ 1)
    app.open_case(UUID(child), referral, Area.BRISTOL, Meta("psy-1", PSY, "c", "c"))
    formulation(
        system, "FormulationCaseOpened", UUID(child), referral_id=str(referral), area="bristol"
    )
    formulation(
        system,
        "ReportIssued",
        UUID(child),
        report_version=1,
        stage=2,
        stage_label="x",
        issued_on=TODAY.isoformat(),
        recommendations=[],
    )
    return child


def post(client: TestClient, path: str, data: dict[str, Any]) -> Any:
    return client.post(path, data=data, follow_redirects=False)


def interventions(client: TestClient, auth: Tokens, child: str) -> dict[str, Any]:
    found = client.get(f"{API}/children/{child}/formulation/interventions", headers=auth(PSY))
    return {i["intervention_id"]: i for i in found.json()}


def plan(client: TestClient, auth: Tokens, child: str) -> str:
    made = client.post(
        f"{API}/children/{child}/formulation/interventions",
        headers=auth(PSY),
        json={
            "intervention_type": "pace",
            "stage": 1,
            "owning_agency": "yjs",
            "planned_start": TODAY.isoformat(),
        },
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_an_intervention_is_started_given_sessions_and_completed_through_its_forms(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child = in_formulation(client, auth, system)
    work = plan(client, auth, child)
    csrf = signed_in(client, "psy-1")
    page = client.get(f"/children/{child}/work")
    assert f"actions/intervention-start?target={work}" in page.text
    form = client.get(f"/children/{child}/actions/intervention-start?target={work}")
    assert form.status_code == 200 and "Start the intervention" in form.text
    base = f"/children/{child}/actions"
    done = post(
        client,
        f"{base}/intervention-start?target={work}",
        {"csrf_token": csrf, **day("started_on", TODAY)},
    )
    assert done.status_code == 303 and done.headers["location"] == f"/children/{child}/work"
    assert interventions(client, auth, child)[work]["status"] == "started"
    done = post(
        client,
        f"{base}/intervention-session?target={work}",
        {"csrf_token": csrf, **day("held_on", TODAY), "note": "Synthetic session"},
    )
    assert done.status_code == 303
    done = post(
        client,
        f"{base}/intervention-complete?target={work}",
        {"csrf_token": csrf, **day("completed_on", TODAY)},
    )
    assert done.status_code == 303
    after = interventions(client, auth, child)[work]
    assert after["status"] == "completed" and after["sessions"] == [TODAY.isoformat()]


def test_a_future_start_date_is_named_on_the_form_and_nothing_starts(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child = in_formulation(client, auth, system)
    work = plan(client, auth, child)
    csrf = signed_in(client, "psy-1")
    page = post(
        client,
        f"/children/{child}/actions/intervention-start?target={work}",
        {"csrf_token": csrf, **day("started_on", TODAY + timedelta(days=9))},
    )
    assert page.status_code == 422
    assert 'href="#started_on-day"' in page.text and "Started on" in page.text
    assert interventions(client, auth, child)[work]["status"] == "planned"
    stopped = post(
        client,
        f"/children/{child}/actions/intervention-stop?target={work}",
        {"csrf_token": csrf, **day("stopped_on", TODAY)},
    )
    assert stopped.status_code == 422 and 'href="#reason"' in stopped.text
    stopped = post(
        client,
        f"/children/{child}/actions/intervention-stop?target={work}",
        {
            "csrf_token": csrf,
            **day("stopped_on", TODAY),
            "reason": "Synthetic: the family moved away",
        },
    )
    assert stopped.status_code == 303
    assert interventions(client, auth, child)[work]["status"] == "stopped"


def test_a_meeting_is_rescheduled_then_cancelled_with_reasons(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child = in_formulation(client, auth, system)
    meetings = f"{API}/children/{child}/formulation/meetings"
    made = client.post(
        meetings,
        headers=auth(PSY),
        json={
            "starts_at": f"{(TODAY + timedelta(days=3)).isoformat()}T10:00:00+00:00",
            "venue": "Synthetic office",
            "invitees": [{"agency": "education"}],
        },
    )
    assert made.status_code == 201, made.text
    meeting = made.json()["id"]
    csrf = signed_in(client, "psy-1")
    assert f"meeting-reschedule?target={meeting}" in client.get(f"/children/{child}/work").text
    later = TODAY + timedelta(days=10)
    moved = post(
        client,
        f"/children/{child}/actions/meeting-reschedule?target={meeting}",
        {
            "csrf_token": csrf,
            **day("starts_at", later),
            "starts_at-time": "14:30",
            "reason": "Synthetic: the school asked",
        },
    )
    assert moved.status_code == 303, moved.text
    [now] = client.get(meetings, headers=auth(PSY)).json()
    assert now["starts_at"].startswith(later.isoformat())
    cancel = f"/children/{child}/actions/meeting-cancel?target={meeting}"
    assert post(client, cancel, {"csrf_token": csrf}).status_code == 422
    assert (
        post(
            client, cancel, {"csrf_token": csrf, "reason": "Synthetic: no longer needed"}
        ).status_code
        == 303
    )
    [now] = client.get(meetings, headers=auth(PSY)).json()
    assert now["status"] == "cancelled"


def test_a_timeline_entry_is_retracted_with_a_reason_and_stays_in_the_history(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child = in_formulation(client, auth, system)
    timeline = f"{API}/children/{child}/formulation/timeline"
    made = client.post(
        timeline,
        headers=auth(PSY),
        json={
            "when": {"precision": "year", "year": 2016},
            "category": "move",
            "description": "Synthetic: moved house",
        },
    )
    assert made.status_code == 201, made.text
    entry = made.json()["id"]
    csrf = signed_in(client, "psy-1")
    assert f"entry-retract?target={entry}" in client.get(f"/children/{child}/timeline/entries").text
    address = f"/children/{child}/actions/entry-retract?target={entry}"
    refused = post(client, address, {"csrf_token": csrf, "reason": ""})
    assert refused.status_code == 422 and "Reason" in refused.text
    assert not client.get(timeline, headers=auth(PSY)).json()[0]["retracted"]
    done = post(client, address, {"csrf_token": csrf, "reason": "Synthetic: recorded in error"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/children/{child}/timeline/entries"
    assert client.get(timeline, headers=auth(PSY)).json() == []
    [kept] = client.get(timeline, params={"include_retracted": "true"}, headers=auth(PSY)).json()
    assert kept["retracted"] and kept["entry_id"] == entry
    listed = client.get(f"/children/{child}/timeline/entries").text
    assert "(retracted)" in listed and "entry-retract" not in listed


def test_the_case_is_closed_and_reopened_and_its_review_settings_changed(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child = in_formulation(client, auth, system)
    case = f"{API}/review-cases/{child}"
    csrf = signed_in(client, "sp-1")
    page = client.get(f"/children/{child}").text
    assert "actions/case-close" in page and "actions/review-cadence" in page
    base = f"/children/{child}/actions"
    bad = post(client, f"{base}/review-cadence", {"csrf_token": csrf, "weeks": "many"})
    assert bad.status_code == 422 and 'href="#weeks"' in bad.text
    assert (
        post(client, f"{base}/review-cadence", {"csrf_token": csrf, "weeks": "8"}).status_code
        == 303
    )
    assert (
        post(
            client, f"{base}/review-worker", {"csrf_token": csrf, "worker_id": "psy-1"}
        ).status_code
        == 303
    )
    settings = client.get(case, headers=auth(PSY)).json()
    assert settings["review_weeks"] == 8 and settings["worker_id"] == "psy-1"
    closed = post(
        client,
        f"{base}/case-close",
        {
            "csrf_token": csrf,
            **day("closed_on", TODAY),
            "reason": "Synthetic: goals met",
            **day("safety_net_until", TODAY + timedelta(days=30)),
        },
    )
    assert closed.status_code == 303, closed.text
    after = client.get(case, headers=auth(PSY)).json()
    assert after["status"] == "closed"
    assert after["safety_net_until"] == (TODAY + timedelta(days=30)).isoformat()
    page = client.get(f"/children/{child}").text
    assert "actions/case-reopen" in page and "Case closed on" in page
    reopened = post(
        client,
        f"{base}/case-reopen",
        {"csrf_token": csrf, **day("reopened_on", TODAY), "reason": "Synthetic: new concerns"},
    )
    assert reopened.status_code == 303, reopened.text
    assert client.get(case, headers=auth(PSY)).json()["status"] == "open"


def test_a_scheduled_review_is_rescheduled_and_its_meeting_cancelled(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child = in_formulation(client, auth, system)
    case = f"{API}/review-cases/{child}"
    review = client.get(case, headers=auth(PSY)).json()["current_review_id"]
    scheduled = client.post(
        f"{case}/reviews/{review}/schedule",
        headers=auth(PSY),
        json={
            "starts_at": f"{(TODAY + timedelta(days=2)).isoformat()}T10:00:00+00:00",
            "venue": "Synthetic centre",
            "invitees": [{"agency": "education"}],
        },
    )
    assert scheduled.status_code == 200, scheduled.text
    csrf = signed_in(client, "psy-1")
    assert f"review-reschedule?target={review}" in client.get(f"/children/{child}").text
    later = TODAY + timedelta(days=12)
    moved = post(
        client,
        f"/children/{child}/actions/review-reschedule?target={review}",
        {
            "csrf_token": csrf,
            **day("starts_at", later),
            "starts_at-time": "09:15",
            "reason": "Synthetic: the carer is away",
        },
    )
    assert moved.status_code == 303, moved.text
    [now] = client.get(case, headers=auth(PSY)).json()["reviews"]
    assert now["starts_at"].startswith(later.isoformat()) and now["reschedules"] == 1
    cancelled = post(
        client,
        f"/children/{child}/actions/review-cancel?target={review}",
        {"csrf_token": csrf, "reason": "Synthetic: venue closed"},
    )
    assert cancelled.status_code == 303
    [now] = client.get(case, headers=auth(PSY)).json()["reviews"]
    assert now["cancellations"] == 1 and now["status"] == "due"


def test_a_childs_field_is_disputed_then_corrected_and_a_bad_value_is_named(
    client: TestClient, auth: Tokens
) -> None:
    child = a_child(client, auth, "Disputechild")
    csrf = signed_in(client, "cm-bristol-1")
    base = f"/children/{child}/actions"
    disputed = post(
        client,
        f"{base}/child-dispute",
        {"csrf_token": csrf, "field": "date_of_birth", "reason": "Synthetic: the carer says 4th"},
    )
    assert disputed.status_code == 303, disputed.text
    page = client.get(f"/children/{child}").text
    assert 'id="disputed"' in page and "date of birth" in page
    bad = post(
        client,
        f"{base}/child-correct",
        {
            "csrf_token": csrf,
            "field": "date_of_birth",
            "value": "2011-02-31",
            "reason": "Synthetic: corrected",
        },
    )
    assert bad.status_code == 422 and 'href="#value"' in bad.text
    record = client.get(f"{API}/children/{child}", headers=auth("case_manager")).json()
    assert record["date_of_birth"] == "2011-02-03"
    done = post(
        client,
        f"{base}/child-correct",
        {
            "csrf_token": csrf,
            "field": "date_of_birth",
            "value": "2011-02-04",
            "reason": "Synthetic: the birth certificate says so",
        },
    )
    assert done.status_code == 303, done.text
    record = client.get(f"{API}/children/{child}", headers=auth("case_manager")).json()
    assert record["date_of_birth"] == "2011-02-04" and record["disputed"] == {}


def test_a_consultation_is_recorded_and_closed(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child = a_child(client, auth, "Consultchild")
    referral = client.post(
        f"{API}/referrals",
        headers=auth("case_manager"),
        json={
            "child_id": child,
            "reason": "synthetic",
            "trauma_history": "synthetic",
            "expected_involvement_months": 6,
        },
    )
    assert referral.status_code == 201, referral.text
    referral_id = referral.json()["id"]
    app = system.apps["formulation"]
    assert isinstance(app, FormulationApplication)
    app.open_consultation(
        UUID(child), UUID(referral_id), Area.BRISTOL, Meta("psy-1", PSY, "c", "c")
    )
    [consultation] = client.get(
        f"{API}/consultations", params={"referral_id": referral_id}, headers=auth(PSY)
    ).json()
    csrf = signed_in(client, "psy-1")
    work = client.get(f"/children/{child}/work").text
    assert f"consultation-session?target={consultation['id']}" in work
    address = f"/children/{child}/actions/consultation-session?target={consultation['id']}"
    refused = post(
        client,
        address,
        {
            "csrf_token": csrf,
            **day("held_on", TODAY),
            "attended_by": "",
            "advice": "Synthetic advice",
        },
    )
    assert refused.status_code == 422 and 'href="#attended_by"' in refused.text
    done = post(
        client,
        address,
        {
            "csrf_token": csrf,
            **day("held_on", TODAY),
            "attended_by": "Case manager\nTeacher",
            "agencies": ["education"],
            "advice": "Synthetic advice",
        },
    )
    assert done.status_code == 303, done.text
    closed = post(
        client,
        f"/children/{child}/actions/consultation-close?target={consultation['id']}",
        {"csrf_token": csrf},
    )
    assert closed.status_code == 303, closed.text
    [after] = client.get(
        f"{API}/consultations", params={"referral_id": referral_id}, headers=auth(PSY)
    ).json()
    assert after["status"] == "closed" and len(after["sessions"]) == 1


def test_an_action_the_role_may_not_take_or_an_unknown_one_opens_nothing(
    client: TestClient, auth: Tokens
) -> None:
    child = a_child(client, auth, "Refusedchild")
    signed_in(client, "evaluator-1")
    assert client.get(f"/children/{child}/actions/child-correct").status_code == 403
    signed_in(client, "psy-1")
    assert client.get(f"/children/{child}/actions/nothing-such").status_code == 404
    assert client.get(f"/children/{child}/actions/meeting-cancel?target=zz").status_code == 404


def test_a_psychologist_assesses_the_stage_and_a_senior_practitioner_is_not_offered_it(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child = in_formulation(client, auth, system)
    csrf = signed_in(client, "psy-1")
    assert "actions/stage-assess" in client.get(f"/children/{child}").text
    address = f"/children/{child}/actions/stage-assess"
    refused = post(client, address, {"csrf_token": csrf, "stage": "3", **day("assessed_on", TODAY)})
    assert refused.status_code == 422 and 'href="#rationale"' in refused.text
    done = post(
        client,
        address,
        {
            "csrf_token": csrf,
            "stage": "3",
            **day("assessed_on", TODAY),
            "rationale": "Synthetic: settled at school",
        },
    )
    assert done.status_code == 303, done.text
    case = client.get(f"{API}/children/{child}/formulation", headers=auth(PSY)).json()
    assert case["current_stage"]["stage"] == 3
    signed_in(client, "sp-1")
    assert "actions/stage-assess" not in client.get(f"/children/{child}").text
    assert client.get(address).status_code == 403


def test_a_review_is_recorded_with_the_actions_agreed_and_a_bad_due_date_is_named(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child = in_formulation(client, auth, system)
    case = f"{API}/review-cases/{child}"
    review = client.get(case, headers=auth(PSY)).json()["current_review_id"]
    assert (
        client.post(
            f"{case}/reviews/{review}/schedule",
            headers=auth(PSY),
            json={
                "starts_at": f"{TODAY.isoformat()}T00:05:00+00:00",
                "venue": "Synthetic centre",
                "invitees": [{"agency": "education"}],
            },
        ).status_code
        == 200
    )
    csrf = signed_in(client, "sp-1")
    form = client.get(f"/children/{child}/reviews/record").text
    assert 'name="action_text-2"' in form
    body = {
        "csrf_token": csrf,
        **day("held_on", TODAY),
        "attendance-0": "attended",
        "stage": "2",
        "action_text-0": "Synthetic: meet the mentor",
        "action_agency-0": "education",
        **day("action_due-0", TODAY + timedelta(days=14)),
        "action_text-1": "",
        "action_agency-1": "yjs",
        "action_text-2": "Synthetic: share the plan",
        "action_agency-2": "health",
        **day("action_due-2", TODAY + timedelta(days=900)),
    }
    bad = post(client, f"/children/{child}/reviews/record", body)
    assert bad.status_code == 422
    assert 'href="#action_due-2-day"' in bad.text and "Due date of action 3" in bad.text
    assert client.get(case, headers=auth(PSY)).json()["reviews"][0]["status"] == "scheduled"
    body.update(day("action_due-2", TODAY + timedelta(days=30)))
    done = post(client, f"/children/{child}/reviews/record", body)
    assert done.status_code == 303, done.text
    held = client.get(case, headers=auth(PSY)).json()["reviews"][0]
    assert held["status"] == "held"
    assert [(a["agency"], a["text"]) for a in held["actions"]] == [
        ("education", "Synthetic: meet the mentor"),
        ("health", "Synthetic: share the plan"),
    ]
