"""The HTTP sender against a fake ingest on ``httpx.MockTransport``: batching, retries that
resend the same record ids, and what 401 / 413 / 422 / connection errors turn into."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from simulator import (
    HttpIngestSink,
    IngestAuthError,
    IngestRefused,
    IngestUnreachable,
    ManualClock,
    Record,
    Simulation,
    SimulationConfig,
    StreamStats,
    stream_records,
)

END = datetime(2026, 3, 1, tzinfo=UTC)


def records(count: int, seed: int = 1) -> list[Record]:
    out: list[Record] = []
    simulation = Simulation(SimulationConfig(customers=100, seed=seed))
    for record in simulation.history(days=60, end=END):
        out.append(record)
        if len(out) == count:
            return out
    raise AssertionError("not enough records")


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def sink_for(fake: Any, token: str, **kwargs: Any) -> tuple[HttpIngestSink, Sleeps]:
    sleeps = Sleeps()
    sink = HttpIngestSink(
        "http://ingest.test", token, transport=fake.transport(), sleep=sleeps, **kwargs
    )
    return sink, sleeps


async def test_batches_go_out_with_the_token_and_all_land_once(
    fake_ingest: Any, token: str
) -> None:
    sink, _ = sink_for(fake_ingest, token)
    stats = StreamStats()
    batch = records(1200)
    await stream_records(iter(batch), sink, clock=ManualClock(), stats=stats, max_batch=500)
    await sink.aclose()
    assert [len(r) for r in fake_ingest.requests] == [500, 500, 200]
    assert len(fake_ingest.stored) == 1200
    assert (stats.sent, stats.accepted, stats.duplicates, stats.rejected) == (1200, 1200, 0, 0)


@pytest.mark.parametrize(
    "failure",
    [503, 502, 429, httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("reset")],
    ids=["503", "502", "429", "timeout", "disconnect"],
)
async def test_transient_errors_are_retried_with_the_same_record_ids(
    fake_ingest: Any, token: str, failure: Any
) -> None:
    sink, sleeps = sink_for(fake_ingest, token)
    batch = records(50)
    fake_ingest.script = [failure, failure]
    outcome = await sink.send(batch)
    assert (outcome.accepted, outcome.retries) == (50, 2)
    assert sleeps.calls[1] > sleeps.calls[0] > 0  # exponential backoff
    assert [r["record_id"] for r in fake_ingest.requests[0]] == [r["record_id"] for r in batch]


async def test_a_batch_whose_answer_was_lost_comes_back_as_duplicates(
    fake_ingest: Any, token: str
) -> None:
    sink, _ = sink_for(fake_ingest, token)
    batch = records(20)
    fake_ingest.script = [("lost", httpx.ReadTimeout("answer lost"))]
    outcome = await sink.send(batch)
    assert (outcome.accepted, outcome.duplicates, outcome.retries) == (0, 20, 1)
    first, second = fake_ingest.requests
    assert [r["record_id"] for r in first] == [r["record_id"] for r in second]
    assert len(fake_ingest.stored) == 20


async def test_connection_refused_before_any_answer_says_start_the_mesh(
    fake_ingest: Any, token: str
) -> None:
    sink, sleeps = sink_for(fake_ingest, token)
    fake_ingest.script = [httpx.ConnectError("[Errno 111] Connection refused")]
    with pytest.raises(IngestUnreachable, match=r"connection refused.*`make up`"):
        await sink.send(records(5))
    assert sleeps.calls == []  # no point waiting for a mesh that is not there


async def test_connection_errors_after_a_success_are_retried_then_given_up(
    fake_ingest: Any, token: str
) -> None:
    sink, sleeps = sink_for(fake_ingest, token, max_retries=3)
    await sink.send(records(5))
    fake_ingest.script = [httpx.ConnectError("Connection refused")]
    assert (await sink.send(records(5, seed=2))).accepted == 5
    fake_ingest.script = [503] * 10
    with pytest.raises(IngestUnreachable, match="gave up on a batch of 5 records after 4 attempts"):
        await sink.send(records(5, seed=3))
    assert len(sleeps.calls) == 1 + 3


async def test_a_bad_token_is_reported_with_where_tokens_come_from(fake_ingest: Any) -> None:
    sink, _ = sink_for(fake_ingest, "wrong")
    with pytest.raises(IngestAuthError, match=r"401.*--token.*MLOPS_API_TOKEN.*api-token"):
        await sink.send(records(5))


async def test_too_large_batches_are_split_and_smaller_batches_used_from_then_on(
    fake_ingest: Any, token: str
) -> None:
    fake_ingest.max_batch = 120
    sink, _ = sink_for(fake_ingest, token)
    stats = StreamStats()
    batch = records(1000)
    await stream_records(iter(batch), sink, clock=ManualClock(), stats=stats, max_batch=500)
    assert sorted(fake_ingest.stored) == sorted(r["record_id"] for r in batch)
    assert stats.accepted == 1000
    assert sink.max_batch is not None
    assert sink.max_batch <= 120
    assert all(len(r) <= 120 for r in fake_ingest.requests)


async def test_bodies_over_one_mebibyte_are_split_before_sending(
    fake_ingest: Any, token: str
) -> None:
    sink, _ = sink_for(fake_ingest, token, max_body_bytes=20_000)
    outcome = await sink.send(records(300))
    assert outcome.accepted == 300
    body = [json.dumps({"records": r}, separators=(",", ":")) for r in fake_ingest.requests]
    assert len(body) > 1
    assert all(len(b) <= 20_000 for b in body)


async def test_a_rejection_in_a_split_batch_names_its_index_in_the_whole_batch(
    fake_ingest: Any, token: str
) -> None:
    batch = records(300)
    last = batch[-1]["record_id"]
    fake_ingest.reject = lambda r: "bad: the last one" if r["record_id"] == last else None
    sink, _ = sink_for(fake_ingest, token, max_body_bytes=20_000)
    outcome = await sink.send(batch)
    assert len(fake_ingest.requests) > 1  # it was split
    assert [(r.index, r.record_id) for r in outcome.rejections] == [(299, last)]


async def test_a_single_record_too_large_is_refused(fake_ingest: Any, token: str) -> None:
    fake_ingest.max_body = 10
    sink, _ = sink_for(fake_ingest, token)
    with pytest.raises(IngestRefused, match="single record as too large"):
        await sink.send(records(1))


async def test_partly_rejected_batches_count_and_keep_the_errors(
    fake_ingest: Any, token: str
) -> None:
    fake_ingest.reject = lambda r: "sessions: too many" if r.get("sessions", 0) > 8 else None
    sink, _ = sink_for(fake_ingest, token)
    stats = StreamStats()
    batch = records(400)
    await stream_records(iter(batch), sink, clock=ManualClock(), stats=stats, max_batch=100)
    expected_rejects = sum(1 for r in batch if r["kind"] == "activity" and r["sessions"] > 8)
    assert expected_rejects > 0
    assert stats.rejected == expected_rejects
    assert stats.accepted == 400 - expected_rejects
    assert str(stats.rejections[0]).endswith("sessions: too many")
    assert stats.rejections[0].record_id.startswith("sim-")
    assert len(stats.rejections) == 5


async def test_a_first_batch_rejected_entirely_stops_with_the_first_errors(
    fake_ingest: Any, token: str
) -> None:
    fake_ingest.reject = lambda r: "observed_at: in the future"
    sink, _ = sink_for(fake_ingest, token)
    with pytest.raises(IngestRefused, match=r"disagree on the record contract.*in the future"):
        await stream_records(
            iter(records(300)), sink, clock=ManualClock(), stats=StreamStats(), max_batch=100
        )
    assert len(fake_ingest.requests) == 1


async def test_a_framework_style_422_counts_the_batch_as_rejected(token: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": [{"loc": ["body", "records"], "msg": "bad"}]})

    sink = HttpIngestSink("http://ingest.test", token, transport=httpx.MockTransport(handler))
    outcome = await sink.send(records(3))
    assert (outcome.accepted, outcome.rejected) == (0, 3)
    assert "bad" in outcome.rejections[0].errors[0]


async def test_a_wrong_url_is_refused_with_a_hint(token: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Not Found"})

    sink = HttpIngestSink("http://gateway.test", token, transport=httpx.MockTransport(handler))
    with pytest.raises(IngestRefused, match=r"404 Not Found.*Is http://gateway.test ingest\?"):
        await sink.send(records(3))
