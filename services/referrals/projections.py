"""Read model of referrals for lists and caseloads, built from the stream."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from shared.consumer import SqlProjection
from shared.contracts import Envelope
from shared.domain import MissingPrecondition

metadata = MetaData()
referral_list = Table(
    "referral_list",
    metadata,
    Column("referral_id", String(36), primary_key=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("area", String(40), nullable=False, index=True),
    Column("case_manager_id", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("consent", String(20), nullable=True),
    Column("expected_involvement_months", Integer, nullable=False),
    Column("referred_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("status_version", Integer, nullable=False),
    Column("consent_version", Integer, nullable=False),
    Column("involvement_version", Integer, nullable=False),
    Column("area_version", Integer, nullable=False),
)

STATUS_BY_EVENT = {
    "ReferralAccepted": "accepted",
    "ConsultationOffered": "consultation",
    "ReferralDeclined": "declined",
    "ReferralWithdrawn": "withdrawn",
    "ReferralClosed": "closed",
    "ReferralReopened": "accepted",
}


class ReferralListProjection(SqlProjection):
    """One row per referral: area, status, consent, dates. No personal data."""

    name = "referrals-list"
    subject = "ecm.referrals.>"
    tables = (referral_list,)

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        data = envelope.data
        rid = str(envelope.aggregate_id)
        if envelope.event_type == "ReferralMade":
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            conn.execute(
                insert(referral_list)
                .values(
                    referral_id=rid,
                    child_id=str(data["child_id"]),
                    area=data["area"],
                    case_manager_id=data["case_manager_id"],
                    status="referred",
                    consent=None,
                    expected_involvement_months=data["expected_involvement_months"],
                    referred_at=envelope.occurred_at,
                    updated_at=envelope.occurred_at,
                    status_version=envelope.aggregate_version,
                    consent_version=0,
                    involvement_version=envelope.aggregate_version,
                    area_version=envelope.aggregate_version,
                )
                .on_conflict_do_nothing(index_elements=["referral_id"])
            )
            return
        version = envelope.aggregate_version
        if envelope.event_type in STATUS_BY_EVENT:
            column = referral_list.c.status_version
            changes: dict[str, Any] = {
                "status": STATUS_BY_EVENT[envelope.event_type],
                "status_version": version,
            }
        elif envelope.event_type == "ConsentRecorded":
            column = referral_list.c.consent_version
            changes = {"consent": data["consent"], "consent_version": version}
        elif envelope.event_type == "ReferralAreaChanged":
            column = referral_list.c.area_version
            changes = {"area": data["area"], "area_version": version}
        elif envelope.event_type == "ReferralInvolvementCorrected":
            column = referral_list.c.involvement_version
            changes = {
                "expected_involvement_months": data["months"],
                "involvement_version": version,
            }
        else:
            return
        # Each column keeps the version that set it: in stream order every change is newer,
        # and a parked message replayed late cannot roll a column back.
        moved = conn.execute(
            update(referral_list)
            .where(referral_list.c.referral_id == rid, column < version)
            .values(**changes, updated_at=envelope.occurred_at)
        )
        if (
            moved.rowcount == 0
            and conn.execute(
                select(referral_list.c.referral_id).where(referral_list.c.referral_id == rid)
            ).first()
            is None
        ):
            raise MissingPrecondition(
                f"referral {rid} (for {envelope.event_type}) is not in the read model yet"
            )


def list_referrals(
    engine: Engine,
    *,
    area: str | None = None,
    status: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Referrals, newest first, filtered by area and status."""
    # The table exists from start-up (the runtime builds every read model before serving).
    query = select(referral_list).order_by(referral_list.c.referred_at.desc())
    if area:
        query = query.where(referral_list.c.area == area)
    if status:
        query = query.where(referral_list.c.status == status)
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit).offset(offset))
        return [dict(row._mapping) for row in rows]
