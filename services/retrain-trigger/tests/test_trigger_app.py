"""The retrain-trigger app through its public interfaces: its topics and its HTTP API, on the
in-memory Kafka (component) and, for the drift flow, unchanged on the real broker
(connected)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from retrain_trigger.main import create_app
from retrain_trigger.settings import RetrainTriggerSettings

from mlops_contracts import (
    DriftDetected,
    FeatureDrift,
    SuppressionReason,
    TrainingReason,
    TrainingRequested,
    TrainingSuppressed,
    WireRecord,
    topics_to_create,
)
from service_kit import ensure_topics
from service_kit.in_memory import InMemoryKafka
from service_kit.testing import TopicTap, apply_projects, eventually, project_applied

TOKEN = "test-token-0123456789"
MODES = ["memory", pytest.param("real", marks=pytest.mark.connected)]


@dataclass
class Mesh:
    """The running app, its HTTP client, and what it published."""

    app: FastAPI
    client: httpx.AsyncClient
    model: str
    tap: TopicTap

    @property
    def requested(self) -> list[tuple[TrainingRequested, str]]:
        envelopes = map(self.tap.envelope, self.tap.records("training.requested"))
        return [(e.data, e.id) for e in envelopes if e.data.model_name == self.model]

    @property
    def suppressed(self) -> list[TrainingSuppressed]:
        events = self.tap.events("training.suppressed")
        return [event for event in events if event.model_name == self.model]

    @property
    def dead(self) -> list[dict[str, str]]:
        return [
            {**self.tap.headers(record), "key": (record.key or b"").decode()}
            for record in self.tap.records("monitoring.drift.dlq")
        ]

    async def drift(self, number: int, *, drifted: bool = True) -> str:
        event = DriftDetected(
            window_id=f"w{number}",
            window_start=datetime.now(UTC) - timedelta(minutes=5),
            window_end=datetime.now(UTC),
            sample_count=400,
            model_name=self.model,
            model_version=1,
            features=(
                FeatureDrift(
                    feature="usage_minutes", score=0.001, method="ks", threshold=0.05, drifted=True
                ),
            ),
            drift_share=1.0 if drifted else 0.0,
            drift_share_threshold=0.5,
            dataset_drift=drifted,
            detected_at=datetime.now(UTC),
        )
        event_id = f"drift-{self.model}-{number}"
        await self.app.state.runtime.publisher.publish(event, event_id=event_id)
        return event_id


@pytest.fixture(params=MODES)
async def mesh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Mesh]:
    real = request.param == "real"
    bootstrap = request.getfixturevalue("kafka_bootstrap") if real else "127.0.0.1:1"
    suffix = uuid.uuid4().hex[:8]
    settings = RetrainTriggerSettings(
        # Its own consumer group on the session's broker, which keeps other tests' records.
        service_name=f"retrain-trigger-{suffix}",
        kafka_bootstrap_servers=bootstrap,
        data_dir=tmp_path,
        instance_id="t",
        api_token=TOKEN,
        consecutive_drift_windows=3,
        min_new_labels=0,
        max_body_bytes=2048,
    )
    memory = None if real else InMemoryKafka()
    if real:
        await ensure_topics(bootstrap, topics_to_create())
    await apply_projects(project_applied(f"churn-{suffix}"), memory=memory, bootstrap=bootstrap)
    app = create_app(settings, memory)
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://retrain-trigger")
    topics = ["training.requested", "training.suppressed", "monitoring.drift.dlq"]
    tap = TopicTap(topics, memory=memory, bootstrap=bootstrap if real else None)
    async with tap, app.router.lifespan_context(app), client:
        yield Mesh(app=app, client=client, model=f"churn-{suffix}", tap=tap)


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_drifted_windows_request_exactly_one_training(mesh: Mesh) -> None:
    ids = [await mesh.drift(number) for number in range(1, 6)]
    await eventually(lambda: len(mesh.requested) == 1 and len(mesh.suppressed) == 3)
    # Replayed windows (a producer retry, a monitor restart) decide nothing new.
    await mesh.drift(2)
    await mesh.drift(3)
    await mesh.drift(6, drifted=False)  # ends the episode: announced
    await eventually(lambda: len(mesh.suppressed) == 4)
    await asyncio.sleep(0.5)  # nothing more arrives
    [(requested, event_id)] = mesh.requested
    assert requested.reason is TrainingReason.DRIFT
    assert requested.triggering_event_ids == tuple(ids[:3])
    assert requested.requested_by == "retrain-trigger"
    assert event_id == f"retrain-trigger-drift-{mesh.model}-w3"
    assert [s.reason for s in mesh.suppressed] == [
        SuppressionReason.TOO_FEW_CONSECUTIVE_WINDOWS,
        SuppressionReason.TOO_FEW_CONSECUTIVE_WINDOWS,
        SuppressionReason.EPISODE_ALREADY_HANDLED,  # window 4; window 5 only recorded
        SuppressionReason.NOT_DRIFTED,
    ]
    response = await mesh.client.get("/v1/decisions", params={"model_name": mesh.model})
    assert response.status_code == 200
    decisions = response.json()["decisions"]
    assert [d["decision_id"] for d in decisions] == [
        f"drift-{mesh.model}-w{n}" for n in (6, 5, 4, 3, 2, 1)
    ]
    assert [d["announced"] for d in decisions] == [True, False, True, True, True, True]
    assert decisions[3]["outcome"] == "requested"
    assert decisions[3]["published"]


async def test_undecodable_drift_records_are_dead_lettered_and_the_next_one_is_judged(
    mesh: Mesh,
) -> None:
    headers = {
        "ce_specversion": "1.0",
        "ce_id": f"bad-{mesh.model}",
        "ce_source": "urn:test",
        "ce_type": "mlops.monitoring.drift.detected.v1",
        "content-type": "application/json",
    }
    await mesh.app.state.runtime.kafka.send(
        [
            WireRecord("monitoring.drift", mesh.model.encode(), b"not json at all", ()),
            WireRecord(
                "monitoring.drift",
                mesh.model.encode(),
                b'{"window_id": "x"}',
                tuple((name, value.encode()) for name, value in headers.items()),
            ),
        ]
    )
    await mesh.drift(1)

    def mine() -> list[dict[str, str]]:
        return [headers for headers in mesh.dead if headers.get("key") == mesh.model]

    await eventually(lambda: len(mine()) == 2 and len(mesh.suppressed) == 1)
    assert {headers["dlq_original_topic"] for headers in mine()} == {"monitoring.drift"}
    assert mesh.suppressed[0].reason is SuppressionReason.TOO_FEW_CONSECUTIVE_WINDOWS


@pytest.mark.parametrize("mesh", ["memory"], indirect=True)
async def test_manual_trigger_needs_a_token_and_a_valid_small_body(mesh: Mesh) -> None:
    body = {"model_name": mesh.model, "idempotency_key": "by-hand-1"}
    assert (await mesh.client.post("/v1/trigger", json=body)).status_code == 401
    wrong = await mesh.client.post("/v1/trigger", json=body, headers=auth("nope"))
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    invalid = await mesh.client.post(
        "/v1/trigger",
        json={"model_name": "no spaces", "force": "maybe", "window_days": -1, "extra": 1},
        headers=auth(),
    )
    assert invalid.status_code == 422
    fields = {error["loc"][-1] for error in invalid.json()["detail"]}
    assert fields == {"model_name", "force", "window_days", "extra"}
    not_json = await mesh.client.post("/v1/trigger", content=b"{nope", headers=auth())
    assert not_json.status_code == 422
    huge = await mesh.client.post(
        "/v1/trigger", content=b'{"requested_by": "' + b"x" * 3000 + b'"}', headers=auth()
    )
    assert huge.status_code == 413
    assert mesh.requested == []
    assert (await mesh.client.get("/v1/decisions")).json()["decisions"] == []
    paths = (await mesh.client.get("/openapi.json")).json()["paths"]
    assert {"/v1/trigger", "/v1/decisions"} <= set(paths)


async def test_a_model_no_project_declares_gets_a_404_until_its_project_is_applied(
    mesh: Mesh,
) -> None:
    late = f"late-{mesh.model}"
    body = {"model_name": late, "idempotency_key": "k-1"}
    unknown = await mesh.client.post("/v1/trigger", json=body, headers=auth())
    assert unknown.status_code == 404
    assert unknown.json()["detail"].startswith(f"no model project named '{late}' (applied: ")
    assert mesh.model in unknown.json()["detail"]
    decisions = await mesh.client.get("/v1/decisions", params={"model_name": late})
    assert decisions.json()["decisions"] == []
    # Applied while the service runs: learned from the projects topic, no restart.
    await mesh.app.state.runtime.publisher.publish(project_applied(late))

    async def accepted() -> bool:
        answer = await mesh.client.post("/v1/trigger", json=body, headers=auth())
        return answer.status_code == 200

    await eventually(accepted)
    assert mesh.requested == []  # only trainings of this fixture's own model are counted


@pytest.mark.parametrize("mesh", ["memory"], indirect=True)
async def test_manual_trigger_goes_through_the_ledger(mesh: Mesh) -> None:
    body = {"model_name": mesh.model, "idempotency_key": "by-hand-1", "window_days": 10}
    first = await mesh.client.post("/v1/trigger", json=body, headers=auth())
    assert first.status_code == 200, first.text
    decision = first.json()
    assert decision["outcome"] == "requested"
    assert decision["idempotency_key"] == "by-hand-1"
    assert decision["published"]
    again = await mesh.client.post("/v1/trigger", json=body, headers=auth())
    assert again.json() == decision  # the same key: the same decision, nothing new
    other = {"model_name": mesh.model, "idempotency_key": "by-hand-2"}
    held = await mesh.client.post("/v1/trigger", json=other, headers=auth())
    assert held.status_code == 409
    assert held.json()["reason"] == "training_in_flight"
    forced = await mesh.client.post(
        "/v1/trigger", json={**other, "idempotency_key": "by-hand-3", "force": True}, headers=auth()
    )
    assert forced.status_code == 200
    await eventually(lambda: len(mesh.requested) == 2 and len(mesh.suppressed) == 1)
    keys = [event.idempotency_key for event, _ in mesh.requested]
    assert keys == ["by-hand-1", "by-hand-3"]
    first_event = mesh.requested[0][0]
    assert first_event.reason is TrainingReason.MANUAL
    assert first_event.data_window_end - first_event.data_window_start == timedelta(days=10)
    newest = await mesh.client.get("/v1/decisions", params={"limit": 1})
    assert [d["idempotency_key"] for d in newest.json()["decisions"]] == ["by-hand-3"]
    assert (await mesh.client.get("/v1/decisions", params={"limit": 0})).status_code == 422
    # Without a key, every call is a new request (here held back by the one in flight).
    anonymous = await mesh.client.post(
        "/v1/trigger", json={"model_name": mesh.model}, headers=auth()
    )
    assert anonymous.status_code == 409


def test_production_needs_a_token() -> None:
    with pytest.raises(ValueError, match="RETRAIN_TRIGGER_API_TOKEN"):
        RetrainTriggerSettings(profile="production", database_url="postgresql://u@h/d")
    assert (
        RetrainTriggerSettings(
            profile="production", database_url="postgresql://u@h/d", api_token="t"
        )
        .policy()
        .schedule_interval
        is None
    )


def test_settings_describe_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAIN_TRIGGER_SCHEDULE_INTERVAL_MINUTES", "1440")
    monkeypatch.setenv("RETRAIN_TRIGGER_COOLDOWN_MINUTES", "30")
    monkeypatch.setenv("RETRAIN_TRIGGER_SCHEDULED_MODELS", '["churn", "other"]')
    settings = RetrainTriggerSettings()
    policy = settings.policy()
    assert policy.schedule_interval == timedelta(days=1)
    assert policy.cooldown == timedelta(minutes=30)
    assert settings.scheduled_models == ("churn", "other")
    monkeypatch.setenv("RETRAIN_TRIGGER_COOLDOWN_MINUTS", "30")
    with pytest.raises(ValueError, match="unknown setting"):
        RetrainTriggerSettings()
