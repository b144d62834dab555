"""The dashboard in a real headless Chromium, fed by the real broker: the page loads without a
console error, follows a whole loop episode live up to the promotion and the replicas
rolling, never turns event text into markup, and leaves a screenshot in ``test-artifacts/``.

Needs Debian's ``chromium`` (``make browser``) and the ``playwright`` package, which drives
that binary (no browser is ever downloaded). Skipped without them on a developer machine;
FAILS under ``CI``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from monitor.dashboard.feed import DashboardFeed
from monitor.dashboard.mount import create_dashboard_feed
from monitor.dashboard.samples import loop_episode
from monitor.settings import MonitorSettings

from mlops_contracts import (
    Event,
    ModelRejected,
    PredictorModelRefused,
    RefusalReason,
    RejectionReason,
    SuppressionReason,
    TrainingReason,
    TrainingSuppressed,
    encode,
    topics_to_create,
)
from service_kit import ensure_topics
from service_kit.testing import eventually

pytestmark = [pytest.mark.connected, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("MLOPS_TEST_CHROMIUM", "/usr/bin/chromium")
INJECTED = '<img src=x onerror="window.__injected = 1">'


def _unavailable(problem: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{problem}; CI must run the browser test (make browser)", pytrace=False)
    pytest.skip(f"{problem}; run `make browser` to install it")


@pytest.fixture(scope="module")
def chromium() -> str:
    """The system's Chromium binary; fails under CI when it is missing."""
    path = shutil.which(CHROMIUM) or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if path is None:
        _unavailable(f"no Chromium at {CHROMIUM}")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed")
    return str(path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def monitor(
    kafka_bootstrap: str, tmp_path: Path, dashboard_app: Callable[..., FastAPI]
) -> AsyncIterator[tuple[str, DashboardFeed]]:
    """The monitor's service app with the dashboard mounted, under uvicorn on a free port,
    consuming from the real broker."""
    await ensure_topics(kafka_bootstrap, topics_to_create())
    port = free_port()
    settings = MonitorSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        data_dir=tmp_path,
        instance_id="browser-test",
        http_port=port,
        dashboard_traffic_bucket_s=2.0,
    )
    feed = create_dashboard_feed(settings)
    app = dashboard_app(settings, feed)
    runtime = app.state.runtime
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: (server.started and runtime.started) or task.done())
    assert not task.done(), "the monitor did not start"
    yield f"http://127.0.0.1:{port}", feed
    server.should_exit = True
    await asyncio.wait_for(task, 30)


async def publish(producer: AIOKafkaProducer, events: list[tuple[str, Event]]) -> None:
    for event_id, event in events:
        record = encode(event, source="urn:mlops:browser-test", event_id=event_id)
        await producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=list(record.headers)
        )


def traffic(feed: DashboardFeed, until: datetime, seconds: int) -> None:
    """The engine's in-process feed: a few minutes of plausible prediction traffic."""
    for step in range(seconds, 0, -1):
        at = until - timedelta(seconds=step)
        count = 180 + (step * 37) % 40
        feed.record_predictions(
            at=at,
            count=count,
            errors=1 if step % 23 == 0 else 0,
            latencies_ms=[4.0 + (i * 7919 % 100) / 12 for i in range(count)],
            model_version="1" if step > 30 else "2",
        )


async def live_traffic(feed: DashboardFeed) -> None:
    """Keep the traffic flowing while the page is watched, as the engine would."""
    step = 0
    while True:
        step += 1
        feed.record_predictions(
            at=datetime.now(UTC),
            count=95 + step % 10,
            errors=0,
            latencies_ms=[4.0 + (i * 7919 % 100) / 12 for i in range(95)],
            model_version="2",
        )
        await asyncio.sleep(0.5)


async def test_the_page_follows_a_loop_episode_live_to_the_promotion(
    chromium: str, monitor: tuple[str, DashboardFeed], kafka_bootstrap: str
) -> None:
    from playwright.async_api import async_playwright, expect

    base, feed = monitor
    now = datetime.now(UTC).replace(microsecond=0)
    run = f"{now:%H%M%S}"  # the session's broker keeps other tests' records: ids of our own
    replicas = ("predictor-1", "predictor-2", "predictor-3")
    episode = [
        (f"{run}-{event_id}", _retarget(event, run))
        for event_id, event in loop_episode(now - timedelta(minutes=13), replicas=replicas)
    ]
    promotion = next(i for i, (event_id, _) in enumerate(episode) if "promoted-v2" in event_id)
    training = next(i for i, (event_id, _) in enumerate(episode) if "requested-1" in event_id)
    hostile = (
        f"{run}-hostile",
        TrainingSuppressed(
            decision_id=f"{run}-hostile",
            model_name="churn",
            signal=TrainingReason.DRIFT,
            reason=SuppressionReason.COOLDOWN,
            detail=f"cooldown of 10 min since the last training {INJECTED}",
            decided_at=now - timedelta(minutes=1),
        ),
    )

    console_errors: list[str] = []
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium, headless=True, args=["--no-sandbox"]
            )
            page = await browser.new_page(viewport={"width": 1600, "height": 1300})
            page.on(
                "console",
                lambda message: (
                    console_errors.append(message.text) if message.type == "error" else None
                ),
            )
            page.on("pageerror", lambda error: console_errors.append(f"page error: {error}"))

            response = await page.goto(f"{base}/dashboard")
            assert response is not None
            assert response.ok
            await expect(page.locator("#connection")).to_have_text("live", timeout=15_000)

            # The history before the page opened, then the loop closing while it watches.
            traffic(feed, now, 150)
            feeding = asyncio.create_task(live_traffic(feed))
            await publish(producer, episode[:training])
            await expect(page.locator(".tl-item.kind-drift_detected").first).to_be_visible(
                timeout=30_000
            )
            for event in episode[training:promotion]:
                await publish(producer, [event])
                await asyncio.sleep(0.15)  # the progress bar moves epoch by epoch
            await expect(page.locator(".tl-item.kind-training_progress .progress")).to_be_visible()
            await publish(producer, [hostile, *episode[promotion:]])

            promoted = page.locator(".tl-item.kind-model_promoted", has_text="v2 is the champion")
            await expect(promoted).to_be_visible(timeout=30_000)
            await expect(promoted).to_contain_text("roc_auc 0.7612 vs champion 0.7084")
            rolled = page.locator(".tl-item.kind-replica_rolled", has_text="v1 → v2")
            await expect(rolled).to_have_count(3, timeout=30_000)
            await expect(page.locator("#champions")).to_contain_text("churnv2")
            await expect(page.locator("#stepper")).to_contain_text("promoted")
            mlflow = promoted.locator("a", has_text="MLflow run")
            assert (await mlflow.get_attribute("href")) == (
                "http://127.0.0.1:8720/#/runs/b2e66d4f9a0c4e61a3d57c0e8f1b2a3c"
            )
            assert await page.locator(".feature").count() >= 8
            assert await page.locator("#chart-rate svg path.line").count() == 2

            # Event text is shown as text: the injected markup is visible, never run.
            injected = page.locator(".tl-item.kind-training_suppressed", has_text=INJECTED)
            await expect(injected).to_be_visible()
            assert await page.evaluate("window.__injected") is None
            assert await page.locator("#timeline img").count() == 0

            await expect(page.locator("#windows tr")).to_have_count(8)
            await page.wait_for_timeout(2500)  # a few live traffic points, the last frame
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            feeding.cancel()

            # A page opened now shows the history at once; a rejection and a refused
            # replica show up live on it too.
            fresh = await browser.new_page(viewport={"width": 1400, "height": 1000})
            fresh.on(
                "console",
                lambda message: (
                    console_errors.append(message.text) if message.type == "error" else None
                ),
            )
            await fresh.goto(f"{base}/dashboard")
            await expect(
                fresh.locator(".tl-item.kind-model_promoted", has_text="v2 is the champion")
            ).to_be_visible(timeout=5_000)
            await publish(producer, setbacks(run, now))
            await expect(
                fresh.locator(".tl-item.kind-model_rejected", has_text="v3")
            ).to_contain_text("not better than champion", timeout=30_000)
            await expect(fresh.locator("#replicas")).to_contain_text("refused v3")
            await expect(fresh.locator("#champions")).to_contain_text("churnv2")
            await browser.close()
    finally:
        await producer.stop()

    assert console_errors == []


def setbacks(run: str, now: datetime) -> list[tuple[str, Event]]:
    """After the episode: a challenger the gate rejects, a replica refusing an artifact."""
    rejected = ModelRejected(
        model_name="churn",
        model_version=3,
        model_uri="models:/churn/3",
        sha256="c" * 64,
        gate_metric="roc_auc",
        challenger_metric=0.7581,
        champion_metric=0.7612,
        min_margin=0.005,
        holdout_rows=702,
        champion_version=2,
        reason=RejectionReason.NOT_BETTER_THAN_CHAMPION,
        detail="challenger 0.7581 < champion 0.7612 + margin 0.0050",
        rejected_at=now,
    )
    refused = PredictorModelRefused(
        replica_id="predictor-3",
        model_name="churn",
        model_version=3,
        reason=RefusalReason.SHA256_MISMATCH,
        detail="weights digest differs from the registry's",
        serving_version=2,
        refused_at=now + timedelta(seconds=1),
    )
    return [(f"{run}-rejected-v3", rejected), (f"{run}-refused-v3", refused)]


def _retarget(event: Event, run: str) -> Event:
    # Triggering ids point at this run's own (prefixed) drift windows.
    triggers = getattr(event, "triggering_event_ids", ())
    if not triggers:
        return event
    return event.model_copy(update={"triggering_event_ids": tuple(f"{run}-{t}" for t in triggers)})
