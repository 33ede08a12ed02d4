"""Child keys wrapped by the master key: wrong keys fail loudly, erasure shreds for good."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import Engine, select

from shared.crypto import (
    FieldCipher,
    KeyVault,
    MasterKeyError,
    child_keys,
    is_sealed,
    load_master_key,
)
from shared.domain import ChildErased
from shared.settings import Settings
from shared.sql import make_engine

EVENT = "Child.Registered"


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request: pytest.FixtureRequest) -> Settings:
    """Settings on each kind of store."""
    fixture = "settings" if request.param == "sqlite" else "pg_settings"
    settings: Settings = request.getfixturevalue(fixture)
    return settings


@pytest.fixture
def keys_engine(store_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(store_settings, "keys")
    yield engine
    engine.dispose()


def vault_for(engine: Engine, settings: Settings) -> KeyVault:
    return KeyVault(engine, load_master_key(settings.master_key))


def wrapped_key(engine: Engine, child_id: object) -> bytes | None:
    with engine.connect() as conn:
        value = conn.execute(
            select(child_keys.c.wrapped_key).where(child_keys.c.child_id == str(child_id))
        ).scalar()
    return bytes(value) if value is not None else None


def test_a_sealed_value_opens_with_the_childs_key_and_never_shows_the_plaintext(
    keys_engine: Engine, store_settings: Settings
) -> None:
    cipher = FieldCipher(vault_for(keys_engine, store_settings))
    child = uuid4()
    sealed = cipher.seal(child, "given_name", "Zephyrine-Quillfeather", event=EVENT)
    assert is_sealed(sealed)
    assert "Zephyrine" not in str(sealed)
    assert cipher.open(child, "given_name", sealed, event=EVENT) == "Zephyrine-Quillfeather"
    fresh = cipher.seal(child, "given_name", "Zephyrine-Quillfeather", event=EVENT)
    assert fresh != sealed  # fresh nonce


def test_the_data_key_is_stored_wrapped_never_in_clear(
    keys_engine: Engine, store_settings: Settings
) -> None:
    vault = vault_for(keys_engine, store_settings)
    child = uuid4()
    key = vault.key_for(child, create=True)
    assert key is not None and len(key) == 32
    stored = wrapped_key(keys_engine, child)
    assert stored is not None and key not in stored and len(stored) == 40


def test_a_wrong_master_key_fails_loudly_when_reading_an_existing_childs_key(
    keys_engine: Engine, store_settings: Settings
) -> None:
    child = uuid4()
    sealed = FieldCipher(vault_for(keys_engine, store_settings)).seal(
        child, "upn", "B801", event=EVENT
    )
    other = KeyVault(keys_engine, os.urandom(32))
    with pytest.raises(MasterKeyError, match="master_key"):
        other.key_for(child)
    with pytest.raises(MasterKeyError):
        FieldCipher(other).open(child, "upn", sealed, event=EVENT)


@pytest.mark.parametrize("encoded", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_master_key_is_refused(encoded: str) -> None:
    with pytest.raises(MasterKeyError, match="master_key"):
        load_master_key(encoded)


def test_a_value_sealed_for_one_child_does_not_open_under_another(
    keys_engine: Engine, store_settings: Settings
) -> None:
    cipher = FieldCipher(vault_for(keys_engine, store_settings))
    sealed = cipher.seal(uuid4(), "given_name", "Orlaith", event=EVENT)
    other = uuid4()
    cipher.seal(other, "given_name", "Someone", event=EVENT)
    with pytest.raises(MasterKeyError):
        cipher.open(other, "given_name", sealed, event=EVENT)


def test_a_tampered_ciphertext_fails_loudly(keys_engine: Engine, store_settings: Settings) -> None:
    cipher = FieldCipher(vault_for(keys_engine, store_settings))
    child = uuid4()
    sealed = cipher.seal(child, "nhs_number", "9434765919", event=EVENT)
    assert sealed is not None
    raw = bytearray(base64.b64decode(sealed[5:]))  # after "ecm2:"
    raw[-1] ^= 1
    with pytest.raises(MasterKeyError):
        cipher.open(
            child, "nhs_number", "ecm2:" + base64.b64encode(bytes(raw)).decode(), event=EVENT
        )


def test_after_erasure_sealed_values_read_as_none_and_nothing_new_can_be_sealed(
    keys_engine: Engine, store_settings: Settings
) -> None:
    vault = vault_for(keys_engine, store_settings)
    cipher = FieldCipher(vault)
    child = uuid4()
    sealed = cipher.seal(child, "given_name", "Zephyrine", event=EVENT)
    assert vault.erase(child) is True
    assert vault.erase(child) is False
    assert vault.is_erased(child)
    assert cipher.open(child, "given_name", sealed, event=EVENT) is None
    with pytest.raises(ChildErased):
        cipher.seal(child, "given_name", "Zephyrine", event=EVENT)
    fresh = vault_for(keys_engine, store_settings)  # another process, empty cache
    assert fresh.key_for(child) is None
    assert FieldCipher(fresh).open(child, "given_name", sealed, event=EVENT) is None


def test_erasing_an_unknown_child_leaves_a_tombstone_so_no_key_is_made_later(
    keys_engine: Engine, store_settings: Settings
) -> None:
    vault = vault_for(keys_engine, store_settings)
    child = uuid4()
    assert vault.erase(child) is False
    with pytest.raises(ChildErased):
        FieldCipher(vault_for(keys_engine, store_settings)).seal(child, "upn", "x", event=EVENT)


def test_another_process_sees_an_erasure_once_its_short_key_cache_expires(
    keys_engine: Engine, store_settings: Settings
) -> None:
    child = uuid4()
    reader = vault_for(keys_engine, store_settings)
    reader.cache_seconds = 0.0
    assert reader.key_for(child, create=True) is not None
    vault_for(keys_engine, store_settings).erase(child)
    assert reader.key_for(child) is None


def test_the_wrapped_key_leaves_no_trace_in_the_sqlite_files_after_erasure(
    settings: Settings,
) -> None:
    engine = make_engine(settings, "keys")
    vault = vault_for(engine, settings)
    child, neighbour = uuid4(), uuid4()
    vault.key_for(neighbour, create=True)
    vault.key_for(child, create=True)
    stored = wrapped_key(engine, child)
    assert stored is not None
    folder = settings.sqlite_path("keys").parent

    def files_holding(needle: bytes) -> list[Path]:
        return [p for p in folder.iterdir() if p.is_file() and needle in p.read_bytes()]

    assert files_holding(stored)  # the scan finds it while it exists
    vault.erase(child)
    assert files_holding(stored) == []
    assert wrapped_key(engine, neighbour) is not None  # other children unaffected
    engine.dispose()


def test_the_wrapped_key_leaves_no_trace_in_the_postgresql_table_files_after_erasure(
    pg_settings: Settings,
) -> None:
    import psycopg

    engine = make_engine(pg_settings, "keys")
    vault = vault_for(engine, pg_settings)
    child = uuid4()
    vault.key_for(child, create=True)
    stored = wrapped_key(engine, child)
    assert stored is not None
    url = pg_settings.postgres_url
    assert url is not None
    schema = pg_settings.pg_schema("keys")

    def table_files() -> list[Path]:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
            folder = Path(str(conn.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
            relation = conn.execute(
                "SELECT pg_relation_filepath(%s)", (f'"{schema}".child_keys',)
            ).fetchone()[0]  # type: ignore[index]
        base = folder / str(relation)
        return [p for p in base.parent.glob(base.name + "*") if p.is_file()]

    try:
        before = table_files()
        if not before or not os.access(before[0], os.R_OK):
            pytest.skip("the PostgreSQL data directory is not readable from this process")
    except (PermissionError, psycopg.Error):
        pytest.skip("the PostgreSQL data directory is not readable from this process")
    assert any(stored in p.read_bytes() for p in before)
    vault.erase(child)
    after = table_files() + [p for p in before if p.exists()]
    assert not any(stored in p.read_bytes() for p in after)
    engine.dispose()


def test_concurrent_first_use_of_a_child_agrees_on_one_key(
    keys_engine: Engine, store_settings: Settings
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    child = uuid4()
    vaults = [vault_for(keys_engine, store_settings) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        keys = list(pool.map(lambda v: v.key_for(child, create=True), vaults))
    assert len(set(keys)) == 1 and keys[0] is not None


def test_swapping_two_childrens_wrapped_keys_does_not_open_either_record(
    keys_engine: Engine, store_settings: Settings
) -> None:
    from sqlalchemy import update

    a, b = uuid4(), uuid4()
    cipher = FieldCipher(vault_for(keys_engine, store_settings))
    sealed_a = cipher.seal(a, "given_name", "Alpha", event=EVENT)
    cipher.seal(b, "given_name", "Beta", event=EVENT)
    key_a, key_b = wrapped_key(keys_engine, a), wrapped_key(keys_engine, b)
    with keys_engine.begin() as conn:
        conn.execute(
            update(child_keys).where(child_keys.c.child_id == str(a)).values(wrapped_key=key_b)
        )
        conn.execute(
            update(child_keys).where(child_keys.c.child_id == str(b)).values(wrapped_key=key_a)
        )
    with pytest.raises(MasterKeyError):
        FieldCipher(vault_for(keys_engine, store_settings)).open(
            a, "given_name", sealed_a, event=EVENT
        )
