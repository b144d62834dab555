"""The trainer's queue of training requests, with each outcome and whether it was
published (the table of the first releases, adopted as it is).

Revision ID: trainer_gpu_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "trainer_gpu_0001"
down_revision = None
branch_labels = ("trainer_gpu",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_requests",
        sa.Column("idempotency_key", sa.String(200), primary_key=True),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("request_event_id", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("outcome_type", sa.String(100), nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.Column("published", sa.Boolean, nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_index(
        "training_requests_accepted", "training_requests", ["accepted_at"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_table("training_requests")
