"""Tables that cannot be rebuilt from events are migrated with Alembic, on SQLite and
PostgreSQL; a database made by `create_all` before migrations is adopted without loss; read
models carry a version and are rebuilt from the stores when it changes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, inspect, select

from services.migrate import migrate, role_models
from services.referrals.projections import ReferralListProjection, referral_list
from services.runtime import System
from shared import migrations
from shared.consumer import STREAM_CURSOR, parked, positions, read_model_versions
from shared.natsserver import EmbeddedNats
from shared.relay import relay_positions
from shared.settings import Settings
from shared.sql import make_engine
from tests.harness import eventually, in_thread, running_node
from tests.workload import Tally, refer

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def engines(store_settings: Settings) -> Iterator[dict[str, Engine]]:
    """A fresh, empty database (SQLite file or PostgreSQL schema) per role."""
    made = {role: make_engine(store_settings, f"mig-{role}") for role in migrations.ROLES}
    yield made
    for engine in made.values():
        engine.dispose()


def tables_of(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


@pytest.mark.parametrize("role", migrations.ROLES)
def test_an_empty_database_upgrades_to_the_head_and_matches_the_models(
    engines: dict[str, Engine], role: str
) -> None:
    engine = engines[role]
    assert migrations.current(engine, role) is None
    migrations.upgrade(engine, role)
    assert migrations.current(engine, role) == migrations.head(role)
    assert set(role_models()[role].tables) <= tables_of(engine)
    assert migrations.differences(engine, role, role_models()[role]) == []


def test_the_models_and_the_migrations_agree_for_every_role(engines: dict[str, Engine]) -> None:
    """`alembic check`: a model changed without a migration fails here, naming the change."""
    for role, engine in engines.items():
        migrations.upgrade(engine, role)
        assert migrations.differences(engine, role, role_models()[role]) == [], role


def test_the_previous_revision_upgrades_keeping_every_row(engines: dict[str, Engine]) -> None:
    engine = engines["tracking"]
    migrations.upgrade(engine, "tracking", "tracking_0001")
    assert "read_model_versions" not in tables_of(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(positions).values(consumer="c", source="referrals", position=7, updated_at=NOW)
        )
        conn.execute(
            insert(parked).values(
                consumer="c",
                seq=3,
                message_id="referrals:3",
                subject="ecm.referrals.X",
                payload="{}",
                error="boom",
                attempts=5,
                parked_at=NOW,
            )
        )
    migrations.upgrade(engine, "tracking")
    assert migrations.current(engine, "tracking") == "tracking_0002"
    with engine.connect() as conn:
        assert conn.execute(select(positions.c.position)).scalar() == 7
        assert conn.execute(select(parked.c.error)).scalar() == "boom"
        assert conn.execute(select(read_model_versions)).all() == []
    assert migrations.differences(engine, "tracking", role_models()["tracking"]) == []


def test_a_downgrade_to_the_previous_revision_and_back_is_clean(engines: dict[str, Engine]) -> None:
    engine = engines["tracking"]
    migrations.upgrade(engine, "tracking")
    migrations.downgrade(engine, "tracking", "tracking_0001")
    assert "read_model_versions" not in tables_of(engine)
    migrations.upgrade(engine, "tracking")
    assert migrations.differences(engine, "tracking", role_models()["tracking"]) == []


def test_a_database_made_by_create_all_is_adopted_without_loss(engines: dict[str, Engine]) -> None:
    for role, engine in engines.items():
        role_models()[role].create_all(engine)  # what the code did before migrations
    ops = engines["ops"]
    with ops.begin() as conn:
        conn.execute(
            insert(relay_positions).values(service="referrals", position=41, updated_at=NOW)
        )
    tracking = engines["tracking"]
    with tracking.begin() as conn:  # before read_model_versions existed
        conn.execute(
            insert(positions).values(consumer="c", source=STREAM_CURSOR, position=9, updated_at=NOW)
        )
    read_model_versions.drop(tracking)
    for role, engine in engines.items():
        migrations.ensure(engine, role)
        assert migrations.current(engine, role) == migrations.head(role), role
        assert migrations.differences(engine, role, role_models()[role]) == [], role
    with ops.connect() as conn:
        assert conn.execute(select(relay_positions.c.position)).scalar() == 41
    with tracking.connect() as conn:
        assert conn.execute(select(positions.c.position)).scalar() == 9


def test_migrated_tables_are_never_made_with_create_all() -> None:
    for path in (
        "shared/crypto.py",
        "shared/idempotency.py",
        "shared/relay.py",
        "services/governance/integrity.py",
    ):
        assert "create_all" not in (ROOT / path).read_text(), path
    tracker = (ROOT / "shared/consumer.py").read_text().split("class Tracker")[1]
    assert "create_all" not in tracker.split("\nclass ")[0]


def test_migrate_brings_every_database_of_a_new_node_to_its_head(settings: Settings) -> None:
    system = System.build(settings)
    try:
        report = migrate(system)
    finally:
        system.close()
    assert report.revisions["ops"] == migrations.head("ops")
    assert report.revisions["keys"] == migrations.head("keys")
    assert report.revisions["idempotency"] == migrations.head("idempotency")
    assert report.revisions["notifications"] == migrations.head("notifications")
    assert report.revisions["referrals-list (tracking)"] == migrations.head("tracking")
    assert report.rebuilt == {}


def referral_rows(system: System) -> list[dict[str, object]]:
    with system.engine("referrals-read").connect() as conn:
        rows = conn.execute(select(referral_list).order_by(referral_list.c.referral_id))
        return [dict(r._mapping) for r in rows]


async def test_a_read_model_of_another_version_is_rebuilt_from_the_stores_at_start(
    store_settings: Settings, nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = System.build(store_settings, ["referrals"])
    rng, tally = random.Random(3), Tally()
    try:
        async with running_node(store_settings, nats_server, system=system):
            for _ in range(3):
                await in_thread(refer, system, rng, tally)
            await eventually(lambda: len(referral_rows(system)) == 3, timeout=30)
        before = referral_rows(system)
        monkeypatch.setattr(ReferralListProjection, "version", 2)  # the next release
        report = migrate(system)
        assert report.rebuilt["referrals-list"][:2] == (1, 2)
        assert referral_rows(system) == before
        sink = next(c.sink for c in system.consumers() if c.name == "referrals-list")
        assert isinstance(sink, ReferralListProjection) and sink.is_current()
        assert migrate(system).rebuilt == {}  # once rebuilt, a restart rebuilds nothing
    finally:
        system.close()


def test_a_model_changed_without_a_migration_is_named(engines: dict[str, Engine]) -> None:
    from sqlalchemy import Column, MetaData, String

    engine = engines["keys"]
    migrations.upgrade(engine, "keys")
    changed = MetaData()
    table = role_models()["keys"].tables["child_keys"].to_metadata(changed)
    table.append_column(Column("new_field", String(10), nullable=True))
    found = migrations.differences(engine, "keys", changed)
    assert [(d[0], d[2], d[3].name) for d in found] == [("add_column", "child_keys", "new_field")]


def test_a_read_model_built_before_versions_existed_is_taken_as_version_one(
    settings: Settings,
) -> None:
    engine = make_engine(settings, "referrals-read")
    try:
        built = ReferralListProjection(engine)
        assert built.built_version() == ReferralListProjection.version  # new: this version
        with engine.begin() as conn:  # as today's code left it: positions, no version
            built.tracker.save(conn, {STREAM_CURSOR: 12, "referrals": 30})
            conn.execute(read_model_versions.delete())
        adopted = ReferralListProjection(engine)
        assert adopted.built_version() == 1
        assert adopted.tracker.positions() == {STREAM_CURSOR: 12, "referrals": 30}
    finally:
        engine.dispose()


def test_ecm_migrate_reports_every_database_at_its_head(settings: Settings) -> None:
    from typer.testing import CliRunner

    from services.cli import app

    result = CliRunner().invoke(app, ["migrate", "--data-dir", str(settings.data_path)])
    assert result.exit_code == 0, result.output
    for role, name in (
        ("ops", "ops"),
        ("keys", "keys"),
        ("idempotency", "idempotency"),
        ("notifications", "notifications"),
        ("tracking", "governance-audit (tracking)"),
    ):
        assert f"{name}: at {migrations.head(role)}" in result.output
    again = CliRunner().invoke(app, ["migrate", "--data-dir", str(settings.data_path)])
    assert again.exit_code == 0 and "rebuilt" not in again.output


def test_processes_migrating_one_postgresql_database_at_once_all_succeed(
    pg_settings: Settings,
) -> None:
    """Scaled out, every process migrates at start: they queue on one advisory lock."""
    import subprocess
    import sys

    script = (
        "import sys; from pathlib import Path; from shared.settings import "
        "development_settings; from shared.sql import make_engine; from shared import "
        "migrations; s = development_settings(Path(sys.argv[1]), postgres_url=sys.argv[2], "
        "pg_schema_prefix=sys.argv[3]); e = make_engine(s, 'mig-race'); "
        "[migrations.ensure(e, role) for role in migrations.ROLES]"
    )
    assert pg_settings.postgres_url is not None
    args = [str(pg_settings.data_path), pg_settings.postgres_url, pg_settings.pg_schema_prefix]
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [racer.communicate(timeout=120) for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * 4, [err for _, err in results]
    engine = make_engine(pg_settings, "mig-race")
    for role in migrations.ROLES:  # every role shares the one schema, each its own version
        assert migrations.current(engine, role) == migrations.head(role)
        assert migrations.differences(engine, role, role_models()[role]) == [], role
