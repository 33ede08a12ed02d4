"""The reviews domain: schedule, reviews held, overdue, transitions, closure, supervision."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.reviews.domain import review_case_id
from services.reviews.record import ChildReviews
from services.reviews.supervision import SupervisionKind, SupervisionSession
from services.reviews.values import (
    Action,
    CaseStatus,
    InterventionStatus,
    Progress,
    ProgressRecord,
    ReviewStatus,
    TransitionKind,
)
from shared.domain import Area, Conflict, Invalid, Meta, MissingPrecondition, NotFound
from shared.meetings import AttendanceRecord, Invitee
from shared.vocabulary import Agency, Attendance

META = Meta("sp-1", "senior_practitioner", "corr-1", "corr-1")
WEEKS = 6
ISSUED = date(2026, 1, 5)
STARTS = datetime(2026, 2, 10, 10, 0, tzinfo=UTC)
HELD = date(2026, 2, 10)
EDUCATION = Invitee(Agency.EDUCATION)
CONTACT = uuid4()
HEALTH = Invitee(Agency.HEALTH, CONTACT)


def because(reason: str) -> Meta:
    return META.with_reason(reason)


def event_names(case: ChildReviews) -> list[str]:
    """The events of a command, by part: the case's, the schedule's, the interventions'."""
    parts = (case.case, case.schedule, case.interventions_record)
    return [type(e).__name__ for part in parts for e in part.collect_events()]


def new_case(stage: int = 2, report: bool = True) -> ChildReviews:
    formulation_case_id = uuid4()
    case = ChildReviews.open(uuid4(), Area.BRISTOL, uuid4(), formulation_case_id, META)
    if report:
        case.note_report(formulation_case_id, 1, stage, ISSUED, WEEKS, META)
    return case


def due_id(case: ChildReviews) -> UUID:
    assert case.current_review_id is not None
    return case.current_review_id


def scheduled_case(invitees: list[Invitee] | None = None, stage: int = 2) -> ChildReviews:
    case = new_case(stage)
    case.schedule_review(
        due_id(case), STARTS, "Youth centre, room 2", None, invitees or [EDUCATION, HEALTH], META
    )
    return case


def attended(*invitees: Invitee) -> list[AttendanceRecord]:
    return [AttendanceRecord(i.agency, i.contact_id, Attendance.ATTENDED) for i in invitees]


def hold(case: ChildReviews, **overrides: object) -> None:
    values: dict[str, Any] = {
        "held_on": HELD,
        "attendance": attended(EDUCATION, HEALTH),
        "stage": case.stage,
        "rationale": None,
        "progress": [],
        "actions": [],
        "next_review_on": None,
    }
    values.update(overrides)
    case.record_held(
        due_id(case),
        values["held_on"],
        values["attendance"],
        values["stage"],
        values["rationale"],
        values["progress"],
        values["actions"],
        values["next_review_on"],
        WEEKS,
        META,
    )


# ------------------------------------------------------------ opening, schedule


def test_a_childs_review_case_id_is_derived_from_the_child_id() -> None:
    case = new_case(report=False)
    assert case.id == review_case_id(case.child_id)
    assert review_case_id(case.child_id) == review_case_id(UUID(str(case.child_id)))


def test_the_first_review_falls_due_six_weeks_after_the_report_is_issued() -> None:
    case = new_case()
    assert event_names(case) == ["Opened", "ReportNoted", "Started", "ReviewDue", "Started"]
    review = case.current_review
    assert review is not None and review.due_on == ISSUED + timedelta(weeks=6)
    assert case.stage == 2


def test_a_cadence_set_before_the_report_is_used_for_the_first_review() -> None:
    case = new_case(report=False)
    case.set_cadence(8, WEEKS, META)
    case.note_report(uuid4(), 1, 3, ISSUED, WEEKS, META)
    assert case.current_review is not None
    assert case.current_review.due_on == ISSUED + timedelta(weeks=8)


def test_a_report_noted_twice_changes_nothing() -> None:
    case = new_case()
    event_names(case)  # what came before
    assert not case.note_report(
        case.case.formulation_case_id,  # type: ignore[arg-type]
        1,
        2,
        ISSUED,
        WEEKS,
        META,
    )
    assert not case.note_report(
        case.case.formulation_case_id,  # type: ignore[arg-type]
        1,
        4,
        ISSUED + timedelta(days=1),
        WEEKS,
        META,
    )
    assert event_names(case) == []


def test_a_later_report_version_updates_the_stage_but_makes_no_second_review_due() -> None:
    case = new_case(stage=2)
    event_names(case)  # what came before
    case.note_report(
        case.case.formulation_case_id,  # type: ignore[arg-type]
        2,
        3,
        ISSUED + timedelta(days=3),
        WEEKS,
        META,
    )
    assert event_names(case) == ["ReportNoted"]
    assert case.stage == 3
    assert len(case.reviews) == 1


def test_setting_the_cadence_moves_a_due_date_counted_from_the_report() -> None:
    case = new_case()
    event_names(case)  # what came before
    case.set_cadence(8, WEEKS, META)
    assert event_names(case) == ["CadenceSet", "ReviewDue"]
    assert case.current_review is not None
    assert case.current_review.due_on == ISSUED + timedelta(weeks=8)


def test_setting_the_cadence_keeps_a_next_review_date_agreed_at_a_review() -> None:
    case = scheduled_case()
    hold(case, next_review_on=HELD + timedelta(days=30))
    event_names(case)  # what came before
    case.set_cadence(10, WEEKS, META)
    assert event_names(case) == ["CadenceSet"]
    assert case.current_review is not None
    assert case.current_review.due_on == HELD + timedelta(days=30)


@pytest.mark.parametrize("weeks", [0, 53, -1])
def test_a_cadence_outside_one_to_52_weeks_is_refused(weeks: int) -> None:
    with pytest.raises(Invalid, match=r"weeks: must be from 1 to 52"):
        new_case().set_cadence(weeks, WEEKS, META)


def test_a_worker_is_assigned_once_and_never_blank() -> None:
    case = new_case()
    case.case.assign_worker("sp-2", META)
    assert case.case.worker_id == "sp-2"
    with pytest.raises(Conflict, match=r"worker_id: sp-2 already owns"):
        case.case.assign_worker("sp-2", META)
    with pytest.raises(Invalid, match=r"worker_id: must not be blank"):
        case.case.assign_worker("  ", META)


# --------------------------------------------------------------- scheduling


def test_scheduling_the_due_review_records_time_place_and_invitees() -> None:
    case = scheduled_case()
    review = case.current_review
    assert review is not None and review.status == ReviewStatus.SCHEDULED
    assert review.starts_at == STARTS and review.venue == "Youth centre, room 2"
    assert review.invitees == [EDUCATION, HEALTH]
    assert review.scheduled_by == "sp-1"


def test_a_review_needs_a_venue_or_an_online_link() -> None:
    case = new_case()
    with pytest.raises(Invalid, match=r"venue: a review needs a venue or an online link"):
        case.schedule_review(due_id(case), STARTS, None, " ", [EDUCATION], META)
    case.schedule_review(due_id(case), STARTS, None, "https://meet.example/r1", [EDUCATION], META)


def test_a_review_needs_invitees_each_invited_once() -> None:
    case = new_case()
    with pytest.raises(Invalid, match=r"invitees: invite at least one agency"):
        case.schedule_review(due_id(case), STARTS, "Hall", None, [], META)
    with pytest.raises(Invalid, match=r"invitees: the same agency and contact are invited"):
        case.schedule_review(due_id(case), STARTS, "Hall", None, [HEALTH, HEALTH], META)


def test_a_review_time_without_a_time_zone_is_refused() -> None:
    case = new_case()
    with pytest.raises(Invalid, match=r"starts_at: must include a time zone"):
        case.schedule_review(
            due_id(case), datetime(2026, 2, 10, 10), "Hall", None, [EDUCATION], META
        )


def test_a_scheduled_review_cannot_be_scheduled_again() -> None:
    case = scheduled_case()
    with pytest.raises(Conflict, match=r"already scheduled; reschedule it instead"):
        case.schedule_review(due_id(case), STARTS, "Hall", None, [EDUCATION], META)


def test_an_unknown_review_is_not_found() -> None:
    with pytest.raises(NotFound, match=r"review .* not found"):
        new_case().schedule_review(uuid4(), STARTS, "Hall", None, [EDUCATION], META)


def test_rescheduling_needs_a_reason_and_a_new_time() -> None:
    case = scheduled_case()
    later = STARTS + timedelta(days=2)
    with pytest.raises(Invalid, match=r"reason: rescheduling a review needs a reason"):
        case.reschedule_review(due_id(case), later, META)
    with pytest.raises(Invalid, match=r"starts_at: the review is already at that time"):
        case.reschedule_review(due_id(case), STARTS, because("room double booked"))
    case.reschedule_review(due_id(case), later, because("room double booked"))
    assert case.current_review is not None
    assert case.current_review.starts_at == later and case.current_review.reschedules == 1


def test_only_a_scheduled_review_can_be_rescheduled_or_cancelled() -> None:
    case = new_case()
    with pytest.raises(Conflict, match=r"cannot reschedule review .* it is not scheduled"):
        case.reschedule_review(due_id(case), STARTS, because("moved"))
    with pytest.raises(Conflict, match=r"cannot cancel review .* it is not scheduled"):
        case.cancel_review(due_id(case), because("moved"))


def test_a_cancelled_review_needs_a_reason_and_stays_due() -> None:
    case = scheduled_case()
    with pytest.raises(Invalid, match=r"reason: cancelling a review needs a reason"):
        case.cancel_review(due_id(case), META)
    case.cancel_review(due_id(case), because("education strike"))
    review = case.current_review
    assert review is not None and review.status == ReviewStatus.DUE
    assert review.starts_at is None and review.cancellations == 1
    case.schedule_review(review.review_id, STARTS, "Hall", None, [EDUCATION], META)


# ------------------------------------------------------------ holding a review


def test_a_held_review_records_attendance_stage_and_makes_the_next_review_due() -> None:
    case = scheduled_case(stage=2)
    first = due_id(case)
    event_names(case)  # what came before
    hold(case, stage=3, rationale="Settled with carer; talking about losses")
    assert event_names(case) == ["StageReassessed", "ReviewHeld", "ReviewDue"]  # case, schedule
    held = case.reviews[first]
    assert held.status == ReviewStatus.HELD and held.held_on == HELD
    assert held.stage == 3 and held.previous_stage == 2
    assert held.next_review_on == HELD + timedelta(weeks=WEEKS)
    assert case.stage == 3
    nxt = case.current_review
    assert nxt is not None and nxt.review_id != first and nxt.due_on == held.next_review_on


def test_a_next_review_date_agreed_at_the_review_is_kept() -> None:
    case = scheduled_case()
    hold(case, next_review_on=HELD + timedelta(days=40))
    assert case.current_review is not None
    assert case.current_review.due_on == HELD + timedelta(days=40)


def test_a_review_never_scheduled_cannot_be_recorded_as_held() -> None:
    case = new_case()
    with pytest.raises(Conflict, match=r"was never scheduled; schedule it before recording"):
        hold(case)


def test_a_review_held_before_its_scheduled_date_is_refused() -> None:
    case = scheduled_case()
    with pytest.raises(Conflict, match=r"held_on: the review is scheduled for 2026-02-10"):
        hold(case, held_on=HELD - timedelta(days=1))


def test_a_review_cannot_be_held_twice() -> None:
    case = scheduled_case()
    first = due_id(case)
    hold(case)
    with pytest.raises(Conflict, match=r"was already held"):
        case.record_held(
            first, HELD, attended(EDUCATION, HEALTH), 2, None, [], [], None, WEEKS, META
        )


def test_attendance_for_an_agency_not_invited_is_refused_unless_it_joined_on_the_day() -> None:
    case = scheduled_case([EDUCATION])
    police = AttendanceRecord(Agency.POLICE, None, Attendance.ATTENDED)
    with pytest.raises(
        Invalid,
        match=r"attendance.1: police was not invited; say "
        "joined_on_the_day",
    ):
        hold(case, attendance=[*attended(EDUCATION), police])
    joined = AttendanceRecord(Agency.POLICE, None, Attendance.ATTENDED, joined_on_the_day=True)
    hold(case, attendance=[*attended(EDUCATION), joined])
    held = case.reviews[next(iter(case.reviews))]
    assert joined in held.attendance


def test_someone_invited_did_not_join_on_the_day() -> None:
    case = scheduled_case([EDUCATION])
    entry = AttendanceRecord(Agency.EDUCATION, None, Attendance.ATTENDED, True)
    with pytest.raises(Invalid, match=r"attendance.0.joined_on_the_day: education was invited"):
        hold(case, attendance=[entry])


def test_someone_who_joined_on_the_day_attended() -> None:
    case = scheduled_case([EDUCATION])
    entry = AttendanceRecord(Agency.POLICE, None, Attendance.APOLOGIES, True)
    with pytest.raises(Invalid, match=r"attendance.1.attendance: someone who joined on the day"):
        hold(case, attendance=[*attended(EDUCATION), entry])


def test_every_invited_agency_and_contact_has_its_attendance_recorded() -> None:
    case = scheduled_case([EDUCATION, HEALTH])
    with pytest.raises(
        Invalid,
        match=rf"no attendance recorded for invited health "
        rf"\(contact {CONTACT}\)",
    ):
        hold(case, attendance=attended(EDUCATION))


def test_a_named_contact_must_be_the_one_invited() -> None:
    case = scheduled_case([EDUCATION, HEALTH])
    stranger = AttendanceRecord(Agency.HEALTH, uuid4(), Attendance.ATTENDED)
    with pytest.raises(Invalid, match=r"attendance.2: health \(contact .*\) was not invited"):
        hold(case, attendance=[*attended(EDUCATION, HEALTH), stranger])


def test_a_named_person_from_an_agency_invited_as_a_whole_was_invited() -> None:
    case = scheduled_case([EDUCATION])
    first = due_id(case)
    teacher = AttendanceRecord(Agency.EDUCATION, uuid4(), Attendance.ATTENDED)
    hold(case, attendance=[teacher])
    assert case.reviews[first].attendance == [teacher]


def test_attendance_recorded_twice_is_refused() -> None:
    case = scheduled_case([EDUCATION])
    with pytest.raises(
        Invalid,
        match=r"attendance.1: attendance for education is recorded "
        "twice",
    ):
        hold(case, attendance=attended(EDUCATION, EDUCATION))


def test_apologies_and_did_not_attend_are_recorded_per_agency() -> None:
    case = scheduled_case([EDUCATION, HEALTH])
    first = due_id(case)
    hold(
        case,
        attendance=[
            AttendanceRecord(Agency.EDUCATION, None, Attendance.APOLOGIES),
            AttendanceRecord(Agency.HEALTH, CONTACT, Attendance.DID_NOT_ATTEND),
        ],
    )
    kinds = {a.agency: a.attendance for a in case.reviews[first].attendance}
    assert kinds == {
        Agency.EDUCATION: Attendance.APOLOGIES,
        Agency.HEALTH: Attendance.DID_NOT_ATTEND,
    }


def test_the_stage_may_go_down_with_a_rationale() -> None:
    case = scheduled_case(stage=4)
    with pytest.raises(Invalid, match=r"rationale: moving the child from stage 4 to 2 needs"):
        hold(case, stage=2)
    hold(case, stage=2, rationale="Placement broke down; back to building trust")
    assert case.stage == 2
    assert case.stage_history[-1].source == "review"


def test_the_same_stage_needs_no_rationale() -> None:
    case = scheduled_case(stage=3)
    hold(case, stage=3)
    assert case.stage == 3


@pytest.mark.parametrize("stage", [0, 7])
def test_a_stage_outside_one_to_six_is_refused(stage: int) -> None:
    case = scheduled_case()
    with pytest.raises(Invalid, match=r"stage: must be a TRM stage from 1 to 6"):
        hold(case, stage=stage, rationale="x")


def _with_interventions(case: ChildReviews) -> tuple[UUID, UUID]:
    active, done = uuid4(), uuid4()
    for intervention_id in (active, done):
        case.note_intervention_planned(intervention_id, "pace", 2, "yjs", ISSUED, META)
    case.note_intervention_status(done, InterventionStatus.COMPLETED, ISSUED, META)
    return active, done


def test_progress_is_recorded_for_each_active_intervention() -> None:
    case = scheduled_case()
    first = due_id(case)
    active, _ = _with_interventions(case)
    hold(case, progress=[ProgressRecord(active, Progress.ENGAGING, "Comes to every session")])
    assert case.reviews[first].progress == [
        ProgressRecord(active, Progress.ENGAGING, "Comes to every session")
    ]


def test_progress_on_an_unknown_or_finished_intervention_is_refused() -> None:
    case = scheduled_case()
    active, done = _with_interventions(case)
    ok = ProgressRecord(active, Progress.PARTLY)
    with pytest.raises(
        Invalid,
        match=r"progress.1.intervention_id: .* is not an intervention "
        "of this child",
    ):
        hold(case, progress=[ok, ProgressRecord(uuid4(), Progress.STALLED)])
    with pytest.raises(Invalid, match=r"progress.1.intervention_id: .* is completed or stopped"):
        hold(case, progress=[ok, ProgressRecord(done, Progress.COMPLETED)])


def test_progress_missing_for_an_active_intervention_or_given_twice_is_refused() -> None:
    case = scheduled_case()
    active, _ = _with_interventions(case)
    with pytest.raises(
        Invalid,
        match=rf"progress: no progress recorded for active "
        rf"intervention\(s\) {active}",
    ):
        hold(case, progress=[])
    twice = [ProgressRecord(active, Progress.PARTLY), ProgressRecord(active, Progress.STALLED)]
    with pytest.raises(Invalid, match=r"progress.1.intervention_id: .* recorded twice"):
        hold(case, progress=twice)


def test_actions_are_due_no_earlier_than_the_review_and_say_something() -> None:
    case = scheduled_case()
    early = Action(Agency.EDUCATION, HELD - timedelta(days=1), "Share timetable")
    with pytest.raises(Invalid, match=r"actions.0.due_on: must not be before held_on"):
        hold(case, actions=[early])
    blank = Action(Agency.EDUCATION, HELD, "  ")
    with pytest.raises(Invalid, match=r"actions.0.text: must not be blank"):
        hold(case, actions=[blank])
    first = due_id(case)
    action = Action(Agency.EDUCATION, HELD + timedelta(days=7), "Share timetable")
    hold(case, actions=[action])
    assert case.reviews[first].actions == [action]


def test_a_next_review_date_before_the_review_was_held_is_refused() -> None:
    case = scheduled_case()
    with pytest.raises(Invalid, match=r"next_review_on: must not be before held_on"):
        hold(case, next_review_on=HELD - timedelta(days=1))


# ------------------------------------------------------------------- overdue


def test_a_review_is_overdue_the_day_after_it_falls_due() -> None:
    case = new_case()
    event_names(case)  # what came before
    due_on = case.current_review.due_on  # type: ignore[union-attr]
    assert not case.notice_overdue(due_on, META)
    assert case.notice_overdue(due_on + timedelta(days=1), META)
    assert event_names(case) == ["ReviewOverdue"]
    assert case.current_review.overdue_noticed_on == due_on + timedelta(days=1)  # type: ignore[union-attr]


def test_an_overdue_review_is_raised_once_however_often_the_tick_runs() -> None:
    case = new_case()
    later = ISSUED + timedelta(days=100)
    event_names(case)  # what came before
    results = [
        case.notice_overdue(later, META),
        case.notice_overdue(later, META),
        case.notice_overdue(later + timedelta(days=1), META),
    ]
    assert results == [True, False, False]
    assert event_names(case) == ["ReviewOverdue"]


def test_a_scheduled_or_cancelled_review_not_held_by_its_due_date_is_overdue() -> None:
    case = scheduled_case()
    case.cancel_review(due_id(case), because("family bereavement"))
    assert case.is_overdue(ISSUED + timedelta(days=100))


def test_a_held_review_and_a_closed_case_are_never_overdue() -> None:
    case = scheduled_case()
    hold(case, next_review_on=HELD + timedelta(days=10))
    case.close(HELD, None, because("Moved out of area"))
    assert not case.notice_overdue(HELD + timedelta(days=400), META)


# ------------------------------------------------------- learnt from the stream


def test_the_latest_assessment_by_date_is_the_current_stage() -> None:
    case = new_case(stage=2)
    case.case.note_stage(4, ISSUED + timedelta(days=10), "formulation", META)
    case.case.note_stage(3, ISSUED + timedelta(days=5), "formulation", META)
    assert case.stage == 4
    assert [a.stage for a in case.stage_history] == [2, 4, 3]


def test_interventions_are_learnt_and_leave_the_active_list_when_finished() -> None:
    case = new_case()
    first, second = uuid4(), uuid4()
    case.note_intervention_planned(first, "cpr", 1, "yjs", ISSUED, META)
    case.note_intervention_planned(second, "pace", 2, "social_care", None, META)
    assert not case.note_intervention_planned(first, "cpr", 1, "yjs", ISSUED, META)
    case.note_intervention_status(first, InterventionStatus.STARTED, ISSUED, META)
    case.note_intervention_status(second, InterventionStatus.STOPPED, ISSUED, META)
    assert not case.note_intervention_status(second, InterventionStatus.STOPPED, ISSUED, META)
    assert set(case.active_interventions) == {first}
    assert case.interventions[first].status == InterventionStatus.STARTED


def test_news_of_an_intervention_not_yet_planned_here_is_refused_for_a_retry() -> None:
    with pytest.raises(MissingPrecondition, match=r"intervention_id: .* is not known yet"):
        new_case().note_intervention_status(uuid4(), InterventionStatus.STARTED, ISSUED, META)


# --------------------------------------------------- transitions and closure


def test_a_transition_is_recorded_with_its_receiving_organisation() -> None:
    case = new_case()
    tid = uuid4()
    case.record_transition(tid, TransitionKind.ENTERING_CUSTODY, HELD, "Synthetic STC", META)
    assert case.transitions[0].transition_id == tid
    assert case.transitions[0].receiving_organisation == "Synthetic STC"
    with pytest.raises(Conflict, match=r"transition_id: .* already recorded"):
        case.record_transition(tid, TransitionKind.SCHOOL_MOVE, HELD, "School B", META)


@pytest.mark.parametrize("kind", [k for k in TransitionKind if k != TransitionKind.LEAVING_CUSTODY])
def test_a_move_needs_its_receiving_organisation(kind: TransitionKind) -> None:
    with pytest.raises(Invalid, match=r"receiving_organisation: a .* needs the receiving"):
        new_case().record_transition(uuid4(), kind, HELD, None, META)


def test_leaving_custody_may_be_to_no_organisation() -> None:
    case = new_case()
    case.record_transition(uuid4(), TransitionKind.LEAVING_CUSTODY, HELD, None, META)
    assert case.transitions[0].receiving_organisation is None


def test_closing_needs_a_reason_and_a_safety_net_no_earlier_than_closure() -> None:
    case = new_case()
    with pytest.raises(Invalid, match=r"reason: closing a case needs a reason"):
        case.close(HELD, None, META)
    with pytest.raises(Invalid, match=r"safety_net_until: must not be before closed_on"):
        case.close(HELD, HELD - timedelta(days=1), because("Order ended"))


def test_a_closed_case_keeps_its_safety_net_and_withdraws_the_pending_review() -> None:
    case = scheduled_case()
    pending = due_id(case)
    case.close(HELD, HELD + timedelta(weeks=12), because("Order ended; doing well"))
    assert case.status == CaseStatus.CLOSED
    assert case.reviews[pending].status == ReviewStatus.WITHDRAWN
    assert case.in_safety_net(HELD + timedelta(weeks=12))
    assert not case.in_safety_net(HELD + timedelta(weeks=12, days=1))


def test_a_closed_case_refuses_reviews_transitions_and_a_second_closure() -> None:
    case = scheduled_case()
    pending = due_id(case)
    case.close(HELD, None, because("Order ended"))
    with pytest.raises(Conflict, match=r"status: the case is closed; reopen it first"):
        case.cancel_review(pending, because("x"))
    with pytest.raises(Conflict, match=r"status: the case is closed"):
        case.record_transition(uuid4(), TransitionKind.SCHOOL_MOVE, HELD, "School B", META)
    with pytest.raises(Conflict, match=r"status: the case is closed"):
        case.close(HELD, None, because("again"))


def test_reopening_needs_a_closed_case_a_reason_and_a_date_after_closure() -> None:
    case = new_case()
    with pytest.raises(Conflict, match=r"status: the case is not closed"):
        case.reopen(HELD, WEEKS, because("re-referred"))
    case.close(HELD, None, because("Order ended"))
    with pytest.raises(Invalid, match=r"reason: reopening a case needs a reason"):
        case.reopen(HELD, WEEKS, META)
    with pytest.raises(Invalid, match=r"reopened_on: must not be before closed_on"):
        case.reopen(HELD - timedelta(days=1), WEEKS, because("re-referred"))


def test_a_reopened_case_has_a_review_due_again() -> None:
    case = new_case()
    case.close(HELD, None, because("Order ended"))
    event_names(case)  # what came before
    case.reopen(HELD + timedelta(days=20), WEEKS, because("New offence; back with YJS"))
    assert event_names(case) == ["CaseReopened", "ReviewDue"]
    assert case.current_review is not None
    assert case.current_review.due_on == HELD + timedelta(days=20, weeks=WEEKS)


# --------------------------------------------------------------- supervision


def log(**overrides: object) -> SupervisionSession:
    values: dict[str, object] = {
        "practitioner_id": "cm-1",
        "supervisor_id": "psy-1",
        "held_on": HELD,
        "kind": SupervisionKind.CLINICAL_SUPERVISION,
        "children": [uuid4()],
        "themes": "Holding hope when a child moves down a stage",
        "meta": META,
    }
    values.update(overrides)
    return SupervisionSession.log(**values)  # type: ignore[arg-type]


def test_a_supervision_session_is_logged_about_a_practitioner() -> None:
    session = log(kind=SupervisionKind.GROUP_REFLECTIVE_PRACTICE)
    assert session.kind == SupervisionKind.GROUP_REFLECTIVE_PRACTICE
    assert session.practitioner_id == "cm-1" and session.logged_by == "sp-1"


def test_a_practitioner_cannot_supervise_themselves() -> None:
    with pytest.raises(Invalid, match=r"supervisor_id: a practitioner cannot supervise"):
        log(supervisor_id="cm-1")


def test_a_child_listed_twice_is_refused() -> None:
    child = uuid4()
    with pytest.raises(Invalid, match=r"children: a child is listed twice"):
        log(children=[child, child])


@pytest.mark.parametrize(
    "themes, rule",
    [
        ("Discussed child 943 476 5919 and risk", "looks like an NHS number"),
        ("Pupil B801200005001 exclusions", "looks like a Unique Pupil Number"),
        ("   ", "must not be blank"),
    ],
)
def test_themes_never_hold_a_childs_identifiers(themes: str, rule: str) -> None:
    with pytest.raises(Invalid, match=rf"themes: .*{rule}"):
        log(themes=themes)


def test_themes_may_hold_ordinary_numbers() -> None:
    assert log(themes="Three sessions in 12 weeks; 1234567890 is not a valid NHS number")
