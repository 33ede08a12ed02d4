"""A child's review record: the case, its schedule and its interventions, each an aggregate
of its own, and the commands that change more than one of them in one unit of work.

Pure (no I/O): the application loads the parts once each, calls one command, saves what
changed. A part read from the case's events (a case from before the split, that part not
changed since) starts its own stream, with a snapshot of them, when it first changes.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from services.reviews.domain import ReviewCase
from services.reviews.interventions import ChildInterventions
from services.reviews.schedule import ReviewSchedule
from services.reviews.values import (
    Action,
    CaseStatus,
    Intervention,
    InterventionStatus,
    ProgressRecord,
    Review,
    StageAssessment,
    Transition,
    TransitionKind,
)
from shared.domain import Area, Conflict, EcmAggregate, Meta
from shared.meetings import AttendanceRecord, Invitee

STARTED_FROM_CASE = "started from what the review case recorded before the split"


class ChildReviews:
    """The three aggregates of a child's reviews, as loaded (or read from the case's events:
    `saved_schedule` / `saved_interventions` False)."""

    def __init__(
        self,
        case: ReviewCase,
        schedule: ReviewSchedule,
        interventions: ChildInterventions,
        *,
        saved_schedule: bool = True,
        saved_interventions: bool = True,
    ) -> None:
        self.case = case
        self.schedule = schedule
        self.interventions_record = interventions
        self.saved_schedule = saved_schedule
        self.saved_interventions = saved_interventions

    @classmethod
    def open(
        cls,
        child_id: UUID,
        area: Area,
        referral_id: UUID | None,
        formulation_case_id: UUID | None,
        meta: Meta,
    ) -> ChildReviews:
        """Open a child's review case, with an empty schedule and record of interventions."""
        case = ReviewCase(
            child_id=child_id,
            area=Area(area),
            referral_id=referral_id,
            formulation_case_id=formulation_case_id,
            meta=meta,
        )
        return cls(
            case,
            ReviewSchedule.start(child_id, area, [], None, meta),
            ChildInterventions.start(child_id, area, [], meta),
        )

    # ---------------------------------------------------------------- the parts

    def changed(self) -> list[EcmAggregate]:
        """The parts with events to save."""
        parts: list[EcmAggregate] = [self.case, self.schedule, self.interventions_record]
        return [part for part in parts if part.pending_events]

    @property
    def version(self) -> int:
        """The record's version: the events of its saved parts (grows with every change)."""
        return (
            self.case.version
            + (self.schedule.version if self.saved_schedule else 0)
            + (self.interventions_record.version if self.saved_interventions else 0)
        )

    def check_version(self, expected: int | None) -> None:
        """Refuse a command made against a stale version of the record."""
        if expected is not None and expected != self.version:
            raise Conflict(
                f"expected_version: record is at version {self.version}, not {expected}",
                field="expected_version",
            )

    def _changing_schedule(self, meta: Meta) -> ReviewSchedule:
        if not self.saved_schedule:
            view = self.schedule
            self.schedule = ReviewSchedule.start(
                view.child_id,
                view.area,
                view.reviews.values(),
                view.current_review_id,
                meta.with_reason(STARTED_FROM_CASE),
            )
            self.saved_schedule = True
        return self.schedule

    def _changing_interventions(self, meta: Meta) -> ChildInterventions:
        if not self.saved_interventions:
            view = self.interventions_record
            self.interventions_record = ChildInterventions.start(
                view.child_id,
                view.area,
                view.interventions.values(),
                meta.with_reason(STARTED_FROM_CASE),
            )
            self.saved_interventions = True
        return self.interventions_record

    # ------------------------------------------------------------------ queries

    @property
    def id(self) -> UUID:
        """The case's id."""
        return self.case.id

    @property
    def child_id(self) -> UUID:
        """The child's id."""
        return self.case.child_id

    @property
    def area(self) -> Area:
        """The child's YJS area."""
        return self.case.area

    @property
    def status(self) -> CaseStatus:
        """Open or closed."""
        return self.case.status

    @property
    def stage(self) -> int | None:
        """The child's current TRM stage."""
        return self.case.stage

    @property
    def stage_history(self) -> list[StageAssessment]:
        """Every assessment of the stage the reviews know of."""
        return self.case.stage_history

    @property
    def transitions(self) -> list[Transition]:
        """Transitions recorded."""
        return self.case.transitions

    @property
    def reviews(self) -> dict[UUID, Review]:
        """The child's reviews by id."""
        return self.schedule.reviews

    @property
    def current_review_id(self) -> UUID | None:
        """The review due or scheduled now."""
        return self.schedule.current_review_id

    @property
    def current_review(self) -> Review | None:
        """The review due or scheduled now."""
        return self.schedule.current_review

    @property
    def interventions(self) -> dict[UUID, Intervention]:
        """The child's interventions by id."""
        return self.interventions_record.interventions

    @property
    def active_interventions(self) -> dict[UUID, Intervention]:
        """Interventions planned or started."""
        return self.interventions_record.active

    def review(self, review_id: UUID) -> Review:
        """One of the child's reviews, or NotFound."""
        return self.schedule.review(review_id)

    def is_overdue(self, today: date) -> bool:
        """True when the current review of an open case was not held by its due date."""
        return self.schedule.is_overdue(today, self.case.is_open)

    def in_safety_net(self, today: date) -> bool:
        """True while a closed case's safety-net contact continues."""
        return self.case.in_safety_net(today)

    # ---------------------------------------------------------------- commands

    def move_area(self, area: Area, meta: Meta) -> bool:
        """Follow the child to another area (a part read from the case follows it anyway)."""
        moved = self.case.move_area(area, meta)
        if self.saved_schedule:
            moved = self.schedule.move_area(area, meta) or moved
        if self.saved_interventions:
            moved = self.interventions_record.move_area(area, meta) or moved
        return moved

    def note_report(
        self,
        formulation_case_id: UUID,
        report_version: int,
        stage: int,
        issued_on: date,
        default_weeks: int,
        meta: Meta,
    ) -> bool:
        """Learn of an issued formulation report; the first one makes the first review due."""
        if not self.case.note_report(formulation_case_id, report_version, stage, issued_on, meta):
            return False
        if not self.schedule.reviews and self.case.is_open:
            self._changing_schedule(meta).make_due(issued_on, self.case.weeks(default_weeks), meta)
        return True

    def note_intervention_planned(
        self,
        intervention_id: UUID,
        intervention_type: str,
        stage: int,
        owning_agency: str,
        planned_start: date | None,
        meta: Meta,
    ) -> bool:
        """Learn of an intervention planned for the child."""
        if intervention_id in self.interventions:
            return False
        return self._changing_interventions(meta).note_planned(
            intervention_id, intervention_type, stage, owning_agency, planned_start, meta
        )

    def note_intervention_status(
        self, intervention_id: UUID, status: InterventionStatus, on: date, meta: Meta
    ) -> bool:
        """Learn that an intervention started, completed or stopped."""
        if not self.interventions_record.changes_status(intervention_id, status):
            return False
        return self._changing_interventions(meta).note_status(intervention_id, status, on, meta)

    def set_cadence(self, weeks: int, default_weeks: int, meta: Meta) -> None:
        """Set the child's cadence; a due date derived from it moves."""
        self.case.set_cadence(weeks, meta)
        review = self.schedule.current_review
        if review is not None and review.follows_cadence:
            self._changing_schedule(meta).follow_cadence(self.case.weeks(default_weeks), meta)

    def schedule_review(
        self,
        review_id: UUID,
        starts_at: datetime,
        venue: str | None,
        online_link: str | None,
        invitees: list[Invitee],
        meta: Meta,
    ) -> None:
        """Schedule the due review."""
        self._changing_schedule(meta).schedule_review(
            review_id, starts_at, venue, online_link, invitees, self.case.is_open, meta
        )

    def reschedule_review(self, review_id: UUID, starts_at: datetime, meta: Meta) -> None:
        """Move a scheduled review, with a reason."""
        self._changing_schedule(meta).reschedule_review(
            review_id, starts_at, self.case.is_open, meta
        )

    def cancel_review(self, review_id: UUID, meta: Meta) -> None:
        """Cancel a scheduled review meeting, with a reason."""
        self._changing_schedule(meta).cancel_review(review_id, self.case.is_open, meta)

    def record_held(
        self,
        review_id: UUID,
        held_on: date,
        attendance: list[AttendanceRecord],
        stage: int,
        rationale: str | None,
        progress: list[ProgressRecord],
        actions: list[Action],
        next_review_on: date | None,
        default_weeks: int,
        meta: Meta,
    ) -> None:
        """Record a review as held (the schedule), and the stage it assessed (the case)."""
        self._changing_schedule(meta).record_held(
            review_id,
            held_on,
            attendance,
            stage,
            rationale,
            progress,
            actions,
            next_review_on,
            weeks=self.case.weeks(default_weeks),
            current_stage=self.case.stage,
            interventions=self.interventions,
            case_open=self.case.is_open,
            meta=meta,
        )
        self.case.reassess_stage(review_id, stage, held_on, rationale, meta)

    def notice_overdue(self, today: date, meta: Meta) -> bool:
        """Raise ReviewOverdue once for a review not held by its due date."""
        review = self.schedule.current_review
        if (
            not self.schedule.is_overdue(today, self.case.is_open)
            or review is None
            or review.overdue_noticed_on
        ):
            return False
        return self._changing_schedule(meta).notice_overdue(today, self.case.is_open, meta)

    def close(self, closed_on: date, safety_net_until: date | None, meta: Meta) -> None:
        """Close the case; its review due or scheduled is withdrawn."""
        self.case.close(closed_on, safety_net_until, meta)
        if self.schedule.current_review_id is not None:
            self._changing_schedule(meta).withdraw_current(meta)

    def reopen(self, reopened_on: date, default_weeks: int, meta: Meta) -> None:
        """Reopen the case; a review falls due again once reports exist."""
        self.case.reopen(reopened_on, meta)
        if self.case.first_report_issued_on is not None:
            self._changing_schedule(meta).make_due(
                reopened_on, self.case.weeks(default_weeks), meta
            )

    def record_transition(
        self,
        transition_id: UUID,
        kind: TransitionKind,
        occurred_on: date,
        receiving_organisation: str | None,
        meta: Meta,
    ) -> None:
        """Record a transition in the child's life."""
        self.case.record_transition(transition_id, kind, occurred_on, receiving_organisation, meta)
