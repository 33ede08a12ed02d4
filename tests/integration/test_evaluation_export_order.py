"""Evaluation export rows come in pseudonym order, so row position links no two exports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from sqlalchemy import create_engine

from services.evaluation.export import export_rows
from services.evaluation.projection import EvaluationProjection
from shared.consumer import Delivery
from shared.contracts import Actor, Envelope

CHILDREN = [UUID(int=n) for n in range(1, 9)]  # internal ids in a known order


def referral_made(n: int, child_id: UUID) -> Envelope:
    return Envelope(
        message_id=f"referrals:{n}",
        service="referrals",
        event_type="ReferralMade",
        event_version=1,
        notification_id=n,
        aggregate_id=UUID(int=1000 + n),
        aggregate_version=1,
        child_id=child_id,
        occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
        actor=Actor(id="u", role="case_manager"),
        reason=None,
        correlation_id="c",
        causation_id="c",
        data={
            "child_id": str(child_id),
            "area": "bristol",
            "case_manager_id": "cm",
            "reason": None,
            "trauma_history": None,
            "expected_involvement_months": 9,
        },
    )


def test_export_rows_are_ordered_by_pseudonym_not_by_internal_id(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/eval.sqlite")
    projection = EvaluationProjection(engine)
    projection.commit(
        [Delivery(n, referral_made(n, child)) for n, child in enumerate(CHILDREN, start=1)]
    )
    for key in (b"k" * 32, b"j" * 32, None):
        rows = export_rows(engine, key)
        assert len(rows) == len(CHILDREN)
        pseudonyms = [row["pseudonym"] for row in rows]
        assert pseudonyms == sorted(pseudonyms)
