"""SQLAlchemy engines for the read side and operational state (SQLite file or a PG schema).

On PostgreSQL a process opens one connection pool per database, not one per schema: each
store's engine is a view of the database engine (`execution_options`) that sets the
connection's `search_path` to the store's schema when it is checked out. The pool's size is
`ECM_PG_POOL_SIZE` + `ECM_PG_MAX_OVERFLOW` (see README, connection budget).
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text

from shared.settings import Settings, private_file

_databases: dict[tuple[str, int, int, float], Engine] = {}
_databases_lock = threading.Lock()


def make_engine(settings: Settings, schema: str) -> Engine:
    """An engine for the store `schema`: its own SQLite file, or its own PostgreSQL schema."""
    if settings.postgres_url:
        pg_schema = settings.pg_schema(schema)
        database = database_engine(settings)
        with database.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{pg_schema}"'))
        return database.execution_options(ecm_schema=pg_schema)
    path = settings.sqlite_path(schema)
    private_file(path)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    return engine


def database_engine(settings: Settings) -> Engine:
    """The one engine (and pool) of this process for the PostgreSQL database of `settings`."""
    assert settings.postgres_url, "PostgreSQL only"
    url = settings.sqlalchemy_url("")
    key = (url, settings.pg_pool_size, settings.pg_max_overflow, settings.pg_pool_timeout)
    with _databases_lock:
        engine = _databases.get(key)
        if engine is None:
            engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_size=settings.pg_pool_size,
                max_overflow=settings.pg_max_overflow,
                pool_timeout=settings.pg_pool_timeout,
            )
            event.listen(engine, "engine_connect", _use_schema)
            event.listen(engine, "before_cursor_execute", _serialise_ddl, retval=True)
            _databases[key] = engine
        return engine


# Two processes starting at once both find a table missing and both create it; PostgreSQL then
# fails one with a unique violation on its catalogue (even for CREATE ... IF NOT EXISTS). So
# every CREATE first takes a transaction-scoped advisory lock (held until the creating
# transaction commits) and is made IF NOT EXISTS, so the second creator finds the table made.
DDL_LOCK = int.from_bytes(hashlib.sha256(b"ecm-record ddl").digest()[:8], "big", signed=True)
_CREATE = re.compile(
    r"^\s*CREATE\s+(UNIQUE\s+)?(TABLE|INDEX|SCHEMA)\s+(?!IF NOT EXISTS)", re.IGNORECASE
)


def _serialise_ddl(
    _conn: Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    _context: Any,
    _executemany: bool,
) -> tuple[str, Any]:
    """Serialise CREATE statements across processes and make them idempotent."""
    head = statement.lstrip()[:6].upper()
    if head != "CREATE":
        return statement, parameters
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
    statement = _CREATE.sub(lambda m: f"{m.group(0)}IF NOT EXISTS ", statement, count=1)
    return statement, parameters


def _use_schema(conn: Connection) -> None:
    """Point a checked-out connection at its store's schema (committed: a rollback keeps it)."""
    schema = conn.get_execution_options().get("ecm_schema")
    record = conn.connection
    if schema is None or record.info.get("ecm_schema") == schema:
        return
    dbapi = record.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.execute(f'SET search_path TO "{schema}"')
    finally:
        cursor.close()
    dbapi.commit()
    record.info["ecm_schema"] = schema


def ensure_pg_schema(settings: Settings, name: str) -> None:
    """Create the PostgreSQL schema for the store `name` if it is missing (no-op on SQLite)."""
    if settings.postgres_url:
        make_engine(settings, name)
