"""Read side of the notifications store: notices and partners, following the notification log.

The index tails the service's own event store (shared/follower.py) and commits each batch of
rows together with its position, so it can always be rebuilt from the store. Delivery
leases live beside it: they are operational state, not history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
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
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from services.notifications.domain import DELIVERABLE, Notice, NoticeStatus, PartnerContact
from shared import migrations
from shared.consumer import Tracker
from shared.contracts import event_class
from shared.follower import catch_up

if TYPE_CHECKING:
    from shared.store import EcmApplication, PersonalDataMapper

INDEX = "notifications-index"
QUEUED = event_class(Notice, "Queued")
SENT = event_class(Notice, "Sent")
FAILED = event_class(Notice, "Failed")
REQUEUED = event_class(Notice, "Requeued")
ACKNOWLEDGED = event_class(Notice, "Acknowledged")
REGISTERED = event_class(PartnerContact, "Registered")
metadata = MetaData()
notice_index = Table(
    "notice_index",
    metadata,
    Column("notice_id", String(36), primary_key=True),
    Column("contact_id", String(36), nullable=False, index=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("agency", String(40), nullable=True),
    Column("kind", String(60), nullable=False),
    Column("what", String(300), nullable=False),
    Column("when", String(60), nullable=True),
    Column("status", String(20), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True, index=True),
    Column("last_error", Text, nullable=True),
    Column("queued_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
partner_index = Table(
    "partner_index",
    metadata,
    Column("contact_id", String(36), primary_key=True),
    Column("agency", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("webhook_url", String(2000), nullable=True),
    Column("preferred_channel", String(20), nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
)
leases_metadata = MetaData()  # not rebuilt from events: migrated (shared/migrations)
delivery_leases = Table(
    "notice_delivery_leases",
    leases_metadata,
    Column("notice_id", String(36), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
)


def utc(value: datetime | None) -> datetime | None:
    """A timezone-aware UTC datetime (SQLite hands back naive ones)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class NoticeRow:
    """One notice as the index holds it (no venue or link: those stay in the store)."""

    notice_id: UUID
    contact_id: UUID
    child_id: UUID
    agency: str | None
    kind: str
    what: str
    when: str | None
    status: NoticeStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    queued_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> NoticeRow:
        """From a database row."""
        queued_at = utc(row.queued_at)
        updated_at = utc(row.updated_at)
        assert queued_at is not None and updated_at is not None
        return cls(
            notice_id=UUID(row.notice_id),
            contact_id=UUID(row.contact_id),
            child_id=UUID(row.child_id),
            agency=row.agency,
            kind=row.kind,
            what=row.what,
            when=row.when,
            status=NoticeStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=utc(row.next_attempt_at),
            last_error=row.last_error,
            queued_at=queued_at,
            updated_at=updated_at,
        )


@dataclass(frozen=True)
class PartnerRow:
    """A partner contact as listed in the directory (never the webhook secret)."""

    contact_id: UUID
    agency: str
    name: str
    email: str
    webhook_url: str | None
    preferred_channel: str
    registered_at: datetime


class NoticeIndex:
    """Notices by contact and by due time, partners by name; rebuilt from the store."""

    def __init__(self, engine: Engine, app: EcmApplication, batch_size: int = 500) -> None:
        self.engine = engine
        self.app = app
        self.batch_size = batch_size
        self.tracker = Tracker(engine, INDEX)
        metadata.create_all(engine)  # the index itself is rebuilt from the store
        migrations.ensure(engine, "notifications")

    def position(self) -> int:
        """The last notification id applied."""
        return self.tracker.positions().get(self.app.service, 0)

    def catch_up(self) -> int:
        """Apply every stored event not yet in the index; returns how many were applied."""
        mapper: PersonalDataMapper = self.app.mapper  # type: ignore[assignment]
        return catch_up(
            self.tracker,
            self.app,
            lambda conn, n: self._apply(conn, mapper.to_sealed_domain_event(n)),
            self.batch_size,
        )

    def _apply(self, conn: Connection, event: Any) -> None:
        at = utc(getattr(event, "timestamp", None)) or datetime.now(UTC)
        nid = str(event.originator_id)
        rows = notice_index.c.notice_id == nid
        if isinstance(event, QUEUED):
            conn.execute(
                insert(notice_index).values(
                    notice_id=nid,
                    contact_id=str(event.contact_id),
                    child_id=str(event.child_id),
                    agency=event.agency,
                    kind=str(event.kind),
                    what=event.what,
                    when=event.when,
                    status=NoticeStatus.QUEUED.value,
                    attempts=0,
                    next_attempt_at=utc(event.due_at),
                    last_error=None,
                    queued_at=utc(event.due_at),
                    updated_at=at,
                )
            )
        elif isinstance(event, SENT):
            conn.execute(
                update(notice_index)
                .where(rows)
                .values(
                    status=NoticeStatus.SENT.value,
                    attempts=event.attempt,
                    next_attempt_at=None,
                    updated_at=at,
                )
            )
        elif isinstance(event, FAILED):
            conn.execute(
                update(notice_index)
                .where(rows)
                .values(
                    status=NoticeStatus.FAILED.value,
                    attempts=event.attempt,
                    last_error=event.error,
                    next_attempt_at=utc(event.retry_at),
                    updated_at=at,
                )
            )
        elif isinstance(event, REQUEUED):
            conn.execute(
                update(notice_index)
                .where(rows)
                .values(
                    status=NoticeStatus.QUEUED.value,
                    next_attempt_at=utc(event.due_at),
                    updated_at=at,
                )
            )
        elif isinstance(event, ACKNOWLEDGED):
            conn.execute(
                update(notice_index)
                .where(rows)
                .values(
                    status=NoticeStatus.ACKNOWLEDGED.value,
                    next_attempt_at=None,
                    updated_at=at,
                )
            )
        elif isinstance(event, REGISTERED):
            conn.execute(
                insert(partner_index).values(
                    contact_id=nid,
                    agency=str(event.agency),
                    name=event.name,
                    email=event.email,
                    webhook_url=event.webhook_url,
                    preferred_channel=str(event.preferred_channel),
                    registered_at=at,
                )
            )

    def notices_for(self, contact_id: UUID) -> list[NoticeRow]:
        """The notices addressed to one contact, newest first."""
        query = (
            select(notice_index)
            .where(notice_index.c.contact_id == str(contact_id))
            .order_by(notice_index.c.queued_at.desc(), notice_index.c.notice_id)
        )
        with self.engine.connect() as conn:
            return [NoticeRow.of(row) for row in conn.execute(query)]

    def notices_about(self, child_id: UUID) -> list[NoticeRow]:
        """The notices about one child, oldest first."""
        query = (
            select(notice_index)
            .where(notice_index.c.child_id == str(child_id))
            .order_by(notice_index.c.queued_at, notice_index.c.notice_id)
        )
        with self.engine.connect() as conn:
            return [NoticeRow.of(row) for row in conn.execute(query)]

    def notices(self, status: NoticeStatus | None = None, limit: int = 500) -> list[NoticeRow]:
        """Notices for operators, optionally of one status, oldest first."""
        query = select(notice_index).order_by(notice_index.c.queued_at, notice_index.c.notice_id)
        if status is not None:
            query = query.where(notice_index.c.status == status.value)
        with self.engine.connect() as conn:
            return [NoticeRow.of(row) for row in conn.execute(query.limit(limit))]

    def due(self, now: datetime, limit: int) -> list[UUID]:
        """Notices awaiting delivery at `now`, not claimed by a live lease, oldest first."""
        leased = select(delivery_leases.c.notice_id).where(delivery_leases.c.until > now)
        query = (
            select(notice_index.c.notice_id)
            .where(
                notice_index.c.status.in_([s.value for s in DELIVERABLE]),
                notice_index.c.next_attempt_at.is_not(None),
                notice_index.c.next_attempt_at <= now,
                notice_index.c.notice_id.not_in(leased),
            )
            .order_by(notice_index.c.next_attempt_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [UUID(nid) for nid in conn.execute(query).scalars()]

    def partners(self) -> list[PartnerRow]:
        """The partner directory, by agency and name."""
        query = select(partner_index).order_by(partner_index.c.agency, partner_index.c.name)
        with self.engine.connect() as conn:
            return [
                PartnerRow(
                    contact_id=UUID(row.contact_id),
                    agency=row.agency,
                    name=row.name,
                    email=row.email,
                    webhook_url=row.webhook_url,
                    preferred_channel=row.preferred_channel,
                    registered_at=utc(row.registered_at) or datetime.now(UTC),
                )
                for row in conn.execute(query)
            ]

    def claim(self, notice_id: UUID, holder: str, now: datetime, until: datetime) -> bool:
        """Take the lease on a notice for sending; False when another worker holds it."""
        nid = str(notice_id)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(delivery_leases).values(notice_id=nid, holder=holder, until=until)
                )
            return True
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(delivery_leases)
                .where(delivery_leases.c.notice_id == nid, delivery_leases.c.until <= now)
                .values(holder=holder, until=until)
            )
            return taken.rowcount == 1

    def release(self, notice_id: UUID, holder: str) -> None:
        """Give the lease back."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(delivery_leases).where(
                    delivery_leases.c.notice_id == str(notice_id),
                    delivery_leases.c.holder == holder,
                )
            )
