"""Gate decisions by model version, with whether each was applied and published (the table
of the first releases, adopted as it is).

Revision ID: registry_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "registry_0001"
down_revision = None
branch_labels = ("registry",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gate_decisions",
        sa.Column("model_name", sa.String(200), primary_key=True),
        sa.Column("model_version", sa.Integer, primary_key=True),
        sa.Column("decision_type", sa.String(100), nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("applied", sa.Boolean, nullable=False),
        sa.Column("published", sa.Boolean, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("gate_decisions")
