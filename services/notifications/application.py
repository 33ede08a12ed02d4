"""Notifications use cases: keep the partner directory, queue, deliver and acknowledge notices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.notifications.domain import (
    Channel,
    Notice,
    NoticeKind,
    NoticeStatus,
    PartnerContact,
    RetryPolicy,
    notice_id_for,
)
from services.notifications.index import NoticeIndex, NoticeRow, PartnerRow
from services.notifications.settings import NotifySettings, settings_from_env
from shared.crypto import KeyVault
from shared.domain import Meta, NotFound, RecordNotFound
from shared.settings import Settings
from shared.sql import make_engine
from shared.store import EcmApplication, retry_on_race
from shared.vocabulary import Agency


@dataclass(frozen=True)
class NoticeDraft:
    """What a notice will say, before it is queued (content already minimal)."""

    source_message_id: str
    contact_id: UUID
    child_id: UUID
    agency: str | None
    kind: NoticeKind
    subject_id: str | None
    what: str
    when: str | None
    venue: str | None
    online_link: str | None
    due_at: datetime
    actions: list[dict[str, Any]] = field(default_factory=list)
    """Actions for the recipient's agency (a review held): `{"due_on", "text"}` each."""

    @property
    def notice_id(self) -> UUID:
        """The id the notice gets (one per source message and contact)."""
        return notice_id_for(self.source_message_id, self.contact_id)


WEBHOOK_SECRET = "partner-webhook-secret"


class NotificationsApplication(EcmApplication):
    """The notifications service's event-sourced application and its read side."""

    service = "notifications"

    def __init__(
        self, settings: Settings, vault: KeyVault, notify: NotifySettings | None = None
    ) -> None:
        super().__init__(settings, vault)
        self.notify_settings = notify or settings_from_env(settings)
        self.reads = make_engine(settings, "notifications")
        self.index = NoticeIndex(self.reads, self)

    def close(self) -> None:
        super().close()
        self.reads.dispose()

    @property
    def retry_policy(self) -> RetryPolicy:
        """Automatic retries as configured."""
        notify = self.notify_settings
        return RetryPolicy(notify.max_attempts, tuple(notify.backoff_seconds))

    # partner directory

    def register_partner(
        self,
        *,
        agency: Agency,
        name: str,
        email: str,
        webhook_url: str | None,
        preferred_channel: Channel,
        webhook_secret: str | None,
        meta: Meta,
    ) -> UUID:
        """Add a named person at a partner agency to the directory."""
        # The signing key is stored sealed under the master key, never in clear in an event.
        sealed = self.vault.seal_secret(WEBHOOK_SECRET, webhook_secret) if webhook_secret else None
        contact = PartnerContact.register(
            agency=agency,
            name=name,
            email=email,
            webhook_url=webhook_url,
            preferred_channel=preferred_channel,
            webhook_secret=sealed,
            meta=meta,
        )
        self.save_all(contact)
        return contact.id

    def get_partner(self, contact_id: UUID) -> PartnerContact:
        """A partner contact, or NotFound."""
        return self.load(PartnerContact, contact_id, "partner contact")

    def webhook_secret_of(self, contact: PartnerContact) -> str | None:
        """The contact's own webhook signing key, unsealed (None: the global one applies)."""
        stored = contact.webhook_secret
        return self.vault.open_secret(WEBHOOK_SECRET, stored) if stored else None

    def signing_keys_of(self, contact: PartnerContact, now: datetime) -> list[str]:
        """The contact's own keys that sign at `now`, unsealed (current first)."""
        return [self.vault.open_secret(WEBHOOK_SECRET, k) for k in contact.signing_keys(now)]

    def rotate_webhook_secret(
        self,
        contact_id: UUID,
        new_secret: str,
        overlap: timedelta,
        now: datetime,
        meta: Meta,
        expected_version: int | None = None,
    ) -> int:
        """Give the contact a new signing key; the old one keeps signing for `overlap`."""
        contact = self.get_partner(contact_id)
        contact.check_version(expected_version)
        contact.rotate_webhook_secret(
            self.vault.seal_secret(WEBHOOK_SECRET, new_secret), now + overlap, meta
        )
        self.save_all(contact)
        return contact.version

    def find_partner(self, contact_id: UUID) -> PartnerContact | None:
        """A partner contact, or None when the directory does not know the id."""
        try:
            return self.get_partner(contact_id)
        except NotFound:
            return None

    def partners(self) -> list[PartnerRow]:
        """The partner directory."""
        self.index.catch_up()
        return self.index.partners()

    # notices

    def queue_notices(self, drafts: Sequence[NoticeDraft], meta: Meta) -> list[UUID]:
        """Queue the drafted notices that do not exist yet (idempotent); returns the new ids."""
        fresh: dict[UUID, Notice] = {}
        for draft in drafts:
            if draft.notice_id in fresh or draft.notice_id in self.repository:
                continue
            fresh[draft.notice_id] = Notice(
                source_message_id=draft.source_message_id,
                contact_id=draft.contact_id,
                child_id=draft.child_id,
                agency=draft.agency,
                kind=draft.kind,
                subject_id=draft.subject_id,
                what=draft.what,
                when=draft.when,
                venue=draft.venue,
                online_link=draft.online_link,
                due_at=draft.due_at,
                meta=meta,
            )
            if draft.actions:
                fresh[draft.notice_id].list_actions(draft.actions, meta)
        if fresh:
            self.save_all(*fresh.values())
        return list(fresh)

    def get_notice(self, notice_id: UUID) -> Notice:
        """A notice, or NotFound."""
        return self.load(Notice, notice_id, "notice")

    def notice_for_partner(self, notice_id: UUID, contact_id: UUID) -> Notice:
        """A notice addressed to `contact_id`; anyone else's is not found."""
        notice = self.get_notice(notice_id)
        if notice.contact_id != contact_id:
            raise RecordNotFound(f"notice {notice_id} not found")  # exactly like a missing one
        return notice

    def notices_for(self, contact_id: UUID) -> list[NoticeRow]:
        """The notices addressed to one contact."""
        self.index.catch_up()
        return self.index.notices_for(contact_id)

    def notices_for_child(self, child_id: UUID) -> list[dict[str, Any]]:
        """Every notice about a child, as subject access shows it (recipient by id and agency)."""
        self.index.catch_up()
        found = []
        for row in self.index.notices_about(child_id):
            notice = self.get_notice(row.notice_id)
            found.append(
                {
                    "notice_id": notice.id,
                    "contact_id": notice.contact_id,
                    "agency": notice.agency,
                    "kind": notice.kind,
                    "what": notice.what,
                    "when": notice.when,
                    "venue": notice.venue,
                    "online_link": notice.online_link,
                    "actions": notice.actions,
                    "status": notice.status,
                    "attempts": notice.attempts,
                    "channel": notice.channel,
                    "queued_at": notice.queued_at,
                    "sent_at": notice.sent_at,
                    "acknowledged_at": notice.acknowledged_at,
                }
            )
        return found

    def notices(self, status: NoticeStatus | None = None) -> list[NoticeRow]:
        """Notices for operators (e.g. every failed one)."""
        self.index.catch_up()
        return self.index.notices(status)

    @retry_on_race
    def record_sent(
        self,
        notice_id: UUID,
        channel: Channel,
        provider_reference: str,
        at: datetime,
        meta: Meta,
        expected_version: int | None = None,
    ) -> int:
        """The channel accepted the notice."""
        notice = self.get_notice(notice_id)
        notice.check_version(expected_version)
        notice.record_sent(channel, provider_reference, at, meta)
        self.save_all(notice)
        return notice.version

    @retry_on_race
    def record_failure(
        self,
        notice_id: UUID,
        error: str,
        at: datetime,
        meta: Meta,
        expected_version: int | None = None,
    ) -> int:
        """A delivery attempt failed; the notice is retried later or waits for an operator."""
        notice = self.get_notice(notice_id)
        notice.check_version(expected_version)
        notice.record_failure(error, at, self.retry_policy, meta)
        self.save_all(notice)
        return notice.version

    @retry_on_race
    def retry(
        self, notice_id: UUID, at: datetime, meta: Meta, expected_version: int | None = None
    ) -> int:
        """An operator asks for a failed notice to be delivered again."""
        notice = self.get_notice(notice_id)
        notice.check_version(expected_version)
        notice.retry(at, meta)
        self.save_all(notice)
        return notice.version

    @retry_on_race
    def acknowledge(
        self,
        notice_id: UUID,
        contact_id: UUID,
        at: datetime,
        meta: Meta,
        expected_version: int | None = None,
    ) -> int:
        """The partner the notice is addressed to acknowledges it."""
        notice = self.notice_for_partner(notice_id, contact_id)
        notice.check_version(expected_version)
        notice.acknowledge(contact_id, at, meta)
        self.save_all(notice)
        return notice.version
