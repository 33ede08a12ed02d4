"""Personal data fails closed in the store: every text attribute of every event class is
declared `Personal` (sealed) or not personal, and the store seals exactly what is declared."""

from __future__ import annotations

import types
import typing
from enum import Enum
from typing import Annotated, Any

from eventsourcing.domain import Aggregate, event

from services.registry import all_plugins
from shared.domain import (
    NOT_PERSONAL,
    PERSONAL,
    Clear,
    EcmAggregate,
    Meta,
    NotPersonal,
    Personal,
    PersonalItems,
    event_classes_of,
    personal_data,
)

BASE_FIELDS = frozenset(typing.get_type_hints(Aggregate.Created))


def aggregates(base: type[EcmAggregate] = EcmAggregate) -> list[type[EcmAggregate]]:
    """Every aggregate class of every service."""
    all_plugins()
    found = []
    for cls in base.__subclasses__():
        found += [cls, *aggregates(cls)]
    return found


def undeclared_text(event_cls: type[Any]) -> list[str]:
    """The attributes of `event_cls` that may hold text but are declared neither way."""
    hints = typing.get_type_hints(event_cls, include_extras=True)
    return sorted(
        name
        for name, hint in hints.items()
        if name not in BASE_FIELDS and _is_undeclared_text(hint)
    )


def _is_undeclared_text(hint: Any) -> bool:
    if typing.get_origin(hint) is Annotated:
        marks = hint.__metadata__
        if any(m is PERSONAL or m is NOT_PERSONAL or isinstance(m, PersonalItems) for m in marks):
            return False
        return _is_undeclared_text(typing.get_args(hint)[0])
    if hint is Any or hint is str:
        return True
    if isinstance(hint, type) and issubclass(hint, Enum):
        return False  # a closed vocabulary, not free text
    if isinstance(hint, type) and issubclass(hint, str):
        return True
    if typing.get_origin(hint) in (
        typing.Union,
        types.UnionType,
        list,
        tuple,
        set,
        frozenset,
        dict,
    ):
        return any(_is_undeclared_text(a) for a in typing.get_args(hint) if a is not Ellipsis)
    return False


class Careless(EcmAggregate):
    class Noted(EcmAggregate.Created):
        child_id: Any
        label: NotPersonal
        note: Personal[str | None]
        tags: list[str]
        items: Annotated[list[dict[str, Any]], PersonalItems("text")]
        extra: Clear[dict[str, Any]]
        nickname: str | None
        meta: Meta

    @event(Noted)
    def __init__(
        self,
        child_id: Any,
        label: str,
        note: str | None,
        tags: list[str],
        items: list[dict[str, Any]],
        extra: dict[str, Any],
        nickname: str | None,
        meta: Meta,
    ) -> None:
        self.note = note


def test_the_walk_finds_plain_text_even_in_a_list_or_an_optional() -> None:
    assert undeclared_text(Careless.Noted) == ["child_id", "nickname", "tags"]


def test_what_an_event_class_declares_personal_is_read_from_its_annotations() -> None:
    declared = personal_data(Careless.Noted)
    assert declared.whole == {"note"}
    assert declared.items == {"items": frozenset({"text"})}


def test_every_text_attribute_of_every_event_class_is_declared_personal_or_not() -> None:
    undeclared = [
        f"{event_cls.__qualname__}.{name}"
        for aggregate in aggregates()
        if aggregate.__module__.startswith("services.")
        for event_cls in event_classes_of(aggregate)
        for name in undeclared_text(event_cls)
    ]
    assert undeclared == []


def test_the_walk_sees_every_service() -> None:
    names = {a.__name__ for a in aggregates()}
    assert {
        "Child",
        "Referral",
        "FormulationCase",
        "Consultation",
        "ReviewCase",
        "SupervisionSession",
        "PartnerContact",
        "Notice",
        "Meeting",
        "ChildContacts",
        "ChildErasure",
        "SubjectAccessDisclosure",
    } <= names


def test_an_aggregate_summary_of_personal_fields_is_derived_from_its_events() -> None:
    from services.referrals.domain import Referral

    assert Referral.personal_fields == {"reason", "trauma_history", "value", "original", "given_by"}
