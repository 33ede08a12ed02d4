"""Wire contracts of the formulation service: the one place domain events become messages.

Also the tolerant readers of the messages it consumes (referrals' screening outcomes and the
reviews service's stage re-assessments).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.formulation.consultation import Consultation
from services.formulation.domain import FormulationCase
from services.formulation.life_story import LifeStory
from services.formulation.meetings import FormulationMeetings
from services.formulation.reports import FormulationReports
from services.formulation.values import DatePrecision, Sensitivity, TimelineCategory
from shared.contracts import Contract, ContractRegistry, Mapping, NotPersonal, Sealed
from shared.domain import Area
from shared.vocabulary import Agency, Attendance


class FormulationCaseOpenedV1(Contract):
    """A child's formulation case opened on an accepted referral (aggregate id = case id)."""

    child_id: UUID
    referral_id: UUID
    area: Area


class FormulationCaseAreaChangedV1(Contract):
    """The case followed the child to another YJS area."""

    child_id: UUID
    area: Area


class ConsultationOpenedV1(Contract):
    """A consultation (non-formulated case) opened on a referral offered one."""

    child_id: UUID
    referral_id: UUID
    area: Area


class ConsultationHeldV1(Contract):
    """A consultation was held with the case manager; who attended and advice are sealed."""

    child_id: UUID
    held_on: date
    agencies: list[Agency]
    attended_by: Sealed | None
    advice: Sealed | None


class ConsultationClosedV1(Contract):
    """The consultation was closed (reason, if any, in the envelope)."""

    child_id: UUID


class LifeDateV1(BaseModel):
    """When a life-story event happened, as precisely as it is known."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    precision: DatePrecision
    on: date | None
    year: int | None
    month: int | None
    age_years: int | None


class TimelineEntryV1(Contract):
    """A life-story entry was added or corrected (description and source are sealed)."""

    child_id: UUID
    entry_id: UUID
    when: LifeDateV1
    category: TimelineCategory
    sensitivity: Sensitivity
    description: Sealed | None
    source_of_information: Sealed | None


class TimelineEntryRetractedV1(Contract):
    """A life-story entry was retracted (reason in the envelope); it stays in the history."""

    child_id: UUID
    entry_id: UUID


class InviteeV1(BaseModel):
    """An invited agency and the named contact there (a partner-directory id), if any."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agency: Agency
    contact_id: UUID | None


class FormulationMeetingScheduledV1(Contract):
    """A multi-agency formulation meeting was scheduled."""

    child_id: UUID
    meeting_id: UUID
    starts_at: datetime
    venue: Sealed | None
    online_link: Sealed | None
    invitees: list[InviteeV1]


class FormulationMeetingRescheduledV1(Contract):
    """A formulation meeting moved (reason in the envelope)."""

    child_id: UUID
    meeting_id: UUID
    starts_at: datetime


class FormulationMeetingCancelledV1(Contract):
    """A formulation meeting was cancelled (reason in the envelope)."""

    child_id: UUID
    meeting_id: UUID


class MeetingAttendanceV1(BaseModel):
    """Whether an agency (and named contact) attended."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agency: Agency
    contact_id: UUID | None
    attendance: Attendance


class FormulationMeetingHeldV1(Contract):
    """A formulation meeting was held; attendance per agency and contact."""

    child_id: UUID
    meeting_id: UUID
    held_on: date
    attendance: list[MeetingAttendanceV1]


class RecommendationV1(BaseModel):
    """A recommendation of the report: a TRM stage, an owning agency, sealed text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recommendation_id: UUID
    stage: int
    agency: Agency
    text: Sealed | None


class ReportIssuedV1(Contract):
    """A version of the formulation report was issued (narrative stays in the store)."""

    child_id: UUID
    report_version: int
    stage: int
    stage_label: NotPersonal
    issued_on: date
    recommendations: list[RecommendationV1]


class StageAssessedV1(Contract):
    """The child's TRM stage was assessed in formulation (source "formulation")."""

    child_id: UUID
    stage: int
    stage_label: NotPersonal
    assessed_on: date
    source: NotPersonal


class InterventionPlannedV1(Contract):
    """An intervention was planned; out_of_sequence when planned under an override."""

    child_id: UUID
    intervention_id: UUID
    intervention_type: NotPersonal
    stage: int
    stage_label: NotPersonal
    owning_agency: Agency
    planned_start: date
    recommendation_id: UUID | None
    out_of_sequence: bool


class SequencingOverriddenV1(Contract):
    """A psychologist overrode the sequencing rule, with a sealed rationale."""

    child_id: UUID
    intervention_id: UUID
    child_stage: int
    intervention_stage: int
    rationale: Sealed | None


class InterventionStartedV1(Contract):
    """An intervention started."""

    child_id: UUID
    intervention_id: UUID
    started_on: date


class InterventionSessionRecordedV1(Contract):
    """A session of an intervention was held."""

    child_id: UUID
    intervention_id: UUID
    held_on: date


class InterventionCompletedV1(Contract):
    """An intervention was completed."""

    child_id: UUID
    intervention_id: UUID
    completed_on: date


class InterventionStoppedV1(Contract):
    """An intervention was stopped (reason in the envelope)."""

    child_id: UUID
    intervention_id: UUID
    stopped_on: date


def _attendance_on_the_wire(event: Any) -> dict[str, Any]:
    # joined_on_the_day stays in the store: the published contract names agency, contact, outcome
    return {
        "attendance": [
            {k: a[k] for k in ("agency", "contact_id", "attendance")} for a in event.attendance
        ]
    }


# eventsourcing makes the event classes from the @event methods at class creation: untyped.
Case: Any = FormulationCase
Consult: Any = Consultation
Story: Any = LifeStory
Held: Any = FormulationMeetings
Issued: Any = FormulationReports

REGISTRY = ContractRegistry(
    "formulation",
    [
        Mapping(Case.Opened, "FormulationCaseOpened", FormulationCaseOpenedV1),
        Mapping(Case.AreaChanged, "FormulationCaseAreaChanged", FormulationCaseAreaChangedV1),
        Mapping(Case.TimelineEntryAdded, "TimelineEntryAdded", TimelineEntryV1),
        Mapping(Case.TimelineEntryCorrected, "TimelineEntryCorrected", TimelineEntryV1),
        Mapping(Case.TimelineEntryRetracted, "TimelineEntryRetracted", TimelineEntryRetractedV1),
        Mapping(
            Case.FormulationMeetingScheduled,
            "FormulationMeetingScheduled",
            FormulationMeetingScheduledV1,
        ),
        Mapping(
            Case.FormulationMeetingRescheduled,
            "FormulationMeetingRescheduled",
            FormulationMeetingRescheduledV1,
        ),
        Mapping(
            Case.FormulationMeetingCancelled,
            "FormulationMeetingCancelled",
            FormulationMeetingCancelledV1,
        ),
        Mapping(
            Case.FormulationMeetingHeld,
            "FormulationMeetingHeld",
            FormulationMeetingHeldV1,
            extra=_attendance_on_the_wire,
        ),
        # Since the split the life story, meetings and reports are aggregates of their own: their
        # events are published as the same contracts (and sealed as before, see `sealed_as`).
        Mapping(Story.TimelineEntryAdded, "TimelineEntryAdded", TimelineEntryV1),
        Mapping(Story.TimelineEntryCorrected, "TimelineEntryCorrected", TimelineEntryV1),
        Mapping(Story.TimelineEntryRetracted, "TimelineEntryRetracted", TimelineEntryRetractedV1),
        Mapping(
            Held.FormulationMeetingScheduled,
            "FormulationMeetingScheduled",
            FormulationMeetingScheduledV1,
        ),
        Mapping(
            Held.FormulationMeetingRescheduled,
            "FormulationMeetingRescheduled",
            FormulationMeetingRescheduledV1,
        ),
        Mapping(
            Held.FormulationMeetingCancelled,
            "FormulationMeetingCancelled",
            FormulationMeetingCancelledV1,
        ),
        Mapping(
            Held.FormulationMeetingHeld,
            "FormulationMeetingHeld",
            FormulationMeetingHeldV1,
            extra=_attendance_on_the_wire,
        ),
        Mapping(Case.ReportIssued, "ReportIssued", ReportIssuedV1),
        Mapping(Issued.ReportIssued, "ReportIssued", ReportIssuedV1),
        Mapping(Case.StageAssessed, "StageAssessed", StageAssessedV1),
        Mapping(Case.InterventionPlanned, "InterventionPlanned", InterventionPlannedV1),
        Mapping(Case.SequencingOverridden, "SequencingOverridden", SequencingOverriddenV1),
        Mapping(Case.InterventionStarted, "InterventionStarted", InterventionStartedV1),
        Mapping(
            Case.InterventionSessionRecorded,
            "InterventionSessionRecorded",
            InterventionSessionRecordedV1,
        ),
        Mapping(Case.InterventionCompleted, "InterventionCompleted", InterventionCompletedV1),
        Mapping(Case.InterventionStopped, "InterventionStopped", InterventionStoppedV1),
        Mapping(Consult.Opened, "ConsultationOpened", ConsultationOpenedV1),
        Mapping(Consult.Held, "ConsultationHeld", ConsultationHeldV1),
        Mapping(Consult.Closed, "ConsultationClosed", ConsultationClosedV1),
    ],
)
"""Every published formulation event. Not published (kept in the store): ReferralLinked (a
further accepted referral of a child already in formulation) and ReviewAssessmentRecorded (a
review's re-assessment, already published by the reviews service as StageReassessed), and the
`Started` snapshots of the life story, the meetings and the reports (their content was
published as the case's events before the split)."""


# -- what this service reads from other services (tolerant readers: unknown fields ignored) --


class AreaCorrectedIn(BaseModel):
    """The data of referrals' ChildAreaCorrected."""

    model_config = ConfigDict(extra="ignore")

    area: Area


class ScreeningIn(BaseModel):
    """The data of referrals' ReferralAccepted and ConsultationOffered."""

    model_config = ConfigDict(extra="ignore")

    child_id: UUID
    area: Area


class StageReassessedIn(BaseModel):
    """The data of reviews' StageReassessed."""

    model_config = ConfigDict(extra="ignore")

    child_id: UUID
    review_id: UUID
    stage: int = Field(ge=1, le=6)
    assessed_on: date
    rationale: Sealed | None = None
