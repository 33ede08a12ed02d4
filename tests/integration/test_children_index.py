"""The child index read model on real SQLite, fed messages in stream order: an overdue review
comes before everything else, a message about a child never registered is a missing
precondition, every family name has as many blind index entries whatever its length, and an
erased child leaves no entry behind."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import func, select

from services.children.index import (
    ChildFilter,
    Queue,
    Searcher,
    bound_index,
    child_search,
    list_children,
)
from services.children.search import MAX_PREFIX, search_key
from services.referrals.contracts import REGISTRY as REFERRALS
from shared.consumer import Delivery
from shared.contracts import Actor, Envelope
from shared.crypto import FieldCipher, KeyVault, is_sealed, load_master_key
from shared.domain import MissingPrecondition
from shared.settings import development_settings
from shared.sql import make_engine

TODAY = date(2026, 6, 1)

REGISTERED = REFERRALS.sealed_event("ChildRegistered")


def envelope(n: int, service: str, event_type: str, child: UUID, **data: Any) -> Envelope:
    return Envelope(
        message_id=f"{service}:{n}",
        service=service,
        event_type=event_type,
        event_version=1,
        notification_id=n,
        aggregate_id=child,
        aggregate_version=n,
        child_id=child,
        occurred_at=datetime(2026, 5, 1, 10, tzinfo=UTC) + timedelta(minutes=n),
        actor=Actor(id="psy-1", role="psychologist"),
        reason=None,
        correlation_id="c",
        causation_id="c",
        data=data,
    )


def test_an_overdue_review_comes_first_and_an_erased_child_leaves_no_index_entry(
    tmp_path: Path,
) -> None:
    settings = development_settings(tmp_path / "var")
    vault = KeyVault(make_engine(settings, "keys"), load_master_key(settings.master_key))
    cipher = FieldCipher(vault)
    engine = make_engine(settings, "children-read")
    index = bound_index(Searcher(cipher, search_key(settings)))(engine)
    waiting, overdue = uuid4(), uuid4()

    def registered(n: int, child: UUID, family: str) -> Envelope:
        return envelope(
            n,
            "referrals",
            "ChildRegistered",
            child,
            area="bristol",
            given_name=cipher.seal(child, "given_name", "Synthetic", event=REGISTERED),
            family_name=cipher.seal(child, "family_name", family, event=REGISTERED),
            date_of_birth=cipher.seal(child, "date_of_birth", date(2011, 1, 1), event=REGISTERED),
            nhs_number=None,
            upn=None,
        )

    messages = [
        registered(1, waiting, "Waitwell"),
        registered(2, overdue, "Lo"),
        envelope(
            3,
            "referrals",
            "ReferralMade",
            waiting,
            child_id=str(waiting),
            area="bristol",
            case_manager_id="cm-1",
            reason=None,
            trauma_history=None,
            expected_involvement_months=9,
        ),
        envelope(
            4,
            "reviews",
            "ReviewDue",
            overdue,
            child_id=str(overdue),
            review_id=str(uuid4()),
            due_on=(TODAY - timedelta(days=3)).isoformat(),
        ),
    ]
    index.commit([Delivery(n, e) for n, e in enumerate(messages, start=1)])
    rows, total = list_children(engine, ChildFilter(), today=TODAY, limit=10, offset=0)
    assert total == 2
    assert [r["child_id"] for r in rows] == [str(overdue), str(waiting)]
    assert [r["attention"] for r in rows] == [0, 1]
    late, _ = list_children(
        engine, ChildFilter(queue=Queue.REVIEW_OVERDUE), today=TODAY, limit=10, offset=0
    )
    assert [r["child_id"] for r in late] == [str(overdue)]
    assert all(is_sealed(r["family_name"]) for r in rows)  # kept sealed
    with engine.connect() as conn:
        per_child = conn.execute(
            select(child_search.c.child_id, func.count())
            .where(child_search.c.field == "family_name")
            .group_by(child_search.c.child_id)
        ).all()
    assert sorted(n for _, n in per_child) == [MAX_PREFIX, MAX_PREFIX]  # lengths not told

    def at(minute: int, second: int) -> list[dict[str, Any]]:
        moment = datetime(2026, 5, 1, 10, minute, second, tzinfo=UTC)
        rows, _ = list_children(
            engine, ChildFilter(), today=TODAY, limit=10, offset=0, as_of=moment
        )
        return rows

    assert [r["child_id"] for r in at(1, 30)] == [str(waiting)]  # as it stood at an instant
    assert {r["status"] for r in at(2, 30)} == {"registered"}
    assert [r["attention"] for r in at(4, 30)] == [0, 1]

    vault.erase(overdue)
    erased = envelope(
        5,
        "governance",
        "ChildErased",
        overdue,
        child_id=str(overdue),
        erased_on=TODAY.isoformat(),
        key_destroyed=True,
    )
    index.commit([Delivery(5, erased)])
    with engine.connect() as conn:
        left = conn.execute(
            select(func.count())
            .select_from(child_search)
            .where(child_search.c.child_id == str(overdue))
        ).scalar_one()
    assert left == 0
    after, _ = list_children(engine, ChildFilter(), today=TODAY, limit=10, offset=0)
    assert [(r["child_id"], r["status"]) for r in after] == [
        (str(waiting), "referred"),
        (str(overdue), "erased"),
    ]
    assert [r["family_name"] is None for r in at(4, 30)] == [True, False]  # the past too

    offered = [
        envelope(
            7,
            "referrals",
            "ReferralMade",
            waiting,
            child_id=str(waiting),
            area="bristol",
            case_manager_id="cm-1",
            reason=None,
            trauma_history=None,
            expected_involvement_months=9,
        ),
        envelope(
            8, "referrals", "ConsultationOffered", waiting, child_id=str(waiting), area="bristol"
        ),
    ]
    offered[0] = offered[0].model_copy(update={"aggregate_id": offered[1].aggregate_id})
    index.commit([Delivery(n, e) for n, e in enumerate(offered, start=7)])
    assert [
        r["status"] for r in list_children(engine, ChildFilter(), today=TODAY, limit=1, offset=0)[0]
    ] == ["consultation"]
    closed = envelope(9, "formulation", "ConsultationClosed", waiting, child_id=str(waiting))
    index.commit([Delivery(9, closed)])
    assert [
        r["status"] for r in list_children(engine, ChildFilter(), today=TODAY, limit=1, offset=0)[0]
    ] == ["closed"]

    stranger = envelope(10, "reviews", "ReviewWorkerAssigned", uuid4(), worker_id="sp-1")
    with pytest.raises(MissingPrecondition):
        index.commit([Delivery(10, stranger)])
    engine.dispose()
    vault.engine.dispose()
