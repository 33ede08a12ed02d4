"""A seeded folder is published in time order, so every consumer takes each child's story in
order: nothing held back, nothing parked, every read model complete."""

from __future__ import annotations

from datetime import date

from services.demo import publish_in_time_order, seed
from services.runtime import System
from shared.natsserver import EmbeddedNats
from shared.settings import Settings
from tests.harness import eventually, running_node, with_nats


async def test_a_seeded_cohort_reaches_every_consumer_in_order_with_nothing_parked(
    settings: Settings, nats_server: EmbeddedNats
) -> None:
    system = System.build(with_nats(settings, nats_server))
    try:
        made = seed(system, 25, seed_value=4, years=2, today=date(2025, 12, 31))
        published = await publish_in_time_order(system, nats_server.url)
        assert published == sum(
            app.max_notification_id() for app in system.apps.values() if app.service != "governance"
        )
        async with running_node(settings, nats_server, system=system, run_relays=False):

            def caught_up() -> bool:
                return all(
                    c.sink.tracker.positions().get("referrals")
                    == system.apps["referrals"].max_notification_id()
                    for c in system.consumers()
                    if c.name in ("children-index", "evaluation")
                )

            await eventually(caught_up, timeout=60)
            assert {c.name: c.sink.parked() for c in system.consumers()} == {
                c.name: [] for c in system.consumers()
            }
        assert made["children"] == 25 and made["reviews"] > 0
    finally:
        system.close()


def test_ecm_demo_seed_makes_and_publishes_a_reproducible_cohort(settings: Settings) -> None:
    from typer.testing import CliRunner

    from services.cli import app
    from shared.relay import PositionStore

    result = CliRunner().invoke(
        app,
        [
            "demo",
            "seed",
            "--children",
            "6",
            "--years",
            "1.5",
            "--seed",
            "3",
            "--data-dir",
            str(settings.data_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "seeded 6 synthetic children" in result.output
    system = System.build(settings)
    try:
        positions = PositionStore(system.ops)
        assert positions.get("referrals") == system.apps["referrals"].max_notification_id() > 0
    finally:
        system.close()
