"""Decisions announce themselves through the outbox: an announced decision never
acknowledged moves to the outbox, and the ``published`` flag (and its index) goes.

Revision ID: retrain_trigger_0002
Revises: retrain_trigger_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from retrain_trigger.adapters.ledger import decision_of
from service_kit.database import UtcDateTime
from service_kit.migrations.operations import stage_in_outbox

revision = "retrain_trigger_0002"
down_revision = "retrain_trigger_0001"
branch_labels = None
depends_on = "service_kit_0002"

decisions = sa.table(
    "retrain_trigger_decisions",
    *(
        sa.column(name, kind)
        for name, kind in (
            ("decision_id", sa.String),
            ("model_name", sa.String),
            ("signal", sa.String),
            ("outcome", sa.String),
            ("reason", sa.String),
            ("detail", sa.Text),
            ("triggering_event_ids", sa.Text),
            ("idempotency_key", sa.String),
            ("data_window_start", UtcDateTime),
            ("data_window_end", UtcDateTime),
            ("requested_by", sa.String),
            ("announce", sa.Boolean),
            ("published", sa.Boolean),
            ("decided_at", UtcDateTime),
        )
    ),
)


def upgrade() -> None:
    unpublished = op.get_bind().execute(
        sa.select(decisions).where(decisions.c.announce.is_(True), decisions.c.published.is_(False))
    )
    pending = []
    for row in unpublished:
        decision = decision_of(row)
        event = decision.event()
        pending.append(
            (
                decision.event_id,
                event.event_type,
                event.model_dump_json(),
                None,
                decision.decided_at,
            )
        )
    stage_in_outbox(pending)
    with op.batch_alter_table("retrain_trigger_decisions") as table:
        table.drop_index("retrain_trigger_decisions_unpublished")
        table.drop_column("published")


def downgrade() -> None:
    with op.batch_alter_table("retrain_trigger_decisions") as table:
        table.add_column(
            sa.Column("published", sa.Boolean, nullable=False, server_default=sa.true())
        )
        table.create_index("retrain_trigger_decisions_unpublished", ["announce", "published"])
