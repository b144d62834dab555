"""The CloudEvents Kafka binary-mode codec: round trips, headers, and precise errors."""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from mlops_contracts import (
    EVENT_TYPES,
    ContractError,
    Event,
    EventTypeNotAllowedError,
    InvalidAttributeError,
    InvalidPayloadError,
    KeyMismatchError,
    MalformedPayloadError,
    MissingAttributeError,
    ModelPromoted,
    PredictionMade,
    PredictionRequested,
    UnknownEventTypeError,
    decode,
    encode,
    topic_for,
)

Example = Callable[[type[Event]], Event]
SOURCE = "urn:mlops:test"
TIME = datetime(2025, 3, 14, 9, 26, 53, 589000, tzinfo=UTC)


def _request() -> PredictionRequested:
    return PredictionRequested(request_id="r-1", customer_id="C-1", requested_at=TIME)


def _headers(**changes: str | None) -> list[tuple[str, bytes]]:
    headers = dict(encode(_request(), source=SOURCE, event_id="id-1", time=TIME).headers)
    for name, value in changes.items():
        header = name.replace("__", "-")
        if value is None:
            headers.pop(header, None)
        else:
            headers[header] = value.encode()
    return list(headers.items())


def _value(**fields: Any) -> bytes:
    data = _request().model_dump(mode="json")
    data.update(fields)
    return json.dumps(data).encode()


# --------------------------------------------------------------------------------------------
# Encoding and round trips
# --------------------------------------------------------------------------------------------


def test_round_trip_of_every_event_type(event_type: str, example: Example) -> None:
    event = example(EVENT_TYPES[event_type])
    record = encode(event, source=SOURCE)
    envelope = decode(record.value, record.headers, key=record.key, topic=record.topic)
    assert envelope.data == event
    assert type(envelope.data) is type(event)
    assert envelope.type == event_type


def test_record_key_topic_and_headers(event_type: str, example: Example) -> None:
    cls = EVENT_TYPES[event_type]
    event = example(cls)
    record = encode(event, source=SOURCE, event_id="evt-1", time=TIME, correlation_id="corr-9")
    entity = str(getattr(event, cls.key_field))
    assert record.topic == topic_for(cls).name
    assert record.key == entity.encode()
    assert dict(record.headers) == {
        "ce_specversion": b"1.0",
        "ce_id": b"evt-1",
        "ce_source": SOURCE.encode(),
        "ce_type": event_type.encode(),
        "ce_time": b"2025-03-14T09:26:53.589000Z",
        "ce_subject": entity.encode(),
        "content-type": b"application/json",
        "ce_correlationid": b"corr-9",
    }
    assert json.loads(record.value) == event.model_dump(mode="json")
    assert b" " not in record.value.split(b'"')[0]  # compact


def test_defaults_for_id_and_time() -> None:
    before = datetime.now(UTC)
    first, second = encode(_request(), source=SOURCE), encode(_request(), source=SOURCE)
    envelope = decode(first.value, first.headers)
    assert uuid.UUID(envelope.id).version == 4
    assert first.header("ce_id") != second.header("ce_id")
    assert envelope.time is not None
    assert envelope.time >= before - timedelta(seconds=1)
    assert first.header("ce_correlationid") is None
    assert envelope.correlation_id is None


def test_envelope_attributes_and_extensions() -> None:
    record = encode(
        _request(),
        source=SOURCE,
        event_id="evt-1",
        time=datetime(2025, 3, 14, 10, 26, 53, tzinfo=timezone(timedelta(hours=1))),
        correlation_id="corr-1",
        extensions={"traceparent": "00-abc-def-01"},
    )
    envelope = decode(record.value, record.headers, key=record.key)
    assert envelope.id == "evt-1"
    assert envelope.source == SOURCE
    assert envelope.time == TIME.replace(microsecond=0)
    assert envelope.subject == "C-1"
    assert envelope.correlation_id == "corr-1"
    assert dict(envelope.extensions) == {"traceparent": "00-abc-def-01"}
    assert record.text_headers()["ce_traceparent"] == "00-abc-def-01"


@pytest.mark.parametrize("name", ["Trace", "trace_parent", "id", "correlationid", "a" * 21])
def test_encode_refuses_invalid_extension_names(name: str) -> None:
    with pytest.raises(InvalidAttributeError, match="extension name"):
        encode(_request(), source=SOURCE, extensions={name: "x"})


def test_encode_refuses_naive_time_and_empty_source() -> None:
    with pytest.raises(InvalidAttributeError, match="no timezone"):
        encode(_request(), source=SOURCE, time=datetime(2025, 1, 1))
    with pytest.raises(InvalidAttributeError, match="source"):
        encode(_request(), source="")


def test_reply_record_is_the_same_record_on_another_topic(example: Example) -> None:
    record = encode(example(PredictionMade), source=SOURCE, correlation_id="c-1")
    reply = replace(record, topic="predictions.replies.gw-1")
    envelope = decode(reply.value, reply.headers, key=reply.key, topic=reply.topic)
    assert envelope.correlation_id == "c-1"


def test_decode_accepts_text_headers_and_mappings() -> None:
    record = encode(_request(), source=SOURCE)
    assert decode(record.value, record.text_headers()).data == _request()
    assert decode(record.value, dict(record.headers), key="C-1").data == _request()


def test_unknown_fields_in_the_value_are_ignored() -> None:
    envelope = decode(_value(priority="high", nested={"a": [1, 2]}), _headers())
    assert envelope.data == _request()


def test_missing_content_type_means_json() -> None:
    assert decode(_value(), _headers(content__type=None)).data == _request()
    assert decode(_value(), _headers(content__type="application/json; charset=utf-8"))


def test_time_is_optional_and_rfc3339_variants_parse() -> None:
    assert decode(_value(), _headers(ce_time=None)).time is None
    for text in [
        "2025-03-14T09:26:53Z",
        "2025-03-14t09:26:53.123456789z",
        "2025-03-14 09:26:53+01:00",
    ]:
        time = decode(_value(), _headers(ce_time=text)).time
        assert time is not None
        assert time.utcoffset() is not None


# --------------------------------------------------------------------------------------------
# Errors: each says precisely what was wrong
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["ce_specversion", "ce_id", "ce_source", "ce_type"])
def test_missing_required_header(header: str) -> None:
    with pytest.raises(MissingAttributeError, match=f"missing header '{header}'"):
        decode(_value(), _headers(**{header: None}))


def test_empty_required_header() -> None:
    with pytest.raises(InvalidAttributeError, match="header 'ce_source' is empty"):
        decode(_value(), _headers(ce_source=""))


def test_unsupported_specversion() -> None:
    with pytest.raises(InvalidAttributeError, match=r"unsupported CloudEvents specversion '0\.3'"):
        decode(_value(), _headers(ce_specversion="0.3"))


def test_unknown_type_suggests_the_closest_known_one() -> None:
    with pytest.raises(UnknownEventTypeError) as caught:
        decode(_value(), _headers(ce_type="mlops.prediction.request.v1"))
    assert "unknown event type 'mlops.prediction.request.v1'" in str(caught.value)
    assert "did you mean 'mlops.prediction.requested.v1'?" in str(caught.value)
    with pytest.raises(UnknownEventTypeError, match="known types: mlops"):
        decode(_value(), _headers(ce_type="zzz"))


def test_bad_json_says_where() -> None:
    with pytest.raises(MalformedPayloadError, match=r"not valid JSON: .* line 1 column \d+"):
        decode(b'{"request_id": "r-1",', _headers())


@pytest.mark.parametrize("value", [None, b""])
def test_missing_value(value: bytes | None) -> None:
    with pytest.raises(MalformedPayloadError, match="record has no value"):
        decode(value, _headers())


def test_value_must_be_an_object() -> None:
    with pytest.raises(MalformedPayloadError, match=r"must be a JSON object, got \[1, 2\]"):
        decode(b"[1, 2]", _headers())


def test_invalid_fields_are_listed_one_by_one() -> None:
    value = _value(customer_id="", requested_at="2025-03-14T09:26:53", reply_to="bad topic!")
    with pytest.raises(InvalidPayloadError) as caught:
        decode(value, _headers())
    message = str(caught.value)
    assert message.startswith("invalid mlops.prediction.requested.v1 data (3 errors): ")
    assert "customer_id: String should have at least 1 character (got '')" in message
    assert "requested_at: Input should have timezone info" in message
    assert "reply_to: String should match pattern" in message
    assert {e.field for e in caught.value.errors} == {"customer_id", "requested_at", "reply_to"}


def test_model_level_errors_are_reported_for_the_event() -> None:
    data = {
        "request_id": "r-1",
        "customer_id": "C-1",
        "status": "ok",
        "latency_ms": 1.0,
        "replica_id": "p-1",
        "predicted_at": TIME.isoformat(),
    }
    headers = _headers(ce_type=PredictionMade.event_type)
    with pytest.raises(InvalidPayloadError, match=r"\(event\): status 'ok' requires score"):
        decode(json.dumps(data).encode(), headers)


def test_missing_field_is_named() -> None:
    data = json.loads(_value())
    del data["requested_at"]
    with pytest.raises(InvalidPayloadError, match="requested_at: Field required"):
        decode(json.dumps(data).encode(), _headers())


def test_type_not_allowed_on_topic_or_consumer() -> None:
    with pytest.raises(EventTypeNotAllowedError, match=r"not accepted by topic 'model\.decisions'"):
        decode(_value(), _headers(), topic="model.decisions")
    with pytest.raises(EventTypeNotAllowedError, match="not accepted by this consumer"):
        decode(_value(), _headers(), expected_types=ModelPromoted)
    envelope = decode(_value(), _headers(), expected_types=[PredictionRequested, ModelPromoted])
    assert envelope.data == _request()


def test_key_must_be_the_entity() -> None:
    with pytest.raises(KeyMismatchError, match="record key 'C-2' does not match customer_id 'C-1'"):
        decode(_value(), _headers(), key=b"C-2")
    assert decode(_value(), _headers(), key=b"").data == _request()  # unkeyed is fine


def test_structured_mode_and_other_content_types_are_refused() -> None:
    with pytest.raises(InvalidAttributeError, match="structured content mode"):
        decode(_value(), _headers(content__type="application/cloudevents+json"))
    with pytest.raises(InvalidAttributeError, match="unsupported content-type 'text/plain'"):
        decode(_value(), _headers(content__type="text/plain"))


def test_bad_time_header() -> None:
    with pytest.raises(InvalidAttributeError, match="'ce_time' is not an RFC 3339 timestamp"):
        decode(_value(), _headers(ce_time="yesterday"))
    with pytest.raises(InvalidAttributeError, match="'ce_time' '2025-13-01T00:00:00Z' is not a"):
        decode(_value(), _headers(ce_time="2025-13-01T00:00:00Z"))


def test_non_utf8_and_duplicate_headers() -> None:
    headers = [*_headers(ce_source=None), ("ce_source", b"\xff\xfe")]
    with pytest.raises(InvalidAttributeError, match="'ce_source' is not valid UTF-8"):
        decode(_value(), headers)
    with pytest.raises(InvalidAttributeError, match="'ce_id' appears more than once"):
        decode(_value(), [*_headers(), ("ce_id", b"other")])


def test_contract_errors_are_value_errors_with_a_code() -> None:
    with pytest.raises(ValueError, match="missing header") as caught:
        decode(_value(), _headers(ce_type=None))
    assert isinstance(caught.value, ContractError)
    assert caught.value.code == "missing_attribute"


# --------------------------------------------------------------------------------------------
# Garbage in: ContractError out, never anything else
# --------------------------------------------------------------------------------------------


def _garbage_bytes(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))


def _mutated_json(rng: random.Random, samples: list[Any]) -> bytes:
    data: Any = dict(rng.choice(samples).raw_value)
    oddities: list[Any] = [None, True, -1, 1e308, "", "x" * 300, [], {}, [1, "a"], {"k": None}]
    for _ in range(rng.randrange(1, 4)):
        if isinstance(data, dict) and data and rng.random() < 0.7:
            data[rng.choice(list(data))] = copy.deepcopy(rng.choice(oddities))
        else:
            data = copy.deepcopy(rng.choice(oddities)) if rng.random() < 0.2 else data
    text = json.dumps(data).encode()
    if rng.random() < 0.3 and text:
        cut = rng.randrange(len(text))
        text = text[:cut] + _garbage_bytes(rng)[:3] + text[cut + 1 :]
    return text


def _garbage_headers(rng: random.Random, samples: list[Any]) -> Any:
    headers = list(rng.choice(samples).headers)
    for _ in range(rng.randrange(0, 4)):
        action = rng.randrange(6)
        if action == 0 and headers:
            headers.pop(rng.randrange(len(headers)))
        elif action == 1:
            headers.append((rng.choice([h for h, _ in headers] or ["ce_x"]), b"dup"))
        elif action == 2:
            headers.append(("ce_" + rng.choice(["type", "time", "id"]), _garbage_bytes(rng)))
        elif action == 3:
            headers.append((rng.choice(["content-type", "ce_specversion"]), b"\x00\xff"))
        elif action == 4:
            headers.append(("ce_time", rng.choice([b"", b"2025-02-30T00:00:00Z", b"T"])))
        else:
            headers.append(("ce_type", rng.choice(list(EVENT_TYPES)).encode()))
    if rng.random() < 0.1:
        return rng.choice([[("ce_id",)], [(1, b"x")], [("ce_id", 5)], 7, [b"junk"]])
    return headers if rng.random() < 0.5 else dict(headers)


def test_garbage_never_raises_anything_but_contract_error(samples: list[Any]) -> None:
    rng = random.Random(20250314)
    outcomes = {"decoded": 0, "refused": 0}
    messages: list[str] = []
    for _ in range(3000):
        value = _garbage_bytes(rng) if rng.random() < 0.3 else _mutated_json(rng, samples)
        headers = _garbage_headers(rng, samples)
        key = rng.choice([None, b"", _garbage_bytes(rng), b"C-000042"])
        try:
            decode(value, headers, key=key)
        except ContractError as exc:
            messages.append(str(exc))
            outcomes["refused"] += 1
        else:
            outcomes["decoded"] += 1
    assert outcomes["refused"] > 1000
    assert all(messages), "every ContractError has a message"


def test_header_names_and_values_of_every_client_shape_decode_alike() -> None:
    """Kafka clients hand headers over as bytes; other callers as str, bytearray,
    memoryview, or with bytes names: every shape reads the same attributes."""
    expected = decode(_value(), _headers())
    shapes: list[Callable[[bytes], Any]] = [bytes, bytearray, memoryview, bytes.decode]
    for shape in shapes:
        headers = [(name, shape(value)) for name, value in _headers()]
        assert decode(_value(), headers) == expected
    assert decode(_value(), [(name.encode(), value) for name, value in _headers()]) == expected
    assert decode(_value(), dict(_headers())) == expected


def test_fractions_beyond_microseconds_are_truncated_not_rounded() -> None:
    time = decode(_value(), _headers(ce_time="2025-03-14T09:26:53.1234569+01:00")).time
    assert time == datetime(2025, 3, 14, 8, 26, 53, 123456, tzinfo=UTC)
    time = decode(_value(), _headers(ce_time="2025-03-14T09:26:53.5Z")).time
    assert time == datetime(2025, 3, 14, 9, 26, 53, 500000, tzinfo=UTC)


def test_a_consumer_may_name_its_expected_types_in_any_iterable() -> None:
    for expected in (PredictionRequested, (PredictionRequested,), [PredictionRequested]):
        assert decode(_value(), _headers(), expected_types=expected).data == _request()
    with pytest.raises(EventTypeNotAllowedError, match="not accepted by this consumer"):
        decode(_value(), _headers(), expected_types=iter([PredictionMade]))
