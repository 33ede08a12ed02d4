"""Reviews domain: each child's review schedule, reviews, transitions, closure and safety net."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from services.reviews.values import (
    ACTIVE_INTERVENTION,
    PENDING_REVIEW,
    RECEIVING_ORGANISATION_OPTIONAL,
    Action,
    CaseStatus,
    Intervention,
    InterventionStatus,
    ProgressRecord,
    Review,
    ReviewStatus,
    StageAssessment,
    Transition,
    TransitionKind,
    check_cadence,
    check_stage,
)
from shared.domain import (
    Area,
    Clear,
    Conflict,
    EcmAggregate,
    Invalid,
    Meta,
    MissingPrecondition,
    NotFound,
    NotPersonal,
    Personal,
    PersonalItems,
    register_stored_topics,
)
from shared.meetings import AttendanceRecord, Invitee, check_attendance
from shared.vocabulary import trm_label

REVIEWS_NAMESPACE = UUID("0b6f3c3e-5a7d-5b8e-9d35-2f8e7c1a4b60")


def review_case_id(child_id: UUID) -> UUID:
    """The id of a child's review case: derived from the child's id, so opening is idempotent."""
    return uuid5(REVIEWS_NAMESPACE, str(child_id))


def _needs_reason(meta: Meta, what: str) -> None:
    if not meta.reason or not meta.reason.strip():
        raise Invalid(f"reason: {what} needs a reason", field="reason")


class ReviewCase(EcmAggregate):
    """A child's reviews with ECM: one per child, its id derived from the child's id."""


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
    def __init__(self, child_id: UUID, area: Area, referral_id: UUID | None,
                 formulation_case_id: UUID | None, meta: Meta) -> None:
        self.child_id = child_id
        self.area = Area(area)
        self.referral_id = referral_id
        self.formulation_case_id = formulation_case_id
        self.status = CaseStatus.OPEN
        self.worker_id: str | None = None
        self.review_weeks: int | None = None
        self.reviews: dict[UUID, Review] = {}
        self.current_review_id: UUID | None = None
        self.stage: int | None = None
        self.stage_assessed_on: date | None = None
        self.stage_history: list[StageAssessment] = []
        self.reports: set[tuple[str, int]] = set()
        self.first_report_issued_on: date | None = None
        self.interventions: dict[UUID, Intervention] = {}
        self.transitions: list[Transition] = []
        self.closed_on: date | None = None
        self.safety_net_until: date | None = None
        self.reopened_on: date | None = None

    # ----------------------------------------------------------------- queries

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

    @property
    def current_review(self) -> Review | None:
        """The review that is due or scheduled now, if any."""
        return self.reviews.get(self.current_review_id) if self.current_review_id else None

    @property
    def active_interventions(self) -> dict[UUID, Intervention]:
        """Interventions planned or started, not completed or stopped."""
        return {k: v for k, v in self.interventions.items() if v.status in ACTIVE_INTERVENTION}

    def weeks(self, default_weeks: int) -> int:
        """The child's review cadence in weeks (the service default unless set)."""
        return self.review_weeks or default_weeks

    def is_overdue(self, today: date) -> bool:
        """True when the current review was not held by its due date."""
        review = self.current_review
        return (self.status == CaseStatus.OPEN and review is not None
                and review.status in PENDING_REVIEW and today > review.due_on)

    def in_safety_net(self, today: date) -> bool:
        """True while a closed case's safety-net contact continues."""
        return (self.status == CaseStatus.CLOSED and self.safety_net_until is not None
                and today <= self.safety_net_until)

    def review(self, review_id: UUID) -> Review:
        """One of the child's reviews, or NotFound."""
        try:
            return self.reviews[review_id]
        except KeyError:
            raise NotFound(f"review {review_id} not found", field="review_id") from None

    def _next_review_id(self) -> UUID:
        return uuid5(self.id, f"review-{len(self.reviews) + 1}")

    def _check_open(self) -> None:
        if self.status != CaseStatus.OPEN:
            raise Conflict("status: the case is closed; reopen it first", field="status")

    # ------------------------------------------------ learnt from the stream

    def note_report(self, formulation_case_id: UUID, report_version: int, stage: int,
                    issued_on: date, default_weeks: int, meta: Meta) -> bool:
        """Learn of an issued formulation report; the first one makes the first review due."""
        key = (str(formulation_case_id), report_version)
        if key in self.reports:
            return False
        check_stage(stage)
        self._report_noted(child_id=self.child_id, formulation_case_id=formulation_case_id,
                           report_version=report_version, stage=stage, issued_on=issued_on,
                           meta=meta)
        if not self.reviews and self.status == CaseStatus.OPEN:
            self._make_due(issued_on, self.weeks(default_weeks), meta)
        return True

    class ReportNoted(EcmAggregate.Event):
        child_id: UUID
        formulation_case_id: UUID
        report_version: int
        stage: int
        issued_on: date
        meta: Meta

    @event(ReportNoted)
    def _report_noted(self, child_id: UUID, formulation_case_id: UUID, report_version: int,
                      stage: int, issued_on: date, meta: Meta) -> None:
        self.reports.add((str(formulation_case_id), report_version))
        if self.first_report_issued_on is None:
            self.first_report_issued_on = issued_on
        self._assessed(StageAssessment(stage, issued_on, "formulation"))

    def note_stage(self, stage: int, assessed_on: date, source: str, meta: Meta) -> bool:
        """Learn of a TRM stage assessed in the formulation service."""
        check_stage(stage)
        self._stage_noted(child_id=self.child_id, stage=stage, assessed_on=assessed_on,
                          source=source, meta=meta)
        return True

    class StageNoted(EcmAggregate.Event):
        child_id: UUID
        stage: int
        assessed_on: date
        source: NotPersonal
        meta: Meta

    @event(StageNoted)
    def _stage_noted(self, child_id: UUID, stage: int, assessed_on: date, source: str,
                     meta: Meta) -> None:
        self._assessed(StageAssessment(stage, assessed_on, source))

    def _assessed(self, assessment: StageAssessment) -> None:
        # The latest assessment by date is current; the same date: the later one recorded.
        self.stage_history.append(assessment)
        if self.stage_assessed_on is None or assessment.assessed_on >= self.stage_assessed_on:
            self.stage = assessment.stage
            self.stage_assessed_on = assessment.assessed_on

    def note_intervention_planned(self, intervention_id: UUID, intervention_type: str,
                                  stage: int, owning_agency: str, planned_start: date | None,
                                  meta: Meta) -> bool:
        """Learn of an intervention planned for the child."""
        if intervention_id in self.interventions:
            return False
        check_stage(stage)
        self._intervention_noted(child_id=self.child_id, intervention_id=intervention_id,
                                 intervention_type=intervention_type, stage=stage,
                                 owning_agency=owning_agency, planned_start=planned_start,
                                 meta=meta)
        return True

    class InterventionNoted(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        intervention_type: NotPersonal
        stage: int
        owning_agency: NotPersonal
        planned_start: date | None
        meta: Meta

    @event(InterventionNoted)
    def _intervention_noted(self, child_id: UUID, intervention_id: UUID,
                            intervention_type: str, stage: int, owning_agency: str,
                            planned_start: date | None, meta: Meta) -> None:
        self.interventions[intervention_id] = Intervention(
            intervention_id, intervention_type, stage, owning_agency, planned_start
        )

    def note_intervention_status(self, intervention_id: UUID, status: InterventionStatus,
                                 on: date, meta: Meta) -> bool:
        """Learn that an intervention started, completed or stopped."""
        intervention = self.interventions.get(intervention_id)
        if intervention is None:
            # Not planned here yet (out of order): the consumer retries later.
            raise MissingPrecondition(f"intervention_id: {intervention_id} is not known yet",
                                      field="intervention_id")
        if intervention.status == status or intervention.status not in ACTIVE_INTERVENTION:
            return False
        self._intervention_status_noted(child_id=self.child_id, intervention_id=intervention_id,
                                        status=InterventionStatus(status), on=on,
                                        meta=meta)
        return True

    class InterventionStatusNoted(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        status: NotPersonal
        on: date
        meta: Meta

    @event(InterventionStatusNoted)
    def _intervention_status_noted(self, child_id: UUID, intervention_id: UUID, status: str,
                                   on: date, meta: Meta) -> None:
        intervention = self.interventions[intervention_id]
        intervention.status = InterventionStatus(status)
        intervention.status_on = on

    # ----------------------------------------------------------- the schedule

    def set_cadence(self, weeks: int, default_weeks: int, meta: Meta) -> None:
        """Set how many weeks apart this child's reviews fall due; a derived due date moves."""
        check_cadence(weeks)
        self._cadence_set(child_id=self.child_id, weeks=weeks, meta=meta)
        review = self.current_review
        if (review is not None and review.status in PENDING_REVIEW
                and not review.due_set_explicitly and review.overdue_noticed_on is None):
            due_on = review.counted_from + timedelta(weeks=self.weeks(default_weeks))
            if due_on != review.due_on:
                self._review_due(child_id=self.child_id, review_id=review.review_id,
                                 due_on=due_on, counted_from=review.counted_from,
                                 explicit=False, meta=meta)

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

    def _make_due(self, counted_from: date, weeks: int, meta: Meta) -> None:
        self._review_due(child_id=self.child_id, review_id=self._next_review_id(),
                         due_on=counted_from + timedelta(weeks=weeks),
                         counted_from=counted_from, explicit=False, meta=meta)

    class ReviewDue(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        due_on: date
        counted_from: date
        explicit: bool
        meta: Meta

    @event(ReviewDue)
    def _review_due(self, child_id: UUID, review_id: UUID, due_on: date, counted_from: date,
                    explicit: bool, meta: Meta) -> None:
        existing = self.reviews.get(review_id)
        if existing is not None:  # the cadence changed: the same review, a new due date
            existing.due_on = due_on
            return
        self.reviews[review_id] = Review(review_id, len(self.reviews) + 1, due_on,
                                         counted_from, explicit)
        self.current_review_id = review_id

    def _pending(self, review_id: UUID) -> Review:
        self._check_open()
        review = self.review(review_id)
        if review.status == ReviewStatus.HELD:
            raise Conflict(f"review_id: review {review_id} was already held on "
                           f"{review.held_on}", field="review_id")
        if review.status == ReviewStatus.WITHDRAWN:
            raise Conflict(f"review_id: review {review_id} was withdrawn when the case closed",
                           field="review_id")
        return review

    def schedule_review(self, review_id: UUID, starts_at: datetime, venue: str | None,
                        online_link: str | None, invitees: list[Invitee], meta: Meta) -> None:
        """Schedule the due review: when, where (venue and/or online link), who is invited."""
        review = self._pending(review_id)
        if review.status == ReviewStatus.SCHEDULED:
            raise Conflict(f"review_id: review {review_id} is already scheduled; reschedule it "
                           "instead", field="review_id")
        if starts_at.tzinfo is None:
            raise Invalid("starts_at: must include a time zone", field="starts_at")
        if not (venue or "").strip() and not (online_link or "").strip():
            raise Invalid("venue: a review needs a venue or an online link", field="venue")
        if not invitees:
            raise Invalid("invitees: invite at least one agency", field="invitees")
        if len(set(invitees)) != len(invitees):
            raise Invalid("invitees: the same agency and contact are invited twice",
                          field="invitees")
        self._review_scheduled(child_id=self.child_id, review_id=review_id, starts_at=starts_at,
                               due_on=review.due_on, venue=venue or None,
                               online_link=online_link or None,
                               invitees=[i.as_dict() for i in invitees], meta=meta)

    class ReviewScheduled(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        starts_at: datetime
        due_on: date
        venue: Personal[str | None]
        online_link: Personal[str | None]
        invitees: Clear[list[dict[str, Any]]]
        meta: Meta

    @event(ReviewScheduled)
    def _review_scheduled(self, child_id: UUID, review_id: UUID, starts_at: datetime,
                          due_on: date, venue: str | None, online_link: str | None,
                          invitees: list[dict[str, Any]], meta: Meta) -> None:
        review = self.reviews[review_id]
        review.status = ReviewStatus.SCHEDULED
        review.starts_at = starts_at
        review.venue = venue
        review.online_link = online_link
        review.invitees = [Invitee.from_dict(i) for i in invitees]
        review.scheduled_by = meta.actor_id

    def reschedule_review(self, review_id: UUID, starts_at: datetime, meta: Meta) -> None:
        """Move a scheduled review to another time, with a reason."""
        review = self._scheduled(review_id, "reschedule")
        _needs_reason(meta, "rescheduling a review")
        if starts_at.tzinfo is None:
            raise Invalid("starts_at: must include a time zone", field="starts_at")
        if starts_at == review.starts_at:
            raise Invalid("starts_at: the review is already at that time", field="starts_at")
        self._review_rescheduled(child_id=self.child_id, review_id=review_id,
                                 starts_at=starts_at, previous_starts_at=review.starts_at,
                                 meta=meta)

    class ReviewRescheduled(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        starts_at: datetime
        previous_starts_at: datetime | None
        meta: Meta

    @event(ReviewRescheduled)
    def _review_rescheduled(self, child_id: UUID, review_id: UUID, starts_at: datetime,
                            previous_starts_at: datetime | None, meta: Meta) -> None:
        review = self.reviews[review_id]
        review.starts_at = starts_at
        review.reschedules += 1

    def cancel_review(self, review_id: UUID, meta: Meta) -> None:
        """Cancel a scheduled review meeting, with a reason; the review stays due."""
        self._scheduled(review_id, "cancel")
        _needs_reason(meta, "cancelling a review")
        self._review_cancelled(child_id=self.child_id, review_id=review_id, meta=meta)

    class ReviewCancelled(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        meta: Meta

    @event(ReviewCancelled)
    def _review_cancelled(self, child_id: UUID, review_id: UUID, meta: Meta) -> None:
        review = self.reviews[review_id]
        review.status = ReviewStatus.DUE
        review.starts_at = None
        review.venue = None
        review.online_link = None
        review.invitees = []
        review.scheduled_by = None
        review.cancellations += 1

    def _scheduled(self, review_id: UUID, action: str) -> Review:
        review = self._pending(review_id)
        if review.status != ReviewStatus.SCHEDULED:
            raise Conflict(f"review_id: cannot {action} review {review_id}: it is not scheduled",
                           field="review_id")
        return review

    # ------------------------------------------------------ holding a review

    def record_held(self, review_id: UUID, held_on: date, attendance: list[AttendanceRecord],
                    stage: int, rationale: str | None, progress: list[ProgressRecord],
                    actions: list[Action], next_review_on: date | None, default_weeks: int,
                    meta: Meta) -> None:
        """Record a scheduled review as held; the next review falls due."""
        review = self._pending(review_id)
        if review.status != ReviewStatus.SCHEDULED or review.starts_at is None:
            raise Conflict(f"review_id: review {review_id} was never scheduled; schedule it "
                           "before recording it as held", field="review_id")
        if held_on < review.starts_at.date():
            raise Conflict(f"held_on: the review is scheduled for {review.starts_at.date()}; "
                           "a review cannot be held before it was scheduled (reschedule it "
                           "first)", field="held_on")
        check_attendance(review.invitees, attendance)
        check_stage(stage)
        if self.stage is not None and stage != self.stage and not (rationale or "").strip():
            raise Invalid(f"rationale: moving the child from stage {self.stage} to {stage} "
                          "needs a rationale", field="rationale")
        self._check_progress(progress)
        for n, action in enumerate(actions):
            if action.due_on < held_on:
                raise Invalid(f"actions.{n}.due_on: must not be before held_on",
                              field=f"actions.{n}.due_on")
            if not (action.text or "").strip():
                raise Invalid(f"actions.{n}.text: must not be blank", field=f"actions.{n}.text")
        if next_review_on is not None and next_review_on < held_on:
            raise Invalid("next_review_on: must not be before held_on", field="next_review_on")
        next_on = next_review_on or held_on + timedelta(weeks=self.weeks(default_weeks))
        self._review_held(
            child_id=self.child_id, review_id=review_id, held_on=held_on,
            attendance=[a.as_dict() for a in attendance], stage=stage,
            stage_label=trm_label(stage), previous_stage=self.stage,
            progress=[p.as_event() for p in progress], actions=[a.as_event() for a in actions],
            next_review_on=next_on, meta=meta,
        )
        self._stage_reassessed(child_id=self.child_id, review_id=review_id, stage=stage,
                               stage_label=trm_label(stage), assessed_on=held_on,
                               rationale=rationale or None, meta=meta)
        self._review_due(child_id=self.child_id, review_id=self._next_review_id(),
                         due_on=next_on, counted_from=held_on,
                         explicit=next_review_on is not None, meta=meta)

    def _check_progress(self, progress: list[ProgressRecord]) -> None:
        active = self.active_interventions
        seen: set[UUID] = set()
        for n, record in enumerate(progress):
            name = f"progress.{n}.intervention_id"
            if record.intervention_id in seen:
                raise Invalid(f"{name}: progress on {record.intervention_id} is recorded twice",
                              field=name)
            seen.add(record.intervention_id)
            if record.intervention_id not in active:
                known = record.intervention_id in self.interventions
                rule = ("is completed or stopped" if known
                        else "is not an intervention of this child")
                raise Invalid(f"{name}: {record.intervention_id} {rule}", field=name)
        missing = sorted(str(i) for i in active if i not in seen)
        if missing:
            raise Invalid(f"progress: no progress recorded for active intervention(s) "
                          f"{', '.join(missing)}", field="progress")

    class ReviewHeld(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        held_on: date
        attendance: Clear[list[dict[str, Any]]]
        stage: int
        stage_label: NotPersonal
        previous_stage: int | None
        progress: Annotated[list[dict[str, Any]], PersonalItems("note")]
        actions: Annotated[list[dict[str, Any]], PersonalItems("text")]
        next_review_on: date | None
        meta: Meta

    @event(ReviewHeld)
    def _review_held(self, child_id: UUID, review_id: UUID, held_on: date,
                     attendance: list[dict[str, Any]], stage: int, stage_label: str,
                     previous_stage: int | None, progress: list[dict[str, Any]],
                     actions: list[dict[str, Any]], next_review_on: date | None,
                     meta: Meta) -> None:
        review = self.reviews[review_id]
        review.status = ReviewStatus.HELD
        review.held_on = held_on
        review.attendance = [AttendanceRecord.from_dict(a) for a in attendance]
        review.stage = stage
        review.previous_stage = previous_stage
        review.progress = [ProgressRecord.from_event(p) for p in progress]
        review.actions = [Action.from_event(a) for a in actions]
        review.next_review_on = next_review_on
        self.current_review_id = None

    class StageReassessed(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        stage: int
        stage_label: NotPersonal
        assessed_on: date
        rationale: Personal[str | None]
        meta: Meta

    @event(StageReassessed)
    def _stage_reassessed(self, child_id: UUID, review_id: UUID, stage: int, stage_label: str,
                          assessed_on: date, rationale: str | None, meta: Meta) -> None:
        self.reviews[review_id].rationale = rationale
        self._assessed(StageAssessment(stage, assessed_on, "review", review_id))

    # ----------------------------------------------------------------- overdue

    def notice_overdue(self, today: date, meta: Meta) -> bool:
        """Raise ReviewOverdue once for a review not held by its due date (`today` passed in)."""
        review = self.current_review
        if not self.is_overdue(today) or review is None or review.overdue_noticed_on:
            return False
        self._review_overdue(child_id=self.child_id, review_id=review.review_id,
                             due_on=review.due_on, noticed_on=today, meta=meta)
        return True

    class ReviewOverdue(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        due_on: date
        noticed_on: date
        meta: Meta

    @event(ReviewOverdue)
    def _review_overdue(self, child_id: UUID, review_id: UUID, due_on: date, noticed_on: date,
                        meta: Meta) -> None:
        self.reviews[review_id].overdue_noticed_on = noticed_on

    # ------------------------------------------------- transitions and closure

    def record_transition(self, transition_id: UUID, kind: TransitionKind, occurred_on: date,
                          receiving_organisation: str | None, meta: Meta) -> None:
        """Record a transition in the child's life, and where they go."""
        self._check_open()
        kind = TransitionKind(kind)
        if any(t.transition_id == transition_id for t in self.transitions):
            raise Conflict(f"transition_id: {transition_id} is already recorded",
                           field="transition_id")
        organisation = (receiving_organisation or "").strip() or None
        if organisation is None and kind not in RECEIVING_ORGANISATION_OPTIONAL:
            raise Invalid(f"receiving_organisation: a {kind.value.replace('_', ' ')} needs the "
                          "receiving organisation", field="receiving_organisation")
        self._transition_recorded(child_id=self.child_id, transition_id=transition_id,
                                  kind=kind.value, occurred_on=occurred_on,
                                  receiving_organisation=organisation, meta=meta)

    class TransitionRecorded(EcmAggregate.Event):
        child_id: UUID
        transition_id: UUID
        kind: NotPersonal
        occurred_on: date
        receiving_organisation: Personal[str | None]
        meta: Meta

    @event(TransitionRecorded)
    def _transition_recorded(self, child_id: UUID, transition_id: UUID, kind: str,
                             occurred_on: date, receiving_organisation: str | None,
                             meta: Meta) -> None:
        self.transitions.append(Transition(transition_id, TransitionKind(kind), occurred_on,
                                           receiving_organisation))

    def close(self, closed_on: date, safety_net_until: date | None, meta: Meta) -> None:
        """Close the case with a reason; safety-net contact may continue until a date."""
        self._check_open()
        _needs_reason(meta, "closing a case")
        if safety_net_until is not None and safety_net_until < closed_on:
            raise Invalid("safety_net_until: must not be before closed_on",
                          field="safety_net_until")
        if self.reopened_on is not None and closed_on < self.reopened_on:
            raise Invalid("closed_on: must not be before the case was reopened",
                          field="closed_on")
        self._case_closed(child_id=self.child_id, closed_on=closed_on,
                          safety_net_until=safety_net_until, meta=meta)

    class CaseClosed(EcmAggregate.Event):
        child_id: UUID
        closed_on: date
        safety_net_until: date | None
        meta: Meta

    @event(CaseClosed)
    def _case_closed(self, child_id: UUID, closed_on: date, safety_net_until: date | None,
                     meta: Meta) -> None:
        self.status = CaseStatus.CLOSED
        self.closed_on = closed_on
        self.safety_net_until = safety_net_until
        review = self.current_review
        if review is not None:
            review.status = ReviewStatus.WITHDRAWN
        self.current_review_id = None

    def reopen(self, reopened_on: date, default_weeks: int, meta: Meta) -> None:
        """Reopen a closed case with a reason; a review falls due again once reports exist."""
        if self.status != CaseStatus.CLOSED:
            raise Conflict("status: the case is not closed", field="status")
        _needs_reason(meta, "reopening a case")
        if self.closed_on is not None and reopened_on < self.closed_on:
            raise Invalid("reopened_on: must not be before closed_on", field="reopened_on")
        self._case_reopened(child_id=self.child_id, reopened_on=reopened_on, meta=meta)
        if self.first_report_issued_on is not None:
            self._make_due(reopened_on, self.weeks(default_weeks), meta)

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
