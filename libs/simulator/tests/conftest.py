"""A fake ingest (the public ``POST /v1/records`` contract on an ``httpx.MockTransport``) and a
strict record check, shared by the simulator's tests."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest

TOKEN = "test-token"

ACTIVITY_FIELDS = {
    "kind": str,
    "record_id": str,
    "customer_id": str,
    "observed_at": str,
    "tenure_months": int,
    "plan": str,
    "contract_type": str,
    "monthly_charges": float,
    "support_tickets": int,
    "usage_minutes": float,
    "sessions": int,
    "failed_payments": int,
}
LABEL_FIELDS = {
    "kind": str,
    "record_id": str,
    "customer_id": str,
    "churned": bool,
    "observed_at": str,
    "features_as_of": str,
}
RANGES = {
    "tenure_months": (0, 1200),
    "monthly_charges": (0.0, 10_000.0),
    "support_tickets": (0, 1000),
    "usage_minutes": (0.0, 44_640.0),
    "sessions": (0, 100_000),
    "failed_payments": (0, 1000),
}


def record_errors(record: dict[str, Any]) -> list[str]:
    """Everything ingest's contract would refuse in ``record`` (empty: valid)."""
    kind = record.get("kind")
    if kind not in ("activity", "label"):
        return [f"kind: {kind!r}"]
    fields = ACTIVITY_FIELDS if kind == "activity" else LABEL_FIELDS
    errors = [f"{name}: missing" for name in fields if name not in record]
    errors += [f"{name}: unknown field" for name in record if name not in fields]
    for name, expected in fields.items():
        value = record.get(name)
        if name not in record:
            continue
        # bool is an int in Python; the contract does not mix them up.
        if type(value) is not expected and not (expected is float and type(value) is int):
            errors.append(f"{name}: {type(value).__name__} instead of {expected.__name__}")
            continue
        if name in RANGES and isinstance(value, int | float):
            low, high = RANGES[name]
            if not (low <= value <= high) or (
                isinstance(value, float) and not math.isfinite(value)
            ):
                errors.append(f"{name}: {value} outside [{low}, {high}]")
    for name in ("record_id", "customer_id"):
        value = record.get(name)
        if isinstance(value, str) and (not value or any(c.isspace() for c in value)):
            errors.append(f"{name}: empty or with whitespace")
    if kind == "activity":
        if record.get("plan") not in ("basic", "standard", "premium"):
            errors.append(f"plan: {record.get('plan')!r}")
        if record.get("contract_type") not in ("month_to_month", "one_year", "two_year"):
            errors.append(f"contract_type: {record.get('contract_type')!r}")
    try:
        moment = datetime.fromisoformat(str(record.get("observed_at")))
        if moment.tzinfo is None:
            errors.append("observed_at: no timezone")
    except ValueError:
        errors.append(f"observed_at: not RFC 3339: {record.get('observed_at')!r}")
    if kind == "label":
        # The real contract decides the rest (features_as_of is aware and not after
        # observed_at); the simulator must produce what ingest accepts.
        from pydantic import ValidationError

        from mlops_contracts import LabelObserved

        try:
            LabelObserved.model_validate({k: v for k, v in record.items() if k != "kind"})
        except ValidationError as error:
            errors += [f"{e['loc']}: {e['msg']}" for e in error.errors()]
    return errors


@dataclass
class FakeIngest:
    """Ingest's HTTP contract in memory: bearer auth, batch and body limits, per-record
    validation (the valid records of a batch are accepted), idempotency on record ids.

    ``script`` holds what the next requests get instead (a status code, or an exception to
    raise); ``None`` in it means "answer normally"; ``("lost", exc)`` processes the batch and
    then raises ``exc`` (the answer is lost on the way back)."""

    max_batch: int = 500
    max_body: int = 1024 * 1024
    script: list[Any] = field(default_factory=list)
    reject: Callable[[dict[str, Any]], str | None] = lambda record: None
    before: Callable[[int], None] = lambda request_number: None
    requests: list[list[dict[str, Any]]] = field(default_factory=list)
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: int = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        self.before(self.attempts)
        lost: Exception | None = None
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, tuple) and step[0] == "lost":
                lost = step[1]
            elif isinstance(step, Exception):
                raise step
            elif isinstance(step, int):
                return httpx.Response(step, json={"detail": f"scripted {step}"})
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"detail": "invalid token"})
        if len(request.content) > self.max_body:
            return httpx.Response(413, json={"detail": "body too large"})
        records = json.loads(request.content)["records"]
        if len(records) > self.max_batch:
            return httpx.Response(413, json={"detail": f"at most {self.max_batch} records"})
        self.requests.append(records)
        results = []
        counts = {"accepted": 0, "duplicates": 0, "rejected": 0}
        for index, record in enumerate(records):
            problems = record_errors(record)
            reason = self.reject(record)
            if reason:
                problems.append(reason)
            if problems:
                status = "rejected"
                errors = [
                    {"field": p.split(":")[0], "message": p.split(":", 1)[-1].strip()}
                    for p in problems
                ]
            elif record["record_id"] in self.stored:
                status, errors = "duplicate", []
            else:
                self.stored[record["record_id"]] = record
                status, errors = "accepted", []
            counts["duplicates" if status == "duplicate" else status] += 1
            results.append(
                {
                    "index": index,
                    "record_id": record.get("record_id"),
                    "status": status,
                    "errors": errors,
                }
            )
        if lost is not None:
            raise lost
        return httpx.Response(
            422 if counts["rejected"] else 200, json={**counts, "results": results}
        )


@pytest.fixture
def fake_ingest() -> FakeIngest:
    return FakeIngest()


@pytest.fixture
def record_check() -> Callable[[dict[str, Any]], list[str]]:
    """The contract check: a function from a record to its problems."""
    return record_errors


@pytest.fixture
def token() -> str:
    return TOKEN
