"""Streaming serving benchmark on the embedded mesh: predictions/s and end-to-end latency at
fixed rates with two predictor replicas, next to a bare aiokafka echo through the same
broker, rate by rate; first a model swap under load (failed or missing answers, p99
during the swap vs steady state).

Boots its own mesh (free ports, own home; the first champion is bootstrapped; retraining
held, see embedded_mesh), so run it on an otherwise idle machine:

    .venv/bin/python integration/benchmarks/bench_serving.py
    .venv/bin/python integration/benchmarks/bench_serving.py --rates 500,1000,2000 --seconds 10

The load generator publishes PredictionRequested events (contract codec, keyed by customer)
at a fixed rate and reads PredictionMade from predictions.results; latency is from just
before the produce to the answer's arrival, in the same process. The echo is a separate
process that consumes its own request topic and produces each record unchanged to its own
result topic: the broker's and the Python client's floor, with no features and no model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from embedded_mesh import EmbeddedMesh, embedded_mesh
from process_cpu import CpuMeter, cpu_rows, mesh_processes
from prometheus_client.parser import text_string_to_metric_families

from mlops_contracts import (
    ModelPromoted,
    PredictionMade,
    PredictionRequested,
    PredictorModelLoaded,
    TopicSpec,
    decode,
    encode,
)
from service_kit import KAFKA_PROFILES, ensure_topics

ECHO_REQUESTS = TopicSpec(
    name="bench.echo.requests",
    partitions=12,
    key_field="customer_id",
    event_types=(PredictionRequested,),
    retention=timedelta(hours=1),
    description="benchmark echo input",
)
ECHO_RESULTS = TopicSpec(
    name="bench.echo.results",
    partitions=12,
    key_field="customer_id",
    event_types=(PredictionRequested,),
    retention=timedelta(hours=1),
    description="benchmark echo output",
)
ANSWER_TYPE = PredictionMade.event_type.encode()
_REQUEST_PATH = KAFKA_PROFILES["dev"].consumer_options(request_path=True)
CLIENT = {
    name: _REQUEST_PATH[name]
    for name in ("fetch_max_wait_ms", "session_timeout_ms", "heartbeat_interval_ms")
}
"""The benchmark's own consumers (the echo's, the result readers): the client settings of
the mesh's request path, so the echo is the broker's floor for the same hops."""


@dataclass
class Step:
    """One fixed-rate run: what was sent when, and what came back when."""

    sent_at: dict[str, float] = field(default_factory=dict)
    answered_at: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    versions: dict[int, int] = field(default_factory=dict)
    send_seconds: float = 0.0

    def latencies_ms(self, since: float = 0.0, until: float = float("inf")) -> list[float]:
        return sorted(
            (self.answered_at[r] - sent) * 1000
            for r, sent in self.sent_at.items()
            if r in self.answered_at and since <= sent < until
        )


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(share * len(values)))]


async def reader(
    bootstrap: str, topic: str, step_ref: list[Step], stop: asyncio.Event, echo: bool
) -> None:
    """Record each answer's arrival in the current step. Both paths read only the JSON of
    each answer (no contract validation): the load generator's process shares the 2 cores,
    so it does the same work per answer whichever path it measures."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **CLIENT,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=50, max_records=5000)
            now = time.perf_counter()
            step = step_ref[0]
            for records in batches.values():
                for record in records:
                    if not echo and dict(record.headers).get("ce_type") != ANSWER_TYPE:
                        continue  # not an answer (the results topic carries only these)
                    answer = json.loads(record.value)
                    request_id = answer["request_id"]
                    if request_id not in step.sent_at or request_id in step.answered_at:
                        continue
                    step.answered_at[request_id] = now
                    if echo:
                        continue
                    if answer["status"] != "ok":
                        step.errors += 1
                    elif (version := answer.get("model_version")) is not None:
                        step.versions[version] = step.versions.get(version, 0) + 1
    finally:
        await consumer.stop()


async def generate(
    producer: AIOKafkaProducer,
    topic: str,
    step: Step,
    rate: float,
    seconds: float,
    customers: list[str],
) -> None:
    """Publish at ``rate``/s for ``seconds`` (0 = as fast as possible), in 10 ms ticks."""
    started = time.perf_counter()
    sent = 0
    total = int(rate * seconds) if rate > 0 else 10**9
    pending = []
    while sent < total and time.perf_counter() - started < seconds:
        due = total if rate <= 0 else min(total, int((time.perf_counter() - started) * rate) + 1)
        burst = min(due - sent, 2000)
        for _ in range(burst):
            request = PredictionRequested(
                request_id=f"b-{uuid.uuid4().hex[:16]}",
                customer_id=customers[sent % len(customers)],
                requested_at=datetime.now(UTC),
            )
            wire = encode(request, source="urn:bench")
            step.sent_at[request.request_id] = time.perf_counter()
            pending.append(
                await producer.send(topic, wire.value, key=wire.key, headers=list(wire.headers))
            )
            sent += 1
        if len(pending) > 5000:
            await asyncio.gather(*pending)
            pending.clear()
        await asyncio.sleep(0.01 if rate > 0 else 0)
    await asyncio.gather(*pending)
    step.send_seconds = time.perf_counter() - started


async def settle(step: Step, wait_s: float) -> None:
    """Wait until every request is answered, or ``wait_s`` after the last was sent."""
    deadline = time.perf_counter() + wait_s
    # Polling: the answers are counted by the reader task; nothing to wait on directly.
    while len(step.answered_at) < len(step.sent_at) and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


def row(label: str, rate: float, step: Step) -> list[str]:
    latencies = step.latencies_ms()
    answered = len(step.answered_at)
    if answered:
        first = min(step.sent_at.values())
        span = max(step.answered_at.values()) - first
        achieved = answered / span if span > 0 else float("nan")
    else:
        achieved = 0.0
    return [
        label,
        "max" if rate <= 0 else f"{rate:,.0f}",
        f"{len(step.sent_at):,}",
        f"{answered:,}",
        f"{achieved:,.0f}",
        f"{percentile(latencies, 0.5):.1f}",
        f"{percentile(latencies, 0.99):.1f}",
        f"{step.errors}",
    ]


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=True)]
    lines = [title, " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


async def monitor_caught_up(mesh: EmbeddedMesh, quiet_s: float = 2.0) -> float:
    """Wait until the monitor has read every answer so far (its count of consumed
    predictions unchanged for ``quiet_s``); the seconds waited. A step that outran the
    predictors leaves the monitor a backlog, and the next measurement would share the
    machine with it."""
    started = time.perf_counter()
    last, unchanged_since = -1.0, started
    async with httpx.AsyncClient(timeout=5) as client:
        while time.perf_counter() - unchanged_since < quiet_s:
            text = (await client.get(f"{mesh.url(5)}/metrics")).text
            count = sum(
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "monitor_predictions_total"
            )
            if count != last:
                last, unchanged_since = count, time.perf_counter()
            await asyncio.sleep(0.5)
    return time.perf_counter() - started - quiet_s


async def run_steps(
    bootstrap: str,
    request_topic: str,
    result_topic: str,
    rates: list[float],
    seconds: float,
    customers: list[str],
    *,
    echo: bool,
    label: str,
    meter: CpuMeter | None = None,
    spent: list[tuple[dict[str, float], int]] | None = None,
) -> list[list[str]]:
    """One row per rate. With a ``meter``, ``spent`` gets each step's CPU seconds by
    process and its answers, from its first request to its last answer."""
    step_ref = [Step()]
    stop = asyncio.Event()
    listening = asyncio.create_task(reader(bootstrap, result_topic, step_ref, stop, echo))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks=1)
    await producer.start()
    rows = []
    try:
        await asyncio.sleep(4.0)  # the reader's group join (Tansu holds JoinGroup ~3 s)
        # Warm-up: first batches pay for connections, metadata and lazy imports.
        await generate(producer, request_topic, step_ref[0], 200, 2.0, customers)
        await settle(step_ref[0], 10)
        for rate in rates:
            step_ref[0] = Step()
            if meter:
                meter.start()
            await generate(producer, request_topic, step_ref[0], rate, seconds, customers)
            await settle(step_ref[0], 15)
            rows.append(row(label, rate, step_ref[0]))
            # Drain what is left (the unpaced step overfills) so the next measurement,
            # echo or swap, does not share the machine with a backlog.
            await settle(step_ref[0], 300)
            if meter and spent is not None:
                spent.append((meter.stop(), len(step_ref[0].answered_at)))
            print("  " + " | ".join(rows[-1]), flush=True)
    finally:
        stop.set()
        await listening
        await producer.stop()
    return rows


async def swap_under_load(
    mesh: EmbeddedMesh, rate: float, seconds: float, customers: list[str]
) -> list[str]:
    """Load at ``rate``; a third of the way in, a new version is promoted (same weights,
    registered anew, so the whole fetch-verify-warm-swap path runs)."""
    from model_store import CHAMPION, ModelStore

    bootstrap = mesh.bootstrap_servers
    models = ModelStore(mesh.url(20))
    champion = models.by_alias("churn", CHAMPION)
    if champion is None:
        raise RuntimeError("the mesh has no champion: the bootstrap did not promote one")
    step_ref = [Step()]
    stop = asyncio.Event()
    listening = asyncio.create_task(
        reader(bootstrap, "predictions.results", step_ref, stop, echo=False)
    )
    loaded: list[tuple[float, Any]] = []
    watching = asyncio.create_task(watch_loads(bootstrap, loaded, stop))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks=1)
    await producer.start()
    try:
        await asyncio.sleep(4.0)
        # Warm-up, as in run_steps: the first batches pay for connections and lazy imports.
        await generate(producer, "predictions.requests", step_ref[0], 200, 2.0, customers)
        await settle(step_ref[0], 10)
        # The new version is registered before the load (training registers it long before
        # a promotion): registering is MLflow work in this process, which would slow the
        # load generator and its reader inside the measured swap.
        new_version = await asyncio.to_thread(reregister, models, champion)
        new_info = await asyncio.to_thread(models.version, "churn", new_version)
        step_ref[0] = Step()
        load = asyncio.create_task(
            generate(producer, "predictions.requests", step_ref[0], rate, seconds, customers)
        )
        await asyncio.sleep(seconds / 3)
        promoted_at = time.perf_counter()
        await publish_promotion(producer, new_info)
        await load
        await settle(step_ref[0], 15)
    finally:
        stop.set()
        await listening
        await watching
        await producer.stop()
    step = step_ref[0]
    rolled = [t for t, event in loaded if event.model_version == new_version]
    swap_end = max(rolled) if len(rolled) >= 2 else float("inf")
    steady = step.latencies_ms(until=promoted_at)
    during = step.latencies_ms(since=promoted_at, until=swap_end + 1.0)
    missing = len(step.sent_at) - len(step.answered_at)
    return [
        f"{rate:,.0f}",
        f"{len(step.sent_at):,}",
        f"{step.errors + missing}",
        f"{percentile(steady, 0.99):.1f}",
        f"{percentile(during, 0.99):.1f}",
        f"{(swap_end - promoted_at):.1f}" if rolled else "not rolled",
        ", ".join(f"v{v}: {n:,}" for v, n in sorted(step.versions.items())),
    ]


def reregister(models: Any, champion: Any) -> int:
    """A new version from the champion's artifact (as a retrain with the same result), made
    the champion in the registry; the predictors swap when its promotion is published."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = models.download(champion.source, Path(scratch))
        run_id = models.start_run("churn", "bench-swap", {"purpose": "benchmark"})
        source = models.log_model(run_id, folder)
        models.end_run(run_id)
    info = models.register(
        "churn",
        run_id=run_id,
        source=source,
        sha256=champion.sha256,
        spec_sha256=champion.tags["spec_sha256"],
        tags={"purpose": "benchmark swap"},
    )
    models.set_alias("churn", "champion", info.version)
    return int(info.version)


async def publish_promotion(producer: AIOKafkaProducer, info: Any) -> None:
    """What the registry publishes when it promotes ``info`` (a registered version)."""
    version = int(info.version)
    event = ModelPromoted(
        model_name="churn",
        model_version=version,
        model_uri=info.source,
        sha256=info.sha256,
        gate_metric="roc_auc",
        challenger_metric=0.0,
        min_margin=0.0,
        holdout_rows=0,
        previous_version=version - 1,
        promoted_at=datetime.now(UTC),
    )
    wire = encode(event, source="urn:bench")
    await producer.send_and_wait(wire.topic, wire.value, key=wire.key, headers=list(wire.headers))


async def watch_loads(bootstrap: str, into: list[tuple[float, Any]], stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        "predictor.status",
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        **CLIENT,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            for records in (await consumer.getmany(timeout_ms=50)).values():
                for record in records:
                    event = decode(record.value, record.headers, key=record.key).data
                    if isinstance(event, PredictorModelLoaded):
                        into.append((time.perf_counter(), event))
    finally:
        await consumer.stop()


async def echo_main(bootstrap: str) -> None:
    """The echo process: each request record, unchanged, to the echo result topic."""
    consumer = AIOKafkaConsumer(
        ECHO_REQUESTS.name,
        bootstrap_servers=bootstrap,
        group_id="bench-echo",
        auto_offset_reset="earliest",
        **CLIENT,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks=1)
    await consumer.start()
    await producer.start()
    try:
        while True:
            for records in (await consumer.getmany(timeout_ms=100, max_records=2000)).values():
                sends = [
                    await producer.send(
                        ECHO_RESULTS.name, r.value, key=r.key, headers=list(r.headers)
                    )
                    for r in records
                ]
                await asyncio.gather(*sends)
    finally:
        await consumer.stop()
        await producer.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="500,1000,2000,4000,0", help="req/s; 0 = max")
    parser.add_argument("--seconds", type=float, default=10.0, help="per rate step")
    parser.add_argument("--swap-rate", type=float, default=1000.0)
    parser.add_argument("--swap-seconds", type=float, default=30.0)
    parser.add_argument("--echo", metavar="BOOTSTRAP", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        await echo_main(args.echo)
        return
    rates = [float(r) for r in args.rates.split(",")]
    with embedded_mesh(bootstrap=True, retraining=False, predictor_replicas="2") as mesh:
        print(f"mesh up (with the bootstrap champion) in {mesh.up_seconds:.1f} s")
        bootstrap = mesh.bootstrap_servers
        await ensure_topics(bootstrap, [ECHO_REQUESTS, ECHO_RESULTS])
        customers = [f"C-{n:06d}" for n in range(1, 1001)]

        async def caught_up() -> None:
            waited = await monitor_caught_up(mesh)
            if waited > 1:
                print(f"  (waited {waited:.0f} s for the monitor to read the backlog)")

        # The broker's fetches slow down as its in-memory topics grow, so the order is
        # part of the method: the swap first (steady state and swap in one fresh run),
        # then each rate for the predictors and at once for the echo, so both paths of a
        # row meet the same broker.
        print("swap under load:")
        swap = await swap_under_load(mesh, args.swap_rate, args.swap_seconds, customers)
        echo = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--echo", bootstrap, env={**os.environ}
        )
        meter = CpuMeter(
            mesh_processes(mesh.home) | {os.getpid(): "load generator", echo.pid: "echo"}
        )
        served: list[list[str]] = []
        echoed: list[list[str]] = []
        served_cpu: list[tuple[dict[str, float], int]] = []
        echoed_cpu: list[tuple[dict[str, float], int]] = []
        try:
            paths = (
                (served, served_cpu, "predictions.requests", "predictions.results", False,
                 "predictors x2"),
                (echoed, echoed_cpu, ECHO_REQUESTS.name, ECHO_RESULTS.name, True,
                 "aiokafka echo"),
            )  # fmt: skip
            for rate in rates:
                for rows, spent, requests, results, is_echo, label in paths:
                    await caught_up()
                    rows += await run_steps(
                        bootstrap, requests, results, [rate], args.seconds, customers,
                        echo=is_echo, label=label, meter=meter, spent=spent,
                    )  # fmt: skip
        finally:
            echo.terminate()
            await echo.wait()
    print()
    header = ["path", "target/s", "sent", "answered", "achieved/s", "p50 ms", "p99 ms", "errors"]
    print(
        table(
            "Streaming (results topic), same broker, same load generator", header, served + echoed
        )
    )
    ratios = []
    for ours, theirs in zip(served, echoed, strict=True):
        ours_rate = float(ours[4].replace(",", "") or 0)
        their_rate = float(theirs[4].replace(",", "") or 0)
        ratios.append(f"{ours[1]}: {ours_rate / their_rate:.2f}x" if their_rate else "-")
    print("predictors / echo achieved rate: " + ", ".join(ratios))
    if served_cpu:
        print()
        print(
            table(
                f"CPU per answer (us) at {served[-1][1]}/s, first request to last answer",
                ["process", "predictors x2", "aiokafka echo"],
                cpu_rows([served_cpu[-1], echoed_cpu[-1]], meter),
            )
        )
    print()
    print(
        table(
            "Model swap under load (a new version promoted a third of the way in)",
            [
                "rate/s",
                "sent",
                "failed+missing",
                "p99 steady ms",
                "p99 swap ms",
                "swap s",
                "answers",
            ],
            [swap],
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
