"""Put partner contacts into a service's copy of the partner directory, as the stream would."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from services.runtime import System
from shared.consumer import Delivery
from shared.contracts import Actor, Envelope
from shared.directory import COPIES


def partner_registered(contact_id: UUID, agency: str, notification_id: int) -> Envelope:
    """PartnerRegistered as the notifications service publishes it (id and agency only)."""
    return Envelope(
        message_id=f"notifications:{notification_id}",
        service="notifications",
        event_type="PartnerRegistered",
        event_version=1,
        notification_id=notification_id,
        aggregate_id=contact_id,
        aggregate_version=1,
        child_id=None,
        occurred_at=datetime.now(UTC),
        actor=Actor(id="admin-1", role="admin"),
        reason=None,
        correlation_id=str(uuid4()),
        causation_id=str(uuid4()),
        data={"contact_id": str(contact_id), "agency": agency},
    )


def known_partner(system: System, service: str, contact_id: UUID | str, agency: str) -> None:
    """`service`'s copy of the directory learns of the contact (the next message in order)."""
    copy = COPIES[service]
    sink = copy(system.engine(copy.schema))
    seq = sink.position() + 1
    sink.commit([Delivery(seq, partner_registered(UUID(str(contact_id)), agency, seq))])
