"""Who is invited to a multi-agency meeting or review, and who came: shared value objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from shared.fields import check_planned_day
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
    Field(description="When it starts, with a time zone offset, from 2019-01-01 to a year "
          "ahead."),
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
        return {"agency": str(self.agency), "contact_id": self.contact_id,
                "attendance": str(self.attendance), "joined_on_the_day": self.joined_on_the_day}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttendanceRecord:
        """Back from the stored form."""
        return cls(Agency(data["agency"]), data.get("contact_id"),
                   Attendance(data["attendance"]), bool(data.get("joined_on_the_day")))


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
        return AttendanceRecord(self.agency, self.contact_id, self.attendance,
                                self.joined_on_the_day)
