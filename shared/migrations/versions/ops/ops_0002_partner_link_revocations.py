"""ops: revoked partner notice links (an operator's decision, not rebuilt from events).

Revision ID: ops_0002
Revises: ops_0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.migrations.adopt import create_table

revision = "ops_0002"
down_revision = "ops_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adopts the table where the web app made it itself before it was migrated.
    create_table(
        "web_partner_link_revocations",
        sa.Column("notice_id", sa.String(36), primary_key=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("web_partner_link_revocations")
