"""Decisions announce themselves through the outbox: an applied decision whose event was
never acknowledged moves to the outbox, and the ``published`` flag goes.

Revision ID: registry_0002
Revises: registry_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service_kit.database import UtcDateTime
from service_kit.migrations.operations import stage_in_outbox

revision = "registry_0002"
down_revision = "registry_0001"
branch_labels = None
depends_on = "service_kit_0002"

decisions = sa.table(
    "gate_decisions",
    sa.column("model_name", sa.String),
    sa.column("model_version", sa.Integer),
    sa.column("decision_type", sa.String),
    sa.column("decision", sa.Text),
    sa.column("applied", sa.Boolean),
    sa.column("published", sa.Boolean),
    sa.column("decided_at", UtcDateTime),
)


def upgrade() -> None:
    unpublished = op.get_bind().execute(
        sa.select(decisions).where(decisions.c.applied.is_(True), decisions.c.published.is_(False))
    )
    stage_in_outbox(
        [
            # The decision's event id, as the registry gives it.
            (
                f"registry:{row.model_name}:{row.model_version}:decision",
                row.decision_type,
                row.decision,
                None,
                row.decided_at,
            )
            for row in unpublished
        ]
    )
    with op.batch_alter_table("gate_decisions") as table:
        table.drop_column("published")


def downgrade() -> None:
    with op.batch_alter_table("gate_decisions") as table:
        table.add_column(
            sa.Column("published", sa.Boolean, nullable=False, server_default=sa.true())
        )
