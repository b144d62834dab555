"""`mlops demo`: watch the closed loop run by itself on the embedded mesh.

Simulated customers stream through ingest while prediction requests flow to the predictors;
after a warm-up a drift is injected into the simulated business. The demo only watches: the
monitor has to notice the drift, the retrain trigger has to ask for a training, the trainer,
the gate and the predictors do the rest. Each loop event is narrated as it appears on its
topic, and the run ends once every predictor replica serves the new champion and answers
carry its version.

The same run, as a function (:func:`run_demo`), is what the closed-loop e2e test drives.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from aiokafka import AIOKafkaProducer, TopicPartition

from mesh.model_loop import (
    MODEL_NAME,
    BootstrapPlan,
    Endpoints,
    Say,
    bootstrap_business,
    champion_version,
    decode_record,
    narrate_decision,
    read_everything,
    send_history,
    topic_reader,
    worth_a_line,
)
from mesh.request_trace import trace_requests
from mesh.settings import MeshSettings
from mlops_contracts import (
    ContractError,
    DriftDetected,
    Envelope,
    Event,
    ModelPromoted,
    ModelRejected,
    ModelTrained,
    PerformanceDegraded,
    PredictionMade,
    PredictionRequested,
    PredictionStatus,
    PredictorModelLoaded,
    PredictorModelRefused,
    TrainingFailed,
    TrainingProgress,
    TrainingRequested,
    TrainingSuppressed,
    encode,
    reply_topic_spec,
    topic_for,
)
from service_kit import ensure_topics

if TYPE_CHECKING:
    from simulator import DriftSpec, Simulation

Scenario = Literal["covariate", "concept"]

DEMO_MESH: dict[str, str] = {
    # A mesh of its own beside the one `make up` runs.
    "home": "var/demo",
    "base_port": "8800",
    "broker_port": "19192",
    # A business day lasts 3 s: live traffic ages the 7/30/90-day feature windows as fast as
    # the history did, so drift is the drift one injects, not a clock artefact.
    "day_seconds": "3",
    "bootstrap_customers": "500",
    # Longer than the longest feature window (90 days): the first champion learns from
    # rows whose windows are full, like the live traffic's.
    "bootstrap_history_days": "120",
}
"""``MLOPS_MESH_*`` settings of the demo mesh (an environment variable set by the user wins)."""


def demo_mesh_settings() -> MeshSettings:
    """The demo mesh's settings: :data:`DEMO_MESH` under the user's own variables."""
    chosen = {
        name: value
        for name, value in DEMO_MESH.items()
        if f"MLOPS_MESH_{name.upper()}" not in os.environ
    }
    return MeshSettings(**chosen)  # type: ignore[arg-type]


DRIFTS: dict[Scenario, tuple[str, ...]] = {
    # The customer base changes: usage and sessions drop, support tickets and failed
    # payments climb, half the customers move to premium plans and month-to-month
    # contracts (prices follow). The contract also stops mattering for churn, so the old
    # model is wrong, not just surprised (a retrained one beats it at the gate), yet
    # better than a coin toss (live performance stays above its floor: the features
    # tell, not the labels).
    "covariate": (
        "covariate:usage_minutes,sessions:-0.6",
        "covariate:support_tickets,failed_payments:+1.5",
        "covariate:plan=premium:0.5",
        "covariate:contract_type=month_to_month:0.5",
        "concept:contract_type:off",
    ),
    # Feature values stay the same; only what they mean for churn changes, so only the
    # delayed labels show it (live performance, not data drift): the strongest drivers of
    # churn now work the other way round (the business keeps its churn rate).
    "concept": ("concept:contract_type,support_tickets,usage_minutes,failed_payments:flip",),
}
"""What each scenario injects (simulator drift syntax; see `mlops simulate --help`)."""

LOOP_EVENTS = (
    DriftDetected,
    PerformanceDegraded,
    TrainingSuppressed,
    TrainingRequested,
    TrainingProgress,
    ModelTrained,
    ModelPromoted,
    PredictorModelLoaded,
)


class DemoError(RuntimeError):
    """The loop did not close in time; says how far it got."""


@dataclass(frozen=True)
class DemoPlan:
    """One run of the demo."""

    scenario: Scenario = "covariate"
    customers: int = 1000
    """Customers of the simulated business: the bootstrap's (their features are online)."""
    replicas: int = 2
    """Predictor replicas that must roll to the new champion."""
    warmup_s: float = 20.0
    """Undrifted traffic before the drift starts."""
    day_seconds: float = 86400.0
    """The mesh's business day: every customer sends one record per day."""
    prediction_rate: float = 100.0
    """Prediction requests/s."""
    label_delay_s: float = 5.0
    """Delay between a customer's outcome and its label."""
    timeout_s: float = 300.0
    """Give up when the loop has not closed this long after the drift started."""
    catch_up_timeout_s: float = 900.0
    """Give up when the business's history since the last run is not in the features this
    long after the catch-up started (its own budget: the feature service works through
    minutes of backlog first, and more of them on a slower machine)."""
    seed: int = 42
    history_end: datetime | None = None
    """When the mesh's bootstrap history ended: the demo continues that business."""
    history_days: float = 30.0
    """Length of the bootstrap history, business days."""
    state: Path | None = None
    """Where the demo remembers until when it streamed (the next run catches up from there)."""

    @property
    def day(self) -> timedelta:
        """A business day of the mesh."""
        return timedelta(seconds=self.day_seconds)

    @property
    def activity_rate(self) -> float:
        """The business's pace: activity records/s (one per customer and business day)."""
        return self.customers / self.day_seconds


@dataclass
class DemoRun:
    """What a run saw: the loop's events in order, the answers, the stage times."""

    started: datetime
    champion_before: int | None
    drift_started: datetime | None = None
    events: list[tuple[datetime, Event]] = field(default_factory=list)
    sent: dict[str, float] = field(default_factory=dict)
    """Request id -> when it was sent (monotonic), once the broker acknowledged it."""
    undelivered: dict[str, str] = field(default_factory=dict)
    """Request id -> why the broker did not take it (the client knows: not a lost request)."""
    answers: Counter[str] = field(default_factory=Counter)
    """Request id -> answers received (exactly 1 each when nothing is lost or doubled)."""
    errors: Counter[str] = field(default_factory=Counter)
    """Error code -> answers with that error."""
    error_examples: list[str] = field(default_factory=list)
    """The first few error answers: request, customer, when, code and reason."""
    activity_per_s: float | None = None
    """Customer activity records/s the stream achieved (the plan's pace: one per customer
    and business day; a slower stream thins the windowed features)."""
    unreadable: Counter[str] = field(default_factory=Counter)
    """Why a record on the reply topic could not be read as an answer -> how many."""
    missed_by_reader: list[str] = field(default_factory=list)
    """Requests whose answer the live reader missed and a read after the run found."""
    traces: dict[str, str] = field(default_factory=dict)
    """Unanswered request id -> where it was seen (see :mod:`mesh.request_trace`)."""
    versions_answering: dict[int, datetime] = field(default_factory=dict)
    """Model version -> first answer it made."""
    new_champion: int | None = None
    rolled: dict[str, datetime] = field(default_factory=dict)
    """Replica -> when it reported serving the new champion."""

    def unanswered(self) -> list[str]:
        """Requests the broker took that got no answer (yet)."""
        return [request_id for request_id in self.sent if self.answers[request_id] == 0]

    def of(self, kind: type[Event]) -> list[Event]:
        """The loop events of one type, in order."""
        return [event for _, event in self.events if isinstance(event, kind)]

    def first(
        self,
        kind: type[Event],
        test: Callable[[Event], bool] = lambda _: True,
        *,
        since: datetime | None = None,
    ) -> datetime:
        """When the first event of ``kind`` (passing ``test``; arriving after ``since``)
        arrived."""
        for at, event in self.events:
            if isinstance(event, kind) and test(event) and (since is None or at > since):
                return at
        raise DemoError(f"no {kind.__name__} seen")

    @property
    def closed(self) -> bool:
        """The new champion serves on every replica and answers carry its version."""
        return (
            self.new_champion is not None
            and len(self.rolled) >= 1
            and self.new_champion in self.versions_answering
        )

    def stages(self) -> list[tuple[str, float]]:
        """Seconds from the drift's start to each stage of the loop."""
        if self.drift_started is None:
            return []
        zero = self.drift_started
        marks: list[tuple[str, datetime]] = []
        for label, kind, test in (
            ("window judged drifted", DriftDetected, _drifted),
            ("live performance degraded", PerformanceDegraded, _degraded),
            ("training requested", TrainingRequested, _any),
            ("model trained", ModelTrained, _any),
            ("rejected by the gate", ModelRejected, _any),
            ("promoted", ModelPromoted, _any),
        ):
            try:
                marks.append((label, self.first(kind, test, since=zero)))
            except DemoError:
                continue
        if self.rolled:
            marks.append(("every replica rolled", max(self.rolled.values())))
        if self.new_champion in self.versions_answering:
            marks.append(
                ("first answer by the new model", self.versions_answering[self.new_champion])
            )
        return [(label, (at - zero).total_seconds()) for label, at in sorted(marks, key=_second)]


def _any(_: Event) -> bool:
    return True


def _drifted(event: Event) -> bool:
    return isinstance(event, DriftDetected) and event.dataset_drift


def _degraded(event: Event) -> bool:
    return isinstance(event, PerformanceDegraded) and event.degraded


def _second(mark: tuple[str, datetime]) -> datetime:
    return mark[1]


async def run_demo(endpoints: Endpoints, plan: DemoPlan, say: Say) -> DemoRun:
    """Stream traffic, inject the scenario's drift after the warm-up, narrate the loop until
    every replica serves the new champion (or raise :class:`DemoError` at the timeout)."""
    run = DemoRun(started=datetime.now(UTC), champion_before=champion_version(endpoints))
    replies = reply_topic_spec(f"demo-{uuid.uuid4().hex[:8]}")
    await ensure_topics(endpoints.bootstrap_servers, [replies])
    simulation = await _continue_business(endpoints, plan, say)
    sending, watching = asyncio.Event(), asyncio.Event()  # set: stop
    say(
        f"Streaming {plan.activity_rate:.1f} customer activity records/s (and their labels) "
        f"through ingest and {plan.prediction_rate:g} prediction requests/s; "
        f"'{plan.scenario}' drift in {plan.warmup_s:g} s: {', '.join(DRIFTS[plan.scenario])}"
    )
    tasks = {
        "simulated customers": _stream_customers(endpoints, plan, simulation, run, sending, say),
        "prediction requests": _request_predictions(
            endpoints, plan, simulation, run, replies.name, sending
        ),
        "answer reader": _read_answers(endpoints, run, replies.name, watching),
        "loop watcher": _watch_loop(endpoints, plan, run, watching, say),
    }
    running = {name: asyncio.create_task(work) for name, work in tasks.items()}
    try:
        deadline = time.monotonic() + plan.warmup_s + plan.timeout_s
        while not (run.closed and len(run.rolled) >= plan.replicas):
            for name, task in running.items():
                if task.done() and task.exception() is not None:
                    raise DemoError(f"the demo's {name} failed: {task.exception()}")
            if time.monotonic() > deadline:
                raise DemoError(_how_far(run, plan))
            await asyncio.sleep(0.2)
        sending.set()
        await running["prediction requests"]
        await _drain(run, within_s=15.0)
        if run.unanswered():
            await recount_answers(endpoints.bootstrap_servers, run, replies.name)
        if unanswered := run.unanswered():
            run.traces = await trace_requests(endpoints.bootstrap_servers, unanswered, replies.name)
    finally:
        sending.set()
        watching.set()
        await asyncio.gather(*running.values(), return_exceptions=True)
        if plan.state is not None:
            earlier = DemoState.load(plan.state)
            injected = DRIFTS[plan.scenario] if run.drift_started is not None else ()
            DemoState(datetime.now(UTC), earlier.drifts + injected).save(plan.state)
    _summarise(run, plan, say)
    return run


async def _drain(run: DemoRun, within_s: float) -> None:
    """Wait (a bounded time) until every request sent has its answer."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and run.unanswered():  # noqa: ASYNC110 - polls
        await asyncio.sleep(0.2)


async def _continue_business(endpoints: Endpoints, plan: DemoPlan, say: Say) -> Simulation:
    """The bootstrap's simulated business, brought up to now: its history is replayed in
    memory (not sent), then the business days since it ended are sent through ingest, so
    live traffic starts from full feature windows and the customers' own state."""
    from simulator import Simulation, SimulationConfig, compress_time

    if plan.history_end is None:
        config = SimulationConfig(customers=plan.customers, seed=plan.seed)
    else:
        config = bootstrap_business(
            BootstrapPlan(customers=plan.customers, seed=plan.seed), plan.history_end
        )
    simulation = Simulation(
        replace(
            config,
            label_delay=timedelta(seconds=plan.label_delay_s),
            run_id=f"demo-{datetime.now(UTC):%Y%m%dT%H%M%S}",  # record ids of this run
        )
    )
    if plan.history_end is None:
        return simulation
    for _ in simulation.history(days=plan.history_days, end=plan.history_end):
        pass
    earlier = DemoState.load(plan.state)
    caught_up, started = max(plan.history_end, earlier.streamed_until), time.monotonic()
    deadline = started + plan.catch_up_timeout_s
    # The feature service materializes history about twice as fast as the business makes
    # it here, so each catch-up (send, then wait for the features) leaves about half the
    # previous gap behind. Once the gap is under five business days, the last one is sent
    # without waiting: the live stream follows at once, with no gap in any customer's
    # 7/30/90-day windows (a gap reads as drift), and the feature service works through
    # that short backlog during the warm-up.
    for attempt in range(CATCH_UPS):
        now = datetime.now(UTC)
        gap = (now - caught_up) / plan.day
        if gap < 0.1:
            break
        last = gap < 5 or attempt == CATCH_UPS - 1
        # Only the longest feature window (90 days) matters for what the features say.
        days = min(gap, 100.0)
        past = simulation.history(days=days, end=now, drifts=earlier.specs())
        records = list(compress_time(past, end=now, day=plan.day))
        say(f"Catching up the {gap:,.1f} business days since the mesh's history ended:")
        await send_history(endpoints, records, say, started, deadline, materialized=not last)
        caught_up = now
        if last:
            break
    return simulation


CATCH_UPS = 10
"""At most this many catch-ups before the live stream (each leaves a shorter gap behind)."""
NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DemoState:
    """What earlier demos did to the mesh's business: until when they streamed it, and the
    drifts they injected (the business stays drifted: the next demo starts from there)."""

    streamed_until: datetime = NEVER
    drifts: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path | None) -> DemoState:
        """The saved state; the initial one when there is none or it is unreadable."""
        if path is None:
            return cls()
        try:
            saved = json.loads(path.read_text())
            return cls(
                streamed_until=datetime.fromisoformat(saved["streamed_until"]),
                drifts=tuple(str(text) for text in saved["drifts"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return cls()

    def save(self, path: Path) -> None:
        """Keep it for the next demo."""
        path.write_text(
            json.dumps(
                {"streamed_until": self.streamed_until.isoformat(), "drifts": list(self.drifts)}
            )
        )

    def specs(self) -> list[DriftSpec]:
        """The earlier drifts, in force from the start of a phase."""
        from simulator import DriftSpec

        return [DriftSpec.parse(f"{text}:after=0s") for text in self.drifts]


async def _stream_customers(
    endpoints: Endpoints,
    plan: DemoPlan,
    simulation: Simulation,
    run: DemoRun,
    stop: asyncio.Event,
    say: Say,
) -> None:
    from simulator import DriftSpec, HttpIngestSink, StreamStats, SystemClock, stream_records

    drifts = DemoState.load(plan.state).specs() + [
        DriftSpec.parse(f"{text}:after={plan.warmup_s:g}s") for text in DRIFTS[plan.scenario]
    ]

    def on_progress() -> None:
        if run.drift_started is None and (started := simulation.drift_started_at(0)) is not None:
            run.drift_started = started
            say(f"[{_clock()}] drift injected into the simulated business")

    sink = HttpIngestSink(endpoints.ingest_url, endpoints.api_token)
    stats, started = StreamStats(), time.monotonic()
    try:
        await stream_records(
            simulation.live(lambda: datetime.now(UTC), drifts=drifts),
            sink,
            clock=SystemClock(),
            stats=stats,
            # The business's pace: one activity record per customer and business day, kept
            # through the machine's slow moments (a stream that falls behind thins every
            # customer's 7/30/90-day windows, which reads as drift); labels come when due.
            rate=plan.activity_rate,
            paced=lambda record: record["kind"] == "activity",
            catch_up_s=10.0,
            stop_requested=stop.is_set,
            on_progress=on_progress,
        )
    finally:
        run.activity_per_s = stats.activity / max(time.monotonic() - started, 1e-9)
        await sink.aclose()


SETTLED_ROUNDS = 5
"""The demo asks about customers whose first record is at least this many business days
old: on a busy 2-core machine the feature service's online rows can lag the stream by
several seconds (2 to 3 of the demo's business days), and a newcomer it has not written yet
is rightly answered `unknown_entity`."""


async def _request_predictions(
    endpoints: Endpoints,
    plan: DemoPlan,
    simulation: Simulation,
    run: DemoRun,
    reply_to: str,
    stop: asyncio.Event,
) -> None:
    """Ask for predictions about the business's current customers (those the labels will
    judge), at the plan's rate, each answered on the demo's reply topic."""
    producer = AIOKafkaProducer(
        bootstrap_servers=endpoints.bootstrap_servers, linger_ms=5, acks="all"
    )
    await producer.start()
    rng = random.Random(plan.seed)
    interval = 1.0 / plan.prediction_rate
    try:
        next_at = time.monotonic()
        sequence = 0
        while not stop.is_set():
            sequence += 1
            if sequence % 100 == 1:  # the panel changes a little every business day
                customers = simulation.known_customer_ids(SETTLED_ROUNDS)
            request = PredictionRequested(
                request_id=f"demo-{sequence:08d}-{uuid.uuid4().hex[:6]}",
                customer_id=rng.choice(customers),
                reply_to=reply_to,
                requested_at=datetime.now(UTC),
            )
            record = encode(request, source="urn:mlops:demo")
            delivery = await producer.send(
                record.topic, record.value, key=record.key, headers=list(record.headers)
            )
            delivery.add_done_callback(_delivery_noter(run, request.request_id))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await producer.flush()
    finally:
        await producer.stop()


def _delivery_noter(run: DemoRun, request_id: str) -> Callable[[asyncio.Future[object]], None]:
    """Count a request as sent once the broker acknowledged it; note it when it was not."""
    sent_at = time.monotonic()

    def noted(delivery: asyncio.Future[object]) -> None:
        error = None if delivery.cancelled() else delivery.exception()
        if delivery.cancelled() or error is not None:
            run.undelivered[request_id] = repr(error) if error else "cancelled"
        else:
            run.sent[request_id] = sent_at

    return noted


async def _read_answers(
    endpoints: Endpoints, run: DemoRun, reply_to: str, stop: asyncio.Event
) -> None:
    consumer = topic_reader(endpoints.bootstrap_servers)
    await consumer.start()
    try:
        partition = TopicPartition(reply_to, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    _tally(run, record)
    finally:
        await consumer.stop()


KEPT_ERROR_EXAMPLES = 5
"""Error answers a run keeps whole (the others are only counted by code)."""


def _tally(run: DemoRun, record: object) -> None:
    """Count one record of the reply topic: an answer, an error answer or an unreadable one."""
    try:
        answer = decode_record(record).data
    except ContractError as error:
        run.unreadable[type(error).__name__] += 1
        return
    if not isinstance(answer, PredictionMade):
        run.unreadable[type(answer).__name__] += 1
        return
    run.answers[answer.request_id] += 1
    if answer.status is PredictionStatus.OK and answer.model_version is not None:
        run.versions_answering.setdefault(answer.model_version, datetime.now(UTC))
    elif answer.error_code is not None:
        run.errors[str(answer.error_code)] += 1
        if len(run.error_examples) < KEPT_ERROR_EXAMPLES:
            run.error_examples.append(
                f"{answer.request_id} for {answer.customer_id} at {_clock()}: "
                f"{answer.error_code}: {answer.error_reason}"
            )


async def recount_answers(bootstrap_servers: str, run: DemoRun, reply_to: str) -> None:
    """Count the answers again from the whole reply topic, read once the run is over. The
    embedded broker (Tansu) can skip a record for a consumer that reads a partition while
    two producers write to it (seen: 1 answer in about 30,000 that a fresh read finds);
    the recount tells such an answer, there all along, from a missing one."""
    recounted = DemoRun(started=run.started, champion_before=run.champion_before)
    async for record in read_everything(bootstrap_servers, [reply_to]):
        _tally(recounted, record)
    run.missed_by_reader = [r for r in run.unanswered() if recounted.answers[r] > 0]
    run.answers, run.errors = recounted.answers, recounted.errors
    run.unreadable = recounted.unreadable


async def _watch_loop(
    endpoints: Endpoints, plan: DemoPlan, run: DemoRun, stop: asyncio.Event, say: Say
) -> None:
    consumer = topic_reader(endpoints.bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic_for(kind).name, 0) for kind in LOOP_EVENTS]
        consumer.assign(list(dict.fromkeys(partitions)))
        await consumer.seek_to_beginning(*partitions)
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    envelope = _envelope(record)
                    # The topics hold the mesh's whole past: only this run's events count.
                    if envelope is None or (envelope.time or run.started) < run.started:
                        continue
                    arrived = datetime.now(UTC)
                    run.events.append((arrived, envelope.data))
                    _follow(run, envelope.data, plan, say)
    finally:
        await consumer.stop()


def _follow(run: DemoRun, event: Event, plan: DemoPlan, say: Say) -> None:
    """Narrate one loop event and keep track of the new champion's rollout."""
    line = _narration(event, run)
    if line:
        say(f"[{_clock()}] {line}")
    if isinstance(event, ModelPromoted) and event.model_name == MODEL_NAME:
        run.new_champion = event.model_version
        run.rolled.clear()
    elif (
        isinstance(event, PredictorModelLoaded)
        and event.model_version == run.new_champion
        and event.replica_id not in run.rolled
    ):
        run.rolled[event.replica_id] = datetime.now(UTC)
        if len(run.rolled) == plan.replicas:
            say(
                f"[{_clock()}] every replica ({plan.replicas}) serves version {event.model_version}"
            )


def _narration(event: Event, run: DemoRun) -> str | None:
    if isinstance(event, DriftDetected):
        drifted = [f.feature for f in event.features if f.drifted]
        verdict = "DRIFT" if event.dataset_drift else "no drift"
        return (
            f"monitor: window {event.window_id} of v{event.model_version} "
            f"({event.sample_count} predictions): {verdict}, share "
            f"{event.drift_share:.2f} (threshold {event.drift_share_threshold:.2f})"
            + (f": {', '.join(drifted)}" if drifted else "")
        )
    if isinstance(event, PerformanceDegraded):
        state = "DEGRADED" if event.degraded else "ok"
        return (
            f"monitor: live {event.metric} of v{event.model_version} {event.value:.3f} on "
            f"{event.labelled_count} labelled predictions ({state}, threshold "
            f"{event.threshold:.3f})"
        )
    if isinstance(event, TrainingSuppressed):
        return f"retrain-trigger: no training ({event.reason}): {event.detail}"
    if isinstance(event, TrainingRequested):
        return (
            f"retrain-trigger: training requested ({event.reason}), window "
            f"{event.data_window_start:%m-%d %H:%M} .. {event.data_window_end:%m-%d %H:%M:%S}"
        )
    if isinstance(event, TrainingProgress):
        if worth_a_line(event):
            return (
                f"trainer: epoch {event.epoch}/{event.max_epochs}, val "
                f"{event.validation_metric} {event.validation_value:.4f}"
            )
        return None
    if isinstance(event, ModelTrained):
        return (
            f"trainer: version {event.model_version} trained on {event.dataset.row_count:,} "
            f"rows (val roc_auc {event.metrics.get('roc_auc', float('nan')):.4f}, "
            f"{event.device})"
        )
    if isinstance(event, TrainingFailed):
        return f"trainer: training failed ({event.error_type}): {event.reason}"
    if isinstance(event, ModelPromoted | ModelRejected):
        lines: list[str] = []
        narrate_decision(event, lines.append)
        return "registry:" + lines[0].removeprefix(" ")
    if isinstance(event, PredictorModelLoaded):
        return f"{event.replica_id}: serving version {event.model_version}"
    if isinstance(event, PredictorModelRefused):
        return f"{event.replica_id}: refused version {event.model_version}: {event.detail}"
    return None


def _summarise(run: DemoRun, plan: DemoPlan, say: Say) -> None:
    lost = len(run.unanswered())
    doubled = sum(1 for count in run.answers.values() if count > 1)
    say("")
    say("The loop closed with no human step. Seconds from the drift's start:")
    for label, seconds in run.stages():
        say(f"  {label:<32} {seconds:7.1f}")
    say(
        f"Predictions: {len(run.sent):,} requested, {len(run.sent) - lost:,} answered "
        f"({lost} unanswered, {doubled} answered twice); errors: "
        f"{dict(run.errors) or 'none'}"
    )
    if run.activity_per_s is not None:
        say(
            f"Customer activity streamed at {run.activity_per_s:,.1f} records/s "
            f"(the business's pace: {plan.activity_rate:,.1f}/s)"
        )
    if run.missed_by_reader:
        say(
            f"  {len(run.missed_by_reader)} answer(s) the live reader missed were on the reply "
            f"topic all along (a read after the run found them): {run.missed_by_reader[:3]}"
        )
    for example in run.error_examples:
        say(f"  error answer {example}")
    if run.unreadable:
        say(f"  records on the reply topic that are not answers: {dict(run.unreadable)}")
    for request_id, seen in run.traces.items():
        say(f"  unanswered {request_id}: seen in {seen}")
    if run.undelivered:
        say(
            f"  {len(run.undelivered)} requests were not taken by the broker (the client was "
            f"told): {next(iter(run.undelivered.values()))}"
        )


def _how_far(run: DemoRun, plan: DemoPlan) -> str:
    seen = Counter(type(event).__name__ for _, event in run.events)
    return (
        f"the loop did not close within {plan.timeout_s:.0f} s of the drift; loop events seen: "
        f"{dict(seen) or 'none'}; see `make logs` (monitor, retrain-trigger, trainer-gpu)"
    )


def _envelope(record: object) -> Envelope[Event] | None:
    try:
        return decode_record(record)
    except ContractError:
        return None


def _clock() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S")
