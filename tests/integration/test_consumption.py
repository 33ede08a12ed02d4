"""Consumers apply the stream in order, exactly once in effect, on a real nats-server: after a
backlog every read model equals a rebuild from the stores, and every reschedule and
cancellation reaches the notice queue once."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from typing import cast

import pytest
from sqlalchemy import select

from services.formulation.application import FormulationApplication
from services.notifications.application import NotificationsApplication
from services.rebuild import check, rebuild
from services.reviews.application import ReviewsApplication
from services.runtime import System
from shared.bus import connect
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.harness import eventually, in_thread, running_node
from tests.workload import (
    Tally,
    contacts,
    differences,
    has_case,
    meetings,
    parked,
    queued,
    refer,
    settled,
)

BACKLOG_CHILDREN = int(os.environ.get("ECM_TEST_BACKLOG_CHILDREN", "80"))


async def test_a_backlog_applied_in_order_equals_a_rebuild_and_tells_every_partner_once(
    store_settings: Settings, nats_server: EmbeddedNats
) -> None:
    settings = store_settings
    rng = random.Random(8)
    tally = Tally()
    system = System.build(settings)
    async with running_node(settings, nats_server, system=system):
        invited = await in_thread(contacts, system)
        children = [await in_thread(refer, system, rng, tally) for _ in range(BACKLOG_CHILDREN)]
        formulation = cast(FormulationApplication, system.apps["formulation"])
        await eventually(lambda: all(has_case(formulation, c) for c in children), timeout=60)

    # The consumers stop; the relays carry on. Work piles up on the stream.
    async with running_node(settings, nats_server, system=system, run_consumers=False):
        for child in children:
            await in_thread(meetings, system, child, invited, rng, tally)
        late = [
            await in_thread(refer, system, rng, tally, accept=i % 3 != 0)
            for i in range(BACKLOG_CHILDREN // 2)
        ]
    assert tally.commands >= BACKLOG_CHILDREN * 9

    async with running_node(settings, nats_server, system=system):
        nc = await connect(system.settings, nats_server.url)
        await settled(system, nc.jetstream())
        await nc.close()
        kinds = queued(cast(NotificationsApplication, system.apps["notifications"]))
        assert kinds["formulation_meeting_rescheduled"] == tally.rescheduled * 2
        assert kinds["formulation_meeting_cancelled"] == tally.cancelled * 2
        assert kinds["formulation_meeting_scheduled"] == tally.scheduled * 2
        accepted = [c for i, c in enumerate(late) if i % 3 != 0]
        assert all(has_case(formulation, c) for c in accepted)
        assert not any(has_case(formulation, c) for i, c in enumerate(late) if i % 3 == 0)
        assert parked(system) == []
        assert await in_thread(differences, system) == []
    system.close()


async def test_a_read_model_rebuilt_while_the_system_runs_is_swapped_in_whole(
    store_settings: Settings, nats_server: EmbeddedNats
) -> None:
    settings = store_settings
    rng = random.Random(3)
    tally = Tally()
    async with running_node(settings, nats_server) as system:
        for _ in range(10):
            await in_thread(refer, system, rng, tally)
        nc = await connect(system.settings, nats_server.url)
        await settled(system, nc.jetstream())
        listing = next(c for c in system.consumers() if c.name == "referrals-list")
        before = await in_thread(check, system, listing)
        applied = await in_thread(rebuild, system, listing)
        more = [await in_thread(refer, system, rng, tally) for _ in range(3)]
        await settled(system, nc.jetstream())
        await nc.close()
        assert before == [] and applied >= 40
        assert await in_thread(check, system, listing) == []
        from services.referrals.projections import list_referrals

        rows = list_referrals(system.engine("referrals-read"))
        assert len(rows) == 13 and {str(r["child_id"]) for r in rows} >= {str(c) for c in more}


async def test_a_corrupted_row_is_reported_by_the_check(
    store_settings: Settings, nats_server: EmbeddedNats
) -> None:
    settings = store_settings
    rng = random.Random(5)
    system = System.build(settings)
    async with running_node(settings, nats_server, system=system):
        for _ in range(4):
            await in_thread(refer, system, rng, Tally())
        nc = await connect(system.settings, nats_server.url)
        await settled(system, nc.jetstream())
        await nc.close()
    from services.referrals.projections import referral_list

    engine = system.engine("referrals-read")
    with engine.begin() as conn:
        target = conn.execute(select(referral_list.c.referral_id)).scalars().first()
        conn.execute(
            referral_list.update()
            .where(referral_list.c.referral_id == target)
            .values(status="withdrawn")
        )
    listing = next(c for c in system.consumers() if c.name == "referrals-list")
    found = await in_thread(check, system, listing)
    assert [d.key for d in found] == [target]
    assert "status: live 'withdrawn' / rebuilt 'accepted'" in found[0].describe()
    await in_thread(rebuild, system, listing)
    assert await in_thread(check, system, listing) == []
    system.close()


async def test_a_user_command_without_expected_version_wins_its_race_with_a_consumer(
    store_settings: Settings, nats_server: EmbeddedNats
) -> None:
    settings = store_settings
    rng = random.Random(11)
    tally = Tally()
    async with running_node(settings, nats_server) as system:
        child = await in_thread(refer, system, rng, tally)
        formulation = cast(FormulationApplication, system.apps["formulation"])
        await eventually(lambda: has_case(formulation, child))

        reviews = cast(ReviewsApplication, system.apps["reviews"])
        await eventually(lambda: has_case(reviews, child))
        from datetime import date, timedelta

        from tests.workload import PSY

        async def assessments() -> None:  # each makes the reviews consumer write the case
            for day in range(30):
                await in_thread(
                    formulation.assess_stage,
                    child,
                    stage=1 + day % 3,
                    assessed_on=date(2026, 1, 1) + timedelta(days=day),
                    rationale="synthetic",
                    meta=PSY,
                )

        async def assignments() -> list[int]:  # a user on the same review case, no version
            return [
                await in_thread(reviews.assign_worker, child, f"sp-{n % 3}", PSY) for n in range(40)
            ]

        _, versions = await asyncio.gather(assessments(), assignments())
        assert versions == sorted(versions) and len(set(versions)) == 40
        nc = await connect(system.settings, nats_server.url)
        await settled(system, nc.jetstream())
        await nc.close()
        assert parked(system) == []


@pytest.mark.parametrize("missing", ["FormulationMeetingRescheduled"])
async def test_a_message_whose_precondition_is_missing_is_retried_then_parked_visibly(
    settings: Settings, nats_server: EmbeddedNats, missing: str
) -> None:
    from uuid import uuid4

    from shared.consumer import Delivery
    from shared.contracts import Actor, Envelope

    async with running_node(settings, nats_server, ["notifications"]) as system:
        envelope = Envelope(
            message_id="formulation:999",
            service="formulation",
            event_type=missing,
            event_version=1,
            notification_id=999,
            aggregate_id=uuid4(),
            aggregate_version=3,
            child_id=uuid4(),
            occurred_at="2026-01-05T10:00:00+00:00",
            actor=Actor(id="psy-1", role="psychologist"),
            reason="synthetic",
            correlation_id="c",
            causation_id="c",
            data={
                "child_id": str(uuid4()),
                "meeting_id": str(uuid4()),
                "starts_at": "2026-02-01T10:00:00+00:00",
            },
        )
        sink = system.consumers()[0].sink
        with pytest.raises(Exception, match="never seen scheduled"):
            await in_thread(sink.commit, [Delivery(1, envelope)])
        await in_thread(sink.park, Delivery(1, envelope), "MissingPrecondition: never seen", 5)
        assert [row["message_id"] for row in sink.parked()] == ["formulation:999"]
        assert await in_thread(sink.commit, [Delivery(1, envelope)]) == 0  # moved past it


def ecm(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The `ecm` command as an operator runs it, on the test's data folder and stores."""
    env = {
        **os.environ,
        "ECM_DATA_DIR": str(settings.data_dir),
        "ECM_DEV_MODE": "true",
        "COLUMNS": "200",
    }
    if settings.postgres_url:
        env |= {
            "ECM_POSTGRES_URL": settings.postgres_url,
            "ECM_PG_SCHEMA_PREFIX": settings.pg_schema_prefix,
        }
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def test_ecm_rebuild_with_the_system_and_nats_stopped_equals_live_and_check_finds_a_fault(
    store_settings: Settings, nats_server: EmbeddedNats
) -> None:
    settings = store_settings
    rng = random.Random(21)
    tally = Tally()
    system = System.build(settings)
    async with running_node(settings, nats_server, system=system):
        invited = await in_thread(contacts, system)
        children = [await in_thread(refer, system, rng, tally) for _ in range(6)]
        formulation = cast(FormulationApplication, system.apps["formulation"])
        await eventually(lambda: all(has_case(formulation, c) for c in children))
        for child in children:
            await in_thread(meetings, system, child, invited, rng, tally)
        nc = await connect(system.settings, nats_server.url)
        await settled(system, nc.jetstream())
        await nc.close()
    system.close()
    nats_server.stop()  # everything stopped: the rebuild reads the stores alone

    rebuilt = await in_thread(ecm, settings, "rebuild", "--all")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "rebuilt: referrals-list" in rebuilt.stdout and "events/s" in rebuilt.stdout
    checked = await in_thread(ecm, settings, "rebuild", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "live equals rebuild" in checked.stdout

    from services.reviews.caseload import cases
    from shared.sql import make_engine

    engine = make_engine(settings, "reviews-read")
    with engine.begin() as conn:
        child = conn.execute(select(cases.c.child_id)).scalars().first()
        conn.execute(
            cases.update().where(cases.c.child_id == child).values(area="bristol", worker_id="x")
        )
    engine.dispose()
    faulty = await in_thread(ecm, settings, "rebuild", "--check")
    assert faulty.returncode == 1
    assert f"reviews-caseload caseload_cases {child}: " in faulty.stdout
    assert "worker_id: live 'x' / rebuilt None" in faulty.stdout


async def test_relays_and_consumers_report_their_progress_as_metrics(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    from shared.metrics import exposition

    system = System.build(settings)
    async with running_node(settings, nats_server, system=system):
        await in_thread(refer, system, random.Random(9), Tally())
        nc = await connect(system.settings, nats_server.url)
        await settled(system, nc.jetstream())
        await nc.close()
        text = exposition()[0].decode()
    system.close()
    published = [
        line
        for line in text.splitlines()
        if line.startswith('ecm_relay_published_events_total{service="referrals"}')
    ]
    assert published and float(published[0].split()[-1]) >= 4
    assert 'ecm_relay_lag_events{service="referrals"} 0.0' in text
    assert 'ecm_consumer_lag_messages{consumer="referrals-list"} 0.0' in text
    assert 'ecm_consumer_parked_messages{consumer="referrals-list"} 0.0' in text


def test_readiness_fails_while_a_consumer_lags_too_far_and_names_it(settings: Settings) -> None:
    from services.ops import readiness, relay_roles
    from shared import metrics

    system = System.build(settings.model_copy(update={"ready_max_consumer_lag": 100}))
    try:
        metrics.CONSUMER_LAG.labels("referrals-list").set(101)
        metrics.RELAY_LEADER.labels("referrals").set(1)
        checks = readiness(system)
        assert checks["consumer referrals-list"] == "lagging: 101 messages behind"
        assert relay_roles(system)["referrals"] == "leader"
        metrics.CONSUMER_LAG.labels("referrals-list").set(100)
        assert "consumer referrals-list" not in readiness(system)
    finally:
        metrics.CONSUMER_LAG.labels("referrals-list").set(0)
        metrics.RELAY_LEADER.labels("referrals").set(0)
        system.close()
