"""Snapshots must seal personal fields like events do (guarantee 8 names snapshots too)."""

from __future__ import annotations

from datetime import date

import pytest

from services.referrals.application import ReferralsApplication
from services.runtime import System
from shared.domain import Area, Meta
from shared.settings import Settings

META = Meta("cm-1", "case_manager", "c-1", "c-1")


def test_a_snapshot_holds_no_plaintext_personal_data(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IS_SNAPSHOTTING_ENABLED", "y")
    system = System.build(settings, ["referrals"])
    try:
        app = system.app(ReferralsApplication)
        child_id = app.register_child(
            given_name="Snapshottia-Clearwater",
            family_name="Synthetic",
            date_of_birth=date(2010, 1, 1),
            area=Area.BRISTOL,
            nhs_number=None,
            upn=None,
            meta=META,
        )
        if app.snapshots is not None:
            app.take_snapshot(child_id)
    finally:
        system.close()
    leaked = [
        p for p in settings.data_path.rglob("*") if p.is_file() and b"Snapshottia" in p.read_bytes()
    ]
    assert leaked == []
