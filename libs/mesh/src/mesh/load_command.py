"""`mlops load NAME FILE`: a table's rows through ingest, as the project's records and
labels, with a progress bar; every rejected row reported with its line and reasons.

The project is the one the mesh knows (its newest applied version, from the projects
topic), so the rows are read exactly as ingest will check them. A history (the project has
a time column) is sent in time order, a label only once it is observable (its time, the
row's plus the label's delay, not after the load); a snapshot is each entity's last row as
of the load. A record's id derives from the project, the entity and the row's content:
loading the same rows again adds nothing (ingest answers duplicates), so an interrupted
load is finished by running it again, and a corrected export adds only what changed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from tqdm import tqdm

from mesh.project_commands import applied_projects
from mesh.settings import MeshSettings
from mlops_contracts.projects import Project
from mlops_projects.loading import Rejected, Row, TableError, read_rows
from simulator.cli import resolve_ingest_url, resolve_token
from simulator.sinks import HttpIngestSink, IngestError, RecordSink

BATCH = 500
SHOWN = 20


@dataclass
class LoadReport:
    """What a load did."""

    rows: int = 0
    records: int = 0
    labels: int = 0
    accepted: int = 0
    duplicates: int = 0
    superseded: int = 0
    """Snapshot rows of an entity a later row of the file replaces."""
    held_back: int = 0
    """Labels not observable yet at the load (their delay not over): not sent."""
    rejected: list[str] = field(default_factory=list)
    """``line N: reasons``, from reading the file or from ingest."""

    def summary(self, table: Path, project: str) -> str:
        extra = "".join(
            f"; {count} {what}"
            for count, what in (
                (self.superseded, "rows replaced by a later row of their entity"),
                (self.held_back, "labels held back (not observable yet)"),
            )
            if count
        )
        return (
            f"{table}: {self.rows} rows -> project {project}: {self.records} records and "
            f"{self.labels} labels sent, {self.accepted} accepted, {self.duplicates} already "
            f"loaded, {len(self.rejected)} rows rejected{extra}"
        )


def wire_records(project: Project, rows: Sequence[Row]) -> list[tuple[int, dict[str, Any]]]:
    """The rows as ingest's records (a record per row, an outcome per labelled row), each
    with its line; in event-time order (records before the labels they decide)."""
    items: list[tuple[datetime, int, int, dict[str, Any]]] = []
    for row in rows:
        record = row.record
        items.append(
            (
                record.observed_at,
                0,
                row.line,
                {
                    "kind": "record",
                    "project": project.name,
                    "record_id": record.record_id,
                    "entity_id": record.entity_id,
                    "observed_at": record.observed_at.isoformat(),
                    "values": dict(record.values),
                },
            )
        )
        if row.outcome is not None:
            outcome = row.outcome
            items.append(
                (
                    outcome.observed_at,
                    1,
                    row.line,
                    {
                        "kind": "outcome",
                        "project": project.name,
                        "record_id": outcome.record_id,
                        "entity_id": outcome.entity_id,
                        "positive": outcome.positive,
                        "observed_at": outcome.observed_at.isoformat(),
                        "as_of": outcome.as_of.isoformat(),
                    },
                )
            )
    items.sort(key=lambda item: (item[0], item[1], item[2]))
    return [(line, record) for _, _, line, record in items]


async def load_table(
    project: Project,
    table: Path,
    sink: RecordSink,
    *,
    loaded_at: datetime,
    batch: int = BATCH,
    progress: bool = True,
) -> LoadReport:
    """Read ``table`` for ``project`` and send its rows through ``sink`` (ingest)."""
    report = LoadReport()
    rows: list[Row] = []
    for row in read_rows(project, table, loaded_at=loaded_at):
        report.rows += 1
        if isinstance(row, Rejected):
            report.rejected.append(str(row))
        else:
            rows.append(row)
    if project.time_column is None:  # a snapshot: each entity's last row
        last = {row.record.entity_id: row for row in rows}
        report.superseded = len(rows) - len(last)
        rows = list(last.values())
    for index, row in enumerate(rows):
        if row.outcome is not None and row.outcome.observed_at > loaded_at:
            report.held_back += 1
            rows[index] = replace(row, outcome=None)
    wire = wire_records(project, rows)
    report.records = len(rows)
    report.labels = len(wire) - len(rows)
    with tqdm(
        total=len(wire), unit="rec", desc=f"loading {project.name}", disable=not progress
    ) as bar:
        for start in range(0, len(wire), batch):
            part = wire[start : start + batch]
            outcome = await sink.send([record for _, record in part])
            report.accepted += outcome.accepted
            report.duplicates += outcome.duplicates
            report.rejected += [
                f"{_lines(part, r.index)}: {'; '.join(r.errors) or 'rejected'}"
                for r in outcome.rejections
            ]
            bar.update(len(part))
    return report


def _lines(part: Sequence[tuple[int, dict[str, Any]]], index: int) -> str:
    """Where a rejected record came from: its line, or (the whole request refused) the
    lines of the request."""
    if 0 <= index < len(part):
        return f"line {part[index][0]}"
    return f"lines {part[0][0]}..{part[-1][0]}"


def main(argv: list[str]) -> int:
    """Entry point of ``mlops load``."""
    parser = argparse.ArgumentParser(
        prog="mlops load", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("name", help="the project (applied to the mesh) the rows belong to")
    parser.add_argument("table", type=Path, help="a CSV with the project's columns")
    parser.add_argument(
        "--broker", metavar="HOST:PORT", help="the mesh's Kafka (default: the embedded mesh's)"
    )
    parser.add_argument(
        "--ingest-url", help="ingest's base URL (MLOPS_INGEST_URL, else the embedded mesh's)"
    )
    parser.add_argument("--token", help="API token (MLOPS_API_TOKEN, else the mesh's file)")
    parser.add_argument("--batch", type=int, default=BATCH, help=f"records per request ({BATCH})")
    args = parser.parse_args(argv)
    broker = args.broker or MeshSettings().bootstrap_servers
    try:
        applied = asyncio.run(applied_projects(broker)).get(args.name)
    except (KafkaError, OSError) as error:
        print(f"mlops load: cannot reach the mesh at {broker}: {error}", file=sys.stderr)
        return 1
    if applied is None:
        print(
            f"mlops load: no model project named {args.name!r} is applied; apply it first "
            "(mlops project apply PATH)",
            file=sys.stderr,
        )
        return 2
    token = resolve_token(args.token, os.environ)
    if token is None:
        print("mlops load: no API token (--token, MLOPS_API_TOKEN or `make up`)", file=sys.stderr)
        return 2
    sink = HttpIngestSink(resolve_ingest_url(args.ingest_url, os.environ), token)
    try:
        report = asyncio.run(_load(applied.project, args.table, sink, batch=args.batch))
    except TableError as error:
        print(f"mlops load: {error}", file=sys.stderr)
        return 2
    except IngestError as error:
        print(f"mlops load: {error}", file=sys.stderr)
        return 1
    print(report.summary(args.table, args.name))
    for line in report.rejected[:SHOWN]:
        print(f"  {line}", file=sys.stderr)
    if len(report.rejected) > SHOWN:
        print(f"  ... and {len(report.rejected) - SHOWN} more", file=sys.stderr)
    return 2 if report.rejected else 0


async def _load(project: Project, table: Path, sink: HttpIngestSink, *, batch: int) -> LoadReport:
    try:
        return await load_table(project, table, sink, loaded_at=datetime.now(UTC), batch=batch)
    finally:
        await sink.aclose()
