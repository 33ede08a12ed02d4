"""What a review case stored before its schedule and its interventions moved out of it.

Before the split, `ReviewCase` also held the child's reviews (the schedule) and the
interventions it learnt from the formulation service; those events stay in the case's stream
for ever, under their old topics (`services.reviews.domain:ReviewCase.ReviewDue`, ...).
`ReviewCase` inherits these declarations (eventsourcing re-declares them on it under the same
names, so the topics and the sealed values' bindings are unchanged); they no longer change the
case: `schedule_from` and `interventions_from` read them into the new aggregates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from shared.domain import Clear, EcmAggregate, Meta, NotPersonal, Personal, PersonalItems


class ReviewCaseHistory(EcmAggregate):
    """The events a review case stored for its schedule and interventions before the split."""

    class InterventionNoted(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        intervention_type: NotPersonal
        stage: int
        owning_agency: NotPersonal
        planned_start: date | None
        meta: Meta

    class InterventionStatusNoted(EcmAggregate.Event):
        child_id: UUID
        intervention_id: UUID
        status: NotPersonal
        on: date
        meta: Meta

    class ReviewDue(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        due_on: date
        counted_from: date
        explicit: bool
        meta: Meta

    class ReviewScheduled(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        starts_at: datetime
        due_on: date
        venue: Personal[str | None]
        online_link: Personal[str | None]
        invitees: Clear[list[dict[str, Any]]]
        meta: Meta

    class ReviewRescheduled(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        starts_at: datetime
        previous_starts_at: datetime | None
        meta: Meta

    class ReviewCancelled(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        meta: Meta

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

    class ReviewOverdue(EcmAggregate.Event):
        child_id: UUID
        review_id: UUID
        due_on: date
        noticed_on: date
        meta: Meta
