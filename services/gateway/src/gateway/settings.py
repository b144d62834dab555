"""Settings of the gateway service; every field is read from ``GATEWAY_<FIELD>``."""

from __future__ import annotations

import re

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mlops_contracts import reply_topic
from service_kit import ServiceSettings
from service_kit.settings import BearerTokenAccess


class GatewaySettings(ServiceSettings, BearerTokenAccess):
    """REST gateway: synchronous predictions over Kafka request/reply."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="forbid", frozen=True)

    service_name: str = "gateway"
    http_port: int = 8700
    deadline_ms: int = Field(
        default=2000,
        ge=10,
        le=60_000,
        description="How long a request waits for its prediction before 504.",
    )
    max_batch: int = Field(
        default=100, ge=1, le=10_000, description="Most predictions in one POST /v1/predict."
    )
    max_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Largest accepted request body, bytes."
    )

    @property
    def reply_instance(self) -> str:
        """The instance id as a reply-topic suffix: lowercased, other characters as '-'."""
        slug = re.sub(r"[^a-z0-9-]+", "-", self.instance_id.lower()).strip("-")[:100]
        return slug or "gateway"

    @property
    def reply_topic(self) -> str:
        """This instance's reply topic ``predictions.replies.<instance>``."""
        return reply_topic(self.reply_instance)
