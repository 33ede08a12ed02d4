"""Who is invited to a multi-agency meeting or review, and who came: shared value objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from shared.domain import Invalid
from shared.fields import (
    MULTI_LINE,
    SINGLE_LINE,
    SINGLE_LINE_DOC,
    ExpectedVersion,
    check_planned_day,
)
from shared.vocabulary import Agency, Attendance


def plausible_start(value: datetime) -> datetime:
    """A meeting's start from 2019 to a year ahead, so it converts to UTC and UK time and back.

    Any year 1-9999 parses, but 0001-01-01T00:00+14:00 or 9999-12-31T23:59-14:00 cannot be
    shown in UTC or UK time: stored, they broke notices and the caseload downstream. The check
    reads the date as written (no conversion, which could itself overflow).
    """
    check_planned_day(value.date())
    return value


MeetingStart = Annotated[
    AwareDatetime,
    AfterValidator(plausible_start),
    Field(description="When it starts, with a time zone offset, from 2019-01-01 to a year ahead."),
]


@dataclass(frozen=True)
class Invitee:
    """An agency invited, and the named contact there (partner directory id) if any."""

    agency: Agency
    contact_id: UUID | None = None

    def as_dict(self) -> dict[str, Any]:
        """The stored and wire form."""
        return {"agency": str(self.agency), "contact_id": self.contact_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Invitee:
        """Back from the stored form."""
        return cls(Agency(data["agency"]), data.get("contact_id"))


@dataclass(frozen=True)
class AttendanceRecord:
    """Whether an agency (and person) attended; `joined_on_the_day` for those not invited."""

    agency: Agency
    contact_id: UUID | None
    attendance: Attendance
    joined_on_the_day: bool = False

    @property
    def invitee(self) -> Invitee:
        """The invitee this record accounts for."""
        return Invitee(self.agency, self.contact_id)

    def as_dict(self) -> dict[str, Any]:
        """The stored and wire form."""
        return {
            "agency": str(self.agency),
            "contact_id": self.contact_id,
            "attendance": str(self.attendance),
            "joined_on_the_day": self.joined_on_the_day,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttendanceRecord:
        """Back from the stored form."""
        return cls(
            Agency(data["agency"]),
            data.get("contact_id"),
            Attendance(data["attendance"]),
            bool(data.get("joined_on_the_day")),
        )


def _who(agency: Agency | str, contact_id: UUID | None) -> str:
    return f"{agency} (contact {contact_id})" if contact_id else str(agency)


def check_attendance(invitees: list[Invitee], attendance: list[AttendanceRecord]) -> None:
    """The one attendance rule of formulation meetings and reviews: every invitee accounted
    for once (an agency invited as a whole by any record of it; a named person of an agency
    invited as a whole was invited too); anyone else joined on the day, and attended."""
    invited = set(invitees)
    invited_agencies = {i.agency for i in invited}
    recorded: set[tuple[Agency, UUID | None]] = set()
    for n, entry in enumerate(attendance):
        key = (entry.agency, entry.contact_id)
        name = f"attendance.{n}"
        if key in recorded:
            raise Invalid(f"{name}: attendance for {_who(*key)} is recorded twice", field=name)
        recorded.add(key)
        was_invited = (
            Invitee(*key) in invited or Invitee(entry.agency) in invited
            if entry.contact_id is not None
            else entry.agency in invited_agencies
        )
        if entry.joined_on_the_day:
            if was_invited:
                raise Invalid(
                    f"{name}.joined_on_the_day: {_who(*key)} was invited",
                    field=f"{name}.joined_on_the_day",
                )
            if entry.attendance != Attendance.ATTENDED:
                raise Invalid(
                    f"{name}.attendance: someone who joined on the day attended",
                    field=f"{name}.attendance",
                )
        elif not was_invited:
            raise Invalid(
                f"{name}: {_who(*key)} was not invited; say joined_on_the_day "
                "if they joined on the day",
                field=name,
            )
    missing = [
        i
        for i in invitees
        if (i.agency, i.contact_id) not in recorded
        and not (i.contact_id is None and any(a == i.agency for a, _ in recorded))
    ]
    if missing:
        who = ", ".join(_who(i.agency, i.contact_id) for i in missing)
        raise Invalid(f"attendance: no attendance recorded for invited {who}", field="attendance")


class InviteeIn(BaseModel):
    """An agency to invite, and the named contact there (partner directory id) if known."""

    agency: Agency
    contact_id: UUID | None = None

    def to_invitee(self) -> Invitee:
        """The value object."""
        return Invitee(self.agency, self.contact_id)


class AttendanceIn(BaseModel):
    """Whether an invited agency or contact came (or someone who joined on the day)."""

    agency: Agency
    contact_id: UUID | None = None
    attendance: Attendance
    joined_on_the_day: bool = False

    def to_record(self) -> AttendanceRecord:
        """The value object."""
        return AttendanceRecord(
            self.agency, self.contact_id, self.attendance, self.joined_on_the_day
        )


# -- the request and response models both services' meetings take --------------------------


def _https(value: str) -> str:
    if not value.startswith("https://") or len(value) < 12 or any(c.isspace() for c in value):
        raise ValueError("must be an https:// link")
    return value


Venue = Annotated[str, Field(min_length=1, max_length=500), SINGLE_LINE, SINGLE_LINE_DOC]
MeetingLink = Annotated[str, Field(max_length=1_000), AfterValidator(_https)]
Reason = Annotated[str, Field(min_length=3, max_length=2_000), MULTI_LINE]
MAX_INVITEES = 50


class MeetingScheduleIn(BaseModel):
    """Schedule a multi-agency meeting: in person (venue), online (link) or both."""

    starts_at: MeetingStart
    venue: Venue | None = None
    online_link: MeetingLink | None = None
    invitees: list[InviteeIn] = Field(min_length=1, max_length=MAX_INVITEES)
    expected_version: ExpectedVersion = None


class MeetingRescheduleIn(BaseModel):
    """Move a scheduled meeting to another time, with a reason."""

    starts_at: MeetingStart
    reason: Reason
    expected_version: ExpectedVersion = None


class ReasonIn(BaseModel):
    """A change that needs a reason."""

    reason: Reason
    expected_version: ExpectedVersion = None


class AttendanceOut(BaseModel):
    """Attendance of one agency or contact."""

    agency: Agency
    contact_id: UUID | None
    attendance: Attendance
    joined_on_the_day: bool
