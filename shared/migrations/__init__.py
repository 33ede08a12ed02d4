"""Schema migrations (Alembic) for every table that is not rebuilt from events.

Each *role* is one kind of database with its own linear history and its own version table
(`alembic_version_<role>`), so several roles can share a database or PostgreSQL schema:

- ``ops``: relay positions, relay alarms, the stream index, the integrity chain;
- ``keys``: the children's wrapped data keys;
- ``idempotency``: idempotency keys of the HTTP API;
- ``tracking``: consumer positions, parked messages and read-model versions (in every
  database a consumer keeps its tracking in);
- ``notifications``: the delivery leases of the notifications service;
- ``evaluation``: the evaluation projects and their sealed secrets.

Read-model tables are not migrated: each projection has a version and is rebuilt from the
stores when it changes (shared/consumer.py, services/rebuild.py). eventsourcing's own
recorder tables (events, snapshots, tracking) stay with eventsourcing, which creates them.

The first revision of each role adopts a database made by `metadata.create_all` before
migrations existed: it creates only what is missing, so nothing stored is lost.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData

HERE = Path(__file__).resolve().parent
ROLES = ("ops", "keys", "idempotency", "tracking", "notifications", "evaluation")
_scripts: dict[str, ScriptDirectory] = {}
_scripts_lock = threading.Lock()
# Alembic's `context` and `op` are module-level proxies: two commands at once in one process
# would share them. Commands here run one at a time; across processes, env.py takes a
# PostgreSQL advisory lock (SQLite: one process owns an embedded data folder).
_command_lock = threading.RLock()


def version_table(role: str) -> str:
    """The table that records the role's revision."""
    return f"alembic_version_{role}"


def config_for(
    role: str, connection: Connection | None = None, target_metadata: MetaData | None = None
) -> Config:
    """An Alembic configuration for `role` (its own versions folder and version table)."""
    if role not in ROLES:
        raise ValueError(f"unknown migration role {role!r}; known: {', '.join(ROLES)}")
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("version_locations", str(HERE / "versions" / role))
    config.set_main_option("path_separator", "os")
    config.attributes.update(role=role, connection=connection, target_metadata=target_metadata)
    return config


def scripts(role: str) -> ScriptDirectory:
    """The role's revisions (read once per process)."""
    with _scripts_lock:
        if role not in _scripts:
            _scripts[role] = ScriptDirectory.from_config(config_for(role))
        return _scripts[role]


def head(role: str) -> str:
    """The newest revision of `role`."""
    found = scripts(role).get_current_head()
    assert found is not None, f"{role}: no revisions"
    return found


def current(engine: Engine, role: str) -> str | None:
    """The revision the database behind `engine` is at for `role` (None: never migrated)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": version_table(role)})
        return context.get_current_revision()


def upgrade(engine: Engine, role: str, revision: str = "head") -> None:
    """Upgrade the database behind `engine` to `revision` of `role`."""
    with _command_lock, engine.connect() as conn:
        command.upgrade(config_for(role, conn), revision)
        conn.commit()


def downgrade(engine: Engine, role: str, revision: str) -> None:
    """Downgrade the database behind `engine` to `revision` of `role`."""
    with _command_lock, engine.connect() as conn:
        command.downgrade(config_for(role, conn), revision)
        conn.commit()


def ensure(engine: Engine, role: str) -> None:
    """Upgrade to the head of `role` unless already there (one query when up to date)."""
    if current(engine, role) != head(role):
        with _command_lock:
            if current(engine, role) != head(role):  # another thread may have done it
                upgrade(engine, role)


def differences(engine: Engine, role: str, target: MetaData) -> list[Any]:
    """What differs between the models in `target` and the migrated database (empty when
    the migrations and the models agree), as Alembic's autogenerate sees it."""
    from alembic.autogenerate import compare_metadata

    from shared.migrations.compare import include_object

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": version_table(role),
                "compare_type": True,
                "include_object": include_object(target, role),
            },
        )
        return list(compare_metadata(context, target))
