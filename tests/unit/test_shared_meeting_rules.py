"""One home for each shared rule: formulation meetings and reviews check attendance the same
way, take the same request models, and refuse future days the same way."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from services.formulation.meetings import FormulationMeetings
from services.reviews.record import ChildReviews
from shared.domain import Area, Invalid, Meta
from shared.meetings import AttendanceRecord, Invitee, check_attendance
from shared.vocabulary import Agency, Attendance

META = Meta("sp-1", "senior_practitioner", "c", "c")
STARTS = datetime(2024, 5, 1, 10, tzinfo=UTC)
NAMED = uuid4()
INVITED = [Invitee(Agency.EDUCATION, NAMED), Invitee(Agency.POLICE)]
CASES = {
    "an agency not invited": [AttendanceRecord(Agency.HEALTH, None, Attendance.ATTENDED)],
    "recorded twice": [AttendanceRecord(Agency.POLICE, None, Attendance.ATTENDED)] * 2,
    "an invitee left out": [AttendanceRecord(Agency.POLICE, None, Attendance.ATTENDED)],
    "joined on the day but invited": [
        AttendanceRecord(Agency.EDUCATION, NAMED, Attendance.ATTENDED),
        AttendanceRecord(Agency.POLICE, None, Attendance.ATTENDED, joined_on_the_day=True),
    ],
    "joined on the day but absent": [
        AttendanceRecord(Agency.EDUCATION, NAMED, Attendance.ATTENDED),
        AttendanceRecord(Agency.POLICE, None, Attendance.ATTENDED),
        AttendanceRecord(Agency.HEALTH, None, Attendance.APOLOGIES, joined_on_the_day=True),
    ],
}


def refusal(attendance: list[AttendanceRecord]) -> tuple[str | None, str]:
    with pytest.raises(Invalid) as raised:
        check_attendance(INVITED, attendance)
    return raised.value.field, raised.value.message


def formulation_refusal(attendance: list[AttendanceRecord]) -> tuple[str | None, str]:
    case = FormulationMeetings.start(uuid4(), Area.BANES, [], META)
    meeting_id = uuid4()
    case.schedule_meeting(meeting_id, STARTS, "Synthetic hub", None, INVITED, META)
    with pytest.raises(Invalid) as raised:
        case.record_meeting_held(meeting_id, STARTS.date(), attendance, None, META)
    return raised.value.field, raised.value.message


def review_refusal(attendance: list[AttendanceRecord]) -> tuple[str | None, str]:
    case = ChildReviews.open(uuid4(), Area.BANES, None, None, META)
    case.note_report(uuid4(), 1, 2, date(2024, 3, 1), 6, META)
    review_id = case.current_review_id
    assert review_id is not None
    case.schedule_review(review_id, STARTS, "Synthetic hub", None, INVITED, META)
    with pytest.raises(Invalid) as raised:
        case.record_held(review_id, STARTS.date(), attendance, 2, None, [], [], None, 6, META)
    return raised.value.field, raised.value.message


@pytest.mark.parametrize("attendance", CASES.values(), ids=CASES.keys())
def test_a_formulation_meeting_and_a_review_refuse_the_same_attendance_the_same_way(
    attendance: list[AttendanceRecord],
) -> None:
    assert formulation_refusal(attendance) == review_refusal(attendance) == refusal(attendance)


def test_a_named_person_of_an_agency_invited_as_a_whole_was_invited_too() -> None:
    check_attendance(
        INVITED,
        [
            AttendanceRecord(Agency.EDUCATION, NAMED, Attendance.ATTENDED),
            AttendanceRecord(Agency.POLICE, uuid4(), Attendance.ATTENDED),
        ],
    )


def test_both_services_schedule_and_reschedule_with_the_same_request_models() -> None:
    from pydantic import ValidationError

    from services.formulation.schemas import MeetingCreate, MeetingReschedule
    from services.reviews.schemas import ReviewReschedule, ReviewSchedule
    from shared.meetings import MeetingRescheduleIn, MeetingScheduleIn

    assert issubclass(MeetingCreate, MeetingScheduleIn)
    assert issubclass(ReviewSchedule, MeetingScheduleIn)
    assert issubclass(MeetingReschedule, MeetingRescheduleIn)
    assert issubclass(ReviewReschedule, MeetingRescheduleIn)
    assert (
        MeetingCreate.model_json_schema()["properties"]
        == (ReviewSchedule.model_json_schema()["properties"])
    )
    for model in (MeetingCreate, ReviewSchedule):
        with pytest.raises(ValidationError, match="https"):
            model.model_validate(
                {
                    "starts_at": "2026-05-01T10:00:00Z",
                    "online_link": "http://meet.example/x",
                    "invitees": [{"agency": "police"}],
                }
            )


def test_a_day_in_the_future_is_refused_by_one_rule_naming_the_field() -> None:
    from datetime import timedelta

    from shared.fields import check_case_day, checked_day

    tomorrow = date.today() + timedelta(days=1)
    assert checked_day("held_on", date.today()) == date.today()
    with pytest.raises(Invalid, match=r"^held_on: must not be in the future$") as raised:
        checked_day("held_on", tomorrow)
    assert raised.value.field == "held_on"
    with pytest.raises(Invalid, match=r"^when: must not be before 2019-01-01$"):
        checked_day("when", date(2018, 12, 31), check_case_day)


def test_metadata_from_a_message_keeps_its_reason_whoever_acts() -> None:
    from shared.contracts import Actor, Envelope, caused_by

    envelope = Envelope(
        message_id="reviews:7",
        service="reviews",
        event_type="CaseClosed",
        event_version=1,
        notification_id=7,
        aggregate_id=uuid4(),
        aggregate_version=3,
        child_id=uuid4(),
        occurred_at=STARTS,
        actor=Actor(id="sp-1", role="senior_practitioner"),
        reason="Synthetic: order ended",
        correlation_id="corr-9",
        causation_id="corr-8",
        data={},
    )
    assert caused_by(envelope) == Meta(
        "sp-1", "senior_practitioner", "corr-9", "reviews:7", "Synthetic: order ended"
    )
    assert caused_by(envelope, acting_service="notifications") == Meta(
        "notifications", "system", "corr-9", "reviews:7", "Synthetic: order ended"
    )
