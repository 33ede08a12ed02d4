"""Sealing personal values inside list items (progress notes, action texts) per child.

The shared mapper seals whole event attributes named in `personal_fields`. A held review carries
lists whose items mix plain facts (intervention, agency, dates) with personal text, and the wire
contract wants each text sealed on its own, so this mapper seals those item fields one by one
under the child's key before the shared mapper runs, and opens them after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import StoredEvent

from shared.store import PersonalDataMapper, aggregate_of, child_of


def nested_fields(event_cls: type[object]) -> dict[str, frozenset[str]]:
    """Which list attributes of an event hold personal values, and in which item keys."""
    owner = aggregate_of(event_cls)
    return dict(getattr(owner, "nested_personal_fields", {}) or {})


class NestedSealingMapper(PersonalDataMapper):
    """The shared personal-data mapper, plus item-by-item sealing of nested personal values."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        cls = type(domain_event)
        nested = nested_fields(cls)
        state = dict(vars(domain_event))
        present = {name: keys for name, keys in nested.items() if state.get(name)}
        if present:
            child_id = child_of(cls, state, state["originator_id"])
            if child_id is None:
                raise TypeError(f"{cls.__qualname__} has personal fields but no child_id")
            for name, keys in present.items():
                state[name] = _each(state[name], keys,
                                    lambda key, value: self.fields.seal(child_id, key, value))
            sealed = object.__new__(cls)
            object.__setattr__(sealed, "__dict__", state)
            domain_event = sealed
        return super().to_stored_event(domain_event)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        event = super().to_domain_event(stored_event)
        cls = type(event)
        nested = nested_fields(cls)
        if nested:
            state = vars(event)
            child_id = child_of(cls, state, state["originator_id"])
            for name, keys in nested.items():
                if state.get(name):
                    state[name] = _each(state[name], keys,
                                        lambda key, value: self.fields.open(child_id, key, value))
        return event


def _each(items: list[dict[str, Any]], keys: frozenset[str],
          change: Callable[[str, Any], Any]) -> list[dict[str, Any]]:
    return [{k: change(k, v) if k in keys else v for k, v in item.items()} for item in items]
