"""Fixtures of the ingest tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

ActivityFactory = Callable[..., dict[str, Any]]


def _activity(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "kind": "activity",
        "record_id": "r-1",
        "customer_id": "C-1",
        "observed_at": "2026-11-21T11:00:00Z",
        "tenure_months": 12,
        "plan": "standard",
        "contract_type": "month_to_month",
        "monthly_charges": 49.5,
        "support_tickets": 1,
        "usage_minutes": 300.0,
        "sessions": 20,
        "failed_payments": 0,
    }
    record.update(overrides)
    return record


@pytest.fixture
def activity() -> ActivityFactory:
    """A valid activity record; keyword arguments override fields."""
    return _activity
