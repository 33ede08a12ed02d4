"""HTTP request and response models of the reviews service (one schema per purpose)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from services.reviews.caseload import CaseloadEntry
from services.reviews.record import ChildReviews
from services.reviews.supervision import SupervisionKind, SupervisionSession
from services.reviews.values import (
    Action,
    CaseStatus,
    InterventionStatus,
    Progress,
    ProgressRecord,
    Review,
    ReviewStatus,
    TransitionKind,
)
from shared.domain import Area
from shared.fields import (
    MULTI_LINE,
    SINGLE_LINE,
    SINGLE_LINE_DOC,
    CaseDay,
    ExpectedVersion,
    PlannedDay,
    Timestamp,
)
from shared.meetings import (
    AttendanceIn,
    AttendanceOut,
    AttendanceRecord,
    Invitee,
    InviteeIn,
    MeetingRescheduleIn,
    MeetingScheduleIn,
)
from shared.vocabulary import Agency, trm_label

Text = Annotated[str, Field(min_length=1, max_length=5_000), MULTI_LINE]
Short = Annotated[str, Field(min_length=1, max_length=500), SINGLE_LINE, SINGLE_LINE_DOC]
UserId = Annotated[str, Field(min_length=1, max_length=200), SINGLE_LINE, SINGLE_LINE_DOC]
Reason = Annotated[str, Field(min_length=3, max_length=2_000), MULTI_LINE]
Stage = Annotated[int, Field(ge=1, le=6, description="TRM stage, 1 (bottom) to 6")]
Weeks = Annotated[int, Field(ge=1, le=52, description="Weeks between reviews")]


# ------------------------------------------------------------------ requests


class CadenceUpdate(BaseModel):
    """Set how many weeks apart the child's reviews fall due."""

    weeks: Weeks
    expected_version: ExpectedVersion = None


class WorkerUpdate(BaseModel):
    """Name the ECM practitioner who owns the child's reviews."""

    worker_id: UserId
    expected_version: ExpectedVersion = None


class ReviewSchedule(MeetingScheduleIn):
    """Schedule the due review."""


class ReviewReschedule(MeetingRescheduleIn):
    """Move a scheduled review to another time."""


class ProgressIn(BaseModel):
    """Progress on one active intervention."""

    intervention_id: UUID
    progress: Progress
    note: Text | None = None


class ActionIn(BaseModel):
    """An action agreed at the review."""

    agency: Agency
    due_on: PlannedDay
    text: Text


class ReviewRecord(BaseModel):
    """Record a scheduled review as held."""

    held_on: CaseDay
    attendance: list[AttendanceIn] = Field(min_length=1, max_length=100)
    stage: Stage
    rationale: Text | None = Field(default=None, description="Needed when the stage changes")
    progress: list[ProgressIn] = Field(default_factory=list, max_length=100)
    actions: list[ActionIn] = Field(default_factory=list, max_length=100)
    next_review_on: PlannedDay | None = Field(
        default=None, description="Defaults to held_on plus the cadence"
    )
    expected_version: ExpectedVersion = None


class TransitionIn(BaseModel):
    """A transition in the child's life."""

    kind: TransitionKind
    occurred_on: CaseDay
    receiving_organisation: Short | None = None
    expected_version: ExpectedVersion = None


class ClosureIn(BaseModel):
    """Close the case; safety-net contact may continue until a date."""

    closed_on: CaseDay
    reason: Reason
    safety_net_until: PlannedDay | None = None
    expected_version: ExpectedVersion = None


class ReopeningIn(BaseModel):
    """Reopen a closed case."""

    reopened_on: CaseDay
    reason: Reason
    expected_version: ExpectedVersion = None


class SupervisionIn(BaseModel):
    """Log a supervision or reflective practice session for a YJS practitioner."""

    practitioner_id: UserId
    supervisor_id: UserId
    held_on: CaseDay
    kind: SupervisionKind
    children: list[UUID] = Field(
        default_factory=list,
        max_length=50,
        description="Children discussed, by pseudonymous id only",
    )
    themes: Text = Field(description="Themes of practice; never a child's personal data")


# ----------------------------------------------------------------- responses


class Version(BaseModel):
    """The id of what changed and the case's version after the change."""

    id: UUID
    version: int


class Created(BaseModel):
    """The id of what was created, and the version of the record it lives in."""

    id: UUID
    version: int


class TickResult(BaseModel):
    """How many ReviewOverdue events one tick raised."""

    today: date
    raised: int


class AttendancePublic(AttendanceOut):
    """Attendance of one agency or contact at a held review."""


class ProgressPublic(BaseModel):
    """Progress on an intervention at a held review."""

    intervention_id: UUID
    progress: Progress
    note: str | None


class ActionPublic(BaseModel):
    """An action agreed at a held review."""

    agency: Agency
    due_on: date
    text: str | None


class ReviewPublic(BaseModel):
    """One review of the child's network."""

    review_id: UUID
    number: int
    status: ReviewStatus
    due_on: date
    overdue: bool
    overdue_noticed_on: date | None
    starts_at: Timestamp | None
    venue: str | None
    online_link: str | None
    invitees: list[InviteeIn]
    scheduled_by: str | None
    reschedules: int
    cancellations: int
    held_on: date | None
    attendance: list[AttendancePublic]
    stage: int | None
    stage_label: str | None
    previous_stage: int | None
    rationale: str | None
    progress: list[ProgressPublic]
    actions: list[ActionPublic]
    next_review_on: date | None


class InterventionPublic(BaseModel):
    """An intervention as the reviews service knows it from the formulation service."""

    intervention_id: UUID
    intervention_type: str
    stage: int
    owning_agency: str
    planned_start: date | None
    status: InterventionStatus
    status_on: date | None


class TransitionPublic(BaseModel):
    """A recorded transition."""

    transition_id: UUID
    kind: TransitionKind
    occurred_on: CaseDay
    receiving_organisation: str | None


class ReviewCasePublic(BaseModel):
    """The child's reviews with ECM, as the caller may see them."""

    child_id: UUID
    case_id: UUID
    version: int
    area: Area
    status: CaseStatus
    worker_id: str | None
    review_weeks: int
    cadence_set: bool
    stage: int | None
    stage_label: str | None
    stage_assessed_on: date | None
    current_review_id: UUID | None
    overdue: bool
    reviews: list[ReviewPublic]
    interventions: list[InterventionPublic]
    transitions: list[TransitionPublic]
    closed_on: date | None
    safety_net_until: date | None
    in_safety_net: bool
    reopened_on: date | None


class CaseloadEntryPublic(BaseModel):
    """A pending review on a caseload (nothing personal)."""

    review_id: UUID
    child_id: UUID
    area: Area
    due_on: date
    status: ReviewStatus
    starts_at: Timestamp | None
    scheduled_by: str | None
    worker_id: str | None
    overdue: bool
    days_overdue: int
    overdue_raised: bool


class SupervisionPublic(BaseModel):
    """A logged supervision or reflective practice session."""

    session_id: UUID
    version: int | None = None
    practitioner_id: str
    supervisor_id: str
    held_on: CaseDay
    kind: SupervisionKind
    children: list[UUID]
    themes: str | None = None


# --------------------------------------------------------------- conversions


def to_invitees(items: list[InviteeIn]) -> list[Invitee]:
    """Invitees as the domain takes them."""
    return [i.to_invitee() for i in items]


def to_attendance(items: list[AttendanceIn]) -> list[AttendanceRecord]:
    """Attendance as the domain takes it."""
    return [a.to_record() for a in items]


def to_progress(items: list[ProgressIn]) -> list[ProgressRecord]:
    """Progress as the domain takes it."""
    return [ProgressRecord(p.intervention_id, p.progress, p.note) for p in items]


def to_actions(items: list[ActionIn]) -> list[Action]:
    """Actions as the domain takes them."""
    return [Action(a.agency, a.due_on, a.text) for a in items]


def review_public(case: ChildReviews, review: Review, today: date) -> ReviewPublic:
    """The public view of one review; overdue as of `today`."""
    overdue = review.review_id == case.current_review_id and case.is_overdue(today)
    return ReviewPublic(
        review_id=review.review_id,
        number=review.number,
        status=review.status,
        due_on=review.due_on,
        overdue=overdue,
        overdue_noticed_on=review.overdue_noticed_on,
        starts_at=review.starts_at,
        venue=review.venue,
        online_link=review.online_link,
        invitees=[InviteeIn(agency=i.agency, contact_id=i.contact_id) for i in review.invitees],
        scheduled_by=review.scheduled_by,
        reschedules=review.reschedules,
        cancellations=review.cancellations,
        held_on=review.held_on,
        attendance=[
            AttendancePublic(
                agency=a.agency,
                contact_id=a.contact_id,
                attendance=a.attendance,
                joined_on_the_day=a.joined_on_the_day,
            )
            for a in review.attendance
        ],
        stage=review.stage,
        stage_label=trm_label(review.stage) if review.stage else None,
        previous_stage=review.previous_stage,
        rationale=case.case.rationale_of(review.review_id) if review.held_on else None,
        progress=[
            ProgressPublic(intervention_id=p.intervention_id, progress=p.progress, note=p.note)
            for p in review.progress
        ],
        actions=[
            ActionPublic(agency=a.agency, due_on=a.due_on, text=a.text or None)
            for a in review.actions
        ],
        next_review_on=review.next_review_on,
    )


def case_public(record: ChildReviews, default_weeks: int, today: date) -> ReviewCasePublic:
    """The public view of a child's review case; overdue and safety net as of `today`."""
    case = record.case
    return ReviewCasePublic(
        child_id=case.child_id,
        case_id=case.id,
        version=record.version,
        area=case.area,
        status=case.status,
        worker_id=case.worker_id,
        review_weeks=case.weeks(default_weeks),
        cadence_set=case.review_weeks is not None,
        stage=case.stage,
        stage_label=trm_label(case.stage) if case.stage else None,
        stage_assessed_on=case.stage_assessed_on,
        current_review_id=record.current_review_id,
        overdue=record.is_overdue(today),
        reviews=[review_public(record, r, today) for r in record.reviews.values()],
        interventions=[
            InterventionPublic(
                intervention_id=i.intervention_id,
                intervention_type=i.intervention_type,
                stage=i.stage,
                owning_agency=i.owning_agency,
                planned_start=i.planned_start,
                status=i.status,
                status_on=i.status_on,
            )
            for i in record.interventions.values()
        ],
        transitions=[
            TransitionPublic(
                transition_id=t.transition_id,
                kind=t.kind,
                occurred_on=t.occurred_on,
                receiving_organisation=t.receiving_organisation,
            )
            for t in case.transitions
        ],
        closed_on=case.closed_on,
        safety_net_until=case.safety_net_until,
        in_safety_net=case.in_safety_net(today),
        reopened_on=case.reopened_on,
    )


def caseload_public(entry: CaseloadEntry) -> CaseloadEntryPublic:
    """The public view of a caseload entry."""
    return CaseloadEntryPublic(
        review_id=entry.review_id,
        child_id=entry.child_id,
        area=Area(entry.area),
        due_on=entry.due_on,
        status=ReviewStatus(entry.status),
        starts_at=entry.starts_at,
        scheduled_by=entry.scheduled_by,
        worker_id=entry.worker_id,
        overdue=entry.overdue,
        days_overdue=entry.days_overdue,
        overdue_raised=entry.overdue_raised,
    )


def supervision_public(session: SupervisionSession) -> SupervisionPublic:
    """The public view of a supervision session (themes included)."""
    return SupervisionPublic(
        session_id=session.id,
        version=session.version,
        practitioner_id=session.practitioner_id,
        supervisor_id=session.supervisor_id,
        held_on=session.held_on,
        kind=session.kind,
        children=list(session.children),
        themes=session.themes,
    )
