"""Delivery: a background loop that sends due notices through the contact's channel.

Sending never happens while an event is applied or a message consumed: the consumer only
queues notices; this loop finds the due ones, takes a lease on each (so two workers never
send the same attempt), sends, and records the outcome as an event. A crash after sending
but before recording means the notice is sent again when the lease runs out: delivery is
at least once, and every channel carries the notice id so receivers can spot a repeat.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from services.notifications.adapters import DeliveryError, Recipient, Sender
from services.notifications.adapters.email import SmtpSender
from services.notifications.adapters.govuk_notify import NotifySender
from services.notifications.adapters.webhook import WebhookSender
from services.notifications.application import NotificationsApplication
from services.notifications.content import compose
from services.notifications.domain import Channel, Notice, PartnerContact
from services.notifications.settings import NotifySettings
from shared.domain import DomainError, Meta
from shared.logs import correlation
from shared.metrics import NOTICE_DELIVERIES
from shared.wakeup import wait_for, woken_by_commits

if TYPE_CHECKING:
    from services.plugin import Resources

log = logging.getLogger("ecm.notifications.delivery")
ACTOR = "notifications-delivery"


def default_channels(settings: NotifySettings) -> dict[Channel, Sender]:
    """The real channels, configured from settings."""
    return {
        Channel.EMAIL: SmtpSender(settings),
        Channel.WEBHOOK: WebhookSender(settings),
        Channel.NOTIFY: NotifySender(settings),
    }


def recipient_of(contact: PartnerContact, keys: list[str]) -> Recipient:
    """Where a contact receives notices, with their unsealed signing keys (current first)."""
    return Recipient(
        contact_id=contact.id,
        name=contact.name,
        email=contact.email,
        webhook_url=contact.webhook_url,
        webhook_secret=keys[0] if keys else None,
        previous_webhook_secret=keys[1] if len(keys) > 1 else None,
    )


def describe(error: BaseException) -> str:
    """An error as kept on a failed notice."""
    if isinstance(error, DeliveryError):
        return str(error)
    if isinstance(error, TimeoutError):
        return "timeout: the channel did not answer in time"
    return f"{type(error).__name__}: {error}"


class DeliveryWorker:
    """Sends due notices; one instance per process."""

    def __init__(
        self, app: NotificationsApplication, channels: Mapping[Channel, Sender] | None = None
    ) -> None:
        self.app = app
        if channels is None:
            channels = default_channels(app.notify_settings)
        self.channels = dict(channels)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"

    async def deliver_due(self) -> int:
        """One round: send every notice due now; returns how many attempts were made."""
        settings = self.app.notify_settings
        await asyncio.to_thread(self.app.index.catch_up)
        due = await asyncio.to_thread(self.app.index.due, datetime.now(UTC), settings.batch_size)
        if not due:
            return 0
        limit = asyncio.Semaphore(settings.concurrency)

        async def one(notice_id: UUID) -> bool:
            async with limit:
                try:
                    return await self.deliver(notice_id)
                except Exception:
                    log.exception("notice %s: delivery round failed; it stays due", notice_id)
                    return False

        results = await asyncio.gather(*(one(nid) for nid in due))
        return sum(results)

    async def deliver(self, notice_id: UUID) -> bool:
        """Attempt one notice if it is due and not leased elsewhere; True if attempted."""
        settings = self.app.notify_settings
        now = datetime.now(UTC)
        until = now + timedelta(seconds=settings.lease_seconds)
        if not await asyncio.to_thread(self.app.index.claim, notice_id, self.holder, now, until):
            return False
        try:
            notice = await asyncio.to_thread(self.app.get_notice, notice_id)
            if not notice.is_due(now):
                return False  # the index was behind: already sent, acknowledged or not yet due
            await self._attempt(notice)
            return True
        finally:
            await asyncio.to_thread(self.app.index.release, notice_id, self.holder)

    async def _attempt(self, notice: Notice) -> None:
        with correlation(notice.source_message_id):
            await self._attempt_logged(notice)

    async def _attempt_logged(self, notice: Notice) -> None:
        settings = self.app.notify_settings
        meta = Meta(ACTOR, "system", notice.source_message_id, str(notice.id))
        channel: Channel | None = None
        try:
            contact = await asyncio.to_thread(self.app.find_partner, notice.contact_id)
            if contact is None:
                raise DeliveryError("contact_id: the contact is not in the partner directory")
            channel = Channel(contact.preferred_channel)
            sender = self.channels.get(channel)
            if sender is None:
                raise DeliveryError(f"channel: {channel} is not available")
            message = compose(
                notice,
                settings.public_base_url,
                settings.team_contact,
                settings.partner_link_secret,
            )
            reference = await asyncio.wait_for(
                sender.send(
                    message,
                    recipient_of(contact, self.app.signing_keys_of(contact, datetime.now(UTC))),
                    notice.attempts + 1,
                ),
                settings.send_timeout_seconds + 5,
            )
        except Exception as error:
            NOTICE_DELIVERIES.labels(str(channel or "none"), "failed").inc()
            log.warning(
                "notice %s: attempt %d failed: %s", notice.id, notice.attempts + 1, describe(error)
            )
            await self._record(
                self.app.record_failure,
                notice.id,
                describe(error),
                datetime.now(UTC),
                meta,
                notice.version,
            )
            return
        NOTICE_DELIVERIES.labels(str(channel), "sent").inc()
        await self._record(
            self.app.record_sent,
            notice.id,
            channel,
            reference,
            datetime.now(UTC),
            meta,
            notice.version,
        )

    async def _record(self, use_case: Callable[..., int], *args: object) -> None:
        try:
            await asyncio.to_thread(use_case, *args)
        except DomainError as error:
            # Acknowledged or recorded by someone else meanwhile: their event stands.
            log.info("notice %s: outcome not recorded: %s", args[0], error.message)


async def run_delivery(resources: Resources, stop: asyncio.Event) -> None:
    """The notifications background job: deliver due notices until `stop` is set.

    Woken when the notifications application commits (a notice queued, an outcome
    recorded), so a queued notice goes out at once; `poll_seconds` is only the fallback
    (retries coming due, writers in another process)."""
    app = resources.app(NotificationsApplication)
    worker = DeliveryWorker(app)
    async with woken_by_commits(app.settings, app.service) as queued:
        while not stop.is_set():
            queued.clear()  # before looking: a notice queued from now on wakes the next round
            attempted = 0
            try:
                attempted = await worker.deliver_due()
            except Exception:
                log.exception("notifications delivery: round failed; trying again")
            if attempted == 0:
                await wait_for(queued, stop, app.notify_settings.poll_seconds)
