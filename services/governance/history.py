"""A child's history across every service store: each event with who, when, what and why."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.persistence import Notification

from shared.domain import Meta
from shared.store import EcmApplication, PersonalDataMapper, aggregate_of, child_of

if TYPE_CHECKING:
    from services.plugin import Resources

BATCH = 500
HIDDEN = frozenset({"originator_id", "originator_version", "timestamp", "meta",
                    "originator_topic"})


@dataclass
class HistoryEntry:
    """One stored event about the child, in the order its service stored it."""

    service: str
    notification_id: int
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    event_type: str
    occurred_at: str
    actor_id: str | None
    actor_role: str | None
    reason: str | None
    correlation_id: str | None
    causation_id: str | None
    data: dict[str, Any]
    personal_fields: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "service": self.service, "notification_id": self.notification_id,
            "aggregate_type": self.aggregate_type, "aggregate_id": self.aggregate_id,
            "aggregate_version": self.aggregate_version, "event_type": self.event_type,
            "occurred_at": self.occurred_at,
            "actor": {"id": self.actor_id, "role": self.actor_role},
            "reason": self.reason, "correlation_id": self.correlation_id,
            "causation_id": self.causation_id, "data": self.data,
            "personal_fields": self.personal_fields,
        }


def plain(value: Any) -> Any:
    """A JSON-ready copy of a value from an event or aggregate."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Meta):
        return value.as_dict()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if hasattr(value, "__dict__"):
        return {k: plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


def mentions(value: Any, child: str) -> bool:
    """True when `value` is the child's id or a list holding it (e.g. supervision notes)."""
    if isinstance(value, UUID | str):
        return str(value) == child
    if isinstance(value, list | tuple):
        return any(isinstance(v, UUID | str) and str(v) == child for v in value)
    return False


def notifications(app: EcmApplication) -> Iterator[Notification]:
    """Every notification of a service's store, in order."""
    start = 1
    while True:
        batch = app.notifications(start, BATCH)
        if not batch:
            return
        yield from batch
        start = batch[-1].id + 1


def event_type_of(system: Resources, service: str, event: object) -> str:
    """The event's wire name when published, otherwise its class name."""
    contracts = system.contracts.get(service)
    mapping = contracts.by_event.get(type(event)) if contracts is not None else None
    if mapping is not None:
        return mapping.event_type
    return type(event).__qualname__.replace(".", "")


def child_history(system: Resources, child_id: UUID, *, decrypt: bool) -> list[HistoryEntry]:
    """Every event about the child in every store; personal fields decrypted or left out."""
    child = str(child_id)
    entries: list[HistoryEntry] = []
    for service, app in system.every_store().items():
        mapper = cast(PersonalDataMapper, app.mapper)
        for notification in notifications(app):
            sealed = mapper.to_sealed_domain_event(notification)
            state = vars(sealed)
            owner = child_of(type(sealed), state, notification.originator_id)
            if str(owner) != child and not any(mentions(v, child) for v in state.values()):
                continue
            event = mapper.to_domain_event(notification) if decrypt else sealed
            entries.append(_entry(system, service, notification, event, decrypt))
    return entries


def _entry(system: Resources, service: str, notification: Notification, event: object,
           decrypt: bool) -> HistoryEntry:
    state = vars(event)
    owner = aggregate_of(type(event))
    personal = sorted(owner.personal_fields.intersection(state)) if owner else []
    items = {k: keys for k, keys in (owner.personal_item_fields if owner else {}).items()
             if isinstance(state.get(k), list)}
    data = {k: plain(v) for k, v in state.items()
            if k not in HIDDEN and (decrypt or k not in personal)}
    if not decrypt:  # the audit view: personal values inside list items are left out too
        for name, keys in items.items():
            data[name] = [{k: v for k, v in item.items() if k not in keys}
                          for item in data[name]]
    personal += [f"{name}[].{key}" for name, keys in sorted(items.items()) for key in sorted(keys)]
    meta = state.get("meta")
    aggregate_type = type(event).__qualname__.split(".")[0]
    return HistoryEntry(
        service=service,
        notification_id=notification.id,
        aggregate_type=aggregate_type,
        aggregate_id=str(notification.originator_id),
        aggregate_version=notification.originator_version,
        event_type=event_type_of(system, service, event),
        occurred_at=plain(state.get("timestamp")),
        actor_id=meta.actor_id if isinstance(meta, Meta) else None,
        actor_role=meta.actor_role if isinstance(meta, Meta) else None,
        reason=meta.reason if isinstance(meta, Meta) else None,
        correlation_id=meta.correlation_id if isinstance(meta, Meta) else None,
        causation_id=meta.causation_id if isinstance(meta, Meta) else None,
        data=data,
        personal_fields=personal,
    )


def current_records(system: Resources, entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    """The current state of every aggregate the child's events belong to (decrypted)."""
    seen: dict[tuple[str, str], None] = {}
    for entry in entries:
        seen.setdefault((entry.service, entry.aggregate_id), None)
    records = []
    stores = system.every_store()
    for service, aggregate_id in seen:
        app = stores[service]
        record: dict[str, Any] = {"service": service, "aggregate_id": aggregate_id}
        try:
            aggregate: Any = app.repository.get(UUID(aggregate_id))
        except Exception as e:  # the history above is still complete; say what failed
            record.update(aggregate_type=None, error=f"{type(e).__name__}: could not be loaded")
        else:
            record.update(
                aggregate_type=type(aggregate).__name__, version=aggregate.version,
                created_on=plain(aggregate.created_on), modified_on=plain(aggregate.modified_on),
                state={k: plain(v) for k, v in vars(aggregate).items() if not k.startswith("_")},
            )
        records.append(record)
    return records
