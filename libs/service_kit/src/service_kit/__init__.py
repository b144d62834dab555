"""What every service of the mesh shares, so that no service copies plumbing."""

from service_kit.consumption import (
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
from service_kit.kafka import BATCH_WAIT_MS, Kafka, KafkaClient, PollOptions, ensure_topics
from service_kit.projects import ProjectCatalog, UnknownModelError
from service_kit.publishing import BatchPublisher, EventPublisher, Outgoing, Publisher
from service_kit.runtime import DependencyNotReady, ServiceRuntime, every
from service_kit.service_app import running, service_app, service_settings
from service_kit.serving import serve
from service_kit.settings import KAFKA_PROFILES, KafkaClientProfile, ServiceSettings
from service_kit.subscriptions import Subscription, batches, broadcast, each, own_group, shared

__all__ = [
    "BATCH_WAIT_MS",
    "KAFKA_PROFILES",
    "BatchPublisher",
    "DeadLetters",
    "DependencyNotReady",
    "EventConsumer",
    "EventPublisher",
    "InMemoryProcessedEvents",
    "Kafka",
    "KafkaClient",
    "KafkaClientProfile",
    "Outcome",
    "Outgoing",
    "PollOptions",
    "ProcessedEvents",
    "ProjectCatalog",
    "Publisher",
    "RetryPolicy",
    "ServiceRuntime",
    "ServiceSettings",
    "SqlProcessedEvents",
    "Subscription",
    "UnknownModelError",
    "UnprocessableEvent",
    "UnprocessableEvents",
    "batches",
    "broadcast",
    "decode_raw_json",
    "each",
    "ensure_topics",
    "every",
    "one_at_a_time",
    "own_group",
    "running",
    "serve",
    "service_app",
    "service_settings",
    "shared",
]
