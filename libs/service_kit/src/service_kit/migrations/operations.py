"""What the revisions of several parts do alike, written once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

from service_kit.database import UtcDateTime

_OUTBOX = sa.table(
    "outbox",
    sa.column("event_id", sa.String),
    sa.column("event_type", sa.String),
    sa.column("payload", sa.Text),
    sa.column("correlation_id", sa.Text),
    sa.column("created_at", UtcDateTime),
)
"""The outbox as revision ``service_kit_0002`` makes it (a revision that stages events
depends on that one)."""


def stage_in_outbox(events: Sequence[tuple[str, str, str, str | None, datetime]]) -> None:
    """In a revision: put events a part stored but never published into the outbox, for
    its relay (each as event id, event type, JSON payload, correlation id, when decided)."""
    if events:
        op.bulk_insert(
            _OUTBOX,
            [
                {
                    "event_id": event_id,
                    "event_type": event_type,
                    "payload": payload,
                    "correlation_id": correlation_id,
                    "created_at": decided_at,
                }
                for event_id, event_type, payload, correlation_id, decided_at in events
            ],
        )
