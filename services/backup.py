"""Cold backup and restore of an embedded (SQLite + embedded NATS) data folder.

Backup runs with the system stopped (it takes the data folder's lock, so a running `ecm up`
refuses it) and copies the event stores before the key store: every event in the backup then
has its child's key in the backup too (a key erased in between is an erasure, not a loss).
Restore writes in the opposite order (secrets, keys, then events, then the stream's store),
so an interrupted restore can leave keys without events, never events without their keys.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.instance import InstanceLock

MANIFEST = "manifest.json"
KEY_STORE = "keys.sqlite"
FORMAT = 1


class BackupError(RuntimeError):
    """The backup or restore cannot be done as asked."""


def backup(data: Path, out: Path) -> dict[str, Any]:
    """Copy `data` (stopped) to the new folder `out`; the manifest written last."""
    if not (data / "db").is_dir():
        raise BackupError(f"{data} holds no stores (db/ is missing)")
    _must_be_empty(out)
    with InstanceLock(data):
        (out / "db").mkdir(parents=True)
        stores = sorted(p for p in (data / "db").glob("*.sqlite") if p.name != KEY_STORE)
        if (data / "db" / KEY_STORE).exists():
            stores.append(data / "db" / KEY_STORE)  # last: keys for every event copied
        for store in stores:
            _copy_sqlite(store, out / "db" / store.name)
        if (data / "nats" / "jetstream").is_dir():
            shutil.copytree(data / "nats" / "jetstream", out / "nats" / "jetstream")
        if (data / "secrets").is_dir():
            shutil.copytree(data / "secrets", out / "secrets")
            (out / "secrets").chmod(0o700)
    files = {str(p.relative_to(out)): _digest(p) for p in sorted(out.rglob("*")) if p.is_file()}
    manifest = {
        "format": FORMAT,
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": str(data),
        "stores": [p.name for p in stores],
        "master_key_included": (out / "secrets" / "master_key").exists(),
        "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def restore(source: Path, data: Path) -> dict[str, Any]:
    """Restore the backup `source` into the empty (or new) data folder `data`."""
    manifest = _checked_manifest(source)
    _must_be_empty(data, allow={"ecm.lock"})
    with InstanceLock(data):
        if (source / "secrets").is_dir():
            shutil.copytree(source / "secrets", data / "secrets")
            (data / "secrets").chmod(0o700)
        (data / "db").mkdir()
        stores = list(manifest["stores"])
        if KEY_STORE in stores:  # first: never events without their keys
            stores.remove(KEY_STORE)
            stores.insert(0, KEY_STORE)
        for name in stores:
            _copy_sqlite(source / "db" / name, data / "db" / name)
        if (source / "nats" / "jetstream").is_dir():
            shutil.copytree(source / "nats" / "jetstream", data / "nats" / "jetstream")
    return manifest


def _checked_manifest(source: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise BackupError(f"{source} is not a complete backup ({MANIFEST}: {e})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source}: unknown backup format {manifest.get('format')!r}")
    for name, digest in manifest["files"].items():
        path = source / name
        if not path.is_file() or _digest(path) != digest:
            raise BackupError(f"{source}: {name} is missing or changed since the backup")
    return manifest


def _must_be_empty(folder: Path, allow: set[str] | None = None) -> None:
    if folder.exists() and any(p.name not in (allow or set()) for p in folder.iterdir()):
        raise BackupError(f"{folder} is not empty: choose a new folder")
    folder.mkdir(parents=True, exist_ok=True)


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's backup API (includes what is still in the WAL)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    target.chmod(0o600)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()
