"""HTTP schemas of the formulation service: one model per purpose, and the public views."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from services.formulation.consultation import Consultation, ConsultationStatus
from services.formulation.domain import FormulationCase
from services.formulation.life_story import LifeStory
from services.formulation.meetings import FormulationMeetings
from services.formulation.records import (
    Intervention,
    InterventionStatus,
    Meeting,
    MeetingStatus,
    Report,
    StageAssessment,
    TimelineEntry,
)
from services.formulation.reports import FormulationReports
from services.formulation.sequencing import allowed_stages, effective_stage
from services.formulation.values import DatePrecision, LifeDate, Sensitivity, TimelineCategory
from shared.domain import Area
from shared.fields import (
    MULTI_LINE,
    SINGLE_LINE,
    SINGLE_LINE_DOC,
    CaseDay,
    ExpectedVersion,
    LifeDay,
    PlannedDay,
    Timestamp,
)
from shared.meetings import (
    AttendanceIn,
    AttendanceOut,
    InviteeIn,
    MeetingRescheduleIn,
    MeetingScheduleIn,
    ReasonIn,
)
from shared.vocabulary import Agency, TrmStage

Text = Annotated[str, Field(min_length=1, max_length=20_000), MULTI_LINE]
Short = Annotated[str, Field(min_length=1, max_length=500), SINGLE_LINE, SINGLE_LINE_DOC]
Reason = Annotated[str, Field(min_length=3, max_length=2_000), MULTI_LINE]
Stage = Annotated[int, Field(ge=1, le=6, description="TRM stage, 1 (bottom) to 6 (top)")]
PastDate = CaseDay


# -- requests ------------------------------------------------------------------------------


class LifeDateIn(BaseModel):
    """When it happened: `on` (exact), `year`+`month` (month), `year` (year) or `age_years`."""

    precision: DatePrecision
    on: LifeDay | None = None
    year: int | None = None
    month: int | None = None
    age_years: int | None = None

    def to_domain(self) -> LifeDate:
        """The checked life date (Invalid names the part that is wrong)."""
        return LifeDate.create(
            self.precision, on=self.on, year=self.year, month=self.month, age_years=self.age_years
        )


class TimelineEntryCreate(BaseModel):
    """Add an entry to the child's life story."""

    when: LifeDateIn
    category: TimelineCategory
    description: Text
    source: Short | None = Field(default=None, description="Where the information came from.")
    sensitivity: Sensitivity = Sensitivity.STANDARD
    expected_version: ExpectedVersion = None


class TimelineEntryCorrection(BaseModel):
    """Correct an entry with a reason: only the fields given change; the original stays."""

    when: LifeDateIn | None = None
    category: TimelineCategory | None = None
    description: Text | None = None
    source: Short | None = None
    sensitivity: Sensitivity | None = None
    reason: Reason
    expected_version: ExpectedVersion = None


class ReasonCreate(ReasonIn):
    """A change that needs a reason."""


class MeetingCreate(MeetingScheduleIn):
    """Schedule a formulation meeting: in person (venue), online (link) or both."""


class MeetingReschedule(MeetingRescheduleIn):
    """Move a scheduled meeting, with a reason."""


class MeetingHeldCreate(BaseModel):
    """Record the meeting as held: attendance for every invitee, and the notes."""

    held_on: PastDate
    attendance: list[AttendanceIn] = Field(min_length=1, max_length=60)
    notes: Text | None = None
    expected_version: ExpectedVersion = None


class RecommendationIn(BaseModel):
    """A recommendation: the TRM stage it serves, the agency owning it, what to do."""

    stage: Stage
    agency: Agency
    text: Text


class ReportCreate(BaseModel):
    """Issue a (new version of the) formulation report."""

    narrative: Annotated[str, Field(min_length=1, max_length=100_000), MULTI_LINE]
    stage: Stage
    stage_rationale: Text | None = None
    issued_on: PastDate
    recommendations: list[RecommendationIn] = Field(default_factory=list, max_length=50)
    expected_version: ExpectedVersion = None


class AssessmentCreate(BaseModel):
    """Assess the child's TRM stage, with a rationale."""

    stage: Stage
    assessed_on: PastDate
    rationale: Text
    expected_version: ExpectedVersion = None


class OverrideIn(BaseModel):
    """A psychologist's override of the sequencing rule."""

    rationale: Annotated[str, Field(min_length=10, max_length=5_000), MULTI_LINE]


class InterventionCreate(BaseModel):
    """Plan an intervention, from a recommendation (stage and agency follow it) or standalone."""

    intervention_type: Annotated[
        str,
        Field(min_length=1, max_length=120),
        SINGLE_LINE,
        Field(description="e.g. PACE, CBT (not narrative)."),
    ]
    stage: Stage | None = None
    owning_agency: Agency | None = None
    planned_start: PlannedDay
    recommendation_id: UUID | None = None
    override: OverrideIn | None = None
    expected_version: ExpectedVersion = None


class InterventionStart(BaseModel):
    """Start planned work."""

    started_on: PastDate
    expected_version: ExpectedVersion = None


class SessionCreate(BaseModel):
    """Record a session of started work."""

    held_on: PastDate
    note: Text | None = None
    expected_version: ExpectedVersion = None


class CompletionCreate(BaseModel):
    """Complete started work."""

    completed_on: PastDate
    expected_version: ExpectedVersion = None


class StopCreate(BaseModel):
    """Stop planned or started work, with a reason."""

    stopped_on: PastDate
    reason: Reason
    expected_version: ExpectedVersion = None


class ConsultationHeldCreate(BaseModel):
    """Record a consultation held: when, who attended, the advice given."""

    held_on: PastDate
    attended_by: list[Short] = Field(min_length=1, max_length=20)
    agencies: list[Agency] = Field(default_factory=list, max_length=20)
    advice: Text
    expected_version: ExpectedVersion = None


class ConsultationClose(BaseModel):
    """Close a consultation (a reason is needed if it was never held)."""

    reason: Reason | None = None
    expected_version: ExpectedVersion = None


# -- responses -----------------------------------------------------------------------------


class Changed(BaseModel):
    """What was created or changed, and the record's version afterwards."""

    id: UUID
    version: int


class ReportIssuedOut(BaseModel):
    """The report version issued and the case version afterwards."""

    report_version: int
    version: int


class PlannedOut(BaseModel):
    """The intervention planned; `overridden` when planned out of sequence under an override."""

    id: UUID
    version: int
    out_of_sequence: bool
    overridden: bool


class StageOut(BaseModel):
    """A TRM stage with its label."""

    stage: int
    label: str


class SequencingOut(BaseModel):
    """What the sequencing rule allows now."""

    assessed_stage: int | None
    effective_stage: int = Field(description="The assessed stage, or 1 before any assessment.")
    assumed: bool
    allowed_stages: list[int]


class CaseOut(BaseModel):
    """A child's formulation case at a glance."""

    child_id: UUID
    case_id: UUID
    version: int
    area: Area
    opened_at: Timestamp
    referral_ids: list[UUID]
    current_stage: StageOut | None
    sequencing: SequencingOut
    timeline_entries: int
    meetings: dict[MeetingStatus, int]
    report_versions: int
    interventions: dict[InterventionStatus, int]


class LifeDateOut(BaseModel):
    """When it happened, as precisely as known."""

    precision: DatePrecision
    on: date | None
    year: int | None
    month: int | None
    age_years: int | None


class TimelineEntryOut(BaseModel):
    """A life-story entry; `withheld` when its content is restricted to ECM staff."""

    entry_id: UUID
    when: LifeDateOut
    category: TimelineCategory
    description: str | None
    source: str | None
    sensitivity: Sensitivity
    withheld: bool
    added_by: str
    corrections: int
    retracted: bool
    retraction_reason: str | None


class RescheduleOut(BaseModel):
    """An earlier time of the meeting and why it moved."""

    previous_starts_at: Timestamp
    reason: str | None


class MeetingOut(BaseModel):
    """A formulation meeting."""

    meeting_id: UUID
    status: MeetingStatus
    starts_at: Timestamp
    venue: str | None
    online_link: str | None
    invitees: list[InviteeIn]
    reschedules: list[RescheduleOut]
    cancel_reason: str | None
    held_on: date | None
    attendance: list[AttendanceOut]
    notes: str | None


class RecommendationOut(BaseModel):
    """A recommendation of a report."""

    recommendation_id: UUID
    stage: StageOut
    agency: Agency
    text: str | None


class ReportOut(BaseModel):
    """One version of the formulation report."""

    version: int
    narrative: str | None
    stage: StageOut
    issued_on: date
    issued_by: str
    recommendations: list[RecommendationOut]


class AssessmentOut(BaseModel):
    """A TRM stage assessment, from formulation or a review."""

    stage: StageOut
    assessed_on: date
    source: str
    rationale: str | None
    assessor_id: str
    assessor_role: str
    report_version: int | None
    review_id: UUID | None


class AssessmentsOut(BaseModel):
    """The child's current stage and every assessment, latest first."""

    current: AssessmentOut | None
    sequencing: SequencingOut
    assessments: list[AssessmentOut]


class InterventionOut(BaseModel):
    """An intervention; `in_sequence_now` checks it against the child's current stage."""

    intervention_id: UUID
    intervention_type: str
    stage: StageOut
    owning_agency: Agency
    planned_start: PlannedDay
    recommendation_id: UUID | None
    out_of_sequence: bool
    override_rationale: str | None
    in_sequence_now: bool
    status: InterventionStatus
    planned_by: str
    started_on: date | None
    sessions: list[date]
    completed_on: date | None
    stopped_on: date | None
    stop_reason: str | None


class ConsultationSessionOut(BaseModel):
    """A consultation held."""

    held_on: date
    attended_by: list[str] | None
    agencies: list[Agency]
    advice: str | None
    held_by: str


class ConsultationOut(BaseModel):
    """A consultation (non-formulated case)."""

    id: UUID
    version: int
    child_id: UUID
    referral_id: UUID
    area: Area
    status: ConsultationStatus
    sessions: list[ConsultationSessionOut]
    close_reason: str | None


# -- views ---------------------------------------------------------------------------------


def stage_out(stage: int) -> StageOut:
    """A stage with its label."""
    return StageOut(stage=stage, label=TrmStage(stage).label)


def sequencing_out(case: FormulationCase) -> SequencingOut:
    """What the sequencing rule allows for the case now."""
    stage = case.current_stage
    return SequencingOut(
        assessed_stage=stage,
        effective_stage=effective_stage(stage),
        assumed=stage is None,
        allowed_stages=allowed_stages(stage),
    )


def case_out(
    case: FormulationCase,
    story: LifeStory,
    held: FormulationMeetings,
    issued: FormulationReports,
) -> CaseOut:
    """The case at a glance, with the counts of its life story, meetings and reports."""
    meetings = {s: 0 for s in MeetingStatus}
    for meeting in held.meetings.values():
        meetings[meeting.status] += 1
    interventions = {s: 0 for s in InterventionStatus}
    for intervention in case.interventions.values():
        interventions[intervention.status] += 1
    stage = case.current_stage
    return CaseOut(
        child_id=case.child_id,
        case_id=case.id,
        version=case.version,
        area=case.area,
        opened_at=case.created_on,
        referral_ids=list(case.referral_ids),
        current_stage=stage_out(stage) if stage else None,
        sequencing=sequencing_out(case),
        timeline_entries=len(story.life_story()),
        meetings=meetings,
        report_versions=len(issued.reports),
        interventions=interventions,
    )


def entry_out(entry: TimelineEntry, may_read_restricted: bool) -> TimelineEntryOut:
    """An entry; restricted content is withheld from readers outside ECM staff."""
    withheld = entry.sensitivity == Sensitivity.RESTRICTED and not may_read_restricted
    when = entry.when
    return TimelineEntryOut(
        entry_id=entry.entry_id,
        when=LifeDateOut(
            precision=when.precision,
            on=when.on,
            year=when.year,
            month=when.month,
            age_years=when.age_years,
        ),
        category=entry.category,
        description=None if withheld else entry.description,
        source=None if withheld else entry.source,
        sensitivity=entry.sensitivity,
        withheld=withheld,
        added_by=entry.added_by,
        corrections=entry.corrections,
        retracted=entry.retracted,
        retraction_reason=entry.retraction_reason,
    )


def meeting_out(meeting: Meeting) -> MeetingOut:
    """A meeting."""
    return MeetingOut(
        meeting_id=meeting.meeting_id,
        status=meeting.status,
        starts_at=meeting.starts_at,
        venue=meeting.venue,
        online_link=meeting.online_link,
        invitees=[InviteeIn(agency=i.agency, contact_id=i.contact_id) for i in meeting.invitees],
        reschedules=[
            RescheduleOut(previous_starts_at=at, reason=why) for at, why in meeting.reschedules
        ],
        cancel_reason=meeting.cancel_reason,
        held_on=meeting.held_on,
        attendance=[
            AttendanceOut(
                agency=a.agency,
                contact_id=a.contact_id,
                attendance=a.attendance,
                joined_on_the_day=a.joined_on_the_day,
            )
            for a in meeting.attendance
        ],
        notes=meeting.notes,
    )


def report_out(report: Report) -> ReportOut:
    """A report version."""
    return ReportOut(
        version=report.version,
        narrative=report.narrative,
        stage=stage_out(report.stage),
        issued_on=report.issued_on,
        issued_by=report.issued_by,
        recommendations=[
            RecommendationOut(
                recommendation_id=r.recommendation_id,
                stage=stage_out(r.stage),
                agency=r.agency,
                text=r.text,
            )
            for r in report.recommendations
        ],
    )


def assessment_out(assessment: StageAssessment) -> AssessmentOut:
    """An assessment."""
    return AssessmentOut(
        stage=stage_out(assessment.stage),
        assessed_on=assessment.assessed_on,
        source=assessment.source,
        rationale=assessment.rationale,
        assessor_id=assessment.assessor_id,
        assessor_role=assessment.assessor_role,
        report_version=assessment.report_version,
        review_id=assessment.review_id,
    )


def assessments_out(case: FormulationCase) -> AssessmentsOut:
    """The current stage and every assessment, latest first."""
    current = case.current_assessment
    ordered = sorted(case.assessments, key=lambda a: (a.assessed_on, a.sequence), reverse=True)
    return AssessmentsOut(
        current=assessment_out(current) if current else None,
        sequencing=sequencing_out(case),
        assessments=[assessment_out(a) for a in ordered],
    )


def intervention_out(case: FormulationCase, intervention: Intervention) -> InterventionOut:
    """An intervention, checked against the child's current stage."""
    i = intervention
    return InterventionOut(
        intervention_id=i.intervention_id,
        intervention_type=i.intervention_type,
        stage=stage_out(i.stage),
        owning_agency=i.owning_agency,
        planned_start=i.planned_start,
        recommendation_id=i.recommendation_id,
        out_of_sequence=i.out_of_sequence,
        override_rationale=i.override_rationale,
        in_sequence_now=case.in_sequence_now(i),
        status=i.status,
        planned_by=i.planned_by,
        started_on=i.started_on,
        sessions=list(i.sessions),
        completed_on=i.completed_on,
        stopped_on=i.stopped_on,
        stop_reason=i.stop_reason,
    )


def consultation_out(consultation: Consultation) -> ConsultationOut:
    """A consultation."""
    return ConsultationOut(
        id=consultation.id,
        version=consultation.version,
        child_id=consultation.child_id,
        referral_id=consultation.referral_id,
        area=consultation.area,
        status=consultation.status,
        close_reason=consultation.close_reason,
        sessions=[
            ConsultationSessionOut(
                held_on=s.held_on,
                attended_by=list(s.attended_by) if s.attended_by else None,
                agencies=list(s.agencies),
                advice=s.advice,
                held_by=s.held_by,
            )
            for s in consultation.sessions
        ],
    )
