"""Settings of the ingest service; every field is read from ``INGEST_<FIELD>``."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings


class IngestSettings(ServiceSettings):
    """Ingest: validates customer activity and delayed churn labels."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="forbid", frozen=True)

    service_name: str = "ingest"
    http_port: int = 8701
    api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token required on POST /v1/records. Required in production; in "
        "dev, when empty, a random one is generated at start and saved in data_dir.",
    )
    max_batch: int = Field(default=1000, ge=1, le=100_000, description="Records per request.")
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Largest accepted request body, bytes."
    )
    max_clock_skew_s: float = Field(
        default=300.0, ge=0, description="How far in the future a record's time may be."
    )

    @model_validator(mode="after")
    def _production_needs_a_token(self) -> IngestSettings:
        if self.profile == "production" and not self.api_token:
            raise ValueError("profile=production needs INGEST_API_TOKEN from the environment")
        return self
