"""From the stream to notices: meetings, reviews, transitions and closures become notices.

One durable consumer reads the whole ECM stream in order (a transition must see the links
made by earlier invitations). What it learns of the network (who was invited to which meeting,
which contacts are linked to which child) lives as aggregates in the notifications store, so
the notices a message queues, what it teaches about the network and the message's tracking
record commit in one transaction. A reschedule or cancellation of a meeting never seen
scheduled is a MissingPrecondition: retried, then parked, never passed over in silence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from services.notifications.application import NoticeDraft, NotificationsApplication
from services.notifications.domain import NoticeKind
from services.notifications.network import (
    ChildContacts,
    Invited,
    Meeting,
    contacts_id_for,
    meeting_id_for,
)
from shared.consumer import ApplicationSink, Consumer
from shared.contracts import Envelope, caused_by
from shared.domain import Meta, MissingPrecondition, NotFound

if TYPE_CHECKING:
    from services.plugin import Resources

NAME = "notifications-notices"
FORMULATION, REVIEW = "formulation", "review"
WHAT = {
    FORMULATION: (
        "ECM formulation meeting",
        "ECM formulation meeting: new date and time",
        "ECM formulation meeting cancelled",
    ),
    REVIEW: (
        "ECM review meeting",
        "ECM review meeting: new date and time",
        "ECM review meeting cancelled",
    ),
}
KINDS = {
    FORMULATION: (
        NoticeKind.FORMULATION_MEETING_SCHEDULED,
        NoticeKind.FORMULATION_MEETING_RESCHEDULED,
        NoticeKind.FORMULATION_MEETING_CANCELLED,
    ),
    REVIEW: (
        NoticeKind.REVIEW_SCHEDULED,
        NoticeKind.REVIEW_RESCHEDULED,
        NoticeKind.REVIEW_CANCELLED,
    ),
}
SEALED_IN = {
    ("formulation", "FormulationMeetingScheduled"): "FormulationCase.FormulationMeetingScheduled",
    ("reviews", "ReviewScheduled"): "ReviewCase.ReviewScheduled",
    ("reviews", "ReviewHeld"): "ReviewCase.ReviewHeld",
}
"""The publishing event a meeting's venue and link, or a review's action texts, are sealed in
(the binding they open with: a ciphertext from any other event or field is refused and the
message fails)."""
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


class CaseReopened(_Data):
    child_id: UUID
    reopened_on: date


class Action(_Data):
    agency: str
    due_on: date
    text: str | None = None


class ReviewHeld(_Data):
    child_id: UUID
    review_id: UUID
    held_on: date
    actions: list[Action] = []
    next_review_on: date | None = None


def _meta(envelope: Envelope) -> Meta:
    """This service acts, in the conversation (and with the reason) of the message that
    caused it."""
    return caused_by(envelope, acting_service="notifications")


def _meeting_id(data: Scheduled | Rescheduled | Cancelled) -> str:
    value = data.meeting_id or data.review_id
    if value is None:
        raise ValueError("meeting_id/review_id: missing")
    return str(value)


class NoticeConsumer:
    """Turns stream messages into queued notices and keeps the network they need."""

    def __init__(self, app: NotificationsApplication) -> None:
        self.app = app
        self.planners: dict[tuple[str, str], Callable[[Envelope], None]] = {
            ("formulation", "FormulationMeetingScheduled"): self._scheduled(FORMULATION),
            ("formulation", "FormulationMeetingRescheduled"): self._rescheduled(FORMULATION),
            ("formulation", "FormulationMeetingCancelled"): self._cancelled(FORMULATION),
            ("reviews", "ReviewScheduled"): self._scheduled(REVIEW),
            ("reviews", "ReviewRescheduled"): self._rescheduled(REVIEW),
            ("reviews", "ReviewCancelled"): self._cancelled(REVIEW),
            ("reviews", "TransitionRecorded"): self._transition,
            ("reviews", "CaseClosed"): self._closed,
            ("reviews", "CaseReopened"): self._reopened,
            ("reviews", "ReviewHeld"): self._review_held,
        }

    def sink(self, engine: Engine) -> ApplicationSink:
        """This handler as a durable consumer of the whole stream."""
        return ApplicationSink(NAME, "ecm.>", self.app, self, engine)

    def __call__(self, envelope: Envelope) -> None:
        planner = self.planners.get((envelope.service, envelope.event_type))
        if planner is not None:
            planner(envelope)

    def _queue(self, envelope: Envelope, drafts: list[NoticeDraft], *network: Any) -> None:
        self.app.queue_notices(drafts, _meta(envelope))
        if network:
            self.app.save_all(*network)

    def _draft(
        self,
        envelope: Envelope,
        child_id: UUID,
        contact: Invited,
        kind: NoticeKind,
        subject_id: str | None,
        what: str,
        when: str | None,
        venue: str | None = None,
        online_link: str | None = None,
        actions: list[dict[str, Any]] | None = None,
    ) -> NoticeDraft:
        return NoticeDraft(
            source_message_id=envelope.message_id,
            contact_id=contact.contact_id,
            child_id=child_id,
            agency=contact.agency,
            kind=kind,
            subject_id=subject_id,
            what=what,
            when=when,
            venue=venue,
            online_link=online_link,
            due_at=envelope.occurred_at.astimezone(UTC),
            actions=actions or [],
        )

    def _meeting(self, meeting_kind: str, meeting_id: str, event_type: str) -> Meeting:
        try:
            return self.app.load(Meeting, meeting_id_for(meeting_kind, meeting_id), "meeting")
        except NotFound:
            raise MissingPrecondition(
                f"{meeting_kind} meeting {meeting_id}: {event_type} for a meeting never seen "
                "scheduled (its invitations are needed to tell the invitees)",
                field="meeting_id",
            ) from None

    def _contacts(self, child_id: UUID, meta: Meta) -> ChildContacts:
        try:
            return self.app.load(ChildContacts, contacts_id_for(child_id), "contacts")
        except NotFound:
            return ChildContacts(child_id=child_id, meta=meta)

    def _scheduled(self, meeting_kind: str) -> Callable[[Envelope], None]:
        def plan(envelope: Envelope) -> None:
            data = Scheduled.model_validate(envelope.data)
            meeting_id, meta = _meeting_id(data), _meta(envelope)
            invited: dict[UUID, str | None] = {}
            for invitee in data.invitees:
                if invitee.contact_id is not None and invitee.contact_id not in invited:
                    invited[invitee.contact_id] = invitee.agency
            cipher, sealed_in = self.app.cipher, SEALED_IN[envelope.service, envelope.event_type]
            venue = cipher.open(data.child_id, "venue", data.venue, event=sealed_in)
            link = cipher.open(data.child_id, "online_link", data.online_link, event=sealed_in)
            starts_at = data.starts_at.isoformat()
            listed: list[dict[str, str | None]] = [
                {"contact_id": str(c), "agency": a} for c, a in invited.items()
            ]
            try:
                meeting = self.app.load(
                    Meeting, meeting_id_for(meeting_kind, meeting_id), "meeting"
                )
                meeting.schedule_again(starts_at, venue, link, listed, meta)
            except NotFound:
                meeting = Meeting(
                    kind=meeting_kind,
                    meeting_id=meeting_id,
                    child_id=data.child_id,
                    starts_at=starts_at,
                    venue=venue,
                    online_link=link,
                    invited=listed,
                    meta=meta,
                )
            contacts = self._contacts(data.child_id, meta)
            for contact in meeting.invited:
                contacts.link(contact.contact_id, contact.agency, meta)
            drafts = [
                self._draft(
                    envelope,
                    data.child_id,
                    contact,
                    KINDS[meeting_kind][0],
                    meeting_id,
                    WHAT[meeting_kind][0],
                    starts_at,
                    venue,
                    link,
                )
                for contact in meeting.invited
            ]
            self._queue(envelope, drafts, meeting, contacts)

        return plan

    def _rescheduled(self, meeting_kind: str) -> Callable[[Envelope], None]:
        def plan(envelope: Envelope) -> None:
            data = Rescheduled.model_validate(envelope.data)
            meeting_id = _meeting_id(data)
            meeting = self._meeting(meeting_kind, meeting_id, envelope.event_type)
            starts_at = data.starts_at.isoformat()
            meeting.reschedule(starts_at, _meta(envelope))
            drafts = [
                self._draft(
                    envelope,
                    data.child_id,
                    contact,
                    KINDS[meeting_kind][1],
                    meeting_id,
                    WHAT[meeting_kind][1],
                    starts_at,
                    meeting.venue,
                    meeting.online_link,
                )
                for contact in meeting.invited
            ]
            self._queue(envelope, drafts, meeting)

        return plan

    def _cancelled(self, meeting_kind: str) -> Callable[[Envelope], None]:
        def plan(envelope: Envelope) -> None:
            data = Cancelled.model_validate(envelope.data)
            meeting_id = _meeting_id(data)
            meeting = self._meeting(meeting_kind, meeting_id, envelope.event_type)
            meeting.cancel(_meta(envelope))
            drafts = [
                self._draft(
                    envelope,
                    data.child_id,
                    contact,
                    KINDS[meeting_kind][2],
                    meeting_id,
                    WHAT[meeting_kind][2],
                    meeting.starts_at,
                )
                for contact in meeting.invited
            ]
            self._queue(envelope, drafts, meeting)

        return plan

    def _linked(self, child_id: UUID) -> list[Invited]:
        try:
            return self.app.load(ChildContacts, contacts_id_for(child_id), "contacts").linked()
        except NotFound:
            return []  # nobody was ever invited about this child: nobody to tell

    def _transition(self, envelope: Envelope) -> None:
        data = TransitionRecorded.model_validate(envelope.data)
        what = "ECM: a transition was recorded"
        if data.kind and TRANSITION_KIND.match(data.kind):
            what += f" ({data.kind.replace('_', ' ')})"
        subject = str(data.transition_id) if data.transition_id else None
        drafts = [
            self._draft(
                envelope,
                data.child_id,
                contact,
                NoticeKind.TRANSITION_RECORDED,
                subject,
                what,
                data.occurred_on.isoformat(),
            )
            for contact in self._linked(data.child_id)
        ]
        self._queue(envelope, drafts)

    def _closed(self, envelope: Envelope) -> None:
        data = CaseClosed.model_validate(envelope.data)
        what = "ECM involvement has ended"
        if data.safety_net_until:
            what += f"; the ECM safety net continues until {data.safety_net_until.isoformat()}"
        drafts = [
            self._draft(
                envelope,
                data.child_id,
                contact,
                NoticeKind.CASE_CLOSED,
                None,
                what,
                data.closed_on.isoformat(),
            )
            for contact in self._linked(data.child_id)
        ]
        self._queue(envelope, drafts)

    def _reopened(self, envelope: Envelope) -> None:
        data = CaseReopened.model_validate(envelope.data)
        what = "ECM involvement has resumed: the case was reopened"
        drafts = [
            self._draft(
                envelope,
                data.child_id,
                contact,
                NoticeKind.CASE_REOPENED,
                None,
                what,
                data.reopened_on.isoformat(),
            )
            for contact in self._linked(data.child_id)
        ]
        self._queue(envelope, drafts)

    def _review_held(self, envelope: Envelope) -> None:
        """Every contact linked to the child hears the review was held, with the actions
        owned by their own agency and no other (texts opened here, sealed again in the notice).
        """
        data = ReviewHeld.model_validate(envelope.data)
        sealed_in = SEALED_IN[envelope.service, envelope.event_type]
        actions = [
            (
                a.agency,
                a.due_on.isoformat(),
                self.app.cipher.open(data.child_id, "actions.text", a.text, event=sealed_in),
            )
            for a in data.actions
        ]
        drafts = []
        for contact in self._linked(data.child_id):
            own = [
                {"due_on": due_on, "text": text}
                for agency, due_on, text in actions
                if contact.agency is not None and agency == contact.agency
            ]
            what = "ECM review held: " + (
                f"{len(own)} action{'' if len(own) == 1 else 's'} for your agency"
                if own
                else "no actions for your agency"
            )
            if data.next_review_on is not None:
                what += f"; next review due {data.next_review_on.isoformat()}"
            drafts.append(
                self._draft(
                    envelope,
                    data.child_id,
                    contact,
                    NoticeKind.REVIEW_HELD,
                    str(data.review_id),
                    what,
                    data.held_on.isoformat(),
                    actions=own,
                )
            )
        self._queue(envelope, drafts)


def notifications_consumers(resources: Resources) -> list[Consumer]:
    """The notifications service's consumers."""
    app = resources.app(NotificationsApplication)
    return [NoticeConsumer(app).sink(app.reads).consumer()]
