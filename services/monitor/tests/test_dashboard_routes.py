"""The dashboard's HTTP face (page, JSON state, live SSE stream) and its Kafka consumer on the
in-memory broker."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from monitor.dashboard.feed import DashboardFeed
from monitor.dashboard.mount import create_dashboard_feed, dashboard_group_id, mount_routes
from monitor.dashboard.projection import DashboardProjection
from monitor.dashboard.routes import live_stream
from monitor.dashboard.samples import loop_episode
from monitor.dashboard.settings import DashboardSettings
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from mlops_contracts import Envelope, Event, TrainingReason, TrainingSuppressed, WireRecord
from service_kit import ServiceSettings
from service_kit.in_memory import InMemoryKafka
from service_kit.testing import TopicTap, eventually

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


class DashboardOnlySettings(ServiceSettings, DashboardSettings):
    """The monitor's settings as far as the dashboard is concerned."""

    model_config = SettingsConfigDict(env_prefix="DASHBOARD_TEST_", extra="forbid", frozen=True)
    service_name: str = "monitor"


def envelope(event_id: str, event: Event) -> Envelope[Any]:
    return Envelope(
        id=event_id,
        source="urn:test",
        type=event.event_type,
        time=None,
        subject=None,
        correlation_id=None,
        data=event,
    )


def new_feed(history: int = 500, max_clients: int = 50, pending_limit: int = 5000) -> DashboardFeed:
    projection = DashboardProjection(
        history=history, traffic_bucket_s=2.0, mlflow_url="http://127.0.0.1:8720"
    )
    return DashboardFeed(projection, max_clients=max_clients, pending_limit=pending_limit)


def routes_app(feed: DashboardFeed, heartbeat_s: float = 15.0) -> FastAPI:
    app = FastAPI()
    mount_routes(app, feed, DashboardSettings(dashboard_heartbeat_s=heartbeat_s))
    return app


@pytest.fixture
async def client() -> AsyncIterator[tuple[httpx.AsyncClient, DashboardFeed]]:
    feed = new_feed()
    transport = httpx.ASGITransport(app=routes_app(feed))
    async with httpx.AsyncClient(transport=transport, base_url="http://monitor") as http:
        yield http, feed


async def test_the_page_loads_only_its_own_assets_under_a_strict_policy(
    client: tuple[httpx.AsyncClient, DashboardFeed],
) -> None:
    http, _ = client
    page = await http.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    # Every asset is served from this origin; nothing points to the internet.
    assert "http://" not in page.text
    assert "https://" not in page.text
    assert "<script>" not in page.text  # no inline script (the policy would block it)

    script = await http.get("/dashboard/static/dashboard.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "innerHTML" not in script.text  # event text only ever goes in as textContent
    style = await http.get("/dashboard/static/dashboard.css")
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert (await http.get("/dashboard/static/../settings.py")).status_code == 404


async def test_state_is_the_projection_as_json_with_event_text_as_data(
    client: tuple[httpx.AsyncClient, DashboardFeed],
) -> None:
    http, feed = client
    empty = (await http.get("/dashboard/state")).json()
    assert empty["timeline"] == []
    assert empty["config"]["mlflow_url"] == "http://127.0.0.1:8720"

    for event_id, event in loop_episode(START):
        feed.apply(envelope(event_id, event))
    hostile = "<script>alert('x')</script>"
    feed.apply(
        envelope(
            "hostile",
            TrainingSuppressed(
                decision_id="d",
                model_name="churn",
                signal=TrainingReason.MANUAL,
                reason="cooldown",
                detail=hostile,
                decided_at=START + timedelta(hours=1),
            ),
        )
    )
    response = await http.get("/dashboard/state")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    state = response.json()
    assert state["champions"][0]["model_version"] == 2
    assert state["timeline"][-1]["detail"] == hostile


async def test_page_settings_refuse_credentials_and_odd_schemes() -> None:
    assert DashboardSettings(
        dashboard_mlflow_url="https://mlflow.example/"
    ).dashboard_mlflow_url == ("https://mlflow.example")
    for url in ("http://user:secret@mlflow:5000", "javascript:alert(1)", "ftp://mlflow"):
        with pytest.raises(ValidationError):
            DashboardSettings(dashboard_mlflow_url=url)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, DashboardFeed]]:
    """The routes behind a real uvicorn server (a streamed response needs a real socket)."""
    feed = new_feed(max_clients=2)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(routes_app(feed, heartbeat_s=0.3), port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    yield f"http://127.0.0.1:{port}", feed
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def read_events(lines: AsyncIterator[str], count: int) -> list[tuple[str, Any]]:
    """The next ``count`` SSE messages (events and heartbeat comments) of a stream."""
    messages: list[tuple[str, Any]] = []
    event = None
    while len(messages) < count:
        line = await asyncio.wait_for(anext(lines), 5)
        if line.startswith(": "):
            messages.append(("heartbeat", None))
        elif line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            messages.append((str(event), json.loads(line.removeprefix("data: "))))
    return messages


async def test_the_stream_sends_a_snapshot_then_changes_and_heartbeats_and_frees_its_slot(
    served: tuple[str, DashboardFeed],
) -> None:
    base, feed = served
    events = loop_episode(START)
    feed.apply(envelope(*events[0]))
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", f"{base}/dashboard/events") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"].startswith("no-cache")
        lines = response.aiter_lines()
        ((kind, snapshot),) = await read_events(lines, 1)
        assert kind == "snapshot"
        assert [e["kind"] for e in snapshot["timeline"]] == ["model_promoted"]
        assert feed.client_count == 1

        feed.apply(envelope(*events[1]))
        feed.record_predictions(
            at=START, count=20, errors=1, latencies_ms=[3.0, 4.0], model_version="1"
        )
        received: list[dict[str, Any]] = []
        while len(received) < 3:
            kind, data = (await read_events(lines, 1))[0]
            if kind == "changes":
                received += data
        assert {(c["kind"], c["key"]) for c in received} == {
            ("timeline", events[1][0]),
            ("replica", "predictor-1"),
            ("traffic", f"{START.timestamp():.3f}"),
        }
        assert (await read_events(lines, 1))[0][0] == "heartbeat"  # idle: 0.3 s
    # The client went away: the next heartbeat notices and the slot is free again.
    await eventually(lambda: feed.client_count == 0, within_s=5)


async def test_streams_beyond_the_limit_get_503(served: tuple[str, DashboardFeed]) -> None:
    base, feed = served
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", f"{base}/dashboard/events") as first,
        http.stream("GET", f"{base}/dashboard/events") as second,
    ):
        # Keep the line iterators: a collected one closes its response.
        first_lines, second_lines = first.aiter_lines(), second.aiter_lines()
        await read_events(first_lines, 1)
        await read_events(second_lines, 1)
        assert feed.client_count == 2
        refused = await asyncio.wait_for(http.get(f"{base}/dashboard/events"), 5)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "10"
    await eventually(lambda: feed.client_count == 0, within_s=5)


async def test_a_page_that_falls_behind_gets_a_fresh_snapshot_not_unbounded_changes() -> None:
    feed = new_feed(pending_limit=5)

    async def connected() -> bool:
        return False

    stream = live_stream(feed, heartbeat_s=5, is_disconnected=connected)
    assert (await anext(stream)).startswith(b"retry:")
    assert (await anext(stream)).startswith(b"event: snapshot\n")
    for second in range(20):  # 20 distinct items while the page reads nothing
        feed.record_predictions(
            at=START + timedelta(seconds=2 * second),
            count=1,
            errors=0,
            latencies_ms=[1.0],
            model_version="1",
        )
    again = await anext(stream)
    assert again.startswith(b"event: snapshot\n")
    snapshot = json.loads(again.split(b"data: ", 1)[1])
    assert len(snapshot["traffic"]) == 20
    feed.record_predictions(at=START, count=1, errors=0, latencies_ms=[], model_version="1")
    assert (await anext(stream)).startswith(b"event: changes\n")
    await stream.aclose()
    assert feed.client_count == 0


async def test_the_dashboard_projects_the_topics_it_consumes(
    tmp_path: Path, dashboard_app: Callable[..., FastAPI]
) -> None:
    settings = DashboardOnlySettings(
        kafka_bootstrap_servers="127.0.0.1:1",  # never dialled: the in-memory Kafka
        data_dir=tmp_path,
        instance_id="t",
    )
    kafka = InMemoryKafka()
    feed = create_dashboard_feed(settings)
    app = dashboard_app(settings, feed, kafka)
    assert app.state.dashboard is feed
    runtime = app.state.runtime

    async with app.router.lifespan_context(app):
        await kafka.send([WireRecord("training.progress", b"churn", b"{not an event", ())])
        for event_id, event in loop_episode(START):
            await runtime.publisher.publish(event, event_id=event_id)
        await runtime.publisher.publish(loop_episode(START)[0][1], event_id="sample-promoted-v1")
        await kafka.settled()
    assert len(feed.snapshot()["timeline"]) == 13
    [dead] = [TopicTap.headers(record) for record in kafka.records("training.progress.dlq")]
    assert dead["dlq_consumer_group"].startswith("monitor.dashboard.t.")
    snapshot = feed.snapshot()
    assert [e["kind"] for e in snapshot["timeline"]][-3:] == [
        "model_promoted",
        "replica_rolled",
        "replica_rolled",
    ]
    assert snapshot["champions"][0]["model_version"] == 2


def test_each_start_reads_history_in_a_group_of_its_own() -> None:
    settings = DashboardOnlySettings(instance_id="monitor-0")
    first, second = dashboard_group_id(settings), dashboard_group_id(settings)
    assert first != second
    assert first.startswith("monitor.dashboard.monitor-0.")


async def test_closing_the_feed_ends_every_stream_so_shutdown_need_not_wait() -> None:
    feed = new_feed()

    async def connected() -> bool:
        return False

    stream = live_stream(feed, heartbeat_s=30, is_disconnected=connected)
    await anext(stream)
    await anext(stream)  # the snapshot: subscribed
    assert feed.client_count == 1
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    feed.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 1)
    assert feed.client_count == 0
    assert feed.is_full  # no new stream once closing
