"""Outcomes travel the real way: stored, relayed to JetStream, applied by the evaluation
consumer; an as-of export rebuilt from the published history leaves later events out."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import time_machine

from services.evaluation.service import export, facts_as_of, projects
from services.referrals.outcomes import Disposal, OffenceType, Outcomes
from services.runtime import System
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.harness import eventually, running_node, with_nats

META = Meta("cm-1", "case_manager", "c", "c")


async def test_offences_reach_the_evaluation_read_model_and_as_of_leaves_later_ones_out(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    today = date.today()
    earlier = today - timedelta(days=10)
    system = System.build(with_nats(settings, nats_server), ["referrals", "evaluation"])
    app: Any = system.apps["referrals"]
    outcomes = Outcomes(app)
    with time_machine.travel(datetime.combine(earlier, time(12), tzinfo=UTC), tick=False):
        child = app.register_child(
            given_name="Streamy",
            family_name="Synthetic",
            date_of_birth=date(2011, 3, 4),
            area=Area.BANES,
            nhs_number=None,
            upn=None,
            meta=META,
        )
        app.refer(
            child_id=child,
            case_manager_id="cm-1",
            reason="r",
            trauma_history="t",
            expected_involvement_months=9,
            meta=META,
        )
        first = outcomes.record_offence(
            child,
            offence_type=OffenceType.THEFT,
            committed_on=earlier - timedelta(days=5),
            proven_on=earlier,
            outcome=Disposal.CONVICTION,
            meta=META,
        )
    outcomes.record_offence(
        child,
        offence_type=OffenceType.ROBBERY,
        committed_on=today - timedelta(days=2),
        proven_on=today,
        outcome=Disposal.YOUTH_CAUTION,
        meta=META,
    )
    outcomes.correct_offence(
        child, first, {"outcome": Disposal.YOUTH_CAUTION}, META.with_reason("court record checked")
    )
    projects(system).create("stream-study", "Stream study", "admin-1")
    try:
        async with running_node(settings, nats_server, system=system):
            stored = app.max_notification_id()
            (consumer,) = [c for c in system.consumers() if c.name == "evaluation"]
            await eventually(lambda: consumer.sink.tracker.positions().get("referrals") == stored)
        live = facts_as_of(system, None, today)[str(child)].offences
        assert sorted((r.offence_type, r.outcome) for r in live) == [
            ("robbery", "youth_caution"),
            ("theft", "youth_caution"),
        ]
        yesterday = today - timedelta(days=1)
        past = facts_as_of(system, yesterday, today)[str(child)].offences
        assert [(r.offence_type, r.outcome) for r in past] == [("theft", "conviction")]
        result = export(system, "stream-study", earlier, today, yesterday, None, 1)
        (row,) = result.tables["children"].rows
        assert row["area"] == "banes" and row["comparison_complete"] is False
        assert result.parameters.as_of == yesterday
    finally:
        system.close()
