"""Reviews domain: each child's review case: its status, closure and safety net, the TRM stage,
reports noted, the worker, the cadence and transitions.

The schedule of reviews (`schedule.py`) and the interventions learnt from the formulation
service (`interventions.py`) are aggregates of their own; the events the case stored for them
before the split are declared in `ReviewCaseHistory` (`legacy.py`).
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid5

from eventsourcing.domain import event

from services.reviews.legacy import ReviewCaseHistory
from services.reviews.values import (
    RECEIVING_ORGANISATION_OPTIONAL,
    CaseStatus,
    StageAssessment,
    Transition,
    TransitionKind,
    check_cadence,
    check_stage,
)
from shared.domain import (
    Area,
    Conflict,
    EcmAggregate,
    Invalid,
    Meta,
    NotPersonal,
    Personal,
    register_stored_topics,
)
from shared.vocabulary import trm_label

REVIEWS_NAMESPACE = UUID("0b6f3c3e-5a7d-5b8e-9d35-2f8e7c1a4b60")


def review_case_id(child_id: UUID) -> UUID:
    """The id of a child's review case: derived from the child's id, so opening is idempotent."""
    return uuid5(REVIEWS_NAMESPACE, str(child_id))


def needs_reason(meta: Meta, what: str) -> None:
    """A change that needs a reason has one."""
    if not meta.reason or not meta.reason.strip():
        raise Invalid(f"reason: {what} needs a reason", field="reason")


class ReviewCase(ReviewCaseHistory):
    """A child's case with ECM's reviews: one per child, its id derived from the child's id.
    Its status decides whether the schedule may change (`ReviewSchedule` is told it)."""

    @staticmethod
    def create_id(child_id: UUID) -> UUID:
        """One review case per child."""
        return review_case_id(child_id)

    class Opened(EcmAggregate.Created):
        child_id: UUID
        area: Area
        referral_id: UUID | None
        formulation_case_id: UUID | None
        meta: Meta

    @event(Opened)
    def __init__(
        self,
        child_id: UUID,
        area: Area,
        referral_id: UUID | None,
        formulation_case_id: UUID | None,
        meta: Meta,
    ) -> None:
        self.child_id = child_id
        self.area = Area(area)
        self.referral_id = referral_id
        self.formulation_case_id = formulation_case_id
        self.status = CaseStatus.OPEN
        self.worker_id: str | None = None
        self.review_weeks: int | None = None
        self.stage: int | None = None
        self.stage_assessed_on: date | None = None
        self.stage_history: list[StageAssessment] = []
        self.reports: set[tuple[str, int]] = set()
        self.first_report_issued_on: date | None = None
        self.transitions: list[Transition] = []
        self.closed_on: date | None = None
        self.safety_net_until: date | None = None
        self.reopened_on: date | None = None

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

    # ----------------------------------------------------------------- queries

    @property
    def is_open(self) -> bool:
        """True while ECM works with the child (the schedule may change)."""
        return self.status == CaseStatus.OPEN

    def weeks(self, default_weeks: int) -> int:
        """The child's review cadence in weeks (the service default unless set)."""
        return self.review_weeks or default_weeks

    def in_safety_net(self, today: date) -> bool:
        """True while a closed case's safety-net contact continues."""
        return (
            self.status == CaseStatus.CLOSED
            and self.safety_net_until is not None
            and today <= self.safety_net_until
        )

    def rationale_of(self, review_id: UUID) -> str | None:
        """The rationale a review gave for the stage it assessed."""
        for assessment in reversed(self.stage_history):
            if assessment.review_id == review_id:
                return assessment.rationale
        return None

    def check_open(self) -> None:
        """The case is open (a closed one is reopened first)."""
        if not self.is_open:
            raise Conflict("status: the case is closed; reopen it first", field="status")

    # ------------------------------------------------ learnt from the stream

    def note_report(
        self,
        formulation_case_id: UUID,
        report_version: int,
        stage: int,
        issued_on: date,
        meta: Meta,
    ) -> bool:
        """Learn of an issued formulation report; False when already known."""
        if (str(formulation_case_id), report_version) in self.reports:
            return False
        check_stage(stage)
        self._report_noted(
            child_id=self.child_id,
            formulation_case_id=formulation_case_id,
            report_version=report_version,
            stage=stage,
            issued_on=issued_on,
            meta=meta,
        )
        return True

    class ReportNoted(EcmAggregate.Event):
        child_id: UUID
        formulation_case_id: UUID
        report_version: int
        stage: int
        issued_on: date
        meta: Meta

    @event(ReportNoted)
    def _report_noted(
        self,
        child_id: UUID,
        formulation_case_id: UUID,
        report_version: int,
        stage: int,
        issued_on: date,
        meta: Meta,
    ) -> None:
        self.reports.add((str(formulation_case_id), report_version))
        if self.first_report_issued_on is None:
            self.first_report_issued_on = issued_on
        self._assessed(StageAssessment(stage, issued_on, "formulation"))

    def note_stage(self, stage: int, assessed_on: date, source: str, meta: Meta) -> bool:
        """Learn of a TRM stage assessed in the formulation service."""
        check_stage(stage)
        self._stage_noted(
            child_id=self.child_id, stage=stage, assessed_on=assessed_on, source=source, meta=meta
        )
        return True

    class StageNoted(EcmAggregate.Event):
        child_id: UUID
        stage: int
        assessed_on: date
        source: NotPersonal
        meta: Meta

    @event(StageNoted)
    def _stage_noted(
        self, child_id: UUID, stage: int, assessed_on: date, source: str, meta: Meta
    ) -> None:
        self._assessed(StageAssessment(stage, assessed_on, source))

    def _assessed(self, assessment: StageAssessment) -> None:
        # The latest assessment by date is current; the same date: the later one recorded.
        self.stage_history.append(assessment)
        if self.stage_assessed_on is None or assessment.assessed_on >= self.stage_assessed_on:
            self.stage = assessment.stage
            self.stage_assessed_on = assessment.assessed_on

    # ------------------------------------------------- decided here

    def reassess_stage(
        self, review_id: UUID, stage: int, assessed_on: date, rationale: str | None, meta: Meta
    ) -> None:
        """The stage a held review assessed (the schedule checked the review and rationale)."""
        check_stage(stage)
        self._stage_reassessed(
            child_id=self.child_id,
            review_id=review_id,
            stage=stage,
            stage_label=trm_label(stage),
            assessed_on=assessed_on,
            rationale=rationale or None,
            meta=meta,
        )

    class StageReassessed(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        stage: int
        stage_label: NotPersonal
        assessed_on: date
        rationale: Personal[str | None]
        meta: Meta

    @event(StageReassessed)
    def _stage_reassessed(
        self,
        child_id: UUID,
        review_id: UUID,
        stage: int,
        stage_label: str,
        assessed_on: date,
        rationale: str | None,
        meta: Meta,
    ) -> None:
        self._assessed(StageAssessment(stage, assessed_on, "review", review_id, rationale))

    def set_cadence(self, weeks: int, meta: Meta) -> None:
        """Set how many weeks apart this child's reviews fall due."""
        check_cadence(weeks)
        self._cadence_set(child_id=self.child_id, weeks=weeks, meta=meta)

    class CadenceSet(EcmAggregate.Event):
        child_id: UUID
        weeks: int
        meta: Meta

    @event(CadenceSet)
    def _cadence_set(self, child_id: UUID, weeks: int, meta: Meta) -> None:
        self.review_weeks = weeks

    def assign_worker(self, worker_id: str, meta: Meta) -> None:
        """Name the ECM practitioner who owns this child's reviews."""
        if not worker_id.strip():
            raise Invalid("worker_id: must not be blank", field="worker_id")
        if worker_id == self.worker_id:
            raise Conflict(f"worker_id: {worker_id} already owns this case", field="worker_id")
        self._worker_assigned(child_id=self.child_id, worker_id=worker_id, meta=meta)

    class WorkerAssigned(EcmAggregate.Event):
        child_id: UUID
        worker_id: NotPersonal
        meta: Meta

    @event(WorkerAssigned)
    def _worker_assigned(self, child_id: UUID, worker_id: str, meta: Meta) -> None:
        self.worker_id = worker_id

    # ------------------------------------------------- transitions and closure

    def record_transition(
        self,
        transition_id: UUID,
        kind: TransitionKind,
        occurred_on: date,
        receiving_organisation: str | None,
        meta: Meta,
    ) -> None:
        """Record a transition in the child's life, and where they go."""
        self.check_open()
        kind = TransitionKind(kind)
        if any(t.transition_id == transition_id for t in self.transitions):
            raise Conflict(
                f"transition_id: {transition_id} is already recorded", field="transition_id"
            )
        organisation = (receiving_organisation or "").strip() or None
        if organisation is None and kind not in RECEIVING_ORGANISATION_OPTIONAL:
            raise Invalid(
                f"receiving_organisation: a {kind.value.replace('_', ' ')} needs the "
                "receiving organisation",
                field="receiving_organisation",
            )
        self._transition_recorded(
            child_id=self.child_id,
            transition_id=transition_id,
            kind=kind.value,
            occurred_on=occurred_on,
            receiving_organisation=organisation,
            meta=meta,
        )

    class TransitionRecorded(EcmAggregate.Event):
        child_id: UUID
        transition_id: UUID
        kind: NotPersonal
        occurred_on: date
        receiving_organisation: Personal[str | None]
        meta: Meta

    @event(TransitionRecorded)
    def _transition_recorded(
        self,
        child_id: UUID,
        transition_id: UUID,
        kind: str,
        occurred_on: date,
        receiving_organisation: str | None,
        meta: Meta,
    ) -> None:
        self.transitions.append(
            Transition(transition_id, TransitionKind(kind), occurred_on, receiving_organisation)
        )

    def close(self, closed_on: date, safety_net_until: date | None, meta: Meta) -> None:
        """Close the case with a reason; safety-net contact may continue until a date."""
        self.check_open()
        needs_reason(meta, "closing a case")
        if safety_net_until is not None and safety_net_until < closed_on:
            raise Invalid(
                "safety_net_until: must not be before closed_on", field="safety_net_until"
            )
        if self.reopened_on is not None and closed_on < self.reopened_on:
            raise Invalid("closed_on: must not be before the case was reopened", field="closed_on")
        self._case_closed(
            child_id=self.child_id,
            closed_on=closed_on,
            safety_net_until=safety_net_until,
            meta=meta,
        )

    class CaseClosed(EcmAggregate.Event):
        child_id: UUID
        closed_on: date
        safety_net_until: date | None
        meta: Meta

    @event(CaseClosed)
    def _case_closed(
        self, child_id: UUID, closed_on: date, safety_net_until: date | None, meta: Meta
    ) -> None:
        self.status = CaseStatus.CLOSED
        self.closed_on = closed_on
        self.safety_net_until = safety_net_until

    def reopen(self, reopened_on: date, meta: Meta) -> None:
        """Reopen a closed case with a reason."""
        if self.status != CaseStatus.CLOSED:
            raise Conflict("status: the case is not closed", field="status")
        needs_reason(meta, "reopening a case")
        if self.closed_on is not None and reopened_on < self.closed_on:
            raise Invalid("reopened_on: must not be before closed_on", field="reopened_on")
        self._case_reopened(child_id=self.child_id, reopened_on=reopened_on, meta=meta)

    class CaseReopened(EcmAggregate.Event):
        child_id: UUID
        reopened_on: date
        meta: Meta

    @event(CaseReopened)
    def _case_reopened(self, child_id: UUID, reopened_on: date, meta: Meta) -> None:
        self.status = CaseStatus.OPEN
        self.reopened_on = reopened_on
        self.safety_net_until = None


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.reviews.domain", ReviewCase)
