"""Alembic environment: runs one role's migrations on the connection it is given."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData, text

from shared.migrations.compare import include_object
from shared.sql import DDL_LOCK


def run() -> None:
    """Run the migrations (online only: there is always a live connection)."""
    config = context.config
    role: str = config.attributes["role"]
    connection = config.attributes["connection"]
    if connection is None:
        raise RuntimeError("run migrations through shared.migrations (ecm migrate)")
    target: MetaData | None = config.attributes.get("target_metadata")
    context.configure(
        connection=connection,
        target_metadata=target,
        version_table=f"alembic_version_{role}",
        include_object=include_object(target, role),
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":  # one migrator at a time per database
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DDL_LOCK})
        context.run_migrations()


run()
