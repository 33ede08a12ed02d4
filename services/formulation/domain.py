"""Formulation domain: the child's formulation case, the plan the sequencing rule guards.

One FormulationCase per child (its id derives from the child id, so opening it is idempotent)
holds the TRM stage assessments and interventions: the sequencing rule needs the current stage
and the plan in one consistent place. The life story, the meetings and the reports are
aggregates of their own (`life_story.py`, `meetings.py`, `reports.py`).
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import event

from services.formulation.legacy import CaseHistory
from services.formulation.plan_rules import (
    check_not_before_start,
    check_status,
    planned_stage_and_agency,
)
from services.formulation.records import (
    Intervention,
    InterventionStatus,
    StageAssessment,
)
from services.formulation.sequencing import check_sequence, effective_stage, is_in_sequence
from services.formulation.values import (
    Recommendation,
    case_id_for,
    checked_stage,
    checked_text,
    invalid,
)
from shared.domain import (
    Area,
    Conflict,
    EcmAggregate,
    Meta,
    NotFound,
    NotPersonal,
    Personal,
    register_stored_topics,
)
from shared.vocabulary import Agency, TrmStage

SOURCE_FORMULATION = "formulation"
SOURCE_REVIEW = "review"


class FormulationCase(CaseHistory):
    """A child accepted for formulation: TRM stage assessments and the plan of interventions,
    which the sequencing rule needs consistent together. The life story (`LifeStory`), the
    meetings (`FormulationMeetings`) and the reports (`FormulationReports`) are aggregates of
    their own; the events the case stored for them before the split are declared in
    `CaseHistory`."""

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

    # -- TRM stage assessments ----------------------------------------------------------------

    def assess_report_stage(
        self, report_version: int, stage: int, issued_on: date, rationale: str | None, meta: Meta
    ) -> None:
        """Record the stage of a report just issued (`FormulationReports`) as an assessment."""
        stage = checked_stage(stage)
        self._stage_assessed(
            child_id=self.child_id,
            stage=stage,
            stage_label=TrmStage(stage).label,
            assessed_on=issued_on,
            source=SOURCE_FORMULATION,
            rationale=rationale,
            report_version=report_version,
            meta=meta,
        )

    def assess_stage(self, stage: int, assessed_on: date, rationale: str, meta: Meta) -> None:
        """Record a TRM stage assessment with its rationale; stages move down as well as up."""
        stage = checked_stage(stage)
        checked_text(rationale, "rationale")
        self._stage_assessed(
            child_id=self.child_id,
            stage=stage,
            stage_label=TrmStage(stage).label,
            assessed_on=assessed_on,
            source=SOURCE_FORMULATION,
            rationale=rationale,
            report_version=None,
            meta=meta,
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
    def _stage_assessed(
        self,
        child_id: UUID,
        stage: int,
        stage_label: str,
        assessed_on: date,
        source: str,
        rationale: str | None,
        report_version: int | None,
        meta: Meta,
    ) -> None:
        self.assessments.append(
            StageAssessment(
                len(self.assessments) + 1,
                stage,
                assessed_on,
                source,
                rationale,
                meta.actor_id,
                meta.actor_role,
                report_version=report_version,
            )
        )

    def record_review_assessment(
        self, review_id: UUID, stage: int, assessed_on: date, rationale: str | None, meta: Meta
    ) -> bool:
        """Take in a re-assessment made at a review; False when it is already recorded."""
        stage = checked_stage(stage)
        for known in self.assessments:
            if known.review_id == review_id and (known.stage, known.assessed_on) == (
                stage,
                assessed_on,
            ):
                return False
        self._review_assessment_recorded(
            child_id=self.child_id,
            review_id=review_id,
            stage=stage,
            stage_label=TrmStage(stage).label,
            assessed_on=assessed_on,
            rationale=rationale,
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
    def _review_assessment_recorded(
        self,
        child_id: UUID,
        review_id: UUID,
        stage: int,
        stage_label: str,
        assessed_on: date,
        rationale: str | None,
        meta: Meta,
    ) -> None:
        self.assessments.append(
            StageAssessment(
                len(self.assessments) + 1,
                stage,
                assessed_on,
                SOURCE_REVIEW,
                rationale,
                meta.actor_id,
                meta.actor_role,
                review_id=review_id,
            )
        )

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
            raise NotFound(
                f"intervention {intervention_id} not found", field="intervention_id"
            ) from None

    def plan_intervention(
        self,
        intervention_id: UUID,
        intervention_type: str,
        stage: int | None,
        owning_agency: Agency | None,
        planned_start: date,
        recommended: Recommendation | None,
        override_rationale: str | None,
        meta: Meta,
    ) -> bool:
        """Plan work in TRM sequence, or out of sequence with an override; True if overridden.
        Work from a recommendation (of `FormulationReports`) takes its stage and agency."""
        if intervention_id in self.interventions:
            raise Conflict(
                f"intervention_id: intervention {intervention_id} already exists",
                field="intervention_id",
            )
        checked_text(intervention_type, "intervention_type")
        stage, owning_agency = planned_stage_and_agency(recommended, stage, owning_agency)
        overridden = check_sequence(self.current_stage, stage, override_rationale)
        self._intervention_planned(
            child_id=self.child_id,
            intervention_id=intervention_id,
            intervention_type=intervention_type.strip(),
            stage=stage,
            stage_label=TrmStage(stage).label,
            owning_agency=str(Agency(owning_agency)),
            planned_start=planned_start,
            recommendation_id=None if recommended is None else recommended.recommendation_id,
            out_of_sequence=overridden is not None,
            meta=meta,
        )
        if overridden is not None:
            self._sequencing_overridden(
                child_id=self.child_id,
                intervention_id=intervention_id,
                child_stage=effective_stage(self.current_stage),
                intervention_stage=stage,
                rationale=override_rationale,
                meta=meta,
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
    def _intervention_planned(
        self,
        child_id: UUID,
        intervention_id: UUID,
        intervention_type: str,
        stage: int,
        stage_label: str,
        owning_agency: str,
        planned_start: date,
        recommendation_id: UUID | None,
        out_of_sequence: bool,
        meta: Meta,
    ) -> None:
        self.interventions[intervention_id] = Intervention(
            intervention_id,
            intervention_type,
            stage,
            Agency(owning_agency),
            planned_start,
            recommendation_id,
            out_of_sequence,
            meta.actor_id,
        )

    class SequencingOverridden(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        child_stage: int
        intervention_stage: int
        rationale: Personal[str | None]
        meta: Meta

    @event(SequencingOverridden)
    def _sequencing_overridden(
        self,
        child_id: UUID,
        intervention_id: UUID,
        child_stage: int,
        intervention_stage: int,
        rationale: str | None,
        meta: Meta,
    ) -> None:
        self.interventions[intervention_id].override_rationale = rationale

    def in_sequence_now(self, intervention: Intervention) -> bool:
        """Whether the work would be in sequence at the child's current stage."""
        return is_in_sequence(self.current_stage, intervention.stage)

    def start_intervention(self, intervention_id: UUID, started_on: date, meta: Meta) -> None:
        """Start planned work."""
        intervention = self.intervention(intervention_id)
        check_status(intervention, "start", InterventionStatus.PLANNED)
        self._intervention_started(
            child_id=self.child_id,
            intervention_id=intervention_id,
            started_on=started_on,
            meta=meta,
        )

    class InterventionStarted(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        started_on: date
        meta: Meta

    @event(InterventionStarted)
    def _intervention_started(
        self, child_id: UUID, intervention_id: UUID, started_on: date, meta: Meta
    ) -> None:
        intervention = self.interventions[intervention_id]
        intervention.status = InterventionStatus.STARTED
        intervention.started_on = started_on

    def record_session(
        self, intervention_id: UUID, held_on: date, note: str | None, meta: Meta
    ) -> None:
        """Record a session of work that has started."""
        intervention = self.intervention(intervention_id)
        check_status(intervention, "record a session of", InterventionStatus.STARTED)
        check_not_before_start(intervention, held_on, "held_on")
        self._session_recorded(
            child_id=self.child_id,
            intervention_id=intervention_id,
            held_on=held_on,
            note=checked_text(note, "note", required=False),
            meta=meta,
        )

    class InterventionSessionRecorded(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        held_on: date
        note: Personal[str | None]
        meta: Meta

    @event(InterventionSessionRecorded)
    def _session_recorded(
        self, child_id: UUID, intervention_id: UUID, held_on: date, note: str | None, meta: Meta
    ) -> None:
        self.interventions[intervention_id].sessions.append(held_on)

    def complete_intervention(self, intervention_id: UUID, completed_on: date, meta: Meta) -> None:
        """Complete work that has started."""
        intervention = self.intervention(intervention_id)
        check_status(intervention, "complete", InterventionStatus.STARTED)
        check_not_before_start(intervention, completed_on, "completed_on")
        self._intervention_completed(
            child_id=self.child_id,
            intervention_id=intervention_id,
            completed_on=completed_on,
            meta=meta,
        )

    class InterventionCompleted(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        completed_on: date
        meta: Meta

    @event(InterventionCompleted)
    def _intervention_completed(
        self, child_id: UUID, intervention_id: UUID, completed_on: date, meta: Meta
    ) -> None:
        intervention = self.interventions[intervention_id]
        intervention.status = InterventionStatus.COMPLETED
        intervention.completed_on = completed_on

    def stop_intervention(self, intervention_id: UUID, stopped_on: date, meta: Meta) -> None:
        """Stop planned or started work, with a reason."""
        intervention = self.intervention(intervention_id)
        check_status(intervention, "stop", InterventionStatus.PLANNED, InterventionStatus.STARTED)
        if not meta.reason:
            raise invalid("reason", "stopping an intervention needs a reason")
        check_not_before_start(intervention, stopped_on, "stopped_on")
        self._intervention_stopped(
            child_id=self.child_id,
            intervention_id=intervention_id,
            stopped_on=stopped_on,
            meta=meta,
        )

    class InterventionStopped(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        stopped_on: date
        meta: Meta

    @event(InterventionStopped)
    def _intervention_stopped(
        self, child_id: UUID, intervention_id: UUID, stopped_on: date, meta: Meta
    ) -> None:
        intervention = self.interventions[intervention_id]
        intervention.status = InterventionStatus.STOPPED
        intervention.stopped_on = stopped_on
        intervention.stop_reason = meta.reason


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.formulation.domain", FormulationCase)
