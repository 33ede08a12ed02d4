"""The child's formulation meetings: scheduled, moved, cancelled, held with attendance.

Apart from the formulation plan (`FormulationCase`), whose sequencing rule never needs them.
Stored before the split, a child's meetings are events of their formulation case;
`meetings_from` reads those (the same event bodies apply them), and the first change after the
split starts the child's meetings with a snapshot of them (`Started.imported`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from services.formulation.records import Meeting, MeetingStatus
from services.formulation.values import NAMESPACE, checked_text, invalid
from shared.domain import (
    Area,
    Clear,
    Conflict,
    EcmAggregate,
    Meta,
    NotFound,
    Personal,
    PersonalItems,
    register_stored_topics,
)
from shared.meetings import AttendanceRecord, Invitee, check_attendance


def meetings_id_for(child_id: UUID) -> UUID:
    """The id of a child's formulation meetings: derived from the child's id."""
    return uuid5(NAMESPACE, f"formulation-meetings:{child_id}")


def meeting_as_dict(meeting: Meeting) -> dict[str, Any]:
    """A meeting as a snapshot item (`Started.imported`)."""
    return {
        "meeting_id": meeting.meeting_id,
        "starts_at": meeting.starts_at,
        "venue": meeting.venue,
        "online_link": meeting.online_link,
        "invitees": [i.as_dict() for i in meeting.invitees],
        "status": str(meeting.status),
        "reschedules": [[at, reason] for at, reason in meeting.reschedules],
        "cancel_reason": meeting.cancel_reason,
        "held_on": meeting.held_on,
        "attendance": [a.as_dict() for a in meeting.attendance],
        "notes": meeting.notes,
    }


def meeting_from_dict(item: dict[str, Any]) -> Meeting:
    """Back from a snapshot item."""
    return Meeting(
        item["meeting_id"],
        item["starts_at"],
        item.get("venue"),
        item.get("online_link"),
        [Invitee.from_dict(i) for i in item["invitees"]],
        MeetingStatus(item["status"]),
        [(at, reason) for at, reason in item.get("reschedules", [])],
        item.get("cancel_reason"),
        item.get("held_on"),
        [AttendanceRecord.from_dict(a) for a in item.get("attendance", [])],
        item.get("notes"),
    )


class FormulationMeetings(EcmAggregate):
    """A child's formulation meetings: one record per child, its id derived from the child's."""

    @staticmethod
    def create_id(child_id: UUID, **_: object) -> UUID:
        """One record of meetings per child."""
        return meetings_id_for(child_id)

    class Started(EcmAggregate.Created):
        child_id: UUID
        area: Area
        imported: Annotated[list[dict[str, Any]], PersonalItems("venue", "online_link", "notes")]
        meta: Meta

    @classmethod
    def start(
        cls, child_id: UUID, area: Area, meetings: Iterable[Meeting], meta: Meta
    ) -> FormulationMeetings:
        """Start the child's meetings, with those recorded before the split."""
        return cls(
            child_id=child_id,
            area=Area(area),
            imported=[meeting_as_dict(m) for m in meetings],
            meta=meta,
        )

    @event(Started)
    def __init__(
        self, child_id: UUID, area: Area, imported: list[dict[str, Any]], meta: Meta
    ) -> None:
        self.child_id = child_id
        self.area = Area(area)
        self.meetings: dict[UUID, Meeting] = {}
        for item in imported:
            self.meetings[item["meeting_id"]] = meeting_from_dict(item)

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

    def meeting(self, meeting_id: UUID) -> Meeting:
        """The meeting, or NotFound."""
        try:
            return self.meetings[meeting_id]
        except KeyError:
            raise NotFound(f"meeting {meeting_id} not found", field="meeting_id") from None

    def schedule_meeting(
        self,
        meeting_id: UUID,
        starts_at: datetime,
        venue: str | None,
        online_link: str | None,
        invitees: list[Invitee],
        meta: Meta,
    ) -> None:
        """Schedule a multi-agency formulation meeting (in person, online or both)."""
        if meeting_id in self.meetings:
            raise Conflict(f"meeting_id: meeting {meeting_id} already exists", field="meeting_id")
        if starts_at.tzinfo is None:
            raise invalid("starts_at", "must include a time zone")
        if (
            checked_text(venue, "venue", required=False) is None
            and checked_text(online_link, "online_link", required=False) is None
        ):
            raise invalid("venue", "a meeting needs a venue or an online link")
        if not invitees:
            raise invalid("invitees", "invite at least one agency")
        if len(set(invitees)) != len(invitees):
            raise invalid("invitees", "the same agency and contact is invited twice")
        self._meeting_scheduled(
            child_id=self.child_id,
            meeting_id=meeting_id,
            starts_at=starts_at,
            venue=venue,
            online_link=online_link,
            invitees=[i.as_dict() for i in invitees],
            meta=meta,
        )

    class FormulationMeetingScheduled(EcmAggregate.Event):
        child_id: UUID
        meeting_id: UUID
        starts_at: datetime
        venue: Personal[str | None]
        online_link: Personal[str | None]
        invitees: Clear[list[dict[str, Any]]]
        meta: Meta

    @event(FormulationMeetingScheduled)
    def _meeting_scheduled(
        self,
        child_id: UUID,
        meeting_id: UUID,
        starts_at: datetime,
        venue: str | None,
        online_link: str | None,
        invitees: list[dict[str, Any]],
        meta: Meta,
    ) -> None:
        self.meetings[meeting_id] = Meeting(
            meeting_id, starts_at, venue, online_link, [Invitee.from_dict(i) for i in invitees]
        )

    def _check_scheduled(self, meeting: Meeting, action: str) -> None:
        if meeting.status != MeetingStatus.SCHEDULED:
            raise Conflict(
                f"status: cannot {action} a meeting that is {meeting.status}", field="status"
            )

    def reschedule_meeting(self, meeting_id: UUID, starts_at: datetime, meta: Meta) -> None:
        """Move a scheduled meeting to a new time, with a reason."""
        meeting = self.meeting(meeting_id)
        self._check_scheduled(meeting, "reschedule")
        if not meta.reason:
            raise invalid("reason", "rescheduling needs a reason")
        if starts_at.tzinfo is None:
            raise invalid("starts_at", "must include a time zone")
        if starts_at == meeting.starts_at:
            raise invalid("starts_at", "is the time already scheduled")
        self._meeting_rescheduled(
            child_id=self.child_id, meeting_id=meeting_id, starts_at=starts_at, meta=meta
        )

    class FormulationMeetingRescheduled(EcmAggregate.Event):
        child_id: UUID
        meeting_id: UUID
        starts_at: datetime
        meta: Meta

    @event(FormulationMeetingRescheduled)
    def _meeting_rescheduled(
        self, child_id: UUID, meeting_id: UUID, starts_at: datetime, meta: Meta
    ) -> None:
        meeting = self.meetings[meeting_id]
        meeting.reschedules.append((meeting.starts_at, meta.reason))
        meeting.starts_at = starts_at

    def cancel_meeting(self, meeting_id: UUID, meta: Meta) -> None:
        """Cancel a scheduled meeting, with a reason."""
        meeting = self.meeting(meeting_id)
        self._check_scheduled(meeting, "cancel")
        if not meta.reason:
            raise invalid("reason", "cancelling needs a reason")
        self._meeting_cancelled(child_id=self.child_id, meeting_id=meeting_id, meta=meta)

    class FormulationMeetingCancelled(EcmAggregate.Event):
        child_id: UUID
        meeting_id: UUID
        meta: Meta

    @event(FormulationMeetingCancelled)
    def _meeting_cancelled(self, child_id: UUID, meeting_id: UUID, meta: Meta) -> None:
        meeting = self.meetings[meeting_id]
        meeting.status = MeetingStatus.CANCELLED
        meeting.cancel_reason = meta.reason

    def record_meeting_held(
        self,
        meeting_id: UUID,
        held_on: date,
        attendance: list[AttendanceRecord],
        notes: str | None,
        meta: Meta,
    ) -> None:
        """Record the meeting as held: attendance for every invitee, and the notes."""
        meeting = self.meeting(meeting_id)
        self._check_scheduled(meeting, "record as held")
        if held_on < meeting.starts_at.date():  # the same rule as for reviews
            raise Conflict(
                f"held_on: the meeting is scheduled for {meeting.starts_at.date()}; "
                "a meeting cannot be held before it was scheduled (reschedule it "
                "first)",
                field="held_on",
            )
        check_attendance(meeting.invitees, attendance)
        self._meeting_held(
            child_id=self.child_id,
            meeting_id=meeting_id,
            held_on=held_on,
            attendance=[a.as_dict() for a in attendance],
            notes=checked_text(notes, "notes", required=False),
            meta=meta,
        )

    class FormulationMeetingHeld(EcmAggregate.Event):
        child_id: UUID
        meeting_id: UUID
        held_on: date
        attendance: Clear[list[dict[str, Any]]]
        notes: Personal[str | None]
        meta: Meta

    @event(FormulationMeetingHeld)
    def _meeting_held(
        self,
        child_id: UUID,
        meeting_id: UUID,
        held_on: date,
        attendance: list[dict[str, Any]],
        notes: str | None,
        meta: Meta,
    ) -> None:
        meeting = self.meetings[meeting_id]
        meeting.status = MeetingStatus.HELD
        meeting.held_on = held_on
        meeting.attendance = [AttendanceRecord.from_dict(a) for a in attendance]
        meeting.notes = notes

    # -- reports and TRM stage assessments ---------------------------------------------------


LEGACY = {
    "FormulationMeetingScheduled": "_meeting_scheduled",
    "FormulationMeetingRescheduled": "_meeting_rescheduled",
    "FormulationMeetingCancelled": "_meeting_cancelled",
    "FormulationMeetingHeld": "_meeting_held",
}
"""The formulation case's events, from before the split, that belong to its meetings."""
for _name in LEGACY:  # sealed as before the split (one binding per published event type)
    vars(FormulationMeetings)[_name].sealed_as = f"FormulationCase.{_name}"


def meetings_from(child_id: UUID, area: Area, case_events: Iterable[Any]) -> FormulationMeetings:
    """The meetings recorded in a formulation case's events (from before the split): a view,
    never saved (its own events are discarded); `FormulationMeetings.start` saves them."""
    view = FormulationMeetings(child_id=child_id, area=area, imported=[], meta=Meta("", "", "", ""))
    for case_event in case_events:
        name = type(case_event).__qualname__.rsplit(".", 1)[-1]
        if name in LEGACY:
            values = {
                k: v
                for k, v in vars(case_event).items()
                if k not in ("originator_id", "originator_version", "timestamp")
            }
            getattr(view, LEGACY[name])(**values)
    view.collect_events()
    return view


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.formulation.meetings", FormulationMeetings)
