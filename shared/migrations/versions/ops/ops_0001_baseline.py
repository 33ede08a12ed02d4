"""ops: relay positions, relay alarms, the stream index and the integrity chain (baseline).

Revision ID: ops_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.migrations.adopt import create_table

revision = "ops_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table(
        "relay_positions",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_table(
        "relay_alarms",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_table(
        "stream_index",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("notification_id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    create_table(
        "integrity_chain",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("notification_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("originator_id", sa.String(64), nullable=False),
        sa.Column("originator_version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("integrity_chain", "stream_index", "relay_alarms", "relay_positions"):
        op.drop_table(table)
