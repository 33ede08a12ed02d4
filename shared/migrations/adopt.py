"""Helpers for first revisions that adopt databases made by `create_all` before migrations."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def has_table(name: str) -> bool:
    """True when the table exists in the database being migrated."""
    return sa.inspect(op.get_bind()).has_table(name)


def create_table(name: str, *parts: sa.schema.SchemaItem) -> None:
    """Create the table unless an earlier `create_all` made it (then it is kept as it is)."""
    if not has_table(name):
        op.create_table(name, *parts)


def create_index(name: str, table: str, columns: list[str], *, unique: bool = False) -> None:
    """Create the index unless it exists already."""
    existing = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes(table)}
    if name not in existing:
        op.create_index(name, table, columns, unique=unique)
