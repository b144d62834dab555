"""Where the customer features live: one small settings object, two profiles.

``dev``: Feast's SQLite online store, parquet files as the offline store and a file registry,
all under ``data_dir``. ``production``: Redis online store, PostgreSQL offline store (a table
read by Feast's contrib PostgreSQL offline store) and a PostgreSQL (SQL) registry. Services
build this from their own settings (e.g. ``FEATURE_*``); the Feast CLI's definitions file
reads ``CHURN_FEATURES_*`` (:meth:`FeatureStoreSettings.from_environment`). Secrets only ever
come from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from churn_features.domain import FEATURE_VIEW_NAME

StoreProfile = Literal["dev", "production"]

_REDIS_SCHEMES = ("redis://", "rediss://")
_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


class FeatureStoreSettings(BaseModel):
    """Where the feature store's registry, online store and offline store are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: StoreProfile = Field(
        default="dev",
        description="`dev`: SQLite online + parquet offline + file registry under data_dir; "
        "`production`: Redis online + PostgreSQL offline + PostgreSQL registry.",
    )
    project: str = Field(
        default="churn",
        pattern=r"^[a-z][a-z0-9_]{0,62}$",
        description="Feast project: namespaces the registry entries and the online keys/tables.",
    )
    data_dir: Path = Field(
        default=Path("var/data/feature_store"),
        description="dev: folder of the registry file, the SQLite online store and the parquet "
        "offline store; every service that reads the features must point at the same one.",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="production online store: redis://[:password@]host[:port][/db] "
        "(rediss:// for TLS).",
    )
    postgres_url: SecretStr | None = Field(
        default=None,
        description="production offline store and registry: "
        "postgresql://user[:password]@host[:port]/database[?sslmode=...].",
    )
    offline_table: str = Field(
        default="customer_activity_features",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="production: PostgreSQL table holding the offline feature rows.",
    )
    registry_cache_ttl_s: int = Field(
        default=60,
        ge=0,
        description="How long a reader caches the registry before looking for changes.",
    )

    @model_validator(mode="after")
    def _production_has_its_stores(self) -> FeatureStoreSettings:
        if self.profile != "production":
            return self
        missing = [name for name in ("redis_url", "postgres_url") if getattr(self, name) is None]
        if missing:
            raise ValueError(
                f"feature store profile=production needs {' and '.join(missing)} "
                "(Redis online store, PostgreSQL offline store and registry)"
            )
        assert self.redis_url is not None
        assert self.postgres_url is not None
        if not self.redis_url.get_secret_value().startswith(_REDIS_SCHEMES):
            raise ValueError("redis_url must start with redis:// or rediss://")
        if not self.postgres_url.get_secret_value().startswith(_POSTGRES_SCHEMES):
            raise ValueError("postgres_url must start with postgresql://")
        return self

    @property
    def registry_path(self) -> Path:
        """dev: the Feast registry file."""
        return self.data_dir.resolve() / "registry.db"

    @property
    def online_path(self) -> Path:
        """dev: the SQLite online store."""
        return self.data_dir.resolve() / "online.db"

    @property
    def offline_dir(self) -> Path:
        """dev: the folder of parquet files that is the view's Feast FileSource."""
        return self.data_dir.resolve() / "offline" / FEATURE_VIEW_NAME

    @classmethod
    def from_environment(
        cls, prefix: str = "CHURN_FEATURES_", environ: Mapping[str, str] | None = None
    ) -> FeatureStoreSettings:
        """Settings from ``<prefix>PROFILE``, ``PROJECT``, ``DATA_DIR``, ``REDIS_URL``,
        ``POSTGRES_URL``, ``OFFLINE_TABLE``; unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        values = {
            field: env[prefix + field.upper()]
            for field in cls.model_fields
            if prefix + field.upper() in env
        }
        return cls.model_validate(values)


class FeatureStoreAccess(BaseModel):
    """Settings fields of a service that reads or writes the churn features (a mixin for
    its ``ServiceSettings``): the same names in every service, so the launcher can hand
    them the one store. Expects ``profile`` and ``data_dir`` from ``ServiceSettings``."""

    feature_store_project: str = Field(
        default="churn",
        pattern=r"^[a-z][a-z0-9_]{0,62}$",
        description="Feast project of the churn features (registry entries, online keys).",
    )
    feature_store_dir: Path | None = Field(
        default=None,
        description="dev: folder of the Feast registry, SQLite online store and parquet "
        "offline store; empty: `<data_dir>/feature_store`. The feature service writes it; "
        "trainer, registry and predictors must read the same folder.",
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

    @model_validator(mode="after")
    def _production_has_feature_stores(self) -> FeatureStoreAccess:
        if getattr(self, "profile", "dev") == "production":
            prefix = str(self.model_config.get("env_prefix", ""))
            missing = [
                f"{prefix}{name.upper()}"
                for name in ("redis_url", "offline_store_url")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    f"profile=production needs {' and '.join(missing)}: the Redis online "
                    "store and the PostgreSQL offline store/registry"
                )
            self.store_settings()  # validates the URLs now, not at the first store call
        return self

    def store_settings(self) -> FeatureStoreSettings:
        """Where the churn features live, for this service's profile."""
        data_dir: Path = getattr(self, "data_dir", Path("var/data"))
        return FeatureStoreSettings(
            profile=getattr(self, "profile", "dev"),
            project=self.feature_store_project,
            data_dir=self.feature_store_dir or data_dir / "feature_store",
            redis_url=self.redis_url,
            postgres_url=self.offline_store_url,
            offline_table=self.offline_table,
        )
