"""Component test: the feature service on the in-memory Kafka, real SQLite state and the
real dev feature store (SQLite online, parquet offline) in a temporary folder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pandas as pd
from fastapi import FastAPI
from feature.main import create_app
from feature.service import FeatureService
from feature.settings import FeatureSettings
from prometheus_client.parser import text_string_to_metric_families

from churn_features import FEATURE_NAMES, FEATURE_VIEW_VERSION, ActivityRecord, CustomerHistory
from mlops_contracts import (
    CustomerActivityRecorded,
    FeaturesMaterialized,
    dead_letter_topic,
    topic_for,
)
from service_kit.in_memory import InMemoryKafka
from service_kit.testing import TopicTap, eventually

ACTIVITY = topic_for(CustomerActivityRecorded).name
T0 = pd.Timestamp("2026-03-01", tz="UTC")


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://feature") as client:
            yield client


def expected_row(*events: CustomerActivityRecorded) -> dict[str, Any]:
    history = CustomerHistory(events[0].customer_id, map(ActivityRecord.from_event, events))
    row = history.latest_row()
    assert row is not None
    return dict(row.values)


async def test_activity_events_become_online_features_and_a_summary(
    settings_for: Callable[..., FeatureSettings],
    activity: Callable[..., CustomerActivityRecorded],
) -> None:
    memory = InMemoryKafka()
    app = create_app(settings_for(lookup_max_ids=3), memory)
    runtime = app.state.runtime
    tap = TopicTap([], memory=memory)

    first = activity("r1", "c1", 0, support_tickets=2, plan="basic")
    third = activity("r3", "c1", 20, support_tickets=1, plan="premium")
    late = activity("r2", "c1", 10, support_tickets=5, usage_minutes=30.5)  # out of order
    other = activity("r9", "c2", 3, monthly_charges=99.0)

    async with running(app) as client:
        publish = runtime.publisher.publish
        await publish(first, event_id="e1")
        await publish(third, event_id="e3")
        await publish(other, event_id="e9")
        await publish(third, event_id="e3")  # redelivered event: a known record id
        await publish(first, event_id="e1-resent")  # re-sent record: skipped by record id
        await publish(late, event_id="e2")
        await publish(activity("r0", "c1", -30), event_id="e0")  # too late: dead letter

        want = expected_row(first, late, third)

        async def c1_is_current() -> bool:
            response = await client.get("/v1/features/c1")
            return response.status_code == 200 and response.json()["features"] == want

        await eventually(c1_is_current)
        one = (await client.get("/v1/features/c1")).json()
        unknown = await client.get("/v1/features/nobody")
        batch = await client.post("/v1/features/lookup", json={"customer_ids": ["c2", "nobody"]})
        too_many = await client.post("/v1/features/lookup", json={"customer_ids": list("abcd")})
        ready = await client.get("/ready")
        metrics = (await client.get("/metrics")).text
        features: FeatureService = app.state.components
        store = features.store.store
        labels = pd.DataFrame(
            {
                "customer_id": ["c1", "c1", "c1"],
                "event_timestamp": [T0 + pd.Timedelta(days=d) for d in (5, 15, 25)],
                "churned": [False, False, True],
            }
        )
        training = await asyncio.to_thread(store.historical, labels)

    assert one["customer_id"] == "c1"
    assert one["feature_view_version"] == FEATURE_VIEW_VERSION
    assert pd.Timestamp(one["as_of"]) == T0 + pd.Timedelta(days=20)
    assert want["support_tickets_30d"] == 8  # r1, r2 (late) and r3 in (day -10, day 20]

    assert unknown.status_code == 404
    assert "nobody" in unknown.json()["detail"]
    assert batch.status_code == 200
    assert batch.json()["unknown"] == ["nobody"]
    assert batch.json()["features"]["c2"]["monthly_charges"] == 99.0
    assert too_many.status_code == 413
    assert "at most 3" in too_many.json()["detail"]
    assert ready.json()["checks"]["feature_store"]["ok"] is True, ready.text

    # The offline rows were corrected by the late record: day 15 sees r1 + r2.
    assert training["support_tickets_30d"].tolist() == [2.0, 7.0, 8.0]
    assert training["plan"].tolist() == ["basic", "standard", "premium"]  # r1, r2, r3
    assert set(FEATURE_NAMES) <= set(training.columns)

    summaries: list[FeaturesMaterialized] = tap.events(topic_for(FeaturesMaterialized).name)
    dead = [tap.headers(record) for record in tap.records(dead_letter_topic(ACTIVITY))]
    assert summaries, "no FeaturesMaterialized published"
    assert {summary.feature_view_version for summary in summaries} == {FEATURE_VIEW_VERSION}
    assert max(summary.event_time_end for summary in summaries) == T0 + timedelta(days=20)
    assert sum(summary.rows_written for summary in summaries) >= 4

    assert len(dead) == 1
    assert dead[0]["dlq_error_type"] == "record_too_late"
    assert "too late" in dead[0]["dlq_error_message"]
    # The redelivered event and the re-sent record are both recognised: by event id when
    # they share a batch (the consumer's count), by record id otherwise (the service's).
    samples = {
        (family.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
    }
    assert samples[("feature_activity_records", (("outcome", "accepted"),))] == 4
    assert samples[("feature_activity_records", (("outcome", "too_late"),))] == 1
    by_record_id = samples[("feature_activity_records", (("outcome", "duplicate"),))]
    by_event_id = samples.get(
        (
            "mlops_consumed_records",
            (("group", "feature"), ("outcome", "duplicate"), ("topic", ACTIVITY)),
        ),
        0,
    )
    assert by_record_id + by_event_id == 2


async def test_records_admitted_before_a_stop_are_written_after_the_restart(
    settings_for: Callable[..., FeatureSettings],
    activity: Callable[..., CustomerActivityRecorded],
) -> None:
    # The first run never gets to write (a long linger): its records stay pending.
    memory = InMemoryKafka()
    slow = create_app(settings_for(flush_interval_s=30), memory)
    async with running(slow):
        await slow.state.runtime.publisher.publish(activity("r1", "c7", 0, sessions=9))
        await memory.settled()  # admitted (and committed), not yet written
    restarted = create_app(settings_for(), memory)
    async with running(restarted) as client:

        async def written() -> bool:
            return (await client.get("/v1/features/c7")).status_code == 200

        await eventually(written)
        assert (await client.get("/v1/features/c7")).json()["features"]["sessions_30d"] == 9
