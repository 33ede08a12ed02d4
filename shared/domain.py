"""Small building blocks every service's domain uses: metadata, areas, errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate


class Area(StrEnum):
    """The four Youth Justice Services of the South West ECM project."""

    BRISTOL = "bristol"
    NORTH_SOMERSET = "north_somerset"
    SOUTH_GLOUCESTERSHIRE = "south_gloucestershire"
    BANES = "banes"


class Role(StrEnum):
    """Who a user is in the ECM project."""

    CASE_MANAGER = "case_manager"
    PSYCHOLOGIST = "psychologist"
    SENIOR_PRACTITIONER = "senior_practitioner"
    PARTNER = "partner"
    EVALUATOR = "evaluator"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Meta:
    """Who, why and in which conversation a change was made; carried by every event."""

    actor_id: str
    actor_role: str
    correlation_id: str
    causation_id: str
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A plain dict, for storage and wire messages."""
        return asdict(self)

    def with_reason(self, reason: str | None) -> Meta:
        """The same metadata carrying `reason`."""
        return Meta(self.actor_id, self.actor_role, self.correlation_id, self.causation_id, reason)


class DomainError(Exception):
    """A rule of the domain refused a command."""

    status: ClassVar[int] = 409

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The thing named does not exist (or is not visible to the caller)."""

    status = 404


class RecordNotFound(NotFound):
    """The record named in the request is missing or not visible to the caller.

    Rendered identically whichever it is, so another area's record reads like a missing one.
    """


class Conflict(DomainError):
    """The command does not fit the current state (illegal transition, stale version)."""

    status = 409


class ConcurrentWrite(Conflict):
    """Another writer saved the same aggregate first; loading again and retrying may succeed."""


class MissingPrecondition(DomainError):
    """A message needs something that is not there (a case, an intervention, a meeting).

    With messages applied in stream order this should not happen; the consumer retries the
    message (holding back those behind it) and parks it after its last attempt.
    """


class Invalid(DomainError):
    """The command's content breaks a rule of the domain."""

    status = 422


class Forbidden(DomainError):
    """The caller may not do this."""

    status = 403


class ChildErased(Conflict):
    """The child's personal data was erased; nothing personal can be written again."""


class EcmAggregate(Aggregate):
    """Base aggregate: declares which event fields are personal data of the child."""

    personal_fields: ClassVar[frozenset[str]] = frozenset()
    """Event attributes that are the child's personal data (sealed whole)."""
    personal_item_fields: ClassVar[dict[str, frozenset[str]]] = {}
    """List attributes whose items (dicts) hold personal data in these keys (sealed per item)."""
    child_key_is_id: ClassVar[bool] = False

    def check_version(self, expected: int | None) -> None:
        """Refuse a command made against a stale version (optimistic concurrency)."""
        if expected is not None and expected != self.version:
            raise Conflict(
                f"expected_version: record is at version {self.version}, not {expected}",
                field="expected_version",
            )
