"""The event store on SQLite and PostgreSQL: round trip, concurrency, sealing, point in time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from services.referrals.application import ReferralsApplication
from services.referrals.domain import Child, Consent
from services.runtime import System
from shared.domain import Area, Conflict, Meta
from shared.settings import Settings
from shared.store import load_as_of

META = Meta("cm-1", "case_manager", "c-1", "c-1")


@pytest.fixture(params=["sqlite", "postgres"])
def store_system(request: pytest.FixtureRequest) -> Iterator[System]:
    """The referrals service on each kind of store."""
    fixture = "settings" if request.param == "sqlite" else "pg_settings"
    settings: Settings = request.getfixturevalue(fixture)
    system = System.build(settings, ["referrals"])
    yield system
    system.close()


def register(app: ReferralsApplication, given: str = "Perpetua") -> object:
    return app.register_child(
        given_name=given,
        family_name="Synthetic",
        date_of_birth=date(2010, 2, 3),
        area=Area.BRISTOL,
        nhs_number="9434765919",
        upn=None,
        meta=META,
    )


def test_a_child_round_trips_through_the_store(store_system: System) -> None:
    app: ReferralsApplication = store_system.apps["referrals"]  # type: ignore[assignment]
    child_id = register(app)
    child = app.get_child(child_id)  # type: ignore[arg-type]
    assert (child.given_name, child.date_of_birth, child.area) == (
        "Perpetua",
        date(2010, 2, 3),
        Area.BRISTOL,
    )
    assert app.max_notification_id() == 1


def test_personal_fields_are_sealed_in_the_stored_event(store_system: System) -> None:
    app: ReferralsApplication = store_system.apps["referrals"]  # type: ignore[assignment]
    register(app, "Wilhelmina-Oddsock")
    (notification,) = app.notifications(1, 10)
    assert b"Wilhelmina-Oddsock" not in notification.state
    assert b"9434765919" not in notification.state
    assert b"ecm2:" in notification.state
    assert b"bristol" in notification.state  # non-personal facts stay readable


def test_two_writers_on_one_referral_one_wins_and_the_other_gets_a_conflict(
    store_system: System,
) -> None:
    app: ReferralsApplication = store_system.apps["referrals"]  # type: ignore[assignment]
    child_id = register(app)
    referral_id = app.refer(
        child_id=child_id,  # type: ignore[arg-type]
        case_manager_id="cm-1",
        reason="why",
        trauma_history="history",
        expected_involvement_months=6,
        meta=META,
    )
    app.record_consent(referral_id, Consent.GIVEN, "parent", META)
    first = app.get_referral(referral_id)
    second = app.get_referral(referral_id)
    first.accept(META)
    second.offer_consultation(META)
    app.save_all(first)
    with pytest.raises(Conflict):
        app.save_all(second)
    assert app.get_referral(referral_id).status == "accepted"
    assert app.max_notification_id() == 5  # registered, referred, made, consent, accepted


def test_a_stale_expected_version_is_refused_and_nothing_is_written(
    store_system: System,
) -> None:
    app: ReferralsApplication = store_system.apps["referrals"]  # type: ignore[assignment]
    child_id = register(app)
    before = app.max_notification_id()
    with pytest.raises(Conflict, match="expected_version"):
        app.correct_child(
            child_id,  # type: ignore[arg-type]
            "given_name",
            "Other",
            META.with_reason("typo"),
            expected_version=7,
        )
    assert app.max_notification_id() == before


def test_the_record_shows_as_it_stood_on_a_past_date(store_system: System) -> None:
    app: ReferralsApplication = store_system.apps["referrals"]  # type: ignore[assignment]
    child_id = register(app)
    app.correct_child(child_id, "given_name", "Corrected", META.with_reason("spelling"))  # type: ignore[arg-type]
    today = date.today()
    assert load_as_of(app, Child, child_id, "child", today).given_name == "Corrected"  # type: ignore[arg-type]
    from shared.domain import NotFound

    with pytest.raises(NotFound, match="did not exist"):
        load_as_of(app, Child, child_id, "child", today - timedelta(days=1))  # type: ignore[arg-type]


def test_the_relay_leader_lock_admits_one_holder_on_each_kind_of_store(
    store_system: System,
) -> None:
    from shared.leader import LeaderLock

    folder = store_system.settings.data_path / "locks"
    first = LeaderLock("relay-referrals", store_system.ops, folder)
    second = LeaderLock("relay-referrals", store_system.ops, folder)
    assert first.acquire() and not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_an_idle_leader_session_lets_go_of_its_engine(store_system: System) -> None:
    """Once its last lock is released, the shared PostgreSQL session leaves the registry."""
    from shared.leader import LeaderLock, _Session

    if store_system.ops.dialect.name != "postgresql":
        pytest.skip("one PostgreSQL session holds the advisory locks; SQLite uses file locks")
    folder = store_system.settings.data_path / "locks"
    lock = LeaderLock("relay-referrals", store_system.ops, folder)
    assert lock.acquire()
    assert id(store_system.ops) in _Session.sessions
    lock.release()
    assert id(store_system.ops) not in _Session.sessions
