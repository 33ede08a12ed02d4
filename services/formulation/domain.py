"""Formulation domain: the child's formulation case.

One FormulationCase per child (its id derives from the child id, so opening it is idempotent)
holds the life-story timeline, formulation meetings, report versions, TRM stage assessments and
interventions: the sequencing rule needs the current stage and the plan in one consistent place.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.domain import event

from services.formulation.records import (
    Intervention,
    InterventionStatus,
    Meeting,
    MeetingStatus,
    Report,
    StageAssessment,
    TimelineEntry,
)
from services.formulation.sequencing import check_sequence, effective_stage, is_in_sequence
from services.formulation.values import (
    LifeDate,
    Recommendation,
    RecommendationDraft,
    Sensitivity,
    TimelineCategory,
    case_id_for,
    checked_stage,
    checked_text,
    invalid,
)
from shared.domain import (
    Area,
    Clear,
    Conflict,
    EcmAggregate,
    Meta,
    NotFound,
    NotPersonal,
    Personal,
    PersonalItems,
    register_stored_topics,
)
from shared.meetings import AttendanceRecord, Invitee, check_attendance
from shared.vocabulary import Agency, TrmStage

SOURCE_FORMULATION = "formulation"
SOURCE_REVIEW = "review"


class FormulationCase(EcmAggregate):
    """A child accepted for formulation: timeline, meetings, reports, stages, interventions."""


    @staticmethod
    def create_id(child_id: UUID) -> UUID:
        """The case id derives from the child id (see `case_id_for`)."""
        return case_id_for(child_id)

    class Opened(EcmAggregate.Created):
        child_id: UUID
        referral_id: UUID
        area: Area
        meta: Meta

    @event(Opened)
    def __init__(self, child_id: UUID, referral_id: UUID, area: Area, meta: Meta) -> None:
        self.child_id = child_id
        self.area = Area(area)
        self.referral_ids: list[UUID] = [referral_id]
        self.timeline: dict[UUID, TimelineEntry] = {}
        self.meetings: dict[UUID, Meeting] = {}
        self.reports: list[Report] = []
        self.assessments: list[StageAssessment] = []
        self.interventions: dict[UUID, Intervention] = {}

    # -- referrals ---------------------------------------------------------------------------

    def move_area(self, area: Area, meta: Meta) -> bool:
        """Follow the child to another YJS area; False when already there."""
        if Area(area) == self.area:
            return False
        self._area_changed(child_id=self.child_id, area=Area(area), meta=meta)
        return True

    class AreaChanged(EcmAggregate.Event):
        child_id: UUID
        area: Area
        meta: Meta

    @event(AreaChanged)
    def _area_changed(self, child_id: UUID, area: Area, meta: Meta) -> None:
        self.area = Area(area)

    def link_referral(self, referral_id: UUID, meta: Meta) -> bool:
        """Note a further accepted referral of the child; False when already known."""
        if referral_id in self.referral_ids:
            return False
        self._referral_linked(child_id=self.child_id, referral_id=referral_id, meta=meta)
        return True

    class ReferralLinked(EcmAggregate.Event):
        child_id: UUID
        referral_id: UUID
        meta: Meta

    @event(ReferralLinked)
    def _referral_linked(self, child_id: UUID, referral_id: UUID, meta: Meta) -> None:
        self.referral_ids.append(referral_id)

    # -- timeline ----------------------------------------------------------------------------

    def add_timeline_entry(self, entry_id: UUID, when: LifeDate, category: TimelineCategory,
                           description: str, source: str | None, sensitivity: Sensitivity,
                           meta: Meta) -> None:
        """Add a dated entry to the child's life story."""
        if entry_id in self.timeline:
            raise Conflict(f"entry_id: timeline entry {entry_id} already exists", field="entry_id")
        checked_text(description, "description")
        self._timeline_entry_added(
            child_id=self.child_id, entry_id=entry_id, when=when.as_dict(),
            category=str(TimelineCategory(category)), description=description,
            source_of_information=checked_text(source, "source", required=False),
            sensitivity=str(Sensitivity(sensitivity)), meta=meta,
        )

    class TimelineEntryAdded(EcmAggregate.Event):
        child_id: UUID
        entry_id: UUID
        when: Clear[dict[str, Any]]
        category: NotPersonal
        description: Personal[str | None]
        source_of_information: Personal[str | None]
        sensitivity: NotPersonal
        meta: Meta

    @event(TimelineEntryAdded)
    def _timeline_entry_added(self, child_id: UUID, entry_id: UUID, when: dict[str, Any],
                              category: str, description: str | None,
                              source_of_information: str | None, sensitivity: str,
                              meta: Meta) -> None:
        self.timeline[entry_id] = TimelineEntry(
            entry_id, LifeDate.from_dict(when), TimelineCategory(category), description,
            source_of_information, Sensitivity(sensitivity), meta.actor_id,
        )

    def timeline_entry(self, entry_id: UUID) -> TimelineEntry:
        """The entry, or NotFound."""
        try:
            return self.timeline[entry_id]
        except KeyError:
            raise NotFound(f"timeline entry {entry_id} not found", field="entry_id") from None

    def correct_timeline_entry(self, entry_id: UUID, meta: Meta, *, when: LifeDate | None = None,
                               category: TimelineCategory | None = None,
                               description: str | None = None, source: str | None = None,
                               sensitivity: Sensitivity | None = None) -> None:
        """Correct an entry with a reason; the original stays in the history."""
        entry = self.timeline_entry(entry_id)
        if entry.retracted:
            raise Conflict(f"entry_id: timeline entry {entry_id} was retracted", field="entry_id")
        if not meta.reason:
            raise invalid("reason", "a correction needs a reason")
        if when is None and category is None and description is None and source is None \
                and sensitivity is None:
            raise invalid("body", "a correction must change at least one field")
        if description is not None:
            checked_text(description, "description")
        self._timeline_entry_corrected(
            child_id=self.child_id, entry_id=entry_id,
            when=(when or entry.when).as_dict(),
            category=str(TimelineCategory(category or entry.category)),
            description=entry.description if description is None else description,
            source_of_information=entry.source if source is None else source,
            sensitivity=str(Sensitivity(sensitivity or entry.sensitivity)), meta=meta,
        )

    class TimelineEntryCorrected(EcmAggregate.Event):
        child_id: UUID
        entry_id: UUID
        when: Clear[dict[str, Any]]
        category: NotPersonal
        description: Personal[str | None]
        source_of_information: Personal[str | None]
        sensitivity: NotPersonal
        meta: Meta

    @event(TimelineEntryCorrected)
    def _timeline_entry_corrected(self, child_id: UUID, entry_id: UUID, when: dict[str, Any],
                                  category: str, description: str | None,
                                  source_of_information: str | None, sensitivity: str,
                                  meta: Meta) -> None:
        entry = self.timeline[entry_id]
        entry.when = LifeDate.from_dict(when)
        entry.category = TimelineCategory(category)
        entry.description = description
        entry.source = source_of_information
        entry.sensitivity = Sensitivity(sensitivity)
        entry.corrections += 1

    def retract_timeline_entry(self, entry_id: UUID, meta: Meta) -> None:
        """Retract an entry recorded in error, with a reason; it stays in the history."""
        entry = self.timeline_entry(entry_id)
        if entry.retracted:
            raise Conflict(f"entry_id: timeline entry {entry_id} is already retracted",
                           field="entry_id")
        if not meta.reason:
            raise invalid("reason", "a retraction needs a reason")
        self._timeline_entry_retracted(child_id=self.child_id, entry_id=entry_id, meta=meta)

    class TimelineEntryRetracted(EcmAggregate.Event):
        child_id: UUID
        entry_id: UUID
        meta: Meta

    @event(TimelineEntryRetracted)
    def _timeline_entry_retracted(self, child_id: UUID, entry_id: UUID, meta: Meta) -> None:
        entry = self.timeline[entry_id]
        entry.retracted = True
        entry.retraction_reason = meta.reason

    def life_story(self, include_retracted: bool = False) -> list[TimelineEntry]:
        """The entries in life order (calendar dates first, then approximate ages)."""
        entries = [e for e in self.timeline.values() if include_retracted or not e.retracted]
        return sorted(entries, key=lambda e: e.when.sort_key())

    # -- formulation meetings ----------------------------------------------------------------

    def meeting(self, meeting_id: UUID) -> Meeting:
        """The meeting, or NotFound."""
        try:
            return self.meetings[meeting_id]
        except KeyError:
            raise NotFound(f"meeting {meeting_id} not found", field="meeting_id") from None

    def schedule_meeting(self, meeting_id: UUID, starts_at: datetime, venue: str | None,
                         online_link: str | None, invitees: list[Invitee], meta: Meta) -> None:
        """Schedule a multi-agency formulation meeting (in person, online or both)."""
        if meeting_id in self.meetings:
            raise Conflict(f"meeting_id: meeting {meeting_id} already exists", field="meeting_id")
        if starts_at.tzinfo is None:
            raise invalid("starts_at", "must include a time zone")
        if checked_text(venue, "venue", required=False) is None and \
                checked_text(online_link, "online_link", required=False) is None:
            raise invalid("venue", "a meeting needs a venue or an online link")
        if not invitees:
            raise invalid("invitees", "invite at least one agency")
        if len(set(invitees)) != len(invitees):
            raise invalid("invitees", "the same agency and contact is invited twice")
        self._meeting_scheduled(
            child_id=self.child_id, meeting_id=meeting_id, starts_at=starts_at, venue=venue,
            online_link=online_link, invitees=[i.as_dict() for i in invitees], meta=meta,
        )

    class FormulationMeetingScheduled(EcmAggregate.Event):
        child_id: UUID
        meeting_id: UUID
        starts_at: datetime
        venue: Personal[str | None]
        online_link: Personal[str | None]
        invitees: Clear[list[dict[str, Any]]]
        meta: Meta

    @event(FormulationMeetingScheduled)
    def _meeting_scheduled(self, child_id: UUID, meeting_id: UUID, starts_at: datetime,
                           venue: str | None, online_link: str | None,
                           invitees: list[dict[str, Any]], meta: Meta) -> None:
        self.meetings[meeting_id] = Meeting(
            meeting_id, starts_at, venue, online_link, [Invitee.from_dict(i) for i in invitees]
        )

    def _check_scheduled(self, meeting: Meeting, action: str) -> None:
        if meeting.status != MeetingStatus.SCHEDULED:
            raise Conflict(f"status: cannot {action} a meeting that is {meeting.status}",
                           field="status")

    def reschedule_meeting(self, meeting_id: UUID, starts_at: datetime, meta: Meta) -> None:
        """Move a scheduled meeting to a new time, with a reason."""
        meeting = self.meeting(meeting_id)
        self._check_scheduled(meeting, "reschedule")
        if not meta.reason:
            raise invalid("reason", "rescheduling needs a reason")
        if starts_at.tzinfo is None:
            raise invalid("starts_at", "must include a time zone")
        if starts_at == meeting.starts_at:
            raise invalid("starts_at", "is the time already scheduled")
        self._meeting_rescheduled(child_id=self.child_id, meeting_id=meeting_id,
                                  starts_at=starts_at, meta=meta)

    class FormulationMeetingRescheduled(EcmAggregate.Event):
        child_id: UUID
        meeting_id: UUID
        starts_at: datetime
        meta: Meta

    @event(FormulationMeetingRescheduled)
    def _meeting_rescheduled(self, child_id: UUID, meeting_id: UUID, starts_at: datetime,
                             meta: Meta) -> None:
        meeting = self.meetings[meeting_id]
        meeting.reschedules.append((meeting.starts_at, meta.reason))
        meeting.starts_at = starts_at

    def cancel_meeting(self, meeting_id: UUID, meta: Meta) -> None:
        """Cancel a scheduled meeting, with a reason."""
        meeting = self.meeting(meeting_id)
        self._check_scheduled(meeting, "cancel")
        if not meta.reason:
            raise invalid("reason", "cancelling needs a reason")
        self._meeting_cancelled(child_id=self.child_id, meeting_id=meeting_id, meta=meta)

    class FormulationMeetingCancelled(EcmAggregate.Event):
        child_id: UUID
        meeting_id: UUID
        meta: Meta

    @event(FormulationMeetingCancelled)
    def _meeting_cancelled(self, child_id: UUID, meeting_id: UUID, meta: Meta) -> None:
        meeting = self.meetings[meeting_id]
        meeting.status = MeetingStatus.CANCELLED
        meeting.cancel_reason = meta.reason

    def record_meeting_held(self, meeting_id: UUID, held_on: date,
                            attendance: list[AttendanceRecord], notes: str | None,
                            meta: Meta) -> None:
        """Record the meeting as held: attendance for every invitee, and the notes."""
        meeting = self.meeting(meeting_id)
        self._check_scheduled(meeting, "record as held")
        if held_on < meeting.starts_at.date():  # the same rule as for reviews
            raise Conflict(f"held_on: the meeting is scheduled for {meeting.starts_at.date()}; "
                           "a meeting cannot be held before it was scheduled (reschedule it "
                           "first)", field="held_on")
        check_attendance(meeting.invitees, attendance)
        self._meeting_held(
            child_id=self.child_id, meeting_id=meeting_id, held_on=held_on,
            attendance=[a.as_dict() for a in attendance],
            notes=checked_text(notes, "notes", required=False), meta=meta,
        )

    class FormulationMeetingHeld(EcmAggregate.Event):
        child_id: UUID
        meeting_id: UUID
        held_on: date
        attendance: Clear[list[dict[str, Any]]]
        notes: Personal[str | None]
        meta: Meta

    @event(FormulationMeetingHeld)
    def _meeting_held(self, child_id: UUID, meeting_id: UUID, held_on: date,
                      attendance: list[dict[str, Any]], notes: str | None, meta: Meta) -> None:
        meeting = self.meetings[meeting_id]
        meeting.status = MeetingStatus.HELD
        meeting.held_on = held_on
        meeting.attendance = [AttendanceRecord.from_dict(a) for a in attendance]
        meeting.notes = notes

    # -- reports and TRM stage assessments ---------------------------------------------------

    def issue_report(self, narrative: str, stage: int, issued_on: date,
                     recommendations: list[tuple[UUID, RecommendationDraft]],
                     stage_rationale: str | None, meta: Meta) -> int:
        """Issue a new version of the report; its stage is recorded as an assessment too."""
        checked_text(narrative, "narrative")
        stage = checked_stage(stage)
        items = []
        for index, (recommendation_id, draft) in enumerate(recommendations):
            items.append(Recommendation(
                recommendation_id, checked_stage(draft.stage, f"recommendations.{index}.stage"),
                Agency(draft.agency), checked_text(draft.text, f"recommendations.{index}.text"),
            ))
        if len({r.recommendation_id for r in items}) != len(items):
            raise invalid("recommendations", "recommendation ids must be unique")
        version = len(self.reports) + 1
        self._report_issued(
            child_id=self.child_id, report_version=version, stage=stage,
            stage_label=TrmStage(stage).label, issued_on=issued_on, narrative=narrative,
            recommendations=[r.as_dict() for r in items], meta=meta,
        )
        self._stage_assessed(
            child_id=self.child_id, stage=stage, stage_label=TrmStage(stage).label,
            assessed_on=issued_on, source=SOURCE_FORMULATION, rationale=stage_rationale,
            report_version=version, meta=meta,
        )
        return version

    class ReportIssued(EcmAggregate.Event):
        child_id: UUID
        report_version: int
        stage: int
        stage_label: NotPersonal
        issued_on: date
        narrative: Personal[str | None]
        recommendations: Annotated[list[dict[str, Any]], PersonalItems("text")]
        meta: Meta

    @event(ReportIssued)
    def _report_issued(self, child_id: UUID, report_version: int, stage: int, stage_label: str,
                       issued_on: date, narrative: str | None,
                       recommendations: list[dict[str, Any]], meta: Meta) -> None:
        self.reports.append(Report(
            report_version, narrative, stage, issued_on,
            tuple(Recommendation.from_dict(r) for r in recommendations), meta.actor_id,
        ))

    def report(self, version: int) -> Report:
        """An issued version of the report, or NotFound."""
        if not 1 <= version <= len(self.reports):
            raise NotFound(f"report version {version} not found", field="version")
        return self.reports[version - 1]

    def recommendation(self, recommendation_id: UUID) -> Recommendation:
        """A recommendation from any issued version of the report."""
        for report in reversed(self.reports):
            for item in report.recommendations:
                if item.recommendation_id == recommendation_id:
                    return item
        raise invalid("recommendation_id",
                       f"no recommendation {recommendation_id} in any issued report")

    def assess_stage(self, stage: int, assessed_on: date, rationale: str, meta: Meta) -> None:
        """Record a TRM stage assessment with its rationale; stages move down as well as up."""
        stage = checked_stage(stage)
        checked_text(rationale, "rationale")
        self._stage_assessed(
            child_id=self.child_id, stage=stage, stage_label=TrmStage(stage).label,
            assessed_on=assessed_on, source=SOURCE_FORMULATION, rationale=rationale,
            report_version=None, meta=meta,
        )

    class StageAssessed(EcmAggregate.Event):
        child_id: UUID
        stage: int
        stage_label: NotPersonal
        assessed_on: date
        source: NotPersonal
        rationale: Personal[str | None]
        report_version: int | None
        meta: Meta

    @event(StageAssessed)
    def _stage_assessed(self, child_id: UUID, stage: int, stage_label: str, assessed_on: date,
                        source: str, rationale: str | None, report_version: int | None,
                        meta: Meta) -> None:
        self.assessments.append(StageAssessment(
            len(self.assessments) + 1, stage, assessed_on, source, rationale, meta.actor_id,
            meta.actor_role, report_version=report_version,
        ))

    def record_review_assessment(self, review_id: UUID, stage: int, assessed_on: date,
                                 rationale: str | None, meta: Meta) -> bool:
        """Take in a re-assessment made at a review; False when it is already recorded."""
        stage = checked_stage(stage)
        for known in self.assessments:
            if known.review_id == review_id and (known.stage, known.assessed_on) == (
                stage, assessed_on
            ):
                return False
        self._review_assessment_recorded(
            child_id=self.child_id, review_id=review_id, stage=stage,
            stage_label=TrmStage(stage).label, assessed_on=assessed_on, rationale=rationale,
            meta=meta,
        )
        return True

    class ReviewAssessmentRecorded(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        stage: int
        stage_label: NotPersonal
        assessed_on: date
        rationale: Personal[str | None]
        meta: Meta

    @event(ReviewAssessmentRecorded)
    def _review_assessment_recorded(self, child_id: UUID, review_id: UUID, stage: int,
                                    stage_label: str, assessed_on: date, rationale: str | None,
                                    meta: Meta) -> None:
        self.assessments.append(StageAssessment(
            len(self.assessments) + 1, stage, assessed_on, SOURCE_REVIEW, rationale,
            meta.actor_id, meta.actor_role, review_id=review_id,
        ))

    @property
    def current_assessment(self) -> StageAssessment | None:
        """The latest assessment by date wherever made (ties: the one recorded last)."""
        if not self.assessments:
            return None
        return max(self.assessments, key=lambda a: (a.assessed_on, a.sequence))

    @property
    def current_stage(self) -> int | None:
        """The child's current TRM stage; None before any assessment (the rule assumes 1)."""
        latest = self.current_assessment
        return latest.stage if latest else None

    # -- interventions -----------------------------------------------------------------------

    def intervention(self, intervention_id: UUID) -> Intervention:
        """The intervention, or NotFound."""
        try:
            return self.interventions[intervention_id]
        except KeyError:
            raise NotFound(f"intervention {intervention_id} not found",
                           field="intervention_id") from None

    def plan_intervention(self, intervention_id: UUID, intervention_type: str,
                          stage: int | None, owning_agency: Agency | None, planned_start: date,
                          recommendation_id: UUID | None, override_rationale: str | None,
                          meta: Meta) -> bool:
        """Plan work in TRM sequence, or out of sequence with an override; True if overridden."""
        if intervention_id in self.interventions:
            raise Conflict(f"intervention_id: intervention {intervention_id} already exists",
                           field="intervention_id")
        checked_text(intervention_type, "intervention_type")
        if recommendation_id is not None:
            recommended = self.recommendation(recommendation_id)
            if stage is not None and stage != recommended.stage:
                raise invalid("stage", f"differs from the recommendation's stage "
                                        f"{recommended.stage}")
            if owning_agency is not None and owning_agency != recommended.agency:
                raise invalid("owning_agency", f"differs from the recommendation's agency "
                                                f"{recommended.agency}")
            stage, owning_agency = recommended.stage, recommended.agency
        if stage is None:
            raise invalid("stage", "is required for an intervention not from a recommendation")
        if owning_agency is None:
            raise invalid("owning_agency",
                           "is required for an intervention not from a recommendation")
        stage = checked_stage(stage)
        overridden = check_sequence(self.current_stage, stage, override_rationale)
        self._intervention_planned(
            child_id=self.child_id, intervention_id=intervention_id,
            intervention_type=intervention_type.strip(), stage=stage,
            stage_label=TrmStage(stage).label, owning_agency=str(Agency(owning_agency)),
            planned_start=planned_start, recommendation_id=recommendation_id,
            out_of_sequence=overridden is not None, meta=meta,
        )
        if overridden is not None:
            self._sequencing_overridden(
                child_id=self.child_id, intervention_id=intervention_id,
                child_stage=effective_stage(self.current_stage), intervention_stage=stage,
                rationale=override_rationale, meta=meta,
            )
        return overridden is not None

    class InterventionPlanned(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        intervention_type: NotPersonal
        stage: int
        stage_label: NotPersonal
        owning_agency: NotPersonal
        planned_start: date
        recommendation_id: UUID | None
        out_of_sequence: bool
        meta: Meta

    @event(InterventionPlanned)
    def _intervention_planned(self, child_id: UUID, intervention_id: UUID,
                              intervention_type: str, stage: int, stage_label: str,
                              owning_agency: str, planned_start: date,
                              recommendation_id: UUID | None, out_of_sequence: bool,
                              meta: Meta) -> None:
        self.interventions[intervention_id] = Intervention(
            intervention_id, intervention_type, stage, Agency(owning_agency), planned_start,
            recommendation_id, out_of_sequence, meta.actor_id,
        )

    class SequencingOverridden(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        child_stage: int
        intervention_stage: int
        rationale: Personal[str | None]
        meta: Meta

    @event(SequencingOverridden)
    def _sequencing_overridden(self, child_id: UUID, intervention_id: UUID, child_stage: int,
                               intervention_stage: int, rationale: str | None,
                               meta: Meta) -> None:
        self.interventions[intervention_id].override_rationale = rationale

    def in_sequence_now(self, intervention: Intervention) -> bool:
        """Whether the work would be in sequence at the child's current stage."""
        return is_in_sequence(self.current_stage, intervention.stage)

    def _check_status(self, intervention: Intervention, action: str,
                      *allowed: InterventionStatus) -> None:
        if intervention.status not in allowed:
            raise Conflict(
                f"status: cannot {action} an intervention that is {intervention.status}",
                field="status",
            )

    def _check_not_before_start(self, intervention: Intervention, day: date, field: str) -> None:
        if intervention.started_on is not None and day < intervention.started_on:
            raise invalid(field, f"must not be before the start on "
                                  f"{intervention.started_on.isoformat()}")

    def start_intervention(self, intervention_id: UUID, started_on: date, meta: Meta) -> None:
        """Start planned work."""
        intervention = self.intervention(intervention_id)
        self._check_status(intervention, "start", InterventionStatus.PLANNED)
        self._intervention_started(child_id=self.child_id, intervention_id=intervention_id,
                                   started_on=started_on, meta=meta)

    class InterventionStarted(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        started_on: date
        meta: Meta

    @event(InterventionStarted)
    def _intervention_started(self, child_id: UUID, intervention_id: UUID, started_on: date,
                              meta: Meta) -> None:
        intervention = self.interventions[intervention_id]
        intervention.status = InterventionStatus.STARTED
        intervention.started_on = started_on

    def record_session(self, intervention_id: UUID, held_on: date, note: str | None,
                       meta: Meta) -> None:
        """Record a session of work that has started."""
        intervention = self.intervention(intervention_id)
        self._check_status(intervention, "record a session of", InterventionStatus.STARTED)
        self._check_not_before_start(intervention, held_on, "held_on")
        self._session_recorded(child_id=self.child_id, intervention_id=intervention_id,
                               held_on=held_on, note=checked_text(note, "note", required=False),
                               meta=meta)

    class InterventionSessionRecorded(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        held_on: date
        note: Personal[str | None]
        meta: Meta

    @event(InterventionSessionRecorded)
    def _session_recorded(self, child_id: UUID, intervention_id: UUID, held_on: date,
                          note: str | None, meta: Meta) -> None:
        self.interventions[intervention_id].sessions.append(held_on)

    def complete_intervention(self, intervention_id: UUID, completed_on: date,
                              meta: Meta) -> None:
        """Complete work that has started."""
        intervention = self.intervention(intervention_id)
        self._check_status(intervention, "complete", InterventionStatus.STARTED)
        self._check_not_before_start(intervention, completed_on, "completed_on")
        self._intervention_completed(child_id=self.child_id, intervention_id=intervention_id,
                                     completed_on=completed_on, meta=meta)

    class InterventionCompleted(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        completed_on: date
        meta: Meta

    @event(InterventionCompleted)
    def _intervention_completed(self, child_id: UUID, intervention_id: UUID,
                                completed_on: date, meta: Meta) -> None:
        intervention = self.interventions[intervention_id]
        intervention.status = InterventionStatus.COMPLETED
        intervention.completed_on = completed_on

    def stop_intervention(self, intervention_id: UUID, stopped_on: date, meta: Meta) -> None:
        """Stop planned or started work, with a reason."""
        intervention = self.intervention(intervention_id)
        self._check_status(intervention, "stop", InterventionStatus.PLANNED,
                           InterventionStatus.STARTED)
        if not meta.reason:
            raise invalid("reason", "stopping an intervention needs a reason")
        self._check_not_before_start(intervention, stopped_on, "stopped_on")
        self._intervention_stopped(child_id=self.child_id, intervention_id=intervention_id,
                                   stopped_on=stopped_on, meta=meta)

    class InterventionStopped(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        stopped_on: date
        meta: Meta

    @event(InterventionStopped)
    def _intervention_stopped(self, child_id: UUID, intervention_id: UUID, stopped_on: date,
                              meta: Meta) -> None:
        intervention = self.interventions[intervention_id]
        intervention.status = InterventionStatus.STOPPED
        intervention.stopped_on = stopped_on
        intervention.stop_reason = meta.reason


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.formulation.domain", FormulationCase)
