"""The records the simulator produces: exactly the JSON objects ingest's ``POST /v1/records`` takes.

No extra fields (ingest rejects unknown fields); times are RFC 3339 strings in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, TypeAlias, TypedDict

from mlops_contracts import ContractType, Plan

PLANS: tuple[Plan, ...] = (Plan.BASIC, Plan.STANDARD, Plan.PREMIUM)
"""Plans by the index the population uses."""
CONTRACT_TYPES: tuple[ContractType, ...] = (
    ContractType.MONTH_TO_MONTH,
    ContractType.ONE_YEAR,
    ContractType.TWO_YEAR,
)
"""Contract types by the index the population uses."""

NUMERIC_FEATURES: tuple[str, ...] = (
    "tenure_months",
    "monthly_charges",
    "support_tickets",
    "usage_minutes",
    "sessions",
    "failed_payments",
)
"""Numeric fields of an activity record (what covariate drift can scale)."""
CATEGORICAL_FEATURES: dict[str, tuple[str, ...]] = {
    "plan": tuple(p.value for p in PLANS),
    "contract_type": tuple(c.value for c in CONTRACT_TYPES),
}
"""Categorical fields of an activity record and their values, in index order."""
FEATURES: tuple[str, ...] = ("contract_type", "plan", *NUMERIC_FEATURES)
"""Every feature of an activity record; also the terms of the churn model (concept drift)."""


class ActivityRecord(TypedDict):
    """One customer's account state and the activity since the previous record."""

    kind: Literal["activity"]
    record_id: str
    customer_id: str
    observed_at: str
    tenure_months: int
    plan: str
    contract_type: str
    monthly_charges: float
    support_tickets: int
    usage_minutes: float
    sessions: int
    failed_payments: int


class LabelRecord(TypedDict):
    """A customer's churn outcome, observed some time after the activity that decided it."""

    kind: Literal["label"]
    record_id: str
    customer_id: str
    churned: bool
    observed_at: str
    features_as_of: str
    """The deciding record's time: where training joins this label's features."""


Record: TypeAlias = ActivityRecord | LabelRecord


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision and a ``Z`` (``2026-03-01T12:00:00.250Z``)."""
    if moment.tzinfo is None:
        raise ValueError("record times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """The inverse of :func:`format_time` (accepts any ISO 8601 time with an offset)."""
    return datetime.fromisoformat(text)
