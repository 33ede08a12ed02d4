"""Reviews use cases: learn from formulation, schedule and hold reviews, overdue, closure."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from uuid import UUID, uuid4

from eventsourcing.utils import get_topic

from services.reviews.domain import ReviewCase, review_case_id
from services.reviews.supervision import SupervisionKind, SupervisionSession
from services.reviews.values import (
    Action,
    InterventionStatus,
    ProgressRecord,
    TransitionKind,
)
from shared.domain import Area, Conflict, Invalid, Meta, NotFound
from shared.meetings import AttendanceRecord, Invitee
from shared.store import Authorise, EcmApplication, load_as_of, retry_on_race

log = logging.getLogger(__name__)
CASE_OPENED: type[object] = ReviewCase.Opened
PAGE = 500
May = Authorise[ReviewCase] | None
"""Whether the caller may use the case as loaded (by its area): decided where it is loaded."""


class ReviewsApplication(EcmApplication):
    """The reviews service's event-sourced application."""

    service = "reviews"


    @property
    def default_weeks(self) -> int:
        """The review cadence for children without their own."""
        return self.settings.review_weeks_default

    # ------------------------------------------------------------------ reads

    def get_case(self, child_id: UUID, as_of: date | None = None,
                 authorise: May = None) -> ReviewCase:
        """The child's review case as it stands (or stood at the end of `as_of`), once
        `authorise` allows the caller the case as it stands now."""
        if as_of is not None:
            return load_as_of(self, ReviewCase, review_case_id(child_id),
                              "review case for child", as_of, authorise)
        return self.load(ReviewCase, review_case_id(child_id), "review case for child",
                         authorise)

    def has_case(self, child_id: UUID) -> bool:
        """True when the child has a review case."""
        try:
            self.get_case(child_id)
        except NotFound:
            return False
        return True

    def case_ids(self) -> Iterator[UUID]:
        """The ids of every review case, in the order they were opened."""
        topic = get_topic(CASE_OPENED)
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=PAGE, topics=[topic])
            for notification in page:
                yield UUID(str(notification.originator_id))
            if len(page) < PAGE:
                return
            start = page[-1].id + 1

    def get_supervision(self, session_id: UUID) -> SupervisionSession:
        """One supervision session."""
        return self.load(SupervisionSession, session_id, "supervision session")

    # ------------------------------------------------- learnt from the stream

    def open_case(self, child_id: UUID, area: Area, referral_id: UUID | None,
                  formulation_case_id: UUID | None, meta: Meta) -> bool:
        """Open the child's review case (idempotent: False when it is already open)."""
        if self.has_case(child_id):
            return False
        case = ReviewCase(child_id=child_id, area=Area(area), referral_id=referral_id,
                          formulation_case_id=formulation_case_id, meta=meta)
        self.save_all(case)
        return True

    def move_area(self, child_id: UUID, area: Area, meta: Meta) -> bool:
        """The child moved area (learnt from formulation); False when nothing changed."""
        case = self.get_case(child_id)
        if not case.move_area(area, meta):
            return False
        self.save_all(case)
        return True

    def note_report_issued(self, child_id: UUID, formulation_case_id: UUID, report_version: int,
                           stage: int, issued_on: date, meta: Meta) -> bool:
        """A formulation report was issued: the child's stage, and the first review falls due."""
        case = self.get_case(child_id)
        changed = case.note_report(formulation_case_id, report_version, stage, issued_on,
                                   self.default_weeks, meta)
        self.save_all(case)
        return changed

    def note_stage_assessed(self, child_id: UUID, stage: int, assessed_on: date, source: str,
                            meta: Meta) -> bool:
        """The formulation service assessed the child's TRM stage."""
        case = self.get_case(child_id)
        changed = case.note_stage(stage, assessed_on, source, meta)
        self.save_all(case)
        return changed

    def note_intervention_planned(self, child_id: UUID, intervention_id: UUID,
                                  intervention_type: str, stage: int, owning_agency: str,
                                  planned_start: date | None, meta: Meta) -> bool:
        """An intervention was planned for the child."""
        case = self.get_case(child_id)
        changed = case.note_intervention_planned(intervention_id, intervention_type, stage,
                                                 owning_agency, planned_start, meta)
        self.save_all(case)
        return changed

    def note_intervention_status(self, child_id: UUID, intervention_id: UUID,
                                 status: InterventionStatus, on: date, meta: Meta) -> bool:
        """An intervention started, completed or stopped."""
        case = self.get_case(child_id)
        changed = case.note_intervention_status(intervention_id, status, on, meta)
        self.save_all(case)
        return changed

    # --------------------------------------------------------------- schedule

    @retry_on_race
    def set_cadence(self, child_id: UUID, weeks: int, meta: Meta,
                    expected_version: int | None = None, authorise: May = None) -> int:
        """Set the child's review cadence in weeks."""
        case = self._case_at(child_id, expected_version, authorise)
        case.set_cadence(weeks, self.default_weeks, meta)
        self.save_all(case)
        return case.version

    @retry_on_race
    def assign_worker(self, child_id: UUID, worker_id: str, meta: Meta,
                      expected_version: int | None = None, authorise: May = None) -> int:
        """Name the ECM practitioner who owns the child's reviews."""
        case = self._case_at(child_id, expected_version, authorise)
        case.assign_worker(worker_id, meta)
        self.save_all(case)
        return case.version

    @retry_on_race
    def schedule_review(self, child_id: UUID, review_id: UUID, starts_at: datetime,
                        venue: str | None, online_link: str | None, invitees: list[Invitee],
                        meta: Meta, expected_version: int | None = None,
                        authorise: May = None) -> int:
        """Schedule the due review."""
        case = self._case_at(child_id, expected_version, authorise)
        case.schedule_review(review_id, starts_at, venue, online_link, invitees, meta)
        self.save_all(case)
        return case.version

    @retry_on_race
    def reschedule_review(self, child_id: UUID, review_id: UUID, starts_at: datetime,
                          meta: Meta, expected_version: int | None = None,
                          authorise: May = None) -> int:
        """Move a scheduled review (reason in meta)."""
        case = self._case_at(child_id, expected_version, authorise)
        case.reschedule_review(review_id, starts_at, meta)
        self.save_all(case)
        return case.version

    @retry_on_race
    def cancel_review(self, child_id: UUID, review_id: UUID, meta: Meta,
                      expected_version: int | None = None, authorise: May = None) -> int:
        """Cancel a scheduled review meeting (reason in meta); the review stays due."""
        case = self._case_at(child_id, expected_version, authorise)
        case.cancel_review(review_id, meta)
        self.save_all(case)
        return case.version

    @retry_on_race
    def record_review_held(self, child_id: UUID, review_id: UUID, *, held_on: date,
                           attendance: list[AttendanceRecord], stage: int,
                           rationale: str | None, progress: list[ProgressRecord],
                           actions: list[Action], next_review_on: date | None, meta: Meta,
                           expected_version: int | None = None, authorise: May = None) -> int:
        """Record a review as held: attendance, stage, progress, actions, next review."""
        case = self._case_at(child_id, expected_version, authorise)
        case.record_held(review_id, held_on, attendance, stage, rationale, progress, actions,
                         next_review_on, self.default_weeks, meta)
        self.save_all(case)
        return case.version

    # ------------------------------------------------------------------ tick

    def tick(self, today: date, meta: Meta) -> int:
        """Raise ReviewOverdue once for every review not held by its due date; the count."""
        raised = 0
        for case_id in list(self.case_ids()):
            case = self.load(ReviewCase, case_id, "review case")
            if not case.notice_overdue(today, meta):
                continue
            try:
                self.save_all(case)
            except Conflict:
                # Someone changed the case meanwhile; the next tick sees it again.
                log.info("tick: case %s changed concurrently; left for the next tick", case_id)
                continue
            raised += 1
        return raised

    # ----------------------------------------------------- transitions, closure

    @retry_on_race
    def record_transition(self, child_id: UUID, kind: TransitionKind, occurred_on: date,
                          receiving_organisation: str | None, meta: Meta,
                          expected_version: int | None = None,
                          authorise: May = None) -> tuple[UUID, int]:
        """Record a transition; returns its id and the case's version."""
        case = self._case_at(child_id, expected_version, authorise)
        transition_id = uuid4()
        case.record_transition(transition_id, kind, occurred_on, receiving_organisation, meta)
        self.save_all(case)
        return transition_id, case.version

    @retry_on_race
    def close_case(self, child_id: UUID, closed_on: date, safety_net_until: date | None,
                   meta: Meta, expected_version: int | None = None, authorise: May = None) -> int:
        """Close the case (reason in meta), with an optional safety-net end date."""
        case = self._case_at(child_id, expected_version, authorise)
        case.close(closed_on, safety_net_until, meta)
        self.save_all(case)
        return case.version

    @retry_on_race
    def reopen_case(self, child_id: UUID, reopened_on: date, meta: Meta,
                    expected_version: int | None = None, authorise: May = None) -> int:
        """Reopen a closed case (reason in meta)."""
        case = self._case_at(child_id, expected_version, authorise)
        case.reopen(reopened_on, self.default_weeks, meta)
        self.save_all(case)
        return case.version

    # ----------------------------------------------------------- supervision

    def log_supervision(self, *, practitioner_id: str, supervisor_id: str, held_on: date,
                        kind: SupervisionKind, children: list[UUID], themes: str,
                        meta: Meta) -> UUID:
        """Log a supervision or reflective practice session; children must be known here."""
        for n, child_id in enumerate(children):
            if not self.has_case(child_id):
                raise Invalid(f"children.{n}: {child_id} is not a child with an ECM review case",
                              field=f"children.{n}")
        session = SupervisionSession.log(practitioner_id, supervisor_id, held_on, kind,
                                         children, themes, meta)
        self.save_all(session)
        return session.id

    def _case_at(self, child_id: UUID, expected_version: int | None,
                 authorise: May) -> ReviewCase:
        case = self.get_case(child_id, authorise=authorise)
        case.check_version(expected_version)
        return case
