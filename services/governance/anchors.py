"""Anchors of the hash chains: signed heads appended to a file outside the databases.

Each seal appends one line to `<data>/anchors/integrity.jsonl` (opened O_APPEND): for every
store the number of sealed events, the last sealed notification id and the chain's digest
there, signed with an Ed25519 key kept in `<data>/secrets/` (mode 0600). Database credentials
give neither the key nor the file, so deleting events together with their seals, wiping a store
and its chain, or rebuilding a chain no longer matches the latest anchor.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.crypto import load_master_key
from shared.settings import Settings

ANCHOR_FILE = "integrity.jsonl"
SIGNING_KEY_FILE = "integrity-anchor.key"
CHAIN_KEY_FILE = "integrity-chain.key"
TAIL_BYTES = 64 * 1024


class AnchorError(RuntimeError):
    """The anchor file is unreadable, or a line in it is not signed by the anchor key."""


@dataclass(frozen=True)
class Head:
    """One store's chain head: how many events are sealed, the last id and its digest."""

    count: int
    last_id: int
    digest: str


@dataclass(frozen=True)
class Anchor:
    """One signed line of the anchor file."""

    at: str
    heads: dict[str, Head]


def secrets_folder(settings: Settings) -> Path:
    """Where the integrity keys live (the data folder's secrets, mode 0700)."""
    folder = settings.data_path / "secrets"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _key_file(path: Path, make: bytes) -> bytes:
    """The 32 bytes kept in `path`, written once (mode 0600) from `make` if absent."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(make).decode())
            out.flush()
            os.fsync(out.fileno())
    raw = base64.b64decode(path.read_text().strip(), validate=True)
    if len(raw) != 32:
        raise AnchorError(f"{path.name}: must hold 32 bytes in base64")
    return raw


def chain_key(settings: Settings) -> bytes:
    """The HMAC key of the chains, kept in the secrets folder so a master key rotation keeps
    every seal verifiable; first made from the master key as the chains were sealed before."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"ecm-record integrity chain v1"
    )
    return _key_file(
        secrets_folder(settings) / CHAIN_KEY_FILE, hkdf.derive(load_master_key(settings.master_key))
    )


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The Ed25519 key that signs anchors (made once, kept in the secrets folder)."""
    seed = _key_file(secrets_folder(settings) / SIGNING_KEY_FILE, os.urandom(32))
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_text(key: Ed25519PublicKey) -> str:
    """The anchor key's public half in base64 (to keep apart for offline checks)."""
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


class AnchorLog:
    """The append-only file of signed chain heads beside the data."""

    def __init__(self, settings: Settings) -> None:
        folder = settings.data_path / "anchors"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = folder / ANCHOR_FILE
        self.key = signing_key(settings)
        self.public = self.key.public_key()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the anchor file's lock: heads are read and appended by one sealer at a time."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def append(self, heads: dict[str, Head]) -> None:
        """Sign and append one line (one write on an O_APPEND descriptor, then fsync)."""
        body = {
            "v": 1,
            "at": datetime.now(UTC).isoformat(),
            "heads": {s: asdict(h) for s, h in sorted(heads.items())},
        }
        signature = self.key.sign(_canonical(body))
        line = (
            json.dumps({**body, "sig": base64.b64encode(signature).decode()}, sort_keys=True) + "\n"
        )
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def latest(self) -> Anchor | None:
        """The last anchor, its signature checked; None when nothing was anchored yet."""
        if not self.path.exists():
            return None
        with self.path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            lines = f.read().splitlines()
        return self._parse(lines[-1], "its last line") if lines else None

    def _parse(self, raw: bytes, line: str) -> Anchor:
        where = f"{self.path.name}, {line}"
        try:
            record: dict[str, Any] = json.loads(raw)
            signature = base64.b64decode(record.pop("sig"), validate=True)
            self.public.verify(signature, _canonical(record))
            heads = {
                s: Head(int(h["count"]), int(h["last_id"]), str(h["digest"]))
                for s, h in record["heads"].items()
            }
        except InvalidSignature:
            raise AnchorError(
                f"{where}: not signed by this installation's anchor key (forged or altered)"
            ) from None
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise AnchorError(f"{where}: unreadable ({e})") from None
        return Anchor(at=str(record["at"]), heads=heads)


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
