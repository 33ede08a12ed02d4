"""Tamper evidence: a keyed hash chain over each store's events, sealed, anchored, verified.

Each seal extends every store's chain (in the operational database) and appends the signed
heads to the anchor file outside it (services/governance/anchors.py). Verification walks each
store against its chain and the latest anchor and names the first problem; sealing refuses to
extend a chain that no longer reaches its anchor or that would cross a gap in the store.
"""

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
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from services.governance.anchors import Anchor, AnchorError, AnchorLog, Head, chain_key
from services.governance.history import notifications
from shared import migrations

if TYPE_CHECKING:
    from services.plugin import AllStores, Configured
    from shared.store import EcmApplication

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


def link(key: bytes, previous: str, n: Notification) -> str:
    """The seal of one notification: HMAC over the previous seal and everything stored."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    state: Any = n.state
    # A tampered row may no longer hold bytes (SQLite lets anything into a BLOB column).
    raw = bytes(state) if isinstance(state, bytes | bytearray | memoryview) else str(state).encode()
    for part in (
        previous.encode(),
        str(n.id).encode(),
        str(n.originator_id).encode(),
        str(n.originator_version).encode(),
        str(n.topic).encode(),
        raw,
    ):
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)
    return mac.hexdigest()


class ChainStore:
    """The seals of every store, in the operational database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        migrations.ensure(engine, "ops")

    def head(self, service: str) -> tuple[int, str]:
        """The last sealed notification id and its seal (0 and the genesis seal if none)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(chain.c.notification_id, chain.c.digest)
                .where(chain.c.service == service)
                .order_by(chain.c.notification_id.desc())
                .limit(1)
            ).first()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def digest_at(self, service: str, notification_id: int) -> str | None:
        """The seal of one notification, if it is in the chain."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(chain.c.digest).where(
                    chain.c.service == service, chain.c.notification_id == notification_id
                )
            ).scalar()
        return str(value) if value is not None else None

    def count(self, service: str, after: int = 0) -> int:
        """How many seals `service` has after notification `after`."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(chain)
                    .where(chain.c.service == service, chain.c.notification_id > after)
                ).scalar()
                or 0
            )

    def rows(self, service: str) -> Iterator[Any]:
        """Every seal of `service`, in order."""
        after = 0
        while True:
            with self.engine.connect() as conn:
                batch = conn.execute(
                    select(chain)
                    .where(chain.c.service == service, chain.c.notification_id > after)
                    .order_by(chain.c.notification_id)
                    .limit(BATCH)
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
    anchored_at: str | None = None
    anchor_problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when no store has a mismatch and the anchor file is sound."""
        return self.anchor_problem is None and all(s.mismatch is None for s in self.services)

    @property
    def first_mismatch(self) -> Mismatch | None:
        """The first mismatch found, if any."""
        return next((s.mismatch for s in self.services if s.mismatch), None)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        first = self.first_mismatch
        return {
            "ok": self.ok,
            "first_mismatch": asdict(first) if first else None,
            "anchored_at": self.anchored_at,
            "anchor_problem": self.anchor_problem,
            "services": [asdict(s) for s in self.services],
        }


class ChainBroken(RuntimeError):
    """A chain no longer reaches its anchor, or would cross a gap: sealing refuses (alarm)."""


def seal(system: AllStores) -> dict[str, int]:
    """Extend each store's chain over the notifications stored since the last seal, and
    anchor the new heads; a store whose chain is broken is left as it is and raises the alarm.
    """
    stores = system.every_store()
    ledger = ChainStore(system.ops)
    key = chain_key(system.settings)
    anchors = AnchorLog(system.settings)
    gaps_allowed = _gaps_allowed(system)
    sealed: dict[str, int] = {}
    broken: list[str] = []
    with anchors.locked():
        latest = anchors.latest()
        heads = dict(latest.heads) if latest else {}
        for service, app in stores.items():
            anchored = heads.get(service)
            try:
                last_id, digest = _extendable(service, ledger, anchored, latest)
                count = _extend(service, app, ledger, key, last_id, digest, gaps_allowed)
            except ChainBroken as e:
                log.critical("integrity ALARM: %s", e)
                broken.append(str(e))
                continue
            sealed[service] = count
            if count or anchored is None:
                last_id, digest = ledger.head(service)
                # counted from the anchored head: another sealer may have sealed some too
                total = (
                    anchored.count + ledger.count(service, after=anchored.last_id)
                    if anchored
                    else ledger.count(service)
                )
                heads[service] = Head(total, last_id, digest)
        if latest is None or heads != latest.heads:
            anchors.append(heads)
    if broken:
        raise ChainBroken("; ".join(broken))
    return sealed


def _gaps_allowed(system: Configured) -> bool:
    # SQLite gives each notification the next rowid, so a hole means a deletion; PostgreSQL
    # takes ids from a sequence that a rolled-back insert (a lost race) also consumes.
    return system.settings.postgres_url is not None


def _extendable(
    service: str, ledger: ChainStore, anchored: Head | None, latest: Anchor | None
) -> tuple[int, str]:
    """The chain head to extend from, once it is known to still reach its anchor."""
    last_id, digest = ledger.head(service)
    if anchored is None or anchored.count == 0:
        return last_id, digest
    assert latest is not None
    at = ledger.digest_at(service, anchored.last_id)
    if at is None or not hmac.compare_digest(at, anchored.digest):
        raise ChainBroken(
            f"{service}: the chain no longer reaches its anchor of {latest.at} (notification "
            f"{anchored.last_id}); sealing refused, run `ecm verify`"
        )
    return last_id, digest


def _extend(
    service: str,
    app: EcmApplication,
    ledger: ChainStore,
    key: bytes,
    last_id: int,
    digest: str,
    gaps_allowed: bool,
) -> int:
    count = 0
    while True:
        batch = app.notifications(last_id + 1, BATCH)
        if not batch:
            return count
        rows: list[dict[str, Any]] = []
        for n in batch:
            if not gaps_allowed and n.id != last_id + 1:
                if rows and ledger.append(rows):
                    count += len(rows)
                raise ChainBroken(
                    f"{service}: a gap in the store before notification {n.id} (notifications "
                    f"{last_id + 1}..{n.id - 1} are missing: deleted before they were sealed?); "
                    "sealing refused"
                )
            digest = link(key, digest, n)
            rows.append(
                {
                    "service": service,
                    "notification_id": n.id,
                    "originator_id": str(n.originator_id),
                    "originator_version": n.originator_version,
                    "digest": digest,
                    "sealed_at": datetime.now(UTC),
                }
            )
            last_id = n.id
        if not ledger.append(rows):
            return count
        count += len(rows)


def verify(system: AllStores, *, extend: bool = True) -> IntegrityReport:
    """Recompute every chain against its store and the latest anchor; name the first problem
    per store. The chains are extended afterwards only when everything verified."""
    stores = system.every_store()
    ledger = ChainStore(system.ops)
    key = chain_key(system.settings)
    report = IntegrityReport()
    latest: Anchor | None = None
    try:
        latest = AnchorLog(system.settings).latest()
    except AnchorError as e:
        report.anchor_problem = str(e)
    report.anchored_at = latest.at if latest else None
    for service, app in stores.items():
        anchored = latest.heads.get(service) if latest else None
        report.services.append(
            _verify_store(
                service,
                notifications(app),
                ledger.rows(service),
                key,
                _AnchorCheck(anchored, latest.at) if latest and anchored else None,
                gaps_allowed=_gaps_allowed(system),
            )
        )
    if extend and report.ok:
        with contextlib.suppress(ChainBroken):  # a store broken since: seal logged the alarm
            seal(system)
    return report


@dataclass(frozen=True)
class _AnchorCheck:
    head: Head
    at: str

    def says(self) -> str:
        return (
            f"the anchor of {self.at} records {self.head.count} sealed events up to "
            f"notification {self.head.last_id}"
        )


def _verify_store(
    service: str,
    notes: Iterator[Notification],
    rows: Iterator[Any],
    key: bytes,
    anchor: _AnchorCheck | None,
    *,
    gaps_allowed: bool,
) -> ServiceIntegrity:
    result = ServiceIntegrity(service)
    previous, last_id, reached = GENESIS, 0, anchor is None or anchor.head.count == 0
    note = next(notes, None)
    for row in rows:
        row_id = int(row.notification_id)
        if note is not None and note.id < row_id:
            result.mismatch = _mismatch(
                service,
                note,
                "stored among sealed events but not in the chain (inserted afterwards?)",
            )
            return result
        if note is None or note.id > row_id:
            result.mismatch = Mismatch(
                service,
                row_id,
                "sealed but missing from the store (deleted?)",
                row.originator_id,
                int(row.originator_version),
            )
            return result
        if not gaps_allowed and row_id != last_id + 1:
            result.mismatch = _mismatch(
                service,
                note,
                f"a gap before this event: "
                f"notifications {last_id + 1}..{row_id - 1} are gone "
                "together with their seals (deleted?)",
            )
            return result
        if not hmac.compare_digest(link(key, previous, note), row.digest):
            result.mismatch = _mismatch(
                service, note, "does not match its seal (changed, or reordered with another event?)"
            )
            return result
        previous, last_id = row.digest, row_id
        result.checked += 1
        if anchor is not None and not reached and row_id >= anchor.head.last_id:
            if (
                row_id != anchor.head.last_id
                or result.checked != anchor.head.count
                or not hmac.compare_digest(previous, anchor.head.digest)
            ):
                result.mismatch = _mismatch(
                    service,
                    note,
                    "the chain up to here does not "
                    f"match its anchor: {anchor.says()} (events "
                    "changed or reordered and the chain rebuilt?)",
                )
                return result
            reached = True
        note = next(notes, None)
    if not reached:
        assert anchor is not None
        result.mismatch = _short_of_anchor(service, anchor, last_id, note)
        return result
    while note is not None:
        if not gaps_allowed and note.id != last_id + 1:
            result.mismatch = _mismatch(
                service,
                note,
                f"a gap before this unsealed event: "
                f"notifications {last_id + 1}..{note.id - 1} are "
                "missing (deleted before they were sealed?)",
            )
            return result
        result.unsealed += 1
        last_id = note.id
        note = next(notes, None)
    return result


def _short_of_anchor(
    service: str, anchor: _AnchorCheck, last_id: int, note: Notification | None
) -> Mismatch:
    """The chain ends before its anchored head: name how."""
    if last_id == 0 and note is None:
        problem = f"wiped: the store and its chain are empty, but {anchor.says()}"
    elif note is None:
        problem = (
            f"truncated: the events after notification {last_id} are gone with their "
            f"seals (deleted tail), but {anchor.says()}"
        )
    else:
        problem = (
            f"the seals after notification {last_id} were deleted, but "
            f"{anchor.says()}; sealing refuses to extend this chain"
        )
    return Mismatch(service, last_id + 1, problem)


def _mismatch(service: str, note: Notification, problem: str) -> Mismatch:
    return Mismatch(
        service, note.id, problem, str(note.originator_id), note.originator_version, note.topic
    )


async def keep_sealing(system: AllStores, stop: asyncio.Event) -> None:
    """Seal new events every few seconds until `stop` is set (a plugin background job)."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(seal, system)
        except ChainBroken:
            pass  # logged as an alarm by seal; it stays refused until someone looks
        except Exception:
            log.exception("integrity: sealing failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SEAL_INTERVAL_SECONDS)
