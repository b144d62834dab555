"""Settings of the ingest service; every field is read from ``INGEST_<FIELD>``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings
from service_kit.settings import BearerTokenAccess


class IngestSettings(ServiceSettings, BearerTokenAccess):
    """Ingest: validates customer activity and delayed churn labels."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="forbid", frozen=True)

    service_name: str = "ingest"
    http_port: int = 8701
    max_batch: int = Field(default=1000, ge=1, le=100_000, description="Records per request.")
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Largest accepted request body, bytes."
    )
    max_clock_skew_s: float = Field(
        default=300.0, ge=0, description="How far in the future a record's time may be."
    )
