"""`mlops project init | check | apply | list`: a model project from a CSV, its file
checked, applied to a running mesh, and the applied projects listed."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.errors import KafkaError

from mesh.model_loop import publish
from mesh.settings import MeshSettings
from mlops_contracts import ProjectApplied, topic_for
from mlops_contracts.projects import Project
from mlops_projects import (
    PROJECT_FILE,
    Feature,
    Inference,
    InferenceError,
    ProjectFileError,
    infer_project,
    project_file,
    read_project,
    render_project,
)
from mlops_projects.applying import ApplyPlan, plan_apply
from mlops_projects.loading import Rejected, TableError, read_rows
from service_kit import ProjectCatalog
from service_kit.kafka import read_from_start


def main(argv: list[str]) -> int:
    """Entry point of ``mlops project``."""
    parser = argparse.ArgumentParser(
        prog="mlops project", description="Model projects: your table, your label, your model."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser(
        "init",
        help="infer a project file from a CSV",
        description="Read a CSV and write a project file you can read and edit: each "
        "column's type, the entity key, the label and its positive class, the event-time "
        "column. Prints what it found and what it could not infer.",
    )
    init.add_argument("name", help="the project's (and its model's) name, e.g. credit")
    init.add_argument("--from-csv", required=True, type=Path, metavar="FILE")
    init.add_argument("--entity", required=True, metavar="COLUMN", help="the key column")
    init.add_argument("--label", required=True, metavar="COLUMN", help="the outcome column")
    init.add_argument("--positive", metavar="VALUE", help="the label value to predict")
    init.add_argument("--time", metavar="COLUMN", help="each row's event time (a history)")
    init.add_argument(
        "--out", type=Path, help="the project folder (default: projects/NAME)", metavar="DIR"
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    check = commands.add_parser(
        "check",
        help="validate a project file (and a table's rows): every problem at once",
        description="Exit status 0 when the file is a valid project (and every row of "
        "--data fits it), 2 with every problem (where in the file, and why; each rejected "
        "row's line and reasons) when not.",
    )
    check.add_argument("path", type=Path, help="a project folder or its project.yaml")
    check.add_argument(
        "--data",
        type=Path,
        metavar="FILE",
        help="also check a table's rows against the project (each bad row: line, reason)",
    )
    apply = commands.add_parser(
        "apply",
        help="register a project (or a new version of it) with a running mesh",
        description="Check the file, compare it with the version applied, and publish the "
        "new version on the projects topic, where every service learns it (no restart). "
        "Exit status 0 when applied or unchanged, 2 when the file has problems, 3 when the "
        "change is refused (it changes the served model's inputs), 1 when the mesh cannot "
        "be reached.",
    )
    apply.add_argument("path", type=Path, help="a project folder or its project.yaml")
    listing = commands.add_parser("list", help="the projects applied to a running mesh")
    for command in (apply, listing):
        command.add_argument(
            "--broker",
            metavar="HOST:PORT",
            help="the mesh's Kafka bootstrap servers (default: the embedded mesh's)",
        )
    args = parser.parse_args(argv)
    if args.command == "init":
        return init_project(args)
    if args.command == "check":
        return check_project(args.path, args.data)
    broker = args.broker or MeshSettings().bootstrap_servers
    try:
        if args.command == "apply":
            return asyncio.run(apply_project(args.path, broker))
        return asyncio.run(list_projects(broker))
    except (KafkaError, OSError) as error:
        print(
            f"mlops project {args.command}: cannot reach the mesh at {broker}: {error}",
            file=sys.stderr,
        )
        return 1


def init_project(args: argparse.Namespace) -> int:
    """`mlops project init`."""
    folder = args.out or Path("projects") / args.name
    target = folder / PROJECT_FILE
    if target.exists() and not args.force:
        print(f"mlops project init: {target} exists (--force overwrites it)", file=sys.stderr)
        return 1
    try:
        inference = infer_project(
            args.name,
            args.from_csv,
            entity=args.entity,
            label=args.label,
            positive=args.positive,
            time=args.time,
        )
    except (InferenceError, ValueError) as error:
        print(f"mlops project init: {args.from_csv}:\n{error}", file=sys.stderr)
        return 2
    project = inference.project
    # Every feature written out, so the file shows what the model reads and can be edited.
    explicit = project.model_copy(
        update={"features": tuple(Feature(name=n, field=n) for n in project.fields)}
    )
    header = [
        f"Model project {project.name}, written by `mlops project init` from "
        f"{args.from_csv.name} ({inference.rows} rows).",
        f"Edit it, then check it: `mlops project check {folder}`.",
    ]
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(render_project(explicit, header=header), encoding="utf-8")
    print(format_inference(inference))
    print(f"\nwrote {target}")
    return 0


def format_inference(inference: Inference) -> str:
    """The per-column report and the notes, as `init` prints them."""
    rows = [("column", "role", "type", "empty", "distinct", "values")]
    rows += [
        (c.header, c.role, c.kind, str(c.missing), str(c.distinct), c.summary)
        for c in inference.columns
    ]
    widths = [min(max(len(row[i]) for row in rows), 40) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(width)[:width] for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[5]
        for row in rows
    ]
    project = inference.project
    lines.insert(
        0,
        f"{inference.rows} rows, {len(inference.columns)} columns: entity "
        f"{project.entity.key}, label {project.label.field} (positive: "
        f"{project.label.positive}), "
        + (f"history by {project.time_column}" if project.time_column else "a snapshot"),
    )
    lines += [f"note: {note}" for note in inference.notes]
    return "\n".join(lines)


def check_project(path: Path, data: Path | None = None) -> int:
    """`mlops project check`: the file, and with ``data`` a table's rows."""
    try:
        project = read_project(path)
    except ProjectFileError as error:
        print(error, file=sys.stderr)
        return 2
    features = project.inputs
    print(
        f"{project_file(path)}: project {project.name} is valid: {len(project.fields)} "
        f"fields, {len(features)} features, label {project.label.field} "
        f"(positive: {project.label.positive}); input signature "
        f"{project.signature_fingerprint()[:12]}"
    )
    return 0 if data is None else check_rows(project, data)


SHOWN_REJECTIONS = 20


def check_rows(project: Project, data: Path) -> int:
    """Every row of ``data`` read for ``project``: a summary, the first rejected rows with
    their line and reasons; exit status 2 when any row is rejected."""
    accepted = labelled = positive = 0
    rejected: list[Rejected] = []
    try:
        for row in read_rows(project, data, loaded_at=datetime.now(UTC)):
            if isinstance(row, Rejected):
                rejected.append(row)
                continue
            accepted += 1
            if row.outcome is not None:
                labelled += 1
                positive += row.outcome.positive
    except TableError as error:
        print(f"mlops project check: {error}", file=sys.stderr)
        return 2
    print(
        f"{data}: {accepted + len(rejected)} rows: {accepted} accepted ({labelled} with a "
        f"label, {positive} positive), {len(rejected)} rejected"
    )
    for rejection in rejected[:SHOWN_REJECTIONS]:
        print(f"  {rejection}", file=sys.stderr)
    if len(rejected) > SHOWN_REJECTIONS:
        print(f"  ... and {len(rejected) - SHOWN_REJECTIONS} more", file=sys.stderr)
    return 2 if rejected else 0


async def applied_projects(broker: str) -> dict[str, ProjectApplied]:
    """The newest applied version of every project on the mesh's projects topic."""
    options = {"bootstrap_servers": broker}
    records = [r async for r in read_from_start(options, [topic_for(ProjectApplied).name])]
    return ProjectCatalog.from_records(records).applied_projects


async def apply_project(path: Path, broker: str) -> int:
    """`mlops project apply`."""
    try:
        project = read_project(path)
    except ProjectFileError as error:
        print(error, file=sys.stderr)
        return 2
    plan = await apply(project, broker)
    print(plan.summary(project.name), file=sys.stderr if plan.action == "refused" else sys.stdout)
    return 3 if plan.action == "refused" else 0


async def apply(project: Project, broker: str) -> ApplyPlan:
    """Apply ``project`` to the mesh at ``broker``: what :func:`plan_apply` decides, and
    the new version published when there is one."""
    current = (await applied_projects(broker)).get(project.name)
    plan = plan_apply(
        project,
        current,
        applied_by=f"{getpass.getuser()}@{socket.gethostname()}",
        now=datetime.now(UTC),
    )
    if plan.event is not None:
        await publish(broker, plan.event)
    return plan


async def list_projects(broker: str) -> int:
    """`mlops project list`."""
    projects = await applied_projects(broker)
    if not projects:
        print("no project applied yet (mlops project apply PATH)")
        return 0
    print(f"{'project':<24} {'version':>7}  {'features':>8}  {'applied at':<20}  applied by")
    for name, event in sorted(projects.items()):
        print(
            f"{name:<24} {event.version:>7}  {len(event.project.inputs):>8}  "
            f"{event.applied_at:%Y-%m-%d %H:%M:%S}  {event.applied_by}"
        )
    return 0
