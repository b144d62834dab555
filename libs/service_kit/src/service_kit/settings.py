"""Settings every service inherits, and the named Kafka client profiles.

Each service subclasses :class:`ServiceSettings` with its own env prefix
(``PREDICTOR_``, ``GATEWAY_``, ...). Values come from the environment only; nothing is
sniffed from the host.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ProfileName = Literal["dev", "production"]


@dataclass(frozen=True)
class KafkaClientProfile:
    """Client options that must change together when the broker changes.

    ``dev`` is tuned for the embedded Tansu broker (see BROKER.md): short session timeouts
    because every JoinGroup is held for half of it, ``earliest`` because its ``latest``
    offset is wrong when producers batch, and no idempotence because InitProducerId v0
    fails. Tansu answers a fetch only when its wait expires, so the fetch wait is a
    trade: each hop costs up to the wait, and each idle consumer costs the broker one
    fetch per wait. The request path (a caller waits) fetches every 10 ms; every other
    consumer every 200 ms: an idle mesh's broker then takes about a fifth of a core
    instead of two fifths (all at 20 ms).
    ``production`` keeps Kafka's safe defaults: acks=all with an idempotent producer.
    """

    name: ProfileName
    acks: Literal["all", 1, 0]
    enable_idempotence: bool
    linger_ms: int
    session_timeout_ms: int
    heartbeat_interval_ms: int
    fetch_max_wait_ms: int
    request_path_fetch_max_wait_ms: int
    """Fetch wait of the consumers on the synchronous request path (prediction requests in
    the predictor, replies in the gateway): Tansu answers a fetch only when its wait
    expires, so each hop costs up to this. Real Kafka answers as soon as data arrives."""
    auto_offset_reset: Literal["earliest", "latest"]

    def producer_options(self) -> dict[str, Any]:
        """Keyword arguments of ``AIOKafkaProducer`` that configure it."""
        return {
            "acks": self.acks,
            "enable_idempotence": self.enable_idempotence,
            "linger_ms": self.linger_ms,
        }

    def consumer_options(self, *, request_path: bool = False) -> dict[str, Any]:
        """Keyword arguments of ``AIOKafkaConsumer`` that configure it (``request_path``:
        one a synchronous caller waits on)."""
        return {
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "fetch_max_wait_ms": (
                self.request_path_fetch_max_wait_ms if request_path else self.fetch_max_wait_ms
            ),
            "auto_offset_reset": self.auto_offset_reset,
        }


KAFKA_PROFILES: dict[ProfileName, KafkaClientProfile] = {
    "dev": KafkaClientProfile(
        name="dev",
        acks="all",
        enable_idempotence=False,
        linger_ms=1,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        fetch_max_wait_ms=200,
        request_path_fetch_max_wait_ms=10,
        auto_offset_reset="earliest",
    ),
    "production": KafkaClientProfile(
        name="production",
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        session_timeout_ms=45000,
        heartbeat_interval_ms=3000,
        fetch_max_wait_ms=100,
        request_path_fetch_max_wait_ms=100,
        # A new consumer group starts from the beginning so no event published before
        # the first deployment of a consumer is silently skipped.
        auto_offset_reset="earliest",
    ),
}


class ServiceSettings(BaseSettings):
    """Base settings of every service; subclasses set ``env_prefix`` and defaults."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_default=True)

    service_name: str = Field(description="Logical service name: consumer group and log field.")
    instance_id: str = Field(
        default_factory=socket.gethostname,
        description="This process's id among replicas (replica name, pod name).",
    )
    profile: ProfileName = Field(
        default="dev",
        description="`dev` for the embedded broker and SQLite; `production` for real Kafka.",
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:19092", description="Comma-separated Kafka bootstrap servers."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_SSL", "SSL"] = Field(
        default="PLAINTEXT", description="Kafka security protocol."
    )
    kafka_sasl_username: str | None = Field(default=None, description="SCRAM user name.")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SCRAM password.")
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP server binds.")
    http_port: int = Field(default=8000, ge=1, le=65535, description="HTTP port.")
    data_dir: Path = Field(
        default=Path("var/data"), description="Folder for this service's local state."
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the service's state database: sqlite:///path or "
            "postgresql://user@host/db. Empty: a SQLite file in data_dir (dev only)."
        ),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Root log level."
    )
    processed_ids_retention_days: float = Field(
        default=30,
        gt=0,
        description="How long processed event ids are kept for deduplication; longer than "
        "any topic's retention, so a redelivered event is always recognised.",
    )
    shutdown_grace_s: float = Field(
        default=15.0, gt=0, description="Seconds in-flight work gets to finish on SIGTERM."
    )

    @model_validator(mode="after")
    def _production_is_explicit(self) -> ServiceSettings:
        if self.profile == "production":
            if self.database_url is None or self.database_url.startswith("sqlite"):
                raise ValueError(
                    "profile=production needs database_url set to a shared database "
                    "(postgresql://...); SQLite in a container is lost with the container"
                )
            if self.kafka_security_protocol == "SASL_SSL" and not (
                self.kafka_sasl_username and self.kafka_sasl_password
            ):
                raise ValueError(
                    f"kafka_security_protocol={self.kafka_security_protocol} needs "
                    "kafka_sasl_username and kafka_sasl_password from the environment"
                )
        return self

    @model_validator(mode="after")
    def _no_unknown_environment(self) -> ServiceSettings:
        # pydantic-settings silently ignores unknown prefixed variables; a typo such as
        # PREDICTOR_HTTP_PROT must fail instead of leaving the default in place.
        prefix = str(self.model_config.get("env_prefix", "")).upper()
        if not prefix:
            return self
        known = {name.upper() for name in type(self).model_fields}
        unknown = sorted(
            key
            for key in os.environ
            if key.upper().startswith(prefix) and key.upper()[len(prefix) :] not in known
        )
        if unknown:
            raise ValueError(
                f"unknown setting(s) {', '.join(unknown)}; known: "
                + ", ".join(f"{prefix}{name}" for name in sorted(known))
            )
        return self

    @property
    def kafka_profile(self) -> KafkaClientProfile:
        """The Kafka client profile this service runs with."""
        return KAFKA_PROFILES[self.profile]

    @property
    def state_database_url(self) -> str:
        """The database URL to use, defaulting to a SQLite file in ``data_dir``."""
        if self.database_url:
            return self.database_url
        # One file per service, shared by its replicas: an event redelivered to another
        # replica after a rebalance is still recognised as processed.
        return f"sqlite:///{self.data_dir / f'{self.service_name}.db'}"


class BearerTokenAccess(BaseModel):
    """Settings field of a service whose HTTP API takes a bearer token (a mixin for its
    ``ServiceSettings``; expects ``profile``): required in production, from the
    environment only."""

    api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token clients must send on the service's API. Required in "
        "production; in dev, when empty, a random one is generated at start and saved in "
        "data_dir.",
    )

    @model_validator(mode="after")
    def _production_needs_a_token(self) -> BearerTokenAccess:
        if getattr(self, "profile", "dev") == "production" and not self.api_token:
            prefix = str(self.model_config.get("env_prefix", ""))
            raise ValueError(f"profile=production needs {prefix}API_TOKEN from the environment")
        return self
