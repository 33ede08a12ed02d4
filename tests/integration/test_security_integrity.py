"""Tamper evidence: each store's hash chain names the first stored event that was changed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import update

from services.governance.integrity import chain, seal, verify
from services.referrals.application import ReferralsApplication
from services.runtime import System
from shared.domain import Area, Meta
from shared.natsserver import EmbeddedNats
from shared.settings import Settings

META = Meta("cm-1", "case_manager", "c-1", "c-1")


@pytest.fixture(params=["sqlite", "postgres"])
def chained(request: pytest.FixtureRequest) -> Iterator[System]:
    """The whole system on each kind of store."""
    fixture = "settings" if request.param == "sqlite" else "pg_settings"
    settings: Settings = request.getfixturevalue(fixture)
    system = System.build(settings)
    yield system
    system.close()


def register(system: System, given: str) -> UUID:
    child_id: UUID = system.app(ReferralsApplication).register_child(
        given_name=given,
        family_name="Synthetic",
        date_of_birth=date(2010, 2, 3),
        area=Area.BRISTOL,
        nhs_number=None,
        upn=None,
        meta=META,
    )
    return child_id


def refer(system: System, child_id: UUID) -> UUID:
    referral_id: UUID = system.app(ReferralsApplication).refer(
        child_id=child_id,
        case_manager_id="cm-1",
        reason="Synthetic reason",
        trauma_history="Synthetic history",
        expected_involvement_months=9,
        meta=META,
    )
    return referral_id


def events_table(system: System) -> str:
    """The referrals store's events table (named after the application on PostgreSQL)."""
    recorder: Any = system.app(ReferralsApplication).recorder  # a SQL recorder
    return str(recorder.events_table_name)


def tamper(system: System, notification_id: int, change: Any) -> None:
    """Change one stored event's state behind the application's back."""
    settings = system.settings
    if settings.postgres_url is None:
        path = settings.sqlite_path("referrals-events")
        with sqlite3.connect(path) as conn:
            (state,) = conn.execute(
                "SELECT state FROM stored_events WHERE rowid = ?", (notification_id,)
            ).fetchone()
            conn.execute(
                "UPDATE stored_events SET state = ? WHERE rowid = ?",
                (change(bytes(state)), notification_id),
            )
        return
    import psycopg

    table = f'"{settings.pg_schema("referrals")}".{events_table(system)}'
    with psycopg.connect(settings.postgres_url, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT state FROM {table} WHERE notification_id = %s", (notification_id,)
        ).fetchone()
        assert row is not None
        conn.execute(
            f"UPDATE {table} SET state = %s WHERE notification_id = %s",
            (change(bytes(row[0])), notification_id),
        )


def delete(system: System, notification_id: int) -> None:
    settings = system.settings
    if settings.postgres_url is None:
        with sqlite3.connect(settings.sqlite_path("referrals-events")) as conn:
            conn.execute("DELETE FROM stored_events WHERE rowid = ?", (notification_id,))
        return
    import psycopg

    table = f'"{settings.pg_schema("referrals")}".{events_table(system)}'
    with psycopg.connect(settings.postgres_url, autocommit=True) as conn:
        conn.execute(f"DELETE FROM {table} WHERE notification_id = %s", (notification_id,))


def test_an_untouched_store_verifies_and_new_events_are_sealed_as_they_come(
    chained: System,
) -> None:
    child = register(chained, "Alpha")
    refer(chained, child)
    assert seal(chained)["referrals"] == 3
    register(chained, "Beta")
    report = verify(chained)
    assert report.ok
    referrals = next(s for s in report.services if s.service == "referrals")
    assert (referrals.checked, referrals.unsealed) == (3, 1)
    assert verify(chained).ok
    assert seal(chained)["referrals"] == 0


def test_changing_a_stored_events_bytes_is_named_by_its_notification_id(
    chained: System,
) -> None:
    child = register(chained, "Alpha")
    refer(chained, child)
    register(chained, "Gamma")
    seal(chained)

    def changed(state: bytes) -> bytes:  # one byte different, whatever the bytes are
        return state[:-2] + bytes([state[-2] ^ 1]) + state[-1:]

    tamper(chained, 2, changed)
    report = verify(chained)
    assert not report.ok
    first = report.first_mismatch
    assert first is not None
    assert (first.service, first.notification_id) == ("referrals", 2)
    assert "does not match" in first.problem
    assert first.topic is not None and first.topic.endswith("Child.Referred")


def test_deleting_a_sealed_event_is_named(chained: System) -> None:
    for name in ("Alpha", "Beta", "Gamma"):
        register(chained, name)
    seal(chained)
    delete(chained, 2)
    first = verify(chained).first_mismatch
    assert first is not None and first.notification_id == 2
    assert "missing" in first.problem


def test_rewriting_the_chain_without_the_master_key_does_not_hide_a_change(
    chained: System,
) -> None:
    import hashlib

    register(chained, "Alpha")
    seal(chained)
    tamper(chained, 1, lambda state: state.replace(b"bristol", b"banes__"))
    # An intruder with database access recomputes a plain SHA-256 seal over the new bytes.
    note = chained.app(ReferralsApplication).notifications(1, 1)[0]
    forged = hashlib.sha256(b"0" * 64 + bytes(note.state)).hexdigest()
    with chained.ops.begin() as conn:
        conn.execute(
            update(chain)
            .where(chain.c.service == "referrals", chain.c.notification_id == 1)
            .values(digest=forged)
        )
    first = verify(chained).first_mismatch
    assert first is not None and first.notification_id == 1


async def test_a_running_node_seals_new_events_in_the_background(
    settings: Settings, nats_server: EmbeddedNats, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.governance import integrity
    from tests.harness import eventually, in_thread, running_node

    monkeypatch.setattr(integrity, "SEAL_INTERVAL_SECONDS", 0.05)
    async with running_node(settings, nats_server) as system:
        await in_thread(register, system, "Delta")
        ledger = integrity.ChainStore(system.ops)
        await eventually(lambda: ledger.head("referrals")[0] == 1)
        await in_thread(register, system, "Epsilon")
        await eventually(lambda: ledger.head("referrals")[0] == 2)
        assert (await in_thread(verify, system)).ok
