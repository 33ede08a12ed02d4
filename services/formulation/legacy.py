"""What a formulation case stored before the life story, meetings and reports moved out of it.

Before the split, `FormulationCase` also held the child's timeline, formulation meetings and
reports; those events stay in the case's stream for ever, under their old topics
(`services.formulation.domain:FormulationCase.TimelineEntryAdded`, ...). `FormulationCase`
inherits these declarations (eventsourcing re-declares them on it under the same names, so
the topics and the sealed values' bindings are unchanged); they no longer change the case:
`life_story_from`, `meetings_from` and `reports_from` read them into the new aggregates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from shared.domain import Clear, EcmAggregate, Meta, NotPersonal, Personal, PersonalItems


class CaseHistory(EcmAggregate):
    """The events a formulation case stored for its timeline, meetings and reports before the
    split."""

    class ReportIssued(EcmAggregate.Event):
        child_id: UUID
        report_version: int
        stage: int
        stage_label: NotPersonal
        issued_on: date
        narrative: Personal[str | None]
        recommendations: Annotated[list[dict[str, Any]], PersonalItems("text")]
        meta: Meta

    class TimelineEntryAdded(EcmAggregate.Event):
        child_id: UUID
        entry_id: UUID
        when: Clear[dict[str, Any]]
        category: NotPersonal
        description: Personal[str | None]
        source_of_information: Personal[str | None]
        sensitivity: NotPersonal
        meta: Meta

    class TimelineEntryCorrected(EcmAggregate.Event):
        child_id: UUID
        entry_id: UUID
        when: Clear[dict[str, Any]]
        category: NotPersonal
        description: Personal[str | None]
        source_of_information: Personal[str | None]
        sensitivity: NotPersonal
        meta: Meta

    class TimelineEntryRetracted(EcmAggregate.Event):
        child_id: UUID
        entry_id: UUID
        meta: Meta

    class FormulationMeetingScheduled(EcmAggregate.Event):
        child_id: UUID
        meeting_id: UUID
        starts_at: datetime
        venue: Personal[str | None]
        online_link: Personal[str | None]
        invitees: Clear[list[dict[str, Any]]]
        meta: Meta

    class FormulationMeetingRescheduled(EcmAggregate.Event):
        child_id: UUID
        meeting_id: UUID
        starts_at: datetime
        meta: Meta

    class FormulationMeetingCancelled(EcmAggregate.Event):
        child_id: UUID
        meeting_id: UUID
        meta: Meta

    class FormulationMeetingHeld(EcmAggregate.Event):
        child_id: UUID
        meeting_id: UUID
        held_on: date
        attendance: Clear[list[dict[str, Any]]]
        notes: Personal[str | None]
        meta: Meta
