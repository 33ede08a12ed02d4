"""The data folder and every SQLite store in it are the owner's alone."""

from __future__ import annotations

import stat
from pathlib import Path

from services.runtime import System
from shared.settings import development_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_is_0700_and_its_stores_0600(tmp_path: Path) -> None:
    data = tmp_path / "var"
    settings = development_settings(data)
    system = System.build(settings)
    try:
        system.engine("referrals-read").connect().close()
        assert mode(data) == 0o700
        assert mode(data / "secrets") == 0o700
        stores = sorted(data.rglob("*.sqlite"))
        assert stores
        for store in stores:
            assert mode(store) == 0o600, store
            assert mode(store.parent) == 0o700, store.parent
        for extra in [*data.rglob("*.sqlite-wal"), *data.rglob("*.sqlite-shm")]:
            assert mode(extra) & 0o077 == 0, extra
    finally:
        system.close()


def test_a_data_folder_left_open_is_closed_again(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    development_settings(data)
    assert mode(data) == 0o700
