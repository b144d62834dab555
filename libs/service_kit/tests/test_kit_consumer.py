"""Unit tests of the consumption decision (decode, dedupe, handle, dead-letter, retry)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_contracts import (
    DEAD_LETTER_HEADERS,
    ContractError,
    Envelope,
    LabelObserved,
    TopicSpec,
    decode,
    encode,
)
from service_kit import (
    EventConsumer,
    InMemoryProcessedEvents,
    Outcome,
    RetryPolicy,
    one_at_a_time,
)
from service_kit.consumption import UnprocessableEvent
from service_kit.dead_letters import dead_letter_headers

TOPIC = TopicSpec(
    name="test.labels",
    partitions=1,
    key_field="customer_id",
    event_types=(LabelObserved,),
    retention="compact",
    description="test topic",
)


@dataclass
class Record:
    value: bytes | None
    headers: list[tuple[str, bytes]]
    key: bytes | None = b"c-1"
    topic: str = TOPIC.name
    partition: int = 0
    offset: int = 7


@dataclass
class FakeDeadLetters:
    parked: list[tuple[Any, BaseException]] = field(default_factory=list)

    async def park(self, record: Any, error: BaseException, consumer_group: str) -> str:
        self.parked.append((record, error))
        return f"{record.topic}.dlq"


def label_record(customer_id: str = "c-1", event_id: str | None = None) -> Record:
    event = LabelObserved(
        record_id="r-1", customer_id=customer_id, churned=True, observed_at=datetime.now(UTC)
    )
    wire = encode(event, source="urn:test", event_id=event_id)
    return Record(value=wire.value, headers=list(wire.headers), key=wire.key)


def make_consumer(
    handler: Any, *, batch: bool = False, **overrides: Any
) -> tuple[EventConsumer, FakeDeadLetters]:
    """A consumer with fakes; ``handler`` takes one event, or a batch when ``batch``."""
    dead = FakeDeadLetters()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    options: dict[str, Any] = {
        "topic": TOPIC,
        "group_id": "test",
        "handler": handler if batch else one_at_a_time(handler),
        "dead_letters": dead,
        "processed": InMemoryProcessedEvents(),
        "retry": RetryPolicy(attempts=3, first_delay_s=0.1),
        "sleep": sleep,
    }
    options.update(overrides)
    return EventConsumer(**options), dead


async def test_good_record_is_handled_with_its_envelope() -> None:
    seen: list[Envelope[Any]] = []

    async def handler(envelope: Envelope[Any]) -> None:
        seen.append(envelope)

    consumer, dead = make_consumer(handler)
    assert await consumer.process(label_record("c-42")) is Outcome.HANDLED
    assert [e.data.customer_id for e in seen] == ["c-42"]
    assert dead.parked == []


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (b"\x00\xffnot json", None, "JSON"),
        (b"{}", [], "ce_specversion"),
        (None, None, None),
    ],
)
async def test_poison_record_is_dead_lettered_not_handled(
    value: bytes | None, headers: list[tuple[str, bytes]] | None, reason: str | None
) -> None:
    calls = 0

    async def handler(envelope: Envelope[Any]) -> None:
        nonlocal calls
        calls += 1

    good = label_record()
    poison = Record(value=value, headers=good.headers if headers is None else headers)
    consumer, dead = make_consumer(handler)
    assert await consumer.process(poison) is Outcome.DEAD_LETTERED
    assert calls == 0
    assert len(dead.parked) == 1
    if reason:
        assert reason in str(dead.parked[0][1])


async def test_replayed_event_is_handled_once() -> None:
    calls = 0

    async def handler(envelope: Envelope[Any]) -> None:
        nonlocal calls
        calls += 1

    consumer, _ = make_consumer(handler)
    record = label_record(event_id="evt-1")
    assert await consumer.process(record) is Outcome.HANDLED
    assert await consumer.process(record) is Outcome.DUPLICATE
    assert calls == 1


async def test_transient_failure_is_retried_then_handled() -> None:
    attempts = 0

    async def flaky(envelope: Envelope[Any]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("database restarting")

    consumer, dead = make_consumer(flaky)
    assert await consumer.process(label_record()) is Outcome.HANDLED
    assert attempts == 3
    assert dead.parked == []


async def test_persistent_transient_failure_leaves_record_for_redelivery() -> None:
    async def down(envelope: Envelope[Any]) -> None:
        raise ConnectionError("still down")

    processed = InMemoryProcessedEvents()
    consumer, dead = make_consumer(down, processed=processed)
    record = label_record(event_id="evt-2")
    assert await consumer.process(record) is Outcome.RETRY_LATER
    assert dead.parked == []
    # Not marked processed: the redelivered record is handled once the dependency is back.
    assert not await processed.seen("test:test.labels", "evt-2")


async def test_unprocessable_event_goes_to_dead_letters_without_retry() -> None:
    attempts = 0

    async def refuses(envelope: Envelope[Any]) -> None:
        nonlocal attempts
        attempts += 1
        raise UnprocessableEvent("customer c-1 is unknown to this model")

    consumer, dead = make_consumer(refuses)
    assert await consumer.process(label_record()) is Outcome.DEAD_LETTERED
    assert attempts == 1
    assert "unknown to this model" in str(dead.parked[0][1])


def test_dead_letter_headers_carry_reason_and_origin() -> None:
    record = label_record()
    headers = dead_letter_headers(record, ValueError("bad plan 'x'"), "ingest")
    assert headers["dlq_error_type"] == b"ValueError"
    assert headers["dlq_error_message"] == b"bad plan 'x'"
    assert headers["dlq_original_topic"] == TOPIC.name.encode()
    assert headers["dlq_original_partition"] == b"0"
    assert headers["dlq_original_offset"] == b"7"
    assert headers["dlq_consumer_group"] == b"ingest"
    assert headers["ce_type"] == LabelObserved.event_type.encode()  # original headers kept
    assert {name for name in headers if name.startswith("dlq_")} == set(DEAD_LETTER_HEADERS)


def test_contract_errors_are_dead_lettered_with_their_code() -> None:
    poison = Record(value=b"{", headers=label_record().headers)
    with pytest.raises(ContractError) as caught:
        decode(poison.value or b"", poison.headers)
    headers = dead_letter_headers(poison, caught.value, "ingest")
    assert headers["dlq_error_type"] == caught.value.code.encode()


def test_retry_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(attempts=10, first_delay_s=0.5, max_delay_s=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_unreachable_dedupe_store_is_transient_not_a_drop() -> None:
    class FlakyStore(InMemoryProcessedEvents):
        calls = 0

        async def seen_many(self, consumer: str, event_ids: Collection[str]) -> set[str]:
            FlakyStore.calls += 1
            if FlakyStore.calls == 1:
                raise ConnectionError("database restarting")
            return await super().seen_many(consumer, event_ids)

    handled: list[str] = []

    async def handler(envelope: Envelope[Any]) -> None:
        handled.append(envelope.id)

    consumer, dead = make_consumer(handler, processed=FlakyStore())
    assert await consumer.process(label_record(event_id="evt-3")) is Outcome.HANDLED
    assert handled == ["evt-3"]
    assert dead.parked == []


async def test_null_and_binary_headers_are_dead_lettered_with_their_bytes_kept() -> None:
    async def handler(envelope: Envelope[Any]) -> None:
        raise AssertionError("must not be handled")

    good = label_record()
    headers = [(n, v) for n, v in good.headers if n != "ce_source"]
    poison = Record(value=good.value, headers=[*headers, ("ce_source", b"\xff\xfe")])
    consumer, dead = make_consumer(handler)
    assert await consumer.process(poison) is Outcome.DEAD_LETTERED
    parked_headers = dead_letter_headers(poison, dead.parked[0][1], "g")
    assert parked_headers["ce_source"] == b"\xff\xfe"  # the original bytes, unchanged
    assert (
        dead_letter_headers(Record(value=b"", headers=[("x", None)]), ValueError(), "g")["x"] == b""
    )  # type: ignore[list-item]


async def test_raw_json_topic_gets_the_same_guarantees() -> None:
    from service_kit import decode_raw_json

    seen: list[Any] = []

    async def handler(envelope: Envelope[Any]) -> None:
        if envelope.data.get("bad"):
            raise UnprocessableEvent("field 'bad' is not allowed")
        seen.append(envelope.data)

    consumer, dead = make_consumer(handler, decoder=decode_raw_json)
    good = Record(value=b'{"customer_id": "c-1"}', headers=[], offset=3)
    assert await consumer.process(good) is Outcome.HANDLED
    assert await consumer.process(good) is Outcome.DUPLICATE  # same offset redelivered
    assert await consumer.process(Record(value=b"{oops", headers=[], offset=4)) is (
        Outcome.DEAD_LETTERED
    )
    assert "not usable JSON" in str(dead.parked[-1][1])
    assert await consumer.process(Record(value=b'{"bad": 1}', headers=[], offset=5)) is (
        Outcome.DEAD_LETTERED
    )
    assert "'bad' is not allowed" in str(dead.parked[-1][1])
    assert seen == [{"customer_id": "c-1"}]


async def test_batch_is_handled_at_once_and_a_guilty_event_is_isolated() -> None:
    calls: list[list[str]] = []

    async def handler(envelopes: Sequence[Envelope[Any]]) -> None:
        calls.append([e.data.customer_id for e in envelopes])
        if any(e.data.customer_id == "bad" for e in envelopes):
            raise UnprocessableEvent("customer 'bad' is blocked")

    consumer, dead = make_consumer(handler, batch=True)
    records = [
        label_record("a", "e-a"),
        Record(value=b"garbage", headers=[]),
        label_record("bad", "e-bad"),
        label_record("a", "e-a"),  # the same event again inside the batch
        label_record("c", "e-c"),
    ]
    outcomes = await consumer.process_batch(records)
    assert outcomes == [
        Outcome.HANDLED,
        Outcome.DEAD_LETTERED,
        Outcome.DEAD_LETTERED,
        Outcome.DUPLICATE,
        Outcome.HANDLED,
    ]
    assert calls == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]  # batch, then one by one
    assert [str(error) for _, error in dead.parked][1] == "customer 'bad' is blocked"
    # Redelivered whole: everything already handled is recognised, nothing runs twice.
    again = await consumer.process_batch([records[0], records[4]])
    assert again == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert len(calls) == 4


async def test_batch_with_a_transient_failure_is_retried_then_redelivered_whole() -> None:
    async def down(envelopes: Sequence[Envelope[Any]]) -> None:
        raise ConnectionError("store unreachable")

    consumer, dead = make_consumer(
        down, batch=True, retry=RetryPolicy(attempts=2, first_delay_s=0.0)
    )
    outcomes = await consumer.process_batch(
        [label_record("a", "e-1"), Record(value=b"x", headers=[])]
    )
    assert outcomes == [Outcome.RETRY_LATER, Outcome.DEAD_LETTERED]
    assert len(dead.parked) == 1  # the poison record, once


async def test_batch_handler_can_refuse_single_events_without_a_rerun() -> None:
    from service_kit import UnprocessableEvents

    calls = 0

    async def handler(envelopes: Sequence[Envelope[Any]]) -> None:
        nonlocal calls
        calls += 1
        raise UnprocessableEvents({1: ValueError("record 'b' is too late")})

    consumer, dead = make_consumer(handler, batch=True)
    records = [label_record("a", "e-a"), label_record("b", "e-b"), label_record("c", "e-c")]
    outcomes = await consumer.process_batch(records)
    assert outcomes == [Outcome.HANDLED, Outcome.DEAD_LETTERED, Outcome.HANDLED]
    assert calls == 1
    assert [str(error) for _, error in dead.parked] == ["record 'b' is too late"]
    assert await consumer.process_batch([records[0]]) == [Outcome.DUPLICATE]


async def test_one_at_a_time_in_a_batch_runs_each_event_once() -> None:
    calls: list[str] = []

    async def handler(envelope: Envelope[Any]) -> None:
        calls.append(envelope.data.customer_id)
        if envelope.data.customer_id == "bad":
            raise UnprocessableEvent("customer 'bad' is blocked")

    consumer, dead = make_consumer(one_at_a_time(handler), batch=True)
    outcomes = await consumer.process_batch(
        [label_record("a", "e-a"), label_record("bad", "e-bad"), label_record("c", "e-c")]
    )
    assert outcomes == [Outcome.HANDLED, Outcome.DEAD_LETTERED, Outcome.HANDLED]
    assert calls == ["a", "bad", "c"]
    assert [str(error) for _, error in dead.parked] == ["customer 'bad' is blocked"]
