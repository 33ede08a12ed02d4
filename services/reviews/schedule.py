"""The child's review schedule: each review due, scheduled, moved, cancelled, held or
withdrawn, and overdue when not held by its due date.

Apart from the case (`ReviewCase`), whose status it is told (`case_open`): the case decides
closing and reopening, the schedule follows in the same unit of work. Stored before the split,
a child's reviews are events of their review case; `schedule_from` reads those (the same event
bodies apply them), and the first change after the split starts the schedule with a snapshot
of them (`Started.imported`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from services.reviews.domain import REVIEWS_NAMESPACE, needs_reason, review_case_id
from services.reviews.values import (
    PENDING_REVIEW,
    Action,
    Intervention,
    ProgressRecord,
    Review,
    ReviewStatus,
    check_actions,
    check_progress,
    check_review_held,
    check_review_request,
)
from shared.domain import (
    Area,
    Clear,
    Conflict,
    EcmAggregate,
    Invalid,
    Meta,
    NotFound,
    NotPersonal,
    Personal,
    PersonalItems,
    register_stored_topics,
)
from shared.meetings import AttendanceRecord, Invitee, check_attendance
from shared.vocabulary import trm_label


def schedule_id_for(child_id: UUID) -> UUID:
    """The id of a child's review schedule: derived from the child's id."""
    return uuid5(REVIEWS_NAMESPACE, f"review-schedule:{child_id}")


def review_as_dict(review: Review) -> dict[str, Any]:
    """A review as a snapshot item (`Started.imported`); its personal values apart."""
    item: dict[str, Any] = {
        k: v
        for k, v in vars(review).items()
        if k not in ("invitees", "attendance", "progress", "actions")
    }
    item["status"] = str(review.status)
    item["invitees"] = [i.as_dict() for i in review.invitees]
    item["attendance"] = [a.as_dict() for a in review.attendance]
    item["progress"] = [{**p.as_event(), "note": None} for p in review.progress]
    item["progress_notes"] = [p.note for p in review.progress]
    item["actions"] = [{**a.as_event(), "text": None} for a in review.actions]
    item["action_texts"] = [a.text for a in review.actions]
    return item


def review_from_dict(item: dict[str, Any]) -> Review:
    """Back from a snapshot item (personal values are None once the child's key is erased)."""
    values = {k: v for k, v in item.items() if k not in ("progress_notes", "action_texts")}
    notes = item.get("progress_notes") or [None] * len(item["progress"])
    texts = item.get("action_texts") or [None] * len(item["actions"])
    values["status"] = ReviewStatus(item["status"])
    values["invitees"] = [Invitee.from_dict(i) for i in item["invitees"]]
    values["attendance"] = [AttendanceRecord.from_dict(a) for a in item["attendance"]]
    values["progress"] = [
        ProgressRecord.from_event({**p, "note": n})
        for p, n in zip(item["progress"], notes, strict=True)
    ]
    values["actions"] = [
        Action.from_event({**a, "text": t}) for a, t in zip(item["actions"], texts, strict=True)
    ]
    return Review(**values)


class ReviewSchedule(EcmAggregate):
    """A child's reviews: one schedule per child, its id derived from the child's id."""

    @staticmethod
    def create_id(child_id: UUID, **_: object) -> UUID:
        """One schedule per child."""
        return schedule_id_for(child_id)

    class Started(EcmAggregate.Created):
        child_id: UUID
        area: Area
        imported: Annotated[
            list[dict[str, Any]],
            PersonalItems("venue", "online_link", "progress_notes", "action_texts"),
        ]
        current_review_id: UUID | None
        meta: Meta

    @classmethod
    def start(
        cls,
        child_id: UUID,
        area: Area,
        reviews: Iterable[Review],
        current_review_id: UUID | None,
        meta: Meta,
    ) -> ReviewSchedule:
        """Start the child's schedule, with the reviews recorded before the split."""
        return cls(
            child_id=child_id,
            area=Area(area),
            imported=[review_as_dict(r) for r in reviews],
            current_review_id=current_review_id,
            meta=meta,
        )

    @event(Started)
    def __init__(
        self,
        child_id: UUID,
        area: Area,
        imported: list[dict[str, Any]],
        current_review_id: UUID | None,
        meta: Meta,
    ) -> None:
        self.child_id = child_id
        self.area = Area(area)
        self.reviews: dict[UUID, Review] = {}
        for item in imported:
            self.reviews[item["review_id"]] = review_from_dict(item)
        self.current_review_id = current_review_id

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

    def is_overdue(self, today: date, case_open: bool) -> bool:
        """True when the current review of an open case was not held by its due date."""
        review = self.current_review
        return (
            case_open
            and review is not None
            and review.status in PENDING_REVIEW
            and today > review.due_on
        )

    def review(self, review_id: UUID) -> Review:
        """One of the child's reviews, or NotFound."""
        try:
            return self.reviews[review_id]
        except KeyError:
            raise NotFound(f"review {review_id} not found", field="review_id") from None

    def _next_review_id(self) -> UUID:  # as the case derived them before the split
        return uuid5(review_case_id(self.child_id), f"review-{len(self.reviews) + 1}")

    def make_due(self, counted_from: date, weeks: int, meta: Meta) -> None:
        """The next review falls due `weeks` after `counted_from`."""
        self._review_due(
            child_id=self.child_id,
            review_id=self._next_review_id(),
            due_on=counted_from + timedelta(weeks=weeks),
            counted_from=counted_from,
            explicit=False,
            meta=meta,
        )

    def follow_cadence(self, weeks: int, meta: Meta) -> bool:
        """The cadence changed: a due date derived from it moves (False when none does)."""
        review = self.current_review
        if review is None or not review.follows_cadence:
            return False
        due_on = review.counted_from + timedelta(weeks=weeks)
        if due_on == review.due_on:
            return False
        self._review_due(
            child_id=self.child_id,
            review_id=review.review_id,
            due_on=due_on,
            counted_from=review.counted_from,
            explicit=False,
            meta=meta,
        )
        return True

    class ReviewDue(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        due_on: date
        counted_from: date
        explicit: bool
        meta: Meta

    @event(ReviewDue)
    def _review_due(
        self,
        child_id: UUID,
        review_id: UUID,
        due_on: date,
        counted_from: date,
        explicit: bool,
        meta: Meta,
    ) -> None:
        existing = self.reviews.get(review_id)
        if existing is not None:  # the cadence changed: the same review, a new due date
            existing.due_on = due_on
            return
        self.reviews[review_id] = Review(
            review_id, len(self.reviews) + 1, due_on, counted_from, explicit
        )
        self.current_review_id = review_id

    def _pending(self, review_id: UUID, case_open: bool) -> Review:
        if not case_open:
            raise Conflict("status: the case is closed; reopen it first", field="status")
        review = self.review(review_id)
        if review.status == ReviewStatus.HELD:
            raise Conflict(
                f"review_id: review {review_id} was already held on {review.held_on}",
                field="review_id",
            )
        if review.status == ReviewStatus.WITHDRAWN:
            raise Conflict(
                f"review_id: review {review_id} was withdrawn when the case closed",
                field="review_id",
            )
        return review

    def schedule_review(
        self,
        review_id: UUID,
        starts_at: datetime,
        venue: str | None,
        online_link: str | None,
        invitees: list[Invitee],
        case_open: bool,
        meta: Meta,
    ) -> None:
        """Schedule the due review: when, where (venue and/or online link), who is invited."""
        review = self._pending(review_id, case_open)
        if review.status == ReviewStatus.SCHEDULED:
            raise Conflict(
                f"review_id: review {review_id} is already scheduled; reschedule it instead",
                field="review_id",
            )
        check_review_request(starts_at, venue, online_link, invitees)
        self._review_scheduled(
            child_id=self.child_id,
            review_id=review_id,
            starts_at=starts_at,
            due_on=review.due_on,
            venue=venue or None,
            online_link=online_link or None,
            invitees=[i.as_dict() for i in invitees],
            meta=meta,
        )

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
    def _review_scheduled(
        self,
        child_id: UUID,
        review_id: UUID,
        starts_at: datetime,
        due_on: date,
        venue: str | None,
        online_link: str | None,
        invitees: list[dict[str, Any]],
        meta: Meta,
    ) -> None:
        review = self.reviews[review_id]
        review.status = ReviewStatus.SCHEDULED
        review.starts_at = starts_at
        review.venue = venue
        review.online_link = online_link
        review.invitees = [Invitee.from_dict(i) for i in invitees]
        review.scheduled_by = meta.actor_id

    def reschedule_review(
        self, review_id: UUID, starts_at: datetime, case_open: bool, meta: Meta
    ) -> None:
        """Move a scheduled review to another time, with a reason."""
        review = self._scheduled(review_id, "reschedule", case_open)
        needs_reason(meta, "rescheduling a review")
        if starts_at.tzinfo is None:
            raise Invalid("starts_at: must include a time zone", field="starts_at")
        if starts_at == review.starts_at:
            raise Invalid("starts_at: the review is already at that time", field="starts_at")
        self._review_rescheduled(
            child_id=self.child_id,
            review_id=review_id,
            starts_at=starts_at,
            previous_starts_at=review.starts_at,
            meta=meta,
        )

    class ReviewRescheduled(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        starts_at: datetime
        previous_starts_at: datetime | None
        meta: Meta

    @event(ReviewRescheduled)
    def _review_rescheduled(
        self,
        child_id: UUID,
        review_id: UUID,
        starts_at: datetime,
        previous_starts_at: datetime | None,
        meta: Meta,
    ) -> None:
        review = self.reviews[review_id]
        review.starts_at = starts_at
        review.reschedules += 1

    def cancel_review(self, review_id: UUID, case_open: bool, meta: Meta) -> None:
        """Cancel a scheduled review meeting, with a reason; the review stays due."""
        self._scheduled(review_id, "cancel", case_open)
        needs_reason(meta, "cancelling a review")
        self._review_cancelled(child_id=self.child_id, review_id=review_id, meta=meta)

    class ReviewCancelled(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        meta: Meta

    @event(ReviewCancelled)
    def _review_cancelled(self, child_id: UUID, review_id: UUID, meta: Meta) -> None:
        self.reviews[review_id].unschedule()

    def _scheduled(self, review_id: UUID, action: str, case_open: bool) -> Review:
        review = self._pending(review_id, case_open)
        if review.status != ReviewStatus.SCHEDULED:
            raise Conflict(
                f"review_id: cannot {action} review {review_id}: it is not scheduled",
                field="review_id",
            )
        return review

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
        *,
        weeks: int,
        current_stage: int | None,
        interventions: dict[UUID, Intervention],
        case_open: bool,
        meta: Meta,
    ) -> None:
        """Record a scheduled review as held; the next review falls due. The case records
        the stage it assessed (`ReviewCase.reassess_stage`)."""
        review = self._pending(review_id, case_open)
        check_review_held(review, held_on, stage, rationale, current_stage, next_review_on)
        check_attendance(review.invitees, attendance)
        check_progress(progress, interventions)
        check_actions(actions, held_on)
        next_on = next_review_on or held_on + timedelta(weeks=weeks)
        self._review_held(
            child_id=self.child_id,
            review_id=review_id,
            held_on=held_on,
            attendance=[a.as_dict() for a in attendance],
            stage=stage,
            stage_label=trm_label(stage),
            previous_stage=current_stage,
            progress=[p.as_event() for p in progress],
            actions=[a.as_event() for a in actions],
            next_review_on=next_on,
            meta=meta,
        )
        self._review_due(
            child_id=self.child_id,
            review_id=self._next_review_id(),
            due_on=next_on,
            counted_from=held_on,
            explicit=next_review_on is not None,
            meta=meta,
        )

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
    def _review_held(
        self,
        child_id: UUID,
        review_id: UUID,
        held_on: date,
        attendance: list[dict[str, Any]],
        stage: int,
        stage_label: str,
        previous_stage: int | None,
        progress: list[dict[str, Any]],
        actions: list[dict[str, Any]],
        next_review_on: date | None,
        meta: Meta,
    ) -> None:
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

    def notice_overdue(self, today: date, case_open: bool, meta: Meta) -> bool:
        """Raise ReviewOverdue once for a review not held by its due date (`today` passed in)."""
        review = self.current_review
        if not self.is_overdue(today, case_open) or review is None or review.overdue_noticed_on:
            return False
        self._review_overdue(
            child_id=self.child_id,
            review_id=review.review_id,
            due_on=review.due_on,
            noticed_on=today,
            meta=meta,
        )
        return True

    class ReviewOverdue(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        due_on: date
        noticed_on: date
        meta: Meta

    @event(ReviewOverdue)
    def _review_overdue(
        self, child_id: UUID, review_id: UUID, due_on: date, noticed_on: date, meta: Meta
    ) -> None:
        self.reviews[review_id].overdue_noticed_on = noticed_on

    def withdraw_current(self, meta: Meta) -> bool:
        """The case closed: its review due or scheduled is withdrawn (False when none)."""
        if self.current_review_id is None:
            return False
        self._review_withdrawn(child_id=self.child_id, review_id=self.current_review_id, meta=meta)
        return True

    class ReviewWithdrawn(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        meta: Meta

    @event(ReviewWithdrawn)
    def _review_withdrawn(self, child_id: UUID, review_id: UUID, meta: Meta) -> None:
        self.reviews[review_id].status = ReviewStatus.WITHDRAWN
        self.current_review_id = None


LEGACY = {
    "ReviewDue": "_review_due",
    "ReviewScheduled": "_review_scheduled",
    "ReviewRescheduled": "_review_rescheduled",
    "ReviewCancelled": "_review_cancelled",
    "ReviewHeld": "_review_held",
    "ReviewOverdue": "_review_overdue",
}
"""The review case's events, from before the split, that belong to its schedule."""
for _name in LEGACY:  # sealed as before the split (one binding per published event type)
    vars(ReviewSchedule)[_name].sealed_as = f"ReviewCase.{_name}"
PRIVATE = ("originator_id", "originator_version", "timestamp")


def schedule_from(child_id: UUID, area: Area, case_events: Iterable[Any]) -> ReviewSchedule:
    """The schedule recorded in a review case's events (from before the split): a view,
    never saved (its own events are discarded); `ReviewSchedule.start` saves it."""
    view = ReviewSchedule(
        child_id=child_id, area=area, imported=[], current_review_id=None, meta=Meta("", "", "", "")
    )
    for case_event in case_events:
        name = type(case_event).__qualname__.rsplit(".", 1)[-1]
        if name in LEGACY:
            values = {k: v for k, v in vars(case_event).items() if k not in PRIVATE}
            getattr(view, LEGACY[name])(**values)
        elif name == "CaseClosed" and view.current_review_id is not None:
            # Closing withdrew the current review (the case's event body did, then).
            view._review_withdrawn(
                child_id=child_id, review_id=view.current_review_id, meta=case_event.meta
            )
    view.collect_events()
    return view


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.reviews.schedule", ReviewSchedule)
