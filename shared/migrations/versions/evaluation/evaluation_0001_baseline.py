"""evaluation: the evaluation projects and their sealed secrets (baseline).

Not rebuilt from events: a project's secret is random, so its pseudonyms live only here.

Revision ID: evaluation_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.migrations.adopt import create_table

revision = "evaluation_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table(
        "evaluation_projects",
        sa.Column("project_id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("sealed_secret", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("evaluation_projects")
