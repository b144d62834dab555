"""Settings of the registry service; every field is read from ``REGISTRY_<FIELD>``."""

from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings


class RegistrySettings(ServiceSettings):
    """Registry: the promotion gate over the MLflow Model Registry."""

    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="forbid", frozen=True)

    service_name: str = "registry"
    http_port: int = 8704
