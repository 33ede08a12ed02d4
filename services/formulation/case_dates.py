"""Dates agree with the case: formulation work is not dated before the child's referral.

The formulation service learns when each referral was made from the referrals service's
`ReferralMade` messages, kept as a small read model of its own (referral id, child, the day
it was made in UK time), built in stream order like every read model. A report issued, or a
stage assessed, on a day before the earliest referral of the case is refused (422 naming the
field). A case whose referrals this copy does not know (yet) is not held back by it: the
check only refuses what it knows to be wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, Connection, Date, Engine, MetaData, String, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from shared.consumer import Consumer, SqlProjection
from shared.contracts import Envelope
from shared.domain import Invalid

R = TypeVar("R", bound="Engines")

if TYPE_CHECKING:
    from fastapi import Request

    from services.plugin import Engines

NAME = "formulation-referral-dates"
SUBJECT = "ecm.referrals.ReferralMade"
SCHEMA = "formulation-read"

metadata = MetaData()
referral_dates = Table(
    "formulation_referral_dates",
    metadata,
    Column("referral_id", String(36), primary_key=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("referred_on", Date, nullable=False),
)


class _ReferralMade(BaseModel):
    model_config = ConfigDict(extra="ignore")

    child_id: UUID


def uk_day(moment: datetime) -> date:
    """The day a moment fell on in the UK (the day practitioners write), UTC if unknown."""
    try:
        return moment.astimezone(ZoneInfo("Europe/London")).date()
    except ZoneInfoNotFoundError:
        return moment.astimezone(UTC).date()


class ReferralDates(SqlProjection):
    """When each referral was made (no personal data: ids and a day)."""

    name = NAME
    subject = SUBJECT
    tables = (referral_dates,)

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        if envelope.service != "referrals" or envelope.event_type != "ReferralMade":
            return
        data = _ReferralMade.model_validate(envelope.data)
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(
            insert(referral_dates)
            .values(
                referral_id=str(envelope.aggregate_id),
                child_id=str(data.child_id),
                referred_on=uk_day(envelope.occurred_at),
            )
            .on_conflict_do_nothing(index_elements=["referral_id"])
        )


class CaseDates:
    """Queries over the referral dates this service knows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine  # its table is made with the read models, when the process starts

    def referred_on(self, referral_ids: Sequence[UUID]) -> date | None:
        """The day the earliest of these referrals was made (None: none of them known)."""
        if not referral_ids:
            return None
        query = select(func.min(referral_dates.c.referred_on)).where(
            referral_dates.c.referral_id.in_([str(r) for r in referral_ids])
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return found if isinstance(found, date) else None

    def check_not_before_referral(
        self, referral_ids: Sequence[UUID], field: str, day: date
    ) -> None:
        """Refuse a day of formulation work before the case's (earliest) referral."""
        referred_on = self.referred_on(referral_ids)
        if referred_on is not None and day < referred_on:
            raise Invalid(
                f"{field}: must not be before the child's referral on {referred_on.isoformat()}",
                field=field,
            )


def with_referral_dates(consumers: Callable[[R], list[Consumer]]) -> Callable[[R], list[Consumer]]:
    """`consumers` plus the one keeping the referral dates."""

    def all_consumers(resources: R) -> list[Consumer]:
        return [*consumers(resources), ReferralDates(resources.engine(SCHEMA)).consumer()]

    return all_consumers


def check_not_before_referral(
    request: Request, referral_ids: Sequence[UUID], field: str, day: date
) -> None:
    """The route's check: `day` (of `field`) is not before the case's referral."""
    CaseDates(request.app.state.resources.engine(SCHEMA)).check_not_before_referral(
        referral_ids, field, day
    )
