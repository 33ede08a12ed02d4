"""Anchored tamper evidence: cutting, wiping, reordering or leaving a gap is named by verify,
and sealing refuses to extend a chain that no longer reaches its signed anchor."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator

import pytest
from sqlalchemy import delete as sql_delete

from services.governance.anchors import ANCHOR_FILE, SIGNING_KEY_FILE, AnchorLog
from services.governance.integrity import ChainBroken, chain, seal, verify
from services.referrals.application import ReferralsApplication
from services.runtime import System
from shared.settings import Settings
from tests.integration.test_security_integrity import delete, register, tamper


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def chained(request: pytest.FixtureRequest) -> Iterator[System]:
    """The whole system on each kind of store."""
    fixture = "settings" if request.param == "sqlite" else "pg_settings"
    settings: Settings = request.getfixturevalue(fixture)
    system = System.build(settings)
    yield system
    system.close()


def sealed_children(system: System, count: int) -> None:
    for n in range(count):
        register(system, f"Child-{n}")
    seal(system)


def delete_seals(system: System, *, from_id: int) -> None:
    with system.ops.begin() as conn:
        conn.execute(
            sql_delete(chain).where(
                chain.c.service == "referrals", chain.c.notification_id >= from_id
            )
        )


def anchor_lines(system: System) -> list[str]:
    path = system.settings.data_path / "anchors" / ANCHOR_FILE
    return path.read_text().splitlines()


def referrals_problem(system: System) -> tuple[int, str]:
    report = verify(system)
    first = report.first_mismatch
    assert first is not None and first.service == "referrals", report.as_dict()
    return first.notification_id, first.problem


def test_each_seal_with_new_events_appends_one_signed_anchor_in_files_only_we_can_read(
    chained: System,
) -> None:
    sealed_children(chained, 2)
    seal(chained)  # nothing new: no new line
    register(chained, "Later")
    seal(chained)
    lines = anchor_lines(chained)
    assert len(lines) == 2
    assert json.loads(lines[-1])["heads"]["referrals"]["count"] == 3
    latest = AnchorLog(chained.settings).latest()
    assert latest is not None and latest.heads["referrals"].last_id == 3
    data = chained.settings.data_path
    for path in (data / "anchors" / ANCHOR_FILE, data / "secrets" / SIGNING_KEY_FILE):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_deleting_the_last_events_with_their_seals_is_named_as_a_truncation(
    chained: System,
) -> None:
    sealed_children(chained, 3)
    before = anchor_lines(chained)
    delete(chained, 3)
    delete(chained, 2)
    delete_seals(chained, from_id=2)
    notification_id, problem = referrals_problem(chained)
    assert notification_id == 2
    assert "truncated" in problem and "3 sealed events up to notification 3" in problem
    with pytest.raises(ChainBroken, match="no longer reaches its anchor"):
        seal(chained)
    assert anchor_lines(chained) == before  # the alarm does not lower the anchor


def test_wiping_a_store_and_its_chain_is_named(chained: System) -> None:
    sealed_children(chained, 2)
    for n in (1, 2):
        delete(chained, n)
    delete_seals(chained, from_id=1)
    notification_id, problem = referrals_problem(chained)
    assert notification_id == 1 and problem.startswith("wiped")


def test_swapped_events_whose_seals_were_deleted_are_not_sealed_again(
    chained: System,
) -> None:
    sealed_children(chained, 3)
    first, second = (bytes(n.state) for n in chained.app(ReferralsApplication).notifications(1, 2))
    tamper(chained, 1, lambda _: second)
    tamper(chained, 2, lambda _: first)
    delete_seals(chained, from_id=1)
    notification_id, problem = referrals_problem(chained)
    assert notification_id == 1 and "seals after notification 0 were deleted" in problem
    with pytest.raises(ChainBroken):
        seal(chained)
    assert referrals_problem(chained) == (notification_id, problem)  # still named, not resealed


def test_reordered_events_under_intact_seals_are_named_at_the_first_one(
    chained: System,
) -> None:
    sealed_children(chained, 3)
    first, second = (bytes(n.state) for n in chained.app(ReferralsApplication).notifications(1, 2))
    tamper(chained, 1, lambda _: second)
    tamper(chained, 2, lambda _: first)
    notification_id, problem = referrals_problem(chained)
    assert notification_id == 1 and "reordered" in problem


def test_a_gap_left_among_unsealed_events_is_named_and_never_sealed_over(
    settings: Settings,
) -> None:
    # SQLite only: PostgreSQL's notification ids come from a sequence that a lost race also
    # consumes, so a hole there is not evidence of a deletion.
    system = System.build(settings)
    try:
        sealed_children(system, 1)
        for name in ("Beta", "Gamma"):
            register(system, name)
        delete(system, 2)
        notification_id, problem = referrals_problem(system)
        assert notification_id == 3 and "gap" in problem and "2..2" in problem
        with pytest.raises(ChainBroken, match="gap"):
            seal(system)
        assert verify(system, extend=False).services[0].checked == 1
    finally:
        system.close()


def test_a_forged_anchor_line_is_named_and_verification_fails(chained: System) -> None:
    sealed_children(chained, 1)
    path = chained.settings.data_path / "anchors" / ANCHOR_FILE
    record = json.loads(anchor_lines(chained)[-1])
    record["heads"]["referrals"]["count"] = 0
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")
    report = verify(chained)
    assert not report.ok
    assert report.anchor_problem is not None and "not signed" in report.anchor_problem
