"""Decoding of prediction requests. A record that is a PredictionRequested by its headers
but fails validation still names who is waiting (request id, customer, reply topic): it
is answered with ``invalid_request`` instead of being dead-lettered, so no client waits for
nothing. A record without even that goes to the dead-letter topic."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mlops_contracts import (
    REPLY_TOPIC_PREFIX,
    Envelope,
    InvalidPayloadError,
    PredictionRequested,
    TopicSpec,
)
from service_kit.consumption import decode_cloud_event
from service_kit.dead_letters import ConsumedRecord

_IDENTIFIER = re.compile(r"^\S{1,200}$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


@dataclass(frozen=True)
class InvalidPredictionRequest:
    """What can be read of a request that failed validation, and why it failed."""

    request_id: str
    customer_id: str
    reply_to: str | None
    reason: str


def decode_prediction_request(record: ConsumedRecord, topic: TopicSpec) -> Envelope[Any]:
    """A PredictionRequested, or an InvalidPredictionRequest when the payload is invalid
    but still says whom to answer (anything else raises, and is dead-lettered)."""
    try:
        return decode_cloud_event(record, topic)
    except InvalidPayloadError as error:
        invalid = _salvage(record.value or b"", str(error))
        if invalid is None:
            raise
        headers = {name: value for name, value in record.headers}
        return Envelope(
            id=(headers.get("ce_id") or b"").decode("utf-8", "replace")
            or f"{record.topic}/{record.partition}/{record.offset}",
            source=(headers.get("ce_source") or b"").decode("utf-8", "replace"),
            type=PredictionRequested.event_type,
            time=None,
            subject=invalid.customer_id,
            correlation_id=(headers.get("ce_correlationid") or b"").decode("utf-8", "replace")
            or None,
            data=invalid,
        )


def _salvage(value: bytes, reason: str) -> InvalidPredictionRequest | None:
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    request_id, customer_id = data.get("request_id"), data.get("customer_id")
    if not (isinstance(request_id, str) and _IDENTIFIER.match(request_id)):
        return None
    if not (isinstance(customer_id, str) and _IDENTIFIER.match(customer_id)):
        return None
    reply_to = data.get("reply_to")
    if not (
        isinstance(reply_to, str)
        and reply_to.startswith(REPLY_TOPIC_PREFIX)
        and _TOPIC.match(reply_to)
    ):
        reply_to = None
    return InvalidPredictionRequest(request_id, customer_id, reply_to, reason[:3000])
