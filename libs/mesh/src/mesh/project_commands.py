"""`mlops project init | check`: a model project from a CSV, and its file checked."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
        help="validate a project file: every problem at once",
        description="Exit status 0 when the file is a valid project, 2 with every problem "
        "(where in the file, and why) when not.",
    )
    check.add_argument("path", type=Path, help="a project folder or its project.yaml")
    args = parser.parse_args(argv)
    if args.command == "init":
        return init_project(args)
    return check_project(args.path)


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


def check_project(path: Path) -> int:
    """`mlops project check`."""
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
    return 0
