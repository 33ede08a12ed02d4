"""Wire contracts of the reviews service: the one place its domain events become messages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.reviews.domain import ReviewCase
from services.reviews.schedule import ReviewSchedule
from services.reviews.supervision import SupervisionKind, SupervisionSession
from services.reviews.values import Progress, TransitionKind
from shared.contracts import Contract, ContractRegistry, Mapping, NotPersonal, Sealed
from shared.domain import Area
from shared.vocabulary import Agency, Attendance

Stage = Annotated[int, Field(ge=1, le=6)]


class Item(BaseModel):
    """An item of a list inside a contract."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InviteeV1(Item):
    """An invited agency, and the named contact there if any (a partner directory id)."""

    agency: Agency
    contact_id: UUID | None


class AttendanceV1(Item):
    """Whether an invited agency or contact came; or someone who joined on the day."""

    agency: Agency
    contact_id: UUID | None
    attendance: Attendance
    joined_on_the_day: bool


class ProgressV1(Item):
    """Progress on one active intervention at a review (the note sealed per child)."""

    intervention_id: UUID
    progress: Progress
    note: Sealed | None


class ActionV1(Item):
    """An action agreed at a review (the text sealed per child)."""

    agency: Agency
    due_on: date
    text: Sealed | None


class ReviewCaseOpenedV1(Contract):
    """The reviews service opened its record of the child (from FormulationCaseOpened)."""

    child_id: UUID
    area: Area


class ReviewCaseAreaChangedV1(Contract):
    """The review case followed the child to another YJS area."""

    child_id: UUID
    area: Area


class ReviewCadenceSetV1(Contract):
    """The child's reviews now fall due this many weeks apart."""

    child_id: UUID
    weeks: int


class ReviewWorkerAssignedV1(Contract):
    """The ECM practitioner who owns the child's reviews (a user id)."""

    child_id: UUID
    worker_id: NotPersonal


class ReviewDueV1(Contract):
    """A review falls due on a date (sent again with a new date if the cadence changes)."""

    child_id: UUID
    review_id: UUID
    due_on: date


class ReviewScheduledV1(Contract):
    """The due review was scheduled: when, where, and who is invited."""

    child_id: UUID
    review_id: UUID
    starts_at: datetime
    due_on: date
    venue: Sealed | None
    online_link: Sealed | None
    invitees: list[InviteeV1]


class ReviewRescheduledV1(Contract):
    """A scheduled review moved to another time (reason in the envelope)."""

    child_id: UUID
    review_id: UUID
    starts_at: datetime


class ReviewCancelledV1(Contract):
    """A scheduled review meeting was cancelled (reason in the envelope); it is still due."""

    child_id: UUID
    review_id: UUID


class ReviewHeldV1(Contract):
    """A review was held: attendance per agency, TRM stage, progress, actions, next date."""

    child_id: UUID
    review_id: UUID
    held_on: date
    attendance: list[AttendanceV1]
    stage: Stage
    stage_label: NotPersonal
    previous_stage: Stage | None
    progress: list[ProgressV1]
    actions: list[ActionV1]
    next_review_on: date


class StageReassessedV1(Contract):
    """The child's TRM stage was re-assessed at a review (it may go down)."""

    child_id: UUID
    review_id: UUID
    stage: Stage
    stage_label: NotPersonal
    assessed_on: date
    rationale: Sealed | None


class ReviewOverdueV1(Contract):
    """A review was not held by its due date (raised once per review)."""

    child_id: UUID
    review_id: UUID
    due_on: date


class TransitionRecordedV1(Contract):
    """A transition in the child's life (custody, school, placement, adult services...)."""

    child_id: UUID
    transition_id: UUID
    kind: TransitionKind
    occurred_on: date
    receiving_organisation: Sealed | None


class CaseClosedV1(Contract):
    """ECM closed the child's case (reason in the envelope); safety-net contact until a date."""

    child_id: UUID
    closed_on: date
    safety_net_until: date | None


class CaseReopenedV1(Contract):
    """A closed case was reopened (reason in the envelope)."""

    child_id: UUID
    reopened_on: date


class SupervisionLoggedV1(Contract):
    """A supervision or reflective practice session for a YJS practitioner.

    About practitioners: the envelope has no child_id. Themes are never published (always
    null here): they stay in the reviews store, readable with supervision.read.
    """

    session_id: UUID
    practitioner_id: NotPersonal
    supervisor_id: NotPersonal
    held_on: date
    kind: SupervisionKind
    children: list[UUID]
    themes: Sealed | None


def _supervision_extra(event: Any) -> dict[str, Any]:
    return {"session_id": event.originator_id, "themes": None}


# The event classes are made by @event at class creation: mypy cannot see them.
Case: Any = ReviewCase
Schedule: Any = ReviewSchedule
Session: Any = SupervisionSession

REGISTRY = ContractRegistry(
    "reviews",
    [
        Mapping(Case.Opened, "ReviewCaseOpened", ReviewCaseOpenedV1),
        Mapping(Case.CadenceSet, "ReviewCadenceSet", ReviewCadenceSetV1),
        Mapping(Case.WorkerAssigned, "ReviewWorkerAssigned", ReviewWorkerAssignedV1),
        # Stored by the case before the split (still relayed from a store that holds them).
        Mapping(Case.ReviewDue, "ReviewDue", ReviewDueV1),
        Mapping(Case.ReviewScheduled, "ReviewScheduled", ReviewScheduledV1),
        Mapping(Case.ReviewRescheduled, "ReviewRescheduled", ReviewRescheduledV1),
        Mapping(Case.ReviewCancelled, "ReviewCancelled", ReviewCancelledV1),
        Mapping(Case.ReviewHeld, "ReviewHeld", ReviewHeldV1),
        Mapping(Case.ReviewOverdue, "ReviewOverdue", ReviewOverdueV1),
        # The same contracts from the schedule since (sealed as the case's events were).
        Mapping(Schedule.ReviewDue, "ReviewDue", ReviewDueV1),
        Mapping(Schedule.ReviewScheduled, "ReviewScheduled", ReviewScheduledV1),
        Mapping(Schedule.ReviewRescheduled, "ReviewRescheduled", ReviewRescheduledV1),
        Mapping(Schedule.ReviewCancelled, "ReviewCancelled", ReviewCancelledV1),
        Mapping(Schedule.ReviewHeld, "ReviewHeld", ReviewHeldV1),
        Mapping(Schedule.ReviewOverdue, "ReviewOverdue", ReviewOverdueV1),
        Mapping(Case.StageReassessed, "StageReassessed", StageReassessedV1),
        Mapping(Case.TransitionRecorded, "TransitionRecorded", TransitionRecordedV1),
        Mapping(Case.CaseClosed, "CaseClosed", CaseClosedV1),
        Mapping(Case.CaseReopened, "CaseReopened", CaseReopenedV1),
        Mapping(Session.Logged, "SupervisionLogged", SupervisionLoggedV1, extra=_supervision_extra),
    ],
)
# Not published (they restate formulation events the reviews store learnt from the stream):
# ReportNoted, StageNoted, InterventionNoted, InterventionStatusNoted; nor are the parts'
# starts (ReviewSchedule.Started, ChildInterventions.Started) and ReviewWithdrawn (CaseClosed
# tells consumers).
