"""The whole-story timeline: one ordered list of what happened to a child, across services.

The read model keeps one row per message about a child (a supervision session one row per
child it mentions), append-only, with the message's data as it travelled: personal values
stay sealed. Everything that depends on more than one row is worked out at read time, from
the rows recorded up to `as_of`: the version of a life-story entry that stood then, the
place of an "age 4" entry (the date of birth opened from the child index), the TRM stage in
force at each item and whether an assessment moved the child up, down or kept them level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from services.children.binding import bind_all
from shared.consumer import SqlProjection
from shared.contracts import Envelope
from shared.crypto import is_sealed

TIMELINE = "children-timeline"
STORE = "timeline-read"


class ItemKind(StrEnum):
    """What a timeline item is."""

    REGISTRATION = "registration"
    CORRECTION = "correction"
    REFERRAL = "referral"
    CONSENT = "consent"
    SCREENING = "screening"
    LIFE_STORY = "life_story"
    MEETING = "meeting"
    REPORT = "report"
    STAGE = "stage"
    INTERVENTION = "intervention"
    CONSULTATION = "consultation"
    REVIEW = "review"
    TRANSITION = "transition"
    CLOSURE = "closure"
    NOTICE = "notice"
    SUPERVISION = "supervision"
    GOVERNANCE = "governance"


K = ItemKind
# event type -> (kind, the data field naming the item, the data field dating it)
EVENTS: dict[str, tuple[ItemKind, str | None, str | None]] = {
    "ChildRegistered": (K.REGISTRATION, None, None),
    "ChildCorrected": (K.CORRECTION, None, None),
    "ChildAreaCorrected": (K.CORRECTION, None, None),
    "ChildDisputeFlagged": (K.CORRECTION, None, None),
    "ReferralMade": (K.REFERRAL, None, None),
    "ConsentRecorded": (K.CONSENT, None, None),
    "ReferralAccepted": (K.SCREENING, None, None),
    "ConsultationOffered": (K.SCREENING, None, None),
    "ReferralDeclined": (K.SCREENING, None, None),
    "ReferralWithdrawn": (K.REFERRAL, None, None),
    "ReferralClosed": (K.REFERRAL, None, None),
    "ReferralReopened": (K.REFERRAL, None, None),
    "TimelineEntryAdded": (K.LIFE_STORY, "entry_id", None),
    "TimelineEntryCorrected": (K.LIFE_STORY, "entry_id", None),
    "TimelineEntryRetracted": (K.LIFE_STORY, "entry_id", None),
    "FormulationMeetingScheduled": (K.MEETING, "meeting_id", "starts_at"),
    "FormulationMeetingRescheduled": (K.MEETING, "meeting_id", "starts_at"),
    "FormulationMeetingCancelled": (K.MEETING, "meeting_id", None),
    "FormulationMeetingHeld": (K.MEETING, "meeting_id", "held_on"),
    "ReportIssued": (K.REPORT, "report_version", "issued_on"),
    "StageAssessed": (K.STAGE, None, "assessed_on"),
    "StageReassessed": (K.STAGE, "review_id", "assessed_on"),
    "InterventionPlanned": (K.INTERVENTION, "intervention_id", "planned_start"),
    "SequencingOverridden": (K.INTERVENTION, "intervention_id", None),
    "InterventionStarted": (K.INTERVENTION, "intervention_id", "started_on"),
    "InterventionSessionRecorded": (K.INTERVENTION, "intervention_id", "held_on"),
    "InterventionCompleted": (K.INTERVENTION, "intervention_id", "completed_on"),
    "InterventionStopped": (K.INTERVENTION, "intervention_id", "stopped_on"),
    "ConsultationOpened": (K.CONSULTATION, None, None),
    "ConsultationHeld": (K.CONSULTATION, None, "held_on"),
    "ConsultationClosed": (K.CONSULTATION, None, None),
    "ReviewScheduled": (K.REVIEW, "review_id", "starts_at"),
    "ReviewRescheduled": (K.REVIEW, "review_id", "starts_at"),
    "ReviewCancelled": (K.REVIEW, "review_id", None),
    "ReviewHeld": (K.REVIEW, "review_id", "held_on"),
    "ReviewOverdue": (K.REVIEW, "review_id", "due_on"),
    "TransitionRecorded": (K.TRANSITION, "transition_id", "occurred_on"),
    "CaseClosed": (K.CLOSURE, None, "closed_on"),
    "CaseReopened": (K.CLOSURE, None, "reopened_on"),
    "SupervisionLogged": (K.SUPERVISION, "session_id", "held_on"),
    "NoticeQueued": (K.NOTICE, None, None),
    "NoticeSent": (K.NOTICE, None, "sent_at"),
    "NoticeAcknowledged": (K.NOTICE, None, "acknowledged_at"),
    "ChildErased": (K.GOVERNANCE, None, "erased_on"),
    "SubjectAccessProvided": (K.GOVERNANCE, None, "produced_on"),
}
NOTICE_KEYED = ("NoticeQueued", "NoticeSent", "NoticeAcknowledged")
# What of a message's data the timeline keeps: personal values only sealed, as they came.
DROPPED = {
    "ChildRegistered": ("given_name", "family_name", "date_of_birth", "nhs_number", "upn"),
    "ChildCorrected": ("value", "original"),
}
SERVICE_READ = {
    "referrals": "referral.read",
    "formulation": "formulation.read",
    "reviews": "review.read",
    "notifications": "review.read",
    "governance": "child.read",
}

metadata = MetaData()
timeline = Table(
    "child_timeline",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("child_id", String(36), primary_key=True, index=True),
    Column("service", String(40), nullable=False),
    Column("event_type", String(80), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("item_key", String(100), nullable=True),
    Column("aggregate_version", Integer, nullable=False),
    Column("on_date", Date, nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("actor_role", String(40), nullable=False),
    Column("reason", Text, nullable=True),
    Column("data", JSON, nullable=False),
)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _as_day(value: Any) -> date | None:
    if value is None:
        return None
    text = str(value)
    if "T" in text:
        return datetime.fromisoformat(text).astimezone(UTC).date()
    return date.fromisoformat(text[:10])


def life_date(when: dict[str, Any]) -> date | None:
    """The day a life-story date stands for, when it does not depend on the date of birth."""
    precision = when.get("precision")
    if precision == "exact" and when.get("on"):
        return date.fromisoformat(str(when["on"]))
    if precision == "month" and when.get("year") and when.get("month"):
        return date(int(when["year"]), int(when["month"]), 1)
    if precision == "year" and when.get("year"):
        return date(int(when["year"]), 1, 1)
    return None


def at_age(date_of_birth: date, years: int) -> date:
    """The child's birthday at `years` of age (29 February falls on 28 February)."""
    try:
        return date_of_birth.replace(year=date_of_birth.year + years)
    except ValueError:
        return date(date_of_birth.year + years, 2, 28)


class TimelineProjection(SqlProjection):
    """Appends one row per message about a child; never updates, so nothing is missing."""

    name = TIMELINE
    subject = "ecm.>"
    tables = (timeline,)

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        spec = EVENTS.get(envelope.event_type)
        if spec is None:
            return
        kind, key_field, date_field = spec
        data = {
            k: v for k, v in envelope.data.items() if k not in DROPPED.get(envelope.event_type, ())
        }
        if kind == ItemKind.SUPERVISION:
            children = [str(c) for c in data.get("children") or []]
        elif envelope.child_id is not None:
            children = [str(envelope.child_id)]
        else:
            return
        key = data.get(key_field) if key_field else None
        if envelope.event_type in NOTICE_KEYED:
            key = str(envelope.aggregate_id)
        on = _as_day(data.get(date_field)) if date_field else None
        if kind == ItemKind.LIFE_STORY and "when" in data:
            on = life_date(data["when"])
        elif on is None:
            on = _utc(envelope.occurred_at).date()
        dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        for child in children:  # a parked message replayed twice adds nothing
            conn.execute(
                dialect_insert(timeline)
                .values(
                    message_id=envelope.message_id,
                    child_id=child,
                    service=envelope.service,
                    event_type=envelope.event_type,
                    kind=kind.value,
                    item_key=None if key is None else str(key),
                    aggregate_version=envelope.aggregate_version,
                    on_date=on,
                    recorded_at=_utc(envelope.occurred_at),
                    actor_id=envelope.actor.id,
                    actor_role=envelope.actor.role,
                    reason=envelope.reason,
                    data=bind_all(envelope, data),
                )
                .on_conflict_do_nothing(index_elements=["message_id", "child_id"])
            )


# -- reading -------------------------------------------------------------------------------


@dataclass
class TimelineItem:
    """One item of the whole story, as the caller may see it."""

    kind: str
    event_type: str
    service: str
    item_key: str | None
    on: date | None
    precision: str
    recorded_at: datetime
    recorded_by: dict[str, str]
    reason: str | None
    stage_in_force: int | None
    movement: str | None
    details: dict[str, Any] = field(default_factory=dict)
    withheld: bool = False
    message_id: str = ""


@dataclass(frozen=True)
class TimelineQuery:
    """What part of a child's story to show, and to whom."""

    as_of: datetime | None = None
    kinds: frozenset[str] | None = None
    date_from: date | None = None
    date_to: date | None = None
    include_retracted: bool = False
    staff: bool = False  # ECM staff read restricted content and supervision mentions
    may_read: Callable[[str], bool] = lambda _service: False


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _current_rows(engine: Engine, child_id: str, query: TimelineQuery) -> list[dict[str, Any]]:
    select_rows = select(timeline).where(timeline.c.child_id == child_id)
    if query.as_of is not None:
        select_rows = select_rows.where(timeline.c.recorded_at <= _utc(query.as_of))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select_rows)]
    rows.sort(key=lambda r: (_aware(r["recorded_at"]), r["aggregate_version"], r["message_id"]))
    latest: dict[str, dict[str, Any]] = {}
    kept: list[dict[str, Any]] = []
    for row in rows:
        if row["kind"] == ItemKind.LIFE_STORY and row["item_key"]:
            previous = latest.get(row["item_key"])
            if row["event_type"] == "TimelineEntryRetracted" and previous is not None:
                previous["retracted"] = row
            else:
                row["retracted"] = None
                row["first_recorded"] = (previous or row).get("first_recorded", row)
                latest[row["item_key"]] = row
            continue
        kept.append(row)
    kept += latest.values()
    return kept


def _sort_date(row: dict[str, Any], date_of_birth: date | None) -> tuple[date | None, str]:
    when = row["data"].get("when") if row["kind"] == ItemKind.LIFE_STORY else None
    if not when:
        return row["on_date"], "exact"
    precision = str(when.get("precision"))
    if precision == "approximate_age":
        if date_of_birth is None or when.get("age_years") is None:
            return None, precision
        return at_age(date_of_birth, int(when["age_years"])), precision
    return life_date(when), precision


def _open(value: Any, opener: Callable[[str], Any]) -> Any:
    if is_sealed(value):
        return opener(value)
    if isinstance(value, list):
        return [_open(v, opener) for v in value]
    if isinstance(value, dict):
        return {k: _open(v, opener) for k, v in value.items()}
    return value


def _withhold(value: Any) -> Any:
    if is_sealed(value):
        return None
    if isinstance(value, list):
        return [_withhold(v) for v in value]
    if isinstance(value, dict):
        return {k: _withhold(v) for k, v in value.items()}
    return value


def read_timeline(
    engine: Engine,
    child_id: str,
    query: TimelineQuery,
    date_of_birth: date | None,
    opener: Callable[[str], Any],
) -> list[TimelineItem]:
    """The child's whole story as it stood at `query.as_of`, oldest first, filtered."""
    placed: list[tuple[tuple[Any, ...], TimelineItem]] = []
    for row in _current_rows(engine, child_id, query):
        if row["kind"] == ItemKind.SUPERVISION and not query.staff:
            continue
        if row.get("retracted") and not query.include_retracted:
            continue
        on, precision = _sort_date(row, date_of_birth)
        data = dict(row["data"])
        withheld = (
            data.get("sensitivity") == "restricted" and not query.staff
        ) or not query.may_read(row["service"])
        details = _withhold(data) if withheld else _open(data, opener)
        if row.get("retracted"):
            details["retracted_at"] = _aware(row["retracted"]["recorded_at"]).isoformat()
        reason = row["reason"]
        if is_sealed(reason):
            reason = None if withheld else opener(reason)
        item = TimelineItem(
            kind=row["kind"],
            event_type=row["event_type"],
            service=row["service"],
            item_key=row["item_key"],
            on=on,
            precision=precision,
            recorded_at=_aware(row["recorded_at"]),
            recorded_by={"id": row["actor_id"], "role": row["actor_role"]},
            reason=reason,
            stage_in_force=None,
            movement=None,
            details=details,
            withheld=withheld,
            message_id=row["message_id"],
        )
        # Undated (an age without a known date of birth) goes after everything dated.
        placed.append(
            (
                (
                    on is None,
                    on or date.min,
                    _aware(row["recorded_at"]),
                    row["aggregate_version"],
                    row["message_id"],
                ),
                item,
            )
        )
    placed.sort(key=lambda pair: pair[0])
    stage: int | None = None
    items: list[TimelineItem] = []
    for _, item in placed:
        if item.event_type in ("ReportIssued", "StageAssessed", "StageReassessed"):
            new = int(item.details.get("stage") or 0) or None
            if new is not None and stage is not None:
                item.movement = "up" if new > stage else "down" if new < stage else "same"
            stage = new if new is not None else stage
        item.stage_in_force = stage
        items.append(item)
    return [i for i in items if _wanted(i, query)]


def _wanted(item: TimelineItem, query: TimelineQuery) -> bool:
    if query.kinds is not None and item.kind not in query.kinds:
        return False
    if query.date_from is not None and (item.on is None or item.on < query.date_from):
        return False
    return not (query.date_to is not None and (item.on is None or item.on > query.date_to))
