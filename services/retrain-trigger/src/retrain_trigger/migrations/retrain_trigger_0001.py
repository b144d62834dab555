"""The trigger's ledger: each model's policy state (with a revision), every decision (with
whether it is announced and was published), and the labels seen (the tables of the first
releases, adopted as they are).

Revision ID: retrain_trigger_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "retrain_trigger_0001"
down_revision = None
branch_labels = ("retrain_trigger",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retrain_trigger_state",
        sa.Column("model_name", sa.String(200), primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "retrain_trigger_decisions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(200), nullable=False, unique=True),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("signal", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("triggering_event_ids", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("data_window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("announce", sa.Boolean, nullable=False),
        sa.Column("published", sa.Boolean, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_index(
        "retrain_trigger_decisions_unpublished",
        "retrain_trigger_decisions",
        ["announce", "published"],
        if_not_exists=True,
    )
    op.create_table(
        "retrain_trigger_labels",
        sa.Column("record_id", sa.String(200), primary_key=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_index(
        "retrain_trigger_labels_observed_at",
        "retrain_trigger_labels",
        ["observed_at"],
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("retrain_trigger_labels")
    op.drop_table("retrain_trigger_decisions")
    op.drop_table("retrain_trigger_state")
