"""The per-child audit index: every published envelope about a child, built from the stream.

One row per (child, envelope), keyed by the envelope's own place in its store; the envelope's
data is kept as published, so personal values stay sealed under the child's key (erasing
the key erases them here too). The audit trail strips them and names them; subject access
opens them. Reading a child's history is one indexed query: its cost follows that child's
events, not the size of the stores.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from services.governance.history import HistoryEntry, plain
from shared.consumer import SqlProjection
from shared.contracts import ContractRegistry, Envelope
from shared.crypto import FieldCipher

STORE = "governance-read"
SEALED = re.compile(r"^ecm[12]:[A-Za-z0-9+/=]+$")
metadata = MetaData()
audit_index = Table(
    "audit_index",
    metadata,
    Column("child_id", String(36), primary_key=True),
    Column("service", String(64), primary_key=True),
    Column("notification_id", Integer, primary_key=True, autoincrement=False),
    Column("event_type", String(100), nullable=False),
    Column("event_version", Integer, nullable=False),
    Column("aggregate_id", String(36), nullable=False),
    Column("aggregate_version", Integer, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("actor_role", String(100), nullable=False),
    Column("reason", Text, nullable=True),
    Column("correlation_id", String(200), nullable=False),
    Column("causation_id", String(200), nullable=False),
    Column("data", Text, nullable=False),  # as published: personal values sealed
)


def children_of(envelope: Envelope) -> set[str]:
    """The children an envelope is about: its child, and those a shared record names."""
    found = {str(envelope.child_id)} if envelope.child_id is not None else set()
    listed = envelope.data.get("children")
    if isinstance(listed, list):
        found.update(str(c) for c in listed if isinstance(c, str))
    return found


class AuditIndex(SqlProjection):
    """Every envelope about each child (the audit trail's and subject access's source)."""

    name = "governance-audit"
    subject = "ecm.>"
    tables = (audit_index,)
    version = 1

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        for child in sorted(children_of(envelope)):
            conn.execute(
                insert(audit_index)
                .values(
                    child_id=child,
                    service=envelope.service,
                    notification_id=envelope.notification_id,
                    event_type=envelope.event_type,
                    event_version=envelope.event_version,
                    aggregate_id=str(envelope.aggregate_id),
                    aggregate_version=envelope.aggregate_version,
                    occurred_at=envelope.occurred_at,
                    actor_id=envelope.actor.id,
                    actor_role=envelope.actor.role,
                    reason=envelope.reason,
                    correlation_id=envelope.correlation_id,
                    causation_id=envelope.causation_id,
                    data=json.dumps(envelope.data, sort_keys=True),
                )
                .on_conflict_do_nothing(index_elements=["child_id", "service", "notification_id"])
            )


def _personal(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Split published data into what is not personal, what is sealed, and the sealed names
    (`name[].key` for keys of list items)."""
    public: dict[str, Any] = {}
    sealed: dict[str, Any] = {}
    names: list[str] = []
    for key, value in data.items():
        if isinstance(value, str) and SEALED.match(value):
            sealed[key] = value
            names.append(key)
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            items_public, item_keys = [], set()
            for item in value:
                if not isinstance(item, dict):
                    items_public.append(item)
                    continue
                kept = {}
                for k, v in item.items():
                    if isinstance(v, str) and SEALED.match(v):
                        item_keys.add(k)
                    else:
                        kept[k] = v
                items_public.append(kept)
            public[key] = items_public
            names += [f"{key}[].{k}" for k in sorted(item_keys)]
            if item_keys:
                sealed[key] = value
        else:
            public[key] = value
    return public, sealed, sorted(names)


def _opened(cipher: FieldCipher, child: str, event: str, data: dict[str, Any]) -> dict[str, Any]:
    """The data with every sealed value opened (None once the child's key is erased)."""
    opened: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str) and SEALED.match(value):
            opened[key] = cipher.open(child, key, value, event=event)
        elif isinstance(value, list):
            opened[key] = [
                {
                    k: cipher.open(child, f"{key}.{k}", v, event=event)
                    if isinstance(v, str) and SEALED.match(v)
                    else v
                    for k, v in item.items()
                }
                if isinstance(item, dict)
                else item
                for item in value
            ]
        else:
            opened[key] = value
    return opened


def child_trail(
    engine: Engine,
    contracts: Mapping[str, ContractRegistry],
    child_id: UUID,
    *,
    cipher: FieldCipher | None = None,
) -> list[HistoryEntry]:
    """The child's history from the index, oldest first: personal values left out and named,
    or opened with `cipher` (subject access)."""
    child = str(child_id)
    query = (
        select(audit_index)
        .where(audit_index.c.child_id == child)
        .order_by(audit_index.c.service, audit_index.c.notification_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    by_service: dict[str, list[Any]] = {}
    for row in rows:
        by_service.setdefault(row.service, []).append(row)
    # Each service's events in its store's (and the stream's) order; services interleaved by
    # time. Deterministic, so a rebuilt index reads exactly like the live one.
    merged = heapq.merge(*by_service.values(), key=lambda r: _utc_iso(r.occurred_at))
    entries = []
    for row in merged:
        data = json.loads(row.data)
        public, _sealed, names = _personal(data)
        registry = contracts.get(row.service)
        mapping = registry.by_type.get(row.event_type) if registry is not None else None
        aggregate_type = mapping.event_cls.__qualname__.split(".")[0] if mapping else ""
        if cipher is not None and registry is not None and mapping is not None:
            shown = plain(_opened(cipher, child, registry.sealed_event(row.event_type), data))
        else:
            shown = public
        entries.append(
            HistoryEntry(
                service=row.service,
                notification_id=int(row.notification_id),
                aggregate_type=aggregate_type,
                aggregate_id=row.aggregate_id,
                aggregate_version=int(row.aggregate_version),
                event_type=row.event_type,
                occurred_at=_utc_iso(row.occurred_at),
                actor_id=row.actor_id,
                actor_role=row.actor_role,
                reason=row.reason,
                correlation_id=row.correlation_id,
                causation_id=row.causation_id,
                data=shown,
                personal_fields=names,
            )
        )
    return entries


def _utc_iso(value: Any) -> str:
    from datetime import UTC

    if value.tzinfo is None:  # SQLite hands back naive datetimes
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(UTC).isoformat())
