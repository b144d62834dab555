"""A table's rows as a project's records and labels, each bad row rejected with its line
and reason (what `mlops load` sends through ingest, and `mlops project check --data`
reports).

A table with the project's ``time_column`` is a history: each row is a record observed at
its time, and its label (when the row has one) is observed ``label.delay`` later, about the
row's time. A table without it is a snapshot: each row is its entity's record as of the
load, its label observed with it.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mlops_contracts.projects import Project
from mlops_projects.features import Record
from mlops_projects.values import Value, as_time, is_missing, parse_cell


@dataclass(frozen=True, slots=True)
class Outcome:
    """A row's label: observed at ``observed_at``, about the prediction point ``as_of``."""

    record_id: str
    entity_id: str
    positive: bool
    observed_at: datetime
    as_of: datetime


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row that breaks the project's schema: its line in the file and every reason."""

    line: int
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"line {self.line}: {'; '.join(self.reasons)}"


@dataclass(frozen=True, slots=True)
class Row:
    """One accepted row: its record, and its label when the row has one."""

    line: int
    record: Record
    outcome: Outcome | None


class TableError(ValueError):
    """The table as a whole cannot be read for the project (no such column...)."""


def read_rows(project: Project, table: Path, *, loaded_at: datetime) -> Iterator[Row | Rejected]:
    """Every row of ``table``, in file order (blank lines skipped; ``line`` is where the
    row ends): a :class:`Row`, or :class:`Rejected` with every reason it breaks the schema.
    A record's id is ``<project>-<entity>-<16 hex of the row's sha256>``: the same row,
    loaded again from this file or another, is recognised as a duplicate, and a changed
    row is a new record."""
    columns = {name: spec.column or name for name, spec in project.fields.items()}
    entity_column = project.entity.column or project.entity.key
    label_column = project.label.column or project.label.field
    try:
        handle = table.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise TableError(f"cannot read {table}: {error}") from error
    with handle:
        reader = csv.reader(handle)
        header = [cell.strip() for cell in next(reader, [])]
        wanted = [entity_column, *columns.values()]
        if project.time_column:
            wanted.append(project.time_column)
        missing = [column for column in wanted if column not in header]
        if missing:
            raise TableError(
                f"{table}: no column {', '.join(missing)} (the project's fields); the "
                f"columns are: {', '.join(header) or 'none'}"
            )
        index = {column: position for position, column in enumerate(header)}
        try:
            for cells in reader:
                if cells:  # a blank line is no row
                    yield _row(
                        project,
                        reader.line_num,
                        cells,
                        header,
                        index,
                        columns,
                        entity_column,
                        label_column,
                        loaded_at,
                    )
        except (UnicodeDecodeError, csv.Error) as error:
            raise TableError(f"{table}: not readable as CSV: {error}") from error


def _row(
    project: Project,
    line: int,
    cells: list[str],
    header: list[str],
    index: dict[str, int],
    columns: dict[str, str],
    entity_column: str,
    label_column: str,
    loaded_at: datetime,
) -> Row | Rejected:
    if len(cells) != len(header):
        return Rejected(line, (f"{len(cells)} cells, the header has {len(header)}",))
    reasons: list[str] = []
    entity = cells[index[entity_column]].strip()
    if is_missing(entity):
        reasons.append(f"{entity_column}: the entity key is empty")
    elif len(entity) > 200 or any(character.isspace() for character in entity):
        reasons.append(f"{entity_column}: an entity key has no spaces and at most 200 characters")
    values: dict[str, Value | None] = {}
    for name, column in columns.items():
        try:
            values[name] = parse_cell(project.fields[name], cells[index[column]])
        except ValueError as error:
            reasons.append(f"{column}: {error}")
    observed_at = loaded_at
    if project.time_column:
        moment = as_time(cells[index[project.time_column]])
        if moment is None:
            reasons.append(f"{project.time_column}: not an ISO 8601 date or time")
        else:
            observed_at = moment
    positive: bool | None = None
    if label_column in index and not is_missing(cells[index[label_column]]):
        try:
            positive = project.label.outcome(cells[index[label_column]])
        except ValueError as error:
            reasons.append(f"{label_column}: {error}")
    if reasons:
        return Rejected(line, tuple(reasons))
    digest = hashlib.sha256("\x1f".join(cells).encode()).hexdigest()[:16]
    record_id = f"{project.name}-{entity}-{digest}"
    record = Record(record_id, entity, observed_at, values)
    outcome = None
    if positive is not None:
        outcome = Outcome(
            record_id=f"{record_id}-label",
            entity_id=entity,
            positive=positive,
            # A snapshot's label is observed with its row (no time to count a delay from).
            observed_at=observed_at + project.label.delay if project.time_column else observed_at,
            as_of=observed_at,
        )
    return Row(line, record, outcome)
