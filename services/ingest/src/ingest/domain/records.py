"""Validation rules for incoming customer records: the one place ingest decides what is a
valid activity or label record. Pure: no I/O.

A record is the contract event's fields plus ``kind`` ("activity" or "label"). The
contract models give types and ranges; ingest adds what a producer-facing API must:
unknown fields are rejected (the contract models ignore them, for schema evolution), and
timestamps may not lie in the future beyond a clock-skew allowance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from mlops_contracts import CustomerActivityRecorded, Event, LabelObserved

RECORD_KINDS: Mapping[str, type[Event]] = {
    "activity": CustomerActivityRecorded,
    "label": LabelObserved,
}


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of one record."""

    field: str
    message: str


@dataclass(frozen=True)
class Verdict:
    """The outcome of validating one record: an event, or the reasons it is not one."""

    index: int
    record_id: str | None
    event: Event | None
    errors: tuple[FieldError, ...] = ()


def validate_record(
    index: int, raw: object, *, now: datetime, max_clock_skew: timedelta
) -> Verdict:
    """Turn one raw record into a contract event, or say precisely what is wrong."""
    if not isinstance(raw, dict):
        return Verdict(index, None, None, (FieldError("", "a record must be a JSON object"),))
    record_id = raw.get("record_id") if isinstance(raw.get("record_id"), str) else None
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in RECORD_KINDS:
        expected = " or ".join(f"'{name}'" for name in RECORD_KINDS)
        return Verdict(
            index, record_id, None, (FieldError("kind", f"must be {expected}, got {kind!r}"),)
        )
    model = RECORD_KINDS[str(kind)]
    fields = {key: value for key, value in raw.items() if key != "kind"}
    errors = [
        FieldError(name, "unknown field") for name in sorted(set(fields) - set(model.model_fields))
    ]
    event: Event | None = None
    try:
        event = model.model_validate(fields)
    except ValidationError as error:
        errors += [_field_error(problem) for problem in error.errors()]
    if event is not None:
        observed_at: datetime = event.observed_at  # type: ignore[attr-defined]
        if observed_at > now + max_clock_skew:
            errors.append(
                FieldError(
                    "observed_at",
                    f"{observed_at.isoformat()} is in the future (now {now.isoformat()}, "
                    f"allowed skew {int(max_clock_skew.total_seconds())} s)",
                )
            )
    if errors:
        return Verdict(index, record_id, None, tuple(errors))
    return Verdict(index, record_id, event)


def _field_error(problem: Mapping[str, Any]) -> FieldError:
    field = ".".join(str(part) for part in problem["loc"]) or "(record)"
    message = str(problem["msg"])
    if problem["type"] not in {"missing"} and "input" in problem:
        message += f" (got {_shorten(problem['input'])})"
    return FieldError(field, message)


def _shorten(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
