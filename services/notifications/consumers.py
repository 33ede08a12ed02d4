"""From the stream to notices: meetings, reviews, transitions and closures become notices.

One durable consumer reads the whole ECM stream in order (a transition must see the links
made by earlier invitations). It keeps who is linked to which child and who was invited to
which meeting (venue and link stay sealed as they came), commits that with its tracking
position, and queues one notice per (message, contact): notice ids derive from both, so a
redelivery, even past the stream's dedup window, queues nothing new.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Column,
    Connection,
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

from services.notifications.application import NoticeDraft, NotificationsApplication
from services.notifications.domain import NoticeKind
from services.notifications.index import take_write_lock
from shared.consumer import Consumer, Ledger, processed
from shared.contracts import Envelope
from shared.domain import Meta

if TYPE_CHECKING:
    from services.runtime import System

log = logging.getLogger("ecm.notifications.consumer")
NAME = "notifications-notices"
metadata = MetaData()
meetings = Table(
    "notice_meetings",
    metadata,
    Column("meeting_kind", String(20), primary_key=True),
    Column("meeting_id", String(36), primary_key=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("starts_at", String(40), nullable=True),
    Column("venue", Text, nullable=True),  # sealed under the child's key, as on the wire
    Column("online_link", Text, nullable=True),  # sealed likewise
    Column("status", String(20), nullable=False),
)
invitees = Table(
    "notice_meeting_invitees",
    metadata,
    Column("meeting_kind", String(20), primary_key=True),
    Column("meeting_id", String(36), primary_key=True),
    Column("contact_id", String(36), primary_key=True),
    Column("agency", String(40), nullable=True),
)
links = Table(
    "notice_child_contacts",
    metadata,
    Column("child_id", String(36), primary_key=True),
    Column("contact_id", String(36), primary_key=True),
    Column("agency", String(40), nullable=True),
    Column("linked_by", String(200), nullable=False),
)

FORMULATION, REVIEW = "formulation", "review"
WHAT = {
    FORMULATION: ("ECM formulation meeting", "ECM formulation meeting: new date and time",
                  "ECM formulation meeting cancelled"),
    REVIEW: ("ECM review meeting", "ECM review meeting: new date and time",
             "ECM review meeting cancelled"),
}
KINDS = {
    FORMULATION: (NoticeKind.FORMULATION_MEETING_SCHEDULED,
                  NoticeKind.FORMULATION_MEETING_RESCHEDULED,
                  NoticeKind.FORMULATION_MEETING_CANCELLED),
    REVIEW: (NoticeKind.REVIEW_SCHEDULED, NoticeKind.REVIEW_RESCHEDULED,
             NoticeKind.REVIEW_CANCELLED),
}
TRANSITION_KIND = re.compile(r"^[a-z][a-z_]{0,39}$")


class _Data(BaseModel):
    """A tolerant reader of the fields this service needs (other fields are ignored)."""

    model_config = ConfigDict(extra="ignore")


class Invitee(_Data):
    agency: str | None = None
    contact_id: UUID | None = None


class Scheduled(_Data):
    child_id: UUID
    meeting_id: UUID | None = None
    review_id: UUID | None = None
    starts_at: datetime
    venue: str | None = None
    online_link: str | None = None
    invitees: list[Invitee] = []


class Rescheduled(_Data):
    child_id: UUID
    meeting_id: UUID | None = None
    review_id: UUID | None = None
    starts_at: datetime


class Cancelled(_Data):
    child_id: UUID
    meeting_id: UUID | None = None
    review_id: UUID | None = None


class TransitionRecorded(_Data):
    child_id: UUID
    transition_id: UUID | None = None
    kind: str | None = None
    occurred_on: date


class CaseClosed(_Data):
    child_id: UUID
    closed_on: date
    safety_net_until: date | None = None


@dataclass(frozen=True)
class Plan:
    """Drafts to queue and network changes to commit for one message."""

    drafts: list[NoticeDraft]
    changes: list[Callable[[Connection], None]]


def _meeting_id(data: Scheduled | Rescheduled | Cancelled) -> str:
    value = data.meeting_id or data.review_id
    if value is None:
        raise ValueError("meeting_id/review_id: missing")
    return str(value)


class NoticeConsumer:
    """Turns stream messages into queued notices, idempotently."""

    def __init__(self, app: NotificationsApplication, ledger: Ledger) -> None:
        self.app = app
        self.ledger = ledger
        self.engine = app.reads
        metadata.create_all(self.engine)
        self.planners: dict[tuple[str, str], Callable[[Connection, Envelope], Plan]] = {
            ("formulation", "FormulationMeetingScheduled"): self._scheduled(FORMULATION),
            ("formulation", "FormulationMeetingRescheduled"): self._rescheduled(FORMULATION),
            ("formulation", "FormulationMeetingCancelled"): self._cancelled(FORMULATION),
            ("reviews", "ReviewScheduled"): self._scheduled(REVIEW),
            ("reviews", "ReviewRescheduled"): self._rescheduled(REVIEW),
            ("reviews", "ReviewCancelled"): self._cancelled(REVIEW),
            ("reviews", "TransitionRecorded"): self._transition,
            ("reviews", "CaseClosed"): self._closed,
        }

    def consumer(self) -> Consumer:
        """This handler as a durable consumer of the whole stream."""
        return Consumer(NAME, "ecm.>", self, self.ledger, self.reset)

    def reset(self) -> None:
        """Forget links, meetings and what was processed, to rebuild them from the stream.

        Replaying re-derives the same notice ids, so no notice is queued (or sent) twice.
        """
        with self.engine.begin() as conn:
            for table in (links, invitees, meetings):
                conn.execute(delete(table))
            conn.execute(delete(processed).where(processed.c.consumer == NAME))

    def __call__(self, envelope: Envelope) -> None:
        planner = self.planners.get((envelope.service, envelope.event_type))
        if planner is None:
            return
        try:
            with self.engine.begin() as conn:
                take_write_lock(conn)
                if Ledger.seen(conn, NAME, envelope.message_id):
                    return
                plan = planner(conn, envelope)
                meta = Meta("notifications", "system", envelope.correlation_id,
                            envelope.message_id)
                # Notices first: if this transaction then fails, the redelivery finds them.
                self.app.queue_notices(plan.drafts, meta)
                for change in plan.changes:
                    change(conn)
                Ledger.mark(conn, NAME, envelope.message_id)
        except IntegrityError:
            with self.engine.connect() as conn:
                if not Ledger.seen(conn, NAME, envelope.message_id):
                    raise

    # planners

    def _draft(self, envelope: Envelope, child_id: UUID, contact_id: UUID, agency: str | None,
               kind: NoticeKind, subject_id: str | None, what: str, when: str | None,
               venue: Any = None, online_link: Any = None) -> NoticeDraft:
        cipher = self.app.cipher
        return NoticeDraft(
            source_message_id=envelope.message_id, contact_id=contact_id, child_id=child_id,
            agency=agency, kind=kind, subject_id=subject_id, what=what, when=when,
            venue=cipher.open(child_id, "venue", venue) if venue else None,
            online_link=cipher.open(child_id, "online_link", online_link) if online_link
            else None,
            due_at=envelope.occurred_at.astimezone(UTC),
        )

    def _scheduled(self, meeting_kind: str) -> Callable[[Connection, Envelope], Plan]:
        def plan(conn: Connection, envelope: Envelope) -> Plan:
            data = Scheduled.model_validate(envelope.data)
            meeting_id, child = _meeting_id(data), str(data.child_id)
            contacts: dict[UUID, str | None] = {}
            for invitee in data.invitees:
                if invitee.contact_id is not None and invitee.contact_id not in contacts:
                    contacts[invitee.contact_id] = invitee.agency
            drafts = [
                self._draft(envelope, data.child_id, contact_id, agency,
                            KINDS[meeting_kind][0], meeting_id, WHAT[meeting_kind][0],
                            data.starts_at.isoformat(), data.venue, data.online_link)
                for contact_id, agency in contacts.items()
            ]

            def change(c: Connection) -> None:
                _upsert(c, meetings, {"meeting_kind": meeting_kind, "meeting_id": meeting_id},
                        {"child_id": child, "starts_at": data.starts_at.isoformat(),
                         "venue": data.venue, "online_link": data.online_link,
                         "status": "scheduled"})
                for contact_id, agency in contacts.items():
                    _upsert(c, invitees, {"meeting_kind": meeting_kind, "meeting_id": meeting_id,
                                          "contact_id": str(contact_id)}, {"agency": agency})
                    _insert_missing(c, links, {"child_id": child, "contact_id": str(contact_id)},
                                    {"agency": agency, "linked_by": envelope.message_id})

            return Plan(drafts, [change])

        return plan

    def _invited(self, conn: Connection, meeting_kind: str,
                 meeting_id: str) -> tuple[Any, list[tuple[UUID, str | None]]]:
        meeting = conn.execute(select(meetings).where(
            meetings.c.meeting_kind == meeting_kind, meetings.c.meeting_id == meeting_id
        )).first()
        rows = conn.execute(select(invitees.c.contact_id, invitees.c.agency).where(
            invitees.c.meeting_kind == meeting_kind, invitees.c.meeting_id == meeting_id
        ).order_by(invitees.c.contact_id))
        return meeting, [(UUID(r.contact_id), r.agency) for r in rows]

    def _rescheduled(self, meeting_kind: str) -> Callable[[Connection, Envelope], Plan]:
        def plan(conn: Connection, envelope: Envelope) -> Plan:
            data = Rescheduled.model_validate(envelope.data)
            meeting_id = _meeting_id(data)
            meeting, invited = self._invited(conn, meeting_kind, meeting_id)
            if meeting is None:
                log.warning("%s %s rescheduled but never seen scheduled: nobody to tell",
                            meeting_kind, meeting_id)
                return Plan([], [])
            drafts = [
                self._draft(envelope, data.child_id, contact_id, agency, KINDS[meeting_kind][1],
                            meeting_id, WHAT[meeting_kind][1], data.starts_at.isoformat(),
                            meeting.venue, meeting.online_link)
                for contact_id, agency in invited
            ]

            def change(c: Connection) -> None:
                c.execute(update(meetings).where(
                    meetings.c.meeting_kind == meeting_kind, meetings.c.meeting_id == meeting_id
                ).values(starts_at=data.starts_at.isoformat()))

            return Plan(drafts, [change])

        return plan

    def _cancelled(self, meeting_kind: str) -> Callable[[Connection, Envelope], Plan]:
        def plan(conn: Connection, envelope: Envelope) -> Plan:
            data = Cancelled.model_validate(envelope.data)
            meeting_id = _meeting_id(data)
            meeting, invited = self._invited(conn, meeting_kind, meeting_id)
            if meeting is None:
                log.warning("%s %s cancelled but never seen scheduled: nobody to tell",
                            meeting_kind, meeting_id)
                return Plan([], [])
            drafts = [
                self._draft(envelope, data.child_id, contact_id, agency, KINDS[meeting_kind][2],
                            meeting_id, WHAT[meeting_kind][2], meeting.starts_at)
                for contact_id, agency in invited
            ]

            def change(c: Connection) -> None:
                c.execute(update(meetings).where(
                    meetings.c.meeting_kind == meeting_kind, meetings.c.meeting_id == meeting_id
                ).values(status="cancelled"))

            return Plan(drafts, [change])

        return plan

    def _linked(self, conn: Connection, child_id: UUID) -> list[tuple[UUID, str | None]]:
        rows = conn.execute(select(links.c.contact_id, links.c.agency).where(
            links.c.child_id == str(child_id)
        ).order_by(links.c.contact_id))
        return [(UUID(r.contact_id), r.agency) for r in rows]

    def _transition(self, conn: Connection, envelope: Envelope) -> Plan:
        data = TransitionRecorded.model_validate(envelope.data)
        what = "ECM: a transition was recorded"
        if data.kind and TRANSITION_KIND.match(data.kind):
            what += f" ({data.kind.replace('_', ' ')})"
        subject = str(data.transition_id) if data.transition_id else None
        drafts = [
            self._draft(envelope, data.child_id, contact_id, agency,
                        NoticeKind.TRANSITION_RECORDED, subject, what,
                        data.occurred_on.isoformat())
            for contact_id, agency in self._linked(conn, data.child_id)
        ]
        return Plan(drafts, [])

    def _closed(self, conn: Connection, envelope: Envelope) -> Plan:
        data = CaseClosed.model_validate(envelope.data)
        what = "ECM involvement has ended"
        if data.safety_net_until:
            what += f"; the ECM safety net continues until {data.safety_net_until.isoformat()}"
        drafts = [
            self._draft(envelope, data.child_id, contact_id, agency, NoticeKind.CASE_CLOSED,
                        None, what, data.closed_on.isoformat())
            for contact_id, agency in self._linked(conn, data.child_id)
        ]
        return Plan(drafts, [])


def _insert_missing(conn: Connection, table: Table, key: dict[str, Any],
                    values: dict[str, Any]) -> None:
    clause = [table.c[name] == value for name, value in key.items()]
    if conn.execute(select(*[table.c[n] for n in key]).where(*clause)).first() is None:
        conn.execute(insert(table).values(**key, **values))


def _upsert(conn: Connection, table: Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    clause = [table.c[name] == value for name, value in key.items()]
    if conn.execute(update(table).where(*clause).values(**values)).rowcount == 0:
        conn.execute(insert(table).values(**key, **values))


def notifications_consumers(system: System) -> list[Consumer]:
    """The notifications service's consumers."""
    app = system.apps["notifications"]
    assert isinstance(app, NotificationsApplication)
    return [NoticeConsumer(app, system.ledger("notifications")).consumer()]
