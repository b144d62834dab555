"""Smoke test of a running compose mesh, through its published ports only.

1. every service answers ``/health`` (and ``/ready`` where it needs no model); the churn
   example's project is applied (``mlops project apply examples/churn``);
2. the bootstrap of the embedded launcher (``mesh.model_loop``): simulated history through
   ingest's ``POST /v1/records`` -> features -> TrainingRequested -> trained -> promoted;
3. both predictor replicas report the champion on ``predictor.status`` and become ready;
4. a prediction through the gateway's ``POST /v1/predict`` served by that version;
5. a second training on the same window is promoted (a tie passes the gate) and rolls both
   replicas to the new version; a prediction through ``POST /v1/models/churn/predict`` (the
   gateway learnt the project from Kafka) is then served by it;
6. every service serves ``/metrics`` with the series the alerts and the dashboard query.

Run from the repository's .venv (``make test-containers`` does)::

    python compose/smoke.py --port-base 8700 --kafka 127.0.0.1:19092

``--bootstrap-only`` (``make compose-up``): only the waits and, without a champion, step 2.
Tokens come from ``GATEWAY_API_TOKEN`` and ``INGEST_API_TOKEN``. ``--kafka-alias kafka:9092``
maps the broker's advertised address to ``--kafka`` (Tansu has one listener, see
compose/podman/docker-compose.podman.yml). Exits 0 when every step passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiokafka.client
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from mesh.model_loop import (
    MODEL_NAME,
    BootstrapPlan,
    Endpoints,
    ModelLoopError,
    bootstrap,
    champion_version,
    request_training,
)
from mesh.project_commands import apply
from mlops_contracts import (
    ModelPromoted,
    PredictorModelLoaded,
    TrainingReason,
    TrainingRequested,
    decode,
    topic_for,
)
from mlops_projects import read_project

REPLICAS = ("predictor-1", "predictor-2")
ROOT = Path(__file__).resolve().parents[1]


def say(line: str) -> None:
    """One line of the narration, timestamped."""
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def alias_kafka(advertised: str, reachable: str) -> None:
    """Connect to ``reachable`` whenever the broker's metadata says ``advertised``."""
    advertised_host, advertised_port = advertised.rsplit(":", 1)
    host, port = reachable.rsplit(":", 1)
    original = aiokafka.client.create_conn

    async def create_conn(conn_host: str, conn_port: int, **kwargs: Any) -> Any:
        if conn_host == advertised_host and int(conn_port) == int(advertised_port):
            conn_host, conn_port = host, int(port)
        return await original(conn_host, conn_port, **kwargs)

    aiokafka.client.create_conn = create_conn  # type: ignore[assignment]


async def wait_http(client: httpx.AsyncClient, name: str, url: str, timeout_s: float) -> None:
    """Until ``url`` answers 2xx."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = await client.get(url, timeout=5)
            if response.is_success:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as error:
            last = repr(error)
        await asyncio.sleep(2)
    raise ModelLoopError(f"{name}: {url} not ready within {timeout_s:.0f} s ({last})")


async def wait_replicas(bootstrap_servers: str, version: int, timeout_s: float) -> None:
    """Until every predictor replica has announced that it serves ``version``."""
    topic = topic_for(PredictorModelLoaded).name
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    serving: dict[str, int] = {}
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    headers = [(key, value) for key, value in record.headers]
                    event = decode(record.value, headers).data
                    if isinstance(event, PredictorModelLoaded):
                        serving[event.replica_id] = event.model_version
            if all(serving.get(replica) == version for replica in REPLICAS):
                say(f"  both replicas serve version {version}: {serving}")
                return
    finally:
        await consumer.stop()
    raise ModelLoopError(f"replicas did not all load version {version}: {serving}")


# Series that compose/prometheus/alerts.yml and the Grafana dashboard query, by service.
EXPECTED_METRICS = {
    "gateway": ("gateway_predictions_total", "gateway_request_seconds_bucket"),
    "predictor-1": ("mlops_consumed_records_total",),
    "predictor-2": ("mlops_consumed_records_total",),
    "monitor": ("mlops_consumed_records_total",),
}


async def check_metrics(client: httpx.AsyncClient, url: dict[str, str]) -> None:
    """Every service serves /metrics (what Prometheus scrapes), with the queried series."""
    for name, service_url in url.items():
        response = await client.get(f"{service_url}/metrics", timeout=10)
        if response.status_code != 200:
            raise ModelLoopError(f"{name}: /metrics answered {response.status_code}")
        missing = [m for m in EXPECTED_METRICS.get(name, ()) if m not in response.text]
        if missing:
            raise ModelLoopError(f"{name}: /metrics lacks {missing}")
    say(f"  /metrics of all {len(url)} services, with the series the alerts and dashboard use")


async def predict(
    client: httpx.AsyncClient, gateway: str, token: str, customer: str, model: str | None = None
) -> Any:
    """One prediction through the gateway (``model``'s route, or the default model's);
    returns its JSON answer."""
    path, body = (
        (f"/v1/models/{model}/predict", {"entity_id": customer})
        if model
        else ("/v1/predict", {"customer_id": customer})
    )
    response = await client.post(
        f"{gateway}{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if response.status_code != 200:
        raise ModelLoopError(f"gateway answered {response.status_code}: {response.text[:300]}")
    return response.json()


def served_version(answer: Any) -> int | None:
    """The model version in a gateway answer (single or batch form)."""
    if isinstance(answer, dict) and "predictions" in answer:
        answer = answer["predictions"][0]
    version = answer.get("model_version") if isinstance(answer, dict) else None
    return int(version) if version is not None else None


async def run(args: argparse.Namespace) -> None:
    """Every step, in order; raises on the first failure."""
    base = "http://127.0.0.1:{}"
    ports = {
        "gateway": args.port_base,
        "ingest": args.port_base + 1,
        "feature": args.port_base + 2,
        "trainer-gpu": args.port_base + 3,
        "registry": args.port_base + 4,
        "monitor": args.port_base + 5,
        "retrain-trigger": args.port_base + 6,
        "predictor-1": args.port_base + 10,
        "predictor-2": args.port_base + 11,
    }
    url = {name: base.format(port) for name, port in ports.items()}
    gateway_token = os.environ["GATEWAY_API_TOKEN"]
    endpoints = Endpoints(
        bootstrap_servers=args.kafka_alias or args.kafka,
        ingest_url=url["ingest"],
        feature_url=url["feature"],
        registry_url=url["registry"],
        trainer_url=url["trainer-gpu"],
        mlflow_url=base.format(args.mlflow_port),
        api_token=os.environ["INGEST_API_TOKEN"],
    )
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        say("waiting for every service")
        for name, service_url in url.items():
            # A predictor is ready only once a champion exists: health first.
            path = "/health" if name.startswith("predictor") else "/ready"
            await wait_http(client, name, service_url + path, args.ready_timeout_s)
        say(f"  all {len(url)} services answer [{time.monotonic() - started:.1f} s]")
        project = read_project(ROOT / "examples" / MODEL_NAME)
        applied = await apply(project, endpoints.bootstrap_servers)
        say(f"  {applied.summary(project.name)}")

        plan = BootstrapPlan(
            customers=args.customers, history_days=args.history_days, timeout_s=args.timeout_s
        )
        if args.bootstrap_only:
            champion = champion_version(endpoints)
            if champion is not None:
                say(f"champion is version {champion}; nothing to bootstrap")
                return
        with tempfile.TemporaryDirectory() as folder:
            state = Path(folder) / "bootstrap.json"
            version = await bootstrap(endpoints, plan, say, state)
            # The end of the simulated history, which fixed the bootstrap's window.
            end = datetime.fromisoformat(json.loads(state.read_text())["end"])
        if args.bootstrap_only:
            return
        await wait_replicas(endpoints.bootstrap_servers, version, args.timeout_s)
        for replica in REPLICAS:
            await wait_http(client, replica, url[replica] + "/ready", args.ready_timeout_s)
        answer = await predict(client, url["gateway"], gateway_token, "C-000001")
        if served_version(answer) != version:
            raise ModelLoopError(f"gateway answer not from version {version}: {answer}")
        say(f"  prediction through the gateway: {answer}")

        # A second training on the bootstrap's window: the same data and seed make an equal
        # challenger, which the gate (min_margin 0: at least as good) promotes.
        now = datetime.now(UTC)
        request = TrainingRequested(
            idempotency_key=f"compose-smoke-{now:%Y%m%dT%H%M%S}",
            model_name=MODEL_NAME,
            reason=TrainingReason.MANUAL,
            data_window_start=end - timedelta(days=plan.history_days),
            data_window_end=end - timedelta(days=plan.holdout_days),
            requested_by="compose-smoke",
            requested_at=now,
        )
        decision = await request_training(endpoints, request, say, args.timeout_s)
        if not isinstance(decision, ModelPromoted):
            raise ModelLoopError(f"second training not promoted: {decision}")
        await wait_replicas(endpoints.bootstrap_servers, decision.model_version, args.timeout_s)
        answer = await predict(client, url["gateway"], gateway_token, "C-000002", MODEL_NAME)
        if served_version(answer) != decision.model_version:
            raise ModelLoopError(f"not served by version {decision.model_version}: {answer}")
        say(f"  prediction after the roll: {answer}")
        await check_metrics(client, url)
    say(f"smoke test passed in {time.monotonic() - started:.1f} s")


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-base", type=int, default=8700, help="gateway's host port")
    parser.add_argument("--mlflow-port", type=int, default=8720)
    parser.add_argument("--kafka", default="127.0.0.1:19092", help="broker on the host")
    parser.add_argument("--kafka-alias", default=None, help="advertised host:port to map")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--history-days", type=float, default=30.0)
    parser.add_argument("--ready-timeout-s", type=float, default=300.0)
    parser.add_argument("--timeout-s", type=float, default=900.0)
    parser.add_argument(
        "--bootstrap-only",
        action="store_true",
        help="wait for the services and bootstrap a champion if there is none (compose-up)",
    )
    args = parser.parse_args()
    if args.kafka_alias:
        alias_kafka(args.kafka_alias, args.kafka)
    try:
        asyncio.run(run(args))
    except ModelLoopError as error:
        say(f"SMOKE TEST FAILED: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
