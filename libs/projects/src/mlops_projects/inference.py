"""`mlops project init`: a first project file inferred from a CSV table.

Each column becomes a record field of the type every one of its values fits (boolean,
integer, numeric, else categorical with its observed values), except the entity key, the
label and the time column. What cannot be inferred is said, not guessed silently: an
all-empty column, an identifier-like or free-text column (left out), a label with more or
fewer than two values, a guessed positive class.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mlops_contracts.projects import Entity, Label, Project, RecordField
from mlops_projects.values import as_boolean, as_integer, as_number, as_time, is_missing

MAX_CATEGORIES = 50
"""More distinct values than this in a text column: identifier-like or free text, not a
categorical field (add it by hand, with its values, if it is one)."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class InferenceError(ValueError):
    """The table cannot make a project: every reason, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Column:
    """What `init` found in one column."""

    header: str
    role: str
    """``field``, ``entity``, ``label``, ``time`` or ``left out``."""
    kind: str
    """The field's type, or why it was left out."""
    missing: int
    distinct: int
    summary: str
    """Its range or its most common values."""


@dataclass(frozen=True)
class Inference:
    """The inferred project, a report per column, and what the user should check."""

    project: Project
    rows: int
    columns: tuple[Column, ...]
    notes: tuple[str, ...] = field(default=())


def infer_project(
    name: str,
    table: Path,
    *,
    entity: str,
    label: str,
    positive: str | None = None,
    time: str | None = None,
    max_categories: int = MAX_CATEGORIES,
) -> Inference:
    """The project a CSV ``table`` suggests (see the module's docstring)."""
    headers, cells = _read(table)
    problems = [
        f"no column {column!r} (--{flag}); the columns are: {', '.join(headers)}"
        for flag, column in (("entity", entity), ("label", label), ("time", time))
        if column is not None and column not in cells
    ]
    if problems:
        raise InferenceError(problems)
    rows = len(cells[entity])
    if rows == 0:
        raise InferenceError([f"{table} has a header but no rows"])
    notes: list[str] = []
    columns: list[Column] = []

    keys = cells[entity]
    empty_keys = [line for line, cell in enumerate(keys, start=2) if is_missing(cell)]
    if empty_keys:
        problems.append(
            f"entity column {entity!r} is empty on {len(empty_keys)} rows (lines "
            f"{_lines(empty_keys)}): every row needs its entity's key"
        )
    distinct_keys = len(set(keys))
    columns.append(_column(entity, "entity", "key", keys, f"{distinct_keys} entities"))
    if time is None and distinct_keys < rows:
        notes.append(
            f"{rows - distinct_keys} rows repeat an entity key and there is no --time: a "
            "snapshot keeps one record per entity (the last row of each)"
        )

    if time is not None:
        bad = [
            line
            for line, cell in enumerate(cells[time], start=2)
            if is_missing(cell) or as_time(cell) is None
        ]
        if bad:
            problems.append(
                f"time column {time!r} is not an ISO 8601 date or time on {len(bad)} rows "
                f"(lines {_lines(bad)})"
            )
        moments = sorted(t for cell in cells[time] if (t := as_time(cell)) is not None)
        span = f"{moments[0]:%Y-%m-%d} .. {moments[-1]:%Y-%m-%d}" if moments else ""
        columns.append(_column(time, "time", "event time", cells[time], span))

    label_spec = _label(label, cells[label], positive, problems, notes)
    columns.append(_column(label, "label", "binary", cells[label], _common(cells[label])))
    if problems:
        raise InferenceError(problems)

    fields: dict[str, RecordField] = {}
    taken = {entity, label}
    for header in headers:
        if header in (entity, label, time):
            continue
        column, spec = _field(header, cells[header], max_categories)
        columns.append(column)
        if spec is None:
            continue
        name_ = _field_name(header, taken)
        taken.add(name_)
        if name_ != header:
            spec = spec.model_copy(update={"column": header})
        fields[name_] = spec
    if not fields:
        raise InferenceError(["no column is left to be a feature (see the report)"])
    if time is not None and label_spec.delay.total_seconds() == 0:
        notes.append(
            "label.delay is 0: each label is observed with its row; set it to how long after "
            "a row its outcome is known (e.g. 30d)"
        )
    project = Project(
        name=name,
        description=f"Inferred by `mlops project init` from {table.name} ({rows} rows).",
        entity=Entity(key=_field_name(entity, set()), column=_renamed(entity)),
        time_column=time,
        fields=fields,
        label=label_spec.model_copy(
            update={"field": _field_name(label, {entity}), "column": _renamed(label)}
        ),
    )
    return Inference(project=project, rows=rows, columns=tuple(columns), notes=tuple(notes))


def _read(table: Path) -> tuple[list[str], dict[str, list[str]]]:
    try:
        with table.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            headers = next(reader, None)
            if not headers:
                raise InferenceError([f"{table} is empty: a CSV with a header row is needed"])
            headers = [header.strip() for header in headers]
            repeated = sorted(h for h, n in Counter(headers).items() if n > 1)
            if repeated or "" in headers:
                raise InferenceError(
                    [
                        f"{table}: every column needs a distinct, non-empty header "
                        f"(repeated: {', '.join(repeated) or 'none'})"
                    ]
                )
            cells: dict[str, list[str]] = {header: [] for header in headers}
            ragged = []
            for row in reader:
                line = reader.line_num
                if not row:
                    continue  # a blank line
                if len(row) != len(headers):
                    ragged.append(line)
                    continue
                for header, cell in zip(headers, row, strict=True):
                    cells[header].append(cell)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InferenceError([f"cannot read {table} as CSV: {error}"]) from error
    if ragged:
        raise InferenceError(
            [
                f"{table}: {len(ragged)} rows do not have {len(headers)} cells (lines "
                f"{_lines(ragged)})"
            ]
        )
    return headers, cells


def _label(
    column: str, cells: list[str], positive: str | None, problems: list[str], notes: list[str]
) -> Label:
    present = [cell.strip() for cell in cells if not is_missing(cell)]
    counts = Counter(present)
    if len(cells) - len(present):
        notes.append(
            f"{len(cells) - len(present)} rows have no {column!r}: they are loaded as records "
            "without a label"
        )
    values = sorted(counts)
    if positive is not None:
        if positive not in counts:
            problems.append(
                f"--positive {positive!r} is not a value of {column!r} (its values: "
                f"{', '.join(values[:20])})"
            )
            return Label(field="label", positive=positive)
        if len(values) > 2:
            notes.append(
                f"{column!r} has {len(values)} values: the model predicts {positive!r} "
                "against all the others"
            )
        negative = next(v for v in values if v != positive) if len(values) == 2 else None
        return Label(field="label", positive=positive, negative=negative)
    if len(values) != 2:
        problems.append(
            f"label {column!r} has {len(values)} distinct value{'s' * (len(values) != 1)} "
            f"({', '.join(values[:10])}{', ...' if len(values) > 10 else ''}): binary "
            "classification needs two; pass --positive VALUE to predict VALUE against the rest"
        )
        return Label(field="label", positive="?")
    truthy = [v for v in values if as_boolean(v) is True or as_integer(v) == 1]
    if len(truthy) == 1:
        chosen = truthy[0]
    else:
        chosen = min(values, key=lambda value: (counts[value], value))
        notes.append(
            f"positive class guessed as {chosen!r} (the rarer of {values[0]!r} and "
            f"{values[1]!r}); pass --positive to choose"
        )
    return Label(field="label", positive=chosen, negative=next(v for v in values if v != chosen))


def _field(header: str, cells: list[str], max_categories: int) -> tuple[Column, RecordField | None]:
    present = [cell.strip() for cell in cells if not is_missing(cell)]
    required = len(present) == len(cells)
    distinct = set(present)
    if not present:
        return _column(header, "left out", "every value empty", cells, ""), None
    numbers = [as_number(cell) for cell in present]
    if all(as_boolean(cell) is not None for cell in present):
        kind = "boolean"
    elif all(number is not None for number in numbers):
        integers = all(as_integer(cell) is not None for cell in present)
        if integers and len(distinct) == len(present) > 20 and _looks_like_id(header):
            return _column(header, "left out", "identifier-like", cells, ""), None
        kind = "integer" if integers else "numeric"
        low, high = (
            min(n for n in numbers if n is not None),
            max(n for n in numbers if n is not None),
        )
        column = _column(header, "field", kind, cells, f"{low:g} .. {high:g}")
        return column, RecordField(type=kind, required=required)
    else:
        if len(distinct) > max_categories:
            reason = (
                "identifier-like" if len(distinct) == len(present) else "free text"
            ) + f" ({len(distinct)} values)"
            return _column(header, "left out", reason, cells, _common(cells)), None
        kind = "categorical"
    values = tuple(sorted(distinct)) if kind == "categorical" else None
    column = _column(header, "field", kind, cells, _common(cells))
    return column, RecordField(type=kind, values=values, required=required)


def _looks_like_id(header: str) -> bool:
    text = header.lower()
    return text in ("id", "index", "row", "rowid") or text.endswith(("_id", "id", "_key"))


def _column(header: str, role: str, kind: str, cells: list[str], summary: str) -> Column:
    present = [cell.strip() for cell in cells if not is_missing(cell)]
    return Column(header, role, kind, len(cells) - len(present), len(set(present)), summary)


def _common(cells: list[str], top: int = 4) -> str:
    counts = Counter(cell.strip() for cell in cells if not is_missing(cell))
    shown = ", ".join(f"{value} ({count})" for value, count in counts.most_common(top))
    return shown + (", ..." if len(counts) > top else "")


def _field_name(header: str, taken: set[str]) -> str:
    """``header`` if it is an identifier not taken, else a snake_case spelling of it,
    unique."""
    if _IDENTIFIER.match(header) and header not in taken:
        return header
    base = re.sub(r"[^A-Za-z0-9]+", "_", header).strip("_").lower() or "column"
    if base[0].isdigit():
        base = f"f_{base}"
    name, suffix = base[:120], 2
    while name in taken:
        name, suffix = f"{base[:120]}_{suffix}", suffix + 1
    return name


def _renamed(header: str) -> str | None:
    return None if _IDENTIFIER.match(header) else header


def _lines(lines: list[int], shown: int = 5) -> str:
    return ", ".join(map(str, lines[:shown])) + (", ..." if len(lines) > shown else "")
