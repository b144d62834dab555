"""``python -m retrain_trigger.request``: request one training through the trigger's
decision ledger, publish it, and exit.

What a scheduler runs (the Kubernetes CronJob, cron, a CI job) or a person at a shell. It
uses the service's own settings (``RETRAIN_TRIGGER_*``: Kafka with SASL, and the service's
state database, so it shares the service's decision ledger): the request is judged like a
``POST /v1/trigger`` (no window counting, cooldown or label minimum, but not while another
training is in flight unless ``--force``), recorded, then published. The idempotency key
makes a re-run of the same job harmless: it returns the recorded decision (republishing its
event, with the same event id, if it was never acknowledged), and the trainer starts no
second run for a key it knows.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from mlops_contracts import ContractError, TrainingReason
from retrain_trigger.adapters import ledger
from retrain_trigger.adapters.ledger import StoredDecision
from retrain_trigger.domain.policy import ExplicitRequest, Outcome
from retrain_trigger.main import build
from retrain_trigger.settings import RetrainTriggerSettings
from service_kit import ServiceRuntime, UnknownModelError

REQUESTED_BY = "retrain-trigger.request"

EXIT_REQUESTED = 0
EXIT_NOT_PUBLISHED = 1
EXIT_INVALID = 2
EXIT_SUPPRESSED = 3


def build_parser() -> argparse.ArgumentParser:
    """The command line (``--help`` explains each option)."""
    parser = argparse.ArgumentParser(
        prog="python -m retrain_trigger.request",
        description="Request one training through the retrain trigger's policy and publish "
        "the TrainingRequested to training.requested.",
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
        "--window-days", type=float, default=None, help="length of the data window (the setting)"
    )
    parser.add_argument(
        "--holdout-days",
        type=float,
        default=None,
        help="the window ends this long ago, leaving fresh labels to the promotion gate "
        "(the setting)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="request even while another training is in flight",
    )
    return parser


def explicit_request(args: argparse.Namespace) -> ExplicitRequest:
    """The request ``args`` describe (raises ValueError when it cannot exist)."""
    return ExplicitRequest(
        model_name=args.model,
        idempotency_key=args.idempotency_key,
        reason=TrainingReason(args.reason),
        force=args.force,
        window_days=args.window_days,
        holdout_days=args.holdout_days,
        requested_by=REQUESTED_BY,
    )


async def decide_and_publish(
    settings: RetrainTriggerSettings, request: ExplicitRequest
) -> StoredDecision:
    """Judge ``request`` with the service's own components (its database, its outbox, its
    Kafka settings) and publish the decision's announcement."""
    runtime = ServiceRuntime(settings, migrations=[ledger.MIGRATIONS])
    try:
        await runtime.connect()
        trigger = await build(settings, runtime)
        return await trigger.on_explicit(request)
    finally:
        await runtime.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit status 0 requested, 3 suppressed (a training is in flight), 2 bad
    arguments or settings, 1 not decided or not published (database or broker down)."""
    args = build_parser().parse_args(argv)
    try:
        settings = RetrainTriggerSettings()
        request = explicit_request(args)
        settings.policy()
    except (ValidationError, ContractError, ValueError) as error:
        print(f"retrain_trigger.request: invalid request or settings:\n{error}", file=sys.stderr)
        return EXIT_INVALID
    try:
        stored = asyncio.run(decide_and_publish(settings, request))
    except UnknownModelError as error:
        print(f"retrain_trigger.request: {error}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as error:  # any failure to reach the database or the broker: say so
        print(f"retrain_trigger.request: not published: {error}", file=sys.stderr)
        return EXIT_NOT_PUBLISHED
    decision = stored.decision
    if decision.announce and not stored.published:
        print(
            f"retrain_trigger.request: {decision.decision_id} recorded but not published yet "
            "(the broker did not acknowledge); the service's outbox relay publishes it",
            file=sys.stderr,
        )
        return EXIT_NOT_PUBLISHED
    if decision.outcome is Outcome.SUPPRESSED:
        print(
            f"TrainingSuppressed {decision.decision_id} ({decision.reason}): {decision.detail}",
            file=sys.stderr,
        )
        return EXIT_SUPPRESSED
    assert decision.data_window_start is not None
    assert decision.data_window_end is not None
    print(
        f"TrainingRequested {decision.idempotency_key} ({decision.signal}, window "
        f"{decision.data_window_start:%Y-%m-%d %H:%M} .. {decision.data_window_end:%Y-%m-%d %H:%M}"
        f") published as event {decision.event_id}"
    )
    return EXIT_REQUESTED


if __name__ == "__main__":
    sys.exit(main())
