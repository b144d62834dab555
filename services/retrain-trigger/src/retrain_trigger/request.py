"""``python -m retrain_trigger.request``: publish one ``TrainingRequested`` and exit.

What a scheduler runs (the Kubernetes CronJob, cron, a CI job) to request a scheduled or
manual retraining. It publishes the very event the retrain trigger's policy publishes, with
the service's own Kafka settings (``RETRAIN_TRIGGER_*``, SASL included), and exits 0 once
the broker acknowledged it. The idempotency key makes a re-run of the same job harmless:
the trainer starts no second run for a key it knows.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from mlops_contracts import ContractError, TrainingReason, TrainingRequested, service_source
from retrain_trigger.settings import RetrainTriggerSettings
from service_kit import EventPublisher, create_broker


def build_parser() -> argparse.ArgumentParser:
    """The command line (``--help`` explains each option)."""
    parser = argparse.ArgumentParser(
        prog="python -m retrain_trigger.request",
        description="Publish one TrainingRequested to training.requested and exit.",
    )
    parser.add_argument(
        "--reason",
        choices=[TrainingReason.SCHEDULE.value, TrainingReason.MANUAL.value],
        default=TrainingReason.SCHEDULE.value,
        help="why the training is requested (schedule)",
    )
    parser.add_argument(
        "--idempotency-key",
        required=True,
        help="unique per request: the same key again starts no second run (e.g. the job name)",
    )
    parser.add_argument("--model", default="churn", help="registered model to train (churn)")
    parser.add_argument(
        "--window-days", type=float, default=30.0, help="length of the data window (30)"
    )
    parser.add_argument(
        "--holdout-days",
        type=float,
        default=2.0,
        help="the window ends this long ago, leaving fresh labels to the promotion gate (2)",
    )
    return parser


def training_request(args: argparse.Namespace, now: datetime) -> TrainingRequested:
    """The event ``args`` ask for, with its window ending ``holdout_days`` before ``now``."""
    end = now - timedelta(days=args.holdout_days)
    return TrainingRequested(
        idempotency_key=args.idempotency_key,
        model_name=args.model,
        reason=TrainingReason(args.reason),
        data_window_start=end - timedelta(days=args.window_days),
        data_window_end=end,
        requested_by="retrain-trigger.request",
        requested_at=now,
    )


async def publish(settings: RetrainTriggerSettings, request: TrainingRequested) -> str:
    """Publish ``request``; returns its event id once the broker acknowledged it."""
    broker = create_broker(settings, CollectorRegistry())
    await broker.connect()
    try:
        publisher = EventPublisher(
            broker, source=service_source(settings.service_name, settings.instance_id)
        )
        return await publisher.publish(request)
    finally:
        await broker.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit status 0 published, 2 bad arguments or settings, 1 not published."""
    args = build_parser().parse_args(argv)
    try:
        settings = RetrainTriggerSettings()
        request = training_request(args, datetime.now(UTC))
    except (ValidationError, ContractError, ValueError) as error:
        print(f"retrain_trigger.request: invalid request or settings:\n{error}", file=sys.stderr)
        return 2
    try:
        event_id = asyncio.run(publish(settings, request))
    except Exception as error:  # any failure to reach the broker: say so, exit non-zero
        print(f"retrain_trigger.request: not published: {error}", file=sys.stderr)
        return 1
    print(
        f"TrainingRequested {request.idempotency_key} ({request.reason}, window "
        f"{request.data_window_start:%Y-%m-%d %H:%M} .. {request.data_window_end:%Y-%m-%d %H:%M}"
        f") published as event {event_id}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
