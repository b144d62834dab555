"""Settings of the gateway service; every field is read from ``GATEWAY_<FIELD>``."""

from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings
from service_kit.settings import BearerTokenAccess


class GatewaySettings(ServiceSettings, BearerTokenAccess):
    """REST gateway: synchronous predictions over Kafka request/reply."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="forbid", frozen=True)

    service_name: str = "gateway"
    http_port: int = 8700
