"""One reading of a table's cells, for `project init` (which infers the types) and for
loading rows (which checks them against the project's fields)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from mlops_contracts.projects import RecordField

Value = float | int | bool | str
"""A record field's value: numeric -> float, integer -> int, boolean -> bool,
categorical -> str."""

MISSING = frozenset({"", "na", "n/a", "nan", "null", "?"})
"""Cells read as missing (case-insensitive, after stripping spaces)."""

TRUE = frozenset({"true", "t", "yes", "y"})
FALSE = frozenset({"false", "f", "no", "n"})


def is_missing(cell: str) -> bool:
    """True for an empty cell or a spelling of "no value"."""
    return cell.strip().lower() in MISSING


def as_integer(cell: str) -> int | None:
    """The cell as an integer (``"3"``, ``"3.0"``), or None."""
    number = as_number(cell)
    if number is None or not number.is_integer() or abs(number) > 2**53:
        return None
    return int(number)


def as_number(cell: str) -> float | None:
    """The cell as a finite number, or None."""
    try:
        number = float(cell.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def as_boolean(cell: str) -> bool | None:
    """The cell as a boolean (true/false, yes/no, t/f, y/n, any case), or None."""
    text = cell.strip().lower()
    return True if text in TRUE else False if text in FALSE else None


def as_time(cell: str) -> datetime | None:
    """The cell as an instant: ISO 8601 (a date, or a date and time; without an offset it
    is UTC), or None."""
    text = cell.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_cell(field: RecordField, cell: str) -> Value | None:
    """The value of ``cell`` for ``field``; None when missing. ValueError with the reason
    when the cell does not fit the field (a missing required value included). The text is
    read here (a CSV's spellings: `yes`, `1` for a boolean, spaces around a category); the
    field's rules are ``RecordField.check``'s, the same ingest applies to every record."""
    if is_missing(cell):
        return field.check(None)
    text = cell.strip()
    value: Value | None = text
    match field.type:
        case "numeric":
            value = as_number(text)
        case "integer":
            value = as_integer(text)
        case "boolean":
            value = as_boolean(text)
            if value is None:
                number = as_integer(text)
                value = {0: False, 1: True}.get(number) if number is not None else None
    if value is None:
        raise ValueError(f"{text!r} is not {_A[field.type]}")
    return field.check(value)


_A = {"numeric": "a number", "integer": "an integer", "boolean": "true or false"}
