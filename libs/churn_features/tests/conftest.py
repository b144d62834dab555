"""Fixtures of the churn_features tests: activity records, and the real Redis of the
production profile (fails under CI when unreachable, skips otherwise)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

os.environ.setdefault("FEAST_USAGE", "False")  # before anything imports Feast

from churn_features.domain import ActivityRecord

REDIS_URL = os.environ.get("MLOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
T0 = datetime(2026, 3, 1, tzinfo=UTC)

RecordFactory = Callable[..., ActivityRecord]


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis URL for `connected` tests; fails under CI when unreachable."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as error:
        message = f"Redis at {REDIS_URL} unreachable ({type(error).__name__}: {error})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the Redis-backed tests", pytrace=False)
        pytest.skip(f"{message}; set MLOPS_TEST_REDIS_URL to run these tests")
    return REDIS_URL


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
