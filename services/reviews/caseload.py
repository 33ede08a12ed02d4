"""The caseload read model: upcoming and overdue reviews per area and worker, and supervision.

Built from the reviews service's own events on the stream ("ecm.reviews.>"). Each change to a
review writes its current row and a history row stamped with the event's time, so the caseload
can be shown as it stood on a past date. Nothing personal is kept here (no venue, no notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    update,
)

from shared.consumer import SqlProjection
from shared.contracts import Envelope
from shared.domain import MissingPrecondition
from shared.store import end_of_day

CASELOAD_CONSUMER = "reviews-caseload"
CASELOAD_SUBJECT = "ecm.reviews.>"
PENDING = ("due", "scheduled")

metadata = MetaData()
cases = Table(
    "caseload_cases",
    metadata,
    Column("child_id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False),
    Column("area", String(40), nullable=False, index=True),
    Column("area_version", Integer, nullable=False, default=0),
    Column("worker_id", String(200), nullable=True),
    Column("worker_version", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_version", Integer, nullable=False),
    Column("closed_on", Date, nullable=True),
    Column("safety_net_until", Date, nullable=True),
)
_review_columns = (
    ("child_id", String(36), False),
    ("area", String(40), False),
    ("due_on", Date, False),
    ("status", String(20), False),
    ("starts_at", DateTime(timezone=True), True),
    ("scheduled_by", String(200), True),
    ("worker_id", String(200), True),
    ("overdue_raised", Boolean, False),
    ("held_on", Date, True),
    ("version", Integer, False),  # the log position of the last change applied to the row
    ("worker_version", Integer, False),  # the log position of the worker shown
    ("recorded_at", DateTime(timezone=True), False),
)
reviews = Table(
    "caseload_reviews",
    metadata,
    Column("review_id", String(36), primary_key=True),
    *(Column(name, kind, nullable=nullable) for name, kind, nullable in _review_columns),
)
review_history = Table(
    "caseload_review_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("review_id", String(36), nullable=False, index=True),
    *(Column(name, kind, nullable=nullable) for name, kind, nullable in _review_columns),
)
supervision = Table(
    "caseload_supervision",
    metadata,
    Column("session_id", String(36), primary_key=True),
    Column("practitioner_id", String(200), nullable=False, index=True),
    Column("supervisor_id", String(200), nullable=False, index=True),
    Column("held_on", Date, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("children", JSON, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)


class CaseloadStatus(StrEnum):
    """Which reviews a caseload query lists."""

    UPCOMING = "upcoming"
    OVERDUE = "overdue"


def _utc(moment: datetime) -> datetime:
    # SQLite keeps no offset: store every instant in UTC.
    return moment.astimezone(UTC)


class CaseloadProjection(SqlProjection):
    """Maintains the caseload tables from the reviews service's events.

    Messages arrive in stream order; a row still only takes a change newer than the one it
    shows, by the event's position in the reviews store's log (`notification_id`: one order
    across the case, its schedule and its interventions, which keep versions of their own), so
    a parked message replayed late cannot undo later ones. A message that needs a row that is
    not there is a MissingPrecondition.
    """

    name = CASELOAD_CONSUMER
    subject = CASELOAD_SUBJECT
    tables = (cases, reviews, review_history, supervision)
    version = 2  # 2: rows ordered by log position, not the case's version (the split)

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        handler = getattr(self, f"on_{envelope.event_type}", None)
        if handler is not None:
            handler(conn, envelope, envelope.data)

    # -------------------------------------------------------------- cases

    def on_ReviewCaseOpened(self, conn: Connection, env: Envelope, data: dict[str, Any]) -> None:
        exists = conn.execute(
            select(cases.c.child_id).where(cases.c.child_id == data["child_id"])
        ).first()
        if exists is None:
            conn.execute(
                insert(cases).values(
                    child_id=data["child_id"],
                    case_id=str(env.aggregate_id),
                    area=data["area"],
                    worker_id=None,
                    worker_version=0,
                    status="open",
                    status_version=0,
                )
            )

    def on_ReviewCaseAreaChanged(
        self, conn: Connection, env: Envelope, data: dict[str, Any]
    ) -> None:
        self._case(conn, data["child_id"])
        conn.execute(
            update(cases)
            .where(cases.c.child_id == data["child_id"], cases.c.area_version < env.notification_id)
            .values(area=data["area"], area_version=env.notification_id)
        )
        area = self._case(conn, data["child_id"])["area"]  # the newest, whatever the order
        for row in self._pending_reviews(conn, data["child_id"]):
            if row["area"] != area:
                self._change(conn, row, env, area=area)

    def on_ReviewWorkerAssigned(
        self, conn: Connection, env: Envelope, data: dict[str, Any]
    ) -> None:
        self._case(conn, data["child_id"])
        version = env.notification_id
        conn.execute(
            update(cases)
            .where(cases.c.child_id == data["child_id"], cases.c.worker_version < version)
            .values(worker_id=data["worker_id"], worker_version=version)
        )
        for row in self._pending_reviews(conn, data["child_id"]):
            if row["worker_version"] < version:
                self._change(conn, row, env, worker_id=data["worker_id"], worker_version=version)

    def on_CaseClosed(self, conn: Connection, env: Envelope, data: dict[str, Any]) -> None:
        self._case(conn, data["child_id"])
        conn.execute(
            update(cases)
            .where(
                cases.c.child_id == data["child_id"], cases.c.status_version < env.notification_id
            )
            .values(
                status="closed",
                status_version=env.notification_id,
                closed_on=date.fromisoformat(data["closed_on"]),
                safety_net_until=_date(data.get("safety_net_until")),
            )
        )
        for row in self._pending_reviews(conn, data["child_id"]):
            self._write(conn, row["review_id"], env, status="withdrawn")

    def on_CaseReopened(self, conn: Connection, env: Envelope, data: dict[str, Any]) -> None:
        self._case(conn, data["child_id"])
        conn.execute(
            update(cases)
            .where(
                cases.c.child_id == data["child_id"], cases.c.status_version < env.notification_id
            )
            .values(status="open", status_version=env.notification_id, safety_net_until=None)
        )

    # ------------------------------------------------------------ reviews

    def on_ReviewDue(self, conn: Connection, env: Envelope, data: dict[str, Any]) -> None:
        due_on = date.fromisoformat(data["due_on"])
        existing = conn.execute(
            select(reviews.c.review_id).where(reviews.c.review_id == data["review_id"])
        ).first()
        if existing is not None:  # the same review, re-dated after a cadence change
            self._write(conn, data["review_id"], env, due_on=due_on)
            return
        case = self._case(conn, data["child_id"])
        closed_since = case["status"] == "closed" and case["status_version"] > env.notification_id
        values = {
            "child_id": data["child_id"],
            "area": case["area"],
            "due_on": due_on,
            "status": "withdrawn" if closed_since else "due",
            "starts_at": None,
            "scheduled_by": None,
            "worker_id": case["worker_id"],
            "worker_version": case["worker_version"],
            "overdue_raised": False,
            "held_on": None,
            "version": env.notification_id,
            "recorded_at": _utc(env.occurred_at),
        }
        conn.execute(insert(reviews).values(review_id=data["review_id"], **values))
        conn.execute(insert(review_history).values(review_id=data["review_id"], **values))

    def on_ReviewScheduled(self, conn: Connection, env: Envelope, data: dict[str, Any]) -> None:
        self._write(
            conn,
            data["review_id"],
            env,
            status="scheduled",
            starts_at=_utc(datetime.fromisoformat(data["starts_at"])),
            scheduled_by=env.actor.id,
        )

    def on_ReviewRescheduled(self, conn: Connection, env: Envelope, data: dict[str, Any]) -> None:
        self._write(
            conn, data["review_id"], env, starts_at=_utc(datetime.fromisoformat(data["starts_at"]))
        )

    def on_ReviewCancelled(self, conn: Connection, env: Envelope, data: dict[str, Any]) -> None:
        self._write(conn, data["review_id"], env, status="due", starts_at=None, scheduled_by=None)

    def on_ReviewHeld(self, conn: Connection, env: Envelope, data: dict[str, Any]) -> None:
        self._write(
            conn, data["review_id"], env, status="held", held_on=date.fromisoformat(data["held_on"])
        )

    def on_ReviewOverdue(self, conn: Connection, env: Envelope, data: dict[str, Any]) -> None:
        self._write(conn, data["review_id"], env, overdue_raised=True)

    # -------------------------------------------------------- supervision

    def on_SupervisionLogged(self, conn: Connection, env: Envelope, data: dict[str, Any]) -> None:
        conn.execute(
            insert(supervision).values(
                session_id=data["session_id"],
                practitioner_id=data["practitioner_id"],
                supervisor_id=data["supervisor_id"],
                held_on=date.fromisoformat(data["held_on"]),
                kind=data["kind"],
                children=list(data["children"]),
                recorded_at=_utc(env.occurred_at),
            )
        )

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _case(conn: Connection, child_id: str) -> dict[str, Any]:
        row = conn.execute(select(cases).where(cases.c.child_id == child_id)).first()
        if row is None:  # out of order: fail, the message is retried after the case opens
            raise MissingPrecondition(f"caseload: no case for child {child_id} yet")
        return dict(row._mapping)

    @staticmethod
    def _pending_reviews(conn: Connection, child_id: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(reviews).where(reviews.c.child_id == child_id, reviews.c.status.in_(PENDING))
        )
        return [dict(r._mapping) for r in rows]

    def _write(self, conn: Connection, review_id: str, env: Envelope, **values: Any) -> None:
        """Apply a change of the review's own state, unless the row shows a newer one."""
        row = conn.execute(select(reviews).where(reviews.c.review_id == review_id)).first()
        if row is None:
            raise MissingPrecondition(f"caseload: no review {review_id} yet")
        current = dict(row._mapping)
        if current["version"] >= env.notification_id:
            return  # a newer change is already shown
        self._change(conn, current, env, version=env.notification_id, **values)

    @staticmethod
    def _change(conn: Connection, current: dict[str, Any], env: Envelope, **values: Any) -> None:
        # History never shows a change earlier than one it already holds (late deliveries).
        values["recorded_at"] = max(_utc(env.occurred_at), _aware(current["recorded_at"]))
        conn.execute(
            update(reviews).where(reviews.c.review_id == current["review_id"]).values(**values)
        )
        row = conn.execute(select(reviews).where(reviews.c.review_id == current["review_id"])).one()
        conn.execute(insert(review_history).values(**dict(row._mapping)))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@dataclass(frozen=True)
class CaseloadEntry:
    """One review on a caseload."""

    review_id: UUID
    child_id: UUID
    area: str
    due_on: date
    status: str
    starts_at: datetime | None
    scheduled_by: str | None
    worker_id: str | None
    overdue: bool
    days_overdue: int
    overdue_raised: bool


class Caseload:
    """Queries over the caseload read model."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine  # its tables exist from start-up (CaseloadProjection makes them)

    def reviews(
        self,
        *,
        today: date,
        area: str | None = None,
        worker: str | None = None,
        status: CaseloadStatus | None = None,
        as_of: date | None = None,
    ) -> list[CaseloadEntry]:
        """Pending reviews (due or scheduled), upcoming or overdue on `today`, soonest first."""
        table: Any = reviews
        if as_of is not None:
            table = _as_of(as_of)
        query = select(table).where(table.c.status.in_(PENDING))
        if area:
            query = query.where(table.c.area == area)
        if worker:
            query = query.where((table.c.worker_id == worker) | (table.c.scheduled_by == worker))
        if status == CaseloadStatus.OVERDUE:
            query = query.where(table.c.due_on < today)
        elif status == CaseloadStatus.UPCOMING:
            query = query.where(table.c.due_on >= today)
        query = query.order_by(table.c.due_on, table.c.review_id)
        with self.engine.connect() as conn:
            return [_entry(dict(row._mapping), today) for row in conn.execute(query)]

    def supervision(
        self,
        *,
        practitioner_id: str | None = None,
        supervisor_id: str | None = None,
        as_of: date | None = None,
    ) -> list[dict[str, Any]]:
        """Logged supervision sessions, newest first."""
        query = select(supervision)
        if practitioner_id:
            query = query.where(supervision.c.practitioner_id == practitioner_id)
        if supervisor_id:
            query = query.where(supervision.c.supervisor_id == supervisor_id)
        if as_of is not None:
            query = query.where(supervision.c.recorded_at <= _utc(end_of_day(as_of)))
        query = query.order_by(supervision.c.held_on.desc(), supervision.c.session_id)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


def _as_of(as_of: date) -> Any:
    cutoff = _utc(end_of_day(as_of))
    last = (
        select(review_history.c.review_id, func.max(review_history.c.id).label("last_id"))
        .where(review_history.c.recorded_at <= cutoff)
        .group_by(review_history.c.review_id)
        .subquery()
    )
    return select(review_history).join(last, review_history.c.id == last.c.last_id).subquery()


def _entry(row: dict[str, Any], today: date) -> CaseloadEntry:
    overdue = row["due_on"] < today
    starts_at = row["starts_at"]
    if starts_at is not None and starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=UTC)
    return CaseloadEntry(
        review_id=UUID(row["review_id"]),
        child_id=UUID(row["child_id"]),
        area=row["area"],
        due_on=row["due_on"],
        status=row["status"],
        starts_at=starts_at,
        scheduled_by=row["scheduled_by"],
        worker_id=row["worker_id"],
        overdue=overdue,
        days_overdue=(today - row["due_on"]).days if overdue else 0,
        overdue_raised=bool(row["overdue_raised"]),
    )
