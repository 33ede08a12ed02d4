"""Who must hear about what: the meetings partners were invited to and the contacts linked
to each child, kept as aggregates in the notifications store so that the notices a message
queues and what it teaches about the network commit together with its tracking record."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from shared.domain import Clear, EcmAggregate, Meta, NotPersonal, Personal, register_stored_topics

NETWORK_NAMESPACE = uuid5(NAMESPACE_URL, "urn:ecm-record:notifications:network")


@dataclass(frozen=True)
class Invited:
    """A contact invited to a meeting, with their agency."""

    contact_id: UUID
    agency: str | None


def meeting_id_for(kind: str, meeting_id: str) -> UUID:
    """The id of the invitation list of one formulation meeting or review."""
    return uuid5(NETWORK_NAMESPACE, f"meeting:{kind}:{meeting_id}")


def contacts_id_for(child_id: UUID) -> UUID:
    """The id of the list of contacts linked to one child."""
    return uuid5(NETWORK_NAMESPACE, f"contacts:{child_id}")


class Meeting(EcmAggregate):
    """A meeting partners were invited to: when and where it is, and who was invited."""

    @staticmethod
    def create_id(kind: str, meeting_id: str, **_: object) -> UUID:
        """Derived from the meeting, so the same meeting is always found again."""
        return meeting_id_for(kind, meeting_id)

    class Scheduled(EcmAggregate.Created):
        kind: NotPersonal
        meeting_id: NotPersonal
        child_id: UUID
        starts_at: NotPersonal
        venue: Personal[str | None]
        online_link: Personal[str | None]
        invited: Clear[list[dict[str, str | None]]]
        meta: Meta

    @event(Scheduled)
    def __init__(
        self,
        kind: str,
        meeting_id: str,
        child_id: UUID,
        starts_at: str,
        venue: str | None,
        online_link: str | None,
        invited: list[dict[str, str | None]],
        meta: Meta,
    ) -> None:
        self.kind = kind
        self.meeting_id = meeting_id
        self.child_id = child_id
        self.starts_at = starts_at
        self.venue = venue
        self.online_link = online_link
        self.invited = [Invited(UUID(str(i["contact_id"])), i.get("agency")) for i in invited]
        self.status = "scheduled"

    def schedule_again(
        self,
        starts_at: str,
        venue: str | None,
        online_link: str | None,
        invited: list[dict[str, str | None]],
        meta: Meta,
    ) -> None:
        """The same meeting (a review cancelled earlier) is scheduled once more."""
        self._scheduled_again(
            child_id=self.child_id,
            starts_at=starts_at,
            venue=venue,
            online_link=online_link,
            invited=invited,
            meta=meta,
        )

    class ScheduledAgain(EcmAggregate.Event):
        child_id: UUID
        starts_at: NotPersonal
        venue: Personal[str | None]
        online_link: Personal[str | None]
        invited: Clear[list[dict[str, str | None]]]
        meta: Meta

    @event(ScheduledAgain)
    def _scheduled_again(
        self,
        child_id: UUID,
        starts_at: str,
        venue: str | None,
        online_link: str | None,
        invited: list[dict[str, str | None]],
        meta: Meta,
    ) -> None:
        self.starts_at = starts_at
        self.venue = venue
        self.online_link = online_link
        self.invited = [Invited(UUID(str(i["contact_id"])), i.get("agency")) for i in invited]
        self.status = "scheduled"

    def reschedule(self, starts_at: str, meta: Meta) -> None:
        """The meeting moved."""
        self._rescheduled(child_id=self.child_id, starts_at=starts_at, meta=meta)

    class Rescheduled(EcmAggregate.Event):
        child_id: UUID
        starts_at: NotPersonal
        meta: Meta

    @event(Rescheduled)
    def _rescheduled(self, child_id: UUID, starts_at: str, meta: Meta) -> None:
        self.starts_at = starts_at

    def cancel(self, meta: Meta) -> None:
        """The meeting will not take place."""
        self._cancelled(child_id=self.child_id, meta=meta)

    class Cancelled(EcmAggregate.Event):
        child_id: UUID
        meta: Meta

    @event(Cancelled)
    def _cancelled(self, child_id: UUID, meta: Meta) -> None:
        self.status = "cancelled"


class ChildContacts(EcmAggregate):
    """The partner contacts linked to a child (by an invitation), who hear of transitions."""

    @staticmethod
    def create_id(child_id: UUID, **_: object) -> UUID:
        """One list per child."""
        return contacts_id_for(child_id)

    class Started(EcmAggregate.Created):
        child_id: UUID
        meta: Meta

    @event(Started)
    def __init__(self, child_id: UUID, meta: Meta) -> None:
        self.child_id = child_id
        self.contacts: dict[UUID, str | None] = {}

    def link(self, contact_id: UUID, agency: str | None, meta: Meta) -> bool:
        """Link a contact to the child; False when already linked."""
        if contact_id in self.contacts:
            return False
        self._linked(child_id=self.child_id, contact_id=contact_id, agency=agency, meta=meta)
        return True

    class Linked(EcmAggregate.Event):
        child_id: UUID
        contact_id: UUID
        agency: NotPersonal | None
        meta: Meta

    @event(Linked)
    def _linked(self, child_id: UUID, contact_id: UUID, agency: str | None, meta: Meta) -> None:
        self.contacts[contact_id] = agency

    def linked(self) -> list[Invited]:
        """The linked contacts, in a stable order."""
        return [Invited(c, a) for c, a in sorted(self.contacts.items(), key=lambda x: str(x[0]))]


# The topics these events are stored under: keep this module name if the classes move.
register_stored_topics("services.notifications.network", Meeting, ChildContacts)
