"""The reviews API over HTTP: the path of a child's reviews and every kind of bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from services.reviews.application import ReviewsApplication
from services.reviews.caseload import CaseloadProjection
from services.reviews.consumers import FormulationListener
from services.reviews.contracts import REGISTRY
from services.runtime import System
from shared.consumer import Delivery
from shared.contracts import Actor, Envelope
from tests.conftest import Tokens
from tests.directory_support import known_partner

TODAY = date.today()
YESTERDAY = TODAY - timedelta(days=1)
TOMORROW = TODAY + timedelta(days=1)
SP = "senior_practitioner"
CONTACT = str(uuid4())
INVITEES = [{"agency": "education"}, {"agency": "health", "contact_id": CONTACT}]
ATTENDANCE = [
    {"agency": "education", "attendance": "attended"},
    {"agency": "health", "contact_id": CONTACT, "attendance": "apologies"},
]


@pytest.fixture(autouse=True)
def contact_in_directory(system: System) -> None:
    """The named contact invited is in the reviews service's copy of the partner directory."""
    known_partner(system, "reviews", CONTACT, "health")


def reviews_of(system: System) -> ReviewsApplication:
    app = system.apps["reviews"]
    assert isinstance(app, ReviewsApplication)
    return app


def formulation(system: System, event_type: str, child_id: UUID, **data: Any) -> None:
    """Deliver a formulation event to the reviews service as the stream would."""
    FormulationListener(reviews_of(system))(
        Envelope(
            message_id=f"formulation-test:{uuid4()}",
            service="formulation",
            event_type=event_type,
            event_version=1,
            notification_id=1,
            aggregate_id=uuid4(),
            aggregate_version=1,
            child_id=child_id,
            occurred_at=datetime.now(UTC),
            actor=Actor(id="psy-1", role="psychologist"),
            reason=None,
            correlation_id="c",
            causation_id="c",
            data={"child_id": str(child_id), **data},
        )
    )


def child_in_review(
    system: System, area: str = "bristol", issued_on: date = TODAY, stage: int = 2
) -> str:
    """A child whose formulation report was issued: the first review is due."""
    child_id = uuid4()
    formulation(system, "FormulationCaseOpened", child_id, referral_id=str(uuid4()), area=area)
    formulation(
        system,
        "ReportIssued",
        child_id,
        report_version=1,
        stage=stage,
        stage_label="x",
        issued_on=issued_on.isoformat(),
        recommendations=[],
    )
    return str(child_id)


def plan_intervention(system: System, child_id: str) -> str:
    intervention_id = uuid4()
    formulation(
        system,
        "InterventionPlanned",
        UUID(child_id),
        intervention_id=str(intervention_id),
        intervention_type="pace",
        stage=2,
        stage_label="x",
        owning_agency="yjs",
        planned_start=TODAY.isoformat(),
        recommendation_id=None,
        out_of_sequence=False,
    )
    return str(intervention_id)


def case_url(child_id: str) -> str:
    return f"/api/v1/review-cases/{child_id}"


def due_review(client: TestClient, auth: Tokens, child_id: str) -> str:
    case = client.get(case_url(child_id), headers=auth(SP)).json()
    return str(case["current_review_id"])


def schedule(client: TestClient, auth: Tokens, child_id: str, **overrides: Any) -> Any:
    review_id = overrides.pop("review_id", None) or due_review(client, auth, child_id)
    body = {
        "starts_at": f"{YESTERDAY.isoformat()}T10:00:00+00:00",
        "venue": "Synthetic youth centre",
        "invitees": INVITEES,
        **overrides,
    }
    return client.post(
        f"{case_url(child_id)}/reviews/{review_id}/schedule", json=body, headers=auth(SP)
    )


def record(
    client: TestClient, auth: Tokens, child_id: str, review_id: str, **overrides: Any
) -> Any:
    body = {"held_on": TODAY.isoformat(), "attendance": ATTENDANCE, "stage": 2, **overrides}
    return client.post(
        f"{case_url(child_id)}/reviews/{review_id}/record", json=body, headers=auth(SP)
    )


def scheduled(client: TestClient, auth: Tokens, system: System) -> tuple[str, str]:
    child_id = child_in_review(system)
    review_id = due_review(client, auth, child_id)
    assert schedule(client, auth, child_id).status_code == 200
    return child_id, review_id


def feed_caseload(system: System) -> None:
    """Run the caseload projection over what the relay would publish."""
    app = reviews_of(system)
    projection = CaseloadProjection(system.engine("reviews-read"))
    deliveries = []
    for notification in app.notifications(1, 10_000):
        event = app.mapper.to_sealed_domain_event(notification)  # type: ignore[attr-defined]
        envelope = REGISTRY.to_envelope(event, notification.id)
        if envelope is not None:
            deliveries.append(Delivery(notification.id, envelope))
    projection.commit(deliveries)


def detail(response: Any) -> str:
    return str(response.json()["detail"])


# --------------------------------------------------------------------- path


def test_a_review_is_scheduled_rescheduled_and_held_with_a_lower_stage(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id = child_in_review(system, stage=3)
    intervention_id = plan_intervention(system, child_id)
    case = client.get(case_url(child_id), headers=auth("case_manager")).json()
    assert case["stage"] == 3 and case["review_weeks"] == 6
    review_id = case["current_review_id"]
    assert case["reviews"][0]["due_on"] == (TODAY + timedelta(weeks=6)).isoformat()
    assert (
        schedule(
            client, auth, child_id, starts_at=f"{YESTERDAY.isoformat()}T09:00:00+00:00"
        ).status_code
        == 200
    )
    moved = client.post(
        f"{case_url(child_id)}/reviews/{review_id}/reschedule",
        json={
            "starts_at": f"{YESTERDAY.isoformat()}T14:00:00+00:00",
            "reason": "Education lead only free in the afternoon",
        },
        headers=auth(SP),
    )
    assert moved.status_code == 200, moved.text
    held = record(
        client,
        auth,
        child_id,
        review_id,
        stage=2,
        rationale="Exclusion and a placement move; back to building trust",
        attendance=[
            *ATTENDANCE,
            {"agency": "police", "attendance": "attended", "joined_on_the_day": True},
        ],
        progress=[
            {
                "intervention_id": intervention_id,
                "progress": "stalled",
                "note": "Missed sessions since the move",
            }
        ],
        actions=[
            {
                "agency": "education",
                "due_on": TOMORROW.isoformat(),
                "text": "Share the part-time timetable",
            }
        ],
        next_review_on=(TODAY + timedelta(weeks=4)).isoformat(),
    )
    assert held.status_code == 200, held.text
    review = client.get(f"{case_url(child_id)}/reviews/{review_id}", headers=auth(SP)).json()
    assert review["status"] == "held" and review["stage"] == 2 and review["previous_stage"] == 3
    assert review["stage_label"] == "Trusting relationships with appropriate adults"
    assert {a["agency"]: a["attendance"] for a in review["attendance"]} == {
        "education": "attended",
        "health": "apologies",
        "police": "attended",
    }
    assert review["progress"][0]["note"] == "Missed sessions since the move"
    assert review["actions"][0]["text"] == "Share the part-time timetable"
    assert review["reschedules"] == 1
    case = client.get(case_url(child_id), headers=auth(SP)).json()
    assert case["stage"] == 2
    assert case["reviews"][1]["due_on"] == (TODAY + timedelta(weeks=4)).isoformat()


def test_a_case_is_shown_as_it_stood_on_a_date(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id = child_in_review(system)
    now = client.get(case_url(child_id), params={"as_of": TODAY.isoformat()}, headers=auth(SP))
    assert now.status_code == 200 and now.json()["stage"] == 2
    before = client.get(
        case_url(child_id), params={"as_of": YESTERDAY.isoformat()}, headers=auth(SP)
    )
    assert before.status_code == 404 and "did not exist on" in detail(before)
    future = client.get(
        case_url(child_id), params={"as_of": TOMORROW.isoformat()}, headers=auth(SP)
    )
    assert future.status_code == 422 and detail(future) == "as_of: must not be in the future"


def test_a_closed_case_keeps_a_safety_net_and_can_be_reopened(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id = child_in_review(system)
    closed = client.post(
        f"{case_url(child_id)}/closure",
        json={
            "closed_on": TODAY.isoformat(),
            "reason": "Order completed",
            "safety_net_until": (TODAY + timedelta(weeks=12)).isoformat(),
        },
        headers=auth("psychologist"),
    )
    assert closed.status_code == 200, closed.text
    case = client.get(case_url(child_id), headers=auth(SP)).json()
    assert case["status"] == "closed" and case["in_safety_net"] is True
    assert case["reviews"][0]["status"] == "withdrawn" and case["current_review_id"] is None
    again = client.post(
        f"{case_url(child_id)}/closure",
        json={"closed_on": TODAY.isoformat(), "reason": "Order completed"},
        headers=auth(SP),
    )
    assert again.status_code == 409
    reopened = client.post(
        f"{case_url(child_id)}/reopening",
        json={"reopened_on": TODAY.isoformat(), "reason": "New court order"},
        headers=auth(SP),
    )
    assert reopened.status_code == 200, reopened.text
    case = client.get(case_url(child_id), headers=auth(SP)).json()
    assert case["status"] == "open" and case["current_review_id"] is not None


def test_a_case_manager_records_a_transition_in_their_own_area_only(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id = child_in_review(system, area="bristol")
    body = {
        "kind": "entering_custody",
        "occurred_on": TODAY.isoformat(),
        "receiving_organisation": "Synthetic Secure Training Centre",
    }
    created = client.post(
        f"{case_url(child_id)}/transitions", json=body, headers=auth("case_manager", "bristol")
    )
    assert created.status_code == 201, created.text
    other = client.post(
        f"{case_url(child_id)}/transitions", json=body, headers=auth("case_manager", "banes")
    )
    assert other.status_code == 404
    case = client.get(case_url(child_id), headers=auth(SP)).json()
    assert case["transitions"][0]["receiving_organisation"] == "Synthetic Secure Training Centre"


def test_the_tick_raises_an_overdue_review_once(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_in_review(system, issued_on=TODAY - timedelta(weeks=7))
    child_in_review(system, issued_on=TODAY)
    first = client.post("/api/v1/reviews/tick", headers=auth(SP))
    assert first.status_code == 200 and first.json() == {"today": TODAY.isoformat(), "raised": 1}
    assert client.post("/api/v1/reviews/tick", headers=auth(SP)).json()["raised"] == 0


def test_the_caseload_lists_overdue_and_upcoming_reviews_by_area_and_worker(
    client: TestClient, auth: Tokens, system: System
) -> None:
    late = child_in_review(system, issued_on=TODAY - timedelta(weeks=7))
    soon = child_in_review(system, area="banes")
    assert (
        client.put(
            f"{case_url(soon)}/worker", json={"worker_id": "sp-banes"}, headers=auth(SP)
        ).status_code
        == 200
    )
    feed_caseload(system)
    url = "/api/v1/caseload/reviews"
    overdue = client.get(url, params={"status": "overdue"}, headers=auth(SP)).json()
    assert [e["child_id"] for e in overdue] == [late] and overdue[0]["days_overdue"] == 7
    upcoming = client.get(url, params={"status": "upcoming"}, headers=auth(SP)).json()
    assert [e["child_id"] for e in upcoming] == [soon]
    mine = client.get(url, params={"worker": "sp-banes"}, headers=auth(SP)).json()
    assert [e["child_id"] for e in mine] == [soon]
    bristol = client.get(url, headers=auth("case_manager", "bristol")).json()
    assert [e["child_id"] for e in bristol] == [late]
    earlier = client.get(url, params={"as_of": YESTERDAY.isoformat()}, headers=auth(SP)).json()
    assert earlier == []


def test_supervision_is_logged_and_read_by_ecm_staff(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id = child_in_review(system)
    body = {
        "practitioner_id": "cm-7",
        "supervisor_id": "psy-1",
        "held_on": TODAY.isoformat(),
        "kind": "clinical_supervision",
        "children": [child_id],
        "themes": "Staying curious when a child pushes adults away",
    }
    created = client.post("/api/v1/supervision-sessions", json=body, headers=auth("psychologist"))
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    one = client.get(f"/api/v1/supervision-sessions/{session_id}", headers=auth(SP)).json()
    assert one["themes"] == body["themes"] and one["children"] == [child_id]
    feed_caseload(system)
    listed = client.get(
        "/api/v1/supervision-sessions", params={"practitioner_id": "cm-7"}, headers=auth(SP)
    ).json()
    assert [s["session_id"] for s in listed] == [session_id] and listed[0]["themes"] is None


def test_the_asyncapi_document_lists_every_reviews_event(client: TestClient) -> None:
    channels = client.get("/asyncapi.json").json()["channels"]
    assert {f"reviews.{name}" for name in REGISTRY.by_type} <= set(channels)
    assert channels["reviews.ReviewHeld"]["address"] == "ecm.reviews.ReviewHeld"


# ----------------------------------------------------------------- bad input


def test_a_request_without_a_token_is_refused(client: TestClient) -> None:
    assert client.get(case_url(str(uuid4()))).status_code == 401
    assert client.post("/api/v1/reviews/tick").status_code == 401


def test_reading_a_case_refuses_unknown_children_and_other_areas(
    client: TestClient, auth: Tokens, system: System
) -> None:
    assert client.get(case_url(str(uuid4())), headers=auth(SP)).status_code == 404
    child_id = child_in_review(system, area="bristol")
    assert client.get(case_url(child_id), headers=auth("case_manager", "banes")).status_code == 404
    assert client.get(case_url(child_id), headers=auth("evaluator")).status_code == 403
    unknown = client.get(f"{case_url(child_id)}/reviews/{uuid4()}", headers=auth(SP))
    assert unknown.status_code == 404 and detail(unknown).startswith("review ")
    assert (
        client.get(f"{case_url(child_id)}/reviews/not-a-uuid", headers=auth(SP)).status_code == 422
    )


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"weeks": 0}, 422, "weeks: Input should be greater than or equal to 1"),
        ({"weeks": 53}, 422, "weeks: Input should be less than or equal to 52"),
        ({"weeks": "six"}, 422, "weeks: Input should be a valid integer"),
        ({"weeks": 8, "expected_version": 99}, 409, "expected_version: record is at version"),
    ],
)
def test_a_bad_cadence_is_refused(
    client: TestClient,
    auth: Tokens,
    system: System,
    body: dict[str, Any],
    status: int,
    message: str,
) -> None:
    child_id = child_in_review(system)
    response = client.put(f"{case_url(child_id)}/cadence", json=body, headers=auth(SP))
    assert response.status_code == status and detail(response).startswith(message)


def test_the_cadence_and_worker_are_set_by_ecm_staff_only(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id = child_in_review(system)
    cm = auth("case_manager", "bristol")
    assert (
        client.put(f"{case_url(child_id)}/cadence", json={"weeks": 8}, headers=cm).status_code
        == 403
    )
    assert (
        client.put(f"{case_url(child_id)}/worker", json={"worker_id": "x"}, headers=cm).status_code
        == 403
    )
    blank = client.put(f"{case_url(child_id)}/worker", json={"worker_id": "  "}, headers=auth(SP))
    assert blank.status_code == 422
    assert detail(blank) == "worker_id: must contain a visible character"
    ok = client.put(f"{case_url(child_id)}/cadence", json={"weeks": 8}, headers=auth(SP))
    assert ok.status_code == 200
    case = client.get(case_url(child_id), headers=auth(SP)).json()
    assert case["review_weeks"] == 8 and case["cadence_set"] is True
    assert case["reviews"][0]["due_on"] == (TODAY + timedelta(weeks=8)).isoformat()


@pytest.mark.parametrize(
    "overrides, status, message",
    [
        ({"starts_at": "2026-03-01T10:00:00"}, 422, "starts_at: Input should have timezone info"),
        ({"venue": None}, 422, "venue: a review needs a venue or an online link"),
        (
            {"venue": None, "online_link": "http://meet.example/x"},
            422,
            "online_link: must be an https:// link",
        ),
        ({"invitees": []}, 422, "invitees: List should have at least 1 item"),
        ({"invitees": [{"agency": "astrology"}]}, 422, "invitees.0.agency: Input should be"),
        (
            {"invitees": [{"agency": "education"}, {"agency": "education"}]},
            422,
            "invitees: the same agency and contact are invited twice",
        ),
        ({"review_id": str(uuid4())}, 404, "review "),
        ({"expected_version": 1}, 409, "expected_version: record is at version"),
    ],
)
def test_bad_scheduling_is_refused(
    client: TestClient,
    auth: Tokens,
    system: System,
    overrides: dict[str, Any],
    status: int,
    message: str,
) -> None:
    child_id = child_in_review(system)
    response = schedule(client, auth, child_id, **overrides)
    assert response.status_code == status, response.text
    assert detail(response).startswith(message)


def test_scheduling_twice_and_by_a_case_manager_is_refused(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id, review_id = scheduled(client, auth, system)
    again = schedule(client, auth, child_id, review_id=review_id)
    assert again.status_code == 409 and "reschedule it instead" in detail(again)
    response = client.post(
        f"{case_url(child_id)}/reviews/{review_id}/schedule",
        json={"starts_at": "2026-03-01T10:00:00+00:00", "venue": "Hall", "invitees": INVITEES},
        headers=auth("case_manager", "bristol"),
    )
    assert response.status_code == 403


def test_bad_rescheduling_and_cancelling_are_refused(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id = child_in_review(system)
    review_id = due_review(client, auth, child_id)
    url = f"{case_url(child_id)}/reviews/{review_id}"
    not_scheduled = client.post(
        f"{url}/reschedule",
        json={"starts_at": "2026-03-01T10:00:00+00:00", "reason": "Room double booked"},
        headers=auth(SP),
    )
    assert not_scheduled.status_code == 409 and "it is not scheduled" in detail(not_scheduled)
    no_reason = client.post(
        f"{url}/reschedule", json={"starts_at": "2026-03-01T10:00:00Z"}, headers=auth(SP)
    )
    assert no_reason.status_code == 422 and detail(no_reason) == "reason: Field required"
    short = client.post(f"{url}/cancel", json={"reason": "no"}, headers=auth(SP))
    assert short.status_code == 422 and detail(short).startswith("reason: String should have")
    cancel = client.post(f"{url}/cancel", json={"reason": "Strike day"}, headers=auth(SP))
    assert cancel.status_code == 409


def test_a_cancelled_review_stays_due(client: TestClient, auth: Tokens, system: System) -> None:
    child_id, review_id = scheduled(client, auth, system)
    cancelled = client.post(
        f"{case_url(child_id)}/reviews/{review_id}/cancel",
        json={"reason": "Family bereavement"},
        headers=auth(SP),
    )
    assert cancelled.status_code == 200
    review = client.get(f"{case_url(child_id)}/reviews/{review_id}", headers=auth(SP)).json()
    assert review["status"] == "due" and review["cancellations"] == 1


def test_a_review_held_before_it_was_scheduled_is_refused(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id = child_in_review(system)
    review_id = due_review(client, auth, child_id)
    never = record(client, auth, child_id, review_id)
    assert never.status_code == 409 and "was never scheduled" in detail(never)
    assert (
        schedule(
            client, auth, child_id, starts_at=f"{TODAY.isoformat()}T10:00:00+00:00"
        ).status_code
        == 200
    )
    early = record(client, auth, child_id, review_id, held_on=YESTERDAY.isoformat())
    assert early.status_code == 409
    assert detail(early).startswith(f"held_on: the review is scheduled for {TODAY}")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"attendance": [*ATTENDANCE, {"agency": "police", "attendance": "attended"}]},
            "attendance.2: police was not invited; say joined_on_the_day",
        ),
        ({"attendance": ATTENDANCE[:1]}, "attendance: no attendance recorded for invited health"),
        (
            {"attendance": [{"agency": "education", "attendance": "maybe"}]},
            "attendance.0.attendance: Input should be",
        ),
        ({"next_review_on": YESTERDAY.isoformat()}, "next_review_on: must not be before held_on"),
        ({"held_on": TOMORROW.isoformat()}, "held_on: must not be in the future"),
        ({"stage": 7}, "stage: Input should be less than or equal to 6"),
        ({"stage": 4}, "rationale: moving the child from stage 2 to 4 needs a rationale"),
        (
            {"progress": [{"intervention_id": str(uuid4()), "progress": "engaging"}]},
            "progress.0.intervention_id: ",
        ),
        (
            {"progress": [{"intervention_id": str(uuid4()), "progress": "brilliant"}]},
            "progress.0.progress: Input should be",
        ),
        (
            {"actions": [{"agency": "education", "due_on": YESTERDAY.isoformat(), "text": "Call"}]},
            "actions.0.due_on: must not be before held_on",
        ),
        (
            {"actions": [{"agency": "education", "due_on": TODAY.isoformat(), "text": ""}]},
            "actions.0.text: String should have at least 1 character",
        ),
        ({"attendance": []}, "attendance: List should have at least 1 item"),
    ],
)
def test_a_bad_held_review_is_refused(
    client: TestClient, auth: Tokens, system: System, overrides: dict[str, Any], message: str
) -> None:
    child_id, review_id = scheduled(client, auth, system)
    response = record(client, auth, child_id, review_id, **overrides)
    assert response.status_code == 422, response.text
    assert detail(response).startswith(message)
    review = client.get(f"{case_url(child_id)}/reviews/{review_id}", headers=auth(SP)).json()
    assert review["status"] == "scheduled"  # nothing half-written


def test_progress_must_cover_every_active_intervention(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id, review_id = scheduled(client, auth, system)
    intervention_id = plan_intervention(system, child_id)
    response = record(client, auth, child_id, review_id)
    assert response.status_code == 422
    assert detail(response) == (
        f"progress: no progress recorded for active intervention(s) {intervention_id}"
    )


def test_a_case_manager_cannot_record_a_review(
    client: TestClient, auth: Tokens, system: System
) -> None:
    child_id, review_id = scheduled(client, auth, system)
    response = client.post(
        f"{case_url(child_id)}/reviews/{review_id}/record",
        json={"held_on": TODAY.isoformat(), "attendance": ATTENDANCE, "stage": 2},
        headers=auth("case_manager", "bristol"),
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "body, message",
    [
        ({"kind": "holiday", "occurred_on": "2026-01-01"}, "kind: Input should be"),
        (
            {"kind": "school_move", "occurred_on": "2026-01-01"},
            "receiving_organisation: a school move needs the receiving organisation",
        ),
        (
            {"kind": "school_move", "occurred_on": "not a date", "receiving_organisation": "X"},
            "occurred_on: must be a date (YYYY-MM-DD)",
        ),
        ({"kind": "leaving_custody"}, "occurred_on: Field required"),
    ],
)
def test_a_bad_transition_is_refused(
    client: TestClient, auth: Tokens, system: System, body: dict[str, Any], message: str
) -> None:
    child_id = child_in_review(system)
    response = client.post(f"{case_url(child_id)}/transitions", json=body, headers=auth(SP))
    assert response.status_code == 422 and detail(response).startswith(message)


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"closed_on": TODAY.isoformat()}, 422, "reason: Field required"),
        (
            {"closed_on": TOMORROW.isoformat(), "reason": "Order ended"},
            422,
            "closed_on: must not be in the future",
        ),
        (
            {
                "closed_on": TODAY.isoformat(),
                "reason": "Order ended",
                "safety_net_until": YESTERDAY.isoformat(),
            },
            422,
            "safety_net_until: must not be before closed_on",
        ),
    ],
)
def test_a_bad_closure_is_refused(
    client: TestClient,
    auth: Tokens,
    system: System,
    body: dict[str, Any],
    status: int,
    message: str,
) -> None:
    child_id = child_in_review(system)
    response = client.post(f"{case_url(child_id)}/closure", json=body, headers=auth(SP))
    assert response.status_code == status and detail(response).startswith(message)
    cm = client.post(
        f"{case_url(child_id)}/closure",
        json={"closed_on": TODAY.isoformat(), "reason": "Order ended"},
        headers=auth("case_manager", "bristol"),
    )
    assert cm.status_code == 403


@pytest.mark.parametrize(
    "body, status, message",
    [
        (
            {"reopened_on": TODAY.isoformat(), "reason": "New order"},
            409,
            "status: the case is not closed",
        ),
        ({"reopened_on": TODAY.isoformat()}, 422, "reason: Field required"),
        (
            {"reopened_on": TOMORROW.isoformat(), "reason": "New order"},
            422,
            "reopened_on: must not be in the future",
        ),
    ],
)
def test_a_bad_reopening_is_refused(
    client: TestClient,
    auth: Tokens,
    system: System,
    body: dict[str, Any],
    status: int,
    message: str,
) -> None:
    child_id = child_in_review(system)
    response = client.post(f"{case_url(child_id)}/reopening", json=body, headers=auth(SP))
    assert response.status_code == status and detail(response).startswith(message)


def test_only_ecm_staff_run_the_tick(client: TestClient, auth: Tokens) -> None:
    for role in ("case_manager", "evaluator", "partner", "auditor"):
        assert client.post("/api/v1/reviews/tick", headers=auth(role)).status_code == 403


@pytest.mark.parametrize(
    "params, headers, status, message",
    [
        ({"status": "late"}, (SP,), 422, "status: Input should be 'upcoming' or 'overdue'"),
        ({"area": "cornwall"}, (SP,), 422, "area: Input should be"),
        (
            {"area": "banes"},
            ("case_manager", "bristol"),
            403,
            "area: a case manager sees only their own area",
        ),
        ({"as_of": TOMORROW.isoformat()}, (SP,), 422, "as_of: must not be in the future"),
        ({}, ("evaluator",), 403, "forbidden"),
    ],
)
def test_a_bad_caseload_query_is_refused(
    client: TestClient,
    auth: Tokens,
    params: dict[str, str],
    headers: tuple[str, ...],
    status: int,
    message: str,
) -> None:
    response = client.get("/api/v1/caseload/reviews", params=params, headers=auth(*headers))
    assert response.status_code == status and detail(response).startswith(message)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"children": ["unknown"]}, "children.0: Input should be a valid UUID"),
        ({"themes": "Talked about 943 476 5919"}, "themes: contains what looks like an NHS number"),
        ({"kind": "coffee"}, "kind: Input should be"),
        ({"held_on": TOMORROW.isoformat()}, "held_on: must not be in the future"),
        ({"supervisor_id": "cm-7"}, "supervisor_id: a practitioner cannot supervise themselves"),
        ({"themes": " "}, "themes: must contain a visible character"),
    ],
)
def test_a_bad_supervision_session_is_refused(
    client: TestClient, auth: Tokens, overrides: dict[str, Any], message: str
) -> None:
    body = {
        "practitioner_id": "cm-7",
        "supervisor_id": "psy-1",
        "held_on": TODAY.isoformat(),
        "kind": "group_reflective_practice",
        "children": [],
        "themes": "Endings",
        **overrides,
    }
    response = client.post("/api/v1/supervision-sessions", json=body, headers=auth(SP))
    assert response.status_code == 422, response.text
    assert detail(response).startswith(message)


def test_supervision_refuses_unknown_children_other_roles_and_unknown_sessions(
    client: TestClient, auth: Tokens
) -> None:
    body = {
        "practitioner_id": "cm-7",
        "supervisor_id": "psy-1",
        "held_on": TODAY.isoformat(),
        "kind": "clinical_supervision",
        "children": [str(uuid4())],
        "themes": "Endings",
    }
    unknown = client.post("/api/v1/supervision-sessions", json=body, headers=auth(SP))
    assert unknown.status_code == 422
    assert "is not a child with an ECM review case" in detail(unknown)
    cm = client.post(
        "/api/v1/supervision-sessions",
        json={**body, "children": []},
        headers=auth("case_manager", "bristol"),
    )
    assert cm.status_code == 403
    assert (
        client.get(
            "/api/v1/supervision-sessions", headers=auth("case_manager", "bristol")
        ).status_code
        == 403
    )
    assert (
        client.get(f"/api/v1/supervision-sessions/{uuid4()}", headers=auth(SP)).status_code == 404
    )
