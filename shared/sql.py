"""SQLAlchemy engines for the read side and operational state (SQLite file or a PG schema)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event, text

from shared.settings import Settings, private_file


def make_engine(settings: Settings, schema: str) -> Engine:
    """An engine for the store `schema`: its own SQLite file, or its own PostgreSQL schema."""
    if settings.postgres_url:
        pg_schema = settings.pg_schema(schema)
        engine = create_engine(
            settings.sqlalchemy_url(schema),
            pool_pre_ping=True,
            connect_args={"options": f"-csearch_path={pg_schema}"},
        )
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{pg_schema}"'))
        return engine
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


def ensure_pg_schema(settings: Settings, name: str) -> None:
    """Create the PostgreSQL schema for the store `name` if it is missing (no-op on SQLite)."""
    if settings.postgres_url:
        make_engine(settings, name).dispose()
