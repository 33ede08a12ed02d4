"""`ecm keys rotate`: every live child key re-wrapped under a new master key; the old one goes.

Erasure destroys a child's wrapped key, but copies of the old row can outlive it in
PostgreSQL's WAL, in replicas and in backups. Those copies are wrapped by the master key of
their day: once that master key is destroyed they can never be unwrapped again.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from services.governance.anchors import chain_key, secrets_folder
from shared.crypto import KeyVault, MasterKeyError, load_master_key
from shared.settings import Settings

MASTER_KEY_FILE = "master_key"


@dataclass(frozen=True)
class RotationDone:
    """What a rotation did."""

    rewrapped: int
    key_file: Path
    replaced_in_place: bool


def rotate_master_key(
    settings: Settings, vault: KeyVault, *, new_key_file: Path | None = None
) -> RotationDone:
    """Re-wrap every live child key under a new master key and destroy the old key's file.

    The new key is on disk (mode 0600) before any key is re-wrapped, so an interrupted rotation
    is finished by running it again. When the master key in use comes from the data folder's
    secrets, that file is replaced; otherwise (a key from the environment or a secret store)
    the new key is written to `new_key_file` for the operator to install.
    """
    chain_key(settings)  # the chain's own key file, so old seals still verify afterwards
    in_use = secrets_folder(settings) / MASTER_KEY_FILE
    in_place = new_key_file is None
    if in_place:
        if not in_use.exists() or in_use.read_text().strip() != settings.master_key.strip():
            raise MasterKeyError(
                "master_key: it comes from the environment, not the data "
                "folder: pass --new-key-file to receive the new key"
            )
        target = in_use.with_name(MASTER_KEY_FILE + ".new")
    else:
        assert new_key_file is not None
        target = new_key_file
    new_master = _key_in(target)
    rewrapped = vault.rewrap(new_master)
    if in_place:
        with in_use.open("r+b") as old:  # held open: its bytes are overwritten once replaced
            os.replace(target, in_use)
            _fsync_folder(in_use.parent)
            _shred(old)
    return RotationDone(
        rewrapped=rewrapped, key_file=in_use if in_place else target, replaced_in_place=in_place
    )


def _key_in(path: Path) -> bytes:
    """The master key in `path`, made (32 random bytes, mode 0600) when the file is new."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_master_key(path.read_text().strip())
    with os.fdopen(fd, "w") as out:
        out.write(base64.b64encode(secrets.token_bytes(32)).decode())
        out.flush()
        os.fsync(out.fileno())
    _fsync_folder(path.parent)
    return load_master_key(path.read_text().strip())


def _shred(old: BinaryIO) -> None:
    """Overwrite the replaced key file's bytes (best effort on journalling or copy-on-write
    filesystems: see the README)."""
    size = os.fstat(old.fileno()).st_size
    old.seek(0)
    old.write(b"\0" * size)
    old.flush()
    os.fsync(old.fileno())


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
