"""Wire contracts of the notifications service: ids and facts only, never contact details
or notice content (names, emails, webhook URLs, venues and links stay in this service)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from services.notifications.domain import Notice, PartnerContact
from shared.contracts import Contract, ContractRegistry, Mapping, NotPersonal, event_class
from shared.vocabulary import Agency


class PartnerRegisteredV1(Contract):
    """A partner contact joined the directory; other services refer to them by contact_id."""

    contact_id: UUID
    agency: Agency


class NoticeQueuedV1(Contract):
    """A notice to a partner contact was queued (the notice id is the aggregate id)."""

    child_id: UUID
    contact_id: UUID
    agency: NotPersonal | None
    kind: NotPersonal
    source_message_id: NotPersonal


class NoticeSentV1(Contract):
    """A channel accepted the notice."""

    child_id: UUID
    contact_id: UUID
    channel: NotPersonal
    attempt: int
    sent_at: datetime


class NoticeFailedV1(Contract):
    """A delivery attempt failed; `retry_at` is null when an operator must retry."""

    child_id: UUID
    contact_id: UUID
    attempt: int
    failed_at: datetime
    retry_at: datetime | None


class NoticeAcknowledgedV1(Contract):
    """The partner contact acknowledged the notice."""

    child_id: UUID
    contact_id: UUID
    acknowledged_at: datetime


def _contact_id(event: Any) -> dict[str, Any]:
    return {"contact_id": event.originator_id}


REGISTRY = ContractRegistry(
    "notifications",
    [
        Mapping(
            event_class(PartnerContact, "Registered"),
            "PartnerRegistered",
            PartnerRegisteredV1,
            extra=_contact_id,
        ),
        Mapping(event_class(Notice, "Queued"), "NoticeQueued", NoticeQueuedV1),
        Mapping(event_class(Notice, "Sent"), "NoticeSent", NoticeSentV1),
        Mapping(event_class(Notice, "Failed"), "NoticeFailed", NoticeFailedV1),
        Mapping(event_class(Notice, "Acknowledged"), "NoticeAcknowledged", NoticeAcknowledgedV1),
    ],
)
