"""Store settings: profiles, fail-fast validation, URL translation into Feast's config."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from churn_features.config import PostgresLocation, redis_connection_string, repo_config
from churn_features.settings import FeatureStoreSettings


def test_dev_is_the_default_and_keeps_everything_under_data_dir(tmp_path: Path) -> None:
    settings = FeatureStoreSettings(data_dir=tmp_path)
    config = repo_config(settings)
    assert config.online_store.type == "sqlite"
    assert config.online_store.path == str(tmp_path / "online.db")
    assert config.registry.path == str(tmp_path / "registry.db")
    assert settings.offline_dir == tmp_path / "offline" / "customer_activity"


def test_production_refuses_missing_connections() -> None:
    with pytest.raises(ValidationError, match="redis_url and postgres_url"):
        FeatureStoreSettings(profile="production")
    with pytest.raises(ValidationError, match="postgres_url"):
        FeatureStoreSettings(profile="production", redis_url="redis://r:6379/0")


def test_production_refuses_urls_of_the_wrong_kind() -> None:
    with pytest.raises(ValidationError, match="redis_url must start"):
        FeatureStoreSettings(
            profile="production", redis_url="http://r", postgres_url="postgresql://p/db"
        )
    with pytest.raises(ValidationError, match="postgres_url must start"):
        FeatureStoreSettings(
            profile="production", redis_url="redis://r", postgres_url="mysql://p/db"
        )


def test_unknown_fields_and_bad_names_fail_loudly() -> None:
    with pytest.raises(ValidationError, match="extra"):
        FeatureStoreSettings(profle="dev")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="project"):
        FeatureStoreSettings(project="Bad-Name")


def test_from_environment_reads_the_prefixed_variables(tmp_path: Path) -> None:
    settings = FeatureStoreSettings.from_environment(
        environ={"CHURN_FEATURES_DATA_DIR": str(tmp_path), "CHURN_FEATURES_PROJECT": "other"}
    )
    assert (settings.data_dir, settings.project, settings.profile) == (tmp_path, "other", "dev")


def test_production_config_translates_the_urls() -> None:
    settings = FeatureStoreSettings(
        profile="production",
        redis_url="rediss://:s3cret@cache.internal:6380/2",
        postgres_url="postgresql://feast:p%40ss@db.internal:5433/features?sslmode=require",
    )
    config = repo_config(settings)
    assert config.online_store.connection_string == (
        "cache.internal:6380,db=2,password=s3cret,ssl=true"
    )
    assert config.online_store.skip_dedup is True
    offline = config.offline_store
    assert (offline.host, offline.port, offline.database) == ("db.internal", 5433, "features")
    assert (offline.user, offline.password, offline.sslmode) == ("feast", "p@ss", "require")
    assert config.registry.registry_type == "sql"
    assert config.registry.path == (
        "postgresql+psycopg://feast:p%40ss@db.internal:5433/features?sslmode=require"
    )
    assert "s3cret" not in repr(settings)  # secrets stay out of logs


def test_plain_urls_get_defaults() -> None:
    assert redis_connection_string("redis://localhost") == "localhost:6379"
    location = PostgresLocation.parse("postgresql://127.0.0.1/test")
    assert (location.user, location.port, location.password, location.sslmode) == (
        "postgres",
        5432,
        "",
        None,
    )
    assert "password" not in location.conninfo()
    with pytest.raises(ValueError, match="database"):
        PostgresLocation.parse("postgresql://host")
