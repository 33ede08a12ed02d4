"""What a formulation case holds: timeline entries, meetings, reports, assessments, work."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from services.formulation.values import (
    LifeDate,
    Recommendation,
    Sensitivity,
    TimelineCategory,
)
from shared.meetings import AttendanceRecord, Invitee
from shared.vocabulary import Agency


class MeetingStatus(StrEnum):
    """Where a formulation meeting stands."""

    SCHEDULED = "scheduled"
    HELD = "held"
    CANCELLED = "cancelled"


class InterventionStatus(StrEnum):
    """Where an intervention stands."""

    PLANNED = "planned"
    STARTED = "started"
    COMPLETED = "completed"
    STOPPED = "stopped"


@dataclass
class TimelineEntry:
    """One dated entry in the child's life story (corrections replace its content)."""

    entry_id: UUID
    when: LifeDate
    category: TimelineCategory
    description: str | None
    source: str | None
    sensitivity: Sensitivity
    added_by: str
    corrections: int = 0
    retracted: bool = False
    retraction_reason: str | None = None


@dataclass
class Meeting:
    """A multi-agency formulation meeting."""

    meeting_id: UUID
    starts_at: datetime
    venue: str | None
    online_link: str | None
    invitees: list[Invitee]
    status: MeetingStatus = MeetingStatus.SCHEDULED
    reschedules: list[tuple[datetime, str | None]] = field(default_factory=list)
    cancel_reason: str | None = None
    held_on: date | None = None
    attendance: list[AttendanceRecord] = field(default_factory=list)
    notes: str | None = None


@dataclass(frozen=True)
class Report:
    """One issued version of the formulation report."""

    version: int
    narrative: str | None
    stage: int
    issued_on: date
    recommendations: tuple[Recommendation, ...]
    issued_by: str


@dataclass(frozen=True)
class StageAssessment:
    """A TRM stage assessment, made here (with a report or alone) or at a review."""

    sequence: int
    stage: int
    assessed_on: date
    source: str
    rationale: str | None
    assessor_id: str
    assessor_role: str
    report_version: int | None = None
    review_id: UUID | None = None


@dataclass
class Intervention:
    """A piece of work with the child at a TRM stage, owned by one agency."""

    intervention_id: UUID
    intervention_type: str
    stage: int
    owning_agency: Agency
    planned_start: date
    recommendation_id: UUID | None
    out_of_sequence: bool
    planned_by: str
    override_rationale: str | None = None
    status: InterventionStatus = InterventionStatus.PLANNED
    started_on: date | None = None
    sessions: list[date] = field(default_factory=list)
    completed_on: date | None = None
    stopped_on: date | None = None
    stop_reason: str | None = None
