"""Rebuild read models from the stores in stream order, and prove that live equals replay.

`rebuild` builds a fresh copy of a read model in scratch tables (a scratch SQLite file or
PostgreSQL schema), then swaps its rows into the live tables in one transaction, so readers
never see an empty view; it works with the system stopped or running. `check` builds a fresh
copy up to the live model's position and lists every difference.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import Engine, Integer, Table, event, insert, select, text

from services.plugin import Resources
from services.runtime import System
from shared.consumer import STREAM_CURSOR, Consumer, Delivery, Sink, SqlProjection
from shared.history import batches, in_stream_order
from shared.relay import PositionStore
from shared.settings import Settings
from shared.sql import make_engine

BATCH = 5000  # messages applied per transaction, rows copied per INSERT when swapping
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Difference:
    """One row that differs between the live read model and a fresh rebuild."""

    consumer: str
    table: str
    key: str
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None

    def describe(self) -> str:
        """One line for an operator."""
        if self.live is None:
            return f"{self.consumer} {self.table} {self.key}: missing from the live model"
        if self.rebuilt is None:
            return f"{self.consumer} {self.table} {self.key}: in the live model only"
        changed = sorted(
            k for k in {**self.live, **self.rebuilt} if self.live.get(k) != self.rebuilt.get(k)
        )
        detail = ", ".join(
            f"{k}: live {self.live.get(k)!r} / rebuilt {self.rebuilt.get(k)!r}" for k in changed
        )
        return f"{self.consumer} {self.table} {self.key}: {detail}"


def history(
    system: Resources, subject: str | Sequence[str], after: int = 0, until: int | None = None
) -> Iterator[Delivery]:
    """The published messages on `subject`, in stream order, read from every store (a read
    model may be fed by services this process does not serve)."""
    for delivery in in_stream_order(
        system.every_store(), system.contracts.values(), PositionStore(system.ops), subject, after
    ):
        if until is not None and delivery.seq > until:
            return
        yield delivery


@contextlib.contextmanager
def scratch_settings(settings: Settings) -> Iterator[Settings]:
    """Settings for throw-away stores: a temporary folder, or fresh PostgreSQL schemas."""
    folder = Path(tempfile.mkdtemp(prefix="rebuild-", dir=settings.data_path))
    prefix = f"{settings.pg_schema_prefix}rb{uuid4().hex[:8]}_"
    scratch = settings.model_copy(update={"data_dir": folder, "pg_schema_prefix": prefix})
    try:
        yield scratch
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if settings.postgres_url:
            engine = make_engine(settings, "ops")
            with engine.begin() as conn:
                names = conn.execute(
                    text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                    {"p": f"{prefix}%"},
                )
                for (name,) in list(names):
                    conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
            engine.dispose()


def scratch_engine(scratch: Settings) -> Engine:
    """The engine of a scratch copy. Its SQLite file is thrown away after the rebuild (the
    rows reach the live model in one durable transaction), so it is not fsync'd."""
    engine = make_engine(scratch, "rebuild")
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()

    return engine


def feed(sink: Sink, deliveries: Iterator[Delivery], progress: Progress | None = None) -> int:
    """Commit deliveries into `sink` in batches; returns how many were applied."""
    applied = 0
    for batch in batches(deliveries, BATCH):
        applied += sink.commit(batch)
        if progress is not None:
            progress(len(batch))
    return applied


def _projection(consumer: Consumer) -> SqlProjection:
    if not isinstance(consumer.sink, SqlProjection):
        raise ValueError(f"{consumer.name} is not a read model (its effects are history)")
    return consumer.sink


def rebuild(system: System, consumer: Consumer, progress: Progress | None = None) -> int:
    """Rebuild a read model from the stores and swap it in; returns messages applied."""
    live = _projection(consumer)
    with scratch_settings(system.settings) as scratch:
        engine = scratch_engine(scratch)
        try:
            fresh = type(live)(engine)
            applied = feed(fresh, history(system, live.filters), progress)
            applied += _swap(system, live, fresh)
        finally:
            engine.dispose()
    return applied


def _swap(system: System, live: SqlProjection, fresh: SqlProjection) -> int:
    """Replace the live rows with the fresh ones in one transaction (readers see one or the
    other); the fresh copy first catches up with anything the live consumer applied since."""
    with live.engine.begin() as conn:
        at = live.tracker.lock(conn)
        applied = 0
        if fresh.position() < at.get(STREAM_CURSOR, 0):
            applied = feed(fresh, history(system, live.filters, after=fresh.position()))
        if fresh.position() < at.get(STREAM_CURSOR, 0):
            raise RuntimeError(
                f"{live.name}: the live model is ahead of the relays' record of "
                "the stream; run the rebuild again in a moment"
            )
        for table in reversed(live.tables):
            conn.execute(table.delete())
        with fresh.engine.connect() as source:  # copied in chunks: memory stays flat
            for table in live.tables:
                result = source.execute(select(table)).mappings()
                for chunk in result.partitions(BATCH):
                    conn.execute(insert(table), [dict(row) for row in chunk])
        live.tracker.forget(conn)
        live.tracker.save(conn, fresh.tracker.positions())
    return applied


def check(system: System, consumer: Consumer, progress: Progress | None = None) -> list[Difference]:
    """Build a fresh copy beside the live read model and list every difference."""
    live = _projection(consumer)
    with live.engine.begin() as conn:  # the consumer's lock: rows and position agree
        position = live.tracker.lock(conn).get(STREAM_CURSOR, 0)
        live_rows = _rows(conn, live.tables)
    with scratch_settings(system.settings) as scratch:
        engine = scratch_engine(scratch)
        try:
            fresh = type(live)(engine)
            feed(fresh, history(system, live.filters, until=position), progress)
            with engine.connect() as conn:
                fresh_rows = _rows(conn, live.tables)
        finally:
            engine.dispose()
    return _differences(live.name, live.tables, live_rows, fresh_rows)


def _rows(conn: Any, tables: tuple[Table, ...]) -> dict[str, list[dict[str, Any]]]:
    result = {}
    for table in tables:
        order = list(table.primary_key.columns) or list(table.columns)
        rows = conn.execute(select(table).order_by(*order))
        result[table.name] = [dict(r._mapping) for r in rows]
    return result


def _surrogate(table: Table) -> str | None:
    """The name of an autoincrement integer key (its values are not part of the model)."""
    keys = list(table.primary_key.columns)
    if (
        len(keys) == 1
        and isinstance(keys[0].type, Integer)
        and keys[0].autoincrement in (True, "auto")
    ):
        return keys[0].name
    return None


def _differences(
    name: str,
    tables: tuple[Table, ...],
    live: dict[str, list[dict[str, Any]]],
    fresh: dict[str, list[dict[str, Any]]],
) -> list[Difference]:
    found: list[Difference] = []
    for table in tables:
        surrogate = _surrogate(table)
        if surrogate is not None:  # compare in order, without the generated ids
            a = [{k: v for k, v in r.items() if k != surrogate} for r in live[table.name]]
            b = [{k: v for k, v in r.items() if k != surrogate} for r in fresh[table.name]]
            for index in range(max(len(a), len(b))):
                left = a[index] if index < len(a) else None
                right = b[index] if index < len(b) else None
                if left != right:
                    found.append(Difference(name, table.name, f"row {index + 1}", left, right))
            continue
        keys = [c.name for c in table.primary_key.columns] or [c.name for c in table.columns]
        by_key_live = {tuple(str(r[k]) for k in keys): r for r in live[table.name]}
        by_key_fresh = {tuple(str(r[k]) for k in keys): r for r in fresh[table.name]}
        for key in sorted(set(by_key_live) | set(by_key_fresh)):
            left, right = by_key_live.get(key), by_key_fresh.get(key)
            if left != right:
                found.append(Difference(name, table.name, "/".join(key), left, right))
    return found


NOTICE_COLUMNS = ("contact_id", "child_id", "agency", "kind", "what", "when")


def check_notices(system: System, progress: Progress | None = None) -> list[Difference]:
    """Derive the notice queue afresh from the stream's history (in a scratch store) and
    list every notice queued live but not derived, or derived but never queued."""
    from services.notifications.application import NotificationsApplication
    from services.notifications.consumers import NAME, NoticeConsumer

    app = system.apps["notifications"]
    assert isinstance(app, NotificationsApplication)
    live_sink = next(c.sink for c in system.consumers() if c.name == NAME)
    position = live_sink.position()
    live = _queued(app)
    with scratch_settings(system.settings) as scratch:
        fresh_app = NotificationsApplication(scratch, system.vault, app.notify_settings)
        try:
            feed(
                NoticeConsumer(fresh_app).sink(fresh_app.reads),
                history(system, live_sink.filters, until=position),
                progress,
            )
            fresh = _queued(fresh_app)
        finally:
            fresh_app.close()
    found = []
    for key in sorted(set(live) | set(fresh)):
        if live.get(key) != fresh.get(key):
            found.append(Difference(NAME, "notices", key, live.get(key), fresh.get(key)))
    return found


def _queued(app: Any) -> dict[str, dict[str, Any]]:
    from services.notifications.index import notice_index

    app.index.catch_up()
    columns = [notice_index.c[name] for name in NOTICE_COLUMNS]
    with app.reads.connect() as conn:
        rows = conn.execute(select(notice_index.c.notice_id, *columns))
        return {r.notice_id: {name: r._mapping[name] for name in NOTICE_COLUMNS} for r in rows}
