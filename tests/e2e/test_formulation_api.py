"""The formulation API over HTTP: the psychologist's work on a case, and bad input everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.formulation.application import FormulationApplication
from services.formulation.consumers import consumers
from services.formulation.values import consultation_id_for
from services.referrals.contracts import REGISTRY as REFERRALS
from services.runtime import System
from shared.consumer import Delivery
from shared.domain import Area, Meta
from shared.settings import Settings
from tests.conftest import Tokens
from tests.directory_support import known_partner

PSY = "psychologist"
SP = "senior_practitioner"
CM = "case_manager"
META = Meta("psy-1", PSY, "corr-1", "corr-1")
TOMORROW = (date.today() + timedelta(days=1)).isoformat()
ENTRY = {
    "when": {"precision": "year", "year": 2016},
    "category": "loss_or_bereavement",
    "description": "Synthetic: grandfather died",
    "source": "Synthetic: mother",
    "sensitivity": "sensitive",
}
CONTACT = "7b0f5f8e-0000-4000-8000-00000000000e"
MEETING = {
    "starts_at": "2024-05-01T10:00:00+01:00",
    "venue": "Synthetic YJS office",
    "invitees": [{"agency": "education", "contact_id": CONTACT}, {"agency": "police"}],
}
HELD = {
    "held_on": "2024-05-01",
    "notes": "Synthetic notes",
    "attendance": [
        {"agency": "education", "contact_id": CONTACT, "attendance": "attended"},
        {"agency": "police", "attendance": "apologies"},
    ],
}
REPORT = {
    "narrative": "Synthetic narrative",
    "stage": 2,
    "issued_on": "2024-06-01",
    "stage_rationale": "Synthetic rationale",
    "recommendations": [
        {"stage": 2, "agency": "education", "text": "Synthetic: a key adult every morning"}
    ],
}
PLAN = {
    "intervention_type": "PACE",
    "stage": 2,
    "owning_agency": "yjs",
    "planned_start": "2024-07-01",
}


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    """Referrals and formulation only (the other services are not this test's subject)."""
    built = System.build(settings, ["referrals", "formulation"])
    known_partner(built, "formulation", CONTACT, "education")
    yield built
    built.close()


@pytest.fixture
def app(system: System) -> FormulationApplication:
    formulation = system.apps["formulation"]
    assert isinstance(formulation, FormulationApplication)
    return formulation


@pytest.fixture
def child(app: FormulationApplication) -> UUID:
    """A child in Bristol whose formulation case is open."""
    child_id = uuid4()
    app.open_case(child_id, uuid4(), Area.BRISTOL, META)
    return child_id


def url(child_id: UUID, path: str = "") -> str:
    return f"/api/v1/children/{child_id}/formulation{path}"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: Any, status: int, detail: str) -> None:
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"], response.json()


# -- the path of a referral into formulation -----------------------------------------------


def test_a_referral_accepted_over_http_opens_a_case_the_psychologist_can_read(
    client: TestClient, auth: Tokens, system: System
) -> None:
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
    referrals = system.apps["referrals"]
    sink = next(c for c in consumers(system) if c.name == "formulation-referrals").sink
    for notification in referrals.notifications(1, 100):
        event = referrals.mapper.to_sealed_domain_event(notification)  # type: ignore[attr-defined]
        envelope = REFERRALS.to_envelope(event, notification.id)
        if envelope is not None:
            sink.commit([Delivery(notification.id, envelope)])
    case = ok(client.get(f"/api/v1/children/{child_id}/formulation", headers=auth(CM)))
    assert case["referral_ids"] == [referral_id]
    assert case["sequencing"] == {
        "assessed_stage": None,
        "effective_stage": 1,
        "assumed": True,
        "allowed_stages": [1],
    }


# -- the case and who may see it -----------------------------------------------------------


def test_the_case_is_read_by_practitioners_in_its_area_only(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    assert ok(client.get(url(child), headers=auth(CM)))["area"] == "bristol"
    assert ok(client.get(url(child), headers=auth(SP)))["version"] == 1
    refused(client.get(url(child), headers=auth(CM, "banes")), 404, "not found")
    refused(client.get(url(child), headers=auth("partner", None)), 403, "forbidden")
    refused(client.get(url(child), headers=auth("evaluator", None)), 403, "forbidden")
    assert client.get(url(child)).status_code == 401


def test_an_unknown_child_or_a_bad_id_or_date_is_a_clear_4xx(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    # the same words as for another area's child: existence does not leak
    refused(client.get(url(uuid4()), headers=auth(PSY)), 404, "not found")
    refused(
        client.get("/api/v1/children/not-a-uuid/formulation", headers=auth(PSY)), 422, "child_id:"
    )
    refused(
        client.get(url(child), params={"as_of": "2024-02-30"}, headers=auth(PSY)), 422, "as_of:"
    )
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    refused(
        client.get(url(child), params={"as_of": yesterday}, headers=auth(PSY)),
        404,
        f"had no formulation case on {yesterday}",
    )


@pytest.mark.parametrize(
    "path", ["", "/timeline", "/meetings", "/reports", "/assessments", "/interventions"]
)
def test_every_view_can_be_shown_as_it_stood_on_a_day(
    client: TestClient, auth: Tokens, child: UUID, path: str
) -> None:
    ok(client.get(url(child, path), params={"as_of": date.today().isoformat()}, headers=auth(PSY)))


def test_a_change_on_a_stale_version_is_refused_with_409(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    ok(
        client.post(
            url(child, "/timeline"), headers=auth(PSY), json={**ENTRY, "expected_version": 1}
        ),
        201,
    )
    refused(
        client.post(
            url(child, "/timeline"), headers=auth(PSY), json={**ENTRY, "expected_version": 1}
        ),
        409,
        "expected_version: record is at version 2, not 1",
    )
    refused(
        client.post(
            url(child, "/timeline"), headers=auth(PSY), json={**ENTRY, "expected_version": 0}
        ),
        422,
        "expected_version:",
    )


# -- timeline ------------------------------------------------------------------------------


def test_the_timeline_is_built_corrected_and_retracted_with_the_original_kept(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    first = ok(client.post(url(child, "/timeline"), headers=auth(PSY), json=ENTRY), 201)["id"]
    ok(
        client.post(
            url(child, "/timeline"),
            headers=auth(SP),
            json={
                **ENTRY,
                "when": {"precision": "exact", "on": "2012-03-04"},
                "category": "move",
                "description": "Synthetic: moved to a new town",
            },
        ),
        201,
    )
    corrected = ok(
        client.post(
            url(child, f"/timeline/{first}/corrections"),
            headers=auth(PSY),
            json={
                "when": {"precision": "month", "year": 2016, "month": 2},
                "reason": "Synthetic: mother remembered the month",
            },
        )
    )
    assert corrected["id"] == first
    story = ok(client.get(url(child, "/timeline"), headers=auth(CM)))
    assert [e["category"] for e in story] == ["move", "loss_or_bereavement"]
    assert story[1]["when"]["month"] == 2 and story[1]["corrections"] == 1
    assert story[1]["description"] == ENTRY["description"]
    ok(
        client.post(
            url(child, f"/timeline/{first}/retraction"),
            headers=auth(PSY),
            json={"reason": "Synthetic: recorded for the wrong child"},
        )
    )
    assert len(ok(client.get(url(child, "/timeline"), headers=auth(PSY)))) == 1
    everything = ok(
        client.get(url(child, "/timeline"), params={"include_retracted": True}, headers=auth(PSY))
    )
    assert [e["retracted"] for e in everything] == [False, True]


def test_restricted_entries_are_withheld_from_case_managers_but_not_ecm_staff(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    ok(
        client.post(
            url(child, "/timeline"), headers=auth(PSY), json={**ENTRY, "sensitivity": "restricted"}
        ),
        201,
    )
    seen_by_cm = ok(client.get(url(child, "/timeline"), headers=auth(CM)))[0]
    assert (seen_by_cm["withheld"], seen_by_cm["description"], seen_by_cm["source"]) == (
        True,
        None,
        None,
    )
    assert (
        ok(client.get(url(child, "/timeline"), headers=auth(SP)))[0]["description"]
        == ENTRY["description"]
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"when": None}, "when"),
        ({"when": {"precision": "fortnight"}}, "when.precision"),
        ({"when": {"precision": "month", "year": 2016}}, "when.month"),
        ({"when": {"precision": "year", "year": 2016, "month": 3}}, "when.month"),
        ({"when": {"precision": "exact", "on": TOMORROW}}, "when.on"),
        ({"when": {"precision": "approximate_age", "age_years": 30}}, "when.age_years"),
        ({"when": {"precision": "year", "year": "soon"}}, "when.year"),
        ({"category": "gossip"}, "category"),
        ({"description": ""}, "description"),
        ({"sensitivity": "secret"}, "sensitivity"),
        ({"source": "x" * 501}, "source"),
    ],
)
def test_a_bad_timeline_entry_is_refused_naming_the_field(
    client: TestClient, auth: Tokens, child: UUID, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**ENTRY, **change}.items() if v is not None}
    response = client.post(url(child, "/timeline"), headers=auth(PSY), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_bad_corrections_and_retractions_are_clear_4xx(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    entry = ok(client.post(url(child, "/timeline"), headers=auth(PSY), json=ENTRY), 201)["id"]
    corrections = url(child, f"/timeline/{entry}/corrections")
    refused(
        client.post(corrections, headers=auth(PSY), json={"description": "x"}),
        422,
        "reason: Field required",
    )
    refused(
        client.post(corrections, headers=auth(PSY), json={"reason": "Synthetic"}),
        422,
        "body: a correction must change at least one field",
    )
    refused(
        client.post(
            corrections,
            headers=auth(PSY),
            json={"reason": "Synthetic", "when": {"precision": "year"}},
        ),
        422,
        "when.year: is required when precision is year",
    )
    refused(
        client.post(
            url(child, f"/timeline/{uuid4()}/corrections"),
            headers=auth(PSY),
            json={"reason": "Synthetic", "category": "other"},
        ),
        404,
        "not found",
    )
    retraction = url(child, f"/timeline/{entry}/retraction")
    refused(client.post(retraction, headers=auth(PSY), json={"reason": "no"}), 422, "reason:")
    ok(client.post(retraction, headers=auth(PSY), json={"reason": "Synthetic"}))
    refused(
        client.post(retraction, headers=auth(PSY), json={"reason": "Synthetic"}),
        409,
        "already retracted",
    )
    refused(client.post(url(child, "/timeline"), headers=auth(CM), json=ENTRY), 403, "forbidden")


# -- meetings ------------------------------------------------------------------------------


def test_a_meeting_is_scheduled_moved_and_recorded_with_attendance_per_agency(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    meeting = ok(client.post(url(child, "/meetings"), headers=auth(SP), json=MEETING), 201)["id"]
    ok(
        client.post(
            url(child, f"/meetings/{meeting}/reschedule"),
            headers=auth(SP),
            json={"starts_at": "2024-05-08T10:00:00+01:00", "reason": "Synthetic: school trip"},
        )
    )
    ok(
        client.post(
            url(child, f"/meetings/{meeting}/record"),
            headers=auth(PSY),
            json={
                **HELD,
                "held_on": "2024-05-08",
                "attendance": [
                    *HELD["attendance"],
                    {"agency": "camhs", "attendance": "attended", "joined_on_the_day": True},
                ],
            },
        )
    )
    shown = ok(client.get(url(child, f"/meetings/{meeting}"), headers=auth(CM)))
    assert shown["status"] == "held"
    assert shown["reschedules"][0]["reason"] == "Synthetic: school trip"
    assert [a["agency"] for a in shown["attendance"]] == ["education", "police", "camhs"]
    other = ok(
        client.post(
            url(child, "/meetings"),
            headers=auth(SP),
            json={**MEETING, "venue": None, "online_link": "https://meet.example.test/x"},
        ),
        201,
    )["id"]
    ok(
        client.post(
            url(child, f"/meetings/{other}/cancellation"),
            headers=auth(SP),
            json={"reason": "Synthetic: duplicate"},
        )
    )
    listed = ok(client.get(url(child, "/meetings"), headers=auth(PSY)))
    assert sorted(m["status"] for m in listed) == ["cancelled", "held"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"starts_at": "2024-05-01T10:00:00"}, "starts_at"),
        ({"starts_at": "next week"}, "starts_at"),
        ({"venue": None}, "venue"),
        ({"online_link": "not a link"}, "online_link"),
        ({"invitees": []}, "invitees"),
        ({"invitees": [{"agency": "mi5"}]}, "invitees.0.agency"),
        ({"invitees": [{"agency": "police", "contact_id": "bob"}]}, "invitees.0.contact_id"),
        ({"invitees": [{"agency": "police"}, {"agency": "police"}]}, "invitees"),
    ],
)
def test_a_bad_meeting_is_refused_naming_the_field(
    client: TestClient, auth: Tokens, child: UUID, change: dict[str, Any], field: str
) -> None:
    response = client.post(url(child, "/meetings"), headers=auth(SP), json={**MEETING, **change})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_bad_reschedules_cancellations_and_records_are_clear_4xx(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    meeting = ok(client.post(url(child, "/meetings"), headers=auth(SP), json=MEETING), 201)["id"]
    base = url(child, f"/meetings/{meeting}")
    refused(
        client.post(
            f"{base}/reschedule", headers=auth(SP), json={"starts_at": "2024-05-08T10:00:00+01:00"}
        ),
        422,
        "reason:",
    )
    refused(client.post(f"{base}/cancellation", headers=auth(SP), json={}), 422, "reason:")
    refused(
        client.post(f"{base}/record", headers=auth(SP), json={**HELD, "held_on": TOMORROW}),
        422,
        "held_on: must not be in the future",
    )
    refused(
        client.post(
            f"{base}/record", headers=auth(SP), json={**HELD, "attendance": HELD["attendance"][:1]}
        ),
        422,
        "attendance: no attendance recorded for invited police",
    )
    refused(
        client.post(
            f"{base}/record",
            headers=auth(SP),
            json={
                **HELD,
                "attendance": [*HELD["attendance"], {"agency": "health", "attendance": "attended"}],
            },
        ),
        422,
        "health was not invited; say joined_on_the_day",
    )
    refused(
        client.post(
            f"{base}/record",
            headers=auth(SP),
            json={**HELD, "attendance": [{"agency": "police", "attendance": "maybe"}]},
        ),
        422,
        "attendance.0.attendance:",
    )
    refused(
        client.post(url(child, f"/meetings/{uuid4()}/record"), headers=auth(SP), json=HELD),
        404,
        "not found",
    )
    ok(client.post(f"{base}/record", headers=auth(SP), json=HELD))
    refused(
        client.post(f"{base}/cancellation", headers=auth(SP), json={"reason": "Synthetic"}),
        409,
        "cannot cancel a meeting that is held",
    )
    refused(client.get(url(child, f"/meetings/{uuid4()}"), headers=auth(SP)), 404, "not found")
    refused(client.post(url(child, "/meetings"), headers=auth(CM), json=MEETING), 403, "forbidden")


# -- reports and assessments ---------------------------------------------------------------


def test_reports_are_issued_as_versions_and_earlier_versions_stay_readable(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    first = ok(client.post(url(child, "/reports"), headers=auth(PSY), json=REPORT), 201)
    second = ok(
        client.post(
            url(child, "/reports"),
            headers=auth(PSY),
            json={**REPORT, "stage": 3, "issued_on": "2024-07-01"},
        ),
        201,
    )
    assert (first["report_version"], second["report_version"]) == (1, 2)
    one = ok(client.get(url(child, "/reports/1"), headers=auth(CM)))
    assert one["stage"] == {"stage": 2, "label": "Trusting relationships with appropriate adults"}
    assert one["recommendations"][0]["text"] == "Synthetic: a key adult every morning"
    assert [r["version"] for r in ok(client.get(url(child, "/reports"), headers=auth(CM)))] == [
        1,
        2,
    ]
    assessments = ok(client.get(url(child, "/assessments"), headers=auth(CM)))
    assert assessments["current"]["stage"]["stage"] == 3
    assert assessments["current"]["report_version"] == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stage": 7}, "stage"),
        ({"stage": "two"}, "stage"),
        ({"narrative": ""}, "narrative"),
        ({"issued_on": TOMORROW}, "issued_on"),
        (
            {"recommendations": [{"stage": 0, "agency": "yjs", "text": "x"}]},
            "recommendations.0.stage",
        ),
        (
            {"recommendations": [{"stage": 2, "agency": "nasa", "text": "x"}]},
            "recommendations.0.agency",
        ),
        (
            {"recommendations": [{"stage": 2, "agency": "yjs", "text": ""}]},
            "recommendations.0.text",
        ),
    ],
)
def test_a_bad_report_is_refused_naming_the_field(
    client: TestClient, auth: Tokens, child: UUID, change: dict[str, Any], field: str
) -> None:
    response = client.post(url(child, "/reports"), headers=auth(PSY), json={**REPORT, **change})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_reports_are_for_psychologists_and_unknown_versions_are_not_found(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    refused(client.post(url(child, "/reports"), headers=auth(SP), json=REPORT), 403, "forbidden")
    refused(
        client.get(url(child, "/reports/1"), headers=auth(PSY)), 404, "report version 1 not found"
    )
    refused(client.get(url(child, "/reports/first"), headers=auth(PSY)), 422, "version:")


def test_a_psychologist_assesses_the_stage_down_as_well_as_up(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    for stage, day in ((4, "2024-06-01"), (2, "2024-08-01")):
        ok(
            client.post(
                url(child, "/assessments"),
                headers=auth(PSY),
                json={"stage": stage, "assessed_on": day, "rationale": "Synthetic"},
            ),
            201,
        )
    shown = ok(client.get(url(child, "/assessments"), headers=auth(SP)))
    assert [a["stage"]["stage"] for a in shown["assessments"]] == [2, 4]
    assert shown["current"]["assessor_id"] == "psychologist-1"
    assert shown["sequencing"]["allowed_stages"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stage": 0, "assessed_on": "2024-06-01", "rationale": "x"}, "stage"),
        ({"stage": 3, "assessed_on": TOMORROW, "rationale": "x"}, "assessed_on"),
        ({"stage": 3, "assessed_on": "2024-06-01"}, "rationale"),
        ({"stage": 3, "assessed_on": "2024-06-01", "rationale": ""}, "rationale"),
    ],
)
def test_a_bad_assessment_is_refused_naming_the_field(
    client: TestClient, auth: Tokens, child: UUID, body: dict[str, Any], field: str
) -> None:
    response = client.post(url(child, "/assessments"), headers=auth(PSY), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_only_a_psychologist_assesses_the_stage(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    body = {"stage": 3, "assessed_on": "2024-06-01", "rationale": "Synthetic"}
    refused(client.post(url(child, "/assessments"), headers=auth(SP), json=body), 403, "forbidden")


# -- interventions -------------------------------------------------------------------------


def test_out_of_sequence_work_is_refused_naming_the_stage_and_the_threshold(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    ok(
        client.post(
            url(child, "/assessments"),
            headers=auth(PSY),
            json={"stage": 2, "assessed_on": "2024-06-01", "rationale": "Synthetic"},
        ),
        201,
    )
    response = client.post(
        url(child, "/interventions"),
        headers=auth(SP),
        json={**PLAN, "intervention_type": "CBT", "stage": 4},
    )
    assert response.status_code == 409
    problem = response.json()
    assert (problem["detail"], problem["field"]) == (
        "stage: intervention at TRM stage 4 needs the cognitive readiness threshold "
        "(stage 4); the child is at stage 2",
        "stage",
    )


def test_only_a_psychologist_may_override_sequencing_and_the_override_is_recorded(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    body = {**PLAN, "stage": 4, "override": {"rationale": "Synthetic: the child asked for CBT"}}
    refused(
        client.post(url(child, "/interventions"), headers=auth(SP), json=body),
        403,
        "override: only a psychologist may override the sequencing rule",
    )
    planned = ok(client.post(url(child, "/interventions"), headers=auth(PSY), json=body), 201)
    assert (planned["out_of_sequence"], planned["overridden"]) == (True, True)
    shown = ok(client.get(url(child, f"/interventions/{planned['id']}"), headers=auth(CM)))
    assert shown["override_rationale"] == "Synthetic: the child asked for CBT"
    assert shown["in_sequence_now"] is False


def test_an_override_of_work_already_in_sequence_is_not_recorded(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    planned = ok(
        client.post(
            url(child, "/interventions"),
            headers=auth(PSY),
            json={**PLAN, "stage": 1, "override": {"rationale": "Synthetic: just in case"}},
        ),
        201,
    )
    assert (planned["out_of_sequence"], planned["overridden"]) == (False, False)


def test_work_from_a_recommendation_goes_through_its_whole_life(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    ok(client.post(url(child, "/reports"), headers=auth(PSY), json=REPORT), 201)
    recommendation = ok(client.get(url(child, "/reports/1"), headers=auth(PSY)))["recommendations"][
        0
    ]["recommendation_id"]
    planned = ok(
        client.post(
            url(child, "/interventions"),
            headers=auth(SP),
            json={
                "intervention_type": "Key adult",
                "planned_start": "2024-07-01",
                "recommendation_id": recommendation,
            },
        ),
        201,
    )["id"]
    base = url(child, f"/interventions/{planned}")
    ok(client.post(f"{base}/start", headers=auth(CM), json={"started_on": "2024-07-01"}))
    ok(
        client.post(
            f"{base}/sessions",
            headers=auth(CM),
            json={"held_on": "2024-07-08", "note": "Synthetic"},
        )
    )
    ok(client.post(f"{base}/completion", headers=auth(SP), json={"completed_on": "2024-09-01"}))
    shown = ok(client.get(base, headers=auth(CM)))
    assert (shown["status"], shown["owning_agency"], shown["stage"]["stage"]) == (
        "completed",
        "education",
        2,
    )
    assert shown["sessions"] == ["2024-07-08"]
    stopped = ok(
        client.post(url(child, "/interventions"), headers=auth(SP), json=PLAN | {"stage": 1}), 201
    )["id"]
    ok(
        client.post(
            url(child, f"/interventions/{stopped}/stop"),
            headers=auth(SP),
            json={"stopped_on": "2024-07-02", "reason": "Synthetic: moved placement"},
        )
    )
    summary = ok(client.get(url(child), headers=auth(CM)))
    assert summary["interventions"] == {"planned": 0, "started": 0, "completed": 1, "stopped": 1}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"intervention_type": ""}, "intervention_type"),
        ({"stage": 9}, "stage"),
        ({"stage": None}, "stage"),
        ({"owning_agency": None}, "owning_agency"),
        ({"owning_agency": "army"}, "owning_agency"),
        ({"planned_start": None}, "planned_start"),
        ({"planned_start": "2024-13-01"}, "planned_start"),
        ({"recommendation_id": str(uuid4())}, "recommendation_id"),
        ({"override": {"rationale": "short"}}, "override.rationale"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field(
    client: TestClient, auth: Tokens, child: UUID, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**PLAN, **change}.items() if v is not None}
    response = client.post(url(child, "/interventions"), headers=auth(PSY), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_bad_intervention_updates_are_clear_4xx(
    client: TestClient, auth: Tokens, child: UUID
) -> None:
    planned = ok(
        client.post(url(child, "/interventions"), headers=auth(SP), json=PLAN | {"stage": 1}), 201
    )["id"]
    base = url(child, f"/interventions/{planned}")
    refused(
        client.post(f"{base}/sessions", headers=auth(SP), json={"held_on": "2024-07-08"}),
        409,
        "cannot record a session of an intervention that is planned",
    )
    refused(
        client.post(f"{base}/start", headers=auth(SP), json={"started_on": TOMORROW}),
        422,
        "started_on: must not be in the future",
    )
    refused(client.post(f"{base}/start", headers=auth(SP), json={}), 422, "started_on:")
    ok(client.post(f"{base}/start", headers=auth(SP), json={"started_on": "2024-07-02"}))
    refused(
        client.post(f"{base}/start", headers=auth(SP), json={"started_on": "2024-07-02"}),
        409,
        "cannot start an intervention that is started",
    )
    refused(
        client.post(f"{base}/completion", headers=auth(SP), json={"completed_on": "2024-07-01"}),
        422,
        "completed_on: must not be before the start on 2024-07-02",
    )
    refused(
        client.post(f"{base}/stop", headers=auth(SP), json={"stopped_on": "2024-07-03"}),
        422,
        "reason:",
    )
    refused(
        client.post(
            url(child, f"/interventions/{uuid4()}/start"),
            headers=auth(SP),
            json={"started_on": "2024-07-02"},
        ),
        404,
        "not found",
    )
    refused(client.get(url(child, f"/interventions/{uuid4()}"), headers=auth(SP)), 404, "not found")
    refused(
        client.post(
            f"{base}/completion", headers=auth(CM, "banes"), json={"completed_on": "2024-09-01"}
        ),
        404,
        "not found",
    )
    refused(
        client.post(url(child, "/interventions"), headers=auth(CM), json=PLAN), 403, "forbidden"
    )


# -- consultations -------------------------------------------------------------------------


@pytest.fixture
def consultation(app: FormulationApplication) -> UUID:
    """A consultation opened for a Bristol referral."""
    referral_id = uuid4()
    app.open_consultation(uuid4(), referral_id, Area.BRISTOL, META)
    return consultation_id_for(referral_id)


def test_a_consultation_is_found_by_its_referral_held_and_closed(
    client: TestClient, auth: Tokens, app: FormulationApplication
) -> None:
    referral_id = uuid4()
    app.open_consultation(uuid4(), referral_id, Area.BRISTOL, META)
    found = ok(
        client.get(
            "/api/v1/consultations", params={"referral_id": str(referral_id)}, headers=auth(CM)
        )
    )
    consultation_id = found[0]["id"]
    ok(
        client.post(
            f"/api/v1/consultations/{consultation_id}/sessions",
            headers=auth(PSY),
            json={
                "held_on": "2024-05-01",
                "attended_by": ["Synthetic case manager"],
                "agencies": ["yjs"],
                "advice": "Synthetic advice",
            },
        )
    )
    ok(client.post(f"/api/v1/consultations/{consultation_id}/closure", headers=auth(PSY), json={}))
    shown = ok(client.get(f"/api/v1/consultations/{consultation_id}", headers=auth(CM)))
    assert shown["status"] == "closed"
    assert shown["sessions"][0]["advice"] == "Synthetic advice"
    assert (
        ok(
            client.get(
                "/api/v1/consultations",
                params={"referral_id": str(referral_id)},
                headers=auth(CM, "banes"),
            )
        )
        == []
    )
    assert (
        ok(
            client.get(
                "/api/v1/consultations", params={"referral_id": str(uuid4())}, headers=auth(CM)
            )
        )
        == []
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"attended_by": []}, "attended_by"),
        ({"attended_by": [""]}, "attended_by.0"),
        ({"advice": ""}, "advice"),
        ({"held_on": TOMORROW}, "held_on"),
        ({"agencies": ["fbi"]}, "agencies.0"),
    ],
)
def test_a_bad_consultation_record_is_refused_naming_the_field(
    client: TestClient, auth: Tokens, consultation: UUID, change: dict[str, Any], field: str
) -> None:
    body = {"held_on": "2024-05-01", "attended_by": ["Synthetic"], "advice": "Synthetic", **change}
    response = client.post(
        f"/api/v1/consultations/{consultation}/sessions", headers=auth(PSY), json=body
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_bad_consultation_requests_are_clear_4xx(
    client: TestClient, auth: Tokens, consultation: UUID
) -> None:
    base = f"/api/v1/consultations/{consultation}"
    refused(
        client.post(f"{base}/closure", headers=auth(PSY), json={}),
        422,
        "reason: closing a consultation that was never held needs a reason",
    )
    refused(client.post(f"{base}/sessions", headers=auth(CM), json={}), 403, "forbidden")
    refused(client.get(f"/api/v1/consultations/{uuid4()}", headers=auth(PSY)), 404, "not found")
    refused(client.get(base, headers=auth(CM, "banes")), 404, "not found")
    refused(
        client.get("/api/v1/consultations", params={"referral_id": "x"}, headers=auth(PSY)),
        422,
        "referral_id:",
    )
    refused(
        client.get(base, params={"as_of": "2001-01-01"}, headers=auth(PSY)),
        404,
        "did not exist on 2001-01-01",
    )
    ok(client.post(f"{base}/closure", headers=auth(PSY), json={"reason": "Synthetic: moved"}))
    refused(
        client.post(f"{base}/closure", headers=auth(PSY), json={"reason": "Synthetic"}),
        409,
        "cannot close a consultation that is closed",
    )
