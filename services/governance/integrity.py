"""Tamper evidence: a keyed hash chain over each store's events, sealed and verified."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eventsourcing.persistence import Notification
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from services.governance.history import notifications
from services.governance.stores import all_stores, close_all_stores
from shared.crypto import load_master_key
from shared.settings import Settings

if TYPE_CHECKING:
    from services.runtime import System

log = logging.getLogger(__name__)
GENESIS = "0" * 64
BATCH = 500
SEAL_INTERVAL_SECONDS = 5.0
metadata = MetaData()
chain = Table(
    "integrity_chain",
    metadata,
    Column("service", String(64), primary_key=True),
    Column("notification_id", BigInteger, primary_key=True, autoincrement=False),
    Column("originator_id", String(64), nullable=False),
    Column("originator_version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("sealed_at", DateTime(timezone=True), nullable=False),
)


def chain_key(settings: Settings) -> bytes:
    """The HMAC key of the chain, derived from the master key (never stored)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"ecm-record integrity chain v1")
    return hkdf.derive(load_master_key(settings.master_key))


def link(key: bytes, previous: str, n: Notification) -> str:
    """The seal of one notification: HMAC over the previous seal and everything stored."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    state: Any = n.state
    # A tampered row may no longer hold bytes (SQLite lets anything into a BLOB column).
    raw = bytes(state) if isinstance(state, bytes | bytearray | memoryview) else \
        str(state).encode()
    for part in (previous.encode(), str(n.id).encode(), str(n.originator_id).encode(),
                 str(n.originator_version).encode(), str(n.topic).encode(), raw):
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)
    return mac.hexdigest()


class ChainStore:
    """The seals of every store, in the operational database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def head(self, service: str) -> tuple[int, str]:
        """The last sealed notification id and its seal (0 and the genesis seal if none)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(chain.c.notification_id, chain.c.digest)
                .where(chain.c.service == service)
                .order_by(chain.c.notification_id.desc()).limit(1)
            ).first()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def rows(self, service: str) -> Iterator[Any]:
        """Every seal of `service`, in order."""
        after = 0
        while True:
            with self.engine.connect() as conn:
                batch = conn.execute(
                    select(chain).where(chain.c.service == service,
                                        chain.c.notification_id > after)
                    .order_by(chain.c.notification_id).limit(BATCH)
                ).all()
            if not batch:
                return
            yield from batch
            after = int(batch[-1].notification_id)

    def append(self, rows: list[dict[str, Any]]) -> bool:
        """Store new seals atomically; False when another sealer got there first."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(chain), rows)
        except IntegrityError:
            return False
        return True


@dataclass
class Mismatch:
    """The first stored event that does not match the chain."""

    service: str
    notification_id: int
    problem: str
    originator_id: str | None = None
    originator_version: int | None = None
    topic: str | None = None


@dataclass
class ServiceIntegrity:
    """One store's verification."""

    service: str
    checked: int = 0
    unsealed: int = 0
    mismatch: Mismatch | None = None


@dataclass
class IntegrityReport:
    """The verification of every store."""

    services: list[ServiceIntegrity] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no store has a mismatch."""
        return all(s.mismatch is None for s in self.services)

    @property
    def first_mismatch(self) -> Mismatch | None:
        """The first mismatch found, if any."""
        return next((s.mismatch for s in self.services if s.mismatch), None)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        first = self.first_mismatch
        return {"ok": self.ok, "first_mismatch": asdict(first) if first else None,
                "services": [asdict(s) for s in self.services]}


def seal(system: System) -> dict[str, int]:
    """Extend each store's chain over the notifications stored since the last seal."""
    stores = all_stores(system)
    ledger = ChainStore(system.ops)
    key = chain_key(system.settings)
    sealed: dict[str, int] = {}
    for service, app in stores.apps.items():
        last_id, digest = ledger.head(service)
        count = 0
        while True:
            batch = app.notifications(last_id + 1, BATCH)
            if not batch:
                break
            rows = []
            for n in batch:
                digest = link(key, digest, n)
                rows.append({"service": service, "notification_id": n.id,
                             "originator_id": str(n.originator_id),
                             "originator_version": n.originator_version, "digest": digest,
                             "sealed_at": datetime.now(UTC)})
            if not ledger.append(rows):
                break
            count += len(rows)
            last_id = batch[-1].id
        sealed[service] = count
    return sealed


def verify(system: System, *, extend: bool = True) -> IntegrityReport:
    """Recompute every chain; name the first event per store that does not match."""
    stores = all_stores(system)
    ledger = ChainStore(system.ops)
    key = chain_key(system.settings)
    report = IntegrityReport()
    for service, app in stores.apps.items():
        report.services.append(_verify_store(service, notifications(app),
                                             ledger.rows(service), key))
    if extend:
        seal(system)
    return report


def _verify_store(service: str, notes: Iterator[Notification], rows: Iterator[Any],
                  key: bytes) -> ServiceIntegrity:
    result = ServiceIntegrity(service)
    previous = GENESIS
    note = next(notes, None)
    for row in rows:
        if note is not None and note.id < row.notification_id:
            result.mismatch = _mismatch(service, note, "stored among sealed events but not "
                                        "in the chain (inserted afterwards?)")
            return result
        if note is None or note.id > row.notification_id:
            result.mismatch = Mismatch(service, int(row.notification_id),
                                       "sealed but missing from the store (deleted?)",
                                       row.originator_id, int(row.originator_version))
            return result
        if not hmac.compare_digest(link(key, previous, note), row.digest):
            result.mismatch = _mismatch(service, note, "does not match its seal (changed?)")
            return result
        previous = row.digest
        result.checked += 1
        note = next(notes, None)
    while note is not None:
        result.unsealed += 1
        note = next(notes, None)
    return result


def _mismatch(service: str, note: Notification, problem: str) -> Mismatch:
    return Mismatch(service, note.id, problem, str(note.originator_id),
                    note.originator_version, note.topic)


async def keep_sealing(system: System, stop: asyncio.Event) -> None:
    """Seal new events every few seconds until `stop` is set (a plugin background job)."""
    try:
        while not stop.is_set():
            try:
                await asyncio.to_thread(seal, system)
            except Exception:
                log.exception("integrity: sealing failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SEAL_INTERVAL_SECONDS)
    finally:
        await asyncio.to_thread(close_all_stores, system)
