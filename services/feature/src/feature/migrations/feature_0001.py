"""The activity log: each customer's retained records, and the customers whose rows are
still to be written to the feature stores (the tables of the first releases, adopted as
they are).

Revision ID: feature_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "feature_0001"
down_revision = None
branch_labels = ("feature",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_activity",
        sa.Column("record_id", sa.String(200), primary_key=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenure_months", sa.Integer, nullable=False),
        sa.Column("plan", sa.String(32), nullable=False),
        sa.Column("contract_type", sa.String(32), nullable=False),
        sa.Column("monthly_charges", sa.Float, nullable=False),
        sa.Column("support_tickets", sa.Integer, nullable=False),
        sa.Column("usage_minutes", sa.Float, nullable=False),
        sa.Column("sessions", sa.Integer, nullable=False),
        sa.Column("failed_payments", sa.Integer, nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_index(
        "feature_activity_customer_time",
        "feature_activity",
        ["customer_id", "observed_at"],
        if_not_exists=True,
    )
    op.create_table(
        "feature_pending",
        sa.Column("customer_id", sa.String(200), primary_key=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        if_not_exists=True,
    )
    op.create_index("feature_pending_since", "feature_pending", ["since"], if_not_exists=True)


def downgrade() -> None:
    op.drop_table("feature_pending")
    op.drop_table("feature_activity")
