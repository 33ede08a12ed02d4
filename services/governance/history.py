"""A child's history entries (who, when, what, why) and the current records they belong to."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import Notification

from shared.domain import Meta
from shared.store import EcmApplication

if TYPE_CHECKING:
    from services.plugin import Resources

BATCH = 500


@dataclass
class HistoryEntry:
    """One change about the child: who, when, what and why (from the audit index)."""

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
            "service": self.service,
            "notification_id": self.notification_id,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "aggregate_version": self.aggregate_version,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at,
            "actor": {"id": self.actor_id, "role": self.actor_role},
            "reason": self.reason,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "data": self.data,
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


def notifications(app: EcmApplication) -> Iterator[Notification]:
    """Every notification of a service's store, in order."""
    start = 1
    while True:
        batch = app.notifications(start, BATCH)
        if not batch:
            return
        yield from batch
        start = batch[-1].id + 1


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
                aggregate_type=type(aggregate).__name__,
                version=aggregate.version,
                created_on=plain(aggregate.created_on),
                modified_on=plain(aggregate.modified_on),
                state={k: plain(v) for k, v in vars(aggregate).items() if not k.startswith("_")},
            )
        records.append(record)
    return records
