"""Dead-letter records: a record that can never be processed is parked with its reason."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from mlops_contracts import WireRecord, dead_letter_topic

if TYPE_CHECKING:
    from service_kit.kafka import Kafka

logger = logging.getLogger(__name__)

# Header names on a dead-letter record (documented in mlops_contracts.DEAD_LETTER_HEADERS);
# the original record's headers are kept beside them.
ERROR_TYPE = "dlq_error_type"
ERROR_MESSAGE = "dlq_error_message"
ORIGINAL_TOPIC = "dlq_original_topic"
ORIGINAL_PARTITION = "dlq_original_partition"
ORIGINAL_OFFSET = "dlq_original_offset"
CONSUMER_GROUP = "dlq_consumer_group"
FAILED_AT = "dlq_failed_at"

_MAX_MESSAGE_CHARS = 4000


class ConsumedRecord(Protocol):
    """What the consumer needs of a Kafka record (aiokafka's ConsumerRecord has it)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...


def dead_letter_headers(
    record: ConsumedRecord, error: BaseException, consumer_group: str
) -> dict[str, bytes]:
    """The original headers, their bytes unchanged (a null one empty), plus the reason and
    the record's origin."""
    headers = {name: value or b"" for name, value in record.headers}
    reason = {
        # A contract error's stable code (e.g. `invalid_payload`), else the class name.
        ERROR_TYPE: str(getattr(error, "code", None) or type(error).__name__),
        ERROR_MESSAGE: str(error)[:_MAX_MESSAGE_CHARS],
        ORIGINAL_TOPIC: record.topic,
        ORIGINAL_PARTITION: str(record.partition),
        ORIGINAL_OFFSET: str(record.offset),
        CONSUMER_GROUP: consumer_group,
        FAILED_AT: datetime.now(UTC).isoformat(),
    }
    headers.update((name, value.encode()) for name, value in reason.items())
    return headers


class DeadLetters:
    """Publishes unprocessable records, unchanged, to ``<topic>.dlq``."""

    def __init__(self, kafka: Kafka) -> None:
        self._kafka = kafka

    async def park(self, record: ConsumedRecord, error: BaseException, consumer_group: str) -> str:
        """Publish ``record`` with the reason in its headers; return the dead-letter topic.

        Raises if the broker does not acknowledge, so the caller does not commit the
        original record (nothing is lost).
        """
        topic = dead_letter_topic(record.topic)
        headers = dead_letter_headers(record, error, consumer_group)
        await self._kafka.send(
            [
                WireRecord(
                    topic=topic,
                    key=record.key,
                    value=record.value or b"",
                    headers=tuple(headers.items()),
                )
            ]
        )
        logger.warning(
            "record dead-lettered",
            extra={
                "dead_letter_topic": topic,
                "original_topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error_type": type(error).__name__,
                "error": str(error)[:_MAX_MESSAGE_CHARS],
            },
        )
        return topic
