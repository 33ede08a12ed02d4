"""Formulation domain rules: the life story, meetings, reports, stages, interventions,
consultations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.formulation.consultation import Consultation, ConsultationStatus
from services.formulation.domain import FormulationCase
from services.formulation.life_story import LifeStory
from services.formulation.meetings import FormulationMeetings
from services.formulation.records import InterventionStatus, MeetingStatus
from services.formulation.reports import FormulationReports
from services.formulation.values import (
    DatePrecision,
    LifeDate,
    RecommendationDraft,
    Sensitivity,
    TimelineCategory,
    case_id_for,
    consultation_id_for,
)
from shared.domain import Area, Conflict, Invalid, Meta, NotFound
from shared.meetings import AttendanceRecord, Invitee
from shared.vocabulary import Agency, Attendance

META = Meta("psy-1", "psychologist", "corr-1", "cause-1")
WHY = META.with_reason("Synthetic reason for the change")
STARTS = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
EDUCATION = Invitee(Agency.EDUCATION, uuid4())
POLICE = Invitee(Agency.POLICE)


def new_case(child_id: UUID | None = None) -> FormulationCase:
    return FormulationCase(
        child_id=child_id or uuid4(), referral_id=uuid4(), area=Area.BANES, meta=META
    )


def new_story() -> LifeStory:
    return LifeStory.start(uuid4(), Area.BANES, [], META)


def new_meetings() -> FormulationMeetings:
    return FormulationMeetings.start(uuid4(), Area.BANES, [], META)


def names(
    case: FormulationCase | LifeStory | FormulationMeetings | FormulationReports | Consultation,
) -> list[str]:
    return [type(e).__name__ for e in case.collect_events()]


def exact(day: date) -> LifeDate:
    return LifeDate.create(DatePrecision.EXACT, on=day)


def add_entry(
    case: LifeStory,
    when: LifeDate | None = None,
    description: str = "Synthetic: moved to a foster placement",
) -> UUID:
    entry_id = uuid4()
    case.add_timeline_entry(
        entry_id,
        when or exact(date(2015, 6, 1)),
        TimelineCategory.CARE_EPISODE,
        description,
        "social worker",
        Sensitivity.STANDARD,
        META,
    )
    return entry_id


# -- the case ------------------------------------------------------------------------------


def test_a_childs_case_id_is_the_same_however_often_it_is_derived() -> None:
    child_id = uuid4()
    assert new_case(child_id).id == case_id_for(child_id) == case_id_for(child_id)
    assert case_id_for(uuid4()) != case_id_for(child_id)


def test_linking_the_referral_the_case_was_opened_with_changes_nothing() -> None:
    case = new_case()
    names(case)
    assert case.link_referral(case.referral_ids[0], META) is False
    assert names(case) == []


def test_a_further_accepted_referral_is_linked_once() -> None:
    case = new_case()
    names(case)
    again = uuid4()
    assert case.link_referral(again, META) is True
    assert case.link_referral(again, META) is False
    assert names(case) == ["ReferralLinked"]
    assert case.referral_ids[-1] == again


# -- timeline ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("precision", "parts"),
    [
        ("exact", {"on": date(2012, 1, 5)}),
        ("month", {"year": 2012, "month": 1}),
        ("year", {"year": 2012}),
        ("approximate_age", {"age_years": 4}),
    ],
)
def test_a_life_date_takes_exactly_the_parts_its_precision_needs(
    precision: str, parts: dict[str, Any]
) -> None:
    assert LifeDate.create(precision, **parts).precision == precision


@pytest.mark.parametrize(
    ("precision", "parts", "message"),
    [
        ("exact", {}, "when.on: is required when precision is exact"),
        (
            "exact",
            {"on": date(2012, 1, 5), "year": 2012},
            "when.year: must be left out when precision is exact",
        ),
        ("month", {"year": 2012}, "when.month: is required when precision is month"),
        ("month", {"year": 2012, "month": 13}, "when.month: must be between 1 and 12"),
        ("year", {"year": 1850}, "when.year: must be between 1900 and 2100"),
        ("approximate_age", {"age_years": 40}, "when.age_years: must be between 0 and 25"),
        ("approximate_age", {"age_years": -1}, "when.age_years: must be between 0 and 25"),
        ("fortnight", {}, "when.precision: must be one of exact, month, year, approximate_age"),
    ],
)
def test_a_life_date_with_missing_extra_or_out_of_range_parts_is_invalid(
    precision: str, parts: dict[str, Any], message: str
) -> None:
    with pytest.raises(Invalid) as refused:
        LifeDate.create(precision, **parts)
    assert refused.value.message == message


def test_the_life_story_runs_in_date_order_with_ages_after_calendar_dates() -> None:
    case = new_story()
    by_age = add_entry(case, LifeDate.create("approximate_age", age_years=3))
    by_year = add_entry(case, LifeDate.create("year", year=2014))
    by_day = add_entry(case, exact(date(2013, 2, 1)))
    by_month = add_entry(case, LifeDate.create("month", year=2014, month=6))
    assert [e.entry_id for e in case.life_story()] == [by_day, by_year, by_month, by_age]


def test_an_entry_needs_a_description() -> None:
    with pytest.raises(Invalid, match="description: must not be empty"):
        add_entry(new_story(), description="  ")


def test_a_correction_changes_only_the_fields_given_and_keeps_the_original_in_history() -> None:
    case = new_story()
    entry_id = add_entry(case)
    case.correct_timeline_entry(
        entry_id, WHY, when=LifeDate.create("year", year=2016), sensitivity=Sensitivity.RESTRICTED
    )
    events = case.collect_events()
    assert [type(e).__name__ for e in events][-2:] == [
        "TimelineEntryAdded",
        "TimelineEntryCorrected",
    ]
    entry = case.timeline[entry_id]
    assert entry.when.year == 2016 and entry.sensitivity == Sensitivity.RESTRICTED
    assert entry.description == "Synthetic: moved to a foster placement"
    assert entry.corrections == 1
    assert vars(events[-2])["when"]["on"] == date(2015, 6, 1)


def test_a_correction_needs_a_reason_and_a_change() -> None:
    case = new_story()
    entry_id = add_entry(case)
    with pytest.raises(Invalid, match="reason: a correction needs a reason"):
        case.correct_timeline_entry(entry_id, META, description="New text")
    with pytest.raises(Invalid, match="body: a correction must change at least one field"):
        case.correct_timeline_entry(entry_id, WHY)


def test_a_retracted_entry_leaves_the_story_but_stays_in_the_record() -> None:
    case = new_story()
    entry_id = add_entry(case)
    case.retract_timeline_entry(entry_id, WHY)
    assert case.life_story() == []
    assert case.life_story(include_retracted=True)[0].retraction_reason == WHY.reason
    with pytest.raises(Conflict, match="already retracted"):
        case.retract_timeline_entry(entry_id, WHY)
    with pytest.raises(Conflict, match="was retracted"):
        case.correct_timeline_entry(entry_id, WHY, description="New text")


def test_a_retraction_needs_a_reason_and_an_existing_entry() -> None:
    case = new_story()
    with pytest.raises(NotFound):
        case.retract_timeline_entry(uuid4(), WHY)
    with pytest.raises(Invalid, match="reason: a retraction needs a reason"):
        case.retract_timeline_entry(add_entry(case), META)


# -- meetings ------------------------------------------------------------------------------


def scheduled(case: FormulationMeetings, invitees: list[Invitee] | None = None) -> UUID:
    meeting_id = uuid4()
    case.schedule_meeting(
        meeting_id, STARTS, "Synthetic YJS office", None, invitees or [EDUCATION, POLICE], META
    )
    return meeting_id


def attended(*extra: AttendanceRecord) -> list[AttendanceRecord]:
    return [
        AttendanceRecord(EDUCATION.agency, EDUCATION.contact_id, Attendance.ATTENDED),
        AttendanceRecord(POLICE.agency, None, Attendance.APOLOGIES),
        *extra,
    ]


@pytest.mark.parametrize(
    ("starts_at", "venue", "link", "invitees", "message"),
    [
        (STARTS, None, None, [POLICE], "venue: a meeting needs a venue or an online link"),
        (STARTS, " ", None, [POLICE], "venue: a meeting needs a venue or an online link"),
        (STARTS, "Office", None, [], "invitees: invite at least one agency"),
        (STARTS, "Office", None, [POLICE, POLICE], "invitees: the same agency and contact is"),
        (datetime(2024, 5, 1, 10), "Office", None, [POLICE], "starts_at: must include a time zone"),
    ],
)
def test_a_meeting_needs_a_zoned_time_a_place_and_distinct_invitees(
    starts_at: datetime, venue: str | None, link: str | None, invitees: list[Invitee], message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        new_meetings().schedule_meeting(uuid4(), starts_at, venue, link, invitees, META)


def test_an_online_meeting_needs_no_venue() -> None:
    case = new_meetings()
    meeting_id = uuid4()
    case.schedule_meeting(meeting_id, STARTS, None, "https://meet.example.test/x", [POLICE], META)
    assert case.meetings[meeting_id].online_link == "https://meet.example.test/x"


def test_a_meeting_is_rescheduled_with_a_reason_and_keeps_its_earlier_time() -> None:
    case = new_meetings()
    meeting_id = scheduled(case)
    later = datetime(2024, 5, 8, 10, 0, tzinfo=UTC)
    with pytest.raises(Invalid, match="reason: rescheduling needs a reason"):
        case.reschedule_meeting(meeting_id, later, META)
    with pytest.raises(Invalid, match="starts_at: is the time already scheduled"):
        case.reschedule_meeting(meeting_id, STARTS, WHY)
    case.reschedule_meeting(meeting_id, later, WHY)
    meeting = case.meetings[meeting_id]
    assert meeting.starts_at == later
    assert meeting.reschedules == [(STARTS, WHY.reason)]


def test_a_cancelled_meeting_needs_a_reason_and_cannot_be_held_or_moved() -> None:
    case = new_meetings()
    meeting_id = scheduled(case)
    with pytest.raises(Invalid, match="reason: cancelling needs a reason"):
        case.cancel_meeting(meeting_id, META)
    case.cancel_meeting(meeting_id, WHY)
    assert case.meetings[meeting_id].status == MeetingStatus.CANCELLED
    with pytest.raises(Conflict, match="cannot record as held a meeting that is cancelled"):
        case.record_meeting_held(meeting_id, date(2024, 5, 1), attended(), None, META)
    with pytest.raises(Conflict, match="cannot reschedule"):
        case.reschedule_meeting(meeting_id, STARTS, WHY)


def test_a_held_meeting_records_attendance_for_every_invitee_and_notes() -> None:
    case = new_meetings()
    meeting_id = scheduled(case)
    case.record_meeting_held(meeting_id, date(2024, 5, 1), attended(), "Synthetic notes", META)
    meeting = case.meetings[meeting_id]
    assert meeting.status == MeetingStatus.HELD
    assert [a.attendance for a in meeting.attendance] == [Attendance.ATTENDED, Attendance.APOLOGIES]
    assert meeting.notes == "Synthetic notes"
    with pytest.raises(Conflict):
        case.record_meeting_held(meeting_id, date(2024, 5, 1), attended(), None, META)


def test_attendance_missing_for_an_invitee_is_refused_naming_it() -> None:
    case = new_meetings()
    meeting_id = scheduled(case)
    with pytest.raises(Invalid, match="attendance: no attendance recorded for invited police"):
        case.record_meeting_held(meeting_id, date(2024, 5, 1), attended()[:1], None, META)


def test_an_agency_not_invited_is_refused_unless_it_joined_on_the_day() -> None:
    case = new_meetings()
    meeting_id = scheduled(case)
    health = AttendanceRecord(Agency.HEALTH, None, Attendance.ATTENDED)
    with pytest.raises(Invalid, match=r"attendance\.2: health was not invited"):
        case.record_meeting_held(meeting_id, date(2024, 5, 1), attended(health), None, META)
    joined = AttendanceRecord(Agency.HEALTH, None, Attendance.ATTENDED, joined_on_the_day=True)
    case.record_meeting_held(meeting_id, date(2024, 5, 1), attended(joined), None, META)
    assert case.meetings[meeting_id].attendance[-1].joined_on_the_day is True


def test_the_same_person_recorded_twice_is_refused() -> None:
    case = new_meetings()
    meeting_id = scheduled(case)
    twice = attended(AttendanceRecord(Agency.POLICE, None, Attendance.ATTENDED))
    with pytest.raises(Invalid, match=r"attendance\.2: attendance for police is recorded twice"):
        case.record_meeting_held(meeting_id, date(2024, 5, 1), twice, None, META)


# -- reports and stages --------------------------------------------------------------------


def issue(
    case: FormulationCase,
    stage: int = 2,
    on: date = date(2024, 6, 1),
    recommendations: list[RecommendationDraft] | None = None,
    reports: FormulationReports | None = None,
) -> int:
    """Issue a report as the use case does: the reports take it, the case its stage."""
    drafts = (
        recommendations
        if recommendations is not None
        else [RecommendationDraft(2, Agency.EDUCATION, "Synthetic: a key adult at school daily")]
    )
    reports = reports if reports is not None else new_reports(case)
    version = reports.issue_report(
        "Synthetic narrative", stage, on, [(uuid4(), d) for d in drafts], META
    )
    case.assess_report_stage(version, stage, on, None, META)
    return version


def new_reports(case: FormulationCase) -> FormulationReports:
    return FormulationReports.start(case.child_id, case.area, [], META)


def test_issuing_again_makes_a_new_version_and_keeps_the_earlier_one() -> None:
    case = new_case()
    reports = new_reports(case)
    assert issue(case, stage=2, reports=reports) == 1
    assert issue(case, stage=3, on=date(2024, 7, 1), reports=reports) == 2
    assert reports.report(1).stage == 2
    assert reports.report(2).stage == 3
    with pytest.raises(NotFound, match="report version 3 not found"):
        reports.report(3)


def test_a_report_records_its_stage_as_an_assessment() -> None:
    case = new_case()
    reports = new_reports(case)
    names(case)
    names(reports)
    issue(case, stage=3, reports=reports)
    assert names(reports) == ["ReportIssued"]
    assert names(case) == ["StageAssessed"]
    assert case.current_stage == 3
    assert case.current_assessment is not None
    assert case.current_assessment.report_version == 1
    assert case.current_assessment.assessor_id == META.actor_id


@pytest.mark.parametrize(
    ("stage", "drafts", "message"),
    [
        (0, [], "stage: must be a TRM stage from 1 to 6"),
        (7, [], "stage: must be a TRM stage from 1 to 6"),
        (2, [RecommendationDraft(9, Agency.YJS, "x")], "recommendations.0.stage: must be a TRM"),
        (2, [RecommendationDraft(2, Agency.YJS, " ")], "recommendations.0.text: must not be empty"),
    ],
)
def test_a_report_with_a_stage_outside_1_to_6_or_an_empty_recommendation_is_invalid(
    stage: int, drafts: list[RecommendationDraft], message: str
) -> None:
    case = new_case()
    reports = new_reports(case)
    with pytest.raises(Invalid, match=message):
        issue(case, stage=stage, recommendations=drafts, reports=reports)
    assert reports.reports == [] and case.assessments == []


def test_a_stage_can_move_down_and_the_latest_assessment_by_date_is_current() -> None:
    case = new_case()
    case.assess_stage(4, date(2024, 6, 1), "Synthetic: engaging in CBT", META)
    case.assess_stage(2, date(2024, 8, 1), "Synthetic: placement broke down", META)
    assert case.current_stage == 2
    case.assess_stage(5, date(2024, 7, 1), "Synthetic: a late-recorded earlier view", META)
    assert case.current_stage == 2


def test_an_assessment_needs_a_rationale() -> None:
    with pytest.raises(Invalid, match="rationale: must not be empty"):
        new_case().assess_stage(3, date(2024, 6, 1), "", META)


def test_a_review_reassessment_becomes_current_when_it_is_the_latest() -> None:
    case = new_case()
    case.assess_stage(2, date(2024, 6, 1), "Synthetic", META)
    review_id = uuid4()
    assert (
        case.record_review_assessment(review_id, 4, date(2024, 9, 1), "Synthetic review", META)
        is True
    )
    assert case.current_stage == 4
    assert case.current_assessment is not None
    assert case.current_assessment.source == "review"
    assert case.current_assessment.review_id == review_id


def test_a_review_reassessment_delivered_again_changes_nothing() -> None:
    case = new_case()
    review_id = uuid4()
    case.record_review_assessment(review_id, 4, date(2024, 9, 1), None, META)
    names(case)
    assert case.record_review_assessment(review_id, 4, date(2024, 9, 1), None, META) is False
    assert (
        case.record_review_assessment(review_id, 4, date(2024, 9, 1), "Said again", META) is False
    )
    assert names(case) == []
    assert len(case.assessments) == 1


# -- interventions -------------------------------------------------------------------------


def planned(case: FormulationCase, stage: int = 1) -> UUID:
    intervention_id = uuid4()
    case.plan_intervention(
        intervention_id,
        "Synthetic routine work",
        stage,
        Agency.YJS,
        date(2024, 7, 1),
        None,
        None,
        META,
    )
    return intervention_id


def test_an_intervention_from_a_recommendation_takes_its_stage_and_agency() -> None:
    case = new_case()
    reports = new_reports(case)
    issue(case, stage=2, reports=reports)
    recommendation = reports.reports[0].recommendations[0]
    intervention_id = uuid4()
    case.plan_intervention(
        intervention_id,
        "Key adult",
        None,
        None,
        date(2024, 7, 1),
        reports.recommendation(recommendation.recommendation_id),
        None,
        META,
    )
    planned_work = case.interventions[intervention_id]
    assert (planned_work.stage, planned_work.owning_agency) == (2, Agency.EDUCATION)
    assert planned_work.recommendation_id == recommendation.recommendation_id


def test_an_intervention_that_contradicts_its_recommendation_is_refused() -> None:
    case = new_case()
    reports = new_reports(case)
    issue(case, stage=2, reports=reports)
    rec = reports.recommendation(reports.reports[0].recommendations[0].recommendation_id)
    with pytest.raises(Invalid, match="stage: differs from the recommendation's stage 2"):
        case.plan_intervention(uuid4(), "x", 1, None, date(2024, 7, 1), rec, None, META)
    with pytest.raises(Invalid, match="owning_agency: differs from the recommendation's"):
        case.plan_intervention(uuid4(), "x", None, Agency.POLICE, date(2024, 7, 1), rec, None, META)
    with pytest.raises(Invalid, match="recommendation_id: no recommendation"):
        reports.recommendation(uuid4())
    assert case.interventions == {}


def test_a_standalone_intervention_needs_a_stage_and_an_agency() -> None:
    case = new_case()
    with pytest.raises(Invalid, match="stage: is required"):
        case.plan_intervention(uuid4(), "x", None, Agency.YJS, date(2024, 7, 1), None, None, META)
    with pytest.raises(Invalid, match="owning_agency: is required"):
        case.plan_intervention(uuid4(), "x", 1, None, date(2024, 7, 1), None, None, META)


def test_an_intervention_goes_from_planned_through_sessions_to_completed() -> None:
    case = new_case()
    intervention_id = planned(case)
    case.start_intervention(intervention_id, date(2024, 7, 2), META)
    case.record_session(intervention_id, date(2024, 7, 9), "Synthetic session", META)
    case.record_session(intervention_id, date(2024, 7, 16), None, META)
    case.complete_intervention(intervention_id, date(2024, 9, 1), META)
    work = case.interventions[intervention_id]
    assert work.status == InterventionStatus.COMPLETED
    assert work.sessions == [date(2024, 7, 9), date(2024, 7, 16)]


def test_sessions_and_completion_need_started_work_and_dates_not_before_the_start() -> None:
    case = new_case()
    intervention_id = planned(case)
    with pytest.raises(Conflict, match="cannot record a session of an intervention that is"):
        case.record_session(intervention_id, date(2024, 7, 9), None, META)
    with pytest.raises(Conflict, match="cannot complete an intervention that is planned"):
        case.complete_intervention(intervention_id, date(2024, 7, 9), META)
    case.start_intervention(intervention_id, date(2024, 7, 2), META)
    with pytest.raises(Conflict, match="cannot start an intervention that is started"):
        case.start_intervention(intervention_id, date(2024, 7, 2), META)
    with pytest.raises(Invalid, match="held_on: must not be before the start on 2024-07-02"):
        case.record_session(intervention_id, date(2024, 7, 1), None, META)
    with pytest.raises(Invalid, match="completed_on: must not be before the start"):
        case.complete_intervention(intervention_id, date(2024, 7, 1), META)


def test_work_is_stopped_with_a_reason_from_planned_or_started_and_then_stays_stopped() -> None:
    case = new_case()
    intervention_id = planned(case)
    with pytest.raises(Invalid, match="reason: stopping an intervention needs a reason"):
        case.stop_intervention(intervention_id, date(2024, 7, 2), META)
    case.stop_intervention(intervention_id, date(2024, 7, 2), WHY)
    work = case.interventions[intervention_id]
    assert (work.status, work.stop_reason) == (InterventionStatus.STOPPED, WHY.reason)
    with pytest.raises(Conflict, match="cannot start an intervention that is stopped"):
        case.start_intervention(intervention_id, date(2024, 7, 3), META)
    with pytest.raises(NotFound):
        case.stop_intervention(uuid4(), date(2024, 7, 2), WHY)


def test_work_planned_in_sequence_shows_out_of_sequence_after_the_stage_drops() -> None:
    case = new_case()
    case.assess_stage(4, date(2024, 6, 1), "Synthetic", META)
    intervention_id = planned(case, stage=4)
    assert case.in_sequence_now(case.interventions[intervention_id]) is True
    case.assess_stage(2, date(2024, 7, 1), "Synthetic: a setback", META)
    assert case.in_sequence_now(case.interventions[intervention_id]) is False


# -- consultations -------------------------------------------------------------------------


def new_consultation(referral_id: UUID | None = None) -> Consultation:
    return Consultation(
        child_id=uuid4(), referral_id=referral_id or uuid4(), area=Area.BRISTOL, meta=META
    )


def test_a_consultation_id_derives_from_its_referral() -> None:
    referral_id = uuid4()
    assert new_consultation(referral_id).id == consultation_id_for(referral_id)


def test_a_consultation_is_held_then_closed() -> None:
    consultation = new_consultation()
    consultation.hold(
        date(2024, 5, 1), ["Synthetic case manager"], [Agency.YJS], "Synthetic advice", META
    )
    consultation.close(META)
    assert names(consultation) == ["Opened", "Held", "Closed"]
    assert consultation.status == ConsultationStatus.CLOSED
    with pytest.raises(Conflict, match="cannot hold a consultation that is closed"):
        consultation.hold(date(2024, 5, 2), ["x"], [], "x", META)


@pytest.mark.parametrize(
    ("attended_by", "advice", "message"),
    [
        ([], "Advice", "attended_by: name at least one person"),
        (["  "], "Advice", "attended_by.0: must not be empty"),
        (["Case manager"], "", "advice: must not be empty"),
    ],
)
def test_a_consultation_needs_who_attended_and_the_advice(
    attended_by: list[str], advice: str, message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        new_consultation().hold(date(2024, 5, 1), attended_by, [], advice, META)


def test_closing_a_consultation_never_held_needs_a_reason() -> None:
    consultation = new_consultation()
    with pytest.raises(Invalid, match="reason: closing a consultation that was never held"):
        consultation.close(META)
    consultation.close(WHY)
    assert consultation.close_reason == WHY.reason
