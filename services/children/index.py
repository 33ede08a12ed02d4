"""The child index: one row per child across services, and the blind indexes to find them.

Built from the whole stream ("ecm.>") in order. Personal fields (names, date of birth) are
kept as they travel, sealed under the child's key, and opened at read time; the searchable
values are kept only as keyed blind indexes (services/children/search.py). ChildErased drops
both. Nothing here reads a clock: "what needs attention" is worked out at query time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from services.children.binding import bound, open_bound
from services.children.search import (
    MAX_PREFIX,
    SEARCHABLE_FIELDS,
    SearchKey,
    digest,
    entries,
)
from shared.consumer import SqlProjection, require
from shared.contracts import Envelope
from shared.crypto import FieldCipher
from shared.domain import MissingPrecondition

CHILD_INDEX = "children-index"
STORE = "children-read"
DUE_SOON_DAYS = 14

metadata = MetaData()
child_index = Table(
    "child_index",
    metadata,
    Column("child_id", String(36), primary_key=True),
    Column("area", String(40), nullable=False, index=True),
    Column("status", String(20), nullable=False, index=True),
    Column("given_name", String(600), nullable=True),  # sealed
    Column("family_name", String(600), nullable=True),  # sealed
    Column("date_of_birth", String(600), nullable=True),  # sealed
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("referral_id", String(36), nullable=True),
    Column("referral_status", String(20), nullable=True),
    Column("consent", String(20), nullable=True),
    Column("referred_at", DateTime(timezone=True), nullable=True),
    Column("screened_at", DateTime(timezone=True), nullable=True),
    Column("case_manager_id", String(200), nullable=True, index=True),
    Column("psychologist_id", String(200), nullable=True, index=True),
    Column("worker_id", String(200), nullable=True, index=True),
    Column("formulation_opened_at", DateTime(timezone=True), nullable=True),
    Column("meeting_id", String(36), nullable=True),
    Column("meeting_at", DateTime(timezone=True), nullable=True),
    Column("meeting_held_on", Date, nullable=True),
    Column("report_version", Integer, nullable=True),
    Column("report_issued_on", Date, nullable=True),
    Column("stage", Integer, nullable=True),
    Column("stage_label", String(80), nullable=True),
    Column("review_id", String(36), nullable=True),
    Column("review_due_on", Date, nullable=True),
    Column("review_overdue", Boolean, nullable=False),
    Column("last_review_on", Date, nullable=True),
    Column("closed_on", Date, nullable=True),
    Column("safety_net_until", Date, nullable=True),
    Column("erased_on", Date, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
_history_columns = [
    Column(c.name, c.type, nullable=c.nullable, index=c.primary_key) for c in child_index.columns
]
child_index_history = Table(
    "child_index_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *_history_columns,
)
child_search = Table(
    "child_search",
    metadata,
    Column("child_id", String(36), primary_key=True),
    Column("field", String(20), primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Index("ix_child_search_lookup", "kind", "digest", "child_id"),
)


class ChildStatus(StrEnum):
    """Where a child stands across the services."""

    REGISTERED = "registered"
    REFERRED = "referred"  # awaiting consent and screening
    SCREENING = "screening"  # consent given: awaiting the screening decision
    CONSULTATION = "consultation"
    FORMULATION = "formulation"
    REVIEWS = "reviews"
    CLOSED = "closed"
    ERASED = "erased"


class Queue(StrEnum):
    """The work lists people take children from."""

    SCREENING = "screening"  # referrals awaiting screening
    MEETING_TO_SCHEDULE = "meeting_to_schedule"
    REPORT_DUE = "report_due"
    REVIEW_DUE = "review_due"
    REVIEW_OVERDUE = "review_overdue"


AWAITING_SCREENING = (ChildStatus.REFERRED, ChildStatus.SCREENING)
REFERRAL_OUTCOMES = {
    "ReferralAccepted": ("accepted", ChildStatus.FORMULATION),
    "ConsultationOffered": ("consultation", ChildStatus.CONSULTATION),
    "ReferralDeclined": ("declined", ChildStatus.CLOSED),
    "ReferralWithdrawn": ("withdrawn", ChildStatus.CLOSED),
    "ReferralClosed": ("closed", ChildStatus.CLOSED),
}
SEALED_COLUMNS = ("given_name", "family_name", "date_of_birth")


@dataclass(frozen=True)
class Searcher:
    """What the index needs to derive blind indexes: the cipher and the search key."""

    cipher: FieldCipher
    key: bytes

    def entries(self, child_id: str, field: str, sealed: Any) -> list[dict[str, str]]:
        """The blind index rows of one sealed field (none once the child's key is erased)."""
        value = open_bound(self.cipher, child_id, sealed)
        found = list(entries(self.key, field, value))
        if field == "family_name" and found:
            found += padding(self.key, child_id, MAX_PREFIX - len(found))
        return [
            {"child_id": child_id, "field": field, "kind": kind.value, "digest": d}
            for kind, d in found
        ]


def padding(key: bytes, child_id: str, count: int) -> list[tuple[SearchKey, str]]:
    """Entries no search can produce, so every family name has MAX_PREFIX entries and the
    index does not tell a name's length (derived from the key and child: replay = live)."""
    kind = SearchKey.FAMILY_NAME_PREFIX
    return [(kind, digest(key, kind, f"\x00padding:{child_id}:{n}")) for n in range(count)]


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


class ChildIndexProjection(SqlProjection):
    """Maintains the child index and its blind indexes from every service's events.

    `searcher` is bound per system (`bound_index`), so a rebuild's `type(live)(engine)`
    derives the same blind indexes as the live model.
    """

    name = CHILD_INDEX
    subject = "ecm.>"
    tables = (child_index, child_index_history, child_search)
    searcher: ClassVar[Searcher | None] = None

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        handler = getattr(self, f"on_{envelope.event_type}", None)
        if handler is None or envelope.child_id is None:
            return
        handler(conn, envelope, str(envelope.child_id), envelope.data)

    # -- referrals -------------------------------------------------------------------------

    def on_ChildRegistered(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        if (
            conn.execute(
                select(child_index.c.child_id).where(child_index.c.child_id == child)
            ).first()
            is not None
        ):
            return
        conn.execute(
            insert(child_index).values(
                child_id=child,
                area=data["area"],
                status=ChildStatus.REGISTERED.value,
                given_name=bound(env, "given_name", data.get("given_name")),
                family_name=bound(env, "family_name", data.get("family_name")),
                date_of_birth=bound(env, "date_of_birth", data.get("date_of_birth")),
                registered_at=env.occurred_at,
                review_overdue=False,
                updated_at=env.occurred_at,
            )
        )
        self._snapshot(conn, child)
        for field in SEARCHABLE_FIELDS:
            self._index(conn, child, field, bound(env, field, data.get(field)))

    def on_ChildCorrected(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        field = data["field"]
        if field not in SEARCHABLE_FIELDS:
            return
        value = bound(env, "value", data.get("value"))
        changes = {field: value} if field in SEALED_COLUMNS else {}
        self._set(conn, env, child, **changes)
        conn.execute(
            delete(child_search).where(
                child_search.c.child_id == child, child_search.c.field == field
            )
        )
        self._index(conn, child, field, value)

    def on_ChildAreaCorrected(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        self._set(conn, env, child, area=data["area"])

    def on_ReferralMade(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        self._set(
            conn,
            env,
            child,
            referral_id=str(env.aggregate_id),
            referral_status="referred",
            consent=None,
            referred_at=env.occurred_at,
            screened_at=None,
            case_manager_id=data["case_manager_id"],
            status=ChildStatus.REFERRED.value
            if self._row(conn, child)["status"] != ChildStatus.ERASED
            else ChildStatus.ERASED.value,
        )

    def on_ConsentRecorded(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        row = self._row(conn, child)
        changes: dict[str, Any] = {"consent": data["consent"]}
        if row["referral_id"] == str(env.aggregate_id) and row["status"] in AWAITING_SCREENING:
            given = data["consent"] == "given"
            changes["status"] = (ChildStatus.SCREENING if given else ChildStatus.REFERRED).value
        self._set(conn, env, child, **changes)

    def _screened(self, conn: Connection, env: Envelope, child: str, _data: dict[str, Any]) -> None:
        outcome, status = REFERRAL_OUTCOMES[env.event_type]
        row = self._row(conn, child)
        if row["referral_id"] != str(env.aggregate_id):
            return  # an older referral's outcome: the child's current one stands
        changes: dict[str, Any] = {"referral_status": outcome}
        if env.event_type != "ReferralClosed":
            changes["screened_at"] = env.occurred_at
        if env.actor.role == "psychologist" and env.event_type != "ReferralClosed":
            changes["psychologist_id"] = env.actor.id
        moves = status != ChildStatus.FORMULATION or row["status"] in AWAITING_SCREENING
        if row["status"] != ChildStatus.ERASED and moves:
            changes["status"] = status.value
        self._set(conn, env, child, **changes)

    on_ReferralAccepted = on_ConsultationOffered = on_ReferralDeclined = _screened
    on_ReferralWithdrawn = on_ReferralClosed = _screened

    def on_ReferralReopened(
        self, conn: Connection, env: Envelope, child: str, _data: dict[str, Any]
    ) -> None:
        """The referral closed with the child's case is open again with it (the case's own
        CaseReopened, earlier on the stream, has already set the child's status)."""
        if self._row(conn, child)["referral_id"] == str(env.aggregate_id):
            self._set(conn, env, child, referral_status="accepted")

    # -- formulation -----------------------------------------------------------------------

    def on_FormulationCaseOpened(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        row = self._row(conn, child)
        changes: dict[str, Any] = {"formulation_opened_at": env.occurred_at}
        if row["status"] in (ChildStatus.REGISTERED, *AWAITING_SCREENING):
            changes["status"] = ChildStatus.FORMULATION.value
        self._set(conn, env, child, **changes)

    def on_FormulationMeetingScheduled(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        self._set(
            conn,
            env,
            child,
            meeting_id=str(data["meeting_id"]),
            meeting_at=datetime.fromisoformat(data["starts_at"]),
        )

    def on_FormulationMeetingRescheduled(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        if self._row(conn, child)["meeting_id"] == str(data["meeting_id"]):
            self._set(conn, env, child, meeting_at=datetime.fromisoformat(data["starts_at"]))

    def on_FormulationMeetingCancelled(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        if self._row(conn, child)["meeting_id"] == str(data["meeting_id"]):
            self._set(conn, env, child, meeting_id=None, meeting_at=None)

    def on_FormulationMeetingHeld(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        self._set(
            conn,
            env,
            child,
            meeting_id=None,
            meeting_at=None,
            meeting_held_on=_day(data["held_on"]),
        )

    def on_ReportIssued(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        row = self._row(conn, child)
        changes: dict[str, Any] = {
            "report_version": int(data["report_version"]),
            "report_issued_on": _day(data["issued_on"]),
            "stage": int(data["stage"]),
            "stage_label": data["stage_label"],
        }
        if row["status"] == ChildStatus.FORMULATION:
            changes["status"] = ChildStatus.REVIEWS.value
        self._set(conn, env, child, **changes)

    def on_StageAssessed(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        self._set(conn, env, child, stage=int(data["stage"]), stage_label=data["stage_label"])

    on_StageReassessed = on_StageAssessed

    def on_ConsultationClosed(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        if self._row(conn, child)["status"] == ChildStatus.CONSULTATION:
            self._set(conn, env, child, status=ChildStatus.CLOSED.value)

    # -- reviews ---------------------------------------------------------------------------

    def on_ReviewWorkerAssigned(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        self._set(conn, env, child, worker_id=data["worker_id"])

    def on_ReviewDue(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        row = self._row(conn, child)
        if row["status"] in (ChildStatus.CLOSED, ChildStatus.ERASED):
            return
        overdue = row["review_overdue"] and row["review_id"] == str(data["review_id"])
        self._set(
            conn,
            env,
            child,
            review_id=str(data["review_id"]),
            review_due_on=_day(data["due_on"]),
            review_overdue=overdue,
        )

    def on_ReviewOverdue(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        if self._row(conn, child)["review_id"] == str(data["review_id"]):
            self._set(conn, env, child, review_overdue=True)

    def on_ReviewHeld(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        changes: dict[str, Any] = {"last_review_on": _day(data["held_on"])}
        if self._row(conn, child)["review_id"] == str(data["review_id"]):
            changes.update(review_id=None, review_due_on=None, review_overdue=False)
        self._set(conn, env, child, **changes)

    def on_CaseClosed(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        row = self._row(conn, child)
        changes: dict[str, Any] = {
            "closed_on": _day(data["closed_on"]),
            "review_id": None,
            "review_due_on": None,
            "review_overdue": False,
            "safety_net_until": _day(data["safety_net_until"])
            if data.get("safety_net_until")
            else None,
        }
        if row["status"] != ChildStatus.ERASED:
            changes["status"] = ChildStatus.CLOSED.value
        self._set(conn, env, child, **changes)

    def on_CaseReopened(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        row = self._row(conn, child)
        if row["status"] == ChildStatus.ERASED:
            return
        status = ChildStatus.REVIEWS if row["report_issued_on"] else ChildStatus.FORMULATION
        self._set(conn, env, child, status=status.value, closed_on=None, safety_net_until=None)

    # -- governance ------------------------------------------------------------------------

    def on_ChildErased(
        self, conn: Connection, env: Envelope, child: str, data: dict[str, Any]
    ) -> None:
        conn.execute(delete(child_search).where(child_search.c.child_id == child))
        self._set(
            conn,
            env,
            child,
            status=ChildStatus.ERASED.value,
            erased_on=_day(data["erased_on"]),
            **dict.fromkeys(SEALED_COLUMNS),
        )
        conn.execute(
            update(child_index_history)
            .where(child_index_history.c.child_id == child)
            .values(**dict.fromkeys(SEALED_COLUMNS))
        )

    # -- helpers ---------------------------------------------------------------------------

    def _index(self, conn: Connection, child: str, field: str, sealed: Any) -> None:
        if sealed is None:
            return
        if self.searcher is None:
            raise RuntimeError(f"{self.name}: no searcher bound (use bound_index)")
        rows = self.searcher.entries(child, field, sealed)
        if rows:
            conn.execute(insert(child_search), rows)

    @staticmethod
    def _row(conn: Connection, child: str) -> dict[str, Any]:
        row = conn.execute(select(child_index).where(child_index.c.child_id == child)).first()
        if row is None:
            raise MissingPrecondition(f"child index: child {child} is not registered yet")
        return dict(row._mapping)

    @classmethod
    def _set(cls, conn: Connection, env: Envelope, child: str, **values: Any) -> None:
        require(
            conn.execute(
                update(child_index)
                .where(child_index.c.child_id == child)
                .values(**values, updated_at=env.occurred_at)
            ),
            f"child {child} (for {env.event_type})",
        )
        cls._snapshot(conn, child)

    @staticmethod
    def _snapshot(conn: Connection, child: str) -> None:
        """The row as it now stands, kept for lists as they stood at an instant."""
        names = [c.name for c in child_index.columns]
        conn.execute(
            insert(child_index_history).from_select(
                names, select(child_index).where(child_index.c.child_id == child)
            )
        )


def bound_index(searcher: Searcher) -> type[ChildIndexProjection]:
    """The child index projection with its searcher bound (rebuilds make the same class)."""

    class BoundChildIndex(ChildIndexProjection):
        pass

    BoundChildIndex.searcher = searcher
    return BoundChildIndex


# -- queries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildFilter:
    """What a list of children is narrowed to."""

    areas: tuple[str, ...] | None = None  # None: every area
    status: ChildStatus | None = None
    worker: str | None = None  # case manager, psychologist or review worker
    stage: int | None = None
    queue: Queue | None = None
    digests: tuple[tuple[SearchKey, str], ...] = ()


def _queue_condition(queue: Queue, today: date, source: Any = child_index) -> Any:
    c = source.c
    if queue == Queue.SCREENING:
        return c.status.in_([s.value for s in AWAITING_SCREENING])
    if queue == Queue.MEETING_TO_SCHEDULE:
        return and_(
            c.status == ChildStatus.FORMULATION.value,
            c.meeting_id.is_(None),
            c.meeting_held_on.is_(None),
        )
    if queue == Queue.REPORT_DUE:
        return and_(
            c.status == ChildStatus.FORMULATION.value,
            c.meeting_held_on.is_not(None),
            c.report_issued_on.is_(None),
        )
    open_case = c.status.not_in([ChildStatus.CLOSED.value, ChildStatus.ERASED.value])
    if queue == Queue.REVIEW_OVERDUE:
        return and_(open_case, c.review_due_on.is_not(None), c.review_due_on < today)
    return and_(open_case, c.review_due_on.is_not(None), c.review_due_on >= today)


def attention(today: date, source: Any = child_index) -> Any:
    """Rank of what needs attention first: overdue reviews, screening, meetings to
    schedule, reports due, reviews due soon, other open work, then the rest."""
    c = source.c
    soon = date.fromordinal(today.toordinal() + DUE_SOON_DAYS)
    return case(
        (_queue_condition(Queue.REVIEW_OVERDUE, today, source), 0),
        (_queue_condition(Queue.SCREENING, today, source), 1),
        (_queue_condition(Queue.MEETING_TO_SCHEDULE, today, source), 2),
        (_queue_condition(Queue.REPORT_DUE, today, source), 3),
        (and_(_queue_condition(Queue.REVIEW_DUE, today, source), c.review_due_on <= soon), 4),
        (
            c.status.in_(
                [
                    ChildStatus.FORMULATION.value,
                    ChildStatus.REVIEWS.value,
                    ChildStatus.CONSULTATION.value,
                ]
            ),
            5,
        ),
        (c.status == ChildStatus.REGISTERED.value, 6),
        (c.status == ChildStatus.CLOSED.value, 7),
        else_=8,
    )


def _where(query: Any, filters: ChildFilter, today: date, source: Any = child_index) -> Any:
    c = source.c
    if filters.areas is not None:
        query = query.where(c.area.in_(filters.areas))
    if filters.status is not None:
        query = query.where(c.status == filters.status.value)
    if filters.worker:
        query = query.where(
            or_(
                c.case_manager_id == filters.worker,
                c.psychologist_id == filters.worker,
                c.worker_id == filters.worker,
            )
        )
    if filters.stage is not None:
        query = query.where(c.stage == filters.stage)
    if filters.queue is not None:
        query = query.where(_queue_condition(filters.queue, today, source))
    if filters.digests:
        query = query.where(c.status != ChildStatus.ERASED.value)
    for kind, value in filters.digests:
        query = query.where(
            c.child_id.in_(
                select(child_search.c.child_id).where(
                    child_search.c.kind == kind.value, child_search.c.digest == value
                )
            )
        )
    return query


def as_of_view(moment: datetime) -> Any:
    """The child index as it stood at `moment`: each child's last row recorded by then."""
    h = child_index_history
    last = (
        select(h.c.child_id, func.max(h.c.id).label("last_id"))
        .where(h.c.updated_at <= moment.astimezone(UTC))
        .group_by(h.c.child_id)
        .subquery()
    )
    columns = [h.c[c.name] for c in child_index.columns]
    return select(*columns).join(last, h.c.id == last.c.last_id).subquery("child_index_as_of")


def list_children(
    engine: Engine,
    filters: ChildFilter,
    *,
    today: date,
    limit: int,
    offset: int,
    as_of: datetime | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of children (sealed fields as stored) and how many match, attention first;
    as the index stood at `as_of` when given."""
    source: Any = child_index if as_of is None else as_of_view(as_of)
    rank = attention(today, source).label("attention")
    c = source.c
    key_date = func.coalesce(c.review_due_on, func.date(c.referred_at), func.date(c.registered_at))
    query = (
        _where(select(source, rank), filters, today, source)
        .order_by(rank, key_date, c.child_id)
        .limit(limit)
        .offset(offset)
    )
    count = _where(select(func.count()).select_from(source), filters, today, source)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
        total = int(conn.execute(count).scalar_one())
    return rows, total


def child_row(
    engine: Engine, child_id: str, as_of: datetime | None = None
) -> dict[str, Any] | None:
    """One child's row of the index (as it stood at `as_of` when given), or None."""
    source: Any = child_index if as_of is None else as_of_view(as_of)
    with engine.connect() as conn:
        row = conn.execute(select(source).where(source.c.child_id == child_id)).first()
    return dict(row._mapping) if row is not None else None


def queue_counts(
    engine: Engine, areas: tuple[str, ...] | None, today: date
) -> dict[str, dict[str, Any]]:
    """How many children wait in each queue, in all, by area and by worker."""
    result: dict[str, dict[str, Any]] = {}
    c = child_index.c
    worker = func.coalesce(c.worker_id, c.psychologist_id, c.case_manager_id)
    with engine.connect() as conn:
        for queue in Queue:
            base = _where(
                select(c.area, worker.label("worker"), func.count().label("n")),
                ChildFilter(areas=areas, queue=queue),
                today,
            )
            rows = list(conn.execute(base.group_by(c.area, worker)))
            by_area: dict[str, int] = {}
            by_worker: dict[str, int] = {}
            for row in rows:
                by_area[row.area] = by_area.get(row.area, 0) + int(row.n)
                name = row.worker or "unassigned"
                by_worker[name] = by_worker.get(name, 0) + int(row.n)
            result[queue.value] = {
                "count": sum(by_area.values()),
                "by_area": by_area,
                "by_worker": by_worker,
            }
    return result
