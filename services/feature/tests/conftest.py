"""Fixtures of the feature service tests: settings in a temporary folder, records."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("FEAST_USAGE", "False")  # before anything imports Feast

from feature.settings import FeatureSettings

from mlops_contracts import CustomerActivityRecorded

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., FeatureSettings]:
    """Dev settings under ``tmp_path`` (state database and feature store), never dialling
    a broker; keyword arguments override fields."""

    def build(**overrides: Any) -> FeatureSettings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "instance_id": "feature-test",
            "kafka_bootstrap_servers": "127.0.0.1:1",
            "flush_interval_s": 0.02,
        }
        values.update(overrides)
        return FeatureSettings(**values)

    return build


@pytest.fixture
def activity() -> Callable[..., CustomerActivityRecorded]:
    """``activity(record_id, customer_id, day, **fields)``: a CustomerActivityRecorded
    observed ``day`` days after T0."""

    def build(
        record_id: str, customer_id: str, day: float, **fields: Any
    ) -> CustomerActivityRecorded:
        values: dict[str, Any] = {
            "tenure_months": 6,
            "plan": "standard",
            "contract_type": "month_to_month",
            "monthly_charges": 45.0,
            "support_tickets": 1,
            "usage_minutes": 120.0,
            "sessions": 4,
            "failed_payments": 0,
        }
        values.update(fields)
        return CustomerActivityRecorded(
            record_id=record_id,
            customer_id=customer_id,
            observed_at=T0 + timedelta(days=day),
            **values,
        )

    return build
