"""Settings of the feature service; every field is read from ``FEATURE_<FIELD>``."""

from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings


class FeatureSettings(ServiceSettings):
    """Feature: keeps the Feast offline and online stores current."""

    model_config = SettingsConfigDict(env_prefix="FEATURE_", extra="forbid", frozen=True)

    service_name: str = "feature"
    http_port: int = 8702
