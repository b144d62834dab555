"""Validation rules for incoming records: the one place ingest decides what is a valid
record. Pure: no I/O.

A record is the contract event's fields plus ``kind``: ``record`` and ``outcome`` for any
model project (RecordObserved without its ``project_version``, which ingest adds, and
OutcomeObserved; the values are checked against the project's fields), ``activity`` and
``label`` for the churn example's own events. The contract models give types and ranges;
ingest adds what a producer-facing API must: unknown fields are rejected (the contract
models ignore them, for schema evolution), a project must be applied, and timestamps may
not lie in the future beyond a clock-skew allowance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from mlops_contracts import (
    CustomerActivityRecorded,
    Event,
    LabelObserved,
    OutcomeObserved,
    ProjectApplied,
    RecordObserved,
)


class Projects(Protocol):
    """The applied model projects (``service_kit.ProjectCatalog``)."""

    def applied(self, name: str) -> ProjectApplied:
        """The newest applied version of ``name``; LookupError (saying which projects
        exist) when none is."""
        ...


RECORD_KINDS: Mapping[str, type[Event]] = {
    "record": RecordObserved,
    "outcome": OutcomeObserved,
    "activity": CustomerActivityRecorded,
    "label": LabelObserved,
}
FILLED_IN = {"project_version"}
"""Fields ingest fills in (from the applied project), never sent."""


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
    index: int,
    raw: object,
    *,
    now: datetime,
    max_clock_skew: timedelta,
    projects: Projects,
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
        FieldError(name, "unknown field")
        for name in sorted(set(fields) - (set(model.model_fields) - FILLED_IN))
    ]
    if "project" in model.model_fields:
        errors += _for_project(fields, projects)
    event: Event | None = None
    try:
        event = model.model_validate(fields)
    except ValidationError as error:
        found = (_field_error(problem) for problem in error.errors())
        errors += [e for e in found if e.field not in FILLED_IN]  # never the client's to send
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


def _for_project(fields: dict[str, Any], projects: Projects) -> list[FieldError]:
    """A project's record or outcome: the project must be applied, a record's values must
    fit its fields (checked values and the project's version go into ``fields``)."""
    name = fields.get("project")
    if not isinstance(name, str):
        return []  # the contract model reports it
    try:
        applied = projects.applied(name)
    except LookupError as error:
        return [FieldError("project", str(error))]
    if "values" not in fields:
        return []  # an outcome (or a record without values: the model reports it)
    fields["project_version"] = applied.version
    if not isinstance(fields["values"], dict):
        return []  # the contract model reports it
    checked, problems = applied.project.check_values(fields["values"])
    fields["values"] = checked
    return [FieldError(f"values.{field}", reason) for field, reason in problems]


def _field_error(problem: Mapping[str, Any]) -> FieldError:
    field = ".".join(str(part) for part in problem["loc"]) or "(record)"
    message = str(problem["msg"])
    if problem["type"] not in {"missing"} and "input" in problem:
        message += f" (got {_shorten(problem['input'])})"
    return FieldError(field, message)


def _shorten(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
