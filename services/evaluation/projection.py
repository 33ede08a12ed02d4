"""The evaluation read model: non-personal facts per child, built from every service's events.

Only what the evaluation measures is kept (dates, stages, outcomes, attendance by agency,
sequencing fidelity); no sealed personal value is ever copied here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
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
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from shared.consumer import SqlProjection, require
from shared.contracts import Envelope

metadata = MetaData()
children = Table(
    "evaluation_children",
    metadata,
    Column("child_id", String(36), primary_key=True),
    Column("area", String(40), nullable=True),
    Column("formulation_meeting_on", Date, nullable=True),
    Column("report_issued_on", Date, nullable=True),
    Column("stage_at_formulation", Integer, nullable=True),
    Column("reviews_held", Integer, nullable=False, default=0),
    Column("reviews_overdue", Integer, nullable=False, default=0),
    Column("transitions", Integer, nullable=False, default=0),
    Column("closed_on", Date, nullable=True),
    Column("case_status_at", DateTime(timezone=True), nullable=True),
)
referrals = Table(
    "evaluation_referrals",
    metadata,
    Column("referral_id", String(36), primary_key=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("referred_on", Date, nullable=True),
    Column("outcome", String(20), nullable=True),
    Column("screened_on", Date, nullable=True),
)
stages = Table(
    "evaluation_stages",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("source", String(20), nullable=False),
    Column("assessed_on", Date, nullable=False),
    Column("stage", Integer, nullable=False),
)
attendance = Table(
    "evaluation_attendance",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("meeting", String(20), nullable=False),
    Column("agency", String(40), nullable=False),
    Column("attendance", String(20), nullable=False),
)
interventions = Table(
    "evaluation_interventions",
    metadata,
    Column("intervention_id", String(36), primary_key=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("stage", Integer, nullable=False),
    Column("out_of_sequence", Boolean, nullable=False),
    Column("overridden", Boolean, nullable=False, default=False),
    Column("status", String(20), nullable=False),
)

consents = Table(
    "evaluation_consents",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("referral_id", String(36), nullable=False, index=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("consent", String(20), nullable=False),
    Column("recorded_on", Date, nullable=False),
)
reviews = Table(
    "evaluation_reviews",
    metadata,
    Column("review_id", String(36), primary_key=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("due_on", Date, nullable=True),
    Column("held_on", Date, nullable=True),
    Column("overdue", Boolean, nullable=False, default=False),
)
cadences = Table(
    "evaluation_cadences",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("weeks", Integer, nullable=False),
    Column("set_on", Date, nullable=False),
)
transitions = Table(
    "evaluation_transitions",
    metadata,
    Column("transition_id", String(36), primary_key=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("occurred_on", Date, nullable=False),
)
offences = Table(
    "evaluation_offences",
    metadata,
    Column("offence_id", String(36), primary_key=True),
    Column("child_id", String(36), nullable=False, index=True),
    Column("offence_type", String(40), nullable=False),
    Column("committed_on", Date, nullable=False),
    Column("proven_on", Date, nullable=True),
    Column("outcome", String(40), nullable=False),
    Column("retracted", Boolean, nullable=False, default=False),
)
TABLES = (
    children,
    referrals,
    stages,
    attendance,
    interventions,
    consents,
    reviews,
    cadences,
    transitions,
    offences,
)

REFERRAL_OUTCOMES = {
    "ReferralAccepted": "accepted",
    "ConsultationOffered": "consultation",
    "ReferralDeclined": "declined",
    "ReferralWithdrawn": "withdrawn",
}
INTERVENTION_STATUS = {
    "InterventionStarted": "started",
    "InterventionCompleted": "completed",
    "InterventionStopped": "stopped",
}


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


class EvaluationProjection(SqlProjection):
    """Facts for the independent evaluation, from ecm.> (all services)."""

    name = "evaluation"
    subject = "ecm.>"
    tables = TABLES
    # 2: consents, reviews, cadences, transitions and offences (issue 15); a node built with
    # version 1 rebuilds the read model from the stores when it starts.
    version = 2

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        if envelope.child_id is None:
            return
        child = str(envelope.child_id)
        kind = envelope.event_type
        data = envelope.data
        on = envelope.occurred_at.date()
        self._ensure_child(conn, child)
        # Applied in stream order; an update that finds no row is a MissingPrecondition.
        if kind == "ReferralMade":
            self._set(conn, child, area=data["area"])
            self._referral(conn, envelope, referred_on=on)
        elif kind in REFERRAL_OUTCOMES:
            self._referral(conn, envelope, outcome=REFERRAL_OUTCOMES[kind], screened_on=on)
        elif kind == "FormulationMeetingHeld":
            held = _day(data["held_on"])
            conn.execute(
                update(children)
                .where(
                    children.c.child_id == child,
                    or_(
                        children.c.formulation_meeting_on.is_(None),
                        children.c.formulation_meeting_on > held,
                    ),
                )
                .values(formulation_meeting_on=held)
            )
            self._attendance(conn, envelope, "formulation")
        elif kind == "ReportIssued":
            issued = _day(data["issued_on"])
            conn.execute(
                update(children)
                .where(
                    children.c.child_id == child,
                    or_(
                        children.c.report_issued_on.is_(None), children.c.report_issued_on > issued
                    ),
                )
                .values(report_issued_on=issued, stage_at_formulation=int(data["stage"]))
            )
        elif kind in ("StageAssessed", "StageReassessed"):
            source = "review" if kind == "StageReassessed" else str(data.get("source", "report"))
            conn.execute(
                stages.insert().values(
                    message_id=envelope.message_id,
                    child_id=child,
                    source=source,
                    assessed_on=_day(data["assessed_on"]),
                    stage=int(data["stage"]),
                )
            )
        elif kind == "ConsentRecorded":
            conn.execute(
                self._insert(conn, consents)
                .values(
                    message_id=envelope.message_id,
                    referral_id=str(envelope.aggregate_id),
                    child_id=child,
                    consent=str(data["consent"]),
                    recorded_on=on,
                )
                .on_conflict_do_nothing()
            )
        elif kind == "ReviewCadenceSet":
            conn.execute(
                self._insert(conn, cadences)
                .values(
                    message_id=envelope.message_id,
                    child_id=child,
                    weeks=int(data["weeks"]),
                    set_on=on,
                )
                .on_conflict_do_nothing()
            )
        elif kind == "ReviewDue":
            self._review(conn, child, str(data["review_id"]), due_on=_day(data["due_on"]))
        elif kind == "ReviewHeld":
            self._increment(conn, child, children.c.reviews_held)
            self._attendance(conn, envelope, "review")
            # Every ReviewHeldV1 names its review; the message id stands in for older test data.
            self._review(
                conn,
                child,
                str(data.get("review_id") or envelope.message_id),
                held_on=_day(data["held_on"]),
            )
        elif kind == "ReviewOverdue":
            self._increment(conn, child, children.c.reviews_overdue)
            self._review(
                conn, child, str(data["review_id"]), overdue=True, due_on=_day(data["due_on"])
            )
        elif kind == "TransitionRecorded":
            self._increment(conn, child, children.c.transitions)
            conn.execute(
                self._insert(conn, transitions)
                .values(
                    transition_id=str(data["transition_id"]),
                    child_id=child,
                    kind=str(data["kind"]),
                    occurred_on=_day(data["occurred_on"]),
                )
                .on_conflict_do_nothing()
            )
        elif kind in ("OffenceRecorded", "OffenceCorrected"):
            values = {
                "offence_type": str(data["offence_type"]),
                "committed_on": _day(data["committed_on"]),
                "proven_on": _day(data["proven_on"]) if data.get("proven_on") else None,
                "outcome": str(data["outcome"]),
                "retracted": False,
            }
            conn.execute(
                self._insert(conn, offences)
                .values(
                    offence_id=str(data["offence_id"]),
                    child_id=child,
                    **values,
                )
                .on_conflict_do_update(index_elements=["offence_id"], set_=values)
            )
        elif kind == "OffenceRetracted":
            require(
                conn.execute(
                    update(offences)
                    .where(offences.c.offence_id == str(data["offence_id"]))
                    .values(retracted=True)
                ),
                f"offence {data['offence_id']}",
            )
        elif kind in ("CaseClosed", "CaseReopened"):
            closed = _day(data["closed_on"]) if kind == "CaseClosed" else None
            conn.execute(
                update(children)
                .where(
                    children.c.child_id == child,
                    or_(
                        children.c.case_status_at.is_(None),
                        children.c.case_status_at < envelope.occurred_at,
                    ),
                )
                .values(closed_on=closed, case_status_at=envelope.occurred_at)
            )
        elif kind == "InterventionPlanned":
            conn.execute(
                self._insert(conn, interventions)
                .values(
                    intervention_id=str(data["intervention_id"]),
                    child_id=child,
                    stage=int(data["stage"]),
                    out_of_sequence=bool(data["out_of_sequence"]),
                    # Out of sequence is only ever planned under an override, so the flag comes
                    # from this event itself, whatever order the override's message arrives in.
                    overridden=bool(data["out_of_sequence"]),
                    status="planned",
                )
                .on_conflict_do_nothing()
            )
        elif kind == "SequencingOverridden":
            require(
                conn.execute(
                    update(interventions)
                    .where(interventions.c.intervention_id == str(data["intervention_id"]))
                    .values(overridden=True)
                ),
                f"intervention {data['intervention_id']}",
            )
        elif kind in INTERVENTION_STATUS:
            require(
                conn.execute(
                    update(interventions)
                    .where(interventions.c.intervention_id == str(data["intervention_id"]))
                    .values(status=INTERVENTION_STATUS[kind])
                ),
                f"intervention {data['intervention_id']}",
            )

    @staticmethod
    def _insert(conn: Connection, table: Table) -> Any:
        return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)

    def _ensure_child(self, conn: Connection, child: str) -> None:
        conn.execute(
            self._insert(conn, children)
            .values(
                child_id=child,
                reviews_held=0,
                reviews_overdue=0,
                transitions=0,
            )
            .on_conflict_do_nothing(index_elements=["child_id"])
        )

    def _referral(self, conn: Connection, envelope: Envelope, **values: Any) -> None:
        stmt = self._insert(conn, referrals).values(
            referral_id=str(envelope.aggregate_id), child_id=str(envelope.child_id), **values
        )
        conn.execute(stmt.on_conflict_do_update(index_elements=["referral_id"], set_=values))

    @staticmethod
    def _set(conn: Connection, child: str, **values: Any) -> None:
        conn.execute(update(children).where(children.c.child_id == child).values(**values))

    @staticmethod
    def _increment(conn: Connection, child: str, column: Any) -> None:
        conn.execute(
            update(children).where(children.c.child_id == child).values({column: column + 1})
        )

    def _review(self, conn: Connection, child: str, review_id: str, **values: Any) -> None:
        stmt = self._insert(conn, reviews).values(
            review_id=review_id, child_id=child, **{"overdue": False, **values}
        )
        conn.execute(stmt.on_conflict_do_update(index_elements=["review_id"], set_=values))

    @staticmethod
    def _attendance(conn: Connection, envelope: Envelope, meeting: str) -> None:
        for position, item in enumerate(envelope.data.get("attendance") or []):
            conn.execute(
                attendance.insert().values(
                    message_id=envelope.message_id,
                    position=position,
                    child_id=str(envelope.child_id),
                    meeting=meeting,
                    agency=item["agency"],
                    attendance=item["attendance"],
                )
            )


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of the read model in a stable order (for replay comparisons)."""
    result: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for table in TABLES:
            key = list(table.primary_key.columns)
            rows = conn.execute(select(table).order_by(*key))
            result[table.name] = [dict(row._mapping) for row in rows]
    return result
