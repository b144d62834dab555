"""Processed event ids, per consumer (the tables of the first releases, adopted as they are).

Revision ID: service_kit_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "service_kit_0001"
down_revision = None
branch_labels = ("service_kit",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_index(
        "ix_processed_events_processed_at",
        "processed_events",
        ["processed_at"],
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("processed_events")
