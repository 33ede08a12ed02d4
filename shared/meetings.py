"""Who is invited to a multi-agency meeting or review, and who came: shared value objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from shared.vocabulary import Agency, Attendance


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
