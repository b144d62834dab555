"""Shared fixtures of the contracts tests: the golden samples and the contracts/ folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_contracts import EVENT_TYPES, Event, decode

CONTRACTS_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sample:
    """A golden wire sample: a record as a Kafka client would see it."""

    path: Path
    topic: str
    key: bytes
    headers: tuple[tuple[str, bytes], ...]
    value: bytes
    raw_value: dict[str, Any]

    @property
    def event_type(self) -> str:
        return dict(self.headers)["ce_type"].decode()


def _load(path: Path) -> Sample:
    document = json.loads(path.read_text())
    return Sample(
        path=path,
        topic=document["topic"],
        key=document["key"].encode(),
        headers=tuple((name, value.encode()) for name, value in document["headers"].items()),
        value=json.dumps(document["value"], separators=(",", ":")).encode(),
        raw_value=document["value"],
    )


@pytest.fixture(scope="session")
def contracts_dir() -> Path:
    return CONTRACTS_DIR


@pytest.fixture(scope="session")
def samples() -> list[Sample]:
    return [_load(path) for path in sorted((CONTRACTS_DIR / "samples").glob("*.json"))]


@pytest.fixture(scope="session")
def example_events(samples: list[Sample]) -> dict[str, Event]:
    """One valid event per registered type, decoded from the golden samples."""
    return {s.event_type: decode(s.value, s.headers, key=s.key).data for s in samples}


@pytest.fixture(scope="session")
def example(example_events: dict[str, Event]) -> Callable[[type[Event]], Event]:
    def get(cls: type[Event]) -> Event:
        return example_events[cls.event_type]

    return get


@pytest.fixture(params=sorted(EVENT_TYPES))
def event_type(request: pytest.FixtureRequest) -> str:
    """Each registered event type in turn."""
    return str(request.param)
