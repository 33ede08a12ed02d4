"""Value types of the reviews domain: statuses, review items, and the state kept per review."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from shared.domain import Conflict, Invalid
from shared.meetings import AttendanceRecord, Invitee
from shared.vocabulary import Agency

MIN_CADENCE_WEEKS = 1
MAX_CADENCE_WEEKS = 52


class CaseStatus(StrEnum):
    """Whether ECM is still working with the child."""

    OPEN = "open"
    CLOSED = "closed"


class ReviewStatus(StrEnum):
    """Where one review stands."""

    DUE = "due"
    SCHEDULED = "scheduled"
    HELD = "held"
    WITHDRAWN = "withdrawn"  # the case closed before the review was held


PENDING_REVIEW = frozenset({ReviewStatus.DUE, ReviewStatus.SCHEDULED})


class InterventionStatus(StrEnum):
    """An intervention's status as the formulation service published it."""

    PLANNED = "planned"
    STARTED = "started"
    COMPLETED = "completed"
    STOPPED = "stopped"


ACTIVE_INTERVENTION = frozenset({InterventionStatus.PLANNED, InterventionStatus.STARTED})


class Progress(StrEnum):
    """Progress on an intervention as judged at a review."""

    NOT_STARTED = "not_started"
    ENGAGING = "engaging"
    PARTLY = "partly"
    COMPLETED = "completed"
    STALLED = "stalled"


class TransitionKind(StrEnum):
    """Transitions in a child's life that ECM supports the network through."""

    ENTERING_CUSTODY = "entering_custody"
    LEAVING_CUSTODY = "leaving_custody"
    SCHOOL_MOVE = "school_move"
    PLACEMENT_MOVE = "placement_move"
    TRANSFER_TO_ADULT_SERVICES = "transfer_to_adult_services"
    TRANSFER_TO_PROBATION = "transfer_to_probation"


# Leaving custody may be to home, with no receiving organisation; every other move has one.
RECEIVING_ORGANISATION_OPTIONAL = frozenset({TransitionKind.LEAVING_CUSTODY})


@dataclass(frozen=True)
class ProgressRecord:
    """Progress on one active intervention, judged at a review (the note is personal)."""

    intervention_id: UUID
    progress: Progress
    note: str | None = None

    def as_event(self) -> dict[str, Any]:
        """The record as an event value."""
        return {
            "intervention_id": self.intervention_id,
            "progress": str(self.progress),
            "note": self.note,
        }

    @classmethod
    def from_event(cls, value: dict[str, Any]) -> ProgressRecord:
        """The record from an event value."""
        return cls(value["intervention_id"], Progress(value["progress"]), value.get("note"))


@dataclass(frozen=True)
class Action:
    """An action agreed at a review: who owns it, by when, what (the text is personal)."""

    agency: Agency
    due_on: date
    text: str | None  # None once the child's key is erased

    def as_event(self) -> dict[str, Any]:
        """The action as an event value."""
        return {"agency": str(self.agency), "due_on": self.due_on, "text": self.text}

    @classmethod
    def from_event(cls, value: dict[str, Any]) -> Action:
        """The action from an event value."""
        return cls(Agency(value["agency"]), value["due_on"], value.get("text"))


@dataclass
class Review:
    """One review of the child's network: due, scheduled, then held (state only)."""

    review_id: UUID
    number: int
    due_on: date
    counted_from: date
    due_set_explicitly: bool
    status: ReviewStatus = ReviewStatus.DUE
    starts_at: datetime | None = None
    venue: str | None = None
    online_link: str | None = None
    invitees: list[Invitee] = field(default_factory=list)
    scheduled_by: str | None = None
    reschedules: int = 0
    cancellations: int = 0
    overdue_noticed_on: date | None = None
    held_on: date | None = None
    attendance: list[AttendanceRecord] = field(default_factory=list)
    stage: int | None = None
    previous_stage: int | None = None
    progress: list[ProgressRecord] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    next_review_on: date | None = None

    def unschedule(self) -> None:
        """Its meeting was cancelled: due again, with no time, place or invitees."""
        self.status = ReviewStatus.DUE
        self.starts_at = None
        self.venue = None
        self.online_link = None
        self.invitees = []
        self.scheduled_by = None
        self.cancellations += 1

    @property
    def follows_cadence(self) -> bool:
        """True while the due date is derived from the cadence (pending, not set by hand,
        not yet noticed overdue)."""
        return (
            self.status in PENDING_REVIEW
            and not self.due_set_explicitly
            and self.overdue_noticed_on is None
        )


@dataclass
class Intervention:
    """An intervention the formulation service planned for the child (state only)."""

    intervention_id: UUID
    intervention_type: str
    stage: int
    owning_agency: str
    planned_start: date | None
    status: InterventionStatus = InterventionStatus.PLANNED
    status_on: date | None = None


@dataclass(frozen=True)
class StageAssessment:
    """One assessment of the child's TRM stage, from a formulation report or a review."""

    stage: int
    assessed_on: date
    source: str
    review_id: UUID | None = None
    rationale: str | None = None  # a review's reason for a change of stage (personal)


@dataclass(frozen=True)
class Transition:
    """A transition in the child's life (the receiving organisation is personal)."""

    transition_id: UUID
    kind: TransitionKind
    occurred_on: date
    receiving_organisation: str | None


def check_stage(stage: int, name: str = "stage") -> None:
    """A TRM stage is a whole number from 1 to 6."""
    if isinstance(stage, bool) or not isinstance(stage, int) or not 1 <= stage <= 6:
        raise Invalid(f"{name}: must be a TRM stage from 1 to 6", field=name)


def check_cadence(weeks: int) -> None:
    """Reviews fall due between one and 52 weeks apart."""
    if not MIN_CADENCE_WEEKS <= weeks <= MAX_CADENCE_WEEKS:
        raise Invalid(
            f"weeks: must be from {MIN_CADENCE_WEEKS} to {MAX_CADENCE_WEEKS}", field="weeks"
        )


def check_progress(progress: list[ProgressRecord], interventions: dict[UUID, Intervention]) -> None:
    """Progress is recorded once for every active intervention of the child, and only them."""
    active = {k for k, v in interventions.items() if v.status in ACTIVE_INTERVENTION}
    seen: set[UUID] = set()
    for n, record in enumerate(progress):
        name = f"progress.{n}.intervention_id"
        if record.intervention_id in seen:
            raise Invalid(
                f"{name}: progress on {record.intervention_id} is recorded twice", field=name
            )
        seen.add(record.intervention_id)
        if record.intervention_id not in active:
            rule = (
                "is completed or stopped"
                if record.intervention_id in interventions
                else "is not an intervention of this child"
            )
            raise Invalid(f"{name}: {record.intervention_id} {rule}", field=name)
    missing = sorted(str(i) for i in active if i not in seen)
    if missing:
        raise Invalid(
            f"progress: no progress recorded for active intervention(s) {', '.join(missing)}",
            field="progress",
        )


def check_actions(actions: list[Action], held_on: date) -> None:
    """Each action agreed at a review has a text and is not due before the review."""
    for n, action in enumerate(actions):
        if action.due_on < held_on:
            raise Invalid(
                f"actions.{n}.due_on: must not be before held_on", field=f"actions.{n}.due_on"
            )
        if not (action.text or "").strip():
            raise Invalid(f"actions.{n}.text: must not be blank", field=f"actions.{n}.text")


def check_review_request(
    starts_at: datetime, venue: str | None, online_link: str | None, invitees: list[Invitee]
) -> None:
    """A review meeting has a time with its zone, a venue or a link, and distinct invitees."""
    if starts_at.tzinfo is None:
        raise Invalid("starts_at: must include a time zone", field="starts_at")
    if not (venue or "").strip() and not (online_link or "").strip():
        raise Invalid("venue: a review needs a venue or an online link", field="venue")
    if not invitees:
        raise Invalid("invitees: invite at least one agency", field="invitees")
    if len(set(invitees)) != len(invitees):
        raise Invalid("invitees: the same agency and contact are invited twice", field="invitees")


def check_review_held(
    review: Review,
    held_on: date,
    stage: int,
    rationale: str | None,
    current_stage: int | None,
    next_review_on: date | None,
) -> None:
    """A review is held once scheduled, not before its day; a change of stage has a
    rationale; the next review is not before this one."""
    if review.status != ReviewStatus.SCHEDULED or review.starts_at is None:
        raise Conflict(
            f"review_id: review {review.review_id} was never scheduled; schedule it "
            "before recording it as held",
            field="review_id",
        )
    if held_on < review.starts_at.date():
        raise Conflict(
            f"held_on: the review is scheduled for {review.starts_at.date()}; "
            "a review cannot be held before it was scheduled (reschedule it "
            "first)",
            field="held_on",
        )
    check_stage(stage)
    if current_stage is not None and stage != current_stage and not (rationale or "").strip():
        raise Invalid(
            f"rationale: moving the child from stage {current_stage} to {stage} needs a rationale",
            field="rationale",
        )
    if next_review_on is not None and next_review_on < held_on:
        raise Invalid("next_review_on: must not be before held_on", field="next_review_on")
