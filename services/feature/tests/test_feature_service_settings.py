"""FEATURE_* settings: production refuses missing store connections, fail fast."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from feature.settings import FeatureSettings
from pydantic import ValidationError


def test_dev_store_lives_in_the_data_dir(settings_for: Callable[..., FeatureSettings]) -> None:
    settings = settings_for()
    store = settings.store_settings()
    assert store.profile == "dev"
    assert store.data_dir == settings.data_dir / "feature_store"
    assert settings_for(feature_store_dir=Path("/srv/fs")).store_settings().data_dir == Path(
        "/srv/fs"
    )


def test_production_needs_redis_and_the_offline_database() -> None:
    with pytest.raises(ValidationError, match="FEATURE_REDIS_URL and FEATURE_OFFLINE_STORE_URL"):
        FeatureSettings(profile="production", database_url="postgresql://db/state")


def test_production_validates_the_urls_at_start() -> None:
    with pytest.raises(ValidationError, match="redis_url must start"):
        FeatureSettings(
            profile="production",
            database_url="postgresql://db/state",
            redis_url="localhost:6379",
            offline_store_url="postgresql://db/features",
        )


def test_production_store_settings() -> None:
    settings = FeatureSettings(
        profile="production",
        database_url="postgresql://db/state",
        redis_url="redis://cache:6379/0",
        offline_store_url="postgresql://db/features",
    )
    store = settings.store_settings()
    assert store.profile == "production"
    assert store.redis_url is not None
    assert store.redis_url.get_secret_value() == "redis://cache:6379/0"


def test_a_mistyped_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURE_FLUSH_INTERVAL", "1")
    with pytest.raises(ValidationError, match="FEATURE_FLUSH_INTERVAL"):
        FeatureSettings()
