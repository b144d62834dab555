"""A service's subscriptions, declared: which topic, which handler of its running
components, which consumer group, how it polls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from mlops_contracts import TopicSpec
from service_kit.consumption import (
    DEFAULT_RETRY,
    BatchHandler,
    EventHandler,
    RecordDecoder,
    RetryPolicy,
    decode_cloud_event,
    one_at_a_time,
)
from service_kit.kafka import BATCH_WAIT_MS, PollOptions
from service_kit.settings import ServiceSettings

C = TypeVar("C")

GroupId = Callable[[ServiceSettings], str] | str
"""A consumer group: its name, or how to name it from the service's settings."""


def shared(settings: ServiceSettings) -> str:
    """The service's own group: its replicas share the topic's partitions."""
    return settings.service_name


def broadcast(settings: ServiceSettings) -> str:
    """A group of this replica alone: every replica reads every record."""
    return f"{settings.service_name}-{settings.instance_id}"


def own_group(name: str) -> GroupId:
    """A group of the service's own beside its main one (``<service>.<name>``): a
    rebalance of a small consumer never pauses a busy one."""

    def group(settings: ServiceSettings) -> str:
        return f"{settings.service_name}.{name}"

    return group


@dataclass(frozen=True)
class Subscription(Generic[C]):
    """One topic's consumer: which handler of the running components takes its events."""

    topic: TopicSpec
    handler: Callable[[C], BatchHandler]
    group: GroupId = shared
    """The consumer group (by default the service's)."""
    idempotent: bool = True
    """False when the handler deduplicates itself (on a natural key, in its own
    transaction): no processed-id rows for these events."""
    decoder: RecordDecoder = decode_cloud_event
    retry: RetryPolicy = DEFAULT_RETRY
    poll: PollOptions = field(default_factory=PollOptions)


def each(
    topic: TopicSpec,
    handler: Callable[[C], EventHandler],
    *,
    group: GroupId = shared,
    idempotent: bool = True,
    decoder: RecordDecoder = decode_cloud_event,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> Subscription[C]:
    """``topic``'s events, one at a time, to ``handler(components)``; each committed once
    handled or dead-lettered."""
    return Subscription(
        topic,
        lambda components: one_at_a_time(handler(components)),
        group=group,
        idempotent=idempotent,
        decoder=decoder,
        retry=retry,
    )


def batches(
    topic: TopicSpec,
    handler: Callable[[C], BatchHandler],
    *,
    group: GroupId = shared,
    idempotent: bool = True,
    decoder: RecordDecoder = decode_cloud_event,
    retry: RetryPolicy = DEFAULT_RETRY,
    max_batch: int = 500,
    max_wait_ms: int = BATCH_WAIT_MS,
    request_path: bool = False,
    linger_ms: int = 0,
    topic_names: Sequence[str] = (),
) -> Subscription[C]:
    """``topic``'s events in batches of whatever has arrived (up to ``max_batch``) to
    ``handler(components)``: one deduplication query per batch, offsets committed at most
    every 100 ms. See :class:`~service_kit.kafka.PollOptions` for the rest."""
    return Subscription(
        topic,
        handler,
        group=group,
        idempotent=idempotent,
        decoder=decoder,
        retry=retry,
        poll=PollOptions(
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            request_path=request_path,
            linger_ms=linger_ms,
            topic_names=tuple(topic_names),
        ),
    )


def group_id(group: GroupId, settings: ServiceSettings) -> str:
    """The name of ``group`` for a service with ``settings``."""
    return group if isinstance(group, str) else group(settings)
