"""Settings of the retrain-trigger service; every field is read from ``RETRAIN_TRIGGER_<FIELD>``."""

from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings


class RetrainTriggerSettings(ServiceSettings):
    """Retrain trigger: turns drift and degradation into at most one training at a time."""

    model_config = SettingsConfigDict(env_prefix="RETRAIN_TRIGGER_", extra="forbid", frozen=True)

    service_name: str = "retrain-trigger"
    http_port: int = 8706
