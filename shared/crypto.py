"""Per-child data keys, wrapped by a master key, and field-level AES-GCM encryption."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from shared import migrations
from shared.domain import ChildErased
from shared.transcoding import make_transcoder

PREFIX_V1 = "ecm1:"
"""Format 1 (read only): AES-GCM bound to the child alone; stored values keep opening."""
PREFIX = "ecm2:"
"""Format 2: AES-GCM bound to the child, the event it is stored in and the field's path."""
PREFIXES = (PREFIX, PREFIX_V1)
metadata = MetaData()
child_keys = Table(
    "child_keys",
    metadata,
    Column("child_id", String(36), primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=True),
)


class MasterKeyError(RuntimeError):
    """The master key is malformed or does not unwrap the stored keys."""


def load_master_key(encoded: str) -> bytes:
    """Decode a base64 master key of 32 bytes, refusing anything else loudly."""
    try:
        key = base64.b64decode(encoded, validate=True)
    except ValueError as e:
        raise MasterKeyError("master_key: must be base64") from e
    if len(key) != 32:
        raise MasterKeyError("master_key: must decode to 32 bytes")
    return key


SEALED_SECRET = "sealed:v1:"
SECRETS_KEY_ID = "ecm:sealed-secrets"
"""The row of the key store holding the key that seals credentials (`seal_secret`), wrapped
by the master key like a child's key, so a rotation of the master key carries it over."""


class NotSealed(ValueError):
    """A personal field holds a value that is not sealed (it is refused, never passed on)."""


class Misplaced(MasterKeyError):
    """A ciphertext does not open in this place: another child, event or field, or altered."""


class KeyVault:
    """Holds each child's data key, wrapped by the master key; erasure deletes it."""

    cache_seconds = 2.0

    def __init__(self, engine: Engine, master_key: bytes) -> None:
        self.engine = engine
        self._master = master_key
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()
        if engine.dialect.name == "sqlite":
            with engine.begin() as conn:
                conn.execute(text("PRAGMA secure_delete = ON"))
        migrations.ensure(engine, "keys")

    def seal_secret(self, purpose: str, value: str) -> str:
        """`value` (a credential that is nobody's personal data, e.g. a partner's webhook
        signing key) sealed under a key derived from the master key, bound to `purpose`."""
        nonce = os.urandom(12)
        sealed = AESGCM(self._secrets_key()).encrypt(nonce, value.encode(), purpose.encode())
        return SEALED_SECRET + base64.b64encode(nonce + sealed).decode()

    def open_secret(self, purpose: str, value: str) -> str:
        """A value sealed by `seal_secret` for `purpose`; a value stored before sealing (no
        prefix) is returned as it is."""
        if not value.startswith(SEALED_SECRET):
            return value
        raw = base64.b64decode(value.removeprefix(SEALED_SECRET))
        try:
            plain = AESGCM(self._secrets_key()).decrypt(raw[:12], raw[12:], purpose.encode())
        except InvalidTag:
            raise ValueError(f"{purpose}: sealed under another master key or changed") from None
        return plain.decode()

    def _secrets_key(self) -> bytes:
        """The key sealing credentials: stored wrapped once the master key was first rotated,
        derived from the master key until then (so secrets sealed before a rotation, some of
        them in events that are never rewritten, keep opening after it)."""
        with self.engine.connect() as conn:
            wrapped = conn.execute(
                select(child_keys.c.wrapped_key).where(child_keys.c.child_id == SECRETS_KEY_ID)
            ).scalar()
        if wrapped is not None:
            return self._unwrap(wrapped)
        return self._derived_secrets_key(self._master)

    @staticmethod
    def _derived_secrets_key(master: bytes) -> bytes:
        return HKDF(
            algorithm=SHA256(), length=32, salt=None, info=b"ecm-record:sealed-secrets"
        ).derive(master)

    def key_for(self, child_id: UUID | str, *, create: bool = False) -> bytes | None:
        """The child's data key; None when erased (or unknown and not created)."""
        cid = str(child_id)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(cid)
            if cached and cached[0] > now and (cached[1] is not None or not create):
                return cached[1]
        with self.engine.connect() as conn:
            row = conn.execute(
                select(child_keys.c.wrapped_key, child_keys.c.erased_at).where(
                    child_keys.c.child_id == cid
                )
            ).first()
        if row is None:
            if not create:
                return None
            return self._create(cid)
        if row.erased_at is not None or row.wrapped_key is None:
            if create:
                raise ChildErased(f"child {cid}: personal data was erased")
            self._remember(cid, None)
            return None
        key = self._unwrap(row.wrapped_key)
        self._remember(cid, key)
        return key

    def _create(self, cid: str) -> bytes:
        key = AESGCM.generate_key(bit_length=256)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(child_keys).values(
                        child_id=cid,
                        wrapped_key=aes_key_wrap(self._master, key),
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            found = self.key_for(cid, create=False)
            if found is None:
                raise ChildErased(f"child {cid}: personal data was erased") from None
            return found
        self._remember(cid, key)
        return key

    def _unwrap(self, wrapped: bytes) -> bytes:
        try:
            return aes_key_unwrap(self._master, wrapped)
        except InvalidUnwrap as e:
            raise MasterKeyError(
                "master_key: does not unwrap the stored child keys (wrong master key?)"
            ) from e

    def _remember(self, cid: str, key: bytes | None) -> None:
        with self._lock:
            self._cache[cid] = (time.monotonic() + self.cache_seconds, key)

    def erase(self, child_id: UUID | str) -> bool:
        """Destroy the child's key (a tombstone stays); True if a key was destroyed."""
        cid = str(child_id)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(child_keys)
                .where(child_keys.c.child_id == cid, child_keys.c.wrapped_key.is_not(None))
                .values(wrapped_key=None, erased_at=datetime.now(UTC))
            )
            destroyed = bool(result.rowcount)
            if not destroyed:
                exists = conn.execute(
                    select(child_keys.c.child_id).where(child_keys.c.child_id == cid)
                ).first()
                if exists is None:
                    conn.execute(
                        insert(child_keys).values(
                            child_id=cid,
                            wrapped_key=None,
                            created_at=datetime.now(UTC),
                            erased_at=datetime.now(UTC),
                        )
                    )
        self._remember(cid, None)
        self._purge_old_versions()
        return destroyed

    def _purge_old_versions(self) -> None:
        """Overwrite the old copies of a destroyed key that the database still keeps."""
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            # VACUUM FULL rewrites the table into a new file: the dead tuple's bytes go with
            # the old file instead of lingering in a page until it is reused.
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("VACUUM FULL child_keys"))
        elif dialect == "sqlite":
            # In WAL mode the frame written when the key was created stays in the -wal file
            # until a checkpoint; copy the erased page home and truncate the log.
            for _attempt in range(50):
                with self.engine.connect() as c:
                    busy = c.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).first()
                if busy is None or not busy[0]:
                    return
                time.sleep(0.1)
            raise RuntimeError(
                "child_keys: the key was erased but the WAL could not be "
                "truncated (a reader held it); run the erasure again"
            )

    def rewrap(self, new_master: bytes) -> int:
        """Re-wrap every live child key under `new_master` in one transaction, then shred the
        old wrapped copies; returns how many keys were re-wrapped.

        A key that already unwraps under `new_master` (a rotation interrupted after its commit)
        is left as it is, so the rotation can be run again.
        """
        if len(new_master) != 32 or new_master == self._master:
            raise MasterKeyError("master_key: the new key must be 32 bytes and differ")
        rewrapped = 0
        with self.engine.begin() as conn:
            kept = conn.execute(
                select(child_keys.c.child_id).where(child_keys.c.child_id == SECRETS_KEY_ID)
            ).first()
            if kept is None:  # first rotation: keep the key the old master derived
                conn.execute(
                    insert(child_keys).values(
                        child_id=SECRETS_KEY_ID,
                        created_at=datetime.now(UTC),
                        wrapped_key=aes_key_wrap(
                            self._master, self._derived_secrets_key(self._master)
                        ),
                    )
                )
            rows = conn.execute(
                select(child_keys.c.child_id, child_keys.c.wrapped_key)
                .where(child_keys.c.wrapped_key.is_not(None))
                .with_for_update()
            ).all()
            for row in rows:
                try:
                    key = aes_key_unwrap(self._master, row.wrapped_key)
                except InvalidUnwrap:
                    self._unwrap_with(new_master, row.wrapped_key)  # already rotated, or raise
                    continue
                conn.execute(
                    update(child_keys)
                    .where(child_keys.c.child_id == row.child_id)
                    .values(wrapped_key=aes_key_wrap(new_master, key))
                )
                rewrapped += row.child_id != SECRETS_KEY_ID
        self._master = new_master
        with self._lock:
            self._cache.clear()
        self._purge_old_versions()
        return rewrapped

    @staticmethod
    def _unwrap_with(master: bytes, wrapped: bytes) -> bytes:
        try:
            return aes_key_unwrap(master, wrapped)
        except InvalidUnwrap as e:
            raise MasterKeyError(
                "master_key: a stored child key opens under neither the "
                "current nor the new master key"
            ) from e

    def is_erased(self, child_id: UUID | str) -> bool:
        """True when the child's key has been destroyed."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(child_keys.c.erased_at).where(child_keys.c.child_id == str(child_id))
            ).first()
        return row is not None and row.erased_at is not None


class FieldCipher:
    """Seals and opens single values under a child's data key, bound to their place.

    The place is the child, the event the value is stored in (`event_name` of its class, the
    same on the wire: the relay forwards sealed values untouched) and the field's path
    (`recommendations.text` for a key of a list's items). A ciphertext moved to another
    child, event or field does not open.
    """

    def __init__(self, vault: KeyVault) -> None:
        self.vault = vault
        self.transcoder = make_transcoder()

    def seal(self, child_id: UUID | str, field: str, value: Any, *, event: str) -> str | None:
        """Encrypt one JSON-able value for `field` of `event`; None stays None."""
        if value is None:
            return None
        key = self.vault.key_for(child_id, create=True)
        assert key is not None
        nonce = os.urandom(12)
        plain = self.transcoder.encode(value)
        ct = AESGCM(key).encrypt(nonce, plain, _aad(child_id, event, field))
        return PREFIX + base64.b64encode(nonce + ct).decode()

    def open(self, child_id: UUID | str, field: str, sealed: Any, *, event: str) -> Any:
        """Decrypt a value sealed for `field` of `event`; None when the key was erased.

        Fails closed: a value that is not sealed raises NotSealed, a ciphertext of another
        place raises Misplaced.
        """
        if sealed is None:
            return None
        if not is_sealed(sealed):
            raise NotSealed(f"{field}: a personal field of {event} holds an unsealed value")
        key = self.vault.key_for(child_id)
        if key is None:
            return None
        aad = _aad(child_id, event, field) if sealed.startswith(PREFIX) else _aad_v1(child_id)
        try:
            raw = base64.b64decode(sealed.split(":", 1)[1], validate=True)
            plain = AESGCM(key).decrypt(raw[:12], raw[12:], aad)
        except (InvalidTag, ValueError) as e:
            raise Misplaced(
                f"{field}: the ciphertext does not belong to this child, event "
                f"({event}) and field, or was altered"
            ) from e
        return self.transcoder.decode(plain)


def event_name(event_cls: type[object]) -> str:
    """The name a ciphertext is bound to: the event class as declared on its aggregate.

    A class renamed after values were sealed in it sets `sealed_as` to its old name (on the
    class itself: it is not inherited), so that the stored values keep opening.
    """
    own = event_cls.__dict__.get("sealed_as")
    return own if isinstance(own, str) else event_cls.__qualname__


def is_sealed(value: Any) -> bool:
    """True for a value sealed by FieldCipher (either format)."""
    return isinstance(value, str) and value.startswith(PREFIXES)


def _aad(child_id: UUID | str, event: str, field: str) -> bytes:
    return json.dumps(["ecm2", str(child_id), event, field]).encode()


def _aad_v1(child_id: UUID | str) -> bytes:
    # Format 1 was bound to the child only; kept so the values already stored keep opening.
    return f"ecm-child:{child_id}".encode()
