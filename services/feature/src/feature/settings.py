"""Settings of the feature service; every field is read from ``FEATURE_<FIELD>``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from churn_features import FeatureStoreSettings
from service_kit import ServiceSettings


class FeatureSettings(ServiceSettings):
    """Feature: keeps the Feast offline and online stores current.

    The feature store's profile is the service's ``profile``: ``dev`` keeps the registry,
    the SQLite online store and the parquet offline store under ``feature_store_dir``;
    ``production`` needs ``redis_url`` and ``offline_store_url``.
    """

    model_config = SettingsConfigDict(env_prefix="FEATURE_", extra="forbid", frozen=True)

    service_name: str = "feature"
    http_port: int = 8702

    feature_store_project: str = Field(
        default="churn",
        pattern=r"^[a-z][a-z0-9_]{0,62}$",
        description="Feast project of the churn features (registry entries, online keys).",
    )
    feature_store_dir: Path | None = Field(
        default=None,
        description="dev: folder of the Feast registry, SQLite online store and parquet "
        "offline store; empty: `<data_dir>/feature_store`. Readers (trainer, predictor) must "
        "use the same folder.",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="production: Redis online store, redis://[:password@]host:6379/0.",
    )
    offline_store_url: SecretStr | None = Field(
        default=None,
        description="production: PostgreSQL of the offline store and the Feast registry, "
        "postgresql://user[:password]@host/db (may be the state database).",
    )
    offline_table: str = Field(
        default="customer_activity_features",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="production: table of the offline feature rows.",
    )
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

    @model_validator(mode="after")
    def _production_has_feature_stores(self) -> FeatureSettings:
        if self.profile == "production":
            missing = [
                f"FEATURE_{name.upper()}"
                for name in ("redis_url", "offline_store_url")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    f"profile=production needs {' and '.join(missing)}: the Redis online "
                    "store and the PostgreSQL offline store/registry"
                )
            # Validates the URLs now, not at the first store call.
            self.store_settings()
        return self

    @property
    def allowed_lateness(self) -> timedelta:
        """``allowed_lateness_days`` as a duration."""
        return timedelta(days=self.allowed_lateness_days)

    @property
    def claim_lease(self) -> timedelta:
        """``claim_lease_s`` as a duration."""
        return timedelta(seconds=self.claim_lease_s)

    def store_settings(self) -> FeatureStoreSettings:
        """Where the churn features live, for this service's profile."""
        return FeatureStoreSettings(
            profile=self.profile,
            project=self.feature_store_project,
            data_dir=self.feature_store_dir or self.data_dir / "feature_store",
            redis_url=self.redis_url,
            postgres_url=self.offline_store_url,
            offline_table=self.offline_table,
        )
