"""Small building blocks every service's domain uses: metadata, areas, errors."""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, ClassVar, TypeVar

from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.utils import register_topic

T = TypeVar("T")


class _Marker:
    """A mark on an annotation (see `Personal` and `NotPersonal`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


PERSONAL = _Marker("PERSONAL")
NOT_PERSONAL = _Marker("NOT_PERSONAL")

Personal = Annotated[T, PERSONAL]
"""An event attribute that is the child's personal data: sealed under the child's key at rest,
bound to the child, the event and the attribute (`Personal[str | None]`)."""

NotPersonal = Annotated[str, NOT_PERSONAL]
"""Text that is not the child's personal data (ids, labels, vocabulary), declared so."""

Clear = Annotated[T, NOT_PERSONAL]
"""Any other value declared not the child's personal data, kept in clear (`Clear[list[str]]`)."""


@dataclass(frozen=True)
class PersonalItems:
    """On a list of dicts: the keys of each item that are the child's personal data (sealed one
    by one, so the plain facts in the same item stay readable):
    `Annotated[list[dict[str, Any]], PersonalItems("note")]`."""

    keys: frozenset[str]

    def __init__(self, *keys: str) -> None:
        object.__setattr__(self, "keys", frozenset(keys))


@dataclass(frozen=True)
class PersonalData:
    """What of an event class is personal: whole attributes, and keys of list items."""

    whole: frozenset[str]
    items: dict[str, frozenset[str]]

    def __bool__(self) -> bool:
        return bool(self.whole or self.items)


def _marks(annotation: Any) -> tuple[Any, ...]:
    """The metadata of an `Annotated` hint, also inside `X | None`."""
    if typing.get_origin(annotation) is Annotated:
        return tuple(annotation.__metadata__)
    found: tuple[Any, ...] = ()
    for argument in typing.get_args(annotation):
        found += _marks(argument)
    return found


def personal_data(event_cls: Any) -> PersonalData:
    """The personal data an event class declares by type (cached per class)."""
    return _declared(event_cls)


@cache
def _declared(event_cls: Any) -> PersonalData:
    whole: set[str] = set()
    items: dict[str, frozenset[str]] = {}
    for name, hint in typing.get_type_hints(event_cls, include_extras=True).items():
        for mark in _marks(hint):
            if mark is PERSONAL:
                whole.add(name)
            elif isinstance(mark, PersonalItems):
                items[name] = mark.keys
    return PersonalData(frozenset(whole), items)


def event_classes_of(aggregate: type[Any]) -> list[type[DomainEvent]]:
    """The event classes declared on an aggregate class (not eventsourcing's base classes)."""
    return [
        value
        for name, value in vars(aggregate).items()
        if isinstance(value, type)
        and issubclass(value, DomainEvent)
        and name not in ("Event", "Created")
    ]


class _PersonalFields:
    """`personal_fields` of an aggregate: derived from its event classes' annotations."""

    def __get__(self, obj: object | None, owner: type[Any]) -> frozenset[str]:
        return frozenset().union(*(personal_data(e).whole for e in event_classes_of(owner)))


class _PersonalItemFields:
    """`personal_item_fields` of an aggregate: derived from its event classes' annotations."""

    def __get__(self, obj: object | None, owner: type[Any]) -> dict[str, frozenset[str]]:
        found: dict[str, frozenset[str]] = {}
        for event_cls in event_classes_of(owner):
            for name, keys in personal_data(event_cls).items.items():
                found[name] = found.get(name, frozenset()) | keys
        return found


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
    """Base aggregate: its events declare their personal data by type (`Personal[...]`)."""

    personal_fields = _PersonalFields()
    """Every attribute some event of the aggregate declares `Personal` (a derived summary, for
    reports; the store seals by each event class's own declaration, `personal_data`)."""
    personal_item_fields = _PersonalItemFields()
    """Every list attribute some event declares `PersonalItems`, with the keys (derived)."""
    child_key_is_id: ClassVar[bool] = False

    def check_version(self, expected: int | None) -> None:
        """Refuse a command made against a stale version (optimistic concurrency)."""
        if expected is not None and expected != self.version:
            raise Conflict(
                f"expected_version: record is at version {self.version}, not {expected}",
                field="expected_version",
            )


def register_stored_topics(module: str, *aggregates: type[Aggregate]) -> None:
    """Register the topics the events of `aggregates` are stored under (`module:Class` and
    `module:Class.Event`), so that old events keep loading after a class moves to another
    module: keep the call with the module the events were first stored from."""
    for aggregate in aggregates:
        register_topic(f"{module}:{aggregate.__qualname__}", aggregate)
        for event_cls in event_classes_of(aggregate):
            register_topic(f"{module}:{event_cls.__qualname__}", event_cls)
