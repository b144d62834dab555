"""The label log: labels by record id, selected by the time they were observed.

Revision ID: churn_labels_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "churn_labels_0001"
down_revision = None
branch_labels = ("churn_labels",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "churn_labels",
        sa.Column("record_id", sa.String(200), primary_key=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("churned", sa.Boolean, nullable=False),
        sa.Column("prediction_point", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_index("churn_labels_observed_at", "churn_labels", ["observed_at"], if_not_exists=True)


def downgrade() -> None:
    op.drop_table("churn_labels")
