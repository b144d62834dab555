"""Settings and broker profiles fail fast on unsafe combinations."""

from __future__ import annotations

import ssl

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from service_kit import KAFKA_PROFILES, ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="forbid", frozen=True)
    service_name: str = "demo"


def test_dev_profile_follows_broker_facts() -> None:
    dev = KAFKA_PROFILES["dev"]
    assert dev.enable_idempotence is False
    assert dev.consumer_options()["auto_offset_reset"] == "earliest"
    assert dev.consumer_options()["session_timeout_ms"] == 6000
    # Tansu answers a fetch only when its wait expires: each hop costs up to the wait, so
    # the request path waits little; elsewhere a longer wait spares the broker idle polls.
    request_path = dev.consumer_options(request_path=True)["fetch_max_wait_ms"]
    assert request_path <= 10
    assert 10 < dev.consumer_options()["fetch_max_wait_ms"] <= 200


def test_production_profile_keeps_kafka_safe_defaults() -> None:
    production = KAFKA_PROFILES["production"].producer_options()
    assert production["acks"] == "all"
    assert production["enable_idempotence"] is True


def test_settings_read_their_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_HTTP_PORT", "9123")
    monkeypatch.setenv("DEMO_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    settings = DemoSettings()
    assert settings.http_port == 9123
    assert settings.kafka_bootstrap_servers == "kafka:9092"


def test_unknown_setting_is_rejected() -> None:
    with pytest.raises(ValidationError, match="http_prot"):
        DemoSettings(http_prot=1)  # type: ignore[call-arg]


def test_production_refuses_sqlite_state() -> None:
    with pytest.raises(ValidationError, match="shared database"):
        DemoSettings(profile="production")
    with pytest.raises(ValidationError, match="shared database"):
        DemoSettings(profile="production", database_url="sqlite:///x.db")


def test_production_sasl_needs_credentials_from_environment() -> None:
    with pytest.raises(ValidationError, match="kafka_sasl_password"):
        DemoSettings(
            profile="production",
            database_url="postgresql://db/state",
            kafka_security_protocol="SASL_SSL",
        )


def test_dev_state_is_one_sqlite_file_per_service_shared_by_replicas() -> None:
    one, two = DemoSettings(instance_id="one"), DemoSettings(instance_id="two")
    assert one.state_database_url == two.state_database_url
    assert one.state_database_url.endswith("demo.db")
    assert one.state_database_url.startswith("sqlite:///")


def test_unknown_environment_variable_with_the_prefix_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_HTTP_PROT", "9123")
    with pytest.raises(ValidationError, match="DEMO_HTTP_PROT"):
        DemoSettings()


def test_tls_without_sasl_needs_no_credentials() -> None:
    from service_kit.kafka import connection_options

    settings = DemoSettings(
        profile="production",
        database_url="postgresql://db/state",
        kafka_security_protocol="SSL",
    )
    options = connection_options(settings)
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert "sasl_mechanism" not in options  # TLS only, no SASL mechanism


def test_scram_over_tls_takes_its_credentials_from_the_settings() -> None:
    from service_kit.kafka import connection_options

    settings = DemoSettings(
        profile="production",
        database_url="postgresql://db/state",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="predictor",
        kafka_sasl_password="s3cret",
    )
    options = connection_options(settings)
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "predictor",
        "s3cret",
    )
    assert options["client_id"].startswith("demo-")
