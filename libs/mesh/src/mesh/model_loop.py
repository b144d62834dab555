"""Training from the launcher: the first `up` bootstraps a champion when the registry has
none (simulated history through ingest -> features -> training -> gate), and `mlops train`
requests a training by hand; both narrate the run from the model plane's own events.

Everything goes through the mesh's public surfaces: ingest's REST API, the services'
read APIs, and contract events on the Kafka topics.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from mlops_contracts import (
    ContractError,
    Envelope,
    Event,
    ModelPromoted,
    ModelRejected,
    ModelTrained,
    TrainingFailed,
    TrainingProgress,
    TrainingReason,
    TrainingRequested,
    decode,
    encode,
    topic_for,
)
from service_kit.kafka import read_from_start

if TYPE_CHECKING:
    from simulator import Record, SimulationConfig

Say = Callable[[str], None]

MODEL_NAME = "churn"
"""The model the mesh trains and serves."""


class ModelLoopError(RuntimeError):
    """Training could not be requested or did not end in a promotion; says why."""


@dataclass(frozen=True)
class Endpoints:
    """Where the launcher reaches the mesh."""

    bootstrap_servers: str
    ingest_url: str
    feature_url: str
    registry_url: str
    trainer_url: str
    mlflow_url: str
    api_token: str


@dataclass(frozen=True)
class BootstrapPlan:
    """The simulated past the first champion is trained on: ``history_days`` of
    ``customers``, the last ``holdout_days`` left out of training for the gate."""

    customers: int = 1000
    history_days: float = 30.0
    holdout_days: float = 4.0
    train_days: float = 26.0
    """The first champion learns from the last this many days before the holdout (later
    than the start of a long history, once every rolling window is full)."""
    seed: int = 42
    timeout_s: float = 600.0
    day: timedelta = timedelta(days=1)
    """A day of the simulated business (compressed in the demo mesh)."""


def champion_version(endpoints: Endpoints, model_name: str = MODEL_NAME) -> int | None:
    """The current champion's version, None when the registry has none."""
    response = httpx.get(f"{endpoints.registry_url}/v1/models/{model_name}/champion", timeout=30)
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise ModelLoopError(f"the registry answered {response.status_code}: {response.text[:300]}")
    return int(response.json()["version"])


async def bootstrap(endpoints: Endpoints, plan: BootstrapPlan, say: Say, state: Path) -> int:
    """Simulate history through ingest, wait until features and labels are in, train, and
    follow the run to its promotion; returns the promoted version.

    ``state`` remembers the history's end time, so a retry after a failure sends the very
    same records (ingest drops them as duplicates) instead of a second, overlapping past."""
    from simulator import generate_history

    started = time.monotonic()
    end, attempt = _bootstrap_state(state)
    say(
        f"No champion model yet: bootstrapping one from {plan.history_days:g} days of simulated "
        f"history of {plan.customers:,} customers (history -> features -> training -> gate)."
    )
    records = list(
        generate_history(
            plan.history_days, end=end, config=bootstrap_business(plan, end), day=plan.day
        )
    )
    labels = sum(1 for record in records if record["kind"] == "label")
    deadline = time.monotonic() + plan.timeout_s
    await send_history(endpoints, records, say, started, deadline)
    await _wait_for_labels(endpoints, labels, deadline, say, started)
    request = TrainingRequested(
        idempotency_key=f"bootstrap-{MODEL_NAME}-{end:%Y%m%dT%H%M%S}-{attempt}",
        model_name=MODEL_NAME,
        reason=TrainingReason.BOOTSTRAP,
        data_window_start=end
        - min(plan.history_days, plan.holdout_days + plan.train_days) * plan.day,
        data_window_end=end - plan.holdout_days * plan.day,
        requested_by="mlops-up",
        requested_at=datetime.now(UTC),
    )
    decision = await request_training(endpoints, request, say, deadline - time.monotonic())
    if not isinstance(decision, ModelPromoted):
        raise ModelLoopError(f"the bootstrap model was rejected: {decision.detail}")
    say(
        f"Bootstrap done in {time.monotonic() - started:.1f} s: champion is version "
        f"{decision.model_version}; predictions can be served."
    )
    return decision.model_version


def bootstrap_business(plan: BootstrapPlan, end: datetime) -> SimulationConfig:
    """The simulated business the bootstrap history comes from (the demo continues it)."""
    from simulator import SimulationConfig

    return SimulationConfig(
        customers=plan.customers, seed=plan.seed, run_id=f"bootstrap-{end:%Y%m%dT%H%M%S}"
    )


def bootstrap_history_end(state: Path) -> datetime | None:
    """When the bootstrap history ended (None: no bootstrap in this mesh yet)."""
    try:
        return datetime.fromisoformat(json.loads(state.read_text())["end"])
    except (OSError, ValueError, KeyError):
        return None


async def send_history(
    endpoints: Endpoints,
    records: list[Record],
    say: Say,
    started: float,
    deadline: float,
    *,
    materialized: bool = True,
) -> None:
    """Send past records through ingest as fast as it takes them, then (``materialized``)
    wait until every customer's online features are as of its newest record."""
    from simulator import HttpIngestSink, StreamStats, SystemClock, stream_records

    stats = StreamStats()
    sink = HttpIngestSink(endpoints.ingest_url, endpoints.api_token)
    try:
        await stream_records(iter(records), sink, clock=SystemClock(), stats=stats)
    finally:
        await sink.aclose()
    if stats.rejected:
        raise ModelLoopError(f"ingest rejected {stats.rejected} history records")
    say(
        f"  history sent through ingest: {stats.accepted:,} records "
        f"({stats.activity:,} activity, {stats.labels:,} labels) "
        f"[{time.monotonic() - started:.1f} s]"
    )
    if materialized:
        await _wait_for_features(endpoints, _newest_activity(records), deadline, say, started)


def _newest_activity(records: list[Record]) -> dict[str, datetime]:
    """Each customer's newest activity time among ``records``, in whole seconds (what the
    online store keeps)."""
    newest: dict[str, datetime] = {}
    for record in records:
        if record["kind"] == "activity":
            moment = datetime.fromisoformat(record["observed_at"].replace("Z", "+00:00"))
            moment = moment.replace(microsecond=0)
            newest[record["customer_id"]] = max(moment, newest.get(record["customer_id"], moment))
    return newest


async def request_training(
    endpoints: Endpoints, request: TrainingRequested, say: Say, timeout_s: float
) -> ModelPromoted | ModelRejected:
    """Publish ``request`` and narrate its run until the gate decides (or raise)."""
    followed = (topic_for(TrainingProgress), topic_for(ModelTrained), topic_for(ModelPromoted))
    consumer = topic_reader(endpoints.bootstrap_servers)
    await consumer.start()
    try:
        # No consumer group: read the three one-partition topics from their start.
        partitions = [TopicPartition(topic.name, 0) for topic in followed]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        await publish(endpoints.bootstrap_servers, request)
        say(
            f"  training requested ({request.reason}, window {request.data_window_start:%Y-%m-%d}"
            f" .. {request.data_window_end:%Y-%m-%d}, key {request.idempotency_key})"
        )
        return await asyncio.wait_for(
            _follow(consumer, request, endpoints, say), timeout=max(timeout_s, 1.0)
        )
    except TimeoutError as error:
        raise ModelLoopError(
            f"no promotion decision within {timeout_s:.0f} s; see the trainer-gpu and "
            "registry logs (`make logs`)"
        ) from error
    finally:
        await consumer.stop()


async def _follow(
    consumer: AIOKafkaConsumer, request: TrainingRequested, endpoints: Endpoints, say: Say
) -> ModelPromoted | ModelRejected:
    version: int | None = None
    # The three topics interleave: a decision may be read before its ModelTrained.
    decisions: dict[int, ModelPromoted | ModelRejected] = {}
    async for record in consumer:
        try:
            event = decode_record(record).data
        except ContractError:
            continue
        mine = getattr(event, "idempotency_key", None) == request.idempotency_key
        if isinstance(event, TrainingProgress) and mine:
            if worth_a_line(event):
                eta = f", eta {event.eta_seconds:.0f} s" if (event.eta_seconds or 0) >= 1 else ""
                say(
                    f"  epoch {event.epoch:>2}/{event.max_epochs}  loss {event.train_loss:.4f}  "
                    f"val {event.validation_metric} {event.validation_value:.4f}  "
                    f"({event.samples_per_second or 0:,.0f} samples/s on {event.device}{eta})"
                )
        elif isinstance(event, TrainingFailed) and mine:
            raise ModelLoopError(f"training failed ({event.error_type}): {event.reason}")
        elif isinstance(event, ModelTrained) and mine:
            version = event.model_version
            say(
                f"  trained: {event.model_name} version {version}, validation roc_auc "
                f"{event.metrics.get('roc_auc', float('nan')):.4f} on "
                f"{event.dataset.row_count:,} labelled rows; registered as challenger "
                f"(MLflow run {event.run_id}, {endpoints.mlflow_url})"
            )
        elif (
            isinstance(event, ModelPromoted | ModelRejected)
            and event.model_name == request.model_name
        ):
            decisions[event.model_version] = event
        if version is not None and version in decisions:
            return narrate_decision(decisions[version], say)
    raise ModelLoopError("the event stream ended")


def narrate_decision(
    event: ModelPromoted | ModelRejected, say: Say
) -> ModelPromoted | ModelRejected:
    """Say the gate's decision with its numbers; return it."""
    champion = (
        f" vs champion {event.champion_metric:.4f}" if event.champion_metric is not None else ""
    )
    numbers = (
        f"holdout {event.gate_metric} {event.challenger_metric:.4f}{champion} on "
        f"{event.holdout_rows:,} fresh rows"
    )
    if isinstance(event, ModelPromoted):
        say(f"  promoted: version {event.model_version} is the champion ({numbers})")
    else:
        say(f"  rejected: version {event.model_version} ({event.reason}: {event.detail})")
    return event


def _bootstrap_state(path: Path) -> tuple[datetime, int]:
    """The bootstrap history's end (fixed by the first attempt) and this attempt's number."""
    try:
        state = json.loads(path.read_text())
        end, attempt = datetime.fromisoformat(state["end"]), int(state["attempt"]) + 1
    except (OSError, ValueError, KeyError):
        end, attempt = datetime.now(UTC).replace(microsecond=0), 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"end": end.isoformat(), "attempt": attempt}) + "\n")
    return end, attempt


def worth_a_line(progress: TrainingProgress) -> bool:
    """The first epoch, every fifth and the last: enough to watch a run in a terminal."""
    last = progress.epoch == progress.max_epochs or not progress.eta_seconds
    return progress.epoch == 1 or progress.epoch % 5 == 0 or last


def topic_reader(bootstrap_servers: str) -> AIOKafkaConsumer:
    """A consumer in no group, for reading topics from their start (``assign`` and
    ``seek_to_beginning``): the launcher's and the demo's way of watching the mesh."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )


async def read_everything(bootstrap_servers: str, topics: Sequence[str]) -> AsyncIterator[Any]:
    """Every record of ``topics`` (those that exist, all partitions), from their start,
    until the broker has nothing more to give (Tansu's end offsets are unreliable, so the
    read stops after a second with no record)."""
    options = {"bootstrap_servers": bootstrap_servers}
    async for record in read_from_start(options, topics, stop_at_end=False):
        yield record


def decode_record(record: object) -> Envelope[Event]:
    """A consumed aiokafka record as a contract event (raises ContractError)."""
    headers = getattr(record, "headers", ()) or ()
    return decode(getattr(record, "value", b""), headers, key=getattr(record, "key", None))


async def publish(bootstrap_servers: str, event: Event) -> None:
    """Publish ``event`` to its catalogue topic as the launcher (one producer, acks=all)."""
    wire = encode(event, source="mlops-launcher", event_id=f"launcher:{uuid.uuid4()}")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            wire.topic, wire.value, key=wire.key, headers=list(wire.headers)
        )
    finally:
        await producer.stop()


async def _wait_for_features(
    endpoints: Endpoints,
    newest: dict[str, datetime],
    deadline: float,
    say: Say,
    started: float,
) -> None:
    """Until every simulated customer's online features are as of its newest record."""
    pending = dict(newest)
    async with httpx.AsyncClient(base_url=endpoints.feature_url, timeout=30) as client:
        while pending:
            ids = list(pending)
            for start in range(0, len(ids), 256):
                chunk = ids[start : start + 256]
                response = await client.post("/v1/features/lookup", json={"customer_ids": chunk})
                response.raise_for_status()
                for customer_id, stamp in response.json()["as_of"].items():
                    if datetime.fromisoformat(stamp) >= pending[customer_id]:
                        del pending[customer_id]
            if not pending:
                break
            if time.monotonic() > deadline:
                raise ModelLoopError(
                    f"the feature service has not caught up: {len(pending)} customers pending"
                )
            await asyncio.sleep(1.0)
    say(
        f"  features materialized for {len(newest):,} customers "
        f"[{time.monotonic() - started:.1f} s]"
    )


async def _wait_for_labels(
    endpoints: Endpoints, expected: int, deadline: float, say: Say, started: float
) -> None:
    """Until the trainer and the registry have stored every label."""
    async with httpx.AsyncClient(timeout=30) as client:
        for name, url in (
            ("trainer-gpu", endpoints.trainer_url),
            ("registry", endpoints.registry_url),
        ):
            while True:
                response = await client.get(f"{url}/v1/labels/summary")
                response.raise_for_status()
                if response.json()["count"] >= expected:
                    break
                if time.monotonic() > deadline:
                    raise ModelLoopError(
                        f"{name} stored {response.json()['count']} of {expected} labels"
                    )
                await asyncio.sleep(0.5)
    say(
        f"  {expected:,} labels stored by trainer and registry [{time.monotonic() - started:.1f} s]"
    )
