"""`mlops up | down | status | bootstrap | train | simulate`: the embedded mesh from the
command line."""

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from mesh.control import Mesh, MeshError, format_status
from mesh.model_loop import MODEL_NAME, ModelLoopError, request_training
from mesh.settings import MeshSettings
from mlops_contracts import ModelPromoted, TrainingReason, TrainingRequested


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mlops`` command."""
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="boot the broker and every service, wait until ready")
    commands.add_parser("down", help="stop every process cleanly (SIGTERM, drain, commit)")
    commands.add_parser("status", help="each process's state, readiness and memory")
    commands.add_parser("endpoints", help="where each HTTP endpoint listens")
    commands.add_parser(
        "bootstrap", help="train and promote a first champion if the registry has none"
    )
    train = commands.add_parser(
        "train",
        help="request a training run by hand and follow it to the gate's decision",
        description="Publish a TrainingRequested (reason: manual) for the labelled data "
        "observed in the window, then narrate its epochs, the registered version and the "
        "promotion gate's decision. Exit status 0 when promoted, 3 when rejected.",
    )
    train.add_argument(
        "--days", type=float, default=30.0, help="length of the data window, days (30)"
    )
    train.add_argument(
        "--holdout-days",
        type=float,
        default=2.0,
        help="the window ends this many days ago, leaving the newest labels to the gate (2)",
    )
    train.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (600)")
    commands.add_parser(
        "simulate",
        help="stream simulated customers through ingest (see `mlops simulate --help`)",
        add_help=False,
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "simulate":
        from simulator.cli import main as simulate  # imported only when asked for

        return int(simulate(rest))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        mesh = Mesh(MeshSettings())
    except ValidationError as error:
        print(f"invalid MLOPS_MESH_* settings:\n{error}", file=sys.stderr)
        return 2
    try:
        if args.command == "up":
            mesh.up()
        elif args.command == "down":
            mesh.down()
        elif args.command == "bootstrap":
            mesh.ensure_champion()
        elif args.command == "train":
            return train_by_hand(mesh, args.days, args.holdout_days, args.timeout)
        elif args.command == "status":
            print(format_status(mesh.status()))
        else:
            print(mesh.endpoints())
    except MeshError as error:
        print(f"mlops {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


def train_by_hand(mesh: Mesh, days: float, holdout_days: float, timeout: float) -> int:
    """`mlops train`: one manual training request, narrated."""
    now = datetime.now(UTC).replace(microsecond=0)
    request = TrainingRequested(
        idempotency_key=f"manual-{MODEL_NAME}-{now:%Y%m%dT%H%M%S}",
        model_name=MODEL_NAME,
        reason=TrainingReason.MANUAL,
        data_window_start=now - timedelta(days=holdout_days + days),
        data_window_end=now - timedelta(days=holdout_days),
        requested_by="mlops-train",
        requested_at=now,
    )
    try:
        decision = asyncio.run(request_training(mesh.loop_endpoints(), request, print, timeout))
    except (ModelLoopError, OSError) as error:
        print(f"mlops train: {error}", file=sys.stderr)
        return 1
    return 0 if isinstance(decision, ModelPromoted) else 3


if __name__ == "__main__":
    sys.exit(main())
