"""Fixtures of the churn_features tests: activity records. The real Redis and PostgreSQL
of the production profile come from the repository's root conftest.py."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

os.environ.setdefault("FEAST_USAGE", "False")  # before anything imports Feast

from churn_features.domain import ActivityRecord

T0 = datetime(2026, 3, 1, tzinfo=UTC)

RecordFactory = Callable[..., ActivityRecord]


@pytest.fixture
def record() -> RecordFactory:
    """Build an activity record: ``record(id, customer, day, **fields)``; ``day`` is days
    (may be fractional) after T0."""

    def build(record_id: str, customer_id: str, day: float, **fields: Any) -> ActivityRecord:
        values: dict[str, Any] = {
            "tenure_months": 12,
            "plan": "standard",
            "contract_type": "month_to_month",
            "monthly_charges": 50.0,
            "support_tickets": 1,
            "usage_minutes": 100.0,
            "sessions": 3,
            "failed_payments": 0,
        }
        values.update(fields)
        return ActivityRecord(
            record_id=record_id,
            customer_id=customer_id,
            observed_at=T0 + timedelta(days=day),
            **values,
        )

    return build
