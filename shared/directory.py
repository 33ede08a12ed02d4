"""A service's own copy of the partner directory, fed from the stream, to check invitations.

The partner directory belongs to the notifications service. A service that invites partner
contacts to meetings (formulation, reviews) keeps its own copy of what it needs to know (which
contact ids exist, and at which agency), built like every read model from the notifications
service's `PartnerRegistered` messages, in stream order, the rows and the position committed
together (so `ecm rebuild` and `--check` cover it). Scheduling refuses an invitee whose
`contact_id` the copy does not know (422 naming the invitee): its notice could never be sent.

The copy lags the directory by the time a message takes through the relay and the stream
(normally well under a second). A contact registered a moment ago may not have reached it
yet: the error says so, so the caller knows to try again rather than to doubt the id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, Connection, DateTime, Engine, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from shared.consumer import Consumer, SqlProjection
from shared.contracts import Envelope
from shared.domain import Invalid

R = TypeVar("R", bound="Engines")

if TYPE_CHECKING:
    from fastapi import Request

    from services.plugin import Engines

PARTNER_SUBJECT = "ecm.notifications.PartnerRegistered"

metadata = MetaData()
partner_directory = Table(
    "partner_directory",
    metadata,
    Column("contact_id", String(36), primary_key=True),
    Column("agency", String(40), nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
)


class _PartnerRegistered(BaseModel):
    """The part of PartnerRegistered a copy keeps (contact details never travel)."""

    model_config = ConfigDict(extra="ignore")

    contact_id: UUID
    agency: str


class PartnerDirectoryCopy(SqlProjection):
    """The partner contacts one service knows of: contact id and agency, nothing else."""

    service: ClassVar[str] = ""
    schema: ClassVar[str] = ""
    subject = PARTNER_SUBJECT
    tables = (partner_directory,)

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        if envelope.service != "notifications" or envelope.event_type != "PartnerRegistered":
            return
        data = _PartnerRegistered.model_validate(envelope.data)
        values = {
            "contact_id": str(data.contact_id),
            "agency": data.agency,
            "registered_at": envelope.occurred_at,
        }
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(
            insert(partner_directory)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["contact_id"],
                set_={"agency": data.agency, "registered_at": envelope.occurred_at},
            )
        )


class FormulationPartnerDirectory(PartnerDirectoryCopy):
    """The formulation service's copy (formulation meetings invite partner contacts)."""

    name = "formulation-partner-directory"
    service = "formulation"
    schema = "formulation-read"


class ReviewsPartnerDirectory(PartnerDirectoryCopy):
    """The reviews service's copy (reviews invite partner contacts)."""

    name = "reviews-partner-directory"
    service = "reviews"
    schema = "reviews-read"


COPIES: dict[str, type[PartnerDirectoryCopy]] = {
    copy.service: copy for copy in (FormulationPartnerDirectory, ReviewsPartnerDirectory)
}


class InviteeLike(Protocol):
    """An invitation as a request or the domain states it."""

    @property
    def agency(self) -> str: ...

    @property
    def contact_id(self) -> UUID | None: ...


class PartnerDirectory:
    """Queries over one service's copy of the partner directory."""

    def __init__(self, engine: Engine, copy: type[PartnerDirectoryCopy]) -> None:
        self.engine = engine
        self.copy = copy  # its table is made with the read models, when the process starts

    def agencies(self, contact_ids: Sequence[UUID]) -> dict[UUID, str]:
        """The agency of each of `contact_ids` the copy knows."""
        if not contact_ids:
            return {}
        query = select(partner_directory.c.contact_id, partner_directory.c.agency).where(
            partner_directory.c.contact_id.in_([str(c) for c in contact_ids])
        )
        with self.engine.connect() as conn:
            return {UUID(row.contact_id): row.agency for row in conn.execute(query)}

    def check_invitees(self, invitees: Sequence[InviteeLike]) -> None:
        """Refuse (422 naming the invitee) a named contact the directory does not know, or
        one invited as another agency than the one the directory has them at."""
        named = [(n, i) for n, i in enumerate(invitees) if i.contact_id is not None]
        known = self.agencies([i.contact_id for _, i in named if i.contact_id is not None])
        for n, invitee in named:
            assert invitee.contact_id is not None
            agency = known.get(invitee.contact_id)
            if agency is None:
                field = f"invitees.{n}.contact_id"
                raise Invalid(
                    f"{field}: contact {invitee.contact_id} is not in the partner directory "
                    f"as the {self.copy.service} service knows it (a contact registered in the "
                    "last few seconds may not have reached it yet: try again shortly; "
                    "otherwise register the contact first)",
                    field=field,
                )
            if agency != str(invitee.agency):
                field = f"invitees.{n}.agency"
                raise Invalid(
                    f"{field}: contact {invitee.contact_id} is at {agency} in the partner "
                    f"directory, not {invitee.agency}",
                    field=field,
                )


def directory_consumer(resources: Engines, service: str) -> Consumer:
    """The durable consumer keeping `service`'s copy of the partner directory."""
    copy = COPIES[service]
    return copy(resources.engine(copy.schema)).consumer()


def with_partner_directory(
    service: str, consumers: Callable[[R], list[Consumer]]
) -> Callable[[R], list[Consumer]]:
    """`consumers` of a service plus the one keeping its copy of the partner directory."""

    def all_consumers(resources: R) -> list[Consumer]:
        return [*consumers(resources), directory_consumer(resources, service)]

    return all_consumers


def partner_directory_of(request: Request, service: str) -> PartnerDirectory:
    """The queries over `service`'s copy in the process serving `request`."""
    copy = COPIES[service]
    return PartnerDirectory(request.app.state.resources.engine(copy.schema), copy)


def check_invitees(request: Request, service: str, invitees: Sequence[InviteeLike]) -> None:
    """Refuse invitees whose contact `service`'s copy of the partner directory does not know."""
    partner_directory_of(request, service).check_invitees(invitees)
