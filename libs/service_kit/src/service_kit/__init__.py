"""What every service of the mesh shares, so that no service copies plumbing."""

from service_kit.consumption import (
    BATCH_WAIT_MS,
    EventConsumer,
    Outcome,
    RetryPolicy,
    UnprocessableEvent,
    UnprocessableEvents,
    decode_raw_json,
    one_at_a_time,
)
from service_kit.dead_letters import DeadLetters
from service_kit.idempotency import InMemoryProcessedEvents, ProcessedEvents, SqlProcessedEvents
from service_kit.kafka import (
    BatchPublisher,
    EventPublisher,
    Outgoing,
    Publisher,
    create_broker,
    ensure_topics,
)
from service_kit.runtime import DependencyNotReady, ServiceRuntime
from service_kit.service_app import Runtime, create_service_app
from service_kit.serving import serve
from service_kit.settings import KAFKA_PROFILES, KafkaClientProfile, ServiceSettings

__all__ = [
    "BATCH_WAIT_MS",
    "KAFKA_PROFILES",
    "BatchPublisher",
    "DeadLetters",
    "DependencyNotReady",
    "EventConsumer",
    "EventPublisher",
    "InMemoryProcessedEvents",
    "KafkaClientProfile",
    "Outcome",
    "Outgoing",
    "ProcessedEvents",
    "Publisher",
    "RetryPolicy",
    "Runtime",
    "ServiceRuntime",
    "ServiceSettings",
    "SqlProcessedEvents",
    "UnprocessableEvent",
    "UnprocessableEvents",
    "create_broker",
    "create_service_app",
    "decode_raw_json",
    "ensure_topics",
    "one_at_a_time",
    "serve",
]
