"""The review case split: the schedule and the interventions are aggregates of their own.

Old events load into the new aggregates: a case stream as the code before the split stored it
(its reviews and interventions among the case's events, under the case's topics) reads its
schedule and interventions from those events; the first change since starts the part with a
snapshot of them, sealed, and leaves the case's stream as it was; what is published keeps its
contract and its binding. On SQLite and PostgreSQL. (Golden stores v1-v4 prove the same for
every event type, on SQLite: tests/test_golden_store.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.reviews.application import ReviewsApplication
from services.reviews.contracts import REGISTRY
from services.reviews.domain import ReviewCase, review_case_id
from services.reviews.interventions import interventions_id_for
from services.reviews.schedule import ReviewSchedule, schedule_id_for
from services.reviews.values import ReviewStatus
from services.runtime import System
from shared.contracts import Envelope
from shared.crypto import is_sealed
from shared.domain import Area, Meta
from shared.meetings import Invitee
from shared.settings import Settings
from shared.vocabulary import Agency

SP = Meta("sp-9", "senior_practitioner", "corr-r", "corr-r")
ISSUED = date(2026, 3, 2)
STARTS = datetime(2026, 4, 13, 10, tzinfo=UTC)
HELD = date(2026, 4, 13)


@pytest.fixture
def app(store_settings: Settings) -> Iterator[ReviewsApplication]:
    system = System.build(store_settings, ["reviews"])
    reviews = system.apps["reviews"]
    assert isinstance(reviews, ReviewsApplication)
    yield reviews
    system.close()


def old_case(app: ReviewsApplication) -> tuple[UUID, UUID, UUID, UUID]:
    """A case stream as the code before the split stored it: the case's own events, and its
    reviews and interventions as events of the case (the declarations kept in legacy.py).
    Returns the child, the held review, the review due now and the intervention."""
    child = uuid4()
    case = ReviewCase(
        child_id=child, area=Area.BRISTOL, referral_id=uuid4(), formulation_case_id=uuid4(), meta=SP
    )
    case.note_report(uuid4(), 1, 2, ISSUED, SP)
    held, due, intervention = (uuid5_of(case, 1), uuid5_of(case, 2), uuid4())
    old: Any = case  # the old events have no bodies now: triggered as the old code stored them
    old.trigger_event(
        ReviewCase.ReviewDue,
        child_id=child,
        review_id=held,
        due_on=ISSUED + timedelta(weeks=6),
        counted_from=ISSUED,
        explicit=False,
        meta=SP,
    )
    old.trigger_event(
        ReviewCase.InterventionNoted,
        child_id=child,
        intervention_id=intervention,
        intervention_type="Synthetic key adult",
        stage=2,
        owning_agency="education",
        planned_start=ISSUED,
        meta=SP,
    )
    old.trigger_event(
        ReviewCase.ReviewScheduled,
        child_id=child,
        review_id=held,
        starts_at=STARTS,
        due_on=ISSUED + timedelta(weeks=6),
        venue="Synthetic review room",
        online_link=None,
        invitees=[Invitee(Agency.EDUCATION).as_dict()],
        meta=SP,
    )
    old.trigger_event(
        ReviewCase.ReviewHeld,
        child_id=child,
        review_id=held,
        held_on=HELD,
        attendance=[
            {
                "agency": "education",
                "contact_id": None,
                "attendance": "attended",
                "joined_on_the_day": False,
            }
        ],
        stage=3,
        stage_label="x",
        previous_stage=2,
        progress=[
            {
                "intervention_id": intervention,
                "progress": "engaging",
                "note": "Synthetic progress note",
            }
        ],
        actions=[
            {"agency": "education", "due_on": HELD + timedelta(days=9), "text": "Synthetic action"}
        ],
        next_review_on=None,
        meta=SP,
    )
    case.reassess_stage(held, 3, HELD, "Synthetic rationale", SP)
    old.trigger_event(
        ReviewCase.ReviewDue,
        child_id=child,
        review_id=due,
        due_on=HELD + timedelta(weeks=6),
        counted_from=HELD,
        explicit=False,
        meta=SP,
    )
    app.save_all(case)
    return child, held, due, intervention


def uuid5_of(case: ReviewCase, number: int) -> UUID:
    from uuid import uuid5

    return uuid5(case.id, f"review-{number}")


def test_a_case_stored_before_the_split_reads_its_schedule_and_interventions_from_its_events(
    app: ReviewsApplication,
) -> None:
    child, held, due, intervention = old_case(app)
    assert schedule_id_for(child) not in app.repository
    assert interventions_id_for(child) not in app.repository
    record = app.get_record(child)
    assert list(record.reviews) == [held, due]
    assert record.reviews[held].status == ReviewStatus.HELD
    assert record.reviews[held].venue == "Synthetic review room"
    assert record.reviews[held].progress[0].note == "Synthetic progress note"
    assert record.current_review_id == due
    assert list(record.interventions) == [intervention]
    assert record.case.rationale_of(held) == "Synthetic rationale"
    assert record.stage == 3
    assert record.version == app.get_case(child).version == 8  # the case's events alone


def test_the_first_change_since_the_split_starts_the_schedule_with_the_old_reviews_sealed(
    app: ReviewsApplication,
) -> None:
    child, held, due, _ = old_case(app)
    version = app.schedule_review(
        child,
        due,
        STARTS + timedelta(weeks=6),
        "Synthetic hub",
        None,
        [Invitee(Agency.HEALTH)],
        SP,
        expected_version=8,
    )
    assert version == 8 + 2  # the schedule's Started (with the old reviews), then the change
    schedule = app.load(ReviewSchedule, schedule_id_for(child), "schedule")
    assert list(schedule.reviews) == [held, due]
    assert schedule.reviews[due].status == ReviewStatus.SCHEDULED
    assert schedule.reviews[held].progress[0].note == "Synthetic progress note"
    started = app.recorder.select_events(schedule_id_for(child))[0]
    imported = json.loads(started.state)["imported"]
    assert all(is_sealed(item["venue"]) for item in imported if item["venue"])
    assert is_sealed(imported[0]["progress_notes"]) and is_sealed(imported[0]["action_texts"])
    assert b"Synthetic progress note" not in started.state
    assert b"Synthetic review room" not in started.state
    # The case's own stream is as it was: the old events stay where they are.
    assert len(app.recorder.select_events(review_case_id(child))) == 8
    assert app.get_record(child).version == 10
    assert app.get_record(child, date.today()).reviews.keys() == schedule.reviews.keys()


def test_closing_a_case_from_before_the_split_withdraws_its_due_review(
    app: ReviewsApplication,
) -> None:
    child, _, due, _ = old_case(app)
    app.close_case(child, HELD + timedelta(days=1), None, SP.with_reason("Order ended"))
    record = app.get_record(child)
    assert record.reviews[due].status == ReviewStatus.WITHDRAWN
    assert record.current_review_id is None
    app.reopen_case(child, HELD + timedelta(days=9), SP.with_reason("New order"))
    reopened = app.get_record(child)
    assert reopened.current_review is not None
    assert reopened.current_review.due_on == HELD + timedelta(days=9, weeks=6)


def test_a_review_scheduled_since_the_split_is_published_as_before_with_the_same_binding(
    app: ReviewsApplication,
) -> None:
    child, _, due, _ = old_case(app)
    before = app.max_notification_id()
    app.schedule_review(
        child, due, STARTS + timedelta(weeks=6), "Synthetic hub", None, [Invitee(Agency.HEALTH)], SP
    )
    published: list[Envelope] = []
    for notification in app.notifications(before + 1, 100):
        event = app.mapper.to_sealed_domain_event(notification)  # type: ignore[attr-defined]
        envelope = REGISTRY.to_envelope(event, notification.id)
        if envelope is not None:
            published.append(envelope)
    (scheduled,) = published  # the schedule's Started is not published: its reviews were
    assert scheduled.event_type == "ReviewScheduled"
    assert scheduled.child_id == child
    binding = REGISTRY.sealed_event("ReviewScheduled")
    assert binding == "ReviewCase.ReviewScheduled"
    assert (
        app.cipher.open(child, "venue", scheduled.data["venue"], event=binding) == "Synthetic hub"
    )


def test_a_new_case_opens_with_its_schedule_and_interventions_and_writes_only_what_changes(
    app: ReviewsApplication,
) -> None:
    child = uuid4()
    assert app.open_case(child, Area.BRISTOL, uuid4(), uuid4(), SP)
    assert not app.open_case(child, Area.BRISTOL, uuid4(), uuid4(), SP)
    assert {schedule_id_for(child), interventions_id_for(child), review_case_id(child)} <= set(
        _ids(app)
    )
    app.note_report_issued(child, uuid4(), 1, 2, ISSUED, SP)
    app.assign_worker(child, "sp-2", SP)  # the case alone
    assert app.load(ReviewSchedule, schedule_id_for(child), "schedule").version == 2
    assert app.get_case(child).version == 3
    assert app.get_record(child).version == 3 + 2 + 1


def _ids(app: ReviewsApplication) -> list[UUID]:
    return [UUID(str(n.originator_id)) for n in app.notifications(1, 1000)]
