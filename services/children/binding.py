"""Sealed values kept as they came, with the place they were sealed for.

A ciphertext is bound to the child, the publishing event and the field (shared/crypto.py), so
a read model that keeps another service's sealed values keeps that place beside each one:
`<ciphertext>#<event>#<field>`, still recognisable as sealed, opened at read time.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from uuid import UUID

from shared.contracts import ContractRegistry, Envelope
from shared.crypto import FieldCipher, is_sealed

SEP = "#"


@cache
def _registries() -> dict[str, ContractRegistry]:
    from services.registry import all_plugins

    return {p.name: p.contracts for p in all_plugins() if p.contracts is not None}


def event_of(envelope: Envelope) -> str:
    """The event name the envelope's sealed values are bound to."""
    registry = _registries().get(envelope.service)
    try:
        return registry.sealed_event(envelope.event_type) if registry else envelope.event_type
    except KeyError:
        return envelope.event_type


def bound(envelope: Envelope, field: str, value: Any) -> Any:
    """A sealed value of `field` of the envelope's event, with its place; others unchanged."""
    if is_sealed(value):
        return f"{value}{SEP}{event_of(envelope)}{SEP}{field}"
    return value


def bind_all(envelope: Envelope, value: Any, path: tuple[str, ...] = ()) -> Any:
    """Every sealed value in a message's data, with its place (list items: `list.key`)."""
    if isinstance(value, dict):
        return {k: bind_all(envelope, v, (*path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [bind_all(envelope, v, path) for v in value]
    return bound(envelope, ".".join(path), value)


def open_bound(cipher: FieldCipher, child_id: UUID | str, value: Any) -> Any:
    """Open a value kept with its place (None once the child's key is erased)."""
    if not isinstance(value, str):
        return value
    sealed, _, place = value.partition(SEP)
    event, _, field = place.partition(SEP)
    return cipher.open(child_id, field, sealed, event=event)
