"""Which windows' events were emitted, per kind (the table of the first releases, adopted
as it is).

Revision ID: monitor_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitor_0001"
down_revision = None
branch_labels = ("monitor",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_emitted_windows",
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("window_id", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(250), nullable=False),
        sa.Column("emitted_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("monitor_emitted_windows")
