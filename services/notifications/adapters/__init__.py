"""Channels that carry notices to partners, behind one small interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from services.notifications.content import NoticeMessage


class DeliveryError(Exception):
    """A channel could not deliver; the message says why (kept on the notice, never on the bus)."""


@dataclass(frozen=True)
class Recipient:
    """Where one partner contact receives notices."""

    contact_id: UUID
    name: str
    email: str
    webhook_url: str | None = None
    webhook_secret: str | None = None
    previous_webhook_secret: str | None = None
    """During a rotation's overlap, the old key: the webhook is signed with both."""


class Sender(Protocol):
    """One channel: sends a notice to a recipient and returns the provider's reference."""

    name: str

    async def send(self, message: NoticeMessage, recipient: Recipient, attempt: int) -> str:
        """Deliver `message`; raise DeliveryError (or any error) when it was not accepted."""
        ...
