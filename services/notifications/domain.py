"""Notifications domain: the partner directory, and the minimal notices sent to partners."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from shared.domain import (
    Conflict,
    EcmAggregate,
    Invalid,
    Meta,
    NotFound,
    NotPersonal,
    Personal,
    PersonalItems,
    register_stored_topics,
)
from shared.vocabulary import Agency

NOTICE_NAMESPACE = uuid5(NAMESPACE_URL, "urn:ecm-record:notifications:notice")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_ERROR_LENGTH = 1000


class Channel(StrEnum):
    """How a partner contact prefers to receive notices."""

    EMAIL = "email"
    WEBHOOK = "webhook"
    NOTIFY = "notify"


class NoticeKind(StrEnum):
    """What a notice is about."""

    FORMULATION_MEETING_SCHEDULED = "formulation_meeting_scheduled"
    FORMULATION_MEETING_RESCHEDULED = "formulation_meeting_rescheduled"
    FORMULATION_MEETING_CANCELLED = "formulation_meeting_cancelled"
    REVIEW_SCHEDULED = "review_scheduled"
    REVIEW_RESCHEDULED = "review_rescheduled"
    REVIEW_CANCELLED = "review_cancelled"
    TRANSITION_RECORDED = "transition_recorded"
    CASE_CLOSED = "case_closed"
    CASE_REOPENED = "case_reopened"
    REVIEW_HELD = "review_held"


class NoticeStatus(StrEnum):
    """Where a notice stands."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    ACKNOWLEDGED = "acknowledged"


DELIVERABLE = frozenset({NoticeStatus.QUEUED, NoticeStatus.FAILED})


def ecm_reference(child_id: UUID) -> str:
    """The pseudonymous ECM reference partners see: the first 8 characters of the child id."""
    return str(child_id)[:8]


def notice_id_for(source_message_id: str, contact_id: UUID) -> UUID:
    """One notice per (source message, contact): the id is derived from both."""
    return uuid5(NOTICE_NAMESPACE, f"{source_message_id}|{contact_id}")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a failed delivery is tried again automatically."""

    max_attempts: int
    backoff_seconds: tuple[float, ...]

    def retry_at(self, failed_attempts: int, at: datetime) -> datetime | None:
        """When to try again after `failed_attempts` failures in a row; None means give up."""
        if failed_attempts >= self.max_attempts:
            return None
        steps = self.backoff_seconds or (0.0,)
        return at + timedelta(seconds=steps[min(failed_attempts, len(steps)) - 1])


class PartnerContact(EcmAggregate):
    """A named person at a partner agency who receives notices (the aggregate id)."""

    class Registered(EcmAggregate.Created):
        """A contact added to the directory (a partner's own details: not a child's).

        Version 2: the name is stored as decided (trimmed by `register`); version 1 stored it
        as typed and trimmed it when applied, so the upcaster trims it once, on loading.
        """

        class_version = 2
        agency: Agency
        name: NotPersonal
        email: NotPersonal
        webhook_url: NotPersonal | None
        preferred_channel: Channel
        webhook_secret: NotPersonal | None
        meta: Meta

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 trimmed the name in the event body; the name is now stored trimmed."""
            state["name"] = state["name"].strip()

    @classmethod
    def register(
        cls,
        *,
        agency: Agency,
        name: str,
        email: str,
        webhook_url: str | None,
        preferred_channel: Channel,
        webhook_secret: str | None,
        meta: Meta,
    ) -> PartnerContact:
        """Add a contact after checking their details."""
        if not name.strip():
            raise Invalid("name: must not be empty", field="name")
        if not EMAIL.match(email):
            raise Invalid("email: is not an email address", field="email")
        if Channel(preferred_channel) == Channel.WEBHOOK and not webhook_url:
            raise Invalid(
                "webhook_url: is required when the preferred channel is webhook",
                field="webhook_url",
            )
        return cls(
            agency=Agency(agency),
            name=name.strip(),
            email=email,
            webhook_url=webhook_url,
            preferred_channel=Channel(preferred_channel),
            webhook_secret=webhook_secret,
            meta=meta,
        )

    @event(Registered)
    def __init__(
        self,
        agency: Agency,
        name: str,
        email: str,
        webhook_url: str | None,
        preferred_channel: Channel,
        webhook_secret: str | None,
        meta: Meta,
    ) -> None:
        self.agency = Agency(agency)
        self.name = name
        self.email = email
        self.webhook_url = webhook_url
        self.preferred_channel = Channel(preferred_channel)
        self.webhook_secret = webhook_secret
        self.previous_webhook_secret: str | None = None
        self.previous_valid_until: datetime | None = None

    def rotate_webhook_secret(
        self, sealed: str, previous_valid_until: datetime, meta: Meta
    ) -> None:
        """Sign with a new key from now; the old one (if the contact had one of their own)
        still signs too until the overlap ends."""
        self._webhook_secret_rotated(
            webhook_secret=sealed,
            previous=self.webhook_secret,
            previous_valid_until=previous_valid_until,
            meta=meta,
        )

    class WebhookSecretRotated(EcmAggregate.Event):
        webhook_secret: NotPersonal
        previous: NotPersonal | None
        previous_valid_until: datetime
        meta: Meta

    @event(WebhookSecretRotated)
    def _webhook_secret_rotated(
        self, webhook_secret: str, previous: str | None, previous_valid_until: datetime, meta: Meta
    ) -> None:
        self.webhook_secret = webhook_secret
        self.previous_webhook_secret = previous
        self.previous_valid_until = previous_valid_until

    def signing_keys(self, now: datetime) -> list[str]:
        """The sealed keys that sign at `now`: the current one, and the previous one during
        the overlap."""
        keys = [self.webhook_secret] if self.webhook_secret else []
        previous = getattr(self, "previous_webhook_secret", None)
        until = getattr(self, "previous_valid_until", None)
        if previous and until is not None and now < until:
            keys.append(previous)
        return keys


class Notice(EcmAggregate):
    """One minimal notice to one partner contact about one event in a child's ECM work."""

    @staticmethod
    def create_id(source_message_id: str, contact_id: UUID) -> UUID:
        """Derived from the source message and contact, so a redelivery finds it again."""
        return notice_id_for(source_message_id, contact_id)

    class Queued(EcmAggregate.Created):
        source_message_id: NotPersonal
        contact_id: UUID
        child_id: UUID
        agency: NotPersonal | None
        kind: NoticeKind
        subject_id: NotPersonal | None
        what: NotPersonal
        when: NotPersonal | None
        venue: Personal[str | None]
        online_link: Personal[str | None]
        due_at: datetime
        meta: Meta

    @event(Queued)
    def __init__(
        self,
        source_message_id: str,
        contact_id: UUID,
        child_id: UUID,
        agency: str | None,
        kind: NoticeKind,
        subject_id: str | None,
        what: str,
        when: str | None,
        venue: str | None,
        online_link: str | None,
        due_at: datetime,
        meta: Meta,
    ) -> None:
        self.source_message_id = source_message_id
        self.contact_id = contact_id
        self.child_id = child_id
        self.agency = agency
        self.kind = NoticeKind(kind)
        self.subject_id = subject_id
        self.what = what
        self.when = when
        self.venue = venue
        self.online_link = online_link
        self.status = NoticeStatus.QUEUED
        self.queued_at = due_at
        self.next_attempt_at: datetime | None = due_at
        self.attempts = 0
        self.failures_in_a_row = 0
        self.last_error: str | None = None
        self.channel: Channel | None = None
        self.provider_reference: str | None = None
        self.sent_at: datetime | None = None
        self.acknowledged_at: datetime | None = None
        self.actions: list[dict[str, Any]] = []

    def list_actions(self, actions: list[dict[str, Any]], meta: Meta) -> None:
        """The actions owned by the recipient's agency that the notice passes on (a review
        held), each `{"due_on": "YYYY-MM-DD", "text": ...}`."""
        if self.kind != NoticeKind.REVIEW_HELD:
            raise Invalid("actions: only a review-held notice lists actions", field="actions")
        self._actions_listed(child_id=self.child_id, actions=actions, meta=meta)

    class ActionsListed(EcmAggregate.Event):
        """The actions a review agreed for the recipient's agency: texts sealed one by one."""

        child_id: UUID
        actions: Annotated[list[dict[str, Any]], PersonalItems("text")]
        meta: Meta

    @event(ActionsListed)
    def _actions_listed(self, child_id: UUID, actions: list[dict[str, Any]], meta: Meta) -> None:
        self.actions = actions

    @property
    def reference(self) -> str:
        """The child's pseudonymous ECM reference."""
        return ecm_reference(self.child_id)

    def is_due(self, now: datetime) -> bool:
        """True when delivery should be attempted at `now`."""
        return (
            self.status in DELIVERABLE
            and self.next_attempt_at is not None
            and self.next_attempt_at <= now
        )

    def _check_deliverable(self) -> None:
        if self.status not in DELIVERABLE:
            raise Conflict(
                f"status: notice is {self.status}, not awaiting delivery", field="status"
            )

    def record_sent(
        self, channel: Channel, provider_reference: str, at: datetime, meta: Meta
    ) -> None:
        """The channel accepted the notice."""
        self._check_deliverable()
        self._sent(
            child_id=self.child_id,
            contact_id=self.contact_id,
            channel=Channel(channel),
            provider_reference=provider_reference,
            attempt=self.attempts + 1,
            sent_at=at,
            meta=meta,
        )

    class Sent(EcmAggregate.Event):
        child_id: UUID
        contact_id: UUID
        channel: Channel
        provider_reference: NotPersonal
        attempt: int
        sent_at: datetime
        meta: Meta

    @event(Sent)
    def _sent(
        self,
        child_id: UUID,
        contact_id: UUID,
        channel: Channel,
        provider_reference: str,
        attempt: int,
        sent_at: datetime,
        meta: Meta,
    ) -> None:
        self.status = NoticeStatus.SENT
        self.channel = Channel(channel)
        self.provider_reference = provider_reference
        self.attempts = attempt
        self.failures_in_a_row = 0
        self.sent_at = sent_at
        self.next_attempt_at = None

    def record_failure(self, error: str, at: datetime, policy: RetryPolicy, meta: Meta) -> None:
        """A delivery attempt failed: retry later, or wait for an operator after the last try."""
        self._check_deliverable()
        error = " ".join(error.split())[:MAX_ERROR_LENGTH] or "unknown error"
        self._failed(
            child_id=self.child_id,
            contact_id=self.contact_id,
            error=error,
            attempt=self.attempts + 1,
            failed_at=at,
            retry_at=policy.retry_at(self.failures_in_a_row + 1, at),
            meta=meta,
        )

    class Failed(EcmAggregate.Event):
        child_id: UUID
        contact_id: UUID
        error: NotPersonal
        attempt: int
        failed_at: datetime
        retry_at: datetime | None
        meta: Meta

    @event(Failed)
    def _failed(
        self,
        child_id: UUID,
        contact_id: UUID,
        error: str,
        attempt: int,
        failed_at: datetime,
        retry_at: datetime | None,
        meta: Meta,
    ) -> None:
        self.status = NoticeStatus.FAILED
        self.last_error = error
        self.attempts = attempt
        self.failures_in_a_row += 1
        self.next_attempt_at = retry_at

    @property
    def gave_up(self) -> bool:
        """True when automatic retries are exhausted and an operator must retry."""
        return self.status == NoticeStatus.FAILED and self.next_attempt_at is None

    def retry(self, at: datetime, meta: Meta) -> None:
        """An operator asks for a failed notice to be delivered again (a fresh set of tries)."""
        if self.status != NoticeStatus.FAILED:
            raise Conflict(
                f"status: only a failed notice can be retried; this one is {self.status}",
                field="status",
            )
        self._requeued(child_id=self.child_id, contact_id=self.contact_id, due_at=at, meta=meta)

    class Requeued(EcmAggregate.Event):
        child_id: UUID
        contact_id: UUID
        due_at: datetime
        meta: Meta

    @event(Requeued)
    def _requeued(self, child_id: UUID, contact_id: UUID, due_at: datetime, meta: Meta) -> None:
        self.status = NoticeStatus.QUEUED
        self.failures_in_a_row = 0
        self.next_attempt_at = due_at

    def acknowledge(self, contact_id: UUID, at: datetime, meta: Meta) -> None:
        """The partner it is addressed to confirms they have read it."""
        if contact_id != self.contact_id:
            raise NotFound(f"notice {self.id} not found")
        if self.status == NoticeStatus.ACKNOWLEDGED:
            raise Conflict("status: notice is already acknowledged", field="status")
        self._acknowledged(
            child_id=self.child_id, contact_id=self.contact_id, acknowledged_at=at, meta=meta
        )

    class Acknowledged(EcmAggregate.Event):
        child_id: UUID
        contact_id: UUID
        acknowledged_at: datetime
        meta: Meta

    @event(Acknowledged)
    def _acknowledged(
        self, child_id: UUID, contact_id: UUID, acknowledged_at: datetime, meta: Meta
    ) -> None:
        self.status = NoticeStatus.ACKNOWLEDGED
        self.acknowledged_at = acknowledged_at
        self.next_attempt_at = None


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.notifications.domain", PartnerContact, Notice)
