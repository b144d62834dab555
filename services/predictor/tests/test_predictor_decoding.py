"""Which prediction requests are answered as invalid and which are dead-lettered."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from predictor.decoding import InvalidPredictionRequest, decode_prediction_request

from mlops_contracts import ContractError, PredictionRequested, topic_for

TOPIC = topic_for(PredictionRequested)
HEADERS = [
    ("ce_specversion", b"1.0"),
    ("ce_id", b"e-1"),
    ("ce_source", b"urn:test"),
    ("ce_type", b"mlops.prediction.requested.v1"),
    ("content-type", b"application/json"),
]


def record(value: bytes) -> SimpleNamespace:
    return SimpleNamespace(
        topic=TOPIC.name, partition=0, offset=7, key=b"C-1", value=value, headers=HEADERS
    )


def test_a_valid_request_decodes_as_the_event() -> None:
    body = {"request_id": "r-1", "customer_id": "C-1", "requested_at": "2026-11-21T08:00:00Z"}
    envelope = decode_prediction_request(record(json.dumps(body).encode()), TOPIC)  # type: ignore[arg-type]
    assert isinstance(envelope.data, PredictionRequested)


def test_an_invalid_request_that_names_its_requester_is_answered() -> None:
    body = {
        "request_id": "r-2",
        "customer_id": "C-1",
        "requested_at": "yesterday",
        "reply_to": "predictions.replies.gw-1",
    }
    envelope = decode_prediction_request(record(json.dumps(body).encode()), TOPIC)  # type: ignore[arg-type]
    invalid = envelope.data
    assert isinstance(invalid, InvalidPredictionRequest)
    assert (invalid.request_id, invalid.customer_id) == ("r-2", "C-1")
    assert invalid.reply_to == "predictions.replies.gw-1"
    assert "requested_at" in invalid.reason
    assert envelope.id == "e-1"


def test_a_reply_topic_outside_the_reply_prefix_is_dropped() -> None:
    body = {"request_id": "r-3", "customer_id": "C-1", "reply_to": "model.decisions"}
    envelope = decode_prediction_request(record(json.dumps(body).encode()), TOPIC)  # type: ignore[arg-type]
    assert envelope.data.reply_to is None


@pytest.mark.parametrize(
    "value", [b"\x00garbage", b"[1, 2]", json.dumps({"customer_id": "C-1"}).encode()]
)
def test_a_record_that_names_nobody_to_answer_is_refused(value: bytes) -> None:
    with pytest.raises(ContractError):
        decode_prediction_request(record(value), TOPIC)  # type: ignore[arg-type]
