"""Settings of the ingest service; every field is read from ``INGEST_<FIELD>``."""

from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings


class IngestSettings(ServiceSettings):
    """Ingest: validates customer activity and delayed churn labels."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="forbid", frozen=True)

    service_name: str = "ingest"
    http_port: int = 8701
