"""Settings of the feature service; every field is read from ``FEATURE_<FIELD>``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from churn_features.settings import FeatureStoreAccess
from service_kit import ServiceSettings


class FeatureSettings(ServiceSettings, FeatureStoreAccess):
    """Feature: keeps the Feast offline and online stores current.

    The feature store's profile is the service's ``profile``: ``dev`` keeps the registry,
    the SQLite online store and the parquet offline store under ``feature_store_dir``;
    ``production`` needs ``redis_url`` and ``offline_store_url``.
    """

    model_config = SettingsConfigDict(env_prefix="FEATURE_", extra="forbid", frozen=True)

    service_name: str = "feature"
    http_port: int = 8702

    consume_max_batch: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Activity events admitted per transaction (one commit per batch).",
    )
    flush_interval_s: float = Field(
        default=0.2,
        gt=0,
        le=60,
        description="How long admitted records wait to be written to the stores together: "
        "the freshness of the online store versus the size of each store write.",
    )
    flush_max_customers: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="At most this many customers' rows go into one store write.",
    )
    allowed_lateness_days: float = Field(
        default=14,
        ge=0,
        le=365,
        description="A record older than its customer's newest record by more than this is "
        "dead-lettered as too late; records are kept for the longest feature window plus "
        "this, so every accepted late record is computed from a complete history.",
    )
    claim_lease_s: float = Field(
        default=60,
        gt=0,
        description="How long a replica holds the customers it is writing before another "
        "replica may take them over (longer than any store write).",
    )
    lookup_max_ids: int = Field(
        default=256, ge=1, le=10_000, description="Most customer ids in one lookup request."
    )

    @property
    def allowed_lateness(self) -> timedelta:
        """``allowed_lateness_days`` as a duration."""
        return timedelta(days=self.allowed_lateness_days)

    @property
    def claim_lease(self) -> timedelta:
        """``claim_lease_s`` as a duration."""
        return timedelta(seconds=self.claim_lease_s)
