"""`ecm keys rotate`: live child keys re-wrapped under a new master key, the old key destroyed,
so an erased child's old wrapped key can be found nowhere, or opened by nothing."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
import typer
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from services.governance.cli import register as register_commands
from services.governance.erasure import erase_child
from services.governance.integrity import seal, verify
from services.governance.keys import rotate_master_key
from services.referrals.application import ReferralsApplication
from services.runtime import System
from shared.auth import mint_token
from shared.crypto import KeyVault, child_keys, load_master_key
from shared.domain import Meta, Role
from shared.settings import Settings, development_settings
from shared.sql import make_engine
from tests.integration.test_security_integrity import register

app = typer.Typer()
register_commands(app)
DPO = Meta("dpo-1", "auditor", "corr-erase", "corr-erase", reason="retention period ended")


def wrapped(engine: Engine, child_id: UUID | str) -> bytes | None:
    with engine.connect() as conn:
        value = conn.execute(
            select(child_keys.c.wrapped_key).where(child_keys.c.child_id == str(child_id))
        ).scalar()
    return bytes(value) if value is not None else None


def files_holding(folder: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    """Which files under `folder` contain each needle (files that vanish mid-scan skipped)."""
    found: dict[str, list[str]] = {name: [] for name in needles}
    for path in folder.rglob("*"):
        try:
            if not path.is_file():
                continue
            data = path.read_bytes()
        except OSError:
            continue
        for name, needle in needles.items():
            if needle in data:
                found[name].append(str(path.relative_to(folder)))
    return found


def rotate(settings: Settings, *args: str) -> str:
    token = mint_token(settings, "admin-1", Role.ADMIN, None)
    result = CliRunner().invoke(
        app,
        ["keys", "rotate", "--yes", "--token", token, "--data-dir", str(settings.data_path), *args],
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def erased_and_kept(settings: Settings) -> Iterator[tuple[UUID, UUID, bytes, bytes]]:
    """Two children on SQLite, the first erased: ids and their wrapped keys before."""
    system = System.build(settings)
    try:
        gone, kept = register(system, "Erasable-Alpha"), register(system, "Kept-Beta")
        seal(system)
        before = wrapped(system.vault.engine, gone), wrapped(system.vault.engine, kept)
        erase_child(system, gone, DPO, date.today())
    finally:
        system.close()
    assert before[0] is not None and before[1] is not None
    yield gone, kept, before[0], before[1]


def test_after_erase_and_rotate_no_file_in_the_data_folder_holds_an_old_wrapped_key(
    settings: Settings,
    erased_and_kept: tuple[UUID, UUID, bytes, bytes],
) -> None:
    gone, kept, gone_wrapped, kept_wrapped = erased_and_kept
    old_master = settings.master_key
    assert "1 child key(s) re-wrapped" in rotate(settings)
    found = files_holding(
        settings.data_path,
        {
            "erased child's wrapped key": gone_wrapped,
            "kept child's old wrapped key": kept_wrapped,
            "old master key": old_master.encode(),
            "old master key bytes": base64.b64decode(old_master),
        },
    )
    assert found == {name: [] for name in found}
    secrets = settings.data_path / "secrets"
    assert not (secrets / "master_key.new").exists()
    assert stat.S_IMODE((secrets / "master_key").stat().st_mode) == 0o600

    after = development_settings(settings.data_path)
    assert after.master_key != old_master
    system = System.build(after)
    try:
        assert system.app(ReferralsApplication).get_child(kept).given_name == "Kept-Beta"
        assert system.app(ReferralsApplication).get_child(gone).given_name is None
        report = verify(system)  # the chain's key did not move with the master key
        assert report.ok and report.services[0].checked == 2, report.as_dict()
    finally:
        system.close()


def test_with_the_master_key_from_the_environment_the_new_key_goes_to_the_named_file(
    settings: Settings,
    erased_and_kept: tuple[UUID, UUID, bytes, bytes],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, kept, _, _ = erased_and_kept
    monkeypatch.setenv("ECM_MASTER_KEY", settings.master_key)  # outside dev mode
    monkeypatch.setenv("ECM_SECRET_KEY", settings.secret_key)
    (settings.data_path / "secrets" / "master_key").unlink()
    token = mint_token(settings, "admin-1", Role.ADMIN, None)
    refused = CliRunner().invoke(
        app, ["keys", "rotate", "--yes", "--token", token, "--data-dir", str(settings.data_path)]
    )
    assert refused.exit_code == 1 and "--new-key-file" in refused.output
    target = tmp_path / "handover" / "new-master-key"
    target.parent.mkdir()
    assert "set ECM_MASTER_KEY" in rotate(settings, "--new-key-file", str(target))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    monkeypatch.setenv("ECM_MASTER_KEY", target.read_text())
    system = System.build(Settings(data_dir=settings.data_path))
    try:
        assert system.app(ReferralsApplication).get_child(kept).given_name == "Kept-Beta"
    finally:
        system.close()


def test_an_admin_alone_may_rotate_the_master_key(settings: Settings) -> None:
    token = mint_token(settings, "dpo-1", Role.AUDITOR, None)
    result = CliRunner().invoke(
        app, ["keys", "rotate", "--yes", "--token", token, "--data-dir", str(settings.data_path)]
    )
    assert result.exit_code == 3 and "forbidden" in result.output


@pytest.mark.postgres
def test_after_erase_and_rotate_no_copy_in_the_postgresql_data_directory_can_be_unwrapped(
    pg_settings: Settings,
) -> None:
    engine = make_engine(pg_settings, "keys")
    try:
        with engine.connect() as conn:
            data_dir = Path(str(conn.execute(text("SHOW data_directory")).scalar()))
        if not os.access(data_dir / "pg_wal", os.R_OK | os.X_OK):
            pytest.skip(
                f"the PostgreSQL data directory {data_dir} is not readable by this "
                "user (run the tests as its owner or root to check pg_wal)"
            )
        vault = KeyVault(engine, load_master_key(pg_settings.master_key))
        gone, kept = UUID(int=0xE1), UUID(int=0xE2)
        for child in (gone, kept):
            assert vault.key_for(child, create=True) is not None
        gone_wrapped, kept_wrapped = wrapped(engine, gone), wrapped(engine, kept)
        assert gone_wrapped is not None and kept_wrapped is not None
        vault.erase(gone)
        old_master = pg_settings.master_key
        rotate_master_key(pg_settings, vault)  # what `ecm keys rotate` runs, on PostgreSQL
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("CHECKPOINT"))
        new_master = load_master_key(development_settings(pg_settings.data_path).master_key)
        found = files_holding(
            data_dir,
            {
                "erased": gone_wrapped,
                "old master": old_master.encode(),
                "old master bytes": base64.b64decode(old_master),
            },
        )
        # Old row versions may linger in WAL segments until they are recycled and overwritten;
        # what matters is that no key that can still be read unwraps them.
        assert found["old master"] == [] and found["old master bytes"] == []
        with pytest.raises(InvalidUnwrap):
            aes_key_unwrap(new_master, gone_wrapped)
        assert wrapped(engine, kept) != kept_wrapped
        assert KeyVault(engine, new_master).key_for(kept) is not None
    finally:
        engine.dispose()


def test_secrets_sealed_before_a_rotation_still_open_after_it(settings: Settings) -> None:
    """Partner signing keys (sealed inside events, never rewritten) and evaluation projects'
    secrets survive the rotation: the key sealing them moves to the key store, re-wrapped."""
    from services.evaluation.service import projects
    from services.notifications.application import WEBHOOK_SECRET, NotificationsApplication
    from services.notifications.domain import Channel
    from shared.crypto import SECRETS_KEY_ID
    from shared.vocabulary import Agency

    system = System.build(settings)
    try:
        register(system, "Kept-Gamma")
        notifications = system.app(NotificationsApplication)
        contact = notifications.register_partner(
            agency=Agency.HEALTH,
            name="Synthetic Nurse",
            email="nurse@health.example",
            webhook_url="https://health.example/hook",
            preferred_channel=Channel.WEBHOOK,
            webhook_secret="synthetic-webhook-secret",
            meta=DPO,
        )
        sealed = notifications.get_partner(contact).webhook_secret
        assert sealed is not None
        project = projects(system).create("rotation-check", "Synthetic project", "admin-1")
    finally:
        system.close()

    assert "1 child key(s) re-wrapped" in rotate(settings)  # the secrets key is not a child's

    system = System.build(development_settings(settings.data_path))
    try:
        assert system.vault.open_secret(WEBHOOK_SECRET, sealed) == ("synthetic-webhook-secret")
        assert projects(system).get("rotation-check").key == project.key
        assert wrapped(system.vault.engine, SECRETS_KEY_ID) is not None
    finally:
        system.close()
    assert "1 child key(s) re-wrapped" in rotate(settings)  # and again, from the stored key
    system = System.build(development_settings(settings.data_path))
    try:
        assert projects(system).get("rotation-check").key == project.key
    finally:
        system.close()
