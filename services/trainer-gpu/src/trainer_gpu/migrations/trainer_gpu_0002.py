"""Outcomes announce themselves through the outbox: an outcome never acknowledged moves to
the outbox, and the ``published`` flag goes.

Revision ID: trainer_gpu_0002
Revises: trainer_gpu_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_kit.database import UtcDateTime
from service_kit.migrations.operations import stage_in_outbox

revision = "trainer_gpu_0002"
down_revision = "trainer_gpu_0001"
branch_labels = None
depends_on = "service_kit_0002"

requests = sa.table(
    "training_requests",
    sa.column("idempotency_key", sa.String),
    sa.column("request_event_id", sa.Text),
    sa.column("correlation_id", sa.Text),
    sa.column("outcome_type", sa.String),
    sa.column("outcome", sa.Text),
    sa.column("published", sa.Boolean),
    sa.column("updated_at", UtcDateTime),
)


def upgrade() -> None:
    unpublished = op.get_bind().execute(
        sa.select(requests).where(
            requests.c.outcome_type.is_not(None), requests.c.published.is_(False)
        )
    )
    stage_in_outbox(
        [
            # The outcome's event id and correlation, as the trainer gives them.
            (
                f"trainer-gpu:{row.idempotency_key}:outcome",
                row.outcome_type,
                row.outcome,
                row.correlation_id or row.request_event_id,
                row.updated_at,
            )
            for row in unpublished
        ]
    )
    with op.batch_alter_table("training_requests") as table:
        table.drop_column("published")


def downgrade() -> None:
    with op.batch_alter_table("training_requests") as table:
        table.add_column(
            sa.Column("published", sa.Boolean, nullable=False, server_default=sa.true())
        )
