"""A small fixed cohort as the stream carries it, with every measure worked out by hand.

Window 2024-01-01..2024-12-31, as of 2026-01-31 unless a test says otherwise.

A (bristol, born 2010-06-01): referred 2024-01-10, consent given 01-15 (5 days), accepted 01-17
  (7), cadence 6 weeks, formulation meeting 02-09 (30), report 02-19 (40) at stage 2; reviews
  held 03-29 (79, stage 3 up), 05-20 (interval 52 > 42, late: due 05-10, flagged overdue;
  stage 2 down), 06-28 (interval 39 <= 42, stage 4 up); review due 08-09 never held (missed);
  interventions: stage 2 in sequence (completed), stage 4 overridden (stopped); a school move;
  offences: 2022 (before every window), 2023-06-01 proven 2023-08-01 (comparison), a breach
  2024-05-01 proven 05-15 (apart), 2024-03-01 proven 2024-09-01 (follow-up), 2024-12-01
  proven 2025-08-01 (after the waiting period: does not count).
B (bristol): referred 2024-02-05, declined 02-12 (7); two follow-up offences proven.
C (banes): referred 2024-03-01, consultation 03-08 (7).
D (banes): referred 2023-11-01: outside the window.
E (north_somerset): referred 2024-04-01, accepted 04-10 (9), consent refused 04-12; one
  offence retracted, one corrected to not proven.
F (bristol): referred 2024-12-20, not screened; follow-up incomplete on 2026-01-31.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid5

from shared.consumer import Delivery
from shared.contracts import Actor, Envelope

A, B, C, D, E, F = (UUID(int=n) for n in range(1, 7))
NAMESPACE = UUID(int=99)
BORN = {str(A): date(2010, 6, 1)}


def uid(name: str) -> UUID:
    return uuid5(NAMESPACE, name)


class Stream:
    """Envelopes in stream order, with per-service notification ids."""

    def __init__(self) -> None:
        self.messages: list[Envelope] = []
        self.ids: dict[str, int] = defaultdict(int)

    def add(
        self, service: str, event_type: str, child: UUID, on: date, aggregate: UUID, **data: Any
    ) -> None:
        self.ids[service] += 1
        n = self.ids[service]
        self.messages.append(
            Envelope(
                message_id=f"{service}:{n}",
                service=service,
                event_type=event_type,
                event_version=1,
                notification_id=n,
                aggregate_id=aggregate,
                aggregate_version=n,
                child_id=child,
                occurred_at=datetime(on.year, on.month, on.day, 10, tzinfo=UTC),
                actor=Actor(id="u", role="case_manager"),
                reason=None,
                correlation_id="c",
                causation_id="c",
                data=data,
            )
        )

    def deliveries(self) -> list[Delivery]:
        return [Delivery(seq, m) for seq, m in enumerate(self.messages, start=1)]


def referral(s: Stream, child: UUID, on: date, area: str) -> UUID:
    ref = uid(f"referral-{child}-{on}")
    s.add(
        "referrals",
        "ReferralMade",
        child,
        on,
        ref,
        child_id=str(child),
        area=area,
        case_manager_id="cm",
        reason=None,
        trauma_history=None,
        expected_involvement_months=9,
    )
    return ref


def offence(
    s: Stream,
    child: UUID,
    name: str,
    committed: date,
    proven: date | None,
    outcome: str,
    kind: str = "theft",
    event: str = "OffenceRecorded",
) -> None:
    s.add(
        "referrals",
        event,
        child,
        proven or committed,
        uid(f"outcomes-{child}"),
        child_id=str(child),
        offence_id=str(uid(name)),
        offence_type=kind,
        committed_on=committed.isoformat(),
        proven_on=proven.isoformat() if proven else None,
        outcome=outcome,
    )


def review(
    s: Stream, child: UUID, name: str, held: date, stage: int, attendance: list[dict[str, str]]
) -> None:
    s.add(
        "reviews",
        "ReviewHeld",
        child,
        held,
        uid(f"reviews-{child}"),
        child_id=str(child),
        review_id=str(uid(name)),
        held_on=held.isoformat(),
        attendance=attendance,
    )
    s.add(
        "reviews",
        "StageReassessed",
        child,
        held,
        uid(f"reviews-{child}"),
        child_id=str(child),
        review_id=str(uid(name)),
        stage=stage,
        assessed_on=held.isoformat(),
    )


def due(s: Stream, child: UUID, name: str, on: date, day: date) -> None:
    s.add(
        "reviews",
        "ReviewDue",
        child,
        on,
        uid(f"reviews-{child}"),
        child_id=str(child),
        review_id=str(uid(name)),
        due_on=day.isoformat(),
    )


def cohort() -> Stream:
    s = Stream()
    d = date
    ra = referral(s, A, d(2024, 1, 10), "bristol")
    s.add(
        "referrals",
        "ConsentRecorded",
        A,
        d(2024, 1, 15),
        ra,
        child_id=str(A),
        consent="given",
        given_by=None,
    )
    s.add("referrals", "ReferralAccepted", A, d(2024, 1, 17), ra, child_id=str(A), area="bristol")
    formulation = uid(f"formulation-{A}")
    s.add(
        "reviews",
        "ReviewCadenceSet",
        A,
        d(2024, 2, 1),
        uid(f"reviews-{A}"),
        child_id=str(A),
        weeks=6,
    )
    s.add(
        "formulation",
        "FormulationMeetingHeld",
        A,
        d(2024, 2, 9),
        formulation,
        held_on="2024-02-09",
        attendance=[
            {"agency": "education", "attendance": "attended"},
            {"agency": "health", "attendance": "apologies"},
            {"agency": "police", "attendance": "attended"},
            {"agency": "yjs", "attendance": "attended"},
        ],
    )
    s.add(
        "formulation",
        "ReportIssued",
        A,
        d(2024, 2, 19),
        formulation,
        issued_on="2024-02-19",
        stage=2,
        stage_label="x",
        recommendations=[],
    )
    s.add(
        "formulation",
        "StageAssessed",
        A,
        d(2024, 2, 19),
        formulation,
        assessed_on="2024-02-19",
        stage=2,
        source="report",
    )
    s.add(
        "formulation",
        "InterventionPlanned",
        A,
        d(2024, 2, 20),
        formulation,
        intervention_id=str(uid("i1")),
        stage=2,
        out_of_sequence=False,
    )
    s.add(
        "formulation",
        "InterventionPlanned",
        A,
        d(2024, 2, 20),
        formulation,
        intervention_id=str(uid("i2")),
        stage=4,
        out_of_sequence=True,
    )
    s.add(
        "formulation",
        "SequencingOverridden",
        A,
        d(2024, 2, 20),
        formulation,
        intervention_id=str(uid("i2")),
    )
    s.add(
        "formulation",
        "InterventionStarted",
        A,
        d(2024, 2, 25),
        formulation,
        intervention_id=str(uid("i1")),
    )
    due(s, A, "r1", d(2024, 2, 19), d(2024, 3, 31))
    review(
        s,
        A,
        "r1",
        d(2024, 3, 29),
        3,
        [
            {"agency": "education", "attendance": "attended"},
            {"agency": "health", "attendance": "attended"},
        ],
    )
    s.add(
        "reviews",
        "TransitionRecorded",
        A,
        d(2024, 4, 1),
        uid(f"reviews-{A}"),
        child_id=str(A),
        transition_id=str(uid("t1")),
        kind="school_move",
        occurred_on="2024-04-01",
    )
    due(s, A, "r2", d(2024, 3, 29), d(2024, 5, 10))
    s.add(
        "reviews",
        "ReviewOverdue",
        A,
        d(2024, 5, 11),
        uid(f"reviews-{A}"),
        child_id=str(A),
        review_id=str(uid("r2")),
        due_on="2024-05-10",
    )
    review(s, A, "r2", d(2024, 5, 20), 2, [{"agency": "education", "attendance": "did_not_attend"}])
    s.add(
        "formulation",
        "InterventionStopped",
        A,
        d(2024, 6, 1),
        formulation,
        intervention_id=str(uid("i2")),
    )
    due(s, A, "r3", d(2024, 5, 20), d(2024, 7, 1))
    review(s, A, "r3", d(2024, 6, 28), 4, [])
    s.add(
        "formulation",
        "InterventionCompleted",
        A,
        d(2024, 7, 1),
        formulation,
        intervention_id=str(uid("i1")),
    )
    due(s, A, "r4", d(2024, 6, 28), d(2024, 8, 9))
    offence(s, A, "a0", d(2022, 1, 1), d(2022, 3, 1), "conviction")
    offence(s, A, "a1", d(2023, 6, 1), d(2023, 8, 1), "conviction")
    offence(s, A, "a2", d(2024, 5, 1), d(2024, 5, 15), "breach_proven", "breach_of_order")
    offence(s, A, "a3", d(2024, 3, 1), d(2024, 9, 1), "youth_caution")
    offence(s, A, "a4", d(2024, 12, 1), d(2025, 8, 1), "conviction")

    rb = referral(s, B, d(2024, 2, 5), "bristol")
    s.add("referrals", "ReferralDeclined", B, d(2024, 2, 12), rb, child_id=str(B))
    offence(s, B, "b1", d(2024, 6, 1), d(2024, 7, 1), "conviction")
    offence(s, B, "b2", d(2024, 8, 1), d(2024, 10, 1), "conviction")

    rc = referral(s, C, d(2024, 3, 1), "banes")
    s.add("referrals", "ConsultationOffered", C, d(2024, 3, 8), rc, child_id=str(C), area="banes")
    referral(s, D, d(2023, 11, 1), "banes")

    re_ = referral(s, E, d(2024, 4, 1), "north_somerset")
    s.add(
        "referrals",
        "ReferralAccepted",
        E,
        d(2024, 4, 10),
        re_,
        child_id=str(E),
        area="north_somerset",
    )
    s.add(
        "referrals",
        "ConsentRecorded",
        E,
        d(2024, 4, 12),
        re_,
        child_id=str(E),
        consent="refused",
        given_by=None,
    )
    offence(s, E, "e1", d(2024, 5, 1), d(2024, 6, 1), "conviction")
    s.add(
        "referrals",
        "OffenceRetracted",
        E,
        d(2024, 6, 5),
        uid(f"outcomes-{E}"),
        child_id=str(E),
        offence_id=str(uid("e1")),
    )
    offence(s, E, "e2", d(2024, 7, 1), d(2024, 8, 1), "youth_caution")
    offence(s, E, "e2", d(2024, 7, 1), None, "not_proven", event="OffenceCorrected")

    referral(s, F, d(2024, 12, 20), "bristol")
    return s
