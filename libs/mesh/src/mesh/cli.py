"""`mlops up | down | status | migrate | bootstrap | train | demo | project | load |
simulate`: the embedded mesh from the command line."""

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from pydantic import ValidationError

from mesh.control import Mesh, MeshError, format_status
from mesh.demo import DRIFTS, DemoError, DemoPlan, Scenario, demo_mesh_settings, run_demo
from mesh.model_loop import MODEL_NAME, ModelLoopError, bootstrap_history_end, request_training
from mesh.plan import migrate_databases
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
    migrate = commands.add_parser(
        "migrate",
        help="upgrade every service's state database to this release's schema",
        description="Apply the Alembic revisions of each service's database (SQLite under "
        "the mesh's home, or the database its settings name) and say what changed. Each "
        "service also migrates when it starts; outside the embedded mesh, run "
        "`python -m <service> migrate` with the service's settings.",
    )
    migrate.add_argument("services", nargs="*", help="only these services (default: all)")
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
    demo_command = commands.add_parser(
        "demo",
        help="boot the mesh if needed, stream traffic, inject drift, narrate the loop closing",
        description="Stream simulated customers through ingest and prediction requests to "
        "the predictors, inject drift after a warm-up, and narrate the loop (drift detected, "
        "training requested, epochs, gate decision, every replica rolled) until the new "
        "champion serves. Exit status 0 when the loop closed, 1 when it did not in time.",
    )
    demo_command.add_argument(
        "--scenario",
        choices=sorted(DRIFTS),
        default="covariate",
        help="covariate: the customer base changes (data drift); concept: only what the "
        "features mean for churn changes (seen through delayed labels). Default covariate.",
    )
    demo_command.add_argument(
        "--warmup", type=float, default=20.0, help="seconds before drift (20)"
    )
    demo_command.add_argument(
        "--timeout", type=float, default=300.0, help="seconds after the drift to give up (300)"
    )
    demo_command.add_argument("--stop", action="store_true", help="stop the demo mesh")
    commands.add_parser(
        "project",
        help="model projects: init from a CSV, check (see `mlops project --help`)",
        add_help=False,
    )
    commands.add_parser(
        "load",
        help="a table's rows through ingest as a project's records and labels "
        "(see `mlops load --help`)",
        add_help=False,
    )
    commands.add_parser(
        "simulate",
        help="stream simulated customers through ingest (see `mlops simulate --help`)",
        add_help=False,
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "simulate":
        from simulator.cli import main as simulate  # imported only when asked for

        return int(simulate(rest))
    if args.command == "load":
        from mesh.load_command import main as load  # imported only when asked for

        return load(rest)
    if args.command == "project":
        from mesh.project_commands import main as project  # imported only when asked for

        return project(rest)
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
        elif args.command == "demo":
            return demo(args.scenario, args.warmup, args.timeout, stop=args.stop)
        elif args.command == "status":
            print(format_status(mesh.status()))
        elif args.command == "migrate":
            print("\n".join(migrate_databases(mesh.programs, args.services)))
        else:
            print(mesh.endpoints())
    except MeshError as error:
        print(f"mlops {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


def train_by_hand(mesh: Mesh, days: float, holdout_days: float, timeout: float) -> int:
    """`mlops train`: one manual training request, narrated (days of the mesh's business)."""
    now = datetime.now(UTC).replace(microsecond=0)
    day = mesh.settings.day
    request = TrainingRequested(
        idempotency_key=f"manual-{MODEL_NAME}-{now:%Y%m%dT%H%M%S}",
        model_name=MODEL_NAME,
        reason=TrainingReason.MANUAL,
        data_window_start=now - (holdout_days + days) * day,
        data_window_end=now - holdout_days * day,
        requested_by="mlops-train",
        requested_at=now,
    )
    try:
        decision = asyncio.run(request_training(mesh.loop_endpoints(), request, print, timeout))
    except (ModelLoopError, OSError) as error:
        print(f"mlops train: {error}", file=sys.stderr)
        return 1
    return 0 if isinstance(decision, ModelPromoted) else 3


def demo(scenario: Scenario, warmup_s: float, timeout_s: float, *, stop: bool) -> int:
    """`mlops demo`: the closed loop, narrated, on the demo mesh (booted first if needed)."""
    mesh = Mesh(demo_mesh_settings())
    if stop:
        mesh.down()
        return 0
    settings = mesh.settings
    print(
        f"Demo mesh in {settings.home_dir} (a business day lasts {settings.day_seconds:g} s); "
        "`make demo-down` stops it."
    )
    mesh.up()
    monitor = next(p for p in mesh.programs if p.name == "monitor")
    print(f"Drift dashboard: {monitor.url}/dashboard  (MLflow: {settings.mlflow_url})")
    plan = DemoPlan(
        scenario=scenario,
        customers=settings.bootstrap_customers,
        replicas=settings.predictor_replicas,
        day_seconds=settings.day_seconds,
        history_end=bootstrap_history_end(settings.bootstrap_state_path),
        history_days=settings.bootstrap_history_days,
        state=settings.demo_state_path,
        warmup_s=warmup_s,
        timeout_s=timeout_s,
    )
    try:
        asyncio.run(run_demo(mesh.loop_endpoints(), plan, print))
    except (DemoError, ModelLoopError, OSError) as error:
        print(f"mlops demo: {error}", file=sys.stderr)
        return 1
    print(f"Watch it again on the dashboard: {monitor.url}/dashboard")
    return 0


if __name__ == "__main__":
    sys.exit(main())
