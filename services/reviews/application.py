"""Reviews use cases: learn from formulation, schedule and hold reviews, overdue, closure.

Each use case loads the parts of the child's review record it needs once each (the case, the
schedule, the interventions: `ChildReviews`), authorised where the case is loaded, makes one
call and saves what changed in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.utils import get_topic

from services.reviews.domain import ReviewCase, review_case_id
from services.reviews.interventions import (
    ChildInterventions,
    interventions_from,
    interventions_id_for,
)
from services.reviews.record import ChildReviews
from services.reviews.schedule import ReviewSchedule, schedule_from, schedule_id_for
from services.reviews.supervision import SupervisionKind, SupervisionSession
from services.reviews.values import (
    Action,
    InterventionStatus,
    ProgressRecord,
    TransitionKind,
)
from shared.domain import Area, Conflict, Invalid, Meta, NotFound
from shared.fields import checked_day
from shared.meetings import AttendanceRecord, Invitee
from shared.store import Authorise, EcmApplication, end_of_day, load_as_of, retry_on_race

log = logging.getLogger(__name__)
CASE_OPENED: type[object] = ReviewCase.Opened
PAGE = 500
May = Authorise[ReviewCase] | None
"""Whether the caller may use the case as loaded (by its area): decided where it is loaded."""
T = TypeVar("T")
Part = TypeVar("Part", ReviewSchedule, ChildInterventions)


class ReviewsApplication(EcmApplication):
    """The reviews service's event-sourced application."""

    service = "reviews"

    @property
    def default_weeks(self) -> int:
        """The review cadence for children without their own."""
        return self.settings.review_weeks_default

    # ------------------------------------------------------------------ reads

    def get_case(
        self, child_id: UUID, as_of: date | None = None, authorise: May = None
    ) -> ReviewCase:
        """The child's review case as it stands (or stood at the end of `as_of`), once
        `authorise` allows the caller the case as it stands now."""
        if as_of is not None:
            return load_as_of(
                self,
                ReviewCase,
                review_case_id(child_id),
                "review case for child",
                as_of,
                authorise,
            )
        return self.load(ReviewCase, review_case_id(child_id), "review case for child", authorise)

    def get_record(
        self, child_id: UUID, as_of: date | None = None, authorise: May = None
    ) -> ChildReviews:
        """The child's review record (case, schedule, interventions), now or as it stood at
        the end of `as_of`, once `authorise` allows the caller the case as it stands now."""
        if as_of is None:
            return self._load_record(child_id, authorise)
        case = self.get_case(child_id, as_of, authorise)
        schedule, saved_schedule = self._part_as_of(
            ReviewSchedule, schedule_id_for(child_id), schedule_from, case, as_of
        )
        interventions, saved_interventions = self._part_as_of(
            ChildInterventions, interventions_id_for(child_id), interventions_from, case, as_of
        )
        return ChildReviews(
            case,
            schedule,
            interventions,
            saved_schedule=saved_schedule,
            saved_interventions=saved_interventions,
        )

    def _load_record(
        self, child_id: UUID, authorise: May, case: ReviewCase | None = None
    ) -> ChildReviews:
        case = case or self.get_case(child_id, authorise=authorise)
        schedule = self._saved(ReviewSchedule, schedule_id_for(child_id))
        interventions = self._saved(ChildInterventions, interventions_id_for(child_id))
        case_events: list[Any] = []
        if schedule is None or interventions is None:  # a case from before the split
            case_events = list(self.events.get(case.id))
        return ChildReviews(
            case,
            schedule or schedule_from(child_id, case.area, case_events),
            interventions or interventions_from(child_id, case.area, case_events),
            saved_schedule=schedule is not None,
            saved_interventions=interventions is not None,
        )

    def _saved(self, cls: type[Part], aggregate_id: UUID) -> Part | None:
        """The part if it was ever saved, else None."""
        try:
            return self.load(cls, aggregate_id, cls.__name__)
        except NotFound:
            return None

    def _part_as_of(
        self,
        cls: type[Part],
        part_id: UUID,
        from_case: Callable[[UUID, Area, Iterable[Any]], Part],
        case: ReviewCase,
        as_of: date,
    ) -> tuple[Part, bool]:
        """A part as it stood at the end of `as_of`: from its own stream once it started,
        before that read from the case's events up to that day."""
        try:
            return load_as_of(self, cls, part_id, cls.__name__, as_of), True
        except NotFound:
            pass  # never started, or started after that day
        cutoff = end_of_day(checked_day("as_of", as_of))
        case_events: list[Any] = list(self.events.get(case.id))
        events = [e for e in case_events if e.timestamp <= cutoff]
        return from_case(case.child_id, case.area, events), False

    def has_case(self, child_id: UUID) -> bool:
        """True when the child has a review case."""
        return review_case_id(child_id) in self.repository

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

    # ------------------------------------------------------------- changing

    def _change(
        self,
        child_id: UUID,
        expected_version: int | None,
        change: Callable[[ChildReviews], T],
        authorise: May = None,
        case: ReviewCase | None = None,
    ) -> tuple[T, int]:
        """Load the record once, check its version, change it, save what changed."""
        record = self._load_record(child_id, authorise, case)
        record.check_version(expected_version)
        result = change(record)
        changed = record.changed()
        if changed:
            self.save_all(*changed)
        return result, record.version

    # ------------------------------------------------- learnt from the stream

    def open_case(
        self,
        child_id: UUID,
        area: Area,
        referral_id: UUID | None,
        formulation_case_id: UUID | None,
        meta: Meta,
    ) -> bool:
        """Open the child's review case (idempotent: False when it is already open)."""
        if self.has_case(child_id):
            return False
        record = ChildReviews.open(child_id, Area(area), referral_id, formulation_case_id, meta)
        self.save_all(*record.changed())
        return True

    def move_area(self, child_id: UUID, area: Area, meta: Meta) -> bool:
        """The child moved area (learnt from formulation); False when nothing changed."""
        return self._change(child_id, None, lambda r: r.move_area(area, meta))[0]

    def note_report_issued(
        self,
        child_id: UUID,
        formulation_case_id: UUID,
        report_version: int,
        stage: int,
        issued_on: date,
        meta: Meta,
    ) -> bool:
        """A formulation report was issued: the child's stage, and the first review falls due."""
        return self._change(
            child_id,
            None,
            lambda r: r.note_report(
                formulation_case_id, report_version, stage, issued_on, self.default_weeks, meta
            ),
        )[0]

    def note_stage_assessed(
        self, child_id: UUID, stage: int, assessed_on: date, source: str, meta: Meta
    ) -> bool:
        """The formulation service assessed the child's TRM stage (the case alone)."""
        case = self.get_case(child_id)
        changed = case.note_stage(stage, assessed_on, source, meta)
        self.save_all(case)
        return changed

    def note_intervention_planned(
        self,
        child_id: UUID,
        intervention_id: UUID,
        intervention_type: str,
        stage: int,
        owning_agency: str,
        planned_start: date | None,
        meta: Meta,
    ) -> bool:
        """An intervention was planned for the child."""
        return self._change(
            child_id,
            None,
            lambda r: r.note_intervention_planned(
                intervention_id, intervention_type, stage, owning_agency, planned_start, meta
            ),
        )[0]

    def note_intervention_status(
        self,
        child_id: UUID,
        intervention_id: UUID,
        status: InterventionStatus,
        on: date,
        meta: Meta,
    ) -> bool:
        """An intervention started, completed or stopped."""
        return self._change(
            child_id, None, lambda r: r.note_intervention_status(intervention_id, status, on, meta)
        )[0]

    # --------------------------------------------------------------- schedule

    @retry_on_race
    def set_cadence(
        self,
        child_id: UUID,
        weeks: int,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Set the child's review cadence in weeks."""
        return self._change(
            child_id,
            expected_version,
            lambda r: r.set_cadence(weeks, self.default_weeks, meta),
            authorise,
        )[1]

    @retry_on_race
    def assign_worker(
        self,
        child_id: UUID,
        worker_id: str,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Name the ECM practitioner who owns the child's reviews."""
        return self._change(
            child_id, expected_version, lambda r: r.case.assign_worker(worker_id, meta), authorise
        )[1]

    @retry_on_race
    def schedule_review(
        self,
        child_id: UUID,
        review_id: UUID,
        starts_at: datetime,
        venue: str | None,
        online_link: str | None,
        invitees: list[Invitee],
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Schedule the due review."""
        return self._change(
            child_id,
            expected_version,
            lambda r: r.schedule_review(review_id, starts_at, venue, online_link, invitees, meta),
            authorise,
        )[1]

    @retry_on_race
    def reschedule_review(
        self,
        child_id: UUID,
        review_id: UUID,
        starts_at: datetime,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Move a scheduled review (reason in meta)."""
        return self._change(
            child_id,
            expected_version,
            lambda r: r.reschedule_review(review_id, starts_at, meta),
            authorise,
        )[1]

    @retry_on_race
    def cancel_review(
        self,
        child_id: UUID,
        review_id: UUID,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Cancel a scheduled review meeting (reason in meta); the review stays due."""
        return self._change(
            child_id, expected_version, lambda r: r.cancel_review(review_id, meta), authorise
        )[1]

    @retry_on_race
    def record_review_held(
        self,
        child_id: UUID,
        review_id: UUID,
        *,
        held_on: date,
        attendance: list[AttendanceRecord],
        stage: int,
        rationale: str | None,
        progress: list[ProgressRecord],
        actions: list[Action],
        next_review_on: date | None,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Record a review as held: attendance, stage, progress, actions, next review."""
        return self._change(
            child_id,
            expected_version,
            lambda r: r.record_held(
                review_id,
                held_on,
                attendance,
                stage,
                rationale,
                progress,
                actions,
                next_review_on,
                self.default_weeks,
                meta,
            ),
            authorise,
        )[1]

    # ------------------------------------------------------------------ tick

    def tick(self, today: date, meta: Meta) -> int:
        """Raise ReviewOverdue once for every review not held by its due date; the count."""
        raised = 0
        for case_id in list(self.case_ids()):
            case = self.load(ReviewCase, case_id, "review case")
            try:
                if not self._change(
                    case.child_id, None, lambda r: r.notice_overdue(today, meta), case=case
                )[0]:
                    continue
            except Conflict:
                # Someone changed the case meanwhile; the next tick sees it again.
                log.info("tick: case %s changed concurrently; left for the next tick", case_id)
                continue
            raised += 1
        return raised

    def notice_overdue(self, child_id: UUID, today: date, meta: Meta) -> bool:
        """What the tick does for one child: raise ReviewOverdue once if it is overdue."""
        return self._change(child_id, None, lambda r: r.notice_overdue(today, meta))[0]

    # ----------------------------------------------------- transitions, closure

    @retry_on_race
    def record_transition(
        self,
        child_id: UUID,
        kind: TransitionKind,
        occurred_on: date,
        receiving_organisation: str | None,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> tuple[UUID, int]:
        """Record a transition; returns its id and the record's version."""
        transition_id = uuid4()
        _, version = self._change(
            child_id,
            expected_version,
            lambda r: r.record_transition(
                transition_id, kind, occurred_on, receiving_organisation, meta
            ),
            authorise,
        )
        return transition_id, version

    @retry_on_race
    def close_case(
        self,
        child_id: UUID,
        closed_on: date,
        safety_net_until: date | None,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Close the case (reason in meta), with an optional safety-net end date."""
        return self._change(
            child_id,
            expected_version,
            lambda r: r.close(closed_on, safety_net_until, meta),
            authorise,
        )[1]

    @retry_on_race
    def reopen_case(
        self,
        child_id: UUID,
        reopened_on: date,
        meta: Meta,
        expected_version: int | None = None,
        authorise: May = None,
    ) -> int:
        """Reopen a closed case (reason in meta)."""
        return self._change(
            child_id,
            expected_version,
            lambda r: r.reopen(reopened_on, self.default_weeks, meta),
            authorise,
        )[1]

    # ----------------------------------------------------------- supervision

    def log_supervision(
        self,
        *,
        practitioner_id: str,
        supervisor_id: str,
        held_on: date,
        kind: SupervisionKind,
        children: list[UUID],
        themes: str,
        meta: Meta,
    ) -> UUID:
        """Log a supervision or reflective practice session; children must be known here."""
        for n, child_id in enumerate(children):
            if not self.has_case(child_id):
                raise Invalid(
                    f"children.{n}: {child_id} is not a child with an ECM review case",
                    field=f"children.{n}",
                )
        session = SupervisionSession.log(
            practitioner_id, supervisor_id, held_on, kind, children, themes, meta
        )
        self.save_all(session)
        return session.id
